/* pb-test-util.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-test-util.h"

#include "test-handlers.h"

#include <string.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

static PbMockCluster *cluster;
static char *external_bootstrap;
static rd_kafka_t *producer;

static void
quiet_log_cb (const rd_kafka_t *rk,
              int               level,
              const char       *facility,
              const char       *buf)
{
  if (level <= 3)
    g_test_message ("rdkafka %s: %s", facility, buf);
}

void
pb_test_init (int    *argc,
              char ***argv)
{
  g_test_init (argc, argv, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  /* GLib's shared pool threads (GTask's, the tables' writer) wait for
   * work until the process exits. One that reached its idle time could
   * be ending while LeakSanitizer looks at the exiting process, which then
   * takes what that thread's storage still holds for leaks. */
  g_thread_pool_set_max_idle_time (0);
  g_thread_pool_set_max_unused_threads (-1);

  external_bootstrap = g_strdup (g_getenv ("PAPERBOY_TEST_BOOTSTRAP"));
  if (external_bootstrap == NULL)
    external_bootstrap = g_strdup (g_getenv ("PAPERBOY_TEST_BOOTSTRAP_DEFAULT"));
  if (external_bootstrap != NULL && *external_bootstrap == '\0')
    g_clear_pointer (&external_bootstrap, g_free);
}

gboolean
pb_test_is_external (void)
{
  return external_bootstrap != NULL;
}

PbMockCluster *
pb_test_mock_cluster (void)
{
  g_autoptr(GError) error = NULL;

  if (external_bootstrap != NULL)
    return NULL;

  if (cluster == NULL)
    {
      cluster = pb_mock_cluster_new (1, &error);
      g_assert_no_error (error);
    }

  return cluster;
}

const char *
pb_test_bootstrap (void)
{
  if (external_bootstrap != NULL)
    return external_bootstrap;

  return pb_mock_cluster_get_bootstrap_servers (pb_test_mock_cluster ());
}

char *
pb_test_unique (const char *prefix)
{
  static guint counter;

  return g_strdup_printf ("%s-%d-%u-%u", prefix, (int)getpid (),
                          (guint)(g_get_real_time () % 100000), ++counter);
}

void
pb_test_create_topic (const char *topic,
                      int         partitions)
{
  g_autoptr(GError) error = NULL;

  if (pb_test_mock_cluster () != NULL)
    {
      pb_mock_cluster_create_topic (pb_test_mock_cluster (), topic, partitions, &error);
      g_assert_no_error (error);
      return;
    }

  {
    rd_kafka_NewTopic_t *new_topic;
    rd_kafka_queue_t *queue;
    rd_kafka_event_t *event;
    char errstr[256];

    pb_test_produce (NULL, 0, NULL, NULL);   /* creates the producer */
    new_topic = rd_kafka_NewTopic_new (topic, partitions, -1, errstr, sizeof errstr);
    queue = rd_kafka_queue_new (producer);
    rd_kafka_CreateTopics (producer, &new_topic, 1, NULL, queue);
    event = rd_kafka_queue_poll (queue, 30000);
    g_assert_nonnull (event);
    rd_kafka_event_destroy (event);
    rd_kafka_queue_destroy (queue);
    rd_kafka_NewTopic_destroy (new_topic);
  }
}

typedef struct
{
  gboolean            done;
  rd_kafka_resp_err_t err;
  gint64              offset;
} Delivery;

static void
delivery_cb (rd_kafka_t               *rk,
             const rd_kafka_message_t *rkm,
             void                     *opaque)
{
  Delivery *delivery = rkm->_private;

  if (delivery != NULL)
    {
      delivery->err = rkm->err;
      delivery->offset = rkm->offset;
      delivery->done = TRUE;
    }
  else if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
    g_error ("Delivery failed: %s", rd_kafka_err2str (rkm->err));
}

static void
ensure_producer (void)
{
  rd_kafka_conf_t *conf;
  char errstr[512];

  if (producer != NULL)
    return;

  conf = rd_kafka_conf_new ();
  rd_kafka_conf_set (conf, "bootstrap.servers", pb_test_bootstrap (), NULL, 0);
  rd_kafka_conf_set (conf, "linger.ms", "1", NULL, 0);
  rd_kafka_conf_set_dr_msg_cb (conf, delivery_cb);
  rd_kafka_conf_set_log_cb (conf, quiet_log_cb);
  producer = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  g_assert_nonnull (producer);
}

gint64
pb_test_produce (const char *topic,
                 int         partition,
                 const char *key,
                 const char *value)
{
  Delivery delivery = { FALSE, 0, -1 };
  rd_kafka_resp_err_t err;

  ensure_producer ();
  if (topic == NULL)
    return -1;

  err = rd_kafka_producev (producer,
                           RD_KAFKA_V_TOPIC (topic),
                           RD_KAFKA_V_PARTITION (partition),
                           RD_KAFKA_V_KEY ((const void *)key, (size_t)(key != NULL ? strlen (key) : 0)),
                           RD_KAFKA_V_VALUE ((void *)value, (size_t)(value != NULL ? strlen (value) : 0)),
                           RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_OPAQUE (&delivery),
                           RD_KAFKA_V_END);
  g_assert_cmpint (err, ==, RD_KAFKA_RESP_ERR_NO_ERROR);

  while (!delivery.done)
    rd_kafka_poll (producer, 50);

  g_assert_cmpint (delivery.err, ==, RD_KAFKA_RESP_ERR_NO_ERROR);

  return delivery.offset;
}

gint64
pb_test_produce_full (const char         *topic,
                      int                 partition,
                      const char         *key,
                      const char         *value,
                      rd_kafka_headers_t *headers)
{
  Delivery delivery = { FALSE, 0, -1 };
  rd_kafka_resp_err_t err;

  ensure_producer ();

  err = rd_kafka_producev (producer,
                           RD_KAFKA_V_TOPIC (topic),
                           RD_KAFKA_V_PARTITION (partition),
                           RD_KAFKA_V_KEY ((const void *)key, (size_t)(key != NULL ? strlen (key) : 0)),
                           RD_KAFKA_V_VALUE ((void *)value, (size_t)(value != NULL ? strlen (value) : 0)),
                           RD_KAFKA_V_HEADERS (headers),
                           RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_OPAQUE (&delivery),
                           RD_KAFKA_V_END);
  g_assert_cmpint (err, ==, RD_KAFKA_RESP_ERR_NO_ERROR);

  while (!delivery.done)
    rd_kafka_poll (producer, 50);

  g_assert_cmpint (delivery.err, ==, RD_KAFKA_RESP_ERR_NO_ERROR);

  return delivery.offset;
}

gint64
pb_test_produce_with_headers (const char         *topic,
                              int                 partition,
                              const char         *value,
                              rd_kafka_headers_t *headers)
{
  return pb_test_produce_full (topic, partition, NULL, value, headers);
}

void
pb_test_produce_many (const char *topic,
                      int         partition,
                      guint       n,
                      const char *prefix)
{
  ensure_producer ();

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("k-%u", i);
      g_autofree char *value = g_strdup_printf ("%s-%u", prefix, i);
      rd_kafka_resp_err_t err;

      do
        {
          err = rd_kafka_producev (producer,
                                   RD_KAFKA_V_TOPIC (topic),
                                   RD_KAFKA_V_PARTITION (partition),
                                   RD_KAFKA_V_KEY (key, strlen (key)),
                                   RD_KAFKA_V_VALUE (value, strlen (value)),
                                   RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_END);
          if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll (producer, 10);
        }
      while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);

      g_assert_cmpint (err, ==, RD_KAFKA_RESP_ERR_NO_ERROR);
    }

  g_assert_cmpint (rd_kafka_flush (producer, 30000), ==, RD_KAFKA_RESP_ERR_NO_ERROR);
}

gint64
pb_test_committed (const char *group,
                   const char *topic,
                   int         partition)
{
  g_autoptr(GError) error = NULL;
  rd_kafka_topic_partition_list_t *list;
  rd_kafka_conf_t *conf;
  rd_kafka_t *consumer;
  char errstr[512];
  gint64 offset;

  if (pb_test_mock_cluster () != NULL)
    {
      offset = pb_mock_cluster_get_committed_offset (pb_test_mock_cluster (),
                                                     group, topic, partition, &error);
      g_assert_no_error (error);
      return offset;
    }

  conf = rd_kafka_conf_new ();
  rd_kafka_conf_set (conf, "bootstrap.servers", pb_test_bootstrap (), NULL, 0);
  rd_kafka_conf_set (conf, "group.id", group, NULL, 0);
  rd_kafka_conf_set_log_cb (conf, quiet_log_cb);
  consumer = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  g_assert_nonnull (consumer);

  list = rd_kafka_topic_partition_list_new (1);
  rd_kafka_topic_partition_list_add (list, topic, partition);
  g_assert_cmpint (rd_kafka_committed (consumer, list, 30000), ==, RD_KAFKA_RESP_ERR_NO_ERROR);
  offset = list->elems[0].offset >= 0 ? list->elems[0].offset : -1;
  rd_kafka_topic_partition_list_destroy (list);
  rd_kafka_consumer_close (consumer);
  rd_kafka_destroy (consumer);

  return offset;
}

PbEngine *
pb_test_engine_new (const char *group_id)
{
  g_autoptr(GError) error = NULL;
  PbEngine *engine;

  if (pb_test_mock_cluster () != NULL)
    engine = g_object_new (PB_TYPE_ENGINE,
                           "mock-cluster", pb_test_mock_cluster (),
                           "commit-interval-ms", 200,
                           NULL);
  else
    engine = g_object_new (PB_TYPE_ENGINE,
                           "bootstrap-servers", pb_test_bootstrap (),
                           "commit-interval-ms", 200,
                           NULL);
  if (group_id != NULL)
    pb_engine_set_group_id (engine, group_id);

  pb_engine_set_config (engine, "session.timeout.ms", "6000", &error);
  g_assert_no_error (error);
  pb_engine_set_config (engine, "heartbeat.interval.ms", "500", &error);
  g_assert_no_error (error);
  pb_engine_set_config (engine, "fetch.wait.max.ms", "10", &error);
  g_assert_no_error (error);
  pb_engine_set_config (engine, "reconnect.backoff.max.ms", "1000", &error);
  if (g_getenv ("PB_TEST_RDKAFKA_DEBUG"))
    pb_engine_set_config (engine, "debug", g_getenv ("PB_TEST_RDKAFKA_DEBUG"), &error);
  g_assert_no_error (error);

  return engine;
}

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

void
pb_test_wait_until (PbTestCondition condition,
                    gpointer        user_data,
                    guint           timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;
  guint wake = g_timeout_add (50, wake_cb, NULL);

  while (!condition (user_data))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("Timed out after %u ms waiting for a condition", timeout_ms);
      g_main_context_iteration (NULL, TRUE);
    }

  g_source_remove (wake);
}

struct _PbTestRun
{
  PbEngine     *engine;
  GAsyncResult *result;
};

static void
run_done_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  PbTestRun *run = user_data;

  run->result = g_object_ref (result);
}

PbTestRun *
pb_test_start (PbEngine *engine)
{
  PbTestRun *run = g_new0 (PbTestRun, 1);

  run->engine = g_object_ref (engine);
  pb_engine_run_async (engine, NULL, run_done_cb, run);

  return run;
}

gboolean
pb_test_run_is_done (PbTestRun *run)
{
  return run->result != NULL;
}

static gboolean
run_is_done_cb (gpointer user_data)
{
  return pb_test_run_is_done (user_data);
}

gboolean
pb_test_finish (PbTestRun  *run,
                gboolean    stop,
                GError    **error)
{
  gboolean ret;

  if (stop)
    pb_engine_stop (run->engine);

  pb_test_wait_until (run_is_done_cb, run, 60000);

  ret = pb_engine_run_finish (run->engine, run->result, error);

  g_object_unref (run->result);
  g_object_unref (run->engine);
  g_free (run);

  return ret;
}

typedef struct
{
  PbTestRun       *run;
  PbTestCondition  condition;
  gpointer         user_data;
} RunUntil;

static gboolean
run_until_cb (gpointer user_data)
{
  RunUntil *data = user_data;

  return pb_test_run_is_done (data->run) ||
         (data->condition != NULL && data->condition (data->user_data));
}

gboolean
pb_test_run_until (PbEngine        *engine,
                   PbTestCondition  condition,
                   gpointer         user_data,
                   guint            timeout_ms,
                   GError         **error)
{
  RunUntil data = { pb_test_start (engine), condition, user_data };

  pb_test_wait_until (run_until_cb, &data, timeout_ms);

  return pb_test_finish (data.run, TRUE, error);
}

static void
assigned_cb (PbEngine *engine,
             GVariant *partitions,
             gpointer  user_data)
{
  gboolean *assigned = user_data;

  *assigned = TRUE;
}

static gboolean
flag_is_set (gpointer user_data)
{
  return *(gboolean *)user_data;
}

static void
state_recorded_cb (PbEngine   *engine,
                   GParamSpec *pspec,
                   GArray     *states)
{
  PbEngineState state = pb_engine_get_state (engine);

  g_array_append_val (states, state);
}

static void
states_unref (gpointer  data,
              GClosure *closure)
{
  g_array_unref (data);
}

GArray *
pb_test_record_states (PbEngine *engine)
{
  GArray *states = g_array_new (FALSE, FALSE, sizeof (PbEngineState));

  g_signal_connect_data (engine, "notify::state", G_CALLBACK (state_recorded_cb),
                         g_array_ref (states), states_unref, 0);

  return states;
}

void
pb_test_wait_assigned (PbEngine *engine,
                       guint     timeout_ms)
{
  gboolean assigned = FALSE;
  gulong id = g_signal_connect (engine, "partitions-assigned", G_CALLBACK (assigned_cb), &assigned);

  pb_test_wait_until (flag_is_set, &assigned, timeout_ms);
  g_signal_handler_disconnect (engine, id);
}

char *
pb_test_bytes_to_string (GBytes *bytes)
{
  gsize len;
  const char *data;

  if (bytes == NULL)
    return NULL;

  data = g_bytes_get_data (bytes, &len);

  return g_strndup (data != NULL ? data : "", len);
}

/* Engine test cases */

void
pb_test_fixture_set_up (PbTestFixture *fixture,
                        gconstpointer  user_data)
{
  fixture->topic = pb_test_unique ("topic");
  fixture->group = pb_test_unique ("group");
}

void
pb_test_fixture_tear_down (PbTestFixture *fixture,
                           gconstpointer  user_data)
{
  g_free (fixture->topic);
  g_free (fixture->group);
}

void
pb_test_add_handler (PbEngine *engine,
                     gpointer  handler)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (pb_engine_add_handler (engine, PB_HANDLER (handler), &error));
  g_assert_no_error (error);
}

void
pb_test_add_new_handler (PbEngine *engine,
                         gpointer  handler)
{
  pb_test_add_handler (engine, handler);
  g_object_unref (handler);
}

void
pb_test_assert_record (GPtrArray  *records,
                       guint       i,
                       const char *topic,
                       int         partition,
                       gint64      offset,
                       const char *value)
{
  g_autofree char *expected = g_strdup_printf ("%s/%d/%" G_GINT64_FORMAT "/%s",
                                               topic, partition, offset, value);

  g_assert_cmpuint (i, <, records->len);
  g_assert_cmpstr (g_ptr_array_index (records, i), ==, expected);
}

gboolean
pb_test_counter_has_expected (gpointer user_data)
{
  TestCounter *counter = user_data;

  return counter->n_handled >= GPOINTER_TO_UINT (g_object_get_data (user_data, "expected"));
}

void
pb_test_expect (gpointer object,
                guint    n)
{
  g_object_set_data (object, "expected", GUINT_TO_POINTER (n));
}

gboolean
pb_test_recorder_has_expected (gpointer user_data)
{
  return test_recorder_finished (user_data,
                                 GPOINTER_TO_UINT (g_object_get_data (user_data, "expected")));
}

gboolean
pb_test_async_has_expected (gpointer user_data)
{
  TestAsync *handler = user_data;

  return handler->done->len + handler->errors->len >=
         GPOINTER_TO_UINT (g_object_get_data (user_data, "expected"));
}

GError *
pb_test_error_at (GPtrArray *errors,
                  guint      i)
{
  g_assert_cmpuint (i, <, errors->len);
  return g_ptr_array_index (errors, i);
}

void
pb_test_assert_events (GPtrArray          *events,
                       const char * const *expected)
{
  g_autofree char *got = NULL;
  g_autofree char *want = g_strjoinv (" ", (char **)expected);

  g_ptr_array_add (events, NULL);
  got = g_strjoinv (" ", (char **)events->pdata);
  g_ptr_array_remove_index (events, events->len - 1);

  g_assert_cmpstr (got, ==, want);
}

static void
remove_file_tree (GFile *file)
{
  g_autoptr(GFileEnumerator) children = NULL;
  g_autoptr(GError) error = NULL;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
                                        NULL, NULL);
  if (children != NULL)
    {
      GFileInfo *info;

      while ((info = g_file_enumerator_next_file (children, NULL, NULL)) != NULL)
        {
          g_autoptr(GFile) child = g_file_get_child (file, g_file_info_get_name (info));

          remove_file_tree (child);
          g_object_unref (info);
        }
    }

  if (!g_file_delete (file, NULL, &error))
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

void
pb_test_remove_tree (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);

  remove_file_tree (file);
}

/* Processes */

struct _PbTestProcess
{
  GSubprocess      *process;
  GDataInputStream *out;
  PbTestLineFunc    func;
  gpointer          user_data;
  gboolean          done;
};

static void read_next_line (PbTestProcess *self);

static void
line_cb (GObject      *source_object,
         GAsyncResult *result,
         gpointer      user_data)
{
  PbTestProcess *self = user_data;
  g_autofree char *line = NULL;
  g_auto(GStrv) words = NULL;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source_object),
                                                    result, NULL, NULL);
  if (line == NULL)
    {
      self->done = TRUE;
      return;
    }

  words = g_strsplit (line, " ", -1);
  if (self->func != NULL && words[0] != NULL)
    self->func (words, self->user_data);

  read_next_line (self);
}

static void
read_next_line (PbTestProcess *self)
{
  g_data_input_stream_read_line_async (self->out, G_PRIORITY_DEFAULT, NULL, line_cb, self);
}

PbTestProcess *
pb_test_process_start (PbTestLineFunc  func,
                       gpointer        user_data,
                       const char     *first_arg,
                       ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  PbTestProcess *self;
  const char *arg;
  va_list args;

  g_ptr_array_add (argv, (gpointer) g_getenv ("PB_TEST_CONSUMER"));
  va_start (args, first_arg);
  for (arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  g_assert_nonnull (g_ptr_array_index (argv, 0));

  self = g_new0 (PbTestProcess, 1);
  self->func = func;
  self->user_data = user_data;
  self->process = g_subprocess_newv ((const char * const *) argv->pdata,
                                     G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  self->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->process));
  read_next_line (self);

  return self;
}

gboolean
pb_test_process_is_done (gpointer process)
{
  return ((PbTestProcess *)process)->done;
}

void
pb_test_process_signal (PbTestProcess *self,
                        int            signum)
{
  g_subprocess_send_signal (self->process, signum);
}

int
pb_test_process_wait (PbTestProcess *self,
                      guint          timeout_ms)
{
  g_autoptr(GError) error = NULL;

  pb_test_wait_until (pb_test_process_is_done, self, timeout_ms);
  g_assert_true (g_subprocess_wait (self->process, NULL, &error));
  g_assert_no_error (error);

  if (!g_subprocess_get_if_exited (self->process))
    return -g_subprocess_get_term_sig (self->process);

  return g_subprocess_get_exit_status (self->process);
}

void
pb_test_process_free (PbTestProcess *self)
{
  if (self == NULL)
    return;

  if (!self->done)
    {
      g_subprocess_force_exit (self->process);
      pb_test_process_wait (self, 30000);
    }

  g_clear_object (&self->out);
  g_clear_object (&self->process);
  g_free (self);
}
