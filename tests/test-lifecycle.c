/* test-lifecycle.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-test-util.h"
#include "test-handlers.h"

/* The handler lifecycle and its failures */

/* Lifecycle */

static void
test_lifecycle_order (PbTestFixture *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestRecorder) recorder = test_recorder_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  const char *expected[] = {
    "define_context", "did_receive_message:0", "on_message:0:v0", "on_finished_handling:0",
    "define_context", "did_receive_message:1", "on_tombstone:1", "on_finished_handling:1",
    "define_context", "did_receive_message:2", "on_message:2:", "on_finished_handling:2",
    NULL
  };

  g_test_summary ("Every vfunc runs in order, tombstones go to on_tombstone, "
                  "one context per message");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce (fixture->topic, 0, "k0", "v0");
  pb_test_produce (fixture->topic, 0, "k1", NULL);
  pb_test_produce (fixture->topic, 0, NULL, "");

  pb_test_add_handler (engine, recorder);
  pb_test_expect (recorder, 3);
  g_assert_true (pb_test_run_until (engine, pb_test_recorder_has_expected, recorder, 30000, &error));
  g_assert_no_error (error);

  pb_test_assert_events (recorder->events, expected);
  g_assert_false (recorder->context_mismatch);
  g_assert_cmpuint (recorder->contexts->len, ==, 3);
  g_assert_true (recorder->contexts->pdata[0] != recorder->contexts->pdata[1]);
  g_assert_true (recorder->contexts->pdata[1] != recorder->contexts->pdata[2]);
  /* The engine released every context. */
  for (guint i = 0; i < recorder->contexts->len; i++)
    g_assert_cmpuint (G_OBJECT (recorder->contexts->pdata[i])->ref_count, ==, 1);

  for (guint i = 0; i < recorder->finished->len; i++)
    {
      PbMessage *message = g_ptr_array_index (recorder->finished, i);

      g_assert_cmpstr (pb_message_get_topic (message), ==, fixture->topic);
      g_assert_cmpint (pb_message_get_partition (message), ==, 0);
      g_assert_cmpint (pb_message_get_offset (message), ==, i);
    }

  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 3);
}

static void
test_lifecycle_replace_skip (PbTestFixture *fixture,
                             gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestRecorder) recorder = test_recorder_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  g_autofree char *value = NULL;
  PbMessage *replaced;
  const char *expected[] = {
    "define_context", "did_receive_message:0", "on_message:0:replaced", "on_finished_handling:0",
    "define_context", "did_receive_message:1", "on_finished_handling:1",
    "define_context", "did_receive_message:2", "on_message:2:v-2", "on_finished_handling:2",
    NULL
  };

  g_test_summary ("The message did_receive_message returns is handled; NULL skips the record");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");

  recorder->replace_at = 0;
  recorder->skip_at = 1;
  pb_test_add_handler (engine, recorder);
  pb_test_expect (recorder, 3);
  g_assert_true (pb_test_run_until (engine, pb_test_recorder_has_expected, recorder, 30000, &error));
  g_assert_no_error (error);

  pb_test_assert_events (recorder->events, expected);

  /* The replacement keeps the record's provenance. */
  replaced = g_ptr_array_index (recorder->finished, 0);
  value = pb_test_bytes_to_string (pb_message_get_value (replaced));
  g_assert_cmpstr (value, ==, "replaced");
  g_assert_cmpstr (pb_message_get_topic (replaced), ==, fixture->topic);
  g_assert_cmpint (pb_message_get_offset (replaced), ==, 0);

  /* Skipped records count as handled. */
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 3);
}

/* Errors */

static void
run_failing_recorder (PbTestFixture  *fixture,
                      TestRecorder   *recorder,
                      PbEngine       *engine,
                      guint           n_records,
                      guint           n_expected,
                      GError        **error)
{
  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, n_records, "v");
  pb_test_add_handler (engine, recorder);
  pb_test_expect (recorder, n_expected);
  pb_test_run_until (engine, pb_test_recorder_has_expected, recorder, 30000, error);
}

static void
test_error_continue (PbTestFixture *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestRecorder) recorder = test_recorder_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  g_autofree char *on_error = g_strdup_printf ("on_error:2:g-io-error-quark:%d",
                                               G_IO_ERROR_INVALID_DATA);
  GError *got;
  guint error_index, finished_index;

  g_test_summary ("on_error gets the handler's own error; CONTINUE goes on and commits");

  recorder->fail_at = 2;
  recorder->action = PB_ERROR_ACTION_CONTINUE;
  pb_engine_set_fail_on_exception (engine, TRUE);
  run_failing_recorder (fixture, recorder, engine, 5, 5, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (recorder->errors->len, ==, 1);
  got = g_ptr_array_index (recorder->errors, 0);
  g_assert_error (got, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpstr (got->message, ==, "planned failure at 2");

  g_assert_true (g_ptr_array_find_with_equal_func (recorder->events, on_error, g_str_equal, &error_index));
  g_assert_true (g_ptr_array_find_with_equal_func (recorder->events, "on_finished_handling:2",
                                                   g_str_equal, &finished_index));
  g_assert_cmpuint (error_index, <, finished_index);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 5);
}

static void
test_error_stop_without_fail_on_exception (PbTestFixture *fixture,
                                           gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestRecorder) recorder = test_recorder_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("STOP without fail-on-exception logs the failure and goes on");

  recorder->fail_at = 1;
  recorder->action = PB_ERROR_ACTION_STOP;
  g_assert_false (pb_engine_get_fail_on_exception (engine));
  run_failing_recorder (fixture, recorder, engine, 4, 4, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (recorder->errors->len, ==, 1);
  g_assert_true (test_recorder_has_event (recorder, "on_message:3:v-3"));
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 4);
}

static void
test_error_fail_on_exception (PbTestFixture *fixture,
                              gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(PbEngine) engine2 = pb_test_engine_new (fixture->group);
  g_autoptr(TestRecorder) recorder = test_recorder_new (fixture->topic);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("STOP with fail-on-exception ends run with the error, commits the "
                  "offsets before the failing record, and a restart handles it again");

  recorder->fail_at = 2;
  recorder->action = PB_ERROR_ACTION_STOP;
  pb_engine_set_fail_on_exception (engine, TRUE);

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 5, "v");
  pb_test_add_handler (engine, recorder);

  /* The engine stops by itself. */
  g_assert_false (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, "planned failure at 2");
  g_assert_cmpint (pb_engine_get_state (engine), ==, PB_ENGINE_STATE_FAILED);

  g_assert_true (test_recorder_has_event (recorder, "on_finished_handling:2"));
  g_assert_false (test_recorder_has_event (recorder, "on_message:3:v-3"));
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 2);

  /* The failed record is the first one the group reads again. */
  pb_test_add_handler (engine2, counter);
  pb_test_expect (counter, 3);
  g_clear_error (&error);
  g_assert_true (pb_test_run_until (engine2, pb_test_counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);
  pb_test_assert_record (counter->records, 0, fixture->topic, 0, 2, "v-2");
  g_assert_cmpuint (counter->records->len, ==, 3);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 5);
}

static void
test_error_without_gerror (PbTestFixture *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestRecorder) recorder = test_recorder_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  GError *got;

  g_test_summary ("A FALSE return without a GError reaches on_error as PB_ERROR_HANDLER "
                  "naming the handler and the vfunc");

  recorder->fail_at = 1;
  recorder->fail_without_error = TRUE;
  run_failing_recorder (fixture, recorder, engine, 3, 3, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (recorder->errors->len, ==, 1);
  got = g_ptr_array_index (recorder->errors, 0);
  g_assert_error (got, PB_ERROR, PB_ERROR_HANDLER);
  g_assert_nonnull (strstr (got->message, "TestRecorder.on_message()"));
}

static void
test_error_in_finished_handling (PbTestFixture *fixture,
                                 gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestRecorder) recorder = test_recorder_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  g_autofree char *on_error = g_strdup_printf ("on_error:1:g-io-error-quark:%d", G_IO_ERROR_FAILED);
  guint n_finished_1 = 0;

  g_test_summary ("A failing on_finished_handling reaches on_error, once");

  recorder->fail_finished_at = 1;
  run_failing_recorder (fixture, recorder, engine, 3, 3, &error);
  g_assert_no_error (error);

  g_assert_true (test_recorder_has_event (recorder, on_error));
  for (guint i = 0; i < recorder->events->len; i++)
    if (g_str_equal (g_ptr_array_index (recorder->events, i), "on_finished_handling:1"))
      n_finished_1++;
  g_assert_cmpuint (n_finished_1, ==, 1);
}

static gpointer
turn_on_thread (gpointer data)
{
  pb_engine_set_fail_on_exception (data, TRUE);
  return NULL;
}

static void
test_live_fail_on_exception (PbTestFixture *fixture,
                             gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestRecorder) recorder = test_recorder_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  PbTestRun *run;

  g_test_summary ("fail-on-exception applies to a running engine, set from another thread: "
                  "a failure before goes on, the next one stops the run, with the offsets "
                  "before it committed");

  for (int i = 0; i < 3; i++)
    pb_test_produce (fixture->topic, 0, "k", "v");
  recorder->fail_at = 1;
  recorder->action = PB_ERROR_ACTION_STOP;
  pb_test_add_handler (engine, recorder);
  pb_test_expect (recorder, 3);
  run = pb_test_start (engine);
  pb_test_wait_until (pb_test_recorder_has_expected, recorder, 60000);
  g_assert_false (pb_test_run_is_done (run));

  g_thread_join (g_thread_new ("settings", turn_on_thread, engine));
  /* The setting reaches the run from its main context. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  recorder->fail_at = 4;
  for (int i = 0; i < 3; i++)
    pb_test_produce (fixture->topic, 0, "k", "v");

  pb_test_wait_until ((PbTestCondition) pb_test_run_is_done, run, 60000);
  g_assert_false (pb_test_finish (run, FALSE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "at 4"));
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 4);
  g_assert_false (test_recorder_has_event (recorder, "on_message:5"));
}

/* Returns TRUE from on_message but sets an error: a bug of the handler. */
#define TEST_TYPE_CONTRADICTION (test_contradiction_get_type ())
G_DECLARE_FINAL_TYPE (TestContradiction, test_contradiction, TEST, CONTRADICTION, PbHandler)

struct _TestContradiction
{
  PbHandler parent_instance;
  guint     n;
};

G_DEFINE_FINAL_TYPE (TestContradiction, test_contradiction, PB_TYPE_HANDLER)

static gboolean
test_contradiction_on_message (PbHandler  *handler,
                               PbMessage  *message,
                               GObject    *context,
                               GError    **error)
{
  TEST_CONTRADICTION (handler)->n++;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "but it worked");

  return TRUE;
}

static gboolean
test_contradiction_has_2 (gpointer user_data)
{
  return TEST_CONTRADICTION (user_data)->n >= 2;
}

static void
test_contradiction_class_init (TestContradictionClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_contradiction_on_message;
}

static void
test_contradiction_init (TestContradiction *self)
{
}

static void
test_error_true_with_error (PbTestFixture *fixture,
                            gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestContradiction) handler = g_object_new (TEST_TYPE_CONTRADICTION,
                                                       "topic", fixture->topic, NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A virtual function that returns TRUE and sets an error is a bug the "
                  "engine reports as a critical, whatever the path; the record counts as handled");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 2, "v");
  pb_test_add_handler (engine, handler);

  g_test_expect_message ("Paperboy", G_LOG_LEVEL_CRITICAL,
                         "*TestContradiction.on_message() returned TRUE but set an error: but it worked");
  g_test_expect_message ("Paperboy", G_LOG_LEVEL_CRITICAL,
                         "*TestContradiction.on_message() returned TRUE but set an error: but it worked");
  g_assert_true (pb_test_run_until (engine, test_contradiction_has_2, handler, 30000, &error));
  g_assert_no_error (error);
  g_test_assert_expected_messages ();

  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 2);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  PB_TEST_ADD ("lifecycle/order", test_lifecycle_order, NULL);
  PB_TEST_ADD ("lifecycle/replace-skip", test_lifecycle_replace_skip, NULL);
  PB_TEST_ADD ("error/continue", test_error_continue, NULL);
  PB_TEST_ADD ("error/stop-without-fail-on-exception", test_error_stop_without_fail_on_exception, NULL);
  PB_TEST_ADD ("error/fail-on-exception", test_error_fail_on_exception, NULL);
  PB_TEST_ADD ("error/fail-on-exception-live", test_live_fail_on_exception, NULL);
  PB_TEST_ADD ("error/false-without-error", test_error_without_gerror, NULL);
  PB_TEST_ADD ("error/finished-handling", test_error_in_finished_handling, NULL);
  PB_TEST_ADD ("error/true-with-error", test_error_true_with_error, NULL);

  return g_test_run ();
}
