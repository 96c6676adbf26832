/* test-consume.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-test-util.h"
#include "test-handlers.h"

/* Consuming, committing, restarting, message contents, threads */

/* Consuming and committing */

static void
test_consume_commit (PbTestFixture *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  int last_offset[2] = { -1, -1 };

  g_test_summary ("Records of two partitions are each handled once, in order, and committed");

  pb_test_create_topic (fixture->topic, 2);
  pb_test_produce_many (fixture->topic, 0, 10, "a");
  pb_test_produce_many (fixture->topic, 1, 5, "b");

  pb_test_add_handler (engine, counter);
  pb_test_expect (counter, 15);
  g_assert_true (pb_test_run_until (engine, pb_test_counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpint (pb_engine_get_state (engine), ==, PB_ENGINE_STATE_STOPPED);

  g_assert_cmpuint (counter->records->len, ==, 15);
  for (guint i = 0; i < counter->records->len; i++)
    {
      g_auto(GStrv) parts = g_strsplit (g_ptr_array_index (counter->records, i), "/", 4);
      int partition = atoi (parts[1]);
      int offset = atoi (parts[2]);
      g_autofree char *value = g_strdup_printf ("%s-%d", partition == 0 ? "a" : "b", offset);

      g_assert_cmpstr (parts[0], ==, fixture->topic);
      g_assert_cmpint (offset, ==, last_offset[partition] + 1);
      g_assert_cmpstr (parts[3], ==, value);
      last_offset[partition] = offset;
    }

  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 10);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 1), ==, 5);
}

static void
test_stop_from_handler (PbTestFixture *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A handler can stop the engine; what it handled is committed");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 20, "v");

  pb_test_add_handler (engine, counter);
  counter->stop_engine = engine;
  counter->stop_after = 7;

  g_assert_true (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (counter->n_handled, ==, 7);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 7);
}

/* Restart and stop */

static void
test_restart_resumes (PbTestFixture *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(PbEngine) engine2 = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(TestCounter) counter2 = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("After a clean stop a new engine of the group resumes at the committed "
                  "offsets: nothing lost, nothing handled twice");

  pb_test_create_topic (fixture->topic, 2);
  pb_test_produce_many (fixture->topic, 0, 10, "a");
  pb_test_produce_many (fixture->topic, 1, 10, "b");

  pb_test_add_handler (engine, counter);
  pb_test_expect (counter, 20);
  g_assert_true (pb_test_run_until (engine, pb_test_counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (counter->n_handled, ==, 20);

  pb_test_produce_many (fixture->topic, 0, 3, "c");
  pb_test_produce_many (fixture->topic, 1, 2, "d");

  pb_test_add_handler (engine2, counter2);
  pb_test_expect (counter2, 5);
  g_assert_true (pb_test_run_until (engine2, pb_test_counter_has_expected, counter2, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (counter2->records->len, ==, 5);
  for (guint i = 0; i < counter2->records->len; i++)
    {
      const char *record = g_ptr_array_index (counter2->records, i);

      g_assert_true (strstr (record, "/c-") != NULL || strstr (record, "/d-") != NULL);
    }

  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 13);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 1), ==, 12);
}

/* Messages */

#define TEST_TYPE_KEEPER (test_keeper_get_type ())
G_DECLARE_FINAL_TYPE (TestKeeper, test_keeper, TEST, KEEPER, PbHandler)

struct _TestKeeper
{
  PbHandler   parent_instance;
  GPtrArray  *kept;       /* the messages themselves */
  GPtrArray  *values;     /* their value bytes */
  const char *topic;      /* as get_topic() returned it */
  const char *value_data; /* as g_bytes_get_data() returned it */
  gsize       value_len;
};

G_DEFINE_FINAL_TYPE (TestKeeper, test_keeper, PB_TYPE_HANDLER)

static gboolean
test_keeper_on_message (PbHandler  *handler,
                        PbMessage  *message,
                        GObject    *context,
                        GError    **error)
{
  TestKeeper *self = TEST_KEEPER (handler);
  GBytes *value = pb_message_get_value (message);

  g_ptr_array_add (self->kept, g_object_ref (message));

  /* Plain pointers a handler got from a message it keeps (transfer none),
   * or its own references to the bytes. */
  if (pb_message_get_offset (message) == 1)
    {
      self->topic = pb_message_get_topic (message);
      self->value_data = g_bytes_get_data (value, &self->value_len);
    }
  else if (value != NULL)
    g_ptr_array_add (self->values, g_bytes_ref (value));

  return TRUE;
}

static void
test_keeper_finalize (GObject *object)
{
  TestKeeper *self = TEST_KEEPER (object);

  g_ptr_array_unref (self->kept);
  g_ptr_array_unref (self->values);

  G_OBJECT_CLASS (test_keeper_parent_class)->finalize (object);
}

static void
test_keeper_class_init (TestKeeperClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_keeper_finalize;
  PB_HANDLER_CLASS (klass)->on_message = test_keeper_on_message;
  PB_HANDLER_CLASS (klass)->on_tombstone = test_keeper_on_message;
}

static void
test_keeper_init (TestKeeper *self)
{
  self->kept = g_ptr_array_new_with_free_func (g_object_unref);
  self->values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
}

static gboolean
keeper_has_3 (gpointer user_data)
{
  return TEST_KEEPER (user_data)->kept->len >= 3;
}

static void
test_message_contents (PbTestFixture *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(TestKeeper) keeper = g_object_new (TEST_TYPE_KEEPER, "topic", fixture->topic, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) key = g_bytes_new_static ("key", 3);
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(GBytes) header = NULL;
  g_autoptr(GVariant) headers = NULL;
  PbEngine *engine = pb_test_engine_new (fixture->group);
  PbMockCluster *cluster = pb_test_mock_cluster ();
  GVariantBuilder builder;
  PbMessage *message;
  g_autofree char *value = NULL;
  const char *name;
  GVariant *maybe;
  gint64 offset = -1;

  g_test_summary ("Keys, values and headers come through with null distinct from empty, "
                  "and messages and bytes kept past the run stay valid");

  if (cluster == NULL)
    {
      g_test_skip ("uses the mock cluster's producer");
      g_object_unref (engine);
      return;
    }

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(smay)"));
  g_variant_builder_add (&builder, "(s@may)", "h1",
                         g_variant_new_maybe (G_VARIANT_TYPE_BYTESTRING,
                                              g_variant_new_bytestring ("x")));
  g_variant_builder_add (&builder, "(s@may)", "h2",
                         g_variant_new_maybe (G_VARIANT_TYPE_BYTESTRING, NULL));
  g_variant_builder_add (&builder, "(s@may)", "h1",
                         g_variant_new_maybe (G_VARIANT_TYPE_BYTESTRING,
                                              g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "y", 1, 1)));

  pb_mock_cluster_create_topic (cluster, fixture->topic, 1, &error);
  g_assert_no_error (error);
  offset = pb_mock_cluster_produce (cluster, fixture->topic, 0, key, empty,
                                    g_variant_builder_end (&builder), &error);
  g_assert_no_error (error);
  g_assert_cmpint (offset, ==, 0);
  offset = pb_mock_cluster_produce (cluster, fixture->topic, 0, NULL, key, NULL, &error);
  g_assert_cmpint (offset, ==, 1);
  offset = pb_mock_cluster_produce (cluster, fixture->topic, 0, key, NULL, NULL, &error);
  g_assert_cmpint (offset, ==, 2);
  g_assert_no_error (error);

  pb_test_add_handler (engine, keeper);
  g_assert_true (pb_test_run_until (engine, keeper_has_3, keeper, 30000, &error));
  g_assert_no_error (error);

  /* The engine and its Kafka handle go; kept messages are detached. */
  g_object_unref (engine);

  message = g_ptr_array_index (keeper->kept, 0);
  g_assert_cmpstr (pb_message_get_topic (message), ==, fixture->topic);
  g_assert_cmpint (pb_message_get_partition (message), ==, 0);
  g_assert_cmpint (pb_message_get_offset (message), ==, 0);
  g_assert_cmpint (pb_message_get_timestamp (message), >, 0);
  g_assert_true (g_bytes_equal (pb_message_get_key (message), key));
  g_assert_nonnull (pb_message_get_value (message));
  g_assert_cmpuint (g_bytes_get_size (pb_message_get_value (message)), ==, 0);
  g_assert_false (pb_message_is_tombstone (message));

  header = pb_message_get_header (message, "h1");
  value = pb_test_bytes_to_string (header);
  g_assert_cmpstr (value, ==, "y");
  g_assert_null (pb_message_get_header (message, "h2"));
  g_assert_null (pb_message_get_header (message, "h3"));
  headers = g_variant_ref (pb_message_get_headers (message));
  g_assert_cmpuint (g_variant_n_children (headers), ==, 3);
  g_variant_get_child (headers, 1, "(&s@may)", &name, &maybe);
  g_assert_cmpstr (name, ==, "h2");
  g_assert_cmpuint (g_variant_n_children (maybe), ==, 0);
  g_variant_unref (maybe);

  message = g_ptr_array_index (keeper->kept, 1);
  g_assert_null (pb_message_get_key (message));
  g_assert_true (g_bytes_equal (pb_message_get_value (message), key));
  g_assert_cmpuint (g_variant_n_children (pb_message_get_headers (message)), ==, 0);

  message = g_ptr_array_index (keeper->kept, 2);
  g_assert_true (pb_message_is_tombstone (message));
  g_assert_null (pb_message_get_value (message));

  /* Bytes referenced during the handling still read right, and so do the
   * plain pointers the getters returned. */
  g_assert_cmpuint (keeper->values->len, ==, 1);
  g_assert_cmpuint (g_bytes_get_size (g_ptr_array_index (keeper->values, 0)), ==, 0);
  g_assert_cmpstr (keeper->topic, ==, fixture->topic);
  g_assert_cmpmem (keeper->value_data, keeper->value_len, "key", 3);
}

static void
test_header_names (PbTestFixture *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(TestKeeper) keeper = g_object_new (TEST_TYPE_KEEPER, "topic", fixture->topic, NULL);
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) value = NULL;
  rd_kafka_headers_t *headers = rd_kafka_headers_new (4);
  GVariantIter iter;
  const char *name;
  GVariant *maybe;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *expected[] = {
    "caf\xc3\xa9",        /* valid UTF-8: as it is */
    "\\xFF\\xFEx",          /* invalid bytes escaped */
    "a\\\\b-\\xC3",         /* and then backslashes doubled */
    "nul",                  /* librdkafka ends a name at NUL */
  };

  g_test_summary ("Header names that are not UTF-8 are escaped, valid ones are given "
                  "as they are, and a NUL ends a name");

  rd_kafka_header_add (headers, "caf\xc3\xa9", -1, "1", 1);
  rd_kafka_header_add (headers, "\xff\xfex", -1, "2", 1);
  rd_kafka_header_add (headers, "a\\b-\xc3", -1, "3", 1);
  rd_kafka_header_add (headers, "nul\0cut", 7, "4", 1);

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_with_headers (fixture->topic, 0, "v", headers);
  pb_test_produce (fixture->topic, 0, NULL, "w");
  pb_test_produce (fixture->topic, 0, NULL, "x");

  pb_test_add_handler (engine, keeper);
  g_assert_true (pb_test_run_until (engine, keeper_has_3, keeper, 30000, &error));
  g_assert_no_error (error);

  g_variant_iter_init (&iter, pb_message_get_headers (g_ptr_array_index (keeper->kept, 0)));
  while (g_variant_iter_next (&iter, "(&s@may)", &name, &maybe))
    {
      g_assert_true (g_utf8_validate (name, -1, NULL));
      g_ptr_array_add (names, g_strdup (name));
      g_variant_unref (maybe);
    }

  g_assert_cmpuint (names->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < names->len; i++)
    g_assert_cmpstr (g_ptr_array_index (names, i), ==, expected[i]);

  value = pb_message_get_header (g_ptr_array_index (keeper->kept, 0), "\\xFF\\xFEx");
  g_assert_nonnull (value);
  g_assert_cmpmem (g_bytes_get_data (value, NULL), g_bytes_get_size (value), "2", 1);

  g_ptr_array_unref (names);
}

/* Embedded cluster and threads */

static void
test_mock_url (PbTestFixture *fixture,
               gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_engine_new ("mock://3", fixture->group);
  g_autoptr(PbEngine) other = pb_engine_new ("mock://", fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) servers = NULL;
  PbMockCluster *cluster = pb_engine_get_mock_cluster (engine);
  g_autoptr(GBytes) value = g_bytes_new_static ("hello", 5);

  g_test_summary ("mock://N gives an engine its own N-broker cluster to run on");

  g_assert_nonnull (cluster);
  g_assert_cmpuint (pb_mock_cluster_get_n_brokers (cluster), ==, 3);
  g_assert_true (pb_engine_get_mock_cluster (other) != cluster);
  servers = g_strsplit (pb_engine_get_bootstrap_servers (engine), ",", -1);
  g_assert_cmpuint (g_strv_length (servers), ==, 3);
  g_assert_cmpstr (pb_engine_get_bootstrap_servers (engine), ==,
                   pb_mock_cluster_get_bootstrap_servers (cluster));

  g_assert_true (pb_mock_cluster_create_topic (cluster, fixture->topic, 2, &error));
  g_assert_cmpint (pb_mock_cluster_produce (cluster, fixture->topic, -1, NULL, value, NULL, &error), ==, 0);
  g_assert_no_error (error);

  pb_engine_set_config (engine, "session.timeout.ms", "6000", NULL);
  pb_engine_set_config (engine, "fetch.wait.max.ms", "10", NULL);
  pb_test_add_handler (engine, counter);
  pb_test_expect (counter, 1);
  g_assert_true (pb_test_run_until (engine, pb_test_counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);
}

typedef struct
{
  PbEngine     *engine;
  GThread      *thread;
  GThread      *handler_thread;
  gboolean      ok;
  GError       *error;
} ThreadRun;

#define TEST_TYPE_THREAD_CHECK (test_thread_check_get_type ())
G_DECLARE_FINAL_TYPE (TestThreadCheck, test_thread_check, TEST, THREAD_CHECK, PbHandler)

struct _TestThreadCheck
{
  PbHandler  parent_instance;
  ThreadRun *run;
  guint      n;
};

G_DEFINE_FINAL_TYPE (TestThreadCheck, test_thread_check, PB_TYPE_HANDLER)

static gboolean
test_thread_check_on_message (PbHandler  *handler,
                              PbMessage  *message,
                              GObject    *context,
                              GError    **error)
{
  TestThreadCheck *self = TEST_THREAD_CHECK (handler);

  g_atomic_pointer_set (&self->run->handler_thread, g_thread_self ());
  g_atomic_int_inc (&self->n);

  return TRUE;
}

static void
test_thread_check_class_init (TestThreadCheckClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_thread_check_on_message;
}

static void
test_thread_check_init (TestThreadCheck *self)
{
}

static gpointer
engine_thread (gpointer user_data)
{
  ThreadRun *run = user_data;
  g_autoptr(GMainContext) context = g_main_context_new ();

  g_main_context_push_thread_default (context);
  run->ok = pb_engine_run (run->engine, NULL, &run->error);
  g_main_context_pop_thread_default (context);

  return NULL;
}

static gboolean
thread_handled (gpointer user_data)
{
  return g_atomic_pointer_get (&((ThreadRun *)user_data)->handler_thread) != NULL;
}

static void
test_run_in_thread (PbTestFixture *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestThreadCheck) handler = g_object_new (TEST_TYPE_THREAD_CHECK,
                                                     "topic", fixture->topic, NULL);
  ThreadRun run = { engine, NULL, NULL, FALSE, NULL };

  g_test_summary ("pb_engine_run() in a worker thread runs the handlers on that thread's "
                  "context, and pb_engine_stop() works from another thread");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 2, "v");
  handler->run = &run;
  pb_test_add_handler (engine, handler);

  run.thread = g_thread_new ("engine", engine_thread, &run);
  pb_test_wait_until (thread_handled, &run, 30000);
  pb_engine_stop (engine);
  g_thread_join (run.thread);

  g_assert_no_error (run.error);
  g_assert_true (run.ok);
  g_assert_true (run.handler_thread == run.thread);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  PB_TEST_ADD ("consume/commit", test_consume_commit, NULL);
  PB_TEST_ADD ("consume/stop-from-handler", test_stop_from_handler, NULL);
  PB_TEST_ADD ("restart/resume", test_restart_resumes, NULL);
  PB_TEST_ADD ("message/contents", test_message_contents, NULL);
  PB_TEST_ADD ("message/header-names", test_header_names, NULL);
  PB_TEST_ADD ("mock/url", test_mock_url, NULL);
  PB_TEST_ADD ("thread/run", test_run_in_thread, NULL);

  return g_test_run ();
}
