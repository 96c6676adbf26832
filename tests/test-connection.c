/* test-connection.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-test-util.h"
#include "test-handlers.h"

/* A cluster that does not answer: what the engine says, and what it shows
 * in its properties. */

typedef struct
{
  char           *domain;
  GLogLevelFlags  level;
  char           *message;
} LogLine;

static GMutex log_lock;
static GPtrArray *log_lines;    /* LogLine, while a test records */

static void
log_line_free (LogLine *line)
{
  g_free (line->domain);
  g_free (line->message);
  g_free (line);
}

static GLogWriterOutput
record_writer (GLogLevelFlags   level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         user_data)
{
  g_mutex_lock (&log_lock);
  if (log_lines != NULL && (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL |
                                     G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE)))
    {
      LogLine *line = g_new0 (LogLine, 1);

      for (gsize i = 0; i < n_fields; i++)
        {
          if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
            line->domain = g_strdup (fields[i].value);
          else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
            line->message = g_strdup (fields[i].value);
        }
      line->level = level & G_LOG_LEVEL_MASK;
      g_ptr_array_add (log_lines, line);
    }
  g_mutex_unlock (&log_lock);

  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
start_recording (void)
{
  g_mutex_lock (&log_lock);
  log_lines = g_ptr_array_new_with_free_func ((GDestroyNotify) log_line_free);
  g_mutex_unlock (&log_lock);
}

static GPtrArray *
stop_recording (void)
{
  GPtrArray *lines;

  g_mutex_lock (&log_lock);
  lines = g_steal_pointer (&log_lines);
  g_mutex_unlock (&log_lock);

  return lines;
}

/* How many recorded warnings contain every one of the fragments. */
static guint
count_warnings (GPtrArray  *lines,
                const char *domain,
                ...)
{
  guint n = 0;

  for (guint i = 0; i < lines->len; i++)
    {
      LogLine *line = g_ptr_array_index (lines, i);
      gboolean all = line->level == G_LOG_LEVEL_WARNING && g_strcmp0 (line->domain, domain) == 0;
      const char *fragment;
      va_list args;

      va_start (args, domain);
      while (all && (fragment = va_arg (args, const char *)) != NULL)
        all = line->message != NULL && strstr (line->message, fragment) != NULL;
      va_end (args);

      n += all;
    }

  return n;
}

typedef struct
{
  GArray   *states;
  GArray   *connected;   /* gboolean */
} Watch;

static void
connected_cb (PbEngine   *engine,
              GParamSpec *pspec,
              Watch      *watch)
{
  gboolean connected = pb_engine_get_connected (engine);

  g_array_append_val (watch->connected, connected);
}

static void
watch_init (Watch    *watch,
            PbEngine *engine)
{
  watch->states = pb_test_record_states (engine);
  watch->connected = g_array_new (FALSE, FALSE, sizeof (gboolean));
  g_signal_connect (engine, "notify::connected", G_CALLBACK (connected_cb), watch);
}

static void
watch_clear (Watch *watch)
{
  g_array_unref (watch->states);
  g_array_unref (watch->connected);
}

static gboolean
watch_has_state (Watch         *watch,
                 PbEngineState  state)
{
  for (guint i = 0; i < watch->states->len; i++)
    if (g_array_index (watch->states, PbEngineState, i) == state)
      return TRUE;

  return FALSE;
}

static gboolean
time_passed (gpointer user_data)
{
  return g_get_monotonic_time () >= *(gint64 *)user_data;
}

static void
test_unreachable (void)
{
  g_autofree char *group = pb_test_unique ("group");
  g_autofree char *topic = pb_test_unique ("topic");
  g_autoptr(PbEngine) engine = pb_engine_new ("127.0.0.1:1", group);
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GError) error = NULL;
  /* Longer than librdkafka's own 30 s suppression of a repeated failure. */
  gint64 until = g_get_monotonic_time () + 35 * G_USEC_PER_SEC;
  int threads = rd_kafka_thread_cnt ();
  Watch watch;

  g_test_summary ("A cluster nobody answers at is retried; the engine says so in one "
                  "line per distinct failure a minute, with a hint the first time, stays "
                  "joining and not connected; its client is gone when run returns");

  pb_engine_set_config (engine, "reconnect.backoff.max.ms", "200", NULL);
  pb_test_add_new_handler (engine, test_counter_new (topic));
  watch_init (&watch, engine);

  start_recording ();
  g_assert_true (pb_test_run_until (engine, time_passed, &until, 60000, &error));
  g_assert_no_error (error);
  lines = stop_recording ();

  /* librdkafka retried every 200 ms, and logged it again after 30 s: one
   * line says it. */
  g_assert_cmpuint (count_warnings (lines, "Paperboy-Kafka", "127.0.0.1:1", "Connection refused", NULL), ==, 1);
  g_assert_cmpuint (count_warnings (lines, "Paperboy", "No Kafka broker answers at 127.0.0.1:1",
                                    "mock://", NULL), ==, 1);
  g_assert_cmpuint (count_warnings (lines, "Paperboy", "Kafka:", NULL), ==, 0);

  g_assert_false (watch_has_state (&watch, PB_ENGINE_STATE_RUNNING));
  g_assert_true (watch_has_state (&watch, PB_ENGINE_STATE_JOINING));
  /* connected never became TRUE (it starts FALSE). */
  g_assert_cmpuint (watch.connected->len, ==, 0);
  g_assert_false (pb_engine_get_connected (engine));

  /* A probe was in flight most of the time: the client went anyway. */
  g_assert_cmpint (rd_kafka_thread_cnt (), ==, threads);

  watch_clear (&watch);
}

/* Records handled before the outage may be handled again after it (the
 * engine lost its partitions, maybe before committing them): the last
 * record handled tells how far the engine got. */
static gboolean
counter_reached (gpointer user_data)
{
  TestCounter *counter = user_data;
  g_autofree char *suffix = g_strdup_printf ("/0/%u/v",
                                             GPOINTER_TO_UINT (g_object_get_data (user_data, "last")));

  return counter->records->len > 0 &&
         g_str_has_suffix (g_ptr_array_index (counter->records, counter->records->len - 1), suffix);
}

static gboolean
engine_is (PbEngine      *engine,
           PbEngineState  state,
           gboolean       connected)
{
  return pb_engine_get_state (engine) == state && pb_engine_get_connected (engine) == connected;
}

static gboolean
lost_and_disconnected (gpointer user_data)
{
  return engine_is (user_data, PB_ENGINE_STATE_JOINING, FALSE);
}

static gboolean
running_and_connected (gpointer user_data)
{
  return engine_is (user_data, PB_ENGINE_STATE_RUNNING, TRUE);
}

static void
note_state_when_connected (PbEngine   *engine,
                           GParamSpec *pspec,
                           gpointer    user_data)
{
  if (pb_engine_get_connected (engine) &&
      g_object_get_data (G_OBJECT (engine), "state-when-connected") == NULL)
    g_object_set_data (G_OBJECT (engine), "state-when-connected",
                       GINT_TO_POINTER (pb_engine_get_state (engine)));
}

static void
test_outage (void)
{
  g_autoptr(PbMockCluster) cluster = pb_mock_cluster_new (1, NULL);
  g_autofree char *topic = pb_test_unique ("outage");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(PbEngine) engine = g_object_new (PB_TYPE_ENGINE,
                                             "mock-cluster", cluster,
                                             "group-id", group,
                                             "commit-interval-ms", 100,
                                             NULL);
  g_autoptr(TestCounter) counter = test_counter_new (topic);
  g_autoptr(GBytes) value = g_bytes_new_static ("v", 1);
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GError) error = NULL;
  PbTestRun *run;

  g_test_summary ("During a broker outage longer than the session timeout the engine is "
                  "not connected and joining, and says so; it runs again once the broker "
                  "is back, and handles everything");

  g_assert_true (pb_mock_cluster_create_topic (cluster, topic, 1, &error));
  for (int i = 0; i < 10; i++)
    pb_mock_cluster_produce (cluster, topic, 0, NULL, value, NULL, &error);
  g_assert_no_error (error);

  pb_engine_set_config (engine, "session.timeout.ms", "6000", NULL);
  pb_engine_set_config (engine, "heartbeat.interval.ms", "500", NULL);
  pb_engine_set_config (engine, "fetch.wait.max.ms", "10", NULL);
  pb_engine_set_config (engine, "reconnect.backoff.max.ms", "500", NULL);
  g_assert_true (pb_engine_add_handler (engine, PB_HANDLER (counter), &error));
  g_signal_connect (engine, "notify::connected", G_CALLBACK (note_state_when_connected), NULL);

  run = pb_test_start (engine);
  g_object_set_data (G_OBJECT (counter), "last", GUINT_TO_POINTER (9));
  pb_test_wait_until (counter_reached, counter, 30000);
  g_assert_true (running_and_connected (engine));
  /* A broker answered before the group's first join (held 3 s) was over. */
  g_assert_cmpint (GPOINTER_TO_INT (g_object_get_data (G_OBJECT (engine), "state-when-connected")),
                   ==, PB_ENGINE_STATE_JOINING);

  start_recording ();
  g_assert_true (pb_mock_cluster_set_broker_down (cluster, 1, &error));
  pb_test_wait_until (lost_and_disconnected, engine, 60000);
  g_assert_true (pb_mock_cluster_set_broker_up (cluster, 1, &error));
  g_assert_no_error (error);

  for (int i = 0; i < 10; i++)
    pb_mock_cluster_produce (cluster, topic, 0, NULL, value, NULL, &error);
  g_assert_no_error (error);

  g_object_set_data (G_OBJECT (counter), "last", GUINT_TO_POINTER (19));
  pb_test_wait_until (counter_reached, counter, 60000);
  pb_test_wait_until (running_and_connected, engine, 60000);
  lines = stop_recording ();

  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (count_warnings (lines, "Paperboy", "No Kafka broker answers at", NULL), ==, 1);
  g_assert_cmpint (pb_mock_cluster_get_committed_offset (cluster, group, topic, 0, &error), ==, 20);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);
  g_log_set_writer_func (record_writer, NULL, NULL);

  g_test_add_func ("/Paperboy/Connection/unreachable", test_unreachable);
  g_test_add_func ("/Paperboy/Connection/outage", test_outage);

  return g_test_run ();
}
