/* test-store.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <rocksdb/c.h>

#include "pb-test-util.h"

typedef enum
{
  STORE_MEMORY,
  STORE_ROCKSDB,
} StoreKind;

typedef struct
{
  StoreKind kind;
  char *dir;    /* the temporary directory, for RocksDB */
  char *path;   /* the database in it */
  PbStore *store;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->kind = GPOINTER_TO_INT (data);

  if (fixture->kind == STORE_MEMORY)
    {
      fixture->store = pb_memory_store_new ();
    }
  else
    {
      fixture->dir = g_dir_make_tmp ("pb-test-store-XXXXXX", &error);
      g_assert_no_error (error);
      /* Not there yet: open() creates it. */
      fixture->path = g_build_filename (fixture->dir, "sub", "db", NULL);
      fixture->store = pb_rocksdb_store_new (fixture->path);
    }

  g_assert_true (PB_IS_STORE (fixture->store));
  g_assert_true (pb_store_open (fixture->store, &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  if (fixture->store != NULL)
    pb_store_close (fixture->store);
  g_clear_object (&fixture->store);

  if (fixture->dir != NULL)
    {
      pb_test_remove_tree (fixture->dir);
      g_assert_false (g_file_test (fixture->dir, G_FILE_TEST_EXISTS));
    }

  g_clear_pointer (&fixture->dir, g_free);
  g_clear_pointer (&fixture->path, g_free);
}

static void
apply_or_die (PbStore      *store,
              PbStoreBatch *batch)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (pb_store_apply (store, batch, &error));
  g_assert_no_error (error);
}

static void
assert_value (PbStore    *store,
              const char *key,
              GVariant   *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) expected_ref = NULL;

  if (expected != NULL)
    expected_ref = g_variant_ref_sink (expected);

  value = pb_store_lookup (store, key, &error);
  g_assert_no_error (error);

  if (expected_ref == NULL)
    {
      g_assert_null (value);
      return;
    }

  g_assert_nonnull (value);
  g_assert_false (g_variant_is_floating (value));
  g_assert_cmpstr (g_variant_get_type_string (value), ==,
                   g_variant_get_type_string (expected_ref));
  if (!g_variant_equal (value, expected_ref))
    {
      g_autofree char *got = g_variant_print (value, TRUE);
      g_autofree char *want = g_variant_print (expected_ref, TRUE);

      g_error ("%s: got %s, expected %s", key, got, want);
    }
}

static GVariant *
get_offsets_or_die (PbStore *store)
{
  g_autoptr(GError) error = NULL;
  GVariant *offsets = pb_store_get_offsets (store, &error);

  g_assert_no_error (error);
  g_assert_nonnull (offsets);
  g_assert_false (g_variant_is_floating (offsets));
  g_assert_cmpstr (g_variant_get_type_string (offsets), ==, "a{ix}");

  return offsets;
}

static void
assert_offset (GVariant *offsets,
               int       partition,
               gint64    expected)
{
  GVariantIter iter;
  gint32 p;
  gint64 o;
  guint found = 0;

  g_variant_iter_init (&iter, offsets);
  while (g_variant_iter_next (&iter, "{ix}", &p, &o))
    {
      if (p == partition)
        {
          found++;
          g_assert_cmpint (o, ==, expected);
        }
    }

  g_assert_cmpuint (found, ==, 1);
}

/* The value types the stores must keep. */
static GVariant *
make_dict (void)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "name", g_variant_new_string ("Ada"));
  g_variant_builder_add (&builder, "{sv}", "age", g_variant_new_int64 (36));
  g_variant_builder_add (&builder, "{sv}", "tags",
                         g_variant_new_strv ((const char *[]) { "a", "b" }, 2));

  return g_variant_builder_end (&builder);
}

static GVariant *
make_bytes (void)
{
  static const guint8 data[] = { 'a', 0, 'b', 0, 0, 0xff };

  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, sizeof data, 1);
}

static void
test_apply_types (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(PbStoreBatch) batch = pb_store_batch_new ();
  const char *strv[] = { "one", "", "three" };

  pb_store_batch_put (batch, "s", g_variant_new_string ("hello"));
  pb_store_batch_put (batch, "empty-s", g_variant_new_string (""));
  pb_store_batch_put (batch, "x", g_variant_new_int64 (G_MININT64));
  pb_store_batch_put (batch, "d", g_variant_new_double (-2.5));
  pb_store_batch_put (batch, "a{sv}", make_dict ());
  pb_store_batch_put (batch, "(is)", g_variant_new ("(is)", 42, "answer"));
  pb_store_batch_put (batch, "as", g_variant_new_strv (strv, G_N_ELEMENTS (strv)));
  pb_store_batch_put (batch, "as-empty", g_variant_new_strv (NULL, 0));
  pb_store_batch_put (batch, "ay", make_bytes ());
  pb_store_batch_put (batch, "mv-nothing", g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL));
  pb_store_batch_put (batch, "mv-just",
                      g_variant_new_maybe (NULL, g_variant_new_variant (g_variant_new_uint32 (7))));
  pb_store_batch_put (batch, "b", g_variant_new_boolean (TRUE));
  pb_store_batch_put (batch, "unicode-é", g_variant_new_string ("ünïcødé"));
  pb_store_batch_put (batch, "", g_variant_new_string ("empty key"));
  g_assert_cmpuint (pb_store_batch_get_n_changes (batch), ==, 14);

  apply_or_die (fixture->store, batch);

  assert_value (fixture->store, "s", g_variant_new_string ("hello"));
  assert_value (fixture->store, "empty-s", g_variant_new_string (""));
  assert_value (fixture->store, "x", g_variant_new_int64 (G_MININT64));
  assert_value (fixture->store, "d", g_variant_new_double (-2.5));
  assert_value (fixture->store, "a{sv}", make_dict ());
  assert_value (fixture->store, "(is)", g_variant_new ("(is)", 42, "answer"));
  assert_value (fixture->store, "as", g_variant_new_strv (strv, G_N_ELEMENTS (strv)));
  assert_value (fixture->store, "as-empty", g_variant_new_strv (NULL, 0));
  assert_value (fixture->store, "ay", make_bytes ());
  assert_value (fixture->store, "mv-nothing", g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL));
  assert_value (fixture->store, "mv-just",
                g_variant_new_maybe (NULL, g_variant_new_variant (g_variant_new_uint32 (7))));
  assert_value (fixture->store, "b", g_variant_new_boolean (TRUE));
  assert_value (fixture->store, "unicode-é", g_variant_new_string ("ünïcødé"));
  assert_value (fixture->store, "", g_variant_new_string ("empty key"));
  assert_value (fixture->store, "absent", NULL);

  /* The embedded zeros survive. */
  {
    g_autoptr(GVariant) value = pb_store_lookup (fixture->store, "ay", NULL);
    gsize n;
    const guint8 *bytes = g_variant_get_fixed_array (value, &n, 1);

    g_assert_cmpuint (n, ==, 6);
    g_assert_cmpint (bytes[1], ==, 0);
    g_assert_cmpint (bytes[5], ==, 0xff);
  }
}

static void
test_put_delete (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(PbStoreBatch) first = pb_store_batch_new ();
  g_autoptr(PbStoreBatch) second = pb_store_batch_new ();
  GVariant *value = NULL;

  pb_store_batch_put (first, "a", g_variant_new_string ("1"));
  pb_store_batch_put (first, "b", g_variant_new_string ("2"));
  pb_store_batch_put (first, "c", g_variant_new_string ("3"));
  /* Within a batch, the later change wins. */
  pb_store_batch_put (first, "c", g_variant_new_string ("3 again"));
  pb_store_batch_put (first, "gone", g_variant_new_int32 (1));
  pb_store_batch_put (first, "gone", NULL);
  apply_or_die (fixture->store, first);

  assert_value (fixture->store, "a", g_variant_new_string ("1"));
  assert_value (fixture->store, "c", g_variant_new_string ("3 again"));
  assert_value (fixture->store, "gone", NULL);

  pb_store_batch_put (second, "a", NULL);
  pb_store_batch_put (second, "b", g_variant_new_int32 (2));  /* a new type */
  pb_store_batch_put (second, "never", NULL);
  g_assert_cmpstr (pb_store_batch_get_change (second, 0, &value), ==, "a");
  g_assert_null (value);
  g_assert_cmpstr (pb_store_batch_get_change (second, 1, &value), ==, "b");
  g_assert_nonnull (value);
  g_assert_false (g_variant_is_floating (value));
  g_assert_cmpint (g_variant_get_int32 (value), ==, 2);
  g_assert_cmpstr (pb_store_batch_get_change (second, 2, NULL), ==, "never");
  apply_or_die (fixture->store, second);

  assert_value (fixture->store, "a", NULL);
  assert_value (fixture->store, "b", g_variant_new_int32 (2));
  assert_value (fixture->store, "c", g_variant_new_string ("3 again"));
  assert_value (fixture->store, "never", NULL);
}

static void
test_offsets (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(PbStoreBatch) first = pb_store_batch_new ();
  g_autoptr(PbStoreBatch) second = pb_store_batch_new ();
  g_autoptr(PbStoreBatch) empty = pb_store_batch_new ();
  g_autoptr(GVariant) offsets = NULL;
  gint64 next_offset = -1;

  offsets = get_offsets_or_die (fixture->store);
  g_assert_cmpuint (g_variant_n_children (offsets), ==, 0);
  g_clear_pointer (&offsets, g_variant_unref);

  pb_store_batch_put (first, "k", g_variant_new_string ("v"));
  pb_store_batch_set_offset (first, 0, 10);
  pb_store_batch_set_offset (first, 11, G_GINT64_CONSTANT (1) << 40);
  pb_store_batch_set_offset (first, 2, 5);
  pb_store_batch_set_offset (first, 0, 12);  /* the last wins */
  g_assert_cmpuint (pb_store_batch_get_n_offsets (first), ==, 3);
  g_assert_cmpint (pb_store_batch_get_offset (first, 0, &next_offset), ==, 0);
  g_assert_cmpint (next_offset, ==, 12);
  g_assert_cmpint (pb_store_batch_get_offset (first, 2, NULL), ==, 2);
  apply_or_die (fixture->store, first);

  offsets = get_offsets_or_die (fixture->store);
  g_assert_cmpuint (g_variant_n_children (offsets), ==, 3);
  assert_offset (offsets, 0, 12);
  assert_offset (offsets, 2, 5);
  assert_offset (offsets, 11, G_GINT64_CONSTANT (1) << 40);
  g_clear_pointer (&offsets, g_variant_unref);

  /* A later batch overrides a partition and keeps the others. */
  pb_store_batch_set_offset (second, 2, 6);
  pb_store_batch_set_offset (second, 3, 0);
  apply_or_die (fixture->store, second);
  apply_or_die (fixture->store, empty);

  offsets = get_offsets_or_die (fixture->store);
  g_assert_cmpuint (g_variant_n_children (offsets), ==, 4);
  assert_offset (offsets, 0, 12);
  assert_offset (offsets, 2, 6);
  assert_offset (offsets, 3, 0);
  assert_offset (offsets, 11, G_GINT64_CONSTANT (1) << 40);
  assert_value (fixture->store, "k", g_variant_new_string ("v"));
}

typedef struct
{
  GHashTable *seen;
  guint stop_after;
} ForeachData;

static gboolean
foreach_cb (const char *key,
            GVariant   *value,
            gpointer    user_data)
{
  ForeachData *data = user_data;

  g_assert_nonnull (key);
  g_assert_nonnull (value);
  g_assert_false (g_hash_table_contains (data->seen, key));
  g_hash_table_insert (data->seen, g_strdup (key), g_variant_ref (value));

  return data->stop_after == 0 || g_hash_table_size (data->seen) < data->stop_after;
}

static void
test_foreach (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(PbStoreBatch) batch = pb_store_batch_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                      (GDestroyNotify)g_variant_unref);
  g_autoptr(GError) error = NULL;
  ForeachData fd = { seen, 0 };
  const guint n = 500;

  /* Empty. */
  g_assert_true (pb_store_foreach (fixture->store, foreach_cb, &fd, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 0);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("key-%u", i);

      pb_store_batch_put (batch, key, g_variant_new ("(us)", i, key));
    }
  pb_store_batch_put (batch, "key-7", NULL);
  apply_or_die (fixture->store, batch);

  g_assert_true (pb_store_foreach (fixture->store, foreach_cb, &fd, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (seen), ==, n - 1);
  g_assert_false (g_hash_table_contains (seen, "key-7"));

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("key-%u", i);
      GVariant *value = g_hash_table_lookup (seen, key);
      g_autoptr(GVariant) expected = NULL;

      if (i == 7)
        continue;

      expected = g_variant_ref_sink (g_variant_new ("(us)", i, key));
      g_assert_nonnull (value);
      g_assert_true (g_variant_equal (value, expected));
    }

  /* Stopping early. */
  g_hash_table_remove_all (seen);
  fd.stop_after = 10;
  g_assert_true (pb_store_foreach (fixture->store, foreach_cb, &fd, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 10);
}

static void
test_wipe (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(PbStoreBatch) batch = pb_store_batch_new ();
  g_autoptr(PbStoreBatch) after = pb_store_batch_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                      (GDestroyNotify)g_variant_unref);
  g_autoptr(GVariant) offsets = NULL;
  g_autoptr(GError) error = NULL;
  ForeachData fd = { seen, 0 };

  pb_store_batch_put (batch, "", g_variant_new_string ("empty key"));
  pb_store_batch_put (batch, "a", g_variant_new_string ("1"));
  pb_store_batch_put (batch, "zzz", g_variant_new_string ("2"));
  pb_store_batch_put (batch, "\xc3\xbf\xc3\xbf", g_variant_new_string ("high bytes"));
  pb_store_batch_set_offset (batch, 0, 3);
  pb_store_batch_set_offset (batch, 1, 4);
  apply_or_die (fixture->store, batch);

  g_assert_true (pb_store_wipe (fixture->store, &error));
  g_assert_no_error (error);

  assert_value (fixture->store, "", NULL);
  assert_value (fixture->store, "a", NULL);
  assert_value (fixture->store, "zzz", NULL);
  assert_value (fixture->store, "\xc3\xbf\xc3\xbf", NULL);
  g_assert_true (pb_store_foreach (fixture->store, foreach_cb, &fd, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 0);
  offsets = get_offsets_or_die (fixture->store);
  g_assert_cmpuint (g_variant_n_children (offsets), ==, 0);
  g_clear_pointer (&offsets, g_variant_unref);

  /* Wiping an empty store is fine, and the store is usable afterwards. */
  g_assert_true (pb_store_wipe (fixture->store, &error));
  g_assert_no_error (error);

  pb_store_batch_put (after, "a", g_variant_new_string ("new"));
  pb_store_batch_set_offset (after, 1, 9);
  apply_or_die (fixture->store, after);
  assert_value (fixture->store, "a", g_variant_new_string ("new"));
  offsets = get_offsets_or_die (fixture->store);
  g_assert_cmpuint (g_variant_n_children (offsets), ==, 1);
  assert_offset (offsets, 1, 9);
}

static void
test_batch (void)
{
  PbStoreBatch *batch = pb_store_batch_new ();
  g_autoptr(GVariant) value = g_variant_ref_sink (g_variant_new_string ("v"));
  GVariant *got = NULL;
  char key[] = "mutable";

  g_assert_true (G_TYPE_IS_BOXED (PB_TYPE_STORE_BATCH));
  g_assert_cmpuint (pb_store_batch_get_n_changes (batch), ==, 0);
  g_assert_cmpuint (pb_store_batch_get_n_offsets (batch), ==, 0);

  /* The batch copies the key and refs the value. */
  pb_store_batch_put (batch, key, value);
  key[0] = 'X';
  g_assert_cmpstr (pb_store_batch_get_change (batch, 0, &got), ==, "mutable");
  g_assert_true (got == value);

  g_assert_true (pb_store_batch_ref (batch) == batch);
  pb_store_batch_unref (batch);
  g_assert_cmpuint (pb_store_batch_get_n_changes (batch), ==, 1);
  pb_store_batch_unref (batch);

  /* The value outlives the batch. */
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "v");
}

/* RocksDB only */

static void
test_rocksdb_reopen (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(PbStoreBatch) batch = pb_store_batch_new ();
  g_autoptr(PbStore) again = NULL;
  g_autoptr(GVariant) offsets = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpstr (pb_rocksdb_store_get_path (PB_ROCKSDB_STORE (fixture->store)), ==,
                   fixture->path);
  g_assert_false (pb_rocksdb_store_get_read_only (PB_ROCKSDB_STORE (fixture->store)));

  pb_store_batch_put (batch, "dict", make_dict ());
  pb_store_batch_put (batch, "bytes", make_bytes ());
  pb_store_batch_set_offset (batch, 0, 100);
  pb_store_batch_set_offset (batch, 5, 7);
  apply_or_die (fixture->store, batch);

  /* The same store, closed and opened again. */
  pb_store_close (fixture->store);
  pb_store_close (fixture->store);
  g_assert_null (pb_store_lookup (fixture->store, "dict", &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  g_assert_true (pb_store_open (fixture->store, &error));
  g_assert_no_error (error);
  assert_value (fixture->store, "dict", make_dict ());
  assert_value (fixture->store, "bytes", make_bytes ());
  offsets = get_offsets_or_die (fixture->store);
  g_assert_cmpuint (g_variant_n_children (offsets), ==, 2);
  assert_offset (offsets, 0, 100);
  assert_offset (offsets, 5, 7);
  g_clear_pointer (&offsets, g_variant_unref);

  /* A new store on the same path. */
  pb_store_close (fixture->store);
  again = pb_rocksdb_store_new (fixture->path);
  g_assert_true (pb_store_open (again, &error));
  g_assert_no_error (error);
  assert_value (again, "dict", make_dict ());
  offsets = get_offsets_or_die (again);
  assert_offset (offsets, 5, 7);

  /* Finalizing an open store closes it. */
  g_clear_object (&again);
  g_assert_true (pb_store_open (fixture->store, &error));
  g_assert_no_error (error);
  assert_value (fixture->store, "bytes", make_bytes ());
}

static void
test_rocksdb_locked (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(PbStore) second = pb_rocksdb_store_new (fixture->path);
  g_autoptr(GError) error = NULL;

  g_assert_false (pb_store_open (second, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_test_message ("Locked: %s", error->message);
  g_assert_nonnull (strstr (error->message, fixture->path));
  g_assert_nonnull (strstr (error->message, "in use"));
  g_clear_error (&error);

  /* The failed store is not half open. */
  g_assert_null (pb_store_lookup (second, "k", &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  /* Once the first closes, the second can open. */
  pb_store_close (fixture->store);
  g_assert_true (pb_store_open (second, &error));
  g_assert_no_error (error);
  pb_store_close (second);
}

static void
test_rocksdb_bad_path (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("pb-test-store-XXXXXX", &error);
  g_autofree char *file = g_build_filename (dir, "file", NULL);
  g_autofree char *under_file = g_build_filename (file, "db", NULL);
  g_autoptr(PbStore) store = NULL;
  g_autoptr(PbStore) no_path = NULL;

  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (file, "not a database", -1, &error));
  g_assert_no_error (error);

  store = pb_rocksdb_store_new (file);
  g_assert_false (pb_store_open (store, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_test_message ("A file: %s", error->message);
  g_clear_error (&error);
  g_clear_object (&store);

  store = pb_rocksdb_store_new (under_file);
  g_assert_false (pb_store_open (store, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);
  g_clear_object (&store);

  /* Read-only: nothing is created. */
  store = g_object_new (PB_TYPE_ROCKSDB_STORE, "path", under_file, "read-only", TRUE, NULL);
  g_assert_false (pb_store_open (store, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);
  g_clear_object (&store);

  /* A directory without permission (unless we are root). */
  if (geteuid () != 0)
    {
      g_autofree char *closed = g_build_filename (dir, "closed", NULL);
      g_autofree char *inside = g_build_filename (closed, "db", NULL);

      g_assert_cmpint (g_mkdir (closed, 0500), ==, 0);
      store = pb_rocksdb_store_new (inside);
      g_assert_false (pb_store_open (store, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
      g_test_message ("No permission: %s", error->message);
      g_clear_error (&error);
      g_clear_object (&store);
      g_assert_cmpint (g_chmod (closed, 0700), ==, 0);
    }

  /* No path at all. */
  no_path = g_object_new (PB_TYPE_ROCKSDB_STORE, NULL);
  g_assert_false (pb_store_open (no_path, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  pb_test_remove_tree (dir);
}

static void
test_rocksdb_read_only (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(PbStoreBatch) batch = pb_store_batch_new ();
  g_autoptr(PbStoreBatch) refused = pb_store_batch_new ();
  g_autoptr(PbStore) reader = NULL;
  g_autoptr(GVariant) offsets = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                      (GDestroyNotify)g_variant_unref);
  g_autoptr(GError) error = NULL;
  ForeachData fd = { seen, 0 };
  gboolean read_only = FALSE;

  pb_store_batch_put (batch, "a", g_variant_new_string ("1"));
  pb_store_batch_put (batch, "b", make_dict ());
  pb_store_batch_set_offset (batch, 3, 33);
  apply_or_die (fixture->store, batch);

  reader = pb_rocksdb_store_new (fixture->path);
  pb_rocksdb_store_set_read_only (PB_ROCKSDB_STORE (reader), TRUE);
  g_object_get (reader, "read-only", &read_only, NULL);
  g_assert_true (read_only);

  /* The first store still holds the database. */
  g_assert_true (pb_store_open (reader, &error));
  g_assert_no_error (error);

  assert_value (reader, "a", g_variant_new_string ("1"));
  assert_value (reader, "b", make_dict ());
  assert_value (reader, "c", NULL);
  offsets = get_offsets_or_die (reader);
  g_assert_cmpuint (g_variant_n_children (offsets), ==, 1);
  assert_offset (offsets, 3, 33);
  g_assert_true (pb_store_foreach (reader, foreach_cb, &fd, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 2);

  pb_store_batch_put (refused, "c", g_variant_new_string ("3"));
  g_assert_false (pb_store_apply (reader, refused, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);
  g_assert_false (pb_store_wipe (reader, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  pb_store_close (reader);

  /* Nothing changed; the writer still works. */
  assert_value (fixture->store, "c", NULL);
  assert_value (fixture->store, "a", g_variant_new_string ("1"));
  apply_or_die (fixture->store, refused);
  assert_value (fixture->store, "c", g_variant_new_string ("3"));
}

/* Writes a value or an offset behind the store's back, into the database
 * at @path, which it creates as the first versions did (without the
 * column family of the sources) if there is none. */
static void
write_raw (const char *path,
           gboolean    offsets_cf,
           const char *key,
           const char *value,
           gsize       size)
{
  const char *names[] = { "default", "offsets", "sources" };
  rocksdb_options_t *options = rocksdb_options_create ();
  const rocksdb_options_t *cf_options[] = { options, options, options };
  rocksdb_column_family_handle_t *handles[3] = { NULL, NULL, NULL };
  rocksdb_writeoptions_t *write_options = rocksdb_writeoptions_create ();
  char **existing;
  size_t n_cfs = 0;
  rocksdb_t *db;
  char *err = NULL;

  existing = rocksdb_list_column_families (options, path, &n_cfs, &err);
  if (existing != NULL)
    rocksdb_list_column_families_destroy (existing, n_cfs);
  g_clear_pointer (&err, rocksdb_free);
  n_cfs = MAX (n_cfs, 2);

  rocksdb_options_set_create_if_missing (options, 1);
  rocksdb_options_set_create_missing_column_families (options, 1);
  db = rocksdb_open_column_families (options, path, n_cfs, names, cf_options, handles, &err);
  g_assert_null (err);
  g_assert_nonnull (db);

  rocksdb_put_cf (db, write_options, handles[offsets_cf ? 1 : 0],
                  key, strlen (key), value, size, &err);
  g_assert_null (err);

  for (size_t i = 0; i < n_cfs; i++)
    rocksdb_column_family_handle_destroy (handles[i]);
  rocksdb_close (db);
  rocksdb_writeoptions_destroy (write_options);
  rocksdb_options_destroy (options);
}

static void
test_rocksdb_older (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "older", NULL);
  g_autoptr(PbStore) store = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A database of the first versions, without the column family of the "
                  "sources, opens read-only as it is, and for writing");

  write_raw (path, FALSE, "k", "s\0v\0", 4);

  store = pb_rocksdb_store_new (path);
  pb_rocksdb_store_set_read_only (PB_ROCKSDB_STORE (store), TRUE);
  g_assert_true (pb_store_open (store, &error));
  g_assert_no_error (error);
  assert_value (store, "k", g_variant_new_string ("v"));
  pb_store_close (store);
  g_clear_object (&store);

  store = pb_rocksdb_store_new (path);
  g_assert_true (pb_store_open (store, &error));
  g_assert_no_error (error);
  assert_value (store, "k", g_variant_new_string ("v"));
  pb_store_close (store);
}

static void
test_rocksdb_corrupt (Fixture       *fixture,
                      gconstpointer  data)
{
  static const struct {
    const char *key;
    const char *value;
    gsize size;
  } garbage[] = {
    { "no-nul", "garbage", 7 },
    { "empty", "", 0 },
    { "bad-type", "(((\0abc", 7 },
    { "indefinite", "*\0abc", 5 },
    { "two-types", "ss\0a\0", 5 },
    { "short-x", "x\0abc", 5 },
    { "string-no-nul", "s\0abc", 5 },
    { "bad-utf8", "s\0\xff\xfe\0", 5 },
    { "bad-array", "as\0\x01\x02\x03\x04\x05\xff", 9 },
  };
  g_autoptr(PbStoreBatch) batch = pb_store_batch_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                      (GDestroyNotify)g_variant_unref);
  g_autoptr(GError) error = NULL;
  ForeachData fd = { seen, 0 };

  pb_store_batch_put (batch, "good", g_variant_new_string ("fine"));
  apply_or_die (fixture->store, batch);
  pb_store_close (fixture->store);

  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
    write_raw (fixture->path, FALSE, garbage[i].key, garbage[i].value, garbage[i].size);

  g_assert_true (pb_store_open (fixture->store, &error));
  g_assert_no_error (error);

  assert_value (fixture->store, "good", g_variant_new_string ("fine"));

  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_autoptr(GVariant) value = pb_store_lookup (fixture->store, garbage[i].key, &error);

      g_test_message ("%s: %s", garbage[i].key, error != NULL ? error->message : "(no error)");
      g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
      g_assert_null (value);
      g_clear_error (&error);
    }

  /* foreach stops at the first corrupt value with an error. */
  g_assert_false (pb_store_foreach (fixture->store, foreach_cb, &fd, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  /* A corrupt offset. */
  pb_store_close (fixture->store);
  write_raw (fixture->path, TRUE, "0", "1234", 4);
  g_assert_true (pb_store_open (fixture->store, &error));
  g_assert_no_error (error);
  g_assert_null (pb_store_get_offsets (fixture->store, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  pb_store_close (fixture->store);
  write_raw (fixture->path, TRUE, "0", "12345678", 8);
  write_raw (fixture->path, TRUE, "not-a-number", "12345678", 8);
  g_assert_true (pb_store_open (fixture->store, &error));
  g_assert_no_error (error);
  g_assert_null (pb_store_get_offsets (fixture->store, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  /* wipe() gets rid of it all. */
  g_assert_true (pb_store_wipe (fixture->store, &error));
  g_assert_no_error (error);
  {
    g_autoptr(GVariant) offsets = get_offsets_or_die (fixture->store);

    g_assert_cmpuint (g_variant_n_children (offsets), ==, 0);
  }
  g_hash_table_remove_all (seen);
  g_assert_true (pb_store_foreach (fixture->store, foreach_cb, &fd, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 0);
}

/* A store of another kind, which implements only what it must. */

struct _TestPartialStore
{
  GObject parent_instance;
};

#define TEST_TYPE_PARTIAL_STORE (test_partial_store_get_type ())
G_DECLARE_FINAL_TYPE (TestPartialStore, test_partial_store, TEST, PARTIAL_STORE, GObject)

static GVariant *
test_partial_store_get_offsets (PbStore  *store,
                                GError  **error)
{
  /* Floating, and of the wrong type. */
  return g_variant_new_string ("oops");
}

static gboolean
test_partial_store_apply (PbStore       *store,
                          PbStoreBatch  *batch,
                          GError       **error)
{
  return FALSE;  /* without an error */
}

static void
test_partial_store_iface_init (PbStoreInterface *iface)
{
  iface->get_offsets = test_partial_store_get_offsets;
  iface->apply = test_partial_store_apply;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (TestPartialStore, test_partial_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (PB_TYPE_STORE,
                                                      test_partial_store_iface_init))

static void
test_partial_store_class_init (TestPartialStoreClass *klass)
{
}

static void
test_partial_store_init (TestPartialStore *self)
{
}

static void
test_interface_defaults (void)
{
  g_autoptr(PbStore) store = g_object_new (TEST_TYPE_PARTIAL_STORE, NULL);
  g_autoptr(PbStoreBatch) batch = pb_store_batch_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (pb_store_open (store, &error));
  g_assert_no_error (error);

  g_assert_null (pb_store_lookup (store, "k", &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  g_assert_false (pb_store_wipe (store, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  g_assert_false (pb_store_foreach (store, foreach_cb, NULL, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  g_assert_false (pb_store_apply (store, batch, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  g_assert_null (pb_store_get_offsets (store, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
  g_clear_error (&error);

  pb_store_close (store);
}

static void
add_store_test (const char *name,
                StoreKind   kind,
                void      (*func) (Fixture *, gconstpointer))
{
  g_autofree char *path = g_strdup_printf ("/Store/%s/%s",
                                           kind == STORE_MEMORY ? "memory" : "rocksdb",
                                           name);

  g_test_add (path, Fixture, GINT_TO_POINTER (kind),
              fixture_set_up, func, fixture_tear_down);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/Store/batch", test_batch);
  g_test_add_func ("/Store/interface-defaults", test_interface_defaults);

  for (StoreKind kind = STORE_MEMORY; kind <= STORE_ROCKSDB; kind++)
    {
      add_store_test ("apply", kind, test_apply_types);
      add_store_test ("put-delete", kind, test_put_delete);
      add_store_test ("offsets", kind, test_offsets);
      add_store_test ("foreach", kind, test_foreach);
      add_store_test ("wipe", kind, test_wipe);
    }

  add_store_test ("reopen", STORE_ROCKSDB, test_rocksdb_reopen);
  add_store_test ("locked", STORE_ROCKSDB, test_rocksdb_locked);
  add_store_test ("read-only", STORE_ROCKSDB, test_rocksdb_read_only);
  add_store_test ("corrupt", STORE_ROCKSDB, test_rocksdb_corrupt);
  add_store_test ("older", STORE_ROCKSDB, test_rocksdb_older);
  g_test_add_func ("/Store/rocksdb/bad-path", test_rocksdb_bad_path);

  return g_test_run ();
}
