/* test-table.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <math.h>
#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "pb-test-util.h"
#include "pb-table-private.h"

/* Tables: writes through the changelog, restores, the commit barrier,
 * crashes, and bad input. */

#define TEST_TYPE_WRITER (test_writer_get_type ())
G_DECLARE_FINAL_TYPE (TestWriter, test_writer, TEST, WRITER, PbHandler)

/* Sets the record's key to the GVariant its value holds as text; a
 * tombstone deletes the key. With `produce_to`, also forwards the record
 * there with pb_engine_produce(). */
struct _TestWriter
{
  PbHandler  parent_instance;
  PbTable   *table;
  PbEngine  *engine;
  char      *produce_to;
  guint      n_handled;
  guint      n_errors;
  guint      delay_ms;
};

G_DEFINE_FINAL_TYPE (TestWriter, test_writer, PB_TYPE_HANDLER)

static gboolean
test_writer_on_message (PbHandler  *handler,
                        PbMessage  *message,
                        GObject    *context,
                        GError    **error)
{
  TestWriter *self = TEST_WRITER (handler);
  GBytes *key_bytes = pb_message_get_key (message);
  GBytes *value_bytes = pb_message_get_value (message);
  g_autofree char *key = pb_test_bytes_to_string (key_bytes);
  g_autofree char *text = pb_test_bytes_to_string (value_bytes);
  gboolean ok;

  if (self->delay_ms > 0)
    g_usleep (self->delay_ms * 1000);

  if (text == NULL)
    ok = pb_table_delete (self->table, key, error);
  else
    {
      GVariant *value = g_variant_parse (NULL, text, NULL, NULL, error);

      ok = value != NULL && pb_table_set (self->table, key, value, error);
    }

  if (ok && self->produce_to != NULL)
    {
      g_autoptr(GVariant) headers = g_variant_ref_sink (g_variant_new_parsed ("[('from', @may just b'table')]"));

      ok = pb_engine_produce (self->engine, self->produce_to, -1, key_bytes, value_bytes,
                              headers, error);
    }

  self->n_handled++;

  return ok;
}

static PbErrorAction
test_writer_on_error (PbHandler    *handler,
                      const GError *error,
                      PbMessage    *message,
                      GObject      *context)
{
  TEST_WRITER (handler)->n_errors++;

  return PB_ERROR_ACTION_CONTINUE;
}

static void
test_writer_finalize (GObject *object)
{
  TestWriter *self = TEST_WRITER (object);

  g_clear_object (&self->table);
  g_free (self->produce_to);

  G_OBJECT_CLASS (test_writer_parent_class)->finalize (object);
}

static void
test_writer_class_init (TestWriterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_writer_finalize;
  PB_HANDLER_CLASS (klass)->on_message = test_writer_on_message;
  PB_HANDLER_CLASS (klass)->on_tombstone = test_writer_on_message;
  PB_HANDLER_CLASS (klass)->on_error = test_writer_on_error;
}

static void
test_writer_init (TestWriter *self)
{
}

/* A test's world: a source topic, a table, an engine. */
typedef struct
{
  char       *topic;
  char       *group;
  char       *table_name;
  char       *dir;          /* for rocksdb:// */
  PbEngine   *engine;
  PbTable    *table;
  TestWriter *writer;
} Fixture;

static void
remove_dir (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    {
      g_remove (path);
      return;
    }

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      remove_dir (child);
    }
  g_rmdir (path);
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  user_data)
{
  f->topic = pb_test_unique ("table-source");
  f->group = pb_test_unique ("table-group");
  f->table_name = pb_test_unique ("table");
  f->dir = g_dir_make_tmp ("paperboy-table-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  pb_test_create_topic (f->topic, 1);
}

static void
fixture_drop (Fixture *f)
{
  g_clear_object (&f->writer);
  g_clear_object (&f->engine);
  g_clear_object (&f->table);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  user_data)
{
  fixture_drop (f);
  remove_dir (f->dir);
  g_free (f->dir);
  g_free (f->topic);
  g_free (f->group);
  g_free (f->table_name);
}

/* A new engine, table and writer, as a new process would have them. */
static void
fixture_open (Fixture    *f,
              const char *uri)
{
  g_autoptr(GError) error = NULL;

  fixture_drop (f);
  f->engine = pb_test_engine_new (f->group);
  pb_engine_set_state_dir (f->engine, f->dir);
  f->table = pb_table_new (f->table_name, uri);
  pb_engine_register_table (f->engine, f->table, &error);
  g_assert_no_error (error);

  f->writer = g_object_new (TEST_TYPE_WRITER, "topic", f->topic, NULL);
  f->writer->table = g_object_ref (f->table);
  f->writer->engine = f->engine;
  pb_engine_add_handler (f->engine, PB_HANDLER (f->writer), &error);
  g_assert_no_error (error);
}

typedef struct
{
  Fixture *f;
  guint    n;
} Until;

static gboolean
handled_and_committed (gpointer user_data)
{
  Until *until = user_data;

  return until->f->writer->n_handled >= until->n &&
         pb_test_committed (until->f->group, until->f->topic, 0) >= (gint64)until->n;
}

static gboolean
is_running (gpointer user_data)
{
  Fixture *f = user_data;

  return pb_engine_get_state (f->engine) == PB_ENGINE_STATE_RUNNING;
}

/* Runs the engine until it restored its table and joined its group. */
static void
fixture_restart (Fixture *f)
{
  g_autoptr(GError) error = NULL;

  pb_test_run_until (f->engine, is_running, f, 60000, &error);
  g_assert_no_error (error);
}

/* Runs the engine until it handled and committed @n records in all. */
static void
fixture_run (Fixture *f,
             guint    n)
{
  g_autoptr(GError) error = NULL;
  Until until = { f, n };

  pb_test_run_until (f->engine, handled_and_committed, &until, 60000, &error);
  g_assert_no_error (error);
}

static void
produce (Fixture    *f,
         const char *key,
         const char *value)
{
  pb_test_produce (f->topic, 0, key, value);
}

static void
assert_value (PbTable    *table,
              const char *key,
              const char *expected)
{
  g_autoptr(GVariant) value = pb_table_get (table, key);

  if (expected == NULL)
    {
      g_assert_null (value);
      return;
    }

  {
    g_autoptr(GVariant) want = g_variant_parse (NULL, expected, NULL, NULL, NULL);
    g_autofree char *got = value != NULL ? g_variant_print (value, TRUE) : g_strdup ("NULL");

    g_assert_nonnull (want);
    if (value == NULL || !g_variant_equal (value, want))
      g_error ("%s: expected %s, got %s", key, expected, got);
  }
}

/* The changelog, read by a consumer of the test's own. */

typedef struct
{
  int       partition;
  gint64    offset;
  char     *key;
  char     *json;         /* NULL for a tombstone */
  char     *type;         /* the paperboy.type header */
} Record;

static void
record_free (Record *record)
{
  g_free (record->key);
  g_free (record->json);
  g_free (record->type);
  g_free (record);
}

static GPtrArray *
read_topic (const char *topic)
{
  GPtrArray *records = g_ptr_array_new_with_free_func ((GDestroyNotify) record_free);
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  const struct rd_kafka_metadata *metadata = NULL;
  rd_kafka_topic_partition_list_t *list;
  rd_kafka_topic_t *rkt;
  char errstr[256];
  rd_kafka_t *rk;
  int n_partitions, remaining;

  rd_kafka_conf_set (conf, "bootstrap.servers", pb_test_bootstrap (), NULL, 0);
  rd_kafka_conf_set (conf, "group.id", "table-reader", NULL, 0);
  rd_kafka_conf_set (conf, "enable.partition.eof", "true", NULL, 0);
  rd_kafka_conf_set (conf, "enable.auto.commit", "false", NULL, 0);
  rd_kafka_conf_set (conf, "fetch.wait.max.ms", "10", NULL, 0);
  rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  g_assert_nonnull (rk);
  rd_kafka_poll_set_consumer (rk);

  rkt = rd_kafka_topic_new (rk, topic, NULL);
  g_assert_cmpint (rd_kafka_metadata (rk, 0, rkt, &metadata, 10000), ==, 0);
  n_partitions = metadata->topics[0].partition_cnt;
  rd_kafka_metadata_destroy (metadata);
  rd_kafka_topic_destroy (rkt);

  list = rd_kafka_topic_partition_list_new (n_partitions);
  for (int i = 0; i < n_partitions; i++)
    rd_kafka_topic_partition_list_add (list, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
  g_assert_cmpint (rd_kafka_assign (rk, list), ==, 0);
  rd_kafka_topic_partition_list_destroy (list);

  for (remaining = n_partitions; remaining > 0;)
    {
      rd_kafka_message_t *rkm = rd_kafka_consumer_poll (rk, 1000);

      if (rkm == NULL)
        continue;

      if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        remaining--;
      else if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        {
          Record *record = g_new0 (Record, 1);
          rd_kafka_headers_t *headers = NULL;
          const void *type;
          size_t size;

          record->partition = rkm->partition;
          record->offset = rkm->offset;
          record->key = g_strndup (rkm->key, rkm->key_len);
          if (rkm->payload != NULL)
            record->json = g_strndup (rkm->payload, rkm->len);
          if (rd_kafka_message_headers (rkm, &headers) == 0 &&
              rd_kafka_header_get_last (headers, "paperboy.type", &type, &size) == 0)
            record->type = g_strndup (type, size);
          g_ptr_array_add (records, record);
        }
      rd_kafka_message_destroy (rkm);
    }

  rd_kafka_consumer_close (rk);
  rd_kafka_destroy (rk);

  return records;
}

/* The offset @partition has in @offsets, an a{ix}, or 0. */
static gint64
offset_of (GVariant *offsets,
           int       partition)
{
  GVariantIter iter;
  gint64 offset;
  int p;

  g_variant_iter_init (&iter, offsets);
  while (g_variant_iter_next (&iter, "{ix}", &p, &offset))
    if (p == partition)
      return offset;

  return 0;
}

/* The fold of the changelog: key → value, up to @ends (partition → end,
 * nullable for all). */
static GHashTable *
fold (GPtrArray  *records,
      GVariant   *ends)
{
  GHashTable *table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) g_variant_unref);

  for (guint i = 0; i < records->len; i++)
    {
      Record *record = g_ptr_array_index (records, i);
      gint64 end = G_MAXINT64;

      if (ends != NULL)
        end = offset_of (ends, record->partition);
      if (record->offset >= end)
        continue;

      if (record->json == NULL)
        g_hash_table_remove (table, record->key);
      else
        {
          GVariant *value = json_gvariant_deserialize_data (record->json, -1, record->type, NULL);

          g_assert_nonnull (value);
          g_hash_table_replace (table, g_strdup (record->key), g_variant_ref_sink (value));
        }
    }

  return table;
}

static gboolean
count_cb (const char *key,
          GVariant   *value,
          gpointer    user_data)
{
  (*(guint *)user_data)++;
  return TRUE;
}

static guint
table_size (PbTable *table)
{
  g_autoptr(GError) error = NULL;
  guint n = 0;

  pb_table_foreach (table, count_cb, &n, &error);
  g_assert_no_error (error);

  return n;
}

/* The table holds exactly what @expected holds. */
static void
assert_table_equals (PbTable    *table,
                     GHashTable *expected)
{
  GHashTableIter iter;
  gpointer key, value;

  g_assert_cmpuint (table_size (table), ==, g_hash_table_size (expected));

  g_hash_table_iter_init (&iter, expected);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_autoptr(GVariant) got = pb_table_get (table, key);

      g_assert_nonnull (got);
      g_assert_true (g_variant_equal (got, value));
    }
}

/* Tests */

typedef struct
{
  GPtrArray *events;
} Changes;

static void
changed_cb (PbTable    *table,
            const char *key,
            GVariant   *old_value,
            GVariant   *new_value,
            gpointer    user_data)
{
  GPtrArray *events = user_data;
  g_autofree char *old_text = old_value != NULL ? g_variant_print (old_value, FALSE) : g_strdup ("-");
  g_autofree char *new_text = new_value != NULL ? g_variant_print (new_value, FALSE) : g_strdup ("-");

  g_ptr_array_add (events, g_strdup_printf ("%s %s→%s", key, old_text, new_text));
}

static void
test_set_get_delete (Fixture       *f,
                     gconstpointer  user_data)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) one = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) records = NULL;
  const char * const all_expected[] = { "a -→1", "b -→'x'", "a 1→2", "a 2→-", NULL };
  const char * const one_expected[] = { "b -→'x'", NULL };

  g_test_summary ("Set, get and delete through a handler: the changed signal, with and "
                  "without a detail, and the changelog: JSON values, type headers, "
                  "a tombstone");

  fixture_open (f, user_data);
  g_signal_connect (f->table, "changed", G_CALLBACK (changed_cb), all);
  g_signal_connect (f->table, "changed::b", G_CALLBACK (changed_cb), one);

  produce (f, "a", "1");
  produce (f, "b", "'x'");
  produce (f, "a", "2");
  produce (f, "a", NULL);
  produce (f, "c", NULL);   /* deletes nothing: no signal */
  fixture_run (f, 5);

  g_assert_cmpuint (f->writer->n_errors, ==, 0);
  assert_value (f->table, "a", NULL);
  assert_value (f->table, "b", "'x'");
  assert_value (f->table, "c", NULL);
  g_ptr_array_add (all, NULL);
  g_ptr_array_add (one, NULL);
  for (guint i = 0; all->pdata[i] != NULL; i++)
    g_test_message ("changed: %s", (char *)all->pdata[i]);
  g_assert_cmpstrv ((char **)all->pdata, all_expected);
  g_assert_cmpstrv ((char **)one->pdata, one_expected);

  records = read_topic (pb_table_get_changelog_topic_name (f->table));
  g_assert_cmpuint (records->len, ==, 5);
  g_assert_cmpstr (((Record *)records->pdata[0])->key, ==, "a");
  g_assert_cmpstr (((Record *)records->pdata[0])->json, ==, "1");
  g_assert_cmpstr (((Record *)records->pdata[0])->type, ==, "i");
  g_assert_cmpstr (((Record *)records->pdata[1])->json, ==, "\"x\"");
  g_assert_cmpstr (((Record *)records->pdata[1])->type, ==, "s");
  g_assert_null (((Record *)records->pdata[3])->json);
  g_assert_null (((Record *)records->pdata[4])->json);
}

static const struct
{
  const char *value;
  const char *stored;   /* the normalized value, when it differs */
} round_trips[] = {
  { "'text with \"quotes\" and ünïcödé'", NULL },
  { "int64 9223372036854775807", NULL },
  { "int64 -9223372036854775808", NULL },
  { "uint64 18446744073709551615", NULL },
  { "0.1", NULL },
  { "1e300", NULL },
  { "-0.0", NULL },
  { "true", NULL },
  { "byte 0xff", NULL },
  { "[1, 2, 3]", NULL },
  { "@as []", NULL },
  { "{'x': 1, 'y': 2}", NULL },
  { "(1, 'two', [3.5])", NULL },
  { "@mi nothing", NULL },
  { "@mi 5", NULL },
  { "{'nested': {'deeper': [(1, 'a'), (2, 'b')]}}", NULL },
  { "{'n': <int32 1>, 'd': <2.5>, 's': <'x'>, 'l': <[1, 2]>, 'o': <{'k': <true>}>}",
    "{'n': <int64 1>, 'd': <2.5>, 's': <'x'>, 'l': <[<int64 1>, <int64 2>]>, 'o': <{'k': <true>}>}" },
  { "<int32 7>", "<int64 7>" },
};

static void
test_types (Fixture       *f,
            gconstpointer  user_data)
{
  g_test_summary ("Values of every kind round-trip through the changelog; a{sv} values "
                  "are normalized before the local write, so the live and the restored "
                  "table agree");

  fixture_open (f, user_data);
  for (guint i = 0; i < G_N_ELEMENTS (round_trips); i++)
    {
      g_autofree char *key = g_strdup_printf ("k%u", i);

      produce (f, key, round_trips[i].value);
    }
  fixture_run (f, G_N_ELEMENTS (round_trips));
  g_assert_cmpuint (f->writer->n_errors, ==, 0);

  for (int pass = 0; pass < 2; pass++)
    {
      for (guint i = 0; i < G_N_ELEMENTS (round_trips); i++)
        {
          g_autofree char *key = g_strdup_printf ("k%u", i);

          assert_value (f->table, key, round_trips[i].stored != NULL ? round_trips[i].stored
                                                                     : round_trips[i].value);
        }

      /* Again, from the changelog alone. */
      fixture_open (f, "memory://");
      fixture_restart (f);
      g_assert_cmpuint (pb_table_get_restored_records (f->table), ==, G_N_ELEMENTS (round_trips));
    }
}

static void
test_refused (Fixture       *f,
              gconstpointer  user_data)
{
  g_autoptr(PbTable) table = pb_table_new ("refused", "memory://");
  g_autoptr(GError) error = NULL;

  g_test_summary ("Non-finite doubles and invalid keys are refused with a GError; a table "
                  "whose engine does not run cannot be written");

  g_assert_false (pb_table_set (table, "k", g_variant_new_double (NAN), &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (pb_table_set (table, "k", g_variant_new_parsed ("[1.0, %d]", INFINITY), &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (pb_table_set (table, "\xff", g_variant_new_int32 (1), &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (pb_table_set (table, "k", g_variant_new_int32 (1), &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (pb_table_delete (table, "k", &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_FAILED);
  g_assert_null (pb_table_get (table, "k"));
}

static void
test_restart_memory (Fixture       *f,
                     gconstpointer  user_data)
{
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GHashTable) expected = NULL;

  g_test_summary ("A memory:// table is whole again after a restart: every record of its "
                  "changelog is replayed, tombstones delete");

  fixture_open (f, "memory://");
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *key = g_strdup_printf ("k%u", i % 50);
      g_autofree char *value = g_strdup_printf ("%u", i);

      produce (f, key, i % 7 == 6 ? NULL : value);
    }
  fixture_run (f, 200);

  records = read_topic (pb_table_get_changelog_topic_name (f->table));
  expected = fold (records, NULL);
  assert_table_equals (f->table, expected);

  fixture_open (f, "memory://");
  fixture_restart (f);
  g_assert_cmpuint (pb_table_get_restored_records (f->table), ==, 200);
  assert_table_equals (f->table, expected);
}

static void
test_restart_rocksdb (Fixture       *f,
                      gconstpointer  user_data)
{
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GHashTable) expected = NULL;
  rd_kafka_headers_t *headers;
  g_autofree char *changelog = NULL;

  g_test_summary ("A rocksdb:// table restarts from the offsets it stored: it reads only "
                  "the changelog records after them, and equals the fold of the changelog");

  fixture_open (f, "rocksdb://");
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *key = g_strdup_printf ("k%u", i % 30);
      g_autofree char *value = g_strdup_printf ("%u", i);

      produce (f, key, value);
    }
  fixture_run (f, 100);
  g_assert_cmpuint (pb_table_get_restored_records (f->table), ==, 0);
  changelog = g_strdup (pb_table_get_changelog_topic_name (f->table));

  /* The database is where the state directory says. */
  {
    g_autofree char *path = g_build_filename (f->dir, f->table_name, "CURRENT", NULL);

    g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  }

  /* Three records come to the changelog from elsewhere while it is down. */
  fixture_drop (f);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *key = g_strdup_printf ("extra%u", i);

      headers = rd_kafka_headers_new (2);
      rd_kafka_header_add (headers, "paperboy.type", -1, "s", -1);
      rd_kafka_header_add (headers, "paperboy.encoding", -1, "json/1", -1);
      pb_test_produce_full (changelog, 0, key, "\"elsewhere\"", headers);
    }

  fixture_open (f, "rocksdb://");
  fixture_restart (f);
  g_assert_cmpuint (pb_table_get_restored_records (f->table), ==, 3);

  records = read_topic (changelog);
  g_assert_cmpuint (records->len, ==, 103);
  expected = fold (records, NULL);
  g_assert_cmpuint (g_hash_table_size (expected), ==, 33);
  assert_table_equals (f->table, expected);
  assert_value (f->table, "extra1", "'elsewhere'");
  assert_value (f->table, "k29", "89");
}

static gboolean
is_restored (gpointer user_data)
{
  return GPOINTER_TO_UINT (g_object_get_data (user_data, "restored"));
}

static void
restored_cb (PbTable  *table,
             gpointer  user_data)
{
  g_object_set_data (G_OBJECT (table), "restored", GUINT_TO_POINTER (TRUE));
}

static void
test_recreated (Fixture       *f,
                gconstpointer  user_data)
{
  g_autoptr(PbMockCluster) cluster = NULL;
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(PbTable) table = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autofree char *path = g_build_filename (f->dir, "db", NULL);
  g_autofree char *uri = g_strconcat ("rocksdb://", path, NULL);
  g_autofree char *changelog = g_strconcat (f->table_name, "-changelog", NULL);
  g_autoptr(GBytes) key = g_bytes_new_static ("new", 3);
  g_autoptr(GBytes) value_bytes = g_bytes_new_static ("2", 1);
  TestWriter *writer;

  g_test_summary ("A changelog topic re-created (a fresh cluster) while a rocksdb:// store "
                  "holds offsets past its end: the store is wiped and restored in full");

  if (pb_test_is_external ())
    {
      g_test_skip ("needs a cluster of its own");
      return;
    }

  fixture_open (f, uri);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *old = g_strdup_printf ("old%u", i);

      produce (f, old, "1");
    }
  fixture_run (f, 20);
  g_assert_cmpuint (table_size (f->table), ==, 20);
  fixture_drop (f);

  /* The same directory, on a cluster whose changelog holds one record. */
  cluster = pb_mock_cluster_new (1, &error);
  g_assert_no_error (error);
  pb_mock_cluster_create_topic (cluster, f->topic, 1, &error);
  g_assert_no_error (error);
  pb_mock_cluster_create_topic (cluster, changelog, 1, &error);
  g_assert_no_error (error);
  pb_mock_cluster_produce (cluster, changelog, 0, key, value_bytes, NULL, &error);
  g_assert_no_error (error);

  engine = g_object_new (PB_TYPE_ENGINE, "mock-cluster", cluster, "group-id", f->group, NULL);
  pb_engine_set_config (engine, "session.timeout.ms", "6000", NULL);
  pb_engine_set_config (engine, "fetch.wait.max.ms", "10", NULL);
  table = pb_table_new (f->table_name, uri);
  g_signal_connect (table, "restored", G_CALLBACK (restored_cb), NULL);
  pb_engine_register_table (engine, table, &error);
  g_assert_no_error (error);
  writer = g_object_new (TEST_TYPE_WRITER, "topic", f->topic, NULL);
  writer->table = g_object_ref (table);
  pb_engine_add_handler (engine, PB_HANDLER (writer), &error);
  g_assert_no_error (error);
  g_object_unref (writer);

  pb_test_run_until (engine, is_restored, table, 60000, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (pb_table_get_restored_records (table), ==, 1);
  g_assert_cmpuint (table_size (table), ==, 1);
  value = pb_table_get (table, "new");
  g_assert_nonnull (value);
  g_assert_cmpint (g_variant_get_int64 (value), ==, 2);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

#define ADD(path, func, data) \
  g_test_add ("/Paperboy/Table/" path, Fixture, data, fixture_set_up, func, fixture_tear_down)

  ADD ("set-get-delete/memory", test_set_get_delete, "memory://");
  ADD ("set-get-delete/rocksdb", test_set_get_delete, "rocksdb://");
  ADD ("types/memory", test_types, "memory://");
  ADD ("types/rocksdb", test_types, "rocksdb://");
  ADD ("refused", test_refused, NULL);
  ADD ("restart/memory", test_restart_memory, NULL);
  ADD ("restart/rocksdb", test_restart_rocksdb, NULL);
  ADD ("recreated", test_recreated, NULL);

  return g_test_run ();
}
