/* test-host.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-host-private.h"
#include "pb-test-util.h"

typedef struct
{
  PbHost    *host;
  guint      reconciled;
  gboolean   enter_in_reconcile;  /* handler code that iterates the context */
  GError    *failed;
  GPtrArray *events;              /* "kind/value/flag/partitions" */
} Fixture;

static void
reconcile (gpointer user_data)
{
  Fixture *f = user_data;

  f->reconciled++;

  if (f->enter_in_reconcile)
    {
      f->enter_in_reconcile = FALSE;
      /* A handler that iterates the main context and kicks meanwhile: no
       * reconciliation runs inside it. */
      _pb_host_enter (f->host);
      _pb_host_kick (f->host);
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_assert_cmpuint (f->reconciled, ==, 1);
      _pb_host_leave (f->host);
    }
}

static void
fail (gpointer  user_data,
      GError   *error)
{
  Fixture *f = user_data;

  g_clear_error (&f->failed);
  f->failed = error;
}

static void
event (gpointer       user_data,
       const PbEvent *event)
{
  Fixture *f = user_data;
  g_autofree char *partitions = event->partitions != NULL ? g_variant_print (event->partitions, FALSE)
                                                          : g_strdup ("-");

  g_ptr_array_add (f->events, g_strdup_printf ("%d/%d/%d/%s", event->kind, event->value,
                                               event->flag, partitions));
}

static const PbHostCallbacks callbacks = {
  .reconcile = reconcile,
  .fail = fail,
  .event = event,
};

static void
setup (Fixture       *f,
       gconstpointer  user_data)
{
  f->host = _pb_host_new (g_main_context_default (), G_PRIORITY_DEFAULT, &callbacks, f);
  f->events = g_ptr_array_new_with_free_func (g_free);
}

static void
teardown (Fixture       *f,
          gconstpointer  user_data)
{
  g_clear_pointer (&f->host, _pb_host_free);
  g_clear_error (&f->failed);
  g_clear_pointer (&f->events, g_ptr_array_unref);
}

static void
iterate (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static gpointer
kick_thread (gpointer data)
{
  _pb_host_kick (data);
  return NULL;
}

static void
test_kick (Fixture       *f,
           gconstpointer  user_data)
{
  g_test_summary ("Many kicks, from any thread, make one reconciliation");

  iterate ();
  f->reconciled = 0;

  _pb_host_kick (f->host);
  _pb_host_kick (f->host);
  g_thread_join (g_thread_new ("kicker", kick_thread, f->host));
  iterate ();
  g_assert_cmpuint (f->reconciled, ==, 1);

  iterate ();
  g_assert_cmpuint (f->reconciled, ==, 1);
}

static void
test_handler_on_stack (Fixture       *f,
                       gconstpointer  user_data)
{
  g_test_summary ("While handler code is on the stack, a kick waits; it runs once the "
                  "code returned, and _pb_host_defer() tells a caller to wait too");

  iterate ();
  f->reconciled = 0;

  g_assert_false (_pb_host_defer (f->host));
  f->enter_in_reconcile = TRUE;
  _pb_host_kick (f->host);
  iterate ();
  /* The first, and the one missed while the handler ran. */
  g_assert_cmpuint (f->reconciled, ==, 2);

  _pb_host_enter (f->host);
  g_assert_true (_pb_host_defer (f->host));
  _pb_host_leave (f->host);
  iterate ();
  g_assert_cmpuint (f->reconciled, ==, 3);
}

static void
test_flush (Fixture       *f,
            gconstpointer  user_data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  static const char *expected[] = {
    "0/4/0/-", "2/1/0/-", "4/0/0/[('t', 3)]", "5/0/1/[('t', 3)]", NULL,
  };

  g_test_summary ("Cancellations and events are queued and run from a flush, in order");

  _pb_host_cancel_later (f->host, cancellable);
  _pb_host_emit (f->host, PB_EVENT_STATE, 4, FALSE, NULL);
  _pb_host_emit (f->host, PB_EVENT_MODE, 1, FALSE, NULL);
  _pb_host_emit (f->host, PB_EVENT_ASSIGNED, 0, FALSE, g_variant_new_parsed ("[('t', 3)]"));
  _pb_host_emit (f->host, PB_EVENT_REVOKED, 0, TRUE, g_variant_new_parsed ("[('t', 3)]"));
  g_assert_false (g_cancellable_is_cancelled (cancellable));
  g_assert_cmpuint (f->events->len, ==, 0);

  _pb_host_flush (f->host);
  g_assert_true (g_cancellable_is_cancelled (cancellable));
  g_ptr_array_add (f->events, NULL);
  g_assert_cmpstrv ((const char * const *) f->events->pdata, expected);
}

static void
test_fail (Fixture       *f,
           gconstpointer  user_data)
{
  g_test_summary ("A failure reaches the host's owner with its error");

  _pb_host_fail (f->host, g_error_new_literal (PB_ERROR, PB_ERROR_KAFKA, "down"));
  g_assert_error (f->failed, PB_ERROR, PB_ERROR_KAFKA);
}

static gboolean
deadline_passed (gpointer user_data)
{
  return ((PbDeadline *)user_data)->passed;
}

static void
test_deadline (Fixture       *f,
               gconstpointer  user_data)
{
  PbDeadline deadline = { NULL, };
  PbDeadline cleared = { NULL, };

  g_test_summary ("A deadline kicks the host when it passes and remembers it; starting it "
                  "again while it runs changes nothing; a cleared one never passes");

  iterate ();
  f->reconciled = 0;

  _pb_deadline_start (&deadline, f->host, 20, "test");
  _pb_deadline_start (&deadline, f->host, 100000, "test");
  _pb_deadline_start (&cleared, f->host, 10, "test");
  g_assert_true (_pb_deadline_running (&deadline));
  _pb_deadline_clear (&cleared);

  pb_test_wait_until (deadline_passed, &deadline, 10000);
  g_assert_false (_pb_deadline_running (&deadline));
  iterate ();
  g_assert_cmpuint (f->reconciled, >=, 1);
  g_assert_false (cleared.passed);

  _pb_deadline_clear (&deadline);
  g_assert_false (deadline.passed);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add ("/Paperboy/Host/" path, Fixture, NULL, setup, func, teardown)

  ADD ("kick", test_kick);
  ADD ("handler-on-stack", test_handler_on_stack);
  ADD ("flush", test_flush);
  ADD ("fail", test_fail);
  ADD ("deadline", test_deadline);

  return g_test_run ();
}
