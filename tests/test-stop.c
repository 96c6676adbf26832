/* test-stop.c
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

/* Stopping, and handler code that re-enters the engine */

static gboolean
async_started_one (gpointer user_data)
{
  return TEST_ASYNC (user_data)->started->len >= 1;
}

static void
test_stop_mid_handling (PbTestFixture *fixture,
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
  pb_test_add_handler (engine, handler);

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
  pb_test_add_handler (engine2, counter);
  pb_test_expect (counter, mode == TEST_ASYNC_COMPLETE ? 4 : 5);
  g_assert_true (pb_test_run_until (engine2, pb_test_counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);
  if (mode == TEST_ASYNC_COMPLETE)
    pb_test_assert_record (counter->records, 0, fixture->topic, 0, 1, "v-1");
  else
    pb_test_assert_record (counter->records, 0, fixture->topic, 0, 0, "v-0");
}

/* A record produced once the stopping engine is leaving its group. */
static void
produce_on_revoke_cb (PbEngine  *engine,
                      GVariant  *partitions,
                      gboolean   lost,
                      GError   **error)
{
  if (*error == NULL)
    g_assert_false (pb_engine_produce (engine, "elsewhere", -1, NULL, NULL, NULL, error));
}

static void
test_produce_while_closing (PbTestFixture *fixture,
                            gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) produce_error = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A record produced while a stopping engine leaves its group (from "
                  "partitions-revoked) fails with PB_ERROR_CANCELLED, and the stop goes on");

  pb_test_produce (fixture->topic, 0, "k", "v");
  pb_test_add_handler (engine, counter);
  pb_test_expect (counter, 1);
  g_signal_connect (engine, "partitions-revoked", G_CALLBACK (produce_on_revoke_cb),
                    &produce_error);
  g_assert_true (pb_test_run_until (engine, pb_test_counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);

  g_assert_error (produce_error, PB_ERROR, PB_ERROR_CANCELLED);
  g_assert_cmpint (pb_engine_get_state (engine), ==, PB_ENGINE_STATE_STOPPED);
}

typedef struct
{
  PbEngine     *engine;
  GAsyncResult *result;
} StateRun;

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
test_stop_cancellable_and_signal (PbTestFixture *fixture,
                                  gconstpointer  user_data)
{
  gboolean use_signal = GPOINTER_TO_INT (user_data);
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) states = pb_test_record_states (engine);
  StateRun run = { engine, NULL };
  PbEngineState expected[] = {
    PB_ENGINE_STATE_STARTING, PB_ENGINE_STATE_JOINING, PB_ENGINE_STATE_RUNNING,
    PB_ENGINE_STATE_STOPPING, PB_ENGINE_STATE_STOPPED,
  };

  g_test_summary ("The run's cancellable and SIGTERM (with handle-signals) stop the engine "
                  "gracefully, through the expected states");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 3, "v");
  pb_test_add_handler (engine, counter);
  pb_engine_set_handle_signals (engine, use_signal);

  pb_engine_run_async (engine, cancellable, state_run_done_cb, &run);
  pb_test_wait_until (state_is_running, &run, 30000);
  pb_test_expect (counter, 3);
  pb_test_wait_until (pb_test_counter_has_expected, counter, 30000);

  if (use_signal)
    kill (getpid (), SIGTERM);
  else
    g_cancellable_cancel (cancellable);

  pb_test_wait_until (state_run_done, &run, 30000);
  g_assert_true (pb_engine_run_finish (engine, run.result, &error));
  g_assert_no_error (error);

  g_assert_cmpmem (states->data, states->len * sizeof (PbEngineState), expected, sizeof expected);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 3);

  g_object_unref (run.result);
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
test_reentrant_stop (PbTestFixture *fixture,
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
  pb_test_add_handler (engine, handler);

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
test_restart_from_notify (PbTestFixture *fixture,
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

/* A handler that disposes of the engine running it, as a binding may. */
#define TEST_TYPE_DISPOSER (test_disposer_get_type ())
G_DECLARE_FINAL_TYPE (TestDisposer, test_disposer, TEST, DISPOSER, PbHandler)

struct _TestDisposer
{
  PbHandler  parent_instance;
  PbEngine  *engine;
  guint      n;
};

G_DEFINE_FINAL_TYPE (TestDisposer, test_disposer, PB_TYPE_HANDLER)

static gboolean
test_disposer_on_message (PbHandler  *handler,
                          PbMessage  *message,
                          GObject    *context,
                          GError    **error)
{
  TestDisposer *self = TEST_DISPOSER (handler);

  if (++self->n == 5)
    g_object_run_dispose (G_OBJECT (self->engine));

  return TRUE;
}

static void
test_disposer_class_init (TestDisposerClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_disposer_on_message;
}

static void
test_disposer_init (TestDisposer *self)
{
}

static void
test_dispose_running (PbTestFixture *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestDisposer) handler = g_object_new (TEST_TYPE_DISPOSER, "topic", fixture->topic, NULL);
  g_autoptr(GPtrArray) handlers = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Disposing of a running engine, from its own handler, stops the run "
                  "gracefully: what was handled is committed, nothing more is handled");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 20, "v");
  handler->engine = engine;
  pb_test_add_handler (engine, handler);

  g_assert_true (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (handler->n, ==, 5);
  g_assert_cmpint (pb_engine_get_state (engine), ==, PB_ENGINE_STATE_STOPPED);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 5);

  handlers = pb_engine_get_handlers (engine);
  g_assert_cmpuint (handlers->len, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  PB_TEST_ADD ("stop/mid-handling", test_stop_mid_handling, GINT_TO_POINTER (TEST_ASYNC_COMPLETE));
  PB_TEST_ADD ("stop/abandon", test_stop_mid_handling, GINT_TO_POINTER (TEST_ASYNC_NEVER));
  PB_TEST_ADD ("stop/cancellable", test_stop_cancellable_and_signal, GINT_TO_POINTER (FALSE));
  PB_TEST_ADD ("stop/signal", test_stop_cancellable_and_signal, GINT_TO_POINTER (TRUE));
  PB_TEST_ADD ("stop/produce-while-closing", test_produce_while_closing, NULL);
  PB_TEST_ADD ("reentrancy/stop-and-iterate", test_reentrant_stop, NULL);
  PB_TEST_ADD ("reentrancy/restart-from-notify", test_restart_from_notify, NULL);
  PB_TEST_ADD ("reentrancy/dispose-running", test_dispose_running, NULL);

  return g_test_run ();
}
