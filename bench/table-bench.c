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
 *   set, N members
 *            the same sets by the N members of one group (--members, 3),
 *            each on a thread of its own and setting the keys of the
 *            partitions it holds, against one member: aggregate sets/s.
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
static int group_members = 3;
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
    g_print ("%-28s %10.0f /s  %7.2f µs CPU/record  %5.1f %% of %s\n", name, rate,
             m.cpu / n * 1e6, 100.0 * limit.seconds / m.seconds, limit_name);
  else
    g_print ("%-28s %10.0f /s  %7.2f µs CPU/record\n", name, rate, m.cpu / n * 1e6);
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

/* The rate of @measures against that of @baseline in the same round, the
 * median over the rounds: on a noisy machine, steadier than the ratio of
 * the medians, as a round's conditions hit both alike. Before median()
 * sorts them. */
static void
report_paired (const char *name,
               GArray     *measures,
               GArray     *baseline,
               const char *baseline_name)
{
  g_autoptr(GArray) ratios = g_array_new (FALSE, FALSE, sizeof (double));

  for (guint i = 0; i < MIN (measures->len, baseline->len); i++)
    {
      double ratio = 100.0 * g_array_index (baseline, Measure, i).seconds /
                     g_array_index (measures, Measure, i).seconds;

      g_array_append_val (ratios, ratio);
    }
  if (ratios->len == 0)
    return;

  g_array_sort (ratios, compare_doubles);
  g_print ("%-28s %5.1f %% of %s, round by round (median; %.1f to %.1f %%)\n", name,
           ratios->len % 2 == 1
             ? g_array_index (ratios, double, ratios->len / 2)
             : (g_array_index (ratios, double, ratios->len / 2 - 1) +
                g_array_index (ratios, double, ratios->len / 2)) / 2,
           baseline_name, g_array_index (ratios, double, 0),
           g_array_index (ratios, double, ratios->len - 1));
}

/* Adds @m to @measures; each run's figures are logged, for
 * G_MESSAGES_DEBUG=all. */
static void
keep (GArray     *measures,
      const char *name,
      Measure     m,
      int         n)
{
  g_array_append_val (measures, m);
  g_debug ("%s, run %u: %.0f /s, %.2f µs CPU/record", name, measures->len,
           n / m.seconds, m.cpu / n * 1e6);
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

/* Records counted by a handler, under each processing guarantee */

#define BENCH_TYPE_COUNTER (bench_counter_get_type ())
G_DECLARE_FINAL_TYPE (BenchCounter, bench_counter, BENCH, COUNTER, PbHandler)

struct _BenchCounter
{
  PbHandler  parent_instance;
  PbTable   *table;
  PbEngine  *engine;
  int        n;
  int        handled;
  gboolean   done;
  Clock      clock;
  Measure    measure;
};

G_DEFINE_FINAL_TYPE (BenchCounter, bench_counter, PB_TYPE_HANDLER)

static gboolean
bench_counter_on_message (PbHandler  *handler,
                          PbMessage  *message,
                          GObject    *context,
                          GError    **error)
{
  BenchCounter *self = BENCH_COUNTER (handler);
  GBytes *key_bytes = pb_message_get_key (message);
  char key[32];
  gsize size = MIN (g_bytes_get_size (key_bytes), sizeof key - 1);
  g_autoptr(GVariant) count = NULL;

  /* The clock starts with the first record. */
  if (self->handled++ == 0)
    clock_start (&self->clock);

  memcpy (key, g_bytes_get_data (key_bytes, NULL), size);
  key[size] = '\0';
  count = pb_table_get (self->table, key, error);
  if (count == NULL && *error != NULL)
    return FALSE;

  return pb_table_set (self->table, key,
                       g_variant_new_int64 (count != NULL ? g_variant_get_int64 (count) + 1 : 1),
                       error);
}

static void
bench_counter_class_init (BenchCounterClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = bench_counter_on_message;
}

static void
bench_counter_init (BenchCounter *self)
{
}

/* Every change is in the store, so was delivered. */
static gboolean
counted_cb (gpointer user_data)
{
  BenchCounter *self = user_data;

  if (self->handled < self->n || stored (self->table) < self->n)
    return G_SOURCE_CONTINUE;

  self->measure = clock_stop (&self->clock);
  self->done = TRUE;
  pb_engine_stop (self->engine);

  return G_SOURCE_REMOVE;
}

/* A new group counts the @n records of @source into a new table. */
static Measure
engine_counts (PbMockCluster         *cluster,
               const char            *source,
               const char            *uri,
               const char            *state_dir,
               PbProcessingGuarantee  guarantee,
               int                    n)
{
  g_autofree char *name = g_strdup_printf ("count-%d", g_random_int_range (0, G_MAXINT));
  g_autoptr(BenchCounter) counter = NULL;
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(PbTable) table = NULL;
  g_autoptr(GError) error = NULL;

  engine = g_object_new (PB_TYPE_ENGINE, "mock-cluster", cluster, "group-id", name,
                         "state-dir", state_dir, "processing-guarantee", guarantee, NULL);
  pb_engine_set_config (engine, "session.timeout.ms", "6000", NULL);
  table = pb_table_new (name, uri);
  pb_table_set_changelog_topic_num_partitions (table, n_partitions);
  pb_engine_register_table (engine, table, &error);
  g_assert_no_error (error);
  counter = g_object_new (BENCH_TYPE_COUNTER, "topic", source, NULL);
  counter->table = table;
  counter->engine = engine;
  counter->n = n;
  pb_engine_add_handler (engine, PB_HANDLER (counter), &error);
  g_assert_no_error (error);
  g_timeout_add (10, counted_cb, counter);

  pb_engine_run (engine, NULL, &error);
  g_assert_no_error (error);
  g_assert (counter->done);

  return counter->measure;
}

/* Sets by the members of a group, each on a thread of its own */

typedef struct _SetGroup SetGroup;

typedef struct
{
  SetGroup     *group;
  guint         index;
  GThread      *thread;
  GMainContext *context;
  PbEngine     *engine;
  PbTable      *table;
  guint8       *owned;       /* by partition, once started */
  GArray       *mine;        /* int: the sets of its keys */
  guint         next;
  gint64        base;
  int           held;        /* atomic: the table partitions it holds */
} GroupMember;

struct _SetGroup
{
  PbMockCluster *cluster;
  const char    *uri;
  const char    *dir;
  char          *name;
  char          *source;
  char         **keys;
  GVariant     **values;
  int            n;
  GroupMember   *members;
  guint          n_members;
  int            done;       /* atomic: members whose sets were all stored */
};

/* The changelog offsets its store holds, for the partitions it holds. */
static gint64
stored_owned (GroupMember *m)
{
  g_autoptr(GVariant) offsets = pb_store_get_offsets (pb_table_get_store (m->table), NULL);
  GVariantIter iter;
  gint64 sum = 0, offset;
  int partition;

  g_variant_iter_init (&iter, offsets);
  while (g_variant_iter_next (&iter, "{ix}", &partition, &offset))
    if (partition >= 0 && partition < n_partitions && m->owned[partition])
      sum += offset;

  return sum;
}

/* A source on the member's context (g_timeout_add() would use the
 * global default one). */
static void
member_add (GroupMember *m,
            guint        interval_ms,
            GSourceFunc  func)
{
  GSource *source = interval_ms > 0 ? g_timeout_source_new (interval_ms) : g_idle_source_new ();

  g_source_set_callback (source, func, m, NULL);
  g_source_attach (source, m->context);
  g_source_unref (source);
}

static gboolean
member_held_cb (gpointer user_data)
{
  GroupMember *m = user_data;
  g_autofree int *held = NULL;
  gsize n = 0;

  if (pb_engine_get_state (m->engine) == PB_ENGINE_STATE_RUNNING)
    held = pb_table_get_partitions (m->table, &n);
  g_atomic_int_set (&m->held, (int)n);

  return G_SOURCE_CONTINUE;
}

static gboolean
member_check_done_cb (gpointer user_data)
{
  GroupMember *m = user_data;

  if (stored_owned (m) < m->base + (gint64)m->mine->len)
    return G_SOURCE_CONTINUE;

  g_atomic_int_inc (&m->group->done);

  return G_SOURCE_REMOVE;
}

static gboolean
member_set_some_cb (gpointer user_data)
{
  GroupMember *m = user_data;
  SetGroup *g = m->group;
  g_autoptr(GError) error = NULL;

  for (guint end = MIN (m->next + 5000, m->mine->len); m->next < end; m->next++)
    {
      int i = g_array_index (m->mine, int, m->next);

      if (!pb_table_set (m->table, g->keys[i], g->values[i], &error))
        g_error ("%s", error->message);
    }

  if (m->next < m->mine->len)
    return G_SOURCE_CONTINUE;

  member_add (m, 10, member_check_done_cb);

  return G_SOURCE_REMOVE;
}

/* Sets the keys of the partitions it holds. */
static gboolean
member_start_cb (gpointer user_data)
{
  GroupMember *m = user_data;
  SetGroup *g = m->group;
  g_autofree int *held = NULL;
  gsize n = 0;

  held = pb_table_get_partitions (m->table, &n);
  for (gsize i = 0; i < n; i++)
    m->owned[held[i]] = 1;
  for (int i = 0; i < g->n; i++)
    if (m->owned[pb_table_get_partition_for_key (m->table, g->keys[i])])
      g_array_append_val (m->mine, i);
  m->base = stored_owned (m);
  member_add (m, 0, member_set_some_cb);

  return G_SOURCE_REMOVE;
}

static gboolean
member_stop_cb (gpointer user_data)
{
  pb_engine_stop (((GroupMember *)user_data)->engine);

  return G_SOURCE_REMOVE;
}

static gpointer
member_thread (gpointer user_data)
{
  GroupMember *m = user_data;
  SetGroup *g = m->group;
  g_autofree char *dir = g_strdup_printf ("%s/%s-member-%u", g->dir, g->name, m->index);
  g_autoptr(PbHandler) handler = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (m->context);

  m->engine = g_object_new (PB_TYPE_ENGINE, "mock-cluster", g->cluster, "group-id", g->name,
                            "state-dir", dir, NULL);
  pb_engine_set_config (m->engine, "session.timeout.ms", "6000", NULL);
  m->table = pb_table_new (g->name, g->uri);
  pb_engine_register_table (m->engine, m->table, &error);
  g_assert_no_error (error);
  handler = g_object_new (PB_TYPE_HANDLER, "topic", g->source, NULL);
  pb_engine_add_handler (m->engine, handler, &error);
  g_assert_no_error (error);
  member_add (m, 50, member_held_cb);

  pb_engine_run (m->engine, NULL, &error);
  g_assert_no_error (error);

  g_clear_object (&m->table);
  g_clear_object (&m->engine);
  g_main_context_pop_thread_default (m->context);

  return NULL;
}

/* Whether every partition is held by one member, each holding some. */
static gboolean
group_settled (SetGroup *g)
{
  int sum = 0;

  for (guint i = 0; i < g->n_members; i++)
    {
      int held = g_atomic_int_get (&g->members[i].held);

      if (held == 0)
        return FALSE;
      sum += held;
    }

  return sum == n_partitions;
}

static Measure
group_sets (PbMockCluster *cluster,
            const char    *uri,
            const char    *dir,
            int            n,
            guint          n_members)
{
  g_autoptr(GError) error = NULL;
  SetGroup g = { cluster, uri, dir, };
  gint64 settled_since = 0;
  Clock clock;
  Measure m;

  g.name = g_strdup_printf ("bench-group-%d", g_random_int_range (0, G_MAXINT));
  g.source = g_strconcat (g.name, "-source", NULL);
  pb_mock_cluster_create_topic (cluster, g.source, n_partitions, &error);
  g_assert_no_error (error);

  g.n = n;
  g.keys = g_new (char *, n + 1);
  g.values = g_new (GVariant *, n);
  for (int i = 0; i < n; i++)
    {
      g.keys[i] = key_of (i);
      g.values[i] = g_variant_ref_sink (value_of (i));
    }
  g.keys[n] = NULL;

  g.n_members = n_members;
  g.members = g_new0 (GroupMember, n_members);
  for (guint i = 0; i < n_members; i++)
    {
      GroupMember *member = &g.members[i];

      member->group = &g;
      member->index = i;
      member->context = g_main_context_new ();
      member->owned = g_new0 (guint8, n_partitions);
      member->mine = g_array_new (FALSE, FALSE, sizeof (int));
      member->thread = g_thread_new ("bench-member", member_thread, member);
    }

  /* The group settled: the same assignment for a second. */
  while (settled_since == 0 || g_get_monotonic_time () - settled_since < G_USEC_PER_SEC)
    {
      g_usleep (20000);
      if (!group_settled (&g))
        settled_since = 0;
      else if (settled_since == 0)
        settled_since = g_get_monotonic_time ();
    }

  clock_start (&clock);
  for (guint i = 0; i < n_members; i++)
    member_add (&g.members[i], 0, member_start_cb);
  while (g_atomic_int_get (&g.done) < (int)n_members)
    g_usleep (1000);
  m = clock_stop (&clock);

  for (guint i = 0; i < n_members; i++)
    member_add (&g.members[i], 0, member_stop_cb);
  for (guint i = 0; i < n_members; i++)
    {
      GroupMember *member = &g.members[i];

      g_thread_join (member->thread);
      g_main_context_unref (member->context);
      g_free (member->owned);
      g_array_unref (member->mine);
    }
  g_free (g.members);
  g_strfreev (g.keys);
  for (int i = 0; i < n; i++)
    g_variant_unref (g.values[i]);
  g_free (g.values);
  g_free (g.source);
  g_free (g.name);

  return m;
}

/* Restore */

/* Records @first to @first + @n of a changelog (keys "entry-<i>", the
 * sets' values and headers), or, with @views, of a topic of page views
 * (keys as the sets', on their partitions). */
static void
fill_records (PbMockCluster *cluster,
              const char    *topic,
              int            first,
              int            n,
              gboolean       views)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  char errstr[256];
  int delivered = 0;
  rd_kafka_t *rk;

  rd_kafka_conf_set (conf, "bootstrap.servers", pb_mock_cluster_get_bootstrap_servers (cluster),
                     NULL, 0);
  rd_kafka_conf_set (conf, "linger.ms", "20", NULL, 0);
  if (views)
    rd_kafka_conf_set (conf, "partitioner", "murmur2_random", NULL, 0);
  rd_kafka_conf_set_opaque (conf, &delivered);
  rd_kafka_conf_set_dr_msg_cb (conf, dr_cb);
  rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  g_assert (rk != NULL);

  for (int i = first; i < first + n; i++)
    {
      g_autofree char *key = views ? key_of (i) : g_strdup_printf ("entry-%d", i);
      g_autoptr(GVariant) value = views ? NULL : g_variant_ref_sink (value_of (i));
      g_autofree char *json = views ? g_strdup ("view") : json_gvariant_serialize_data (value, NULL);
      rd_kafka_headers_t *headers = rd_kafka_headers_new (2);

      if (!views)
        {
          rd_kafka_header_add (headers, "paperboy.type", -1, "(xs)", -1);
          rd_kafka_header_add (headers, "paperboy.encoding", -1, "json/1", -1);
        }
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
    { "members", 0, 0, G_OPTION_ARG_INT, &group_members, "Members of the group of set-group-* (3)", "N" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
      "Only the methods named (set-raw,set-memory,set-rocksdb,set-group-memory,"
      "set-group-rocksdb,count-memory,count-rocksdb,restore)", "LIST" },
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

  if (wanted ("set-raw") || wanted ("set-memory") || wanted ("set-rocksdb") ||
      wanted ("set-group-memory") || wanted ("set-group-rocksdb"))
    {
      g_autoptr(GArray) produce = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) batch = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) memory = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) rocksdb = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) group_memory = g_array_new (FALSE, FALSE, sizeof (Measure));
      g_autoptr(GArray) group_rocksdb = g_array_new (FALSE, FALSE, sizeof (Measure));

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
              keep (produce, "raw produce", m, n_sets);
              m = raw_batch (path, n_sets);
              keep (batch, "raw WriteBatch", m, n_sets);
            }
          if (wanted ("set-memory"))
            {
              m = engine_sets (cluster, "memory://", dir, n_sets);
              keep (memory, "set memory://", m, n_sets);
            }
          if (wanted ("set-rocksdb"))
            {
              m = engine_sets (cluster, "rocksdb://", dir, n_sets);
              keep (rocksdb, "set rocksdb://", m, n_sets);
            }
          if (wanted ("set-group-memory"))
            {
              m = group_sets (cluster, "memory://", dir, n_sets, group_members);
              keep (group_memory, "set group memory://", m, n_sets);
            }
          if (wanted ("set-group-rocksdb"))
            {
              m = group_sets (cluster, "rocksdb://", dir, n_sets, group_members);
              keep (group_rocksdb, "set group rocksdb://", m, n_sets);
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
      if (group_memory->len > 0)
        {
          g_autofree char *name = g_strdup_printf ("set memory://, %d members", group_members);

          report (name, median (group_memory), n_sets,
                  memory->len > 0 ? median (memory) : (Measure) { 0 }, "one member");
        }
      if (group_rocksdb->len > 0)
        {
          g_autofree char *name = g_strdup_printf ("set rocksdb://, %d members", group_members);

          report (name, median (group_rocksdb), n_sets,
                  rocksdb->len > 0 ? median (rocksdb) : (Measure) { 0 }, "one member");
        }
    }

  if (wanted ("count-memory") || wanted ("count-rocksdb"))
    {
      static const char *uris[] = { "memory://", "rocksdb://" };
      static const char *methods[] = { "count-memory", "count-rocksdb" };
      GArray *measures[2][2];
      g_autofree char *source = g_strdup ("count-source");

      pb_mock_cluster_create_topic (cluster, source, n_partitions, &error);
      g_assert_no_error (error);
      fill_records (cluster, source, 0, n_sets, TRUE);
      for (int u = 0; u < 2; u++)
        for (int g = 0; g < 2; g++)
          measures[u][g] = g_array_new (FALSE, FALSE, sizeof (Measure));

      g_print ("count: a handler counts %d records into %d keys; medians of %d runs\n",
               n_sets, MIN (n_sets, 10000), repeat);

      /* Interleaved, so that the machine's noise hits them alike, and
       * each guarantee first every other round: a run leaves the process
       * (its heap, the cluster's topics) busier for the next one. */
      for (int r = 0; r < repeat; r++)
        for (int u = 0; u < 2; u++)
          for (int k = 0; k < 2 && wanted (methods[u]); k++)
            {
              int g = r % 2 == 0 ? k : 1 - k;
              Measure m = engine_counts (cluster, source, uris[u], dir,
                                         g == 0 ? PB_PROCESSING_GUARANTEE_AT_LEAST_ONCE
                                                : PB_PROCESSING_GUARANTEE_EXACT_STATE, n_sets);

              keep (measures[u][g], g == 0 ? "count at-least-once" : "count exact-state", m,
                    n_sets);
            }

      for (int u = 0; u < 2; u++)
        {
          g_autofree char *alo = g_strdup_printf ("count %s at-least-once", uris[u]);
          g_autofree char *exact = g_strdup_printf ("count %s exact-state", uris[u]);

          if (measures[u][0]->len > 0)
            {
              g_autofree char *paired = g_strdup_printf ("count %s paired", uris[u]);

              report_paired (paired, measures[u][1], measures[u][0], "at-least-once");
              report (alo, median (measures[u][0]), n_sets, (Measure) { 0 }, NULL);
              report (exact, median (measures[u][1]), n_sets, median (measures[u][0]),
                      "at-least-once");
            }
          g_array_unref (measures[u][0]);
          g_array_unref (measures[u][1]);
        }
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
      fill_records (cluster, topic, 0, n_entries, FALSE);
      check_watermarks (cluster, topic, n_entries);

      g_print ("restore: %d entries on %d partitions, then %d more; medians of %d runs\n",
               n_entries, n_partitions, n_delta, repeat);

      first = load (cluster, name, rocksdb_uri, n_entries);
      for (int r = 0; r < repeat; r++)
        {
          m = load (cluster, name, "memory://", total);
          g_array_append_val (full, m);

          fill_records (cluster, topic, total, n_delta, FALSE);
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
