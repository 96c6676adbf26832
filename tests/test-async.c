/* test-async.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-test-util.h"
#include "test-handlers.h"

/* Asynchronous handlers and registration */

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
test_async_order (PbTestFixture *fixture,
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
  pb_test_add_handler (engine, handler);
  pb_test_expect (handler, 30);
  g_assert_true (pb_test_run_until (engine, pb_test_async_has_expected, handler, 30000, &error));
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
test_async_failures (PbTestFixture *fixture,
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
  pb_test_add_handler (engine, handler);
  pb_test_expect (handler, 3);
  g_assert_true (pb_test_run_until (engine, pb_test_async_has_expected, handler, 30000, &error));
  g_assert_no_error (error);

  switch ((int)mode)
    {
    case TEST_ASYNC_COMPLETE:
      g_assert_cmpuint (handler->errors->len, ==, 1);
      g_assert_error (pb_test_error_at (handler->errors, 0), G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
      break;

    case TEST_ASYNC_DROP:
      g_assert_cmpuint (handler->errors->len, ==, 3);
      g_assert_error (pb_test_error_at (handler->errors, 0), PB_ERROR, PB_ERROR_HANDLER);
      g_assert_nonnull (strstr (pb_test_error_at (handler->errors, 0)->message,
                                "dropped"));
      break;

    case TEST_ASYNC_NEVER:
      g_assert_cmpuint (handler->errors->len, ==, 3);
      g_assert_error (pb_test_error_at (handler->errors, 0), PB_ERROR, PB_ERROR_HANDLER);
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
test_async_gio (PbTestFixture *fixture,
                gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestGioAsync) handler = g_object_new (TEST_TYPE_GIO_ASYNC, "topic", fixture->topic, NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A C handler overriding handle_async/handle_finish is awaited");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");

  handler->fail_at = 1;
  pb_test_add_handler (engine, handler);
  g_assert_true (pb_test_run_until (engine, gio_async_done, handler, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (handler->done->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (handler->done, 0), ==, "0");
  g_assert_cmpstr (g_ptr_array_index (handler->done, 1), ==, "2");
  g_assert_cmpuint (handler->errors->len, ==, 1);
  g_assert_error (pb_test_error_at (handler->errors, 0), G_IO_ERROR, G_IO_ERROR_BUSY);
}

/* Registration */

static gboolean
typed_handled_3 (gpointer user_data)
{
  return test_typed_handled >= 3;
}

static void
test_register_by_type (PbTestFixture *fixture,
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
test_register_errors (PbTestFixture *fixture,
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

  pb_test_add_handler (engine, first);

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

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  PB_TEST_ADD ("async/order-serial", test_async_order, GUINT_TO_POINTER (1));
  PB_TEST_ADD ("async/order-concurrent", test_async_order, GUINT_TO_POINTER (4));
  PB_TEST_ADD ("async/failure", test_async_failures, GINT_TO_POINTER (TEST_ASYNC_COMPLETE));
  PB_TEST_ADD ("async/dropped-task", test_async_failures, GINT_TO_POINTER (TEST_ASYNC_DROP));
  PB_TEST_ADD ("async/timeout", test_async_failures, GINT_TO_POINTER (TEST_ASYNC_NEVER));
  PB_TEST_ADD ("async/gio", test_async_gio, NULL);
  PB_TEST_ADD ("register/type", test_register_by_type, NULL);
  PB_TEST_ADD ("register/errors", test_register_errors, NULL);

  return g_test_run ();
}
