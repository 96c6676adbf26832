/* test-engine.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "pb-test-util.h"
#include "test-handlers.h"

typedef struct
{
  char *topic;
  char *group;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  fixture->topic = pb_test_unique ("topic");
  fixture->group = pb_test_unique ("group");
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_free (fixture->topic);
  g_free (fixture->group);
}

static void
add_handler (PbEngine  *engine,
             gpointer   handler)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (pb_engine_add_handler (engine, PB_HANDLER (handler), &error));
  g_assert_no_error (error);
}

static void
add_new_handler (PbEngine  *engine,
                 gpointer   handler)
{
  add_handler (engine, handler);
  g_object_unref (handler);
}

static void
assert_record (GPtrArray  *records,
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

static gboolean
counter_has_expected (gpointer user_data)
{
  TestCounter *counter = user_data;

  return counter->n_handled >= GPOINTER_TO_UINT (g_object_get_data (user_data, "expected"));
}

static void
expect (gpointer object,
        guint    n)
{
  g_object_set_data (object, "expected", GUINT_TO_POINTER (n));
}

static gboolean
recorder_has_expected (gpointer user_data)
{
  return test_recorder_finished (user_data,
                                 GPOINTER_TO_UINT (g_object_get_data (user_data, "expected")));
}

static gboolean
async_has_expected (gpointer user_data)
{
  TestAsync *handler = user_data;

  return handler->done->len + handler->errors->len >=
         GPOINTER_TO_UINT (g_object_get_data (user_data, "expected"));
}

static GError *
error_at (GPtrArray *errors,
          guint      i)
{
  g_assert_cmpuint (i, <, errors->len);
  return g_ptr_array_index (errors, i);
}

static void
assert_events (GPtrArray          *events,
               const char * const *expected)
{
  g_autofree char *got = NULL;
  g_autofree char *want = g_strjoinv (" ", (char **)expected);

  g_ptr_array_add (events, NULL);
  got = g_strjoinv (" ", (char **)events->pdata);
  g_ptr_array_remove_index (events, events->len - 1);

  g_assert_cmpstr (got, ==, want);
}

/* Consuming and committing */

static void
test_consume_commit (Fixture       *fixture,
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

  add_handler (engine, counter);
  expect (counter, 15);
  g_assert_true (pb_test_run_until (engine, counter_has_expected, counter, 30000, &error));
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
test_stop_from_handler (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A handler can stop the engine; what it handled is committed");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 20, "v");

  add_handler (engine, counter);
  counter->stop_engine = engine;
  counter->stop_after = 7;

  g_assert_true (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (counter->n_handled, ==, 7);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 7);
}

/* Lifecycle */

static void
test_lifecycle_order (Fixture       *fixture,
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

  add_handler (engine, recorder);
  expect (recorder, 3);
  g_assert_true (pb_test_run_until (engine, recorder_has_expected, recorder, 30000, &error));
  g_assert_no_error (error);

  assert_events (recorder->events, expected);
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
test_lifecycle_replace_skip (Fixture       *fixture,
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
  add_handler (engine, recorder);
  expect (recorder, 3);
  g_assert_true (pb_test_run_until (engine, recorder_has_expected, recorder, 30000, &error));
  g_assert_no_error (error);

  assert_events (recorder->events, expected);

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
run_failing_recorder (Fixture       *fixture,
                      TestRecorder  *recorder,
                      PbEngine      *engine,
                      guint          n_records,
                      guint          n_expected,
                      GError       **error)
{
  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, n_records, "v");
  add_handler (engine, recorder);
  expect (recorder, n_expected);
  pb_test_run_until (engine, recorder_has_expected, recorder, 30000, error);
}

static void
test_error_continue (Fixture       *fixture,
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
test_error_stop_without_fail_on_exception (Fixture       *fixture,
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
test_error_fail_on_exception (Fixture       *fixture,
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
  add_handler (engine, recorder);

  /* The engine stops by itself. */
  g_assert_false (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, "planned failure at 2");
  g_assert_cmpint (pb_engine_get_state (engine), ==, PB_ENGINE_STATE_FAILED);

  g_assert_true (test_recorder_has_event (recorder, "on_finished_handling:2"));
  g_assert_false (test_recorder_has_event (recorder, "on_message:3:v-3"));
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 2);

  /* The failed record is the first one the group reads again. */
  add_handler (engine2, counter);
  expect (counter, 3);
  g_clear_error (&error);
  g_assert_true (pb_test_run_until (engine2, counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);
  assert_record (counter->records, 0, fixture->topic, 0, 2, "v-2");
  g_assert_cmpuint (counter->records->len, ==, 3);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 5);
}

static void
test_error_without_gerror (Fixture       *fixture,
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
test_error_in_finished_handling (Fixture       *fixture,
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

/* Asynchronous handlers */

static void
assert_ordered (GPtrArray *ids,
                int        n_partitions)
{
  g_autofree gint64 *last = g_new (gint64, n_partitions);

  for (int i = 0; i < n_partitions; i++)
    last[i] = -1;

  for (guint i = 0; i < ids->len; i++)
    {
      g_auto(GStrv) parts = g_strsplit (g_ptr_array_index (ids, i), "/", 2);
      int partition = atoi (parts[0]);
      gint64 offset = g_ascii_strtoll (parts[1], NULL, 10);

      g_assert_cmpint (offset, ==, last[partition] + 1);
      last[partition] = offset;
    }
}

static void
test_async_order (Fixture       *fixture,
                  gconstpointer  user_data)
{
  guint max_in_flight = GPOINTER_TO_UINT (user_data);
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestAsync) handler = test_async_new (fixture->topic, TEST_ASYNC_COMPLETE);
  g_autoptr(GError) error = NULL;

  g_test_summary ("An async handle() completing later keeps per-partition order; "
                  "max-in-flight bounds concurrency across partitions");

  pb_test_create_topic (fixture->topic, 3);
  for (int p = 0; p < 3; p++)
    pb_test_produce_many (fixture->topic, p, 10, "v");

  pb_engine_set_max_in_flight (engine, max_in_flight);
  add_handler (engine, handler);
  expect (handler, 30);
  g_assert_true (pb_test_run_until (engine, async_has_expected, handler, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (handler->done->len, ==, 30);
  g_assert_cmpuint (handler->errors->len, ==, 0);
  assert_ordered (handler->started, 3);
  assert_ordered (handler->done, 3);
  g_assert_cmpuint (handler->max_concurrent, <=, max_in_flight);
  if (max_in_flight > 1)
    g_assert_cmpuint (handler->max_concurrent, >, 1);

  for (int p = 0; p < 3; p++)
    g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, p), ==, 10);
}

static void
test_async_failures (Fixture       *fixture,
                     gconstpointer  user_data)
{
  TestAsyncMode mode = GPOINTER_TO_INT (user_data);
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestAsync) handler = test_async_new (fixture->topic, mode);
  g_autoptr(GError) error = NULL;

  g_test_summary ("An async failure, a dropped task and a task that never returns "
                  "(with handling-timeout-ms) all reach on_error");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");

  if (mode == TEST_ASYNC_COMPLETE)
    handler->fail_at = 1;
  g_object_set (engine, "handling-timeout-ms", 300, NULL);
  add_handler (engine, handler);
  expect (handler, 3);
  g_assert_true (pb_test_run_until (engine, async_has_expected, handler, 30000, &error));
  g_assert_no_error (error);

  switch ((int)mode)
    {
    case TEST_ASYNC_COMPLETE:
      g_assert_cmpuint (handler->errors->len, ==, 1);
      g_assert_error (error_at (handler->errors, 0), G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
      break;

    case TEST_ASYNC_DROP:
      g_assert_cmpuint (handler->errors->len, ==, 3);
      g_assert_error (error_at (handler->errors, 0), PB_ERROR, PB_ERROR_HANDLER);
      g_assert_nonnull (strstr (error_at (handler->errors, 0)->message,
                                "dropped"));
      break;

    case TEST_ASYNC_NEVER:
      g_assert_cmpuint (handler->errors->len, ==, 3);
      g_assert_error (error_at (handler->errors, 0), PB_ERROR, PB_ERROR_HANDLER);
      g_assert_cmpuint (handler->kept_tasks->len, ==, 3);
      for (guint i = 0; i < handler->kept_tasks->len; i++)
        {
          GTask *task = g_ptr_array_index (handler->kept_tasks, i);

          g_assert_true (g_cancellable_is_cancelled (g_task_get_cancellable (task)));
          /* A late result is ignored. */
          g_task_return_boolean (task, TRUE);
        }
      while (g_main_context_iteration (NULL, FALSE))
        ;
      /* The tasks hold the handler: break the cycle. */
      g_ptr_array_set_size (handler->kept_tasks, 0);
      break;

    default:
      g_assert_not_reached ();
    }

  /* With CONTINUE, failed records count as handled. */
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 3);
}

static gboolean
gio_async_done (gpointer user_data)
{
  TestGioAsync *handler = user_data;

  return handler->done->len + handler->errors->len >= 3;
}

static void
test_async_gio (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestGioAsync) handler = g_object_new (TEST_TYPE_GIO_ASYNC, "topic", fixture->topic, NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A C handler overriding handle_async/handle_finish is awaited");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");

  handler->fail_at = 1;
  add_handler (engine, handler);
  g_assert_true (pb_test_run_until (engine, gio_async_done, handler, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (handler->done->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (handler->done, 0), ==, "0");
  g_assert_cmpstr (g_ptr_array_index (handler->done, 1), ==, "2");
  g_assert_cmpuint (handler->errors->len, ==, 1);
  g_assert_error (error_at (handler->errors, 0), G_IO_ERROR, G_IO_ERROR_BUSY);
}

/* Registration */

static gboolean
typed_handled_3 (gpointer user_data)
{
  return test_typed_handled >= 3;
}

static void
test_register_by_type (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(GPtrArray) handlers = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A handler registered by GType is created with g_object_new() and used");

  test_typed_topic = fixture->topic;
  test_typed_handled = 0;

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");

  g_assert_true (pb_engine_add_handler_type (engine, TEST_TYPE_TYPED, &error));
  g_assert_no_error (error);
  handlers = pb_engine_get_handlers (engine);
  g_assert_cmpuint (handlers->len, ==, 1);
  g_assert_true (TEST_IS_TYPED (g_ptr_array_index (handlers, 0)));

  g_assert_true (pb_test_run_until (engine, typed_handled_3, NULL, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (test_typed_handled, ==, 3);
}

static void
test_register_errors (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) first = test_counter_new (fixture->topic);
  g_autoptr(TestCounter) second = test_counter_new (fixture->topic);
  g_autoptr(PbHandler) no_topic = g_object_new (PB_TYPE_HANDLER, NULL);
  g_autoptr(TestCounter) pattern = test_counter_new ("^events-.*");
  g_autoptr(TestCounter) empty = test_counter_new ("");
  g_autoptr(GPtrArray) handlers = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A second handler for a topic, a handler without topics, a pattern "
                  "and a type that is not a handler are configuration errors");

  add_handler (engine, first);

  g_assert_false (pb_engine_add_handler (engine, PB_HANDLER (second), &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, fixture->topic));
  g_clear_error (&error);

  g_assert_false (pb_engine_add_handler (engine, no_topic, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_false (pb_engine_add_handler (engine, PB_HANDLER (pattern), &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_false (pb_engine_add_handler (engine, PB_HANDLER (empty), &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_false (pb_engine_add_handler_type (engine, G_TYPE_OBJECT, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  /* A rejected handler leaves nothing behind. */
  handlers = pb_engine_get_handlers (engine);
  g_assert_cmpuint (handlers->len, ==, 1);
}

/* Restart and stop */

static void
test_restart_resumes (Fixture       *fixture,
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

  add_handler (engine, counter);
  expect (counter, 20);
  g_assert_true (pb_test_run_until (engine, counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (counter->n_handled, ==, 20);

  pb_test_produce_many (fixture->topic, 0, 3, "c");
  pb_test_produce_many (fixture->topic, 1, 2, "d");

  add_handler (engine2, counter2);
  expect (counter2, 5);
  g_assert_true (pb_test_run_until (engine2, counter_has_expected, counter2, 30000, &error));
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

static gboolean
async_started_one (gpointer user_data)
{
  return TEST_ASYNC (user_data)->started->len >= 1;
}

static void
test_stop_mid_handling (Fixture       *fixture,
                        gconstpointer  user_data)
{
  TestAsyncMode mode = GPOINTER_TO_INT (user_data);
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(PbEngine) engine2 = pb_test_engine_new (fixture->group);
  g_autoptr(TestAsync) handler = test_async_new (fixture->topic, mode);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  gint64 committed;

  g_test_summary ("Stopping while a record is in flight lets it finish (or abandons it "
                  "after stop-timeout-ms) and commits only what was handled");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 5, "v");

  handler->base_delay_ms = 500;
  g_object_set (engine, "stop-timeout-ms", 300, NULL);
  if (mode == TEST_ASYNC_COMPLETE)
    g_object_set (engine, "stop-timeout-ms", 10000, NULL);
  add_handler (engine, handler);

  g_assert_true (pb_test_run_until (engine, async_started_one, handler, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (handler->started->len, ==, 1);
  committed = pb_test_committed (fixture->group, fixture->topic, 0);

  if (mode == TEST_ASYNC_COMPLETE)
    {
      g_assert_cmpuint (handler->done->len, ==, 1);
      g_assert_cmpint (committed, ==, 1);
    }
  else
    {
      g_assert_cmpuint (handler->done->len, ==, 0);
      g_assert_cmpint (committed, ==, -1);
      g_assert_true (g_cancellable_is_cancelled (
        g_task_get_cancellable (g_ptr_array_index (handler->kept_tasks, 0))));
      /* The tasks hold the handler: break the cycle. */
      g_ptr_array_set_size (handler->kept_tasks, 0);
    }

  /* The next engine starts right after the last handled record. */
  add_handler (engine2, counter);
  expect (counter, mode == TEST_ASYNC_COMPLETE ? 4 : 5);
  g_assert_true (pb_test_run_until (engine2, counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);
  if (mode == TEST_ASYNC_COMPLETE)
    assert_record (counter->records, 0, fixture->topic, 0, 1, "v-1");
  else
    assert_record (counter->records, 0, fixture->topic, 0, 0, "v-0");
}

typedef struct
{
  PbEngine     *engine;
  GAsyncResult *result;
  GArray       *states;
} StateRun;

static void
state_notify_cb (PbEngine   *engine,
                 GParamSpec *pspec,
                 StateRun   *run)
{
  PbEngineState state = pb_engine_get_state (engine);

  g_array_append_val (run->states, state);
}

static void
state_run_done_cb (GObject      *source_object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  StateRun *run = user_data;

  run->result = g_object_ref (result);
}

static gboolean
state_run_done (gpointer user_data)
{
  return ((StateRun *)user_data)->result != NULL;
}

static gboolean
state_is_running (gpointer user_data)
{
  return pb_engine_get_state (((StateRun *)user_data)->engine) == PB_ENGINE_STATE_RUNNING;
}

static void
test_stop_cancellable_and_signal (Fixture       *fixture,
                                  gconstpointer  user_data)
{
  gboolean use_signal = GPOINTER_TO_INT (user_data);
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  StateRun run = { engine, NULL, g_array_new (FALSE, FALSE, sizeof (PbEngineState)) };
  PbEngineState expected[] = {
    PB_ENGINE_STATE_STARTING, PB_ENGINE_STATE_JOINING, PB_ENGINE_STATE_RUNNING,
    PB_ENGINE_STATE_STOPPING, PB_ENGINE_STATE_STOPPED,
  };

  g_test_summary ("The run's cancellable and SIGTERM (with handle-signals) stop the engine "
                  "gracefully, through the expected states");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");
  add_handler (engine, counter);
  pb_engine_set_handle_signals (engine, use_signal);
  g_signal_connect (engine, "notify::state", G_CALLBACK (state_notify_cb), &run);

  pb_engine_run_async (engine, cancellable, state_run_done_cb, &run);
  pb_test_wait_until (state_is_running, &run, 30000);
  expect (counter, 3);
  pb_test_wait_until (counter_has_expected, counter, 30000);

  if (use_signal)
    kill (getpid (), SIGTERM);
  else
    g_cancellable_cancel (cancellable);

  pb_test_wait_until (state_run_done, &run, 30000);
  g_assert_true (pb_engine_run_finish (engine, run.result, &error));
  g_assert_no_error (error);

  g_assert_cmpmem (run.states->data, run.states->len * sizeof (PbEngineState),
                   expected, sizeof expected);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 3);

  g_array_unref (run.states);
  g_object_unref (run.result);
}

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
test_config_run_errors (Fixture       *fixture,
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

  add_new_handler (no_group, test_counter_new (fixture->topic));
  assert_run_fails (no_group, PB_ERROR, PB_ERROR_CONFIG, NULL);

  g_assert_true (pb_engine_set_config (bad_assignor, "partition.assignment.strategy",
                                       "no-such-assignor", &error));
  g_assert_no_error (error);
  add_new_handler (bad_assignor, test_counter_new (fixture->topic));
  assert_run_fails (bad_assignor, PB_ERROR, PB_ERROR_CONFIG, "no-such-assignor");

  pb_engine_set_auto_offset_reset (bad_reset, "sideways");
  add_new_handler (bad_reset, test_counter_new (fixture->topic));
  assert_run_fails (bad_reset, PB_ERROR, PB_ERROR_CONFIG, "auto.offset.reset");

  add_new_handler (bad_mock, test_counter_new (fixture->topic));
  g_assert_null (pb_engine_get_mock_cluster (bad_mock));
  assert_run_fails (bad_mock, PB_ERROR, PB_ERROR_CONFIG, "mock://many");

  /* A failed engine runs again once fixed. */
  g_assert_false (pb_engine_run (no_handlers, NULL, &error));
  g_clear_error (&error);
}

static void
test_missing_topic (Fixture       *fixture,
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

  add_new_handler (engine, test_counter_new (fixture->topic));
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
test_unreachable_broker (Fixture       *fixture,
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
  add_handler (engine, counter);
  g_assert_true (pb_test_run_until (engine, time_passed, &until, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (counter->n_handled, ==, 0);
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
test_message_contents (Fixture       *fixture,
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

  add_handler (engine, keeper);
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

/* Re-entrancy */

#define TEST_TYPE_NESTED_STOP (test_nested_stop_get_type ())
G_DECLARE_FINAL_TYPE (TestNestedStop, test_nested_stop, TEST, NESTED_STOP, PbHandler)

struct _TestNestedStop
{
  PbHandler  parent_instance;
  PbEngine  *engine;
  guint      n;
};

G_DEFINE_FINAL_TYPE (TestNestedStop, test_nested_stop, PB_TYPE_HANDLER)

static gboolean
test_nested_stop_on_message (PbHandler  *handler,
                             PbMessage  *message,
                             GObject    *context,
                             GError    **error)
{
  TestNestedStop *self = TEST_NESTED_STOP (handler);

  self->n++;
  pb_engine_stop (self->engine);

  /* A handler that waits in a nested loop must not see the engine close
   * under its feet. */
  for (guint i = 0; i < 50; i++)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }

  g_assert_cmpint (pb_engine_get_state (self->engine), ==, PB_ENGINE_STATE_STOPPING);
  g_assert_cmpstr (pb_message_get_topic (message), !=, NULL);

  return TRUE;
}

static void
test_nested_stop_class_init (TestNestedStopClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_nested_stop_on_message;
}

static void
test_nested_stop_init (TestNestedStop *self)
{
}

static void
test_reentrant_stop (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestNestedStop) handler = g_object_new (TEST_TYPE_NESTED_STOP,
                                                    "topic", fixture->topic, NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A handler that stops the engine and then iterates the main context "
                  "finishes its record, which is committed, before the engine closes");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");
  handler->engine = engine;
  add_handler (engine, handler);

  g_assert_true (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (handler->n, ==, 1);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 1);
}

typedef struct
{
  PbEngine  *engine;
  GPtrArray *results;   /* "ok" or the error's code */
  PbHandler *handler;
  gboolean   restarted;
} Restart;

static void
restart_done_cb (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Restart *restart = user_data;
  g_autoptr(GError) error = NULL;

  if (pb_engine_run_finish (PB_ENGINE (source_object), result, &error))
    g_ptr_array_add (restart->results, g_strdup ("ok"));
  else
    g_ptr_array_add (restart->results, g_strdup_printf ("%s:%d",
                                                        g_quark_to_string (error->domain),
                                                        error->code));
}

static void
restart_on_failure_cb (PbEngine   *engine,
                       GParamSpec *pspec,
                       Restart    *restart)
{
  g_autoptr(GError) error = NULL;

  /* A supervisor: once the first run failed, fix it and run again. */
  if (pb_engine_get_state (engine) != PB_ENGINE_STATE_FAILED || restart->restarted)
    return;

  restart->restarted = TRUE;
  g_assert_true (pb_engine_add_handler (engine, restart->handler, &error));
  g_assert_no_error (error);
  pb_engine_run_async (engine, NULL, restart_done_cb, restart);
}

static gboolean
restart_has_first_result (gpointer user_data)
{
  Restart *restart = user_data;

  return restart->results->len >= 1 && pb_engine_get_state (restart->engine) == PB_ENGINE_STATE_RUNNING;
}

static gboolean
restart_has_both_results (gpointer user_data)
{
  return ((Restart *)user_data)->results->len >= 2;
}

static void
test_restart_from_notify (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GPtrArray) results = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *no_handler = g_strdup_printf ("pb-error-quark:%d", PB_ERROR_NO_HANDLER);
  Restart restart = { engine, results, PB_HANDLER (counter), FALSE };

  g_test_summary ("A run started from notify::state when the previous one failed does "
                  "not swallow the previous run's result");

  pb_test_create_topic (fixture->topic, 1);
  g_signal_connect (engine, "notify::state", G_CALLBACK (restart_on_failure_cb), &restart);

  pb_engine_run_async (engine, NULL, restart_done_cb, &restart);
  pb_test_wait_until (restart_has_first_result, &restart, 30000);
  g_assert_cmpstr (g_ptr_array_index (results, 0), ==, no_handler);

  pb_engine_stop (engine);
  pb_test_wait_until (restart_has_both_results, &restart, 30000);
  g_assert_cmpstr (g_ptr_array_index (results, 1), ==, "ok");
  g_signal_handlers_disconnect_by_data (engine, &restart);
}

static void
test_auto_offset_reset_error (Fixture       *fixture,
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
  add_handler (engine, counter);

  g_assert_false (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_KAFKA);
  g_assert_nonnull (strstr (error->message, fixture->topic));
  g_assert_cmpuint (counter->n_handled, ==, 0);
}

/* Embedded cluster and threads */

static void
test_mock_url (Fixture       *fixture,
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
  add_handler (engine, counter);
  expect (counter, 1);
  g_assert_true (pb_test_run_until (engine, counter_has_expected, counter, 30000, &error));
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
test_run_in_thread (Fixture       *fixture,
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
  add_handler (engine, handler);

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

#define ADD(path, func, data) \
  g_test_add ("/Paperboy/Engine/" path, Fixture, data, fixture_set_up, func, fixture_tear_down)

  ADD ("consume/commit", test_consume_commit, NULL);
  ADD ("consume/stop-from-handler", test_stop_from_handler, NULL);
  ADD ("lifecycle/order", test_lifecycle_order, NULL);
  ADD ("lifecycle/replace-skip", test_lifecycle_replace_skip, NULL);
  ADD ("error/continue", test_error_continue, NULL);
  ADD ("error/stop-without-fail-on-exception", test_error_stop_without_fail_on_exception, NULL);
  ADD ("error/fail-on-exception", test_error_fail_on_exception, NULL);
  ADD ("error/false-without-error", test_error_without_gerror, NULL);
  ADD ("error/finished-handling", test_error_in_finished_handling, NULL);
  ADD ("async/order-serial", test_async_order, GUINT_TO_POINTER (1));
  ADD ("async/order-concurrent", test_async_order, GUINT_TO_POINTER (4));
  ADD ("async/failure", test_async_failures, GINT_TO_POINTER (TEST_ASYNC_COMPLETE));
  ADD ("async/dropped-task", test_async_failures, GINT_TO_POINTER (TEST_ASYNC_DROP));
  ADD ("async/timeout", test_async_failures, GINT_TO_POINTER (TEST_ASYNC_NEVER));
  ADD ("async/gio", test_async_gio, NULL);
  ADD ("register/type", test_register_by_type, NULL);
  ADD ("register/errors", test_register_errors, NULL);
  ADD ("restart/resume", test_restart_resumes, NULL);
  ADD ("stop/mid-handling", test_stop_mid_handling, GINT_TO_POINTER (TEST_ASYNC_COMPLETE));
  ADD ("stop/abandon", test_stop_mid_handling, GINT_TO_POINTER (TEST_ASYNC_NEVER));
  ADD ("stop/cancellable", test_stop_cancellable_and_signal, GINT_TO_POINTER (FALSE));
  ADD ("stop/signal", test_stop_cancellable_and_signal, GINT_TO_POINTER (TRUE));
  g_test_add_func ("/Paperboy/Engine/config/set-config", test_config_errors);
  ADD ("config/run", test_config_run_errors, NULL);
  ADD ("bad-input/missing-topic", test_missing_topic, NULL);
  ADD ("bad-input/unreachable-broker", test_unreachable_broker, NULL);
  ADD ("message/contents", test_message_contents, NULL);
  ADD ("reentrancy/stop-and-iterate", test_reentrant_stop, NULL);
  ADD ("reentrancy/restart-from-notify", test_restart_from_notify, NULL);
  ADD ("bad-input/auto-offset-reset-error", test_auto_offset_reset_error, NULL);
  ADD ("mock/url", test_mock_url, NULL);
  ADD ("thread/run", test_run_in_thread, NULL);

#undef ADD

  return g_test_run ();
}
