/* test-handler.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-test-util.h"
#include "test-handlers.h"

/* A handler whose vfuncs fail without an error, like a binding's. */
#define TEST_TYPE_SILENT (test_silent_get_type ())
G_DECLARE_FINAL_TYPE (TestSilent, test_silent, TEST, SILENT, PbHandler)

struct _TestSilent
{
  PbHandler parent_instance;
  gboolean  drop_task;
};

G_DEFINE_FINAL_TYPE (TestSilent, test_silent, PB_TYPE_HANDLER)

static gboolean
test_silent_on_message (PbHandler  *handler,
                        PbMessage  *message,
                        GObject    *context,
                        GError    **error)
{
  return FALSE;
}

static gboolean
test_silent_handle (PbHandler  *handler,
                    PbMessage  *message,
                    GObject    *context,
                    GTask      *task,
                    GError    **error)
{
  if (TEST_SILENT (handler)->drop_task)
    return TRUE;

  return PB_HANDLER_CLASS (test_silent_parent_class)->handle (handler, message, context,
                                                              task, error);
}

static void
test_silent_class_init (TestSilentClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_silent_on_message;
  PB_HANDLER_CLASS (klass)->handle = test_silent_handle;
}

static void
test_silent_init (TestSilent *self)
{
}

static PbMessage *
make_message (gboolean tombstone)
{
  g_autoptr(GBytes) value = g_bytes_new_static ("v", 1);

  return pb_message_new_full ("t", 0, 5, -1, NULL, tombstone ? NULL : value, NULL);
}

static void
async_result_cb (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static gboolean
result_ready (gpointer user_data)
{
  return *(GAsyncResult **)user_data != NULL;
}

static void
test_defaults (void)
{
  g_autoptr(PbHandler) handler = g_object_new (PB_TYPE_HANDLER, "topic", "t", NULL);
  g_autoptr(PbMessage) message = make_message (FALSE);
  g_autoptr(PbMessage) tombstone = make_message (TRUE);
  g_autoptr(PbMessage) received = NULL;
  g_autoptr(GObject) context = NULL;
  g_autoptr(GPtrArray) messages = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) handler_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "x");
  g_autoptr(GAsyncResult) result = NULL;

  g_test_summary ("The default vfuncs: no context, the same message, success, STOP, and "
                  "a handle_async() that wraps handle()");

  context = pb_handler_define_context (handler, &error);
  g_assert_no_error (error);
  g_assert_null (context);

  received = pb_handler_did_receive_message (handler, message, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (received == message);

  g_assert_true (pb_handler_on_message (handler, message, NULL, &error));
  g_assert_true (pb_handler_on_tombstone (handler, tombstone, NULL, &error));
  g_ptr_array_add (messages, message);
  g_assert_true (pb_handler_on_finished_handling (handler, messages, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (pb_handler_on_error (handler, handler_error, message, NULL), ==,
                   PB_ERROR_ACTION_STOP);

  pb_handler_handle_async (handler, message, NULL, NULL, async_result_cb, &result);
  pb_test_wait_until (result_ready, &result, 5000);
  g_assert_true (pb_handler_handle_finish (handler, result, &error));
  g_assert_no_error (error);
}

static void
test_failure_without_error (void)
{
  g_autoptr(TestSilent) handler = g_object_new (TEST_TYPE_SILENT, "topic", "t", NULL);
  g_autoptr(PbMessage) message = make_message (FALSE);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("FALSE without a GError becomes PB_ERROR_HANDLER naming handler and vfunc, "
                  "directly and through handle_async()");

  g_assert_false (pb_handler_on_message (PB_HANDLER (handler), message, NULL, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_HANDLER);
  g_assert_nonnull (strstr (error->message, "TestSilent.on_message()"));
  g_clear_error (&error);

  pb_handler_handle_async (PB_HANDLER (handler), message, NULL, NULL, async_result_cb, &result);
  pb_test_wait_until (result_ready, &result, 5000);
  g_assert_false (pb_handler_handle_finish (PB_HANDLER (handler), result, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_HANDLER);
  g_assert_nonnull (strstr (error->message, "on_message"));
}

static void
test_dropped_task (void)
{
  g_autoptr(TestSilent) handler = g_object_new (TEST_TYPE_SILENT, "topic", "t", NULL);
  g_autoptr(PbMessage) message = make_message (FALSE);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("handle_async() reports a task handle() dropped without a result");

  handler->drop_task = TRUE;
  pb_handler_handle_async (PB_HANDLER (handler), message, NULL, NULL, async_result_cb, &result);
  pb_test_wait_until (result_ready, &result, 5000);
  g_assert_false (pb_handler_handle_finish (PB_HANDLER (handler), result, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_HANDLER);
  g_assert_nonnull (strstr (error->message, "dropped"));
}

static void
notify_cb (GObject    *object,
           GParamSpec *pspec,
           gpointer    user_data)
{
  (*(guint *)user_data)++;
}

static void
test_topics (void)
{
  g_autoptr(PbHandler) handler = g_object_new (PB_TYPE_HANDLER, NULL);
  const char *topics[] = { "a", "b", NULL };
  g_auto(GStrv) got = NULL;
  guint notified = 0;

  g_test_summary ("topic is a shortcut for topics; both notify only on change");

  g_signal_connect (handler, "notify::topics", G_CALLBACK (notify_cb), &notified);
  g_assert_null (pb_handler_get_topic (handler));

  pb_handler_set_topics (handler, topics);
  g_assert_cmpstr (pb_handler_get_topic (handler), ==, "a");
  g_object_get (handler, "topics", &got, NULL);
  g_assert_cmpstrv (got, topics);
  g_assert_cmpuint (notified, ==, 1);

  pb_handler_set_topics (handler, topics);
  g_assert_cmpuint (notified, ==, 1);

  g_object_set (handler, "topic", "c", NULL);
  g_assert_cmpstr (pb_handler_get_topics (handler)[0], ==, "c");
  g_assert_null (pb_handler_get_topics (handler)[1]);
  g_assert_cmpuint (notified, ==, 2);

  pb_handler_set_topic (handler, NULL);
  g_assert_null (pb_handler_get_topics (handler));
  g_assert_cmpuint (notified, ==, 3);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/Handler/defaults", test_defaults);
  g_test_add_func ("/Paperboy/Handler/failure-without-error", test_failure_without_error);
  g_test_add_func ("/Paperboy/Handler/dropped-task", test_dropped_task);
  g_test_add_func ("/Paperboy/Handler/topics", test_topics);

  return g_test_run ();
}
