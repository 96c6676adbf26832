/* test-table.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "pb-test-util.h"
#include "pb-mock-cluster-private.h"
#include "pb-table-private.h"

/* Tables: writes through the changelog, restores, the commit barrier,
 * crashes, and bad input. */

#define TEST_TYPE_WRITER (test_writer_get_type ())
G_DECLARE_FINAL_TYPE (TestWriter, test_writer, TEST, WRITER, PbHandler)

/* Sets the record's key to the GVariant its value holds as text; a
 * tombstone deletes the key. With `produce_to`, also forwards the record
 * there with pb_engine_produce(). With `count`, counts the records
 * "k-<i>" by i modulo 100 instead, reading each count it increments. */
struct _TestWriter
{
  PbHandler  parent_instance;
  PbTable   *table;
  PbTable   *second;    /* with `count`: counts there too, after `table` */
  PbEngine  *engine;
  char      *produce_to;
  guint      n_handled;
  guint      n_errors;
  guint      delay_ms;
  gboolean   count;
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

  if (self->count)
    {
      g_autofree char *counted = g_strdup_printf ("%u", (guint)(g_ascii_strtoull (key + 2, NULL, 10) % 100));
      g_autoptr(GVariant) count = pb_table_get (self->table, counted, error);

      ok = (count != NULL || *error == NULL) &&
           pb_table_set (self->table, counted,
                         g_variant_new_int64 (count != NULL ? g_variant_get_int64 (count) + 1 : 1),
                         error);

      if (ok && self->second != NULL)
        {
          g_autoptr(GVariant) second = pb_table_get (self->second, counted, error);

          ok = (second != NULL || *error == NULL) &&
               pb_table_set (self->second, counted,
                             g_variant_new_int64 (second != NULL ? g_variant_get_int64 (second) + 1 : 1),
                             error);
        }
    }
  else if (text == NULL)
    ok = pb_table_delete (self->table, key, error);
  else
    {
      /* A full reference, not a floating one. */
      g_autoptr(GVariant) value = g_variant_parse (NULL, text, NULL, NULL, error);

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
  g_clear_object (&self->second);
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
  pb_test_remove_tree (f->dir);
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
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = pb_table_get (table, key, &error);

  g_assert_no_error (error);
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

static gboolean
copy_cb (const char *key,
         GVariant   *value,
         gpointer    user_data)
{
  g_hash_table_replace (user_data, g_strdup (key), g_variant_ref (value));
  return TRUE;
}

static void
assert_same (GHashTable *a,
             GHashTable *b)
{
  GHashTableIter iter;
  gpointer key, value;

  g_assert_cmpuint (g_hash_table_size (a), ==, g_hash_table_size (b));
  g_hash_table_iter_init (&iter, a);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GVariant *other = g_hash_table_lookup (b, key);

      g_assert_nonnull (other);
      g_assert_true (g_variant_equal (value, other));
    }
}

/* The table holds exactly what @expected holds. */
static void
assert_table_equals (PbTable    *table,
                     GHashTable *expected)
{
  g_autoptr(GHashTable) contents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                          (GDestroyNotify) g_variant_unref);
  g_autoptr(GError) error = NULL;

  pb_table_foreach (table, copy_cb, contents, &error);
  g_assert_no_error (error);
  assert_same (contents, expected);
}

/* Tests */

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
  /* JSON keeps the last of duplicate keys. */
  { "{'a': 1, 'a': 2, 'b': 3}", "{'a': 2, 'b': 3}" },
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
  g_assert_false (pb_table_set (table, "k", g_variant_new_parsed ("{objectpath '/a': 'x'}"), &error));
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
  g_clear_error (&error);
  g_assert_null (pb_table_get (table, "k", &error));
  g_assert_no_error (error);
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

/* Runs `paperboy table ARGS…`, which must exit with @status; its output. */
static char *
run_tool (int         status,
          const char *first,
          ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;
  int wait_status;
  va_list args;

  g_ptr_array_add (argv, (char *)g_getenv ("PB_TEST_TOOL"));
  g_ptr_array_add (argv, (char *)"table");
  va_start (args, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *)arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  g_spawn_sync (NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                &out, &err, &wait_status, &error);
  g_assert_no_error (error);
  g_test_message ("paperboy table %s: %s%s", first, out, err);
  g_assert_true (WIFEXITED (wait_status));
  g_assert_cmpint (WEXITSTATUS (wait_status), ==, status);

  return out;
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

  /* The tool prints the same table from the database and the changelog. */
  if (g_getenv ("PB_TEST_TOOL") != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, f->table_name, NULL);
      g_autofree char *from_db = run_tool (0, "dump", "--rocksdb", path, NULL);
      g_autofree char *from_changelog = run_tool (0, "dump", "--bootstrap-servers",
                                                  pb_test_bootstrap (), "--topic", changelog, NULL);
      g_autofree char *value = run_tool (0, "get", "k29", "--rocksdb", path, NULL);
      g_autofree char *json = run_tool (0, "get", "extra1", "--json", "--rocksdb", path, NULL);
      g_autofree char *missing = run_tool (2, "get", "nope", "--rocksdb", path, NULL);
      g_auto(GStrv) lines = g_strsplit (from_db, "\n", -1);

      g_assert_cmpuint (g_strv_length (lines), ==, 34);   /* and the empty last */
      g_assert_cmpstr (lines[0], ==, "extra0\t'elsewhere'");
      g_assert_cmpstr (from_db, ==, from_changelog);
      g_assert_cmpstr (value, ==, "89\n");
      g_assert_cmpstr (json, ==, "\"elsewhere\"\n");
      /* A key the table lacks: status 2, and nothing on stdout. */
      g_assert_cmpstr (missing, ==, "");
    }
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
  value = pb_table_get (table, "new", &error);
  g_assert_no_error (error);
  g_assert_nonnull (value);
  g_assert_cmpint (g_variant_get_int64 (value), ==, 2);
}

static void
test_register_errors (Fixture       *f,
                      gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (f->group);
  g_autoptr(PbTable) table = pb_table_new ("t", "memory://");
  g_autoptr(PbTable) same_name = pb_table_new ("t", "memory://");
  g_autoptr(PbTable) same_topic = pb_table_new ("u", "memory://");
  g_autoptr(PbTable) consumed = pb_table_new ("v", "memory://");
  g_autoptr(PbHandler) handler = NULL;
  g_autoptr(PbHandler) reader = NULL;
  g_autoptr(GError) error = NULL;
  const char * const bad_uris[] = { "foo://", "memory:", "rocksdb:", "rocksdb://relative/path",
                                    "", "memory://x", NULL };

  g_test_summary ("Registering tables: a duplicate name, a duplicate changelog topic, a "
                  "changelog a handler consumes (in either order) and bad store URIs are "
                  "PB_ERROR_CONFIG errors");

  g_assert_true (pb_engine_register_table (engine, table, &error));
  g_assert_no_error (error);
  g_assert_true (pb_engine_get_table (engine, "t") == table);
  g_assert_null (pb_engine_get_table (engine, "nope"));

  g_assert_false (pb_engine_register_table (engine, same_name, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  pb_table_set_changelog_topic_name (same_topic, "t-changelog");
  g_assert_false (pb_engine_register_table (engine, same_topic, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  /* A handler for a table's changelog... */
  handler = g_object_new (TEST_TYPE_WRITER, "topic", "t-changelog", NULL);
  g_assert_false (pb_engine_add_handler (engine, handler, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  /* ...and a table whose changelog a handler consumes. */
  reader = g_object_new (TEST_TYPE_WRITER, "topic", "v-changelog", NULL);
  g_assert_true (pb_engine_add_handler (engine, reader, &error));
  g_assert_no_error (error);
  g_assert_false (pb_engine_register_table (engine, consumed, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  for (guint i = 0; bad_uris[i] != NULL; i++)
    {
      g_autofree char *name = g_strdup_printf ("bad%u", i);
      g_autoptr(PbTable) bad = pb_table_new (name, bad_uris[i]);

      g_assert_false (pb_engine_register_table (engine, bad, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
      g_test_message ("%s: %s", bad_uris[i], error->message);
      g_clear_error (&error);
    }
}

static void
test_unopenable (Fixture       *f,
                 gconstpointer  user_data)
{
  g_autofree char *file = g_build_filename (f->dir, "a-file", NULL);
  g_autofree char *locked = g_build_filename (f->dir, "locked", NULL);
  g_autofree char *file_uri = g_strconcat ("rocksdb://", file, NULL);
  g_autofree char *locked_uri = g_strconcat ("rocksdb://", locked, NULL);
  g_autoptr(PbStore) holder = pb_rocksdb_store_new (locked);
  g_autoptr(GError) error = NULL;
  const char *uris[] = { file_uri, locked_uri };

  g_test_summary ("A RocksDB database that cannot be opened (a file in its place, or one "
                  "locked by another store) fails the run with PB_ERROR_STORE, and the "
                  "engine can run again once it is free");

  g_assert_true (g_file_set_contents (file, "not a database", -1, NULL));
  g_assert_true (pb_store_open (holder, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (uris); i++)
    {
      fixture_open (f, uris[i]);
      g_assert_false (pb_engine_run (f->engine, NULL, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_STORE);
      g_test_message ("%s: %s", uris[i], error->message);
      g_clear_error (&error);
      g_assert_cmpint (pb_engine_get_state (f->engine), ==, PB_ENGINE_STATE_FAILED);
    }

  /* Free again: the next run opens it. */
  pb_store_close (holder);
  produce (f, "k", "1");
  fixture_run (f, 1);
  assert_value (f->table, "k", "1");
}

static void
produce_changelog (const char *topic,
                   const char *key,
                   const char *json,
                   const char *type)
{
  rd_kafka_headers_t *headers = NULL;

  if (type != NULL)
    {
      headers = rd_kafka_headers_new (2);
      rd_kafka_header_add (headers, "paperboy.type", -1, type, -1);
      rd_kafka_header_add (headers, "paperboy.encoding", -1, "json/1", -1);
    }
  pb_test_produce_full (topic, 0, key, json, headers);
}

static void
test_bad_records (Fixture       *f,
                  gconstpointer  user_data)
{
  g_autofree char *changelog = g_strconcat (f->table_name, "-changelog", NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("Changelog records that are not the table's (not JSON, not of their "
                  "type, an invalid type, no key, a key that is not UTF-8) are skipped "
                  "and counted; a strict table "
                  "fails its run with PB_ERROR_CHANGELOG instead");

  pb_test_create_topic (changelog, 1);
  produce_changelog (changelog, "good", "1", "x");
  produce_changelog (changelog, "not-json", "{nope", "x");
  produce_changelog (changelog, "wrong-type", "\"text\"", "x");
  produce_changelog (changelog, "bad-type", "1", "not a type");
  produce_changelog (changelog, NULL, "1", "x");
  produce_changelog (changelog, "untyped", "[1, 2]", NULL);
  produce_changelog (changelog, "bad-\xff-key", "3", "x");
  produce_changelog (changelog, "good", "2", "x");

  g_test_expect_message ("Paperboy", G_LOG_LEVEL_WARNING, "*skipped a bad changelog record*");
  g_test_expect_message ("Paperboy", G_LOG_LEVEL_WARNING, "*skipped a bad changelog record*");
  g_test_expect_message ("Paperboy", G_LOG_LEVEL_WARNING, "*skipped a bad changelog record*");
  g_test_expect_message ("Paperboy", G_LOG_LEVEL_WARNING, "*skipped a bad changelog record*");
  g_test_expect_message ("Paperboy", G_LOG_LEVEL_WARNING, "*skipped a bad changelog record*");
  fixture_open (f, "memory://");
  fixture_restart (f);
  g_test_assert_expected_messages ();

  g_assert_cmpuint (pb_table_get_restored_records (f->table), ==, 8);
  g_assert_cmpuint (pb_table_get_bad_records (f->table), ==, 5);
  assert_value (f->table, "good", "int64 2");
  assert_value (f->table, "untyped", "[<int64 1>, <int64 2>]");
  assert_value (f->table, "not-json", NULL);
  g_assert_cmpuint (table_size (f->table), ==, 2);

  fixture_open (f, "memory://");
  pb_table_set_strict (f->table, TRUE);
  g_assert_false (pb_engine_run (f->engine, NULL, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CHANGELOG);
  g_test_message ("strict: %s", error->message);
}

static void
test_count (Fixture       *f,
            gconstpointer  user_data)
{
  g_test_summary ("A handler counts 2,000 records into 100 keys, reading each count it "
                  "increments while earlier changes of the key are still on their way to "
                  "the store, which takes 100 ms to write each batch: every count is exact");

  fixture_open (f, user_data);
  /* A key comes every 100 ms, while the writes fall further behind. */
  g_object_set_data (G_OBJECT (f->table), "pb-test-write-delay-ms", GUINT_TO_POINTER (100));
  f->writer->delay_ms = 1;
  f->writer->count = TRUE;
  pb_test_produce_many (f->topic, 0, 2000, "v");
  fixture_run (f, 2000);

  g_assert_cmpuint (f->writer->n_errors, ==, 0);
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *key = g_strdup_printf ("%u", i);

      assert_value (f->table, key, "int64 20");
    }
}

typedef struct
{
  const char            *uri;
  PbProcessingGuarantee  guarantee;
} ReplayCase;

/* Cases live as long as the tests: g_test_add() keeps a pointer. */
static const ReplayCase replay_cases[] = {
  { "memory://", PB_PROCESSING_GUARANTEE_EXACT_STATE },
  { "rocksdb://", PB_PROCESSING_GUARANTEE_EXACT_STATE },
  { "memory://", PB_PROCESSING_GUARANTEE_AT_LEAST_ONCE },
  { "rocksdb://", PB_PROCESSING_GUARANTEE_AT_LEAST_ONCE },
};

/* A new group: it starts from the first record, as a member does after
 * a crash that left the records handled since the last commit. */
static void
fixture_open_replaying (Fixture               *f,
                        const ReplayCase      *c)
{
  g_free (f->group);
  f->group = pb_test_unique ("table-group");
  fixture_open (f, c->uri);
  pb_engine_set_processing_guarantee (f->engine, c->guarantee);
  f->writer->count = TRUE;
}

static void
assert_all_counts (PbTable *table,
                   gint64   count)
{
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *key = g_strdup_printf ("%u", i);
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = pb_table_get (table, key, &error);

      g_assert_no_error (error);
      g_assert_nonnull (value);
      g_assert_cmpint (g_variant_get_int64 (value), ==, count);
    }
}

static void
test_replay (Fixture       *f,
             gconstpointer  user_data)
{
  const ReplayCase *c = user_data;
  gboolean exact = c->guarantee == PB_PROCESSING_GUARANTEE_EXACT_STATE;

  g_test_summary ("A handler counts 1,000 records into 100 keys; a new engine handles "
                  "them all again, from its store or from the changelog, then 500 more: "
                  "under exact-state the table drops the changes it holds already, and "
                  "counts each record once; under at-least-once it counts the records "
                  "handled again twice");

  fixture_open_replaying (f, c);
  pb_test_produce_many (f->topic, 0, 1000, "v");
  fixture_run (f, 1000);
  g_assert_cmpuint (f->writer->n_errors, ==, 0);
  assert_all_counts (f->table, 10);

  fixture_open_replaying (f, c);
  fixture_run (f, 1000);
  g_assert_cmpuint (f->writer->n_handled, ==, 1000);
  g_assert_cmpuint (f->writer->n_errors, ==, 0);
  assert_all_counts (f->table, exact ? 10 : 20);

  /* New records count, whatever came before them. */
  pb_test_produce_many (f->topic, 0, 500, "w");
  fixture_run (f, 1500);
  g_assert_cmpuint (f->writer->n_errors, ==, 0);
  assert_all_counts (f->table, exact ? 15 : 25);

  /* And the store says so to the next engine, which starts where the
   * group committed. */
  fixture_open (f, c->uri);
  pb_engine_set_processing_guarantee (f->engine, c->guarantee);
  f->writer->count = TRUE;
  fixture_restart (f);
  assert_all_counts (f->table, exact ? 15 : 25);
}

typedef struct
{
  PbMockCluster *cluster;
  char          *first;    /* table names */
  char          *second;
  PbEngine      *engine;
  TestWriter    *writer;
  PbTable       *tables[2];
} TwoTables;

static void
two_tables_open (TwoTables             *t,
                 Fixture               *f,
                 const ReplayCase      *c)
{
  g_autoptr(GError) error = NULL;

  g_clear_object (&t->writer);
  g_clear_object (&t->engine);
  g_clear_object (&t->tables[0]);
  g_clear_object (&t->tables[1]);

  t->engine = g_object_new (PB_TYPE_ENGINE, "mock-cluster", t->cluster, "group-id", f->group,
                            "commit-interval-ms", 100, "stop-timeout-ms", 1000,
                            "processing-guarantee", c->guarantee, NULL);
  pb_engine_set_config (t->engine, "session.timeout.ms", "6000", NULL);
  pb_engine_set_config (t->engine, "fetch.wait.max.ms", "10", NULL);
  pb_engine_set_state_dir (t->engine, f->dir);
  t->tables[0] = pb_table_new (t->first, c->uri);
  t->tables[1] = pb_table_new (t->second, c->uri);
  t->writer = g_object_new (TEST_TYPE_WRITER, "topic", f->topic, NULL);
  t->writer->table = g_object_ref (t->tables[0]);
  t->writer->second = g_object_ref (t->tables[1]);
  t->writer->count = TRUE;
  pb_engine_register_table (t->engine, t->tables[0], &error);
  g_assert_no_error (error);
  pb_engine_register_table (t->engine, t->tables[1], &error);
  g_assert_no_error (error);
  pb_engine_add_handler (t->engine, PB_HANDLER (t->writer), &error);
  g_assert_no_error (error);
}

typedef struct
{
  TwoTables  *t;
  Fixture    *f;
  guint       n;
  gint64      committed;
  gboolean    failing;    /* the second changelog's broker went down */
} TwoUntil;

static void
produce_counted (TwoTables  *t,
              const char *topic,
              guint       from,
              guint       to)
{
  for (guint i = from; i < to; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *key = g_strdup_printf ("k-%u", i);
      g_autoptr(GBytes) key_bytes = g_bytes_new (key, strlen (key));
      g_autoptr(GBytes) value = g_bytes_new_static ("v", 1);

      pb_mock_cluster_produce (t->cluster, topic, 0, key_bytes, value, NULL, &error);
      g_assert_no_error (error);
    }
}

static gboolean
two_tables_until (gpointer user_data)
{
  TwoUntil *until = user_data;
  TwoTables *t = until->t;

  if (t->writer->n_handled < until->n ||
      pb_mock_cluster_get_committed_offset (t->cluster, until->f->group, until->f->topic,
                                            0, NULL) < until->committed)
    return FALSE;

  if (until->failing || until->committed == 300)
    return TRUE;

  /* The second changelog's broker goes; 100 records more are handled,
   * whose changes reach the first changelog only. */
  assert_all_counts (t->tables[0], 2);
  assert_all_counts (t->tables[1], 2);
  pb_mock_cluster_set_broker_down (t->cluster, 2, NULL);
  produce_counted (t, until->f->topic, 200, 300);
  until->failing = TRUE;
  until->n = 300;
  until->committed = -1;

  return FALSE;
}

static void
test_two_tables (Fixture       *f,
                 gconstpointer  user_data)
{
  const ReplayCase *c = user_data;
  gboolean exact = c->guarantee == PB_PROCESSING_GUARANTEE_EXACT_STATE;
  g_autoptr(GError) error = NULL;
  TwoTables t = { NULL, };
  TwoUntil until;
  rd_kafka_mock_cluster_t *mock;
  gint64 committed;

  g_test_summary ("A handler counts into two tables whose changelogs have their leaders on "
                  "two brokers; the second broker goes down, so that the records handled "
                  "then reach the first changelog and not the second, and the engine ends "
                  "there; a new engine handles them again: under exact-state both tables "
                  "count each record once");

  if (pb_test_is_external ())
    {
      g_test_skip ("needs the mock cluster's brokers");
      return;
    }

  t.cluster = pb_mock_cluster_new (2, &error);
  g_assert_no_error (error);
  mock = _pb_mock_cluster_get_mock (t.cluster);
  t.first = pb_test_unique ("first");
  t.second = pb_test_unique ("second");
  {
    g_autofree char *first_changelog = g_strconcat (t.first, "-changelog", NULL);
    g_autofree char *second_changelog = g_strconcat (t.second, "-changelog", NULL);

    pb_mock_cluster_create_topic (t.cluster, f->topic, 1, &error);
    g_assert_no_error (error);
    pb_mock_cluster_create_topic (t.cluster, first_changelog, 1, &error);
    g_assert_no_error (error);
    pb_mock_cluster_create_topic (t.cluster, second_changelog, 1, &error);
    g_assert_no_error (error);
    /* Everything on broker 1 but the second changelog. */
    g_assert_cmpint (rd_kafka_mock_partition_set_leader (mock, f->topic, 0, 1), ==, 0);
    g_assert_cmpint (rd_kafka_mock_partition_set_leader (mock, first_changelog, 0, 1), ==, 0);
    g_assert_cmpint (rd_kafka_mock_partition_set_leader (mock, second_changelog, 0, 2), ==, 0);
    g_assert_cmpint (rd_kafka_mock_coordinator_set (mock, "group", f->group, 1), ==, 0);
  }

  produce_counted (&t, f->topic, 0, 200);
  two_tables_open (&t, f, c);
  until = (TwoUntil) { &t, f, 200, 200, FALSE };
  /* It stops while the last changes wait for their broker. */
  if (!pb_test_run_until (t.engine, two_tables_until, &until, 60000, &error))
    g_test_message ("The engine ended with: %s", error->message);
  g_clear_error (&error);
  g_assert_true (until.failing);
  g_assert_cmpuint (t.writer->n_handled, ==, 300);
  committed = pb_mock_cluster_get_committed_offset (t.cluster, f->group, f->topic, 0, NULL);
  g_test_message ("Committed: %" G_GINT64_FORMAT, committed);
  g_assert_cmpint (committed, >=, 200);
  g_assert_cmpint (committed, <, 300);
  pb_mock_cluster_set_broker_up (t.cluster, 2, &error);
  g_assert_no_error (error);

  /* Everything again from the commit, with both brokers. */
  two_tables_open (&t, f, c);
  until = (TwoUntil) { &t, f, 300 - committed, 300, FALSE };
  pb_test_run_until (t.engine, two_tables_until, &until, 60000, &error);
  g_assert_no_error (error);
  assert_all_counts (t.tables[1], 3);
  assert_all_counts (t.tables[0], exact ? 3 : 4);

  g_clear_object (&t.writer);
  g_clear_object (&t.engine);
  g_clear_object (&t.tables[0]);
  g_clear_object (&t.tables[1]);
  g_clear_object (&t.cluster);
  g_free (t.first);
  g_free (t.second);
}

static void
test_exact_state_other_partition (Fixture       *f,
                                  gconstpointer  user_data)
{
  g_autofree char *topic = pb_test_unique ("table-two-partitions");
  g_autoptr(GError) error = NULL;
  guint n_other = 0;

  g_test_summary ("Under exact-state, a handler that writes a key of another partition than "
                  "its record's gets an error naming both, which reaches on_error(), and the "
                  "key is not written; keys of its own partition are");

  pb_test_create_topic (topic, 2);
  g_free (f->topic);
  f->topic = g_strdup (topic);
  fixture_open (f, "memory://");
  pb_engine_set_processing_guarantee (f->engine, PB_PROCESSING_GUARANTEE_EXACT_STATE);
  /* Every record in partition 0, whatever partition its key has. */
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *key = g_strdup_printf ("key-%u", i);

      pb_test_produce_full (topic, 0, key, "int64 1", NULL);
    }
  pb_test_run_until (f->engine, handled_and_committed, &(Until) { f, 20 }, 60000, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *key = g_strdup_printf ("key-%u", i);
      g_autoptr(GVariant) value = NULL;

      if (pb_table_get_partition_for_key (f->table, key) == 0)
        {
          value = pb_table_get (f->table, key, &error);
          g_assert_no_error (error);
          g_assert_nonnull (value);
        }
      else
        n_other++;
    }
  g_test_message ("%u of 20 keys of partition 1", n_other);
  g_assert_cmpuint (n_other, >, 0);
  g_assert_cmpuint (f->writer->n_errors, ==, n_other);
}

#define TEST_TYPE_BATCHER (test_batcher_get_type ())
G_DECLARE_FINAL_TYPE (TestBatcher, test_batcher, TEST, BATCHER, PbBulkHandler)

struct _TestBatcher
{
  PbBulkHandler parent_instance;
};

G_DEFINE_FINAL_TYPE (TestBatcher, test_batcher, PB_TYPE_BULK_HANDLER)

static void
test_batcher_class_init (TestBatcherClass *klass)
{
}

static void
test_batcher_init (TestBatcher *self)
{
}

static void
test_exact_state_bulk (Fixture       *f,
                       gconstpointer  user_data)
{
  g_autofree char *batched = pb_test_unique ("table-batched");
  g_autoptr(TestBatcher) batcher = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("exact-state refuses a bulk handler at the start of a run, naming it");

  pb_test_create_topic (batched, 1);
  batcher = g_object_new (TEST_TYPE_BATCHER, "topic", batched, NULL);
  fixture_open (f, "memory://");
  pb_engine_set_processing_guarantee (f->engine, PB_PROCESSING_GUARANTEE_EXACT_STATE);
  g_assert_cmpint (pb_engine_get_processing_guarantee (f->engine), ==,
                   PB_PROCESSING_GUARANTEE_EXACT_STATE);
  pb_engine_add_handler (f->engine, PB_HANDLER (batcher), &error);
  g_assert_no_error (error);

  g_assert_false (pb_engine_run (f->engine, NULL, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "TestBatcher"));
  g_test_message ("%s", error->message);
}

/* Kafka's ApiKey of Produce requests. */
#define PRODUCE_API_KEY 0

static void
fail_changelog_cb (PbTable  *table,
                   gpointer  user_data)
{
  /* The next produce requests fail for good. */
  rd_kafka_mock_push_request_errors (_pb_mock_cluster_get_mock (user_data), PRODUCE_API_KEY, 5,
                                     RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                     RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                     RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                     RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                     RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
}

static void
test_delivery_failure (Fixture       *f,
                       gconstpointer  user_data)
{
  g_autoptr(PbMockCluster) cluster = NULL;
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(PbTable) table = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) key = g_bytes_new_static ("a", 1);
  g_autoptr(GBytes) value = g_bytes_new_static ("1", 1);
  TestWriter *writer;

  g_autoptr(GVariant) offsets = NULL;
  g_autoptr(GVariant) held = NULL;
  const char *uri = user_data;

  g_test_summary ("A changelog write that cannot be delivered ends the run with "
                  "PB_ERROR_CHANGELOG, the record that made it is not committed, and the "
                  "table does not keep its value");

  if (pb_test_is_external ())
    {
      g_test_skip ("needs the mock cluster's fault injection");
      return;
    }

  /* A cluster of its own: the errors are for the next producer to ask. */
  cluster = pb_mock_cluster_new (1, &error);
  g_assert_no_error (error);
  pb_mock_cluster_create_topic (cluster, f->topic, 1, &error);
  g_assert_no_error (error);
  pb_mock_cluster_produce (cluster, f->topic, 0, key, value, NULL, &error);
  g_assert_no_error (error);

  engine = g_object_new (PB_TYPE_ENGINE, "mock-cluster", cluster, "group-id", f->group,
                         "commit-interval-ms", 100, NULL);
  pb_engine_set_config (engine, "session.timeout.ms", "6000", NULL);
  pb_engine_set_config (engine, "fetch.wait.max.ms", "10", NULL);
  pb_engine_set_state_dir (engine, f->dir);
  table = pb_table_new (f->table_name, uri);
  g_signal_connect (table, "restored", G_CALLBACK (fail_changelog_cb), cluster);
  pb_engine_register_table (engine, table, &error);
  g_assert_no_error (error);
  writer = g_object_new (TEST_TYPE_WRITER, "topic", f->topic, NULL);
  writer->table = g_object_ref (table);
  pb_engine_add_handler (engine, PB_HANDLER (writer), &error);
  g_assert_no_error (error);

  g_assert_false (pb_engine_run (engine, NULL, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CHANGELOG);
  g_test_message ("%s", error->message);
  g_assert_cmpuint (writer->n_handled, ==, 1);
  /* The record whose write was lost is not committed... */
  g_assert_cmpint (pb_mock_cluster_get_committed_offset (cluster, f->group, f->topic, 0, NULL), <=, 0);
  g_object_unref (writer);

  /* ...and its value is not the table's, whose store claims no offset of
   * the changelog (a memory store had taken the value at once). */
  g_clear_error (&error);
  held = pb_table_get (table, "a", &error);
  g_assert_no_error (error);
  g_assert_null (held);
  offsets = pb_store_get_offsets (pb_table_get_store (table), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (offsets), ==, 0);
}

typedef struct
{
  GPtrArray *values;
  guint      n;
} Reader;

/* Records "value header" for each record. */
#define TEST_TYPE_READER (test_reader_get_type ())
G_DECLARE_FINAL_TYPE (TestReader, test_reader, TEST, READER, PbHandler)

struct _TestReader
{
  PbHandler  parent_instance;
  Reader    *reader;
};

G_DEFINE_FINAL_TYPE (TestReader, test_reader, PB_TYPE_HANDLER)

static gboolean
reader_on_message (PbHandler  *handler,
                   PbMessage  *message,
                   GObject    *context,
                   GError    **error)
{
  Reader *reader = TEST_READER (handler)->reader;
  GBytes *from = pb_message_get_header (message, "from");
  g_autofree char *value = pb_test_bytes_to_string (pb_message_get_value (message));
  g_autofree char *header = pb_test_bytes_to_string (from);

  g_ptr_array_add (reader->values, g_strdup_printf ("%s %s", value, header));

  return TRUE;
}

static void
test_reader_class_init (TestReaderClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = reader_on_message;
}

static void
test_reader_init (TestReader *self)
{
}

static gboolean
read_enough (gpointer user_data)
{
  Reader *reader = user_data;

  return reader->values->len >= reader->n;
}

static void
test_produce (Fixture       *f,
              gconstpointer  user_data)
{
  g_autofree char *target = pb_test_unique ("table-target");
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(PbHandler) handler = NULL;
  g_autoptr(GError) error = NULL;
  Reader reader = { g_ptr_array_new_with_free_func (g_free), 3 };
  const char * const expected[] = { "1 table", "2 table", "3 table", NULL };

  g_test_summary ("A handler produces records through the engine: they arrive with their "
                  "headers, and the source is committed after them");

  pb_test_create_topic (target, 1);
  fixture_open (f, "memory://");
  f->writer->produce_to = g_strdup (target);
  produce (f, "a", "1");
  produce (f, "b", "2");
  produce (f, "c", "3");
  fixture_run (f, 3);

  /* Read back by another engine. */
  engine = pb_test_engine_new (f->group);
  handler = g_object_new (TEST_TYPE_READER, "topic", target, NULL);
  TEST_READER (handler)->reader = &reader;
  pb_engine_add_handler (engine, handler, &error);
  g_assert_no_error (error);
  pb_test_run_until (engine, read_enough, &reader, 60000, &error);
  g_assert_no_error (error);
  g_ptr_array_add (reader.values, NULL);
  g_assert_cmpstrv ((char **)reader.values->pdata, expected);
  g_ptr_array_unref (reader.values);

  g_assert_false (pb_engine_produce (f->engine, target, -1, NULL, NULL, NULL, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_FAILED);
}

/* A pb-test-consumer process with a table: it sets "count" to offset + 1
 * and "rec-N" (N = offset % 100) to offset for each record. */
typedef struct
{
  PbTestProcess *process;
  gint64         last;        /* the last offset it handled, or -1 */
} Writer;

static void
writer_line_cb (char     **words,
                gpointer   user_data)
{
  Writer *writer = user_data;

  if (g_strcmp0 (words[0], "handled") == 0 && g_strcmp0 (words[1], "0") == 0)
    writer->last = g_ascii_strtoll (words[2], NULL, 10);
}

static void
writer_start (Writer  *writer,
              Fixture *f,
              guint    delay_ms)
{
  g_autofree char *delay = g_strdup_printf ("%u", delay_ms);

  writer->last = -1;
  writer->process = pb_test_process_start (writer_line_cb, writer,
                                           "--bootstrap", pb_test_bootstrap (),
                                           "--group", f->group, "--topic", f->topic,
                                           "--table", "rocksdb://", "--state-dir", f->dir,
                                           "--delay-ms", delay,
                                           PB_TEST_PROCESS_GROUP_ARGS, NULL);
}

static void
writer_stop (Writer *writer,
             int     signum)
{
  pb_test_process_signal (writer->process, signum);
  pb_test_process_wait (writer->process, 60000);
  g_clear_pointer (&writer->process, pb_test_process_free);
}

static gboolean
writer_past_600 (gpointer user_data)
{
  Writer *writer = user_data;

  return writer->last >= 600 || pb_test_process_is_done (writer->process);
}

static gboolean
writer_at_end (gpointer user_data)
{
  Writer *writer = user_data;

  return writer->last >= 1999 || pb_test_process_is_done (writer->process);
}

/* What the store in the state directory holds, read while no one writes. */
static GHashTable *
read_store (Fixture   *f,
            GVariant **offsets)
{
  g_autofree char *path = g_build_filename (f->dir, "table", NULL);
  g_autoptr(PbStore) store = pb_rocksdb_store_new (path);
  GHashTable *contents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) g_variant_unref);
  g_autoptr(GError) error = NULL;

  pb_rocksdb_store_set_read_only (PB_ROCKSDB_STORE (store), TRUE);
  g_assert_true (pb_store_open (store, &error));
  g_assert_no_error (error);
  g_assert_true (pb_store_foreach (store, copy_cb, contents, &error));
  *offsets = pb_store_get_offsets (store, &error);
  g_assert_no_error (error);

  return contents;
}

static void
test_kill (Fixture       *f,
           gconstpointer  user_data)
{
  g_autoptr(GHashTable) stored = NULL;
  g_autoptr(GHashTable) prefix = NULL;
  g_autoptr(GHashTable) whole = NULL;
  g_autoptr(GHashTable) final = NULL;
  g_autoptr(GVariant) offsets = NULL;
  g_autoptr(GVariant) final_offsets = NULL;
  g_autoptr(GPtrArray) records = NULL;
  GVariant *count;
  gint64 committed;
  Writer writer;

  g_test_summary ("A process killed (SIGKILL) while it writes a rocksdb:// table: its store "
                  "is the fold of a prefix of the changelog, every committed record's writes "
                  "are in the changelog, and a restart ends with the whole table");

  if (g_getenv ("PB_TEST_CONSUMER") == NULL)
    {
      g_test_skip ("PB_TEST_CONSUMER is not set");
      return;
    }

  pb_test_produce_many (f->topic, 0, 2000, "v");
  /* The mock cluster has no Admin API: a process of its own cannot
   * create the changelog. */
  pb_test_create_topic ("table-changelog", 1);

  writer_start (&writer, f, 2);
  pb_test_wait_until (writer_past_600, &writer, 90000);
  g_assert_false (pb_test_process_is_done (writer.process));
  writer_stop (&writer, SIGKILL);

  committed = pb_test_committed (f->group, f->topic, 0);
  g_test_message ("Killed after offset %" G_GINT64_FORMAT ", committed %" G_GINT64_FORMAT,
                  writer.last, committed);
  g_assert_cmpint (committed, >, 0);

  /* The store is the changelog's fold up to the offsets it holds... */
  stored = read_store (f, &offsets);
  records = read_topic ("table-changelog");
  prefix = fold (records, offsets);
  assert_same (stored, prefix);

  /* ...and nothing committed lacks its writes in the changelog. */
  whole = fold (records, NULL);
  count = g_hash_table_lookup (whole, "count");
  g_assert_nonnull (count);
  g_assert_cmpint (g_variant_get_int64 (count), >=, committed);

  /* A restart handles the rest, from the commit. */
  writer_start (&writer, f, 0);
  pb_test_wait_until (writer_at_end, &writer, 90000);
  g_assert_false (pb_test_process_is_done (writer.process));
  writer_stop (&writer, SIGTERM);

  final = read_store (f, &final_offsets);
  count = g_hash_table_lookup (final, "count");
  g_assert_nonnull (count);
  g_assert_cmpint (g_variant_get_int64 (count), ==, 2000);
  for (int i = 0; i < 100; i++)
    {
      g_autofree char *key = g_strdup_printf ("rec-%d", i);
      GVariant *value = g_hash_table_lookup (final, key);

      g_assert_nonnull (value);
      g_assert_cmpint (g_variant_get_int64 (value), ==, 1900 + i);
    }
  g_ptr_array_unref (records);
  records = read_topic ("table-changelog");
  g_clear_pointer (&whole, g_hash_table_unref);
  whole = fold (records, NULL);
  assert_same (final, whole);
}

static void
test_independent_reader (Fixture       *f,
                         gconstpointer  user_data)
{
  g_autofree char *changelog = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *kcat = NULL;
  g_autoptr(GError) error = NULL;
  int status;

  g_test_summary ("The changelog as kcat sees it: the keys, JSON values, the type header, "
                  "and a tombstone");

  kcat = g_find_program_in_path ("kcat");
  if (kcat == NULL)
    {
      g_test_skip ("kcat is not installed");
      return;
    }

  fixture_open (f, "memory://");
  produce (f, "page", "{'views': <int32 3>, 'title': <'Home'>}");
  produce (f, "list", "[1.5, 2.0]");
  produce (f, "page", NULL);
  fixture_run (f, 3);
  changelog = g_strdup (pb_table_get_changelog_topic_name (f->table));

  {
    const char *argv[] = { "kcat", "-C", "-b", pb_test_bootstrap (), "-t", changelog,
                           "-e", "-q", "-Z", "-f", "%k|%s|%h\\n", NULL };

    g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                  &out, &err, &status, &error);
    g_assert_no_error (error);
    g_assert_true (g_spawn_check_wait_status (status, NULL));
  }

  g_test_message ("kcat: %s", out);
  g_assert_cmpstr (out, ==,
                   "page|{\"views\":3,\"title\":\"Home\"}|paperboy.type=a{sv},paperboy.encoding=json/1\n"
                   "list|[1.5,2.0]|paperboy.type=ad,paperboy.encoding=json/1\n"
                   "page|NULL|\n");
}

/* Adds one to the int64 of the record's key. */
#define TEST_TYPE_VIEW_COUNTER (test_view_counter_get_type ())
G_DECLARE_FINAL_TYPE (TestViewCounter, test_view_counter, TEST, VIEW_COUNTER, PbHandler)

struct _TestViewCounter
{
  PbHandler  parent_instance;
  PbTable   *table;
  guint      n_handled;
  guint      n_errors;
};

G_DEFINE_FINAL_TYPE (TestViewCounter, test_view_counter, PB_TYPE_HANDLER)

static gboolean
counter_on_message (PbHandler  *handler,
                    PbMessage  *message,
                    GObject    *context,
                    GError    **error)
{
  TestViewCounter *self = TEST_VIEW_COUNTER (handler);
  g_autofree char *key = pb_test_bytes_to_string (pb_message_get_key (message));
  g_autoptr(GVariant) count = pb_table_get (self->table, key, error);

  if (count == NULL && *error != NULL)
    return FALSE;

  self->n_handled++;

  return pb_table_set (self->table, key,
                       g_variant_new_int64 ((count != NULL ? g_variant_get_int64 (count) : 0) + 1),
                       error);
}

static PbErrorAction
counter_on_error (PbHandler    *handler,
                  const GError *error,
                  PbMessage    *message,
                  GObject      *context)
{
  g_test_message ("counter: %s", error->message);
  TEST_VIEW_COUNTER (handler)->n_errors++;

  return PB_ERROR_ACTION_CONTINUE;
}

static void
test_view_counter_finalize (GObject *object)
{
  g_clear_object (&TEST_VIEW_COUNTER (object)->table);

  G_OBJECT_CLASS (test_view_counter_parent_class)->finalize (object);
}

static void
test_view_counter_class_init (TestViewCounterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_view_counter_finalize;
  PB_HANDLER_CLASS (klass)->on_message = counter_on_message;
  PB_HANDLER_CLASS (klass)->on_error = counter_on_error;
}

static void
test_view_counter_init (TestViewCounter *self)
{
}

#define GROUP_PARTITIONS 4
#define GROUP_KEYS 24

/* One member of a group that counts records by key. */
typedef struct
{
  PbEngine    *engine;
  PbTable     *table;
  TestViewCounter *counter;
  PbTestRun   *run;
} Member;

/* Each member has a state directory of its own, as on a machine of its
 * own. */
/* @config: key and value pairs of the engine's configuration. */
static void
member_start_full (Member             *m,
                   Fixture            *f,
                   const char         *uri,
                   guint               n,
                   int                 standby_replicas,
                   const char * const *config)
{
  g_autofree char *dir = g_strdup_printf ("%s/member-%u", f->dir, n);
  g_autoptr(GError) error = NULL;

  m->engine = pb_test_engine_new (f->group);
  pb_engine_set_state_dir (m->engine, dir);
  for (guint i = 0; config != NULL && config[i] != NULL; i += 2)
    {
      pb_engine_set_config (m->engine, config[i], config[i + 1], &error);
      g_assert_no_error (error);
    }
  m->table = pb_table_new (f->table_name, uri);
  pb_table_set_standby_replicas (m->table, standby_replicas);
  pb_engine_register_table (m->engine, m->table, &error);
  g_assert_no_error (error);
  m->counter = g_object_new (TEST_TYPE_VIEW_COUNTER, "topic", f->topic, NULL);
  m->counter->table = g_object_ref (m->table);
  pb_engine_add_handler (m->engine, PB_HANDLER (m->counter), &error);
  g_assert_no_error (error);
  m->run = pb_test_start (m->engine);
}

static void
member_start (Member     *m,
              Fixture    *f,
              const char *uri,
              guint       n)
{
  member_start_full (m, f, uri, n, 0, NULL);
}

static void
member_stop (Member *m)
{
  g_autoptr(GError) error = NULL;

  pb_test_finish (m->run, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (m->counter->n_errors, ==, 0);
  g_clear_object (&m->counter);
  g_clear_object (&m->table);
  g_clear_object (&m->engine);
}

static int
key_partition (const char *key)
{
  return rd_kafka_msg_partitioner_murmur2 (NULL, key, strlen (key), GROUP_PARTITIONS, NULL, NULL);
}

typedef struct
{
  Fixture *f;
  Member  *members;
  guint    n_members;
  gint64   end[GROUP_PARTITIONS];  /* records each partition holds */
} Group;

/* Each key once more, to the partition Kafka's default partitioner gives
 * it. */
static void
produce_keys (Group *g)
{
  for (guint i = 0; i < GROUP_KEYS; i++)
    {
      g_autofree char *key = g_strdup_printf ("page-%u", i);
      int p = key_partition (key);

      pb_test_produce (g->f->topic, p, key, "view");
      g->end[p]++;
    }
}

static gboolean
count_key_cb (const char *key,
              GVariant   *value,
              gpointer    user_data)
{
  (*(guint *)user_data)++;

  return TRUE;
}

/* The keys of the partitions @m holds. */
static guint
keys_held (Member *m)
{
  g_autoptr(GError) error = NULL;
  guint n = 0;

  pb_table_foreach (m->table, count_key_cb, &n, &error);
  g_assert_no_error (error);

  return n;
}

/* The keys in @m's store, whichever partitions it holds. */
static guint
keys_stored (Member *m)
{
  g_autoptr(GError) error = NULL;
  guint n = 0;

  pb_store_foreach (pb_table_get_store (m->table), count_key_cb, &n, &error);
  g_assert_no_error (error);

  return n;
}

static gboolean
group_caught_up (gpointer user_data)
{
  Group *g = user_data;
  gsize n_held = 0;

  for (int p = 0; p < GROUP_PARTITIONS; p++)
    if (pb_test_committed (g->f->group, g->f->topic, p) < g->end[p])
      return FALSE;

  /* Every partition held by one member, none restoring. */
  for (guint i = 0; i < g->n_members; i++)
    {
      g_autofree int *held = NULL;
      gsize n = 0;

      if (pb_engine_get_state (g->members[i].engine) != PB_ENGINE_STATE_RUNNING)
        return FALSE;
      held = pb_table_get_partitions (g->members[i].table, &n);
      if (n == 0)
        return FALSE;
      n_held += n;
    }

  return n_held == GROUP_PARTITIONS;
}

static gboolean
collect_count_cb (const char *key,
          GVariant   *value,
          gpointer    user_data)
{
  g_hash_table_insert (user_data, g_strdup (key), GINT_TO_POINTER (g_variant_get_int64 (value)));

  return TRUE;
}

/* Each key is counted @expected times by the member that holds its
 * partition, and no other member reads it. */
static void
assert_counts (Group  *g,
               gint64  expected)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint8 held[GROUP_PARTITIONS] = { 0, };

  for (guint i = 0; i < g->n_members; i++)
    {
      Member *m = &g->members[i];
      g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_autoptr(GError) error = NULL;
      g_autofree int *partitions = NULL;
      gsize n = 0;

      partitions = pb_table_get_partitions (m->table, &n);
      for (gsize j = 0; j < n; j++)
        {
          g_assert_cmpint (held[partitions[j]], ==, 0);
          held[partitions[j]] = 1;
        }

      /* foreach() sees the keys of the partitions held, and no other. */
      pb_table_foreach (m->table, collect_count_cb, counts, &error);
      g_assert_no_error (error);

      for (guint k = 0; k < GROUP_KEYS; k++)
        {
          g_autofree char *key = g_strdup_printf ("page-%u", k);
          int p = key_partition (key);
          g_autoptr(GVariant) value = NULL;

          gboolean mine = FALSE;

          g_assert_cmpint (pb_table_get_partition_for_key (m->table, key), ==, p);
          value = pb_table_get (m->table, key, &error);

          for (gsize j = 0; j < n; j++)
            mine |= partitions[j] == p;
          if (!mine)
            {
              g_assert_error (error, PB_ERROR, PB_ERROR_NOT_OWNER);
              g_assert_nonnull (strstr (error->message, key));
              g_assert_null (value);
              g_clear_error (&error);
              g_assert_false (g_hash_table_contains (counts, key));
              continue;
            }

          g_assert_no_error (error);
          g_assert_nonnull (value);
          g_assert_cmpint (g_variant_get_int64 (value), ==, expected);
          g_assert_cmpint (GPOINTER_TO_INT (g_hash_table_lookup (counts, key)), ==, expected);
          g_assert_false (g_hash_table_contains (seen, key));
          g_hash_table_add (seen, g_strdup (key));
        }
    }

  g_assert_cmpuint (g_hash_table_size (seen), ==, GROUP_KEYS);
}

static void
test_group (Fixture       *f,
            gconstpointer  user_data)
{
  const char *uri = user_data;
  Member members[2] = { { NULL, }, };
  Group g = { f, members, 1, { 0, } };
  gboolean rocksdb = g_str_has_prefix (uri, "rocksdb:");
  guint64 restored;
  guint taken;

  g_test_summary ("Two members of a group count records by key into a partitioned table: "
                  "each holds the table partitions of the input partitions it owns, "
                  "restored before it handles their records; a key of another partition "
                  "is PB_ERROR_NOT_OWNER; partitions given up are dropped from memory and "
                  "kept on disk, so that when they come back a rocksdb:// table "
                  "restores only what changed meanwhile");

  g_free (f->topic);
  f->topic = pb_test_unique ("table-group-source");
  pb_test_create_topic (f->topic, GROUP_PARTITIONS);

  produce_keys (&g);
  produce_keys (&g);

  /* The first member alone holds every partition. */
  member_start (&members[0], f, uri, 0);
  pb_test_wait_until (group_caught_up, &g, 60000);
  assert_counts (&g, 2);

  /* A second member takes some partitions over, and restores them: two
   * changes of each of their keys. The first one drops them from memory,
   * and keeps them on disk. */
  member_start (&members[1], f, uri, 1);
  g.n_members = 2;
  pb_test_wait_until (group_caught_up, &g, 60000);
  taken = keys_held (&members[1]);
  g_assert_cmpuint (taken, >, 0);
  g_assert_cmpuint (taken, <, GROUP_KEYS);
  g_assert_cmpuint (pb_table_get_restored_records (members[1].table), ==, 2 * taken);
  g_assert_cmpuint (keys_stored (&members[0]), ==,
                    rocksdb ? GROUP_KEYS : GROUP_KEYS - taken);
  produce_keys (&g);
  pb_test_wait_until (group_caught_up, &g, 60000);
  assert_counts (&g, 3);

  /* The second one leaves: the first holds everything again, and restores
   * what it gave up: from its store on disk, only the change the second
   * one made of each key; from nothing in memory, all three. */
  restored = pb_table_get_restored_records (members[0].table);
  member_stop (&members[1]);
  g.n_members = 1;
  pb_test_wait_until (group_caught_up, &g, 60000);
  g_assert_cmpuint (pb_table_get_restored_records (members[0].table) - restored, ==,
                    rocksdb ? taken : 3 * taken);
  produce_keys (&g);
  pb_test_wait_until (group_caught_up, &g, 60000);
  assert_counts (&g, 4);

  member_stop (&members[0]);
}

typedef struct
{
  Member  *member;
  guint64  records;
} StandbyWait;

/* The changelog records a member's restores and standby replicas read. */
static guint64
records_read (Member *m)
{
  return pb_table_get_restored_records (m->table) + pb_table_get_standby_records (m->table);
}

static gboolean
standby_caught_up (gpointer user_data)
{
  StandbyWait *w = user_data;

  return records_read (w->member) >= w->records;
}

/* Until @m read @records changelog records, restored or followed. */
static void
wait_read (Member  *m,
           guint64  records)
{
  StandbyWait w = { m, records };

  pb_test_wait_until (standby_caught_up, &w, 60000);
  g_assert_cmpuint (records_read (m), ==, records);
}

static void
test_standby (Fixture       *f,
              gconstpointer  user_data)
{
  const char *uri = user_data;
  Member members[2] = { { NULL, }, };
  Group g = { f, members, 1, { 0, } };
  guint64 restored;
  guint taken;

  g_test_summary ("With standby-replicas, a member follows the changelog of the table "
                  "partitions it does not hold, keeping them out of reach; when the "
                  "holder leaves, the partitions it takes over are restored without "
                  "reading the changelog again");

  g_free (f->topic);
  f->topic = pb_test_unique ("table-standby-source");
  pb_test_create_topic (f->topic, GROUP_PARTITIONS);

  produce_keys (&g);
  produce_keys (&g);

  member_start_full (&members[0], f, uri, 0, 1, NULL);
  pb_test_wait_until (group_caught_up, &g, 60000);
  assert_counts (&g, 2);
  /* Alone, it holds everything and follows nothing. */
  g_assert_cmpuint (pb_table_get_standby_records (members[0].table), ==, 0);

  /* The second member follows the partitions it does not hold (all of
   * them, while the group gives it nothing yet), and restores those it
   * takes over from where its standby replica stood: two changes of each
   * key, read once, which it stores and shows for its partitions only. */
  member_start_full (&members[1], f, uri, 1, 1, NULL);
  g.n_members = 2;
  pb_test_wait_until (group_caught_up, &g, 60000);
  taken = keys_held (&members[1]);
  g_assert_cmpuint (taken, >, 0);
  g_assert_cmpuint (taken, <, GROUP_KEYS);
  wait_read (&members[1], 2 * GROUP_KEYS);
  g_assert_cmpuint (keys_stored (&members[1]), ==, GROUP_KEYS);
  assert_counts (&g, 2);

  /* The first member keeps the partitions it gave up, even in memory, and
   * follows the second one's changes of them. */
  g_assert_cmpuint (keys_stored (&members[0]), ==, GROUP_KEYS);
  restored = records_read (&members[0]);
  produce_keys (&g);
  pb_test_wait_until (group_caught_up, &g, 60000);
  wait_read (&members[0], restored + taken);
  wait_read (&members[1], 2 * GROUP_KEYS + (GROUP_KEYS - taken));
  assert_counts (&g, 3);

  /* The second one leaves: the first one's standby replica had every
   * change, and its restore reads none. */
  restored = pb_table_get_restored_records (members[0].table);
  member_stop (&members[1]);
  g.n_members = 1;
  pb_test_wait_until (group_caught_up, &g, 60000);
  g_assert_cmpuint (pb_table_get_restored_records (members[0].table) - restored, ==, 0);
  produce_keys (&g);
  pb_test_wait_until (group_caught_up, &g, 60000);
  assert_counts (&g, 4);

  member_stop (&members[0]);
}

#define SLOW_ROUNDS 20
#define SLOW_RTT_MS 50

static void
revoked_while_restoring_cb (PbEngine *engine,
                            GVariant *partitions,
                            gboolean  lost,
                            gpointer  user_data)
{
  if (pb_engine_get_state (engine) == PB_ENGINE_STATE_RESTORING)
    *(gboolean *)user_data = TRUE;
}

static void
assigned_cb (PbEngine *engine,
             GVariant *partitions,
             gpointer  user_data)
{
  *(gboolean *)user_data = TRUE;
}

static gboolean
flag_set (gpointer user_data)
{
  return *(gboolean *)user_data;
}

static void
test_revoked_restoring (Fixture       *f,
                        gconstpointer  user_data)
{
  const char *slow[] = { "restore.max.partition.fetch.bytes", "1", NULL };
  rd_kafka_mock_cluster_t *mcluster = _pb_mock_cluster_get_mock (pb_test_mock_cluster ());
  g_autofree char *changelog = g_strconcat (f->table_name, "-changelog", NULL);
  Member members[2] = { { NULL, }, };
  Group g = { f, members, 1, { 0, } };
  gboolean revoked_while_restoring = FALSE;
  gboolean assigned = FALSE;

  g_test_summary ("Partitions revoked while their restore runs: it writes nothing more of "
                  "them, the member's other partitions are restored again from where they "
                  "stood, and the member that takes them over restores them whole");

  g_free (f->topic);
  f->topic = pb_test_unique ("table-revoked-restoring-source");
  pb_test_create_topic (f->topic, GROUP_PARTITIONS);
  pb_test_create_topic (changelog, GROUP_PARTITIONS);

  /* Each key counted SLOW_ROUNDS times, one record a batch. */
  for (int round = 1; round <= SLOW_ROUNDS; round++)
    for (guint i = 0; i < GROUP_KEYS; i++)
      {
        g_autofree char *key = g_strdup_printf ("page-%u", i);
        g_autofree char *count = g_strdup_printf ("%d", round);
        rd_kafka_headers_t *headers = rd_kafka_headers_new (2);

        rd_kafka_header_add (headers, "paperboy.type", -1, "x", -1);
        rd_kafka_header_add (headers, "paperboy.encoding", -1, "json/1", -1);
        pb_test_produce_full (changelog, key_partition (key), key, count, headers);
      }
  produce_keys (&g);

  /* The first member reads a record of each partition a request, each
   * answered SLOW_RTT_MS late: the second one joins meanwhile. */
  rd_kafka_mock_broker_set_rtt (mcluster, 1, SLOW_RTT_MS);
  member_start_full (&members[0], f, "memory://", 0, 0, slow);
  g_signal_connect (members[0].engine, "partitions-revoked",
                    G_CALLBACK (revoked_while_restoring_cb), &revoked_while_restoring);
  g_signal_connect (members[0].engine, "partitions-assigned", G_CALLBACK (assigned_cb), &assigned);
  pb_test_wait_until (flag_set, &assigned, 60000);
  g_assert_cmpint (pb_engine_get_state (members[0].engine), ==, PB_ENGINE_STATE_RESTORING);
  member_start (&members[1], f, "memory://", 1);
  g.n_members = 2;
  pb_test_wait_until (group_caught_up, &g, 120000);
  rd_kafka_mock_broker_set_rtt (mcluster, 1, 0);

  g_assert_true (revoked_while_restoring);
  assert_counts (&g, SLOW_ROUNDS + 1);

  member_stop (&members[1]);
  member_stop (&members[0]);
}

/* The first file of @dir whose name starts with @prefix and ends with
 * @suffix. */
static char *
find_file (const char *dir,
           const char *prefix,
           const char *suffix)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, prefix) && g_str_has_suffix (name, suffix))
      return g_build_filename (dir, name, NULL);

  g_assert_not_reached ();
}

static void
damage (const char *db,
        const char *kind)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (g_str_has_prefix (kind, "sst"))
    path = find_file (db, "", ".sst");
  else if (g_str_has_prefix (kind, "current"))
    path = g_build_filename (db, "CURRENT", NULL);
  else
    path = find_file (db, "MANIFEST-", "");

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (length, >, 8);

  if (g_str_has_suffix (kind, "-garbage"))
    memset (contents + length / 4, 0xff, length / 2);
  else
    length /= 2;

  g_file_set_contents (path, contents, length, &error);
  g_assert_no_error (error);
}

static void
test_damaged (Fixture       *f,
              gconstpointer  user_data)
{
  const char *kind = user_data;
  g_autofree char *db = g_build_filename (f->dir, f->table_name, NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A rocksdb:// store whose table file, CURRENT or MANIFEST is truncated "
                  "or garbled is wiped and restored from the changelog, with a warning "
                  "naming the table and the damage; with wipe-damaged-store off, the run "
                  "fails with PB_ERROR_STORE_CORRUPT");

  fixture_open (f, "rocksdb://");
  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *key = g_strdup_printf ("k%u", i);
      g_autofree char *value = g_strdup_printf ("%u", i);

      produce (f, key, value);
    }
  fixture_run (f, 50);
  fixture_drop (f);
  damage (db, kind);

  fixture_open (f, "rocksdb://");
  g_assert_true (pb_table_get_wipe_damaged_store (f->table));
  g_test_expect_message ("Paperboy", G_LOG_LEVEL_WARNING, "*wiping the store and restoring it*");
  fixture_restart (f);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (pb_table_get_restored_records (f->table), ==, 50);
  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *key = g_strdup_printf ("k%u", i);
      g_autofree char *value = g_strdup_printf ("int32 %u", i);

      assert_value (f->table, key, value);
    }

  /* Damaged again, once restored. */
  fixture_drop (f);
  damage (db, kind);
  fixture_open (f, "rocksdb://");
  pb_table_set_wipe_damaged_store (f->table, FALSE);
  g_assert_false (pb_engine_run (f->engine, NULL, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_STORE_CORRUPT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, db));
}

/* A handler that reads a global table "rates" and tries to write it. */
#define TEST_TYPE_RATE_READER (test_rate_reader_get_type ())
G_DECLARE_FINAL_TYPE (TestRateReader, test_rate_reader, TEST, RATE_READER, PbHandler)

struct _TestRateReader
{
  PbHandler  parent_instance;
  PbTable   *rates;
  GPtrArray *seen;       /* "KEY=VALUE" read for each record */
  guint      n_refused;  /* set() refused */
};

G_DEFINE_FINAL_TYPE (TestRateReader, test_rate_reader, PB_TYPE_HANDLER)

static gboolean
rate_reader_on_message (PbHandler  *handler,
                        PbMessage  *message,
                        GObject    *context,
                        GError    **error)
{
  TestRateReader *self = TEST_RATE_READER (handler);
  g_autofree char *key = pb_test_bytes_to_string (pb_message_get_key (message));
  g_autoptr(GVariant) rate = pb_table_get (self->rates, key, error);
  g_autoptr(GError) local_error = NULL;

  if (rate == NULL && *error != NULL)
    return FALSE;

  g_ptr_array_add (self->seen, g_strdup_printf ("%s=%s", key,
                                                rate != NULL ? g_variant_get_string (rate, NULL)
                                                             : "none"));
  if (!pb_table_set (self->rates, key, g_variant_new_string ("mine"), &local_error))
    {
      g_assert_error (local_error, PB_ERROR, PB_ERROR_FAILED);
      self->n_refused++;
    }

  return TRUE;
}

static void
test_rate_reader_finalize (GObject *object)
{
  g_ptr_array_unref (TEST_RATE_READER (object)->seen);

  G_OBJECT_CLASS (test_rate_reader_parent_class)->finalize (object);
}

static void
test_rate_reader_class_init (TestRateReaderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_rate_reader_finalize;
  PB_HANDLER_CLASS (klass)->on_message = rate_reader_on_message;
}

static void
test_rate_reader_init (TestRateReader *self)
{
  self->seen = g_ptr_array_new_with_free_func (g_free);
}

#define GLOBAL_MEMBERS 3

typedef struct
{
  PbEngine       *engine;
  PbTable        *rates;
  PbTable        *fees;      /* a second global table */
  TestRateReader *reader;
  PbTestRun      *run;
  GPtrArray      *changes;   /* "KEY=NEW" heard through ::changed */
  guint           restored;
} GlobalMember;

static void
rates_changed_cb (PbTable    *table,
                  const char *key,
                  GVariant   *old_value,
                  GVariant   *new_value,
                  gpointer    user_data)
{
  GlobalMember *m = user_data;

  g_ptr_array_add (m->changes, g_strdup_printf ("%s=%s", key,
                                                new_value != NULL ? g_variant_get_string (new_value, NULL)
                                                                  : "none"));
}

static void
rates_restored_cb (PbTable  *table,
                   gpointer  user_data)
{
  ((GlobalMember *)user_data)->restored++;
}

static gboolean
members_heard (gpointer user_data)
{
  GlobalMember *members = user_data;

  for (guint i = 0; i < GLOBAL_MEMBERS; i++)
    if (members[i].changes->len < 2)
      return FALSE;

  return TRUE;
}

/* Every member's second global table followed its changelog too. */
static gboolean
members_heard_fees (gpointer user_data)
{
  GlobalMember *members = user_data;

  for (guint i = 0; i < GLOBAL_MEMBERS; i++)
    {
      g_autoptr(GVariant) vat = pb_table_get (members[i].fees, "vat", NULL);

      if (vat == NULL || g_strcmp0 (g_variant_get_string (vat, NULL), "0.25") != 0)
        return FALSE;
    }

  return TRUE;
}

static gboolean
members_read (gpointer user_data)
{
  GlobalMember *members = user_data;
  guint n = 0;

  for (guint i = 0; i < GLOBAL_MEMBERS; i++)
    n += members[i].reader->seen->len;

  return n >= 4;
}

static gboolean
members_running (gpointer user_data)
{
  GlobalMember *members = user_data;
  gsize n_held = 0;

  for (guint i = 0; i < GLOBAL_MEMBERS; i++)
    {
      g_autofree int *held = NULL;
      gsize n = 0;

      if (pb_engine_get_state (members[i].engine) != PB_ENGINE_STATE_RUNNING)
        return FALSE;
      held = pb_table_get_partitions (members[i].rates, &n);
      n_held += n;
    }

  /* Each holds every partition of a global table. */
  return n_held == 2 * GLOBAL_MEMBERS;
}

static void
test_global (Fixture       *f,
             gconstpointer  user_data)
{
  g_autofree char *changelog = pb_test_unique ("rates-changelog");
  g_autofree char *fees_changelog = pb_test_unique ("fees-changelog");
  GlobalMember members[GLOBAL_MEMBERS];
  g_autoptr(GError) error = NULL;

  g_test_summary ("A global table is restored in full by every member before it joins, "
                  "whatever its partitions, is read-only for handlers, and follows its "
                  "changelog: an update written elsewhere reaches every member, with "
                  "::changed once per update and member");

  g_free (f->topic);
  f->topic = pb_test_unique ("table-global-source");
  pb_test_create_topic (f->topic, 4);
  pb_test_create_topic (changelog, 2);
  produce_changelog (changelog, "eur", "\"1.00\"", "s");
  produce_changelog (changelog, "usd", "\"1.10\"", "s");
  pb_test_create_topic (fees_changelog, 1);
  produce_changelog (fees_changelog, "vat", "\"0.20\"", "s");

  for (guint i = 0; i < GLOBAL_MEMBERS; i++)
    {
      GlobalMember *m = &members[i];
      g_autofree char *dir = g_strdup_printf ("%s/member-%u", f->dir, i);

      m->engine = pb_test_engine_new (f->group);
      pb_engine_set_state_dir (m->engine, dir);
      m->rates = pb_table_new ("rates", i == 0 ? "rocksdb://" : "memory://");
      pb_table_set_global (m->rates, TRUE);
      pb_table_set_changelog_topic_name (m->rates, changelog);
      pb_engine_register_table (m->engine, m->rates, &error);
      g_assert_no_error (error);
      m->fees = pb_table_new ("fees", "memory://");
      pb_table_set_global (m->fees, TRUE);
      pb_table_set_changelog_topic_name (m->fees, fees_changelog);
      pb_engine_register_table (m->engine, m->fees, &error);
      g_assert_no_error (error);
      m->reader = g_object_new (TEST_TYPE_RATE_READER, "topic", f->topic, NULL);
      m->reader->rates = m->rates;
      pb_engine_add_handler (m->engine, PB_HANDLER (m->reader), &error);
      g_assert_no_error (error);
      m->changes = g_ptr_array_new_with_free_func (g_free);
      m->restored = 0;
      g_signal_connect (m->rates, "changed", G_CALLBACK (rates_changed_cb), m);
      g_signal_connect (m->rates, "restored", G_CALLBACK (rates_restored_cb), m);
      m->run = pb_test_start (m->engine);
    }

  pb_test_wait_until (members_running, members, 60000);
  for (guint i = 0; i < GLOBAL_MEMBERS; i++)
    {
      g_autoptr(GVariant) usd = pb_table_get (members[i].rates, "usd", &error);

      g_assert_no_error (error);
      g_assert_cmpstr (g_variant_get_string (usd, NULL), ==, "1.10");
      g_assert_cmpuint (members[i].restored, ==, 1);
      g_assert_cmpuint (pb_table_get_restored_records (members[i].rates), ==, 2);
    }

  /* Written elsewhere, while they run. */
  produce_changelog (changelog, "usd", "\"1.20\"", "s");
  pb_test_produce_full (changelog, 1, "eur", NULL, NULL);
  pb_test_wait_until (members_heard, members, 60000);
  produce_changelog (fees_changelog, "vat", "\"0.25\"", "s");
  pb_test_wait_until (members_heard_fees, members, 60000);

  /* Handlers read the new values, and cannot write. */
  pb_test_produce (f->topic, 0, "usd", "x");
  pb_test_produce (f->topic, 1, "usd", "x");
  pb_test_produce (f->topic, 2, "eur", "x");
  pb_test_produce (f->topic, 3, "eur", "x");
  pb_test_wait_until (members_read, members, 60000);

  for (guint i = 0; i < GLOBAL_MEMBERS; i++)
    {
      GlobalMember *m = &members[i];
      g_autoptr(GVariant) eur = pb_table_get (m->rates, "eur", &error);

      g_assert_no_error (error);
      g_assert_null (eur);
      g_assert_cmpuint (m->changes->len, ==, 2);
      g_assert_true (g_ptr_array_find_with_equal_func (m->changes, "usd=1.20", g_str_equal, NULL));
      g_assert_true (g_ptr_array_find_with_equal_func (m->changes, "eur=none", g_str_equal, NULL));
      g_assert_cmpuint (m->reader->n_refused, ==, m->reader->seen->len);
      for (guint j = 0; j < m->reader->seen->len; j++)
        {
          const char *seen = g_ptr_array_index (m->reader->seen, j);

          g_assert_true (g_str_equal (seen, "usd=1.20") || g_str_equal (seen, "eur=none"));
        }

      pb_test_finish (m->run, TRUE, &error);
      g_assert_no_error (error);
      g_ptr_array_unref (m->changes);
      g_object_unref (m->reader);
      g_object_unref (m->rates);
      g_object_unref (m->fees);
      g_object_unref (m->engine);
    }
}

static void
test_copartitioned (Fixture       *f,
                    gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  g_test_summary ("A changelog with another number of partitions than the input topics "
                  "fails the run with PB_ERROR_CHANGELOG naming both");

  fixture_open (f, "memory://");
  pb_test_create_topic (pb_table_get_changelog_topic_name (f->table), 3);
  g_assert_false (pb_engine_run (f->engine, NULL, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CHANGELOG);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "3 partitions"));
  g_assert_nonnull (strstr (error->message, " 1:"));
}

static void
test_stop_restoring (Fixture       *f,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  PbTestRun *run;

  g_test_summary ("A stop while the table restores: the run ends cleanly without joining "
                  "its group or handling a record, and the next run restores the table");

  produce (f, "a", "1");
  fixture_open (f, "rocksdb://");
  fixture_run (f, 1);
  for (guint i = 0; i < 2000; i++)
    {
      g_autofree char *key = g_strdup_printf ("k%u", i);

      produce_changelog (pb_table_get_changelog_topic_name (f->table), key, "1", "x");
    }
  produce (f, "b", "2");

  fixture_open (f, "rocksdb://");
  run = pb_test_start (f->engine);
  g_assert_cmpint (pb_engine_get_state (f->engine), ==, PB_ENGINE_STATE_RESTORING);
  pb_engine_stop (f->engine);
  g_assert_true (pb_test_finish (run, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (pb_engine_get_state (f->engine), ==, PB_ENGINE_STATE_STOPPED);
  g_assert_cmpuint (f->writer->n_handled, ==, 0);
  g_assert_cmpint (pb_test_committed (f->group, f->topic, 0), ==, 1);

  /* The store is whole after the next restore, cut short or not. */
  fixture_open (f, "rocksdb://");
  fixture_run (f, 1);
  g_assert_cmpuint (table_size (f->table), ==, 2002);
  assert_value (f->table, "b", "2");
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
  ADD ("register-errors", test_register_errors, NULL);
  ADD ("unopenable", test_unopenable, NULL);
  ADD ("bad-records", test_bad_records, NULL);
  ADD ("count/memory", test_count, "memory://");
  ADD ("count/rocksdb", test_count, "rocksdb://");
  ADD ("replay/exact-state/memory", test_replay, &replay_cases[0]);
  ADD ("replay/exact-state/rocksdb", test_replay, &replay_cases[1]);
  ADD ("replay/at-least-once/memory", test_replay, &replay_cases[2]);
  ADD ("replay/at-least-once/rocksdb", test_replay, &replay_cases[3]);
  ADD ("exact-state-bulk", test_exact_state_bulk, NULL);
  ADD ("exact-state-other-partition", test_exact_state_other_partition, NULL);
  ADD ("two-tables/exact-state/memory", test_two_tables, &replay_cases[0]);
  ADD ("two-tables/exact-state/rocksdb", test_two_tables, &replay_cases[1]);
  ADD ("two-tables/at-least-once/rocksdb", test_two_tables, &replay_cases[3]);
  ADD ("delivery-failure/memory", test_delivery_failure, "memory://");
  ADD ("delivery-failure/rocksdb", test_delivery_failure, "rocksdb://");
  ADD ("produce", test_produce, NULL);
  ADD ("kill", test_kill, NULL);
  ADD ("independent-reader", test_independent_reader, NULL);
  ADD ("group/memory", test_group, "memory://");
  ADD ("group/rocksdb", test_group, "rocksdb://");
  ADD ("standby/memory", test_standby, "memory://");
  ADD ("standby/rocksdb", test_standby, "rocksdb://");
  ADD ("revoked-restoring", test_revoked_restoring, NULL);
  ADD ("copartitioned", test_copartitioned, NULL);
  ADD ("global", test_global, NULL);
  ADD ("damaged/sst-truncated", test_damaged, "sst-truncated");
  ADD ("damaged/sst-garbage", test_damaged, "sst-garbage");
  ADD ("damaged/current-truncated", test_damaged, "current-truncated");
  ADD ("damaged/current-garbage", test_damaged, "current-garbage");
  ADD ("damaged/manifest-truncated", test_damaged, "manifest-truncated");
  ADD ("stop-restoring", test_stop_restoring, NULL);

  return g_test_run ();
}
