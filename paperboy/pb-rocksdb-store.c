/* pb-rocksdb-store.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-rocksdb-store-private.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <rocksdb/c.h>

#include "pb-error.h"
#include "pb-store-private.h"

/**
 * PbRocksdbStore:
 *
 * A [iface@Paperboy.Store] in a RocksDB database, in the directory
 * [property@Paperboy.RocksdbStore:path]. The values survive a restart, so
 * a table only reads the part of its changelog written since its last
 * run.
 *
 * The values are in the `default` column family, each as its type string,
 * a NUL byte, then its serialized data in normal form, in the byte order
 * of the machine. The offsets are in the `offsets` column family: the key
 * is the partition in decimal, the value the next offset as 8 bytes, big
 * endian. Writes are not synced to disk one by one: after a crash of the
 * machine the last ones may be lost, which the changelog makes good.
 *
 * A database is used by one store at a time. Another process (or another
 * store) can still read it with [property@Paperboy.RocksdbStore:read-only].
 */

struct _PbRocksdbStore
{
  GObject parent_instance;

  char *path;
  gboolean read_only;

  rocksdb_options_t *options;
  rocksdb_readoptions_t *read_options;
  rocksdb_writeoptions_t *write_options;
  rocksdb_t *db;
  rocksdb_column_family_handle_t *values_cf;
  rocksdb_column_family_handle_t *offsets_cf;
  rocksdb_column_family_handle_t *sources_cf;

  GByteArray *scratch;  /* to encode values in apply() */
};

enum {
  PROP_0,
  PROP_PATH,
  PROP_READ_ONLY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void pb_rocksdb_store_iface_init (PbStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PbRocksdbStore, pb_rocksdb_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (PB_TYPE_STORE,
                                                      pb_rocksdb_store_iface_init))

#define VALUES_CF "default"
#define OFFSETS_CF "offsets"
#define SOURCES_CF "sources"

/* Turns a RocksDB error into a GError, and frees it. @format has one %s
 * for the path, then one for RocksDB's message. A macro, so that the
 * compiler checks the format. */
#define set_rocksdb_error(self, error, rocksdb_error, format) \
  G_STMT_START { \
    g_set_error ((error), PB_ERROR, error_code (rocksdb_error), (format), \
                 (self)->path, (rocksdb_error)); \
    rocksdb_free (rocksdb_error); \
  } G_STMT_END

/* RocksDB's messages start with their status: damaged data is
 * "Corruption: ...". */
static int
error_code (const char *rocksdb_error)
{
  return g_str_has_prefix (rocksdb_error, "Corruption") ? PB_ERROR_STORE_CORRUPT : PB_ERROR_STORE;
}

static gboolean
check_open (PbRocksdbStore  *self,
            GError         **error)
{
  if (self->db != NULL)
    return TRUE;

  g_set_error (error, PB_ERROR, PB_ERROR_STORE,
               _("The RocksDB database “%s” is not open"),
               self->path != NULL ? self->path : "");
  return FALSE;
}

static gboolean
check_writable (PbRocksdbStore  *self,
                GError         **error)
{
  if (!check_open (self, error))
    return FALSE;

  if (!self->read_only)
    return TRUE;

  g_set_error (error, PB_ERROR, PB_ERROR_STORE,
               _("The RocksDB database “%s” is open read-only"),
               self->path);
  return FALSE;
}

static void
pb_rocksdb_store_close (PbStore *store)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (store);

  /* What is only in the write-ahead log would be replayed by the next
   * open, which then takes as long as a restore: write it out now. */
  if (self->db != NULL && !self->read_only)
    {
      rocksdb_flushoptions_t *flush = rocksdb_flushoptions_create ();
      rocksdb_column_family_handle_t *cfs[] = { self->values_cf, self->offsets_cf,
                                                self->sources_cf };

      rocksdb_flushoptions_set_wait (flush, 1);
      for (gsize i = 0; i < G_N_ELEMENTS (cfs); i++)
        {
          char *err = NULL;

          rocksdb_flush_cf (self->db, flush, cfs[i], &err);
          if (err != NULL)
            {
              g_warning ("Could not flush the RocksDB database “%s”: %s", self->path, err);
              rocksdb_free (err);
            }
        }
      rocksdb_flushoptions_destroy (flush);
    }

  g_clear_pointer (&self->values_cf, rocksdb_column_family_handle_destroy);
  g_clear_pointer (&self->offsets_cf, rocksdb_column_family_handle_destroy);
  g_clear_pointer (&self->sources_cf, rocksdb_column_family_handle_destroy);
  g_clear_pointer (&self->db, rocksdb_close);
  g_clear_pointer (&self->read_options, rocksdb_readoptions_destroy);
  g_clear_pointer (&self->write_options, rocksdb_writeoptions_destroy);
  g_clear_pointer (&self->options, rocksdb_options_destroy);
  g_clear_pointer (&self->scratch, g_byte_array_unref);
}

static gboolean
is_lock_error (const char *message)
{
  g_autofree char *lower = g_ascii_strdown (message, -1);

  /* "IO error: lock hold by current process, ... /LOCK: No locks available",
   * "IO error: While lock file: ... Resource temporarily unavailable". */
  return g_str_has_prefix (message, "IO error") && strstr (lower, "lock") != NULL;
}

/* Whether the directory of the database holds table files. */
static gboolean
has_table_files (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".sst"))
      return TRUE;

  return FALSE;
}

/* Damage that opening does not see: a MANIFEST that lost the table files
 * (the database opens empty, with files it does not know beside it), and
 * blocks whose checksums do not match (every block is read once). */
static gboolean
check_damage (PbRocksdbStore  *self,
              gboolean         had_files,
              GError         **error)
{
  rocksdb_readoptions_t *options;
  rocksdb_iterator_t *iter;
  const rocksdb_livefiles_t *live;
  char *err = NULL;
  int n_live;

  live = rocksdb_livefiles (self->db);
  n_live = rocksdb_livefiles_count (live);
  rocksdb_livefiles_destroy (live);

  if (had_files && n_live == 0)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_STORE_CORRUPT,
                   _("The RocksDB database “%s” lost its table files: its MANIFEST is damaged"),
                   self->path);
      return FALSE;
    }

  options = rocksdb_readoptions_create ();
  rocksdb_readoptions_set_verify_checksums (options, 1);
  rocksdb_readoptions_set_fill_cache (options, 0);
  for (guint i = 0; i < 3 && err == NULL; i++)
    {
      rocksdb_column_family_handle_t *cfs[] = { self->values_cf, self->offsets_cf,
                                                self->sources_cf };

      iter = rocksdb_create_iterator_cf (self->db, options, cfs[i]);
      for (rocksdb_iter_seek_to_first (iter); rocksdb_iter_valid (iter); rocksdb_iter_next (iter))
        ;
      rocksdb_iter_get_error (iter, &err);
      rocksdb_iter_destroy (iter);
    }
  rocksdb_readoptions_destroy (options);

  if (err != NULL)
    {
      set_rocksdb_error (self, error, err, _("The RocksDB database “%s” is damaged: %s"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
has_column_family (const rocksdb_options_t *options,
                   const char              *path,
                   const char              *name)
{
  char *err = NULL;
  size_t n = 0;
  char **names = rocksdb_list_column_families (options, path, &n, &err);
  gboolean found = FALSE;

  for (size_t i = 0; names != NULL && i < n && !found; i++)
    found = g_str_equal (names[i], name);

  if (names != NULL)
    rocksdb_list_column_families_destroy (names, n);
  rocksdb_free (err);

  return found;
}

static gboolean
pb_rocksdb_store_open (PbStore  *store,
                       GError  **error)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (store);
  const char *cf_names[] = { VALUES_CF, OFFSETS_CF, SOURCES_CF };
  const rocksdb_options_t *cf_options[3];
  rocksdb_column_family_handle_t *handles[3] = { NULL, NULL, NULL };
  int n_cfs = G_N_ELEMENTS (cf_names);
  gboolean had_files;
  char *err = NULL;

  if (self->path == NULL || self->path[0] == '\0')
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_CONFIG,
                           _("A RocksDB store needs a path"));
      return FALSE;
    }

  if (self->db != NULL)
    return TRUE;

  if (!self->read_only && g_mkdir_with_parents (self->path, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, PB_ERROR, PB_ERROR_STORE,
                   _("Could not create the directory “%s” of a RocksDB database: %s"),
                   self->path, g_strerror (saved_errno));
      return FALSE;
    }

  self->options = rocksdb_options_create ();
  rocksdb_options_set_create_if_missing (self->options, !self->read_only);
  rocksdb_options_set_create_missing_column_families (self->options, !self->read_only);
  rocksdb_options_set_keep_log_file_num (self->options, 2);
  rocksdb_options_set_max_open_files (self->options, 256);

  cf_options[0] = self->options;
  cf_options[1] = self->options;
  cf_options[2] = self->options;
  had_files = has_table_files (self->path);

  /* A database written before sources were kept has no column family for
   * them, which only a writer adds. */
  if (self->read_only && !has_column_family (self->options, self->path, SOURCES_CF))
    n_cfs--;

  if (self->read_only)
    self->db = rocksdb_open_for_read_only_column_families (self->options, self->path,
                                                           n_cfs, cf_names,
                                                           cf_options, handles,
                                                           FALSE, &err);
  else
    self->db = rocksdb_open_column_families (self->options, self->path,
                                             n_cfs, cf_names,
                                             cf_options, handles, &err);

  if (err != NULL || self->db == NULL)
    {
      if (err != NULL && !self->read_only && is_lock_error (err))
        set_rocksdb_error (self, error, err,
                           _("The RocksDB database “%s” is in use by another "
                             "process or another store: %s"));
      else if (err != NULL && error_code (err) == PB_ERROR_STORE_CORRUPT)
        set_rocksdb_error (self, error, err, _("The RocksDB database “%s” is damaged: %s"));
      else if (err != NULL)
        set_rocksdb_error (self, error, err,
                           _("Could not open the RocksDB database “%s”: %s"));
      else
        g_set_error (error, PB_ERROR, PB_ERROR_STORE,
                     _("Could not open the RocksDB database “%s”"), self->path);

      for (guint i = 0; i < G_N_ELEMENTS (handles); i++)
        g_clear_pointer (&handles[i], rocksdb_column_family_handle_destroy);
      pb_rocksdb_store_close (store);
      return FALSE;
    }

  self->values_cf = handles[0];
  self->offsets_cf = handles[1];
  self->sources_cf = handles[2];

  if (!self->read_only && !check_damage (self, had_files, error))
    {
      pb_rocksdb_store_close (store);
      return FALSE;
    }

  self->read_options = rocksdb_readoptions_create ();
  self->write_options = rocksdb_writeoptions_create ();
  /* The changelog is the durable copy: the WAL is enough. */
  rocksdb_writeoptions_set_sync (self->write_options, 0);
  self->scratch = g_byte_array_new ();

  return TRUE;
}

/* Values */

static void
encode_value (GByteArray *out,
              GVariant   *value)
{
  g_autoptr(GVariant) normal = g_variant_get_normal_form (value);
  const char *type_string = g_variant_get_type_string (normal);
  gsize type_len = strlen (type_string) + 1;
  gsize size = g_variant_get_size (normal);

  g_byte_array_set_size (out, type_len + size);
  memcpy (out->data, type_string, type_len);
  /* Not g_variant_store(): it wants an aligned destination. */
  if (size > 0)
    memcpy (out->data + type_len, g_variant_get_data (normal), size);
}

static GVariant *
decode_value (PbRocksdbStore  *self,
              const char      *key,
              gsize            key_len,
              const char      *data,
              gsize            size,
              GError         **error)
{
  const char *nul = memchr (data, '\0', size);
  gsize type_len;
  GVariant *value;
  g_autoptr(GBytes) bytes = NULL;

  if (nul == NULL)
    goto corrupt;

  type_len = nul - data + 1;
  if (!g_variant_type_string_is_valid (data)
      || !g_variant_type_is_definite ((const GVariantType *)data))
    goto corrupt;

  bytes = g_bytes_new (data + type_len, size - type_len);
  value = g_variant_ref_sink (g_variant_new_from_bytes ((const GVariantType *)data,
                                                        bytes, FALSE));
  if (!g_variant_is_normal_form (value))
    {
      g_variant_unref (value);
      goto corrupt;
    }

  return value;

corrupt:
  {
    g_autofree char *printable = g_utf8_make_valid (key, key_len);

    g_set_error (error, PB_ERROR, PB_ERROR_STORE,
                 _("The value of “%s” in the RocksDB database “%s” is corrupt"),
                 printable, self->path);
    return NULL;
  }
}

static GVariant *
pb_rocksdb_store_lookup (PbStore     *store,
                         const char  *key,
                         GError     **error)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (store);
  gsize key_len = strlen (key);
  char *err = NULL;
  char *data;
  size_t size = 0;
  GVariant *value;

  if (!check_open (self, error))
    return NULL;

  data = rocksdb_get_cf (self->db, self->read_options, self->values_cf,
                         key, key_len, &size, &err);
  if (err != NULL)
    {
      set_rocksdb_error (self, error, err,
                         _("Could not read from the RocksDB database “%s”: %s"));
      rocksdb_free (data);
      return NULL;
    }

  if (data == NULL)
    return NULL;

  value = decode_value (self, key, key_len, data, size, error);
  rocksdb_free (data);

  return value;
}

static void
encode_offset (gint64 next_offset,
               guint8 out[8])
{
  guint64 be = GUINT64_TO_BE ((guint64)next_offset);

  memcpy (out, &be, 8);
}

/* Sources sort by partition first: 4 bytes, big-endian. */
static void
source_prefix (int   partition,
               char  out[4])
{
  guint32 be = GUINT32_TO_BE ((guint32)partition);

  memcpy (out, &be, 4);
}

GArray *
_pb_rocksdb_store_get_sources (PbRocksdbStore *self,
                               int             partition)
{
  GArray *sources = _pb_store_sources_new ();
  rocksdb_iterator_t *iter;
  char prefix[4];

  if (self->db == NULL || self->sources_cf == NULL)
    return sources;

  source_prefix (partition, prefix);
  iter = rocksdb_create_iterator_cf (self->db, self->read_options, self->sources_cf);
  for (rocksdb_iter_seek (iter, prefix, 4); rocksdb_iter_valid (iter); rocksdb_iter_next (iter))
    {
      size_t key_len, size;
      const char *key = rocksdb_iter_key (iter, &key_len);
      const char *data = rocksdb_iter_value (iter, &size);
      PbStoreSource source;
      guint64 offset_be;
      guint32 seq_be;

      if (key_len < 4 || memcmp (key, prefix, 4) != 0)
        break;
      /* Not one of ours: as if it were not there. */
      if (size != 12)
        continue;

      memcpy (&offset_be, data, 8);
      memcpy (&seq_be, data + 8, 4);
      source.partition = partition;
      source.topic = g_strndup (key + 4, key_len - 4);
      source.offset = (gint64)GUINT64_FROM_BE (offset_be);
      source.seq = GUINT32_FROM_BE (seq_be);
      g_array_append_val (sources, source);
    }
  rocksdb_iter_destroy (iter);

  return sources;
}

/* Writes @wb (owned). */
static gboolean
write_batch (PbRocksdbStore        *self,
             rocksdb_writebatch_t  *wb,
             GError               **error)
{
  char *err = NULL;

  rocksdb_write (self->db, self->write_options, wb, &err);
  rocksdb_writebatch_destroy (wb);

  if (err != NULL)
    {
      set_rocksdb_error (self, error, err,
                         _("Could not write to the RocksDB database “%s”: %s"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
pb_rocksdb_store_apply (PbStore       *store,
                        PbStoreBatch  *batch,
                        GError       **error)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (store);
  guint n_changes = pb_store_batch_get_n_changes (batch);
  guint n_offsets = pb_store_batch_get_n_offsets (batch);
  rocksdb_writebatch_t *wb;
  GArray *sources;

  if (!check_writable (self, error))
    return FALSE;

  wb = rocksdb_writebatch_create ();

  for (guint i = 0; i < n_changes; i++)
    {
      GVariant *value;
      const char *key = pb_store_batch_get_change (batch, i, &value);

      if (value != NULL)
        {
          encode_value (self->scratch, value);
          rocksdb_writebatch_put_cf (wb, self->values_cf, key, strlen (key),
                                     (const char *)self->scratch->data,
                                     self->scratch->len);
        }
      else
        {
          rocksdb_writebatch_delete_cf (wb, self->values_cf, key, strlen (key));
        }
    }

  for (guint i = 0; i < n_offsets; i++)
    {
      gint64 next_offset;
      int partition = pb_store_batch_get_offset (batch, i, &next_offset);
      char key[16];
      guint8 value[8];
      int key_len = g_snprintf (key, sizeof key, "%d", partition);

      if (next_offset < 0)
        {
          char from[4], to[4];

          rocksdb_writebatch_delete_cf (wb, self->offsets_cf, key, key_len);
          source_prefix (partition, from);
          source_prefix (partition + 1, to);
          rocksdb_writebatch_delete_range_cf (wb, self->sources_cf, from, 4, to, 4);
          continue;
        }

      encode_offset (next_offset, value);
      rocksdb_writebatch_put_cf (wb, self->offsets_cf, key, key_len,
                                 (const char *)value, sizeof value);
    }

  sources = _pb_store_batch_get_sources (batch);
  for (guint i = 0; sources != NULL && i < sources->len; i++)
    {
      const PbStoreSource *source = &g_array_index (sources, PbStoreSource, i);
      g_autofree char *key = g_malloc (4 + strlen (source->topic));
      guint64 offset_be = GUINT64_TO_BE ((guint64)source->offset);
      guint32 seq_be = GUINT32_TO_BE (source->seq);
      char value[12];

      source_prefix (source->partition, key);
      memcpy (key + 4, source->topic, strlen (source->topic));
      memcpy (value, &offset_be, 8);
      memcpy (value + 8, &seq_be, 4);
      rocksdb_writebatch_put_cf (wb, self->sources_cf, key, 4 + strlen (source->topic),
                                 value, sizeof value);
    }

  /* Do not keep a huge buffer after a huge value. */
  if (self->scratch->len > 1024 * 1024)
    {
      g_byte_array_unref (self->scratch);
      self->scratch = g_byte_array_new ();
    }

  return write_batch (self, wb, error);
}

static gboolean
iter_check (PbRocksdbStore     *self,
            rocksdb_iterator_t *iter,
            GError            **error)
{
  char *err = NULL;

  rocksdb_iter_get_error (iter, &err);
  if (err == NULL)
    return TRUE;

  set_rocksdb_error (self, error, err,
                     _("Could not read from the RocksDB database “%s”: %s"));
  return FALSE;
}

static gboolean
pb_rocksdb_store_foreach (PbStore             *store,
                          PbStoreForeachFunc   func,
                          gpointer             user_data,
                          GError             **error)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (store);
  rocksdb_iterator_t *iter;
  gboolean ret = TRUE;

  if (!check_open (self, error))
    return FALSE;

  iter = rocksdb_create_iterator_cf (self->db, self->read_options, self->values_cf);

  for (rocksdb_iter_seek_to_first (iter);
       rocksdb_iter_valid (iter);
       rocksdb_iter_next (iter))
    {
      size_t key_len, size;
      const char *key_data = rocksdb_iter_key (iter, &key_len);
      const char *data = rocksdb_iter_value (iter, &size);
      g_autofree char *key = g_strndup (key_data, key_len);
      g_autoptr(GVariant) value = NULL;
      gboolean go_on;

      value = decode_value (self, key_data, key_len, data, size, error);
      if (value == NULL)
        {
          ret = FALSE;
          break;
        }

      go_on = func (key, value, user_data);
      if (!go_on)
        break;
    }

  if (ret)
    ret = iter_check (self, iter, error);

  rocksdb_iter_destroy (iter);

  return ret;
}

static GVariant *
pb_rocksdb_store_get_offsets (PbStore  *store,
                              GError  **error)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (store);
  rocksdb_iterator_t *iter;
  GVariantBuilder builder;
  gboolean ok = TRUE;

  if (!check_open (self, error))
    return NULL;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ix}"));

  iter = rocksdb_create_iterator_cf (self->db, self->read_options, self->offsets_cf);

  for (rocksdb_iter_seek_to_first (iter);
       rocksdb_iter_valid (iter);
       rocksdb_iter_next (iter))
    {
      size_t key_len, size;
      const char *key_data = rocksdb_iter_key (iter, &key_len);
      const guint8 *data = (const guint8 *)rocksdb_iter_value (iter, &size);
      g_autofree char *key = g_strndup (key_data, key_len);
      gint64 partition;
      guint64 be;

      if (size != 8
          || !g_ascii_string_to_signed (key, 10, 0, G_MAXINT32, &partition, NULL))
        {
          g_set_error (error, PB_ERROR, PB_ERROR_STORE,
                       _("The offset of partition “%s” in the RocksDB database “%s” is corrupt"),
                       key, self->path);
          ok = FALSE;
          break;
        }

      memcpy (&be, data, 8);
      g_variant_builder_add (&builder, "{ix}",
                             (gint32)partition, (gint64)GUINT64_FROM_BE (be));
    }

  if (ok)
    ok = iter_check (self, iter, error);

  rocksdb_iter_destroy (iter);

  if (!ok)
    {
      g_variant_builder_clear (&builder);
      return NULL;
    }

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/* Deletes every key of @cf in @wb: a range up to the last key, then the
 * last key. Returns FALSE with @error set if the keys cannot be read. */
static gboolean
wipe_cf (PbRocksdbStore                  *self,
         rocksdb_writebatch_t            *wb,
         rocksdb_column_family_handle_t  *cf,
         GError                         **error)
{
  rocksdb_iterator_t *iter = rocksdb_create_iterator_cf (self->db, self->read_options, cf);
  gboolean ok;

  rocksdb_iter_seek_to_last (iter);
  if (rocksdb_iter_valid (iter))
    {
      size_t last_len;
      const char *last = rocksdb_iter_key (iter, &last_len);

      /* The batch copies the keys. */
      rocksdb_writebatch_delete_range_cf (wb, cf, "", 0, last, last_len);
      rocksdb_writebatch_delete_cf (wb, cf, last, last_len);
    }

  ok = iter_check (self, iter, error);
  rocksdb_iter_destroy (iter);

  return ok;
}

static gboolean
pb_rocksdb_store_wipe (PbStore  *store,
                       GError  **error)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (store);
  rocksdb_writebatch_t *wb;

  if (!check_writable (self, error))
    return FALSE;

  wb = rocksdb_writebatch_create ();

  if (!wipe_cf (self, wb, self->values_cf, error)
      || !wipe_cf (self, wb, self->offsets_cf, error)
      || !wipe_cf (self, wb, self->sources_cf, error))
    {
      rocksdb_writebatch_destroy (wb);
      return FALSE;
    }

  return write_batch (self, wb, error);
}

static void
pb_rocksdb_store_iface_init (PbStoreInterface *iface)
{
  iface->open = pb_rocksdb_store_open;
  iface->close = pb_rocksdb_store_close;
  iface->lookup = pb_rocksdb_store_lookup;
  iface->apply = pb_rocksdb_store_apply;
  iface->foreach = pb_rocksdb_store_foreach;
  iface->get_offsets = pb_rocksdb_store_get_offsets;
  iface->wipe = pb_rocksdb_store_wipe;
}

/* The object */

static void
pb_rocksdb_store_finalize (GObject *object)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (object);

  pb_rocksdb_store_close (PB_STORE (self));
  g_clear_pointer (&self->path, g_free);

  G_OBJECT_CLASS (pb_rocksdb_store_parent_class)->finalize (object);
}

static void
pb_rocksdb_store_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, pb_rocksdb_store_get_path (self));
      break;

    case PROP_READ_ONLY:
      g_value_set_boolean (value, pb_rocksdb_store_get_read_only (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_rocksdb_store_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  PbRocksdbStore *self = PB_ROCKSDB_STORE (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_assert (self->path == NULL);
      self->path = g_value_dup_string (value);
      break;

    case PROP_READ_ONLY:
      pb_rocksdb_store_set_read_only (self, g_value_get_boolean (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_rocksdb_store_class_init (PbRocksdbStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pb_rocksdb_store_finalize;
  object_class->get_property = pb_rocksdb_store_get_property;
  object_class->set_property = pb_rocksdb_store_set_property;

  /**
   * PbRocksdbStore:path:
   *
   * The directory of the database. [method@Paperboy.Store.open] creates
   * it, with its parents, unless the store is read-only. Required.
   */
  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbRocksdbStore:read-only:
   *
   * Whether to open the database for reading only. A read-only store can
   * open a database that another process or store holds, and sees its
   * data as it was when opened; [method@Paperboy.Store.apply] and
   * [method@Paperboy.Store.wipe] then fail. Set it before
   * [method@Paperboy.Store.open].
   */
  properties[PROP_READ_ONLY] =
    g_param_spec_boolean ("read-only", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
pb_rocksdb_store_init (PbRocksdbStore *self)
{
}

/**
 * pb_rocksdb_store_new:
 * @path: the directory of the database
 *
 * Creates a [class@Paperboy.RocksdbStore] on @path. Nothing is opened
 * before [method@Paperboy.Store.open].
 *
 * Returns: (transfer full): a new store
 */
PbStore *
pb_rocksdb_store_new (const char *path)
{
  g_return_val_if_fail (path != NULL, NULL);

  return g_object_new (PB_TYPE_ROCKSDB_STORE, "path", path, NULL);
}

/**
 * pb_rocksdb_store_get_path:
 * @self: a [class@Paperboy.RocksdbStore]
 *
 * Gets [property@Paperboy.RocksdbStore:path].
 *
 * Returns: (nullable): the directory of the database
 */
const char *
pb_rocksdb_store_get_path (PbRocksdbStore *self)
{
  g_return_val_if_fail (PB_IS_ROCKSDB_STORE (self), NULL);

  return self->path;
}

/**
 * pb_rocksdb_store_get_read_only:
 * @self: a [class@Paperboy.RocksdbStore]
 *
 * Gets [property@Paperboy.RocksdbStore:read-only].
 *
 * Returns: whether the database is opened for reading only
 */
gboolean
pb_rocksdb_store_get_read_only (PbRocksdbStore *self)
{
  g_return_val_if_fail (PB_IS_ROCKSDB_STORE (self), FALSE);

  return self->read_only;
}

/**
 * pb_rocksdb_store_set_read_only:
 * @self: a [class@Paperboy.RocksdbStore]
 * @read_only: whether to open the database for reading only
 *
 * Sets [property@Paperboy.RocksdbStore:read-only]. The store must not be
 * open.
 */
void
pb_rocksdb_store_set_read_only (PbRocksdbStore *self,
                                gboolean        read_only)
{
  g_return_if_fail (PB_IS_ROCKSDB_STORE (self));
  g_return_if_fail (self->db == NULL);

  read_only = !!read_only;
  if (self->read_only == read_only)
    return;

  self->read_only = read_only;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_READ_ONLY]);
}

gboolean
_pb_rocksdb_store_destroy (PbRocksdbStore  *self,
                           GError         **error)
{
  rocksdb_options_t *options;
  char *err = NULL;

  g_return_val_if_fail (PB_IS_ROCKSDB_STORE (self), FALSE);
  g_return_val_if_fail (self->db == NULL, FALSE);

  options = rocksdb_options_create ();
  rocksdb_destroy_db (options, self->path, &err);
  rocksdb_options_destroy (options);

  if (err != NULL)
    {
      set_rocksdb_error (self, error, err, _("Could not wipe the RocksDB database “%s”: %s"));
      return FALSE;
    }

  return TRUE;
}
