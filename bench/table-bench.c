/* table-bench.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Tables against their physical limits, in one invocation on one embedded
 * cluster:
 *
 *   set      pb_table_set() from the engine's main context, each set
 *            delivered to the changelog (and, for rocksdb://, written at
 *            delivery), for memory:// and rocksdb://, against
 *   produce  librdkafka producing the same records (key, JSON value, the
 *            two headers) to the same cluster, every delivery awaited, and
 *   batch    RocksDB WriteBatch puts of the same entries (type + GVariant
 *            bytes), one batch per 1000 entries.
 *
 *   restore  a changelog of --entries entries on --partitions partitions:
 *            memory:// replays it all; rocksdb:// reads it once, then,
 *            after --delta new entries, only those.
 *
 * Rates are medians of --repeat runs; CPU time is the whole process's
 * (the embedded cluster included), per record.
 */


#include <paperboy.h>
#include <json-glib/json-glib.h>
#include <librdkafka/rdkafka.h>
#include <rocksdb/c.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static int n_sets = 200000;
static int n_entries = 1000000;
static int n_delta = 1000;
static int n_partitions = 32;
static int repeat = 3;
static char *only = NULL;

typedef struct
{
  double seconds;
  double cpu;
} Measure;

static double
cpu_now (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
         usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

typedef struct
{
  gint64 began;
  double cpu;
} Clock;

static void
clock_start (Clock *clock)
{
  clock->began = g_get_monotonic_time ();
  clock->cpu = cpu_now ();
}

static Measure
clock_stop (Clock *clock)
{
  Measure m = { (g_get_monotonic_time () - clock->began) / 1e6, cpu_now () - clock->cpu };

  return m;
}

static int
compare_measures (gconstpointer a,
                  gconstpointer b)
{
  double x = ((const Measure *)a)->seconds, y = ((const Measure *)b)->seconds;

  return x < y ? -1 : x > y;
}

static Measure
median (GArray *measures)
{
  g_array_sort (measures, compare_measures);
  return g_array_index (measures, Measure, measures->len / 2);
}

static void
report (const char *name,
        Measure     m,
        int         n,
        Measure     limit,
        const char *limit_name)
{
  double rate = n / m.seconds;

  if (limit.seconds > 0)
    g_print ("%-22s %10.0f /s  %7.2f µs CPU/record  %5.1f %% of %s\n", name, rate,
             m.cpu / n * 1e6, 100.0 * limit.seconds / m.seconds, limit_name);
  else
    g_print ("%-22s %10.0f /s  %7.2f µs CPU/record\n", name, rate, m.cpu / n * 1e6);
}

/* Whether an item of --only names @method or a group of it ("set"). */
static gboolean
wanted (const char *method)
{
  g_auto(GStrv) items = NULL;

  if (only == NULL)
    return TRUE;

  items = g_strsplit (only, ",", -1);
  for (guint i = 0; items[i] != NULL; i++)
    if (g_str_has_prefix (method, items[i]))
      return TRUE;

  return FALSE;
}

/* The records every method writes: key i % 10000, an object value. */

static char *
key_of (int i)
{
  return g_strdup_printf ("page-%d", i % 10000);
}

static GVariant *
value_of (int i)
{
  return g_variant_new_parsed ("(%x, %s)", (gint64)i, "https://example.org/a/page/of/the/site");
}

/* Raw produce */

static void
dr_cb (rd_kafka_t               *rk,
       const rd_kafka_message_t *rkmessage,
       void                     *opaque)
{
  int *delivered = opaque;

  g_assert (rkmessage->err == RD_KAFKA_RESP_ERR_NO_ERROR);
  (*delivered)++;
}

static Measure
raw_produce (PbMockCluster *cluster,
             const char    *topic,
             int            n)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  g_autofree char **jsons = g_new (char *, n);
  g_autofree char **keys = g_new (char *, n);
  char errstr[256];
  int delivered = 0;
  rd_kafka_t *rk;
  Clock clock;
  Measure m;

  /* What a set has ready when it produces. */
  for (int i = 0; i < n; i++)
    {
      g_autoptr(GVariant) value = g_variant_ref_sink (value_of (i));

      keys[i] = key_of (i);
      jsons[i] = json_gvariant_serialize_data (value, NULL);
    }

  rd_kafka_conf_set (conf, "bootstrap.servers", pb_mock_cluster_get_bootstrap_servers (cluster),
                     NULL, 0);
  rd_kafka_conf_set (conf, "enable.idempotence", "true", NULL, 0);
  rd_kafka_conf_set (conf, "partitioner", "murmur2_random", NULL, 0);
  rd_kafka_conf_set_opaque (conf, &delivered);
  rd_kafka_conf_set_dr_msg_cb (conf, dr_cb);
  rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  g_assert (rk != NULL);

  clock_start (&clock);
  for (int i = 0; i < n; i++)
    {
      rd_kafka_headers_t *headers = rd_kafka_headers_new (2);
      rd_kafka_resp_err_t err;

      rd_kafka_header_add (headers, "paperboy.type", -1, "(xs)", -1);
      rd_kafka_header_add (headers, "paperboy.encoding", -1, "json/1", -1);

      while ((err = rd_kafka_producev (rk,
                                       RD_KAFKA_V_TOPIC (topic),
                                       RD_KAFKA_V_KEY (keys[i], strlen (keys[i])),
                                       RD_KAFKA_V_VALUE (jsons[i], strlen (jsons[i])),
                                       RD_KAFKA_V_HEADERS (headers),
                                       RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll (rk, 10);
      g_assert (err == RD_KAFKA_RESP_ERR_NO_ERROR);
      rd_kafka_poll (rk, 0);
    }
  while (delivered < n)
    rd_kafka_poll (rk, 10);
  m = clock_stop (&clock);

  rd_kafka_destroy (rk);
  for (int i = 0; i < n; i++)
    {
      g_free (keys[i]);
      g_free (jsons[i]);
    }

  return m;
}

/* Raw RocksDB */

static Measure
raw_batch (const char *path,
           int         n)
{
  rocksdb_options_t *options = rocksdb_options_create ();
  rocksdb_writeoptions_t *write_options = rocksdb_writeoptions_create ();
  g_autofree char **keys = g_new (char *, n);
  g_autofree GBytes **values = g_new (GBytes *, n);
  rocksdb_writebatch_t *batch;
  char *err = NULL;
  rocksdb_t *db;
  Clock clock;
  Measure m;

  for (int i = 0; i < n; i++)
    {
      g_autoptr(GVariant) value = g_variant_ref_sink (value_of (i));
      GByteArray *bytes = g_byte_array_new ();

      g_byte_array_append (bytes, (const guint8 *)"(xs)", 5);
      g_byte_array_append (bytes, g_variant_get_data (value), g_variant_get_size (value));
      keys[i] = key_of (i);
      values[i] = g_byte_array_free_to_bytes (bytes);
    }

  rocksdb_options_set_create_if_missing (options, 1);
  db = rocksdb_open (options, path, &err);
  g_assert (err == NULL);

  clock_start (&clock);
  batch = rocksdb_writebatch_create ();
  for (int i = 0; i < n; i++)
    {
      gsize size;
      const char *data = g_bytes_get_data (values[i], &size);

      rocksdb_writebatch_put (batch, keys[i], strlen (keys[i]), data, size);
      if (i % 1000 == 999 || i == n - 1)
        {
          rocksdb_write (db, write_options, batch, &err);
          g_assert (err == NULL);
          rocksdb_writebatch_clear (batch);
        }
    }
  m = clock_stop (&clock);

  rocksdb_writebatch_destroy (batch);
  rocksdb_close (db);
  rocksdb_writeoptions_destroy (write_options);
  rocksdb_options_destroy (options);
  for (int i = 0; i < n; i++)
    {
      g_free (keys[i]);
      g_bytes_unref (values[i]);
    }

  return m;
}

/* Sets through an engine */

typedef struct
{
  PbEngine  *engine;
  PbTable   *table;
  char     **keys;     /* made before the clock starts, as raw_produce's */
  GVariant **values;
  int        n;
  int        next;
  gboolean   done;
  Clock      clock;
  Measure    measure;
} SetRun;

static gint64
stored (PbTable *table)
{
  g_autoptr(GVariant) offsets = pb_store_get_offsets (pb_table_get_store (table), NULL);
  GVariantIter iter;
  gint64 sum = 0, offset;
  int partition;

  g_variant_iter_init (&iter, offsets);
  while (g_variant_iter_next (&iter, "{ix}", &partition, &offset))
    sum += offset;

  return sum;
}

/* Every set is in the store, so was delivered. */
static gboolean
check_done_cb (gpointer user_data)
{
  SetRun *run = user_data;

  if (stored (run->table) < run->n + 1)
    return G_SOURCE_CONTINUE;

  run->measure = clock_stop (&run->clock);
  run->done = TRUE;
  pb_engine_stop (run->engine);

  return G_SOURCE_REMOVE;
}

static gboolean
set_some_cb (gpointer user_data)
{
  SetRun *run = user_data;
  g_autoptr(GError) error = NULL;

  /* In slices, as handlers would: the loop serves deliveries between. */
  for (int end = MIN (run->next + 5000, run->n); run->next < end; run->next++)
    if (!pb_table_set (run->table, run->keys[run->next], run->values[run->next], &error))
      g_error ("%s", error->message);

  if (run->next < run->n)
    return G_SOURCE_CONTINUE;

  g_timeout_add (10, check_done_cb, run);

  return G_SOURCE_REMOVE;
}

/* The first record produced waits for the changelog's metadata and the
 * producer's id: the clock starts once it was stored. */
static gboolean
warm_cb (gpointer user_data)
{
  SetRun *run = user_data;

  if (stored (run->table) < 1)
    return G_SOURCE_CONTINUE;

  clock_start (&run->clock);
  g_idle_add (set_some_cb, run);

  return G_SOURCE_REMOVE;
}

static void
restored_cb (PbTable *table,
             SetRun  *run)
{
  g_autoptr(GError) error = NULL;

  clock_start (&run->clock);
  if (!pb_table_set (table, "warm", g_variant_new_int32 (0), &error))
    g_error ("%s", error->message);
  g_timeout_add (1, warm_cb, run);
}

static Measure
engine_sets (PbMockCluster *cluster,
             const char    *uri,
             const char    *state_dir,
             int            n)
{
  g_autofree char *name = g_strdup_printf ("bench-%d", g_random_int_range (0, G_MAXINT));
  g_autofree char *source = g_strconcat (name, "-source", NULL);
  g_autoptr(PbHandler) handler = NULL;
  g_autoptr(GError) error = NULL;
  SetRun run = { 0, };

  /* A table has as many partitions as its input. */
  pb_mock_cluster_create_topic (cluster, source, n_partitions, &error);
  g_assert_no_error (error);

  run.n = n;
  run.keys = g_new (char *, n + 1);
  run.values = g_new (GVariant *, n);
  for (int i = 0; i < n; i++)
    {
      run.keys[i] = key_of (i);
      run.values[i] = g_variant_ref_sink (value_of (i));
    }
  run.keys[n] = NULL;
  run.engine = g_object_new (PB_TYPE_ENGINE, "mock-cluster", cluster, "group-id", name,
                             "state-dir", state_dir, NULL);
  pb_engine_set_config (run.engine, "session.timeout.ms", "6000", NULL);
  run.table = pb_table_new (name, uri);
  pb_table_set_changelog_topic_num_partitions (run.table, n_partitions);
  pb_engine_register_table (run.engine, run.table, &error);
  g_assert_no_error (error);
  handler = g_object_new (PB_TYPE_HANDLER, "topic", source, NULL);
  pb_engine_add_handler (run.engine, handler, &error);
  g_assert_no_error (error);
  g_signal_connect (run.table, "restored", G_CALLBACK (restored_cb), &run);

  pb_engine_run (run.engine, NULL, &error);
  g_assert_no_error (error);
  g_assert (run.done);

  g_object_unref (run.table);
  g_object_unref (run.engine);
  g_strfreev (run.keys);
  for (int i = 0; i < n; i++)
    g_variant_unref (run.values[i]);
  g_free (run.values);

  return run.measure;
}

/* Restore */

static void
fill_changelog (PbMockCluster *cluster,
                const char    *topic,
                int            first,
                int            n)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  char errstr[256];
  int delivered = 0;
  rd_kafka_t *rk;

  rd_kafka_conf_set (conf, "bootstrap.servers", pb_mock_cluster_get_bootstrap_servers (cluster),
                     NULL, 0);
  rd_kafka_conf_set (conf, "linger.ms", "20", NULL, 0);
  rd_kafka_conf_set_opaque (conf, &delivered);
  rd_kafka_conf_set_dr_msg_cb (conf, dr_cb);
  rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  g_assert (rk != NULL);

  for (int i = first; i < first + n; i++)
    {
      g_autofree char *key = g_strdup_printf ("entry-%d", i);
      g_autoptr(GVariant) value = g_variant_ref_sink (value_of (i));
      g_autofree char *json = json_gvariant_serialize_data (value, NULL);
      rd_kafka_headers_t *headers = rd_kafka_headers_new (2);

      rd_kafka_header_add (headers, "paperboy.type", -1, "(xs)", -1);
      rd_kafka_header_add (headers, "paperboy.encoding", -1, "json/1", -1);
      while (rd_kafka_producev (rk,
                                RD_KAFKA_V_TOPIC (topic),
                                RD_KAFKA_V_KEY (key, strlen (key)),
                                RD_KAFKA_V_VALUE (json, strlen (json)),
                                RD_KAFKA_V_HEADERS (headers),
                                RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll (rk, 10);
      rd_kafka_poll (rk, 0);
    }
  while (delivered < n)
    rd_kafka_poll (rk, 10);

  rd_kafka_destroy (rk);
}

/* The changelog holds all it was given: the mock drops old data silently. */
static void
check_watermarks (PbMockCluster *cluster,
                  const char    *topic,
                  gint64         expected)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  char errstr[256];
  gint64 total = 0;
  rd_kafka_t *rk;

  rd_kafka_conf_set (conf, "bootstrap.servers", pb_mock_cluster_get_bootstrap_servers (cluster),
                     NULL, 0);
  rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  for (int i = 0; i < n_partitions; i++)
    {
      gint64 low, high;

      g_assert (rd_kafka_query_watermark_offsets (rk, topic, i, &low, &high, 10000) == 0);
      if (low != 0)
        g_error ("%s[%d] starts at %" G_GINT64_FORMAT ": the cluster dropped records; "
                 "use more partitions", topic, i, low);
      total += high;
    }
  rd_kafka_destroy (rk);

  if (total != expected)
    g_error ("%s holds %" G_GINT64_FORMAT " records, not %" G_GINT64_FORMAT, topic, total, expected);
}

static Measure
load (PbMockCluster *cluster,
      const char    *name,
      const char    *uri,
      guint64        expected_records)
{
  g_autoptr(PbTable) table = pb_table_new (name, uri);
  g_autoptr(GError) error = NULL;
  Clock clock;
  Measure m;

  clock_start (&clock);
  pb_table_load (table, pb_mock_cluster_get_bootstrap_servers (cluster), NULL, &error);
  m = clock_stop (&clock);
  g_assert_no_error (error);
  g_assert_cmpuint (pb_table_get_restored_records (table), ==, expected_records);
  pb_table_close (table);

  return m;
}

static void
remove_tree (const char *path)
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

      remove_tree (child);
    }
  g_rmdir (path);
}

int
main (int   argc,
      char *argv[])
{
  const GOptionEntry entries[] = {
    { "sets", 0, 0, G_OPTION_ARG_INT, &n_sets, "Sets per run (200000)", "N" },
    { "entries", 0, 0, G_OPTION_ARG_INT, &n_entries, "Changelog entries to restore (1000000)", "N" },
    { "delta", 0, 0, G_OPTION_ARG_INT, &n_delta, "New entries before the delta restore (1000)", "N" },
    { "partitions", 0, 0, G_OPTION_ARG_INT, &n_partitions, "Changelog partitions (32)", "N" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat, "Runs per method; medians are reported (3)", "N" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
      "Only the methods named (set-raw,set-memory,set-rocksdb,restore)", "LIST" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(PbMockCluster) cluster = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  dir = g_dir_make_tmp ("paperboy-table-bench-XXXXXX", NULL);
  cluster = pb_mock_cluster_new (1, &error);
  g_assert_no_error (error);

  if (wanted ("set-raw") || wanted ("set-memory") || wanted ("set-rocksdb"))
    {
      g_autoptr(GArray) produce = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) batch = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) memory = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) rocksdb = g_array_new (FALSE, FALSE, sizeof (Measure));

      g_print ("set(): %d sets per run, %d changelog partitions, medians of %d runs\n",
               n_sets, n_partitions, repeat);

      /* Interleaved, so that the machine's noise hits them alike. */
      for (int r = 0; r < repeat; r++)
        {
          g_autofree char *topic = g_strdup_printf ("raw-%d", r);
          g_autofree char *path = g_strdup_printf ("%s/raw-%d", dir, r);
          Measure m;

          pb_mock_cluster_create_topic (cluster, topic, n_partitions, &error);
          g_assert_no_error (error);
          if (wanted ("set-raw"))
            {
              m = raw_produce (cluster, topic, n_sets);
              g_array_append_val (produce, m);
              m = raw_batch (path, n_sets);
              g_array_append_val (batch, m);
            }
          if (wanted ("set-memory"))
            {
              m = engine_sets (cluster, "memory://", dir, n_sets);
              g_array_append_val (memory, m);
            }
          if (wanted ("set-rocksdb"))
            {
              m = engine_sets (cluster, "rocksdb://", dir, n_sets);
              g_array_append_val (rocksdb, m);
            }
        }

      if (produce->len > 0)
        {
          report ("raw produce", median (produce), n_sets, (Measure) { 0 }, NULL);
          report ("raw WriteBatch", median (batch), n_sets, (Measure) { 0 }, NULL);
        }
      if (memory->len > 0)
        report ("set memory://", median (memory), n_sets,
                produce->len > 0 ? median (produce) : (Measure) { 0 }, "raw produce");
      /* Its limit: producing, then writing, the same records. */
      if (rocksdb->len > 0)
        report ("set rocksdb://", median (rocksdb), n_sets,
                produce->len > 0 ? (Measure) { median (produce).seconds + median (batch).seconds, 0 }
                                 : (Measure) { 0 },
                "produce + WriteBatch");
    }

  if (wanted ("restore"))
    {
      g_autofree char *name = g_strdup ("restore-bench");
      g_autofree char *topic = g_strconcat (name, "-changelog", NULL);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *rocksdb_uri = g_strconcat ("rocksdb://", path, NULL);
      g_autoptr(GArray) full = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) delta = g_array_new (FALSE, FALSE, sizeof (Measure));
      Measure first, m;
      int total = n_entries;

      pb_mock_cluster_create_topic (cluster, topic, n_partitions, &error);
      g_assert_no_error (error);
      fill_changelog (cluster, topic, 0, n_entries);
      check_watermarks (cluster, topic, n_entries);

      g_print ("restore: %d entries on %d partitions, then %d more; medians of %d runs\n",
               n_entries, n_partitions, n_delta, repeat);

      first = load (cluster, name, rocksdb_uri, n_entries);
      for (int r = 0; r < repeat; r++)
        {
          m = load (cluster, name, "memory://", total);
          g_array_append_val (full, m);

          fill_changelog (cluster, topic, total, n_delta);
          total += n_delta;
          check_watermarks (cluster, topic, total);
          m = load (cluster, name, rocksdb_uri, n_delta);
          g_array_append_val (delta, m);
        }

      report ("restore rocksdb:// all", first, n_entries, (Measure) { 0 }, NULL);
      report ("restore memory:// all", median (full), total, (Measure) { 0 }, NULL);
      g_print ("%-22s %10.3f s    %d records  %.0f× faster than the full memory:// replay\n",
               "restore rocksdb:// Δ", median (delta).seconds, n_delta,
               median (full).seconds / median (delta).seconds);
    }

  remove_tree (dir);

  return 0;
}
