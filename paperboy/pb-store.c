/* pb-store.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-store-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "pb-error.h"
#include "pb-memory-store-private.h"
#include "pb-rocksdb-store-private.h"

/* Batches */

/**
 * PbStoreBatch:
 *
 * The changes that one call to [method@Paperboy.Store.apply] writes at
 * once: values put or deleted, in order, and the changelog offsets they
 * bring the store to.
 *
 * A batch is cheap: it holds a copy of each key and a reference to each
 * value, nothing more. A batch may be given to another thread, but it must
 * not be changed by two threads at once.
 */

typedef struct
{
  char     *key;        /* owned */
  GVariant *value;      /* owned; NULL deletes */
} PbStoreChange;

typedef struct
{
  int    partition;
  gint64 next_offset;
} PbStoreOffset;

struct _PbStoreBatch
{
  gatomicrefcount ref_count;
  GArray         *changes;   /* of PbStoreChange */
  GArray         *offsets;   /* of PbStoreOffset */
  GArray         *sources;   /* of PbStoreSource, or NULL */
};

G_DEFINE_BOXED_TYPE (PbStoreBatch, pb_store_batch,
                     pb_store_batch_ref, pb_store_batch_unref)

static void
pb_store_change_clear (gpointer data)
{
  PbStoreChange *change = data;

  g_free (change->key);
  g_clear_pointer (&change->value, g_variant_unref);
}

/**
 * pb_store_batch_new:
 *
 * Creates an empty batch.
 *
 * Returns: (transfer full): a new [struct@Paperboy.StoreBatch]
 */
PbStoreBatch *
pb_store_batch_new (void)
{
  return _pb_store_batch_new_sized (0);
}

PbStoreBatch *
_pb_store_batch_new_sized (guint n_changes)
{
  PbStoreBatch *self = g_new0 (PbStoreBatch, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->changes = g_array_sized_new (FALSE, FALSE, sizeof (PbStoreChange), n_changes);
  g_array_set_clear_func (self->changes, pb_store_change_clear);
  self->offsets = g_array_new (FALSE, FALSE, sizeof (PbStoreOffset));

  return self;
}

/**
 * pb_store_batch_ref:
 * @self: a [struct@Paperboy.StoreBatch]
 *
 * Takes a reference on @self.
 *
 * Returns: (transfer full): @self
 */
PbStoreBatch *
pb_store_batch_ref (PbStoreBatch *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);

  return self;
}

/**
 * pb_store_batch_unref:
 * @self: (transfer full): a [struct@Paperboy.StoreBatch]
 *
 * Drops a reference on @self, and frees it when it was the last one.
 */
void
pb_store_batch_unref (PbStoreBatch *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_array_unref (self->changes);
  g_array_unref (self->offsets);
  g_clear_pointer (&self->sources, g_array_unref);
  g_free (self);
}

/**
 * pb_store_batch_put:
 * @self: a [struct@Paperboy.StoreBatch]
 * @key: the key
 * @value: (nullable): the new value of @key, or %NULL to delete it
 *
 * Adds a change to @self: @key takes @value, or, if @value is %NULL, is
 * deleted. Changes apply in the order they were added, so when a key
 * appears twice the later change wins. A floating @value is sunk.
 */
void
pb_store_batch_put (PbStoreBatch *self,
                    const char   *key,
                    GVariant     *value)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (key != NULL);

  _pb_store_batch_take (self, g_strdup (key),
                        value != NULL ? g_variant_ref_sink (value) : NULL);
}

guint
_pb_store_batch_take (PbStoreBatch *self,
                      char         *key,
                      GVariant     *value)
{
  PbStoreChange change = { key, value };

  g_array_append_val (self->changes, change);

  return self->changes->len - 1;
}

/**
 * pb_store_batch_set_offset:
 * @self: a [struct@Paperboy.StoreBatch]
 * @partition: a partition of the table's changelog topic
 * @next_offset: the offset of the next changelog record to read in
 *   @partition, once @self is applied, or -1 to forget it
 *
 * Records where the store stands in the changelog once @self is applied.
 * Setting a partition again replaces its offset. With -1, the store no
 * longer holds an offset for @partition: its changes, if any, were
 * deleted from the store.
 */
void
pb_store_batch_set_offset (PbStoreBatch *self,
                           int           partition,
                           gint64        next_offset)
{
  PbStoreOffset offset;

  g_return_if_fail (self != NULL);
  g_return_if_fail (partition >= 0);
  g_return_if_fail (next_offset >= -1);

  for (guint i = 0; i < self->offsets->len; i++)
    {
      PbStoreOffset *o = &g_array_index (self->offsets, PbStoreOffset, i);

      if (o->partition == partition)
        {
          o->next_offset = next_offset;
          return;
        }
    }

  offset.partition = partition;
  offset.next_offset = next_offset;
  g_array_append_val (self->offsets, offset);
}

/**
 * pb_store_batch_get_n_changes:
 * @self: a [struct@Paperboy.StoreBatch]
 *
 * Gets the number of changes in @self, a key given twice counting twice.
 *
 * Returns: the number of changes
 */
guint
pb_store_batch_get_n_changes (PbStoreBatch *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->changes->len;
}

/**
 * pb_store_batch_get_change:
 * @self: a [struct@Paperboy.StoreBatch]
 * @index: the position of the change, below
 *   [method@Paperboy.StoreBatch.get_n_changes]
 * @value: (out) (transfer none) (nullable) (optional): return location for
 *   the value, %NULL for a deletion
 *
 * Gets a change of @self, in the order they were added.
 *
 * Returns: (transfer none): the key of the change
 */
const char *
pb_store_batch_get_change (PbStoreBatch  *self,
                           guint          index,
                           GVariant     **value)
{
  const PbStoreChange *change;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->changes->len, NULL);

  change = &g_array_index (self->changes, PbStoreChange, index);
  if (value != NULL)
    *value = change->value;

  return change->key;
}

/**
 * pb_store_batch_get_n_offsets:
 * @self: a [struct@Paperboy.StoreBatch]
 *
 * Gets the number of partitions whose offset @self sets.
 *
 * Returns: the number of offsets
 */
guint
pb_store_batch_get_n_offsets (PbStoreBatch *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->offsets->len;
}

/**
 * pb_store_batch_get_offset:
 * @self: a [struct@Paperboy.StoreBatch]
 * @index: the position of the offset, below
 *   [method@Paperboy.StoreBatch.get_n_offsets]
 * @next_offset: (out) (optional): return location for the next offset to
 *   read in the partition
 *
 * Gets an offset that @self sets.
 *
 * Returns: the changelog partition, or -1 if @index is out of range
 */
int
pb_store_batch_get_offset (PbStoreBatch *self,
                           guint         index,
                           gint64       *next_offset)
{
  const PbStoreOffset *offset;

  g_return_val_if_fail (self != NULL, -1);
  g_return_val_if_fail (index < self->offsets->len, -1);

  offset = &g_array_index (self->offsets, PbStoreOffset, index);
  if (next_offset != NULL)
    *next_offset = offset->next_offset;

  return offset->partition;
}

/* The interface */

/**
 * PbStore:
 *
 * Where a table keeps its values, and how far in its changelog they go.
 *
 * A store maps string keys to [struct@GLib.Variant] values, and holds the
 * changelog offsets they reflect: for each partition of the table's
 * changelog topic, the offset of the next record to read. Paperboy has
 * [class@Paperboy.MemoryStore] and [class@Paperboy.RocksdbStore]; a store
 * of another kind is written in C, as a `GObject` that implements this
 * interface.
 *
 * The contract:
 *
 * - [vfunc@Paperboy.Store.open] gets the store ready, and
 *   [vfunc@Paperboy.Store.close] releases what it holds; a closed store
 *   may be opened again. The defaults do nothing.
 * - [vfunc@Paperboy.Store.apply] is atomic: it writes all the changes and
 *   all the offsets of a [struct@Paperboy.StoreBatch], or, when it fails,
 *   none of them. Changes apply in their order.
 * - [vfunc@Paperboy.Store.lookup] returns a new reference to the value of
 *   a key, or %NULL without an error when the key is absent.
 * - [vfunc@Paperboy.Store.foreach] visits every entry, in an unspecified
 *   order ([class@Paperboy.RocksdbStore] goes in the byte order of keys).
 * - [vfunc@Paperboy.Store.get_offsets] returns the offsets as an `a{ix}`
 *   dictionary, changelog partition to next offset to read.
 * - [vfunc@Paperboy.Store.wipe] removes all the values and all the
 *   offsets.
 *
 * A store is used by one thread at a time, but not always the same one:
 * the engine calls it on its main context, and a table's restore calls
 * open(), apply(), get_offsets() and wipe() from a worker thread before
 * any handler runs. So a store must not rely on a main context.
 */

G_DEFINE_INTERFACE (PbStore, pb_store, G_TYPE_OBJECT)

static gboolean
pb_store_real_open (PbStore  *self,
                    GError  **error)
{
  return TRUE;
}

static void
pb_store_real_close (PbStore *self)
{
}

static void
pb_store_default_init (PbStoreInterface *iface)
{
  iface->open = pb_store_real_open;
  iface->close = pb_store_real_close;
}

static gboolean
not_implemented (PbStore     *self,
                 const char  *vfunc,
                 GError     **error)
{
  g_set_error (error, PB_ERROR, PB_ERROR_STORE,
               _("%s.%s() is not implemented"),
               G_OBJECT_TYPE_NAME (self), vfunc);
  return FALSE;
}

static void
no_error_reported (PbStore     *self,
                   const char  *vfunc,
                   GError     **error)
{
  g_set_error (error, PB_ERROR, PB_ERROR_STORE,
               _("%s.%s() failed without reporting an error"),
               G_OBJECT_TYPE_NAME (self), vfunc);
}

/* What a vfunc returned: @local_error (owned) goes to @error on failure,
 * and a failure without one gets one. */
static gboolean
check_result (PbStore     *self,
              const char  *vfunc,
              gboolean     ok,
              GError      *local_error,
              GError     **error)
{
  if (ok)
    {
      g_clear_error (&local_error);
      return TRUE;
    }

  if (local_error == NULL)
    no_error_reported (self, vfunc, &local_error);
  g_propagate_error (error, local_error);

  return FALSE;
}

/**
 * pb_store_open: (virtual open)
 * @self: a [iface@Paperboy.Store]
 * @error: return location for a #GError
 *
 * Gets @self ready for use. The default does nothing.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
pb_store_open (PbStore  *self,
               GError  **error)
{
  PbStoreInterface *iface;
  GError *local_error = NULL;
  gboolean ok;

  g_return_val_if_fail (PB_IS_STORE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = PB_STORE_GET_IFACE (self);
  if (iface->open == NULL)
    return TRUE;

  ok = iface->open (self, &local_error);

  return check_result (self, "open", ok, local_error, error);
}

/**
 * pb_store_close: (virtual close)
 * @self: a [iface@Paperboy.Store]
 *
 * Releases what @self holds open (files, locks). It may be opened again
 * with [method@Paperboy.Store.open]. The default does nothing.
 */
void
pb_store_close (PbStore *self)
{
  PbStoreInterface *iface;

  g_return_if_fail (PB_IS_STORE (self));

  iface = PB_STORE_GET_IFACE (self);
  if (iface->close != NULL)
    iface->close (self);
}

/**
 * pb_store_lookup: (virtual lookup)
 * @self: a [iface@Paperboy.Store]
 * @key: the key to look up
 * @error: return location for a #GError
 *
 * Looks @key up.
 *
 * Returns: (transfer full) (nullable): the value of @key, or %NULL if it
 *   is absent (@error not set) or on failure (@error set)
 */
GVariant *
pb_store_lookup (PbStore     *self,
                 const char  *key,
                 GError     **error)
{
  PbStoreInterface *iface;
  GVariant *ret;

  g_return_val_if_fail (PB_IS_STORE (self), NULL);
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  iface = PB_STORE_GET_IFACE (self);
  if (iface->lookup == NULL)
    {
      not_implemented (self, "lookup", error);
      return NULL;
    }

  ret = iface->lookup (self, key, error);

  return ret != NULL ? g_variant_take_ref (ret) : NULL;
}

/**
 * pb_store_apply: (virtual apply)
 * @self: a [iface@Paperboy.Store]
 * @batch: the changes and offsets to write
 * @error: return location for a #GError
 *
 * Writes all the changes and all the offsets of @batch, atomically: on
 * failure, none of them is written.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
pb_store_apply (PbStore       *self,
                PbStoreBatch  *batch,
                GError       **error)
{
  PbStoreInterface *iface;
  GError *local_error = NULL;
  gboolean ok;

  g_return_val_if_fail (PB_IS_STORE (self), FALSE);
  g_return_val_if_fail (batch != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = PB_STORE_GET_IFACE (self);
  if (iface->apply == NULL)
    return not_implemented (self, "apply", error);

  ok = iface->apply (self, batch, &local_error);

  return check_result (self, "apply", ok, local_error, error);
}

/**
 * pb_store_foreach: (virtual foreach)
 * @self: a [iface@Paperboy.Store]
 * @func: (scope call): the function to call for each entry
 * @user_data: the data to give to @func
 * @error: return location for a #GError
 *
 * Calls @func for each entry of @self, in an unspecified order, until it
 * returns %FALSE. @func must not change @self.
 *
 * Returns: %TRUE if the entries could be read (even if @func stopped
 *   early), %FALSE with @error set
 */
gboolean
pb_store_foreach (PbStore             *self,
                  PbStoreForeachFunc   func,
                  gpointer             user_data,
                  GError             **error)
{
  PbStoreInterface *iface;
  GError *local_error = NULL;
  gboolean ok;

  g_return_val_if_fail (PB_IS_STORE (self), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = PB_STORE_GET_IFACE (self);
  if (iface->foreach == NULL)
    return not_implemented (self, "foreach", error);

  ok = iface->foreach (self, func, user_data, &local_error);

  return check_result (self, "foreach", ok, local_error, error);
}

void
_pb_store_source_clear (gpointer data)
{
  PbStoreSource *source = data;

  g_free (source->topic);
}

GArray *
_pb_store_sources_new (void)
{
  GArray *sources = g_array_new (FALSE, FALSE, sizeof (PbStoreSource));

  g_array_set_clear_func (sources, _pb_store_source_clear);

  return sources;
}

void
_pb_store_sources_set (GArray     *sources,
                       int         partition,
                       const char *topic,
                       gint64      offset,
                       guint       seq)
{
  PbStoreSource source;

  for (guint i = 0; i < sources->len; i++)
    {
      PbStoreSource *s = &g_array_index (sources, PbStoreSource, i);

      if (s->partition == partition && strcmp (s->topic, topic) == 0)
        {
          s->offset = offset;
          s->seq = seq;
          return;
        }
    }

  source.partition = partition;
  source.topic = g_strdup (topic);
  source.offset = offset;
  source.seq = seq;
  g_array_append_val (sources, source);
}

void
_pb_store_batch_set_source (PbStoreBatch *self,
                            int           partition,
                            const char   *topic,
                            gint64        offset,
                            guint         seq)
{
  if (self->sources == NULL)
    self->sources = _pb_store_sources_new ();

  _pb_store_sources_set (self->sources, partition, topic, offset, seq);
}

GArray *
_pb_store_batch_get_sources (PbStoreBatch *self)
{
  return self->sources;
}

GArray *
_pb_store_get_sources (PbStore *store,
                       int      partition)
{
  if (PB_IS_MEMORY_STORE (store))
    return _pb_memory_store_get_sources (PB_MEMORY_STORE (store), partition);
  if (PB_IS_ROCKSDB_STORE (store))
    return _pb_rocksdb_store_get_sources (PB_ROCKSDB_STORE (store), partition);

  return NULL;
}

/**
 * pb_store_get_offsets: (virtual get_offsets)
 * @self: a [iface@Paperboy.Store]
 * @error: return location for a #GError
 *
 * Gets the changelog offsets that @self holds: for each partition of the
 * changelog topic, the offset of the next record to read. An empty store
 * has none.
 *
 * Returns: (transfer full): an `a{ix}` dictionary, partition to next
 *   offset, or %NULL with @error set
 */
GVariant *
pb_store_get_offsets (PbStore  *self,
                      GError  **error)
{
  PbStoreInterface *iface;
  GError *local_error = NULL;
  GVariant *ret;

  g_return_val_if_fail (PB_IS_STORE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  iface = PB_STORE_GET_IFACE (self);
  if (iface->get_offsets == NULL)
    {
      not_implemented (self, "get_offsets", error);
      return NULL;
    }

  ret = iface->get_offsets (self, &local_error);

  if (ret == NULL)
    {
      if (local_error == NULL)
        no_error_reported (self, "get_offsets", &local_error);
      g_propagate_error (error, local_error);
      return NULL;
    }

  g_clear_error (&local_error);
  ret = g_variant_take_ref (ret);

  if (!g_variant_is_of_type (ret, G_VARIANT_TYPE ("a{ix}")))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_STORE,
                   _("%s.get_offsets() returned a value of type “%s” instead of “a{ix}”"),
                   G_OBJECT_TYPE_NAME (self), g_variant_get_type_string (ret));
      g_variant_unref (ret);
      return NULL;
    }

  return ret;
}

/**
 * pb_store_wipe: (virtual wipe)
 * @self: a [iface@Paperboy.Store]
 * @error: return location for a #GError
 *
 * Removes all the values and all the offsets of @self: afterwards it is
 * empty, and [method@Paperboy.Store.get_offsets] returns an empty
 * dictionary.
 *
 * Returns: %TRUE on success, %FALSE with @error set
 */
gboolean
pb_store_wipe (PbStore  *self,
               GError  **error)
{
  PbStoreInterface *iface;
  GError *local_error = NULL;
  gboolean ok;

  g_return_val_if_fail (PB_IS_STORE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  iface = PB_STORE_GET_IFACE (self);
  if (iface->wipe == NULL)
    return not_implemented (self, "wipe", error);

  ok = iface->wipe (self, &local_error);

  return check_result (self, "wipe", ok, local_error, error);
}
