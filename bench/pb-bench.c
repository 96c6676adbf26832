/* pb-bench.c: consumption throughput benchmark helper
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One executable, several modes (the driver, bench/consume-bench, runs
 * each in a process of its own):
 *
 *   pb-bench mock [--topic T] [--partitions P] [--brokers B] [--exit-on-eof]
 *       Hosts a PbMockCluster, creates the topic, prints the bootstrap
 *       servers on its first stdout line and serves until SIGTERM/SIGINT
 *       (or, with --exit-on-eof, until stdin is closed).
 *
 *   pb-bench produce --bootstrap B [--topic T] [--count N] [--size S]
 *       Produces N records (keys "k<i>", values of S bytes) with
 *       rd_kafka_producev(), flushes, and checks with the watermarks that
 *       all of them are retained.
 *
 *   pb-bench bare   --bootstrap B --group G [--topic T] [--count N] [-X key=value]...
 *       A librdkafka consumer woken by the consumer queue's io-event on a
 *       GLib fd source, draining with rd_kafka_consumer_poll (rk, 0).
 *
 *   pb-bench engine --bootstrap B --group G [--topic T] [--count N] [-X key=value]...
 *       A PbEngine (default mode) with a no-op C handler.
 *
 * The consumer modes print one line "RESULT {json}" on stdout.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>
#include <librdkafka/rdkafka.h>
#include <paperboy.h>

#define DEFAULT_TOPIC       "bench"
#define DEFAULT_PARTITIONS  32
#define DEFAULT_COUNT       1000000
#define DEFAULT_SIZE        100
/* A consumer that sees no new record for this long gives up
 * (PB_BENCH_STALL_TIMEOUT overrides it, in seconds). */
#define DEFAULT_STALL_TIMEOUT_S 30

static gint64
stall_timeout_us (void)
{
  const char *env = g_getenv ("PB_BENCH_STALL_TIMEOUT");
  guint64 s = DEFAULT_STALL_TIMEOUT_S;

  if (env != NULL)
    g_ascii_string_to_unsigned (env, 10, 1, 3600, &s, NULL);

  return (gint64)s * G_USEC_PER_SEC;
}

typedef struct
{
  const char *bootstrap;
  const char *group;
  const char *topic;
  int         partitions;
  int         brokers;
  gint64      count;
  int         size;
  gboolean    exit_on_eof;
  GPtrArray  *config;    /* "key=value" */
} Options;

static void
die (const char *format,
     ...) G_GNUC_PRINTF (1, 2) G_GNUC_NORETURN;

static void
die (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  fputs ("pb-bench: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
  exit (1);
}

static double
seconds (gint64 us)
{
  return (double)us / G_USEC_PER_SEC;
}

static void
split_config (const char  *entry,
              char       **key,
              char       **value)
{
  const char *eq = strchr (entry, '=');

  if (eq == NULL || eq == entry)
    die ("bad -X argument “%s”: expected key=value", entry);

  *key = g_strndup (entry, eq - entry);
  *value = g_strdup (eq + 1);
}

/* Applies the -X key=value options to a librdkafka configuration. */
static void
conf_set_extra (rd_kafka_conf_t *conf,
                const Options   *opts)
{
  char errstr[512];

  for (guint i = 0; i < opts->config->len; i++)
    {
      g_autofree char *k = NULL;
      g_autofree char *v = NULL;

      split_config (g_ptr_array_index (opts->config, i), &k, &v);
      if (rd_kafka_conf_set (conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        die ("%s", errstr);
    }
}

/* Result of a consumer run. */
typedef struct
{
  const char *method;
  gint64      target;
  gint64      count;
  gint64      errors;
  gint64      t_start;   /* before the client is created */
  gint64      t_first;   /* first record received */
  gint64      t_last;    /* last (target-th) record received */
  gint64      t_end;     /* client closed */
  gint64      t_progress;
  gint64      cpu_first; /* CPU time of the consuming thread at the first record */
  gint64      cpu_last;  /* ... and at the last */
  gboolean    stalled;
} Result;

static gint64
thread_cpu_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static inline void
result_count (Result *r)
{
  r->count++;
  if (G_UNLIKELY (r->count == 1))
    {
      r->t_first = g_get_monotonic_time ();
      r->cpu_first = thread_cpu_us ();
    }
  if (G_UNLIKELY (r->count == r->target))
    {
      r->t_last = g_get_monotonic_time ();
      r->cpu_last = thread_cpu_us ();
    }
}

static void
result_print (const Result *r)
{
  gboolean ok = !r->stalled && r->count >= r->target && r->t_last > r->t_first;
  double steady = ok ? seconds (r->t_last - r->t_first) : 0.0;

  printf ("RESULT {\"method\": \"%s\", \"ok\": %s, \"count\": %" G_GINT64_FORMAT
          ", \"errors\": %" G_GINT64_FORMAT
          ", \"steady_s\": %.6f, \"rate\": %.1f, \"join_s\": %.6f"
          ", \"wall_s\": %.6f, \"close_s\": %.6f, \"thread_cpu_s\": %.6f}\n",
          r->method, ok ? "true" : "false", r->count, r->errors,
          steady, ok ? (double)r->count / steady : 0.0,
          r->t_first > 0 ? seconds (r->t_first - r->t_start) : 0.0,
          ok ? seconds (r->t_last - r->t_start) : 0.0,
          ok ? seconds (r->t_end - r->t_last) : 0.0,
          ok ? seconds (r->cpu_last - r->cpu_first) : 0.0);
  fflush (stdout);
}

/* mock */

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static gboolean
stdin_cb (int          fd,
          GIOCondition condition,
          gpointer     user_data)
{
  char buf[256];
  ssize_t n = read (fd, buf, sizeof buf);

  if (n > 0 || (n < 0 && errno == EINTR))
    return G_SOURCE_CONTINUE;

  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static int
run_mock (Options *opts)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PbMockCluster) cluster = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  cluster = pb_mock_cluster_new ((guint)opts->brokers, &error);
  if (cluster == NULL)
    die ("cannot create the mock cluster: %s", error->message);

  if (!pb_mock_cluster_create_topic (cluster, opts->topic, opts->partitions, &error))
    die ("cannot create topic %s: %s", opts->topic, error->message);

  printf ("%s\n", pb_mock_cluster_get_bootstrap_servers (cluster));
  fflush (stdout);

  g_unix_signal_add (SIGTERM, quit_cb, loop);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  if (opts->exit_on_eof)
    g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_cb, loop);

  g_main_loop_run (loop);

  return 0;
}

/* produce */

static void
dr_msg_cb (rd_kafka_t               *rk,
           const rd_kafka_message_t *rkm,
           void                     *opaque)
{
  gint64 *failed = opaque;

  if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      if (*failed < 5)
        fprintf (stderr, "pb-bench: delivery failed: %s\n", rd_kafka_err2str (rkm->err));
      (*failed)++;
    }
}

static int
run_produce (Options *opts)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  rd_kafka_t *rk;
  char errstr[512];
  char key[32];
  char *value;
  gint64 failed = 0;
  gint64 t0, t1;
  gint64 retained = 0;
  const rd_kafka_metadata_t *md = NULL;
  int n_partitions = 0;

  if (rd_kafka_conf_set (conf, "bootstrap.servers", opts->bootstrap, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
    die ("%s", errstr);

  conf_set_extra (conf, opts);

  rd_kafka_conf_set_opaque (conf, &failed);
  rd_kafka_conf_set_dr_msg_cb (conf, dr_msg_cb);

  rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL)
    die ("cannot create the producer: %s", errstr);

  value = g_malloc (opts->size);
  for (int i = 0; i < opts->size; i++)
    value[i] = 'a' + i % 26;

  t0 = g_get_monotonic_time ();

  for (gint64 i = 0; i < opts->count; i++)
    {
      int key_len = g_snprintf (key, sizeof key, "k%" G_GINT64_FORMAT, i);

      for (;;)
        {
          rd_kafka_resp_err_t err;

          err = rd_kafka_producev (rk,
                                   RD_KAFKA_V_TOPIC (opts->topic),
                                   RD_KAFKA_V_KEY (key, (size_t)key_len),
                                   RD_KAFKA_V_VALUE (value, (size_t)opts->size),
                                   RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_END);
          if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
          if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            die ("produce failed: %s", rd_kafka_err2str (err));
          rd_kafka_poll (rk, 10);
        }

      rd_kafka_poll (rk, 0);
    }

  while (rd_kafka_flush (rk, 10000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
    fprintf (stderr, "pb-bench: still flushing, %d in the queue\n", rd_kafka_outq_len (rk));

  t1 = g_get_monotonic_time ();

  /* What the mock retained (it silently drops the oldest batches beyond
   * about 5 MiB per partition). */
  {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new (rk, opts->topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata (rk, 0, rkt, &md, 10000);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1)
      die ("metadata failed: %s", rd_kafka_err2str (err));

    n_partitions = md->topics[0].partition_cnt;
    for (int p = 0; p < n_partitions; p++)
      {
        int64_t lo = -1, hi = -1;

        err = rd_kafka_query_watermark_offsets (rk, opts->topic, md->topics[0].partitions[p].id,
                                                &lo, &hi, 10000);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
          die ("watermarks of partition %d: %s", p, rd_kafka_err2str (err));
        retained += hi - lo;
      }

    rd_kafka_metadata_destroy (md);
    rd_kafka_topic_destroy (rkt);
  }

  printf ("RESULT {\"method\": \"produce\", \"ok\": %s, \"count\": %" G_GINT64_FORMAT
          ", \"failed\": %" G_GINT64_FORMAT ", \"retained\": %" G_GINT64_FORMAT
          ", \"partitions\": %d, \"seconds\": %.6f, \"rate\": %.1f}\n",
          failed == 0 && retained >= opts->count ? "true" : "false",
          opts->count, failed, retained, n_partitions,
          seconds (t1 - t0), (double)opts->count / seconds (t1 - t0));
  fflush (stdout);

  rd_kafka_destroy (rk);
  g_free (value);

  return failed == 0 && retained >= opts->count ? 0 : 1;
}

/* bare: librdkafka + io-event on a GLib fd source */

typedef struct
{
  Result      result;
  rd_kafka_t *rk;
  GMainLoop  *loop;
  gint64      last_count;
  gboolean    done;
} Bare;

static void
bare_drain (Bare *b)
{
  rd_kafka_message_t *rkm;

  while (!b->done && (rkm = rd_kafka_consumer_poll (b->rk, 0)) != NULL)
    {
      if (G_LIKELY (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR))
        {
          result_count (&b->result);
          if (G_UNLIKELY (b->result.count == b->result.target))
            {
              b->done = TRUE;
              g_main_loop_quit (b->loop);
            }
        }
      else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        {
          if (b->result.errors++ < 5)
            fprintf (stderr, "pb-bench: consumer error: %s\n", rd_kafka_message_errstr (rkm));
        }

      rd_kafka_message_destroy (rkm);
    }
}

static gboolean
bare_wake_cb (int          fd,
              GIOCondition condition,
              gpointer     user_data)
{
  Bare *b = user_data;
  char buf[64];

  while (read (fd, buf, sizeof buf) > 0)
    ;

  bare_drain (b);

  return G_SOURCE_CONTINUE;
}

/* Once a second: the stall watchdog. It also polls, which only matters
 * before the first record (group join) and is negligible afterwards. */
static gboolean
bare_tick_cb (gpointer user_data)
{
  Bare *b = user_data;
  gint64 now = g_get_monotonic_time ();

  bare_drain (b);

  if (b->done)
    return G_SOURCE_CONTINUE;

  if (b->result.count != b->last_count)
    {
      b->last_count = b->result.count;
      b->result.t_progress = now;
    }
  else if (now - b->result.t_progress > stall_timeout_us ())
    {
      fprintf (stderr, "pb-bench: bare consumer stalled at %" G_GINT64_FORMAT " records\n",
               b->result.count);
      b->result.stalled = TRUE;
      b->done = TRUE;
      g_main_loop_quit (b->loop);
    }

  return G_SOURCE_CONTINUE;
}

static int
run_bare (Options *opts)
{
  static const char wake = '1';
  Bare b = { { 0, } };
  rd_kafka_conf_t *conf;
  rd_kafka_queue_t *queue;
  rd_kafka_topic_partition_list_t *subscription;
  rd_kafka_resp_err_t err;
  g_autoptr(GError) error = NULL;
  char errstr[512];
  int fds[2];
  guint wake_id, tick_id;

  b.result.method = "bare";
  b.result.target = opts->count;
  b.loop = g_main_loop_new (NULL, FALSE);

  b.result.t_start = g_get_monotonic_time ();
  b.result.t_progress = b.result.t_start;

  conf = rd_kafka_conf_new ();
  {
    const char *base[][2] = {
      { "bootstrap.servers", opts->bootstrap },
      { "group.id", opts->group },
      { "auto.offset.reset", "earliest" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (base); i++)
      if (rd_kafka_conf_set (conf, base[i][0], base[i][1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        die ("%s", errstr);
  }

  conf_set_extra (conf, opts);

  b.rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (b.rk == NULL)
    die ("cannot create the consumer: %s", errstr);

  rd_kafka_poll_set_consumer (b.rk);
  queue = rd_kafka_queue_get_consumer (b.rk);

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error) ||
      !g_unix_set_fd_nonblocking (fds[0], TRUE, &error) ||
      !g_unix_set_fd_nonblocking (fds[1], TRUE, &error))
    die ("pipe: %s", error->message);

  rd_kafka_queue_io_event_enable (queue, fds[1], &wake, sizeof wake);
  wake_id = g_unix_fd_add (fds[0], G_IO_IN, bare_wake_cb, &b);
  tick_id = g_timeout_add_seconds (1, bare_tick_cb, &b);

  subscription = rd_kafka_topic_partition_list_new (1);
  rd_kafka_topic_partition_list_add (subscription, opts->topic, RD_KAFKA_PARTITION_UA);
  err = rd_kafka_subscribe (b.rk, subscription);
  rd_kafka_topic_partition_list_destroy (subscription);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    die ("subscribe: %s", rd_kafka_err2str (err));

  /* Something may have arrived before the fd source was attached. */
  bare_drain (&b);
  if (!b.done)
    g_main_loop_run (b.loop);

  g_source_remove (wake_id);
  g_source_remove (tick_id);
  rd_kafka_queue_io_event_enable (queue, -1, NULL, 0);
  rd_kafka_queue_destroy (queue);
  rd_kafka_consumer_close (b.rk);
  rd_kafka_destroy (b.rk);
  close (fds[0]);
  close (fds[1]);
  b.result.t_end = g_get_monotonic_time ();

  result_print (&b.result);
  g_main_loop_unref (b.loop);

  return b.result.stalled || b.result.count < b.result.target ? 1 : 0;
}

/* engine: PbEngine with a no-op C handler */

#define BENCH_TYPE_HANDLER (bench_handler_get_type ())
G_DECLARE_FINAL_TYPE (BenchHandler, bench_handler, BENCH, HANDLER, PbHandler)

struct _BenchHandler
{
  PbHandler  parent_instance;
  Result    *result;
  PbEngine  *engine;   /* not owned */
};

G_DEFINE_FINAL_TYPE (BenchHandler, bench_handler, PB_TYPE_HANDLER)

static gboolean
bench_handler_on_message (PbHandler  *handler,
                          PbMessage  *message,
                          GObject    *context,
                          GError    **error)
{
  BenchHandler *self = (BenchHandler *)handler;

  result_count (self->result);
  if (G_UNLIKELY (self->result->count == self->result->target))
    pb_engine_stop (self->engine);

  return TRUE;
}

static void
bench_handler_class_init (BenchHandlerClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = bench_handler_on_message;
}

static void
bench_handler_init (BenchHandler *self)
{
}

/* The same in Bulk mode. */
#define BENCH_TYPE_BULK_HANDLER (bench_bulk_handler_get_type ())
G_DECLARE_FINAL_TYPE (BenchBulkHandler, bench_bulk_handler, BENCH, BULK_HANDLER, PbBulkHandler)

struct _BenchBulkHandler
{
  PbBulkHandler  parent_instance;
  Result        *result;
  PbEngine      *engine;
};

G_DEFINE_FINAL_TYPE (BenchBulkHandler, bench_bulk_handler, PB_TYPE_BULK_HANDLER)

static gboolean
bench_bulk_handler_on_bulk (PbBulkHandler  *handler,
                            GPtrArray      *messages,
                            GObject        *context,
                            GError        **error)
{
  BenchBulkHandler *self = (BenchBulkHandler *)handler;

  for (guint i = 0; i < messages->len; i++)
    result_count (self->result);
  if (self->result->count >= self->result->target)
    pb_engine_stop (self->engine);

  return TRUE;
}

static void
bench_bulk_handler_class_init (BenchBulkHandlerClass *klass)
{
  PB_BULK_HANDLER_CLASS (klass)->on_bulk = bench_bulk_handler_on_bulk;
}

static void
bench_bulk_handler_init (BenchBulkHandler *self)
{
}

typedef struct
{
  Result   *result;
  PbEngine *engine;
  gint64    last_count;
  guint     id;
} Watchdog;

static gboolean
engine_watchdog_cb (gpointer user_data)
{
  Watchdog *w = user_data;
  gint64 now = g_get_monotonic_time ();

  if (g_getenv ("PB_BENCH_VERBOSE") != NULL)
    fprintf (stderr, "pb-bench: %" G_GINT64_FORMAT " records, state %d\n",
             w->result->count, (int)pb_engine_get_state (w->engine));

  if (w->result->count >= w->result->target)
    {
      w->id = 0;
      return G_SOURCE_REMOVE;
    }

  if (w->result->count != w->last_count)
    {
      w->last_count = w->result->count;
      w->result->t_progress = now;
    }
  else if (now - w->result->t_progress > stall_timeout_us ())
    {
      fprintf (stderr, "pb-bench: engine stalled at %" G_GINT64_FORMAT " records\n",
               w->result->count);
      w->result->stalled = TRUE;
      pb_engine_stop (w->engine);
      w->id = 0;
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

static int
run_engine (Options  *opts,
            gboolean  bulk)
{
  Result result = { 0, };
  g_autoptr(GError) error = NULL;
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(PbHandler) handler = NULL;
  Watchdog watchdog = { &result, NULL, -1, 0 };

  result.method = bulk ? "bulk" : "engine";
  result.target = opts->count;
  result.t_start = g_get_monotonic_time ();
  result.t_progress = result.t_start;

  engine = pb_engine_new (opts->bootstrap, opts->group);
  pb_engine_set_auto_offset_reset (engine, "earliest");

  for (guint i = 0; i < opts->config->len; i++)
    {
      g_autofree char *k = NULL;
      g_autofree char *v = NULL;

      split_config (g_ptr_array_index (opts->config, i), &k, &v);
      if (!pb_engine_set_config (engine, k, v, &error))
        die ("%s", error->message);
    }

  if (bulk)
    {
      BenchBulkHandler *h = g_object_new (BENCH_TYPE_BULK_HANDLER, "topic", opts->topic, NULL);

      h->result = &result;
      h->engine = engine;
      handler = PB_HANDLER (h);
      pb_engine_set_bulk_mode (engine, TRUE);
    }
  else
    {
      BenchHandler *h = g_object_new (BENCH_TYPE_HANDLER, "topic", opts->topic, NULL);

      h->result = &result;
      h->engine = engine;
      handler = PB_HANDLER (h);
    }

  if (!pb_engine_add_handler (engine, handler, &error))
    die ("%s", error->message);

  watchdog.engine = engine;
  watchdog.id = g_timeout_add_seconds (1, engine_watchdog_cb, &watchdog);

  if (!pb_engine_run (engine, NULL, &error))
    die ("the engine failed: %s", error->message);

  result.t_end = g_get_monotonic_time ();
  g_clear_handle_id (&watchdog.id, g_source_remove);

  result_print (&result);

  return result.stalled || result.count < result.target ? 1 : 0;
}

/* main */

static void
usage (void) G_GNUC_NORETURN;

static void
usage (void)
{
  fputs ("Usage: pb-bench mock [--topic T] [--partitions P] [--brokers B] [--exit-on-eof]\n"
         "       pb-bench produce --bootstrap B [--topic T] [--count N] [--size S] [-X k=v]...\n"
         "       pb-bench bare|engine|bulk --bootstrap B --group G [--topic T] [--count N] [-X k=v]...\n",
         stderr);
  exit (2);
}

static gint64
parse_int (const char *option,
           const char *value,
           gint64      min)
{
  gint64 n;

  if (value == NULL || !g_ascii_string_to_signed (value, 10, min, G_MAXINT, &n, NULL))
    die ("%s needs an integer ≥ %" G_GINT64_FORMAT, option, min);

  return n;
}

int
main (int   argc,
      char *argv[])
{
  Options opts = {
    .topic = DEFAULT_TOPIC,
    .partitions = DEFAULT_PARTITIONS,
    .brokers = 1,
    .count = DEFAULT_COUNT,
    .size = DEFAULT_SIZE,
  };
  const char *mode;
  int ret;

  if (argc < 2)
    usage ();

  mode = argv[1];
  opts.config = g_ptr_array_new ();

  for (int i = 2; i < argc; i++)
    {
      const char *arg = argv[i];
      const char *next = i + 1 < argc ? argv[i + 1] : NULL;

      if (strcmp (arg, "--exit-on-eof") == 0)
        {
          opts.exit_on_eof = TRUE;
          continue;
        }

      if (next == NULL)
        usage ();
      i++;

      if (strcmp (arg, "--bootstrap") == 0)
        opts.bootstrap = next;
      else if (strcmp (arg, "--group") == 0)
        opts.group = next;
      else if (strcmp (arg, "--topic") == 0)
        opts.topic = next;
      else if (strcmp (arg, "--partitions") == 0)
        opts.partitions = (int)parse_int (arg, next, 1);
      else if (strcmp (arg, "--brokers") == 0)
        opts.brokers = (int)parse_int (arg, next, 1);
      else if (strcmp (arg, "--count") == 0)
        opts.count = parse_int (arg, next, 1);
      else if (strcmp (arg, "--size") == 0)
        opts.size = (int)parse_int (arg, next, 0);
      else if (strcmp (arg, "-X") == 0)
        g_ptr_array_add (opts.config, (gpointer)next);
      else
        usage ();
    }

  if (strcmp (mode, "mock") == 0)
    ret = run_mock (&opts);
  else if (opts.bootstrap == NULL)
    usage ();
  else if (strcmp (mode, "produce") == 0)
    ret = run_produce (&opts);
  else if (opts.group == NULL)
    usage ();
  else if (strcmp (mode, "bare") == 0)
    ret = run_bare (&opts);
  else if (strcmp (mode, "engine") == 0)
    ret = run_engine (&opts, FALSE);
  else if (strcmp (mode, "bulk") == 0)
    ret = run_engine (&opts, TRUE);
  else
    usage ();

  g_ptr_array_unref (opts.config);

  return ret;
}
