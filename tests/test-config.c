/* test-config.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-test-util.h"
#include "test-handlers.h"

/* Configuration and bad input */

static void
test_config_errors (void)
{
  g_autoptr(PbEngine) engine = pb_engine_new ("localhost:9092", "group");
  g_autoptr(GError) error = NULL;
  const struct {
    const char *key;
    const char *value;
  } rejected[] = {
    { "no.such.property", "1" },
    { "session.timeout.ms", "soon" },
    { "enable.auto.commit", "false" },
    { "consumer.enable.auto.commit", "false" },
    { "enable.auto.offset.store", "true" },
    { "enable.partition.eof", "true" },
    { "log.queue", "false" },
    { "producer.enable.idempotence", "false" },
    { "group.id", "other" },
    { "bootstrap.servers", "elsewhere:9092" },
    { "consumer.no.such.property", "1" },
  };

  g_test_summary ("Unknown keys, bad values and keys the engine owns are PB_ERROR_CONFIG "
                  "at pb_engine_set_config()");

  for (guint i = 0; i < G_N_ELEMENTS (rejected); i++)
    {
      g_test_message ("%s = %s", rejected[i].key, rejected[i].value);
      g_assert_false (pb_engine_set_config (engine, rejected[i].key, rejected[i].value, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
      g_assert_nonnull (strstr (error->message, strchr (rejected[i].key, '.') != NULL &&
                                g_str_has_prefix (rejected[i].key, "consumer.")
                                ? rejected[i].key + strlen ("consumer.")
                                : g_str_has_prefix (rejected[i].key, "producer.")
                                ? rejected[i].key + strlen ("producer.")
                                : rejected[i].key));
      g_clear_error (&error);
    }

  g_assert_true (pb_engine_set_config (engine, "fetch.wait.max.ms", "10", &error));
  g_assert_true (pb_engine_set_config (engine, "consumer.session.timeout.ms", "6000", &error));
  g_assert_true (pb_engine_set_config (engine, "producer.linger.ms", "5", &error));
  g_assert_true (pb_engine_set_config (engine, "sasl.password", "hunter2", &error));
  g_assert_true (pb_engine_set_config (engine, "fetch.wait.max.ms", NULL, &error));
  g_assert_no_error (error);
}

static guint
count_occurrences (const char *text,
                   const char *fragment)
{
  guint n = 0;

  for (const char *at = strstr (text, fragment); at != NULL; at = strstr (at + 1, fragment))
    n++;

  return n;
}

static void
test_config_messages (void)
{
  g_autoptr(PbEngine) engine = pb_engine_new ("localhost:9092", "group");
  const struct {
    const char *key;
    const char *value;
  } rejected[] = {
    { "session.timeout.ms", "abc" },
    { "session.timeout.ms", "0" },
    { "isolation.level", "sideways" },
    { "consumer.fetch.wait.max.ms", "-5" },
  };

  g_test_summary ("An invalid value gives one sentence naming the property once");

  for (guint i = 0; i < G_N_ELEMENTS (rejected); i++)
    {
      g_autoptr(GError) error = NULL;
      const char *bare = g_str_has_prefix (rejected[i].key, "consumer.")
                         ? rejected[i].key + strlen ("consumer.")
                         : rejected[i].key;

      g_assert_false (pb_engine_set_config (engine, rejected[i].key, rejected[i].value, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
      g_test_message ("%s = %s: %s", rejected[i].key, rejected[i].value, error->message);
      g_assert_cmpuint (count_occurrences (error->message, bare), ==, 1);
      g_assert_cmpuint (count_occurrences (error->message, "nvalid value"), <=, 1);
    }
}

static void
test_group_id_required (void)
{
  g_autoptr(PbEngine) engine = pb_engine_new ("localhost:9092", "group");

  g_test_summary ("A NULL or empty group id is a programming error at pb_engine_new() and "
                  "pb_engine_set_group_id(), and changes nothing");

  g_test_expect_message ("Paperboy", G_LOG_LEVEL_CRITICAL, "*group_id != NULL*");
  g_assert_null (pb_engine_new ("localhost:9092", ""));
  g_test_assert_expected_messages ();

  g_test_expect_message ("Paperboy", G_LOG_LEVEL_CRITICAL, "*group_id != NULL*");
  g_assert_null (pb_engine_new ("localhost:9092", NULL));
  g_test_assert_expected_messages ();

  g_test_expect_message ("Paperboy", G_LOG_LEVEL_CRITICAL, "*group_id != NULL*");
  pb_engine_set_group_id (engine, "");
  g_test_assert_expected_messages ();

  g_test_expect_message ("Paperboy", G_LOG_LEVEL_CRITICAL, "*group_id != NULL*");
  g_object_set (engine, "group-id", NULL, NULL);
  g_test_assert_expected_messages ();

  g_assert_cmpstr (pb_engine_get_group_id (engine), ==, "group");
}

static void
test_no_topics (void)
{
  g_autoptr(PbEngine) engine = pb_engine_new ("localhost:9092", "group");
  g_autoptr(TestCounter) counter = test_counter_new (NULL);
  g_autoptr(GPtrArray) handlers = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A handler without topics is PB_ERROR_CONFIG naming its class; a C class "
                  "gets no hint about the Python overrides");

  g_assert_false (pb_engine_add_handler (engine, PB_HANDLER (counter), &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "TestCounter has no topics"));
  g_assert_null (strstr (error->message, "PYTHONPATH"));
  handlers = pb_engine_get_handlers (engine);
  g_assert_cmpuint (handlers->len, ==, 0);
}

static void
assert_run_fails (PbEngine   *engine,
                  GQuark      domain,
                  int         code,
                  const char *fragment)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (pb_engine_run (engine, NULL, &error));
  g_assert_error (error, domain, code);
  if (fragment != NULL)
    g_assert_nonnull (strstr (error->message, fragment));
  g_assert_cmpint (pb_engine_get_state (engine), ==, PB_ENGINE_STATE_FAILED);
}

static void
test_config_run_errors (PbTestFixture *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(PbEngine) no_handlers = pb_test_engine_new (fixture->group);
  g_autoptr(PbEngine) no_group = pb_test_engine_new (NULL);
  g_autoptr(PbEngine) bad_assignor = pb_test_engine_new (fixture->group);
  g_autoptr(PbEngine) bad_reset = pb_test_engine_new (fixture->group);
  g_autoptr(PbEngine) bad_mock = pb_engine_new ("mock://many", fixture->group);
  g_autoptr(GError) error = NULL;

  g_test_summary ("No handlers, no group, a value only rd_kafka_new() rejects, a bad "
                  "auto-offset-reset and a bad mock:// address fail run at once");

  assert_run_fails (no_handlers, PB_ERROR, PB_ERROR_NO_HANDLER, NULL);

  pb_test_add_new_handler (no_group, test_counter_new (fixture->topic));
  assert_run_fails (no_group, PB_ERROR, PB_ERROR_CONFIG, NULL);

  g_assert_true (pb_engine_set_config (bad_assignor, "partition.assignment.strategy",
                                       "no-such-assignor", &error));
  g_assert_no_error (error);
  pb_test_add_new_handler (bad_assignor, test_counter_new (fixture->topic));
  assert_run_fails (bad_assignor, PB_ERROR, PB_ERROR_CONFIG, "no-such-assignor");

  pb_engine_set_auto_offset_reset (bad_reset, "sideways");
  pb_test_add_new_handler (bad_reset, test_counter_new (fixture->topic));
  assert_run_fails (bad_reset, PB_ERROR, PB_ERROR_CONFIG, "auto.offset.reset");

  pb_test_add_new_handler (bad_mock, test_counter_new (fixture->topic));
  g_assert_null (pb_engine_get_mock_cluster (bad_mock));
  assert_run_fails (bad_mock, PB_ERROR, PB_ERROR_CONFIG, "mock://many");

  /* A failed engine runs again once fixed. */
  g_assert_false (pb_engine_run (no_handlers, NULL, &error));
  g_clear_error (&error);
}

static void
test_commit_interval (PbTestFixture *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  guint before = pb_engine_get_commit_interval_ms (engine);
  guint interval;

  g_test_summary ("commit-interval-ms out of librdkafka's range (1 to 86400000) is refused "
                  "when it is set, through the setter and the property; the maximum runs");

  g_test_expect_message ("Paperboy", G_LOG_LEVEL_CRITICAL, "*commit_interval_ms*");
  pb_engine_set_commit_interval_ms (engine, 4294967295u);
  g_test_assert_expected_messages ();
  g_test_expect_message ("Paperboy", G_LOG_LEVEL_CRITICAL, "*commit_interval_ms*");
  pb_engine_set_commit_interval_ms (engine, 86400001);
  g_test_assert_expected_messages ();
  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*commit-interval-ms*");
  g_object_set (engine, "commit-interval-ms", 86400001, NULL);
  g_test_assert_expected_messages ();
  g_object_get (engine, "commit-interval-ms", &interval, NULL);
  g_assert_cmpuint (interval, ==, before);

  pb_engine_set_commit_interval_ms (engine, 86400000);
  g_assert_cmpuint (pb_engine_get_commit_interval_ms (engine), ==, 86400000);

  pb_test_produce (fixture->topic, 0, "k", "v");
  pb_test_add_handler (engine, counter);
  pb_test_expect (counter, 1);
  g_assert_true (pb_test_run_until (engine, pb_test_counter_has_expected, counter, 60000, &error));
  g_assert_no_error (error);
}

static void
test_missing_topic (PbTestFixture *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A topic the cluster does not have fails run with PB_ERROR_KAFKA naming it");

  if (pb_test_mock_cluster () == NULL)
    {
      g_test_skip ("needs the mock cluster to fake a missing topic");
      return;
    }

  g_assert_true (pb_mock_cluster_set_topic_error (pb_test_mock_cluster (), fixture->topic,
                                                  3 /* UNKNOWN_TOPIC_OR_PARTITION */, &error));
  g_assert_no_error (error);

  pb_test_add_new_handler (engine, test_counter_new (fixture->topic));
  g_assert_false (pb_test_run_until (engine, NULL, NULL, 60000, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_KAFKA);
  g_assert_nonnull (strstr (error->message, fixture->topic));

  pb_mock_cluster_set_topic_error (pb_test_mock_cluster (), fixture->topic, 0, NULL);
}

static gboolean
time_passed (gpointer user_data)
{
  return g_get_monotonic_time () > *(gint64 *)user_data;
}

static void
test_unreachable_broker (PbTestFixture *fixture,
                         gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = g_object_new (PB_TYPE_ENGINE,
                                             "bootstrap-servers", "127.0.0.1:1",
                                             "group-id", fixture->group,
                                             NULL);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  gint64 until = g_get_monotonic_time () + G_USEC_PER_SEC;

  g_test_summary ("An unreachable broker is retried, and stop still ends the run");

  pb_engine_set_config (engine, "session.timeout.ms", "6000", NULL);
  pb_engine_set_config (engine, "reconnect.backoff.max.ms", "200", NULL);
  pb_test_add_handler (engine, counter);
  g_assert_true (pb_test_run_until (engine, time_passed, &until, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (counter->n_handled, ==, 0);
}

static void
test_auto_offset_reset_error (PbTestFixture *fixture,
                              gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("With auto-offset-reset \"error\", a partition without a committed offset "
                  "fails the run instead of stalling");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 2, "v");
  pb_engine_set_auto_offset_reset (engine, "error");
  pb_test_add_handler (engine, counter);

  g_assert_false (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_KAFKA);
  g_assert_nonnull (strstr (error->message, fixture->topic));
  g_assert_cmpuint (counter->n_handled, ==, 0);
}

static gboolean
counter_has_one (gpointer user_data)
{
  return TEST_COUNTER (user_data)->n_handled >= 1;
}

static void
test_set_config_running (PbTestFixture *fixture,
                         gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  TestCounter *counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  PbTestRun *run;

  g_test_summary ("pb_engine_set_config() on a running engine fails with PB_ERROR_FAILED "
                  "and changes nothing; once stopped it works again");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");
  pb_test_add_new_handler (engine, counter);

  run = pb_test_start (engine);
  pb_test_wait_until (counter_has_one, counter, 30000);

  g_assert_false (pb_engine_set_config (engine, "fetch.wait.max.ms", "100", &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "fetch.wait.max.ms"));
  g_clear_error (&error);

  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);

  g_assert_true (pb_engine_set_config (engine, "fetch.wait.max.ms", "100", &error));
  g_assert_no_error (error);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/Engine/config/set-config", test_config_errors);
  g_test_add_func ("/Paperboy/Engine/config/messages", test_config_messages);
  g_test_add_func ("/Paperboy/Engine/config/group-id-required", test_group_id_required);
  g_test_add_func ("/Paperboy/Engine/bad-input/no-topics", test_no_topics);
  PB_TEST_ADD ("config/run", test_config_run_errors, NULL);
  PB_TEST_ADD ("config/set-config-running", test_set_config_running, NULL);
  PB_TEST_ADD ("config/commit-interval", test_commit_interval, NULL);
  PB_TEST_ADD ("bad-input/missing-topic", test_missing_topic, NULL);
  PB_TEST_ADD ("bad-input/unreachable-broker", test_unreachable_broker, NULL);
  PB_TEST_ADD ("bad-input/auto-offset-reset-error", test_auto_offset_reset_error, NULL);

  return g_test_run ();
}
