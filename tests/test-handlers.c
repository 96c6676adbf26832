/* test-handlers.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "test-handlers.h"

#include "pb-test-util.h"

static char *
describe (PbMessage *message)
{
  g_autofree char *value = pb_test_bytes_to_string (pb_message_get_value (message));

  return g_strdup_printf ("%s/%d/%" G_GINT64_FORMAT "/%s",
                          pb_message_get_topic (message),
                          pb_message_get_partition (message),
                          pb_message_get_offset (message),
                          value != NULL ? value : "(null)");
}

/* TestCounter */

G_DEFINE_FINAL_TYPE (TestCounter, test_counter, PB_TYPE_HANDLER)

static gboolean
test_counter_on_message (PbHandler  *handler,
                         PbMessage  *message,
                         GObject    *context,
                         GError    **error)
{
  TestCounter *self = TEST_COUNTER (handler);

  g_assert_null (context);
  g_ptr_array_add (self->records, describe (message));
  self->n_handled++;

  if (self->stop_engine != NULL && self->n_handled == self->stop_after)
    pb_engine_stop (self->stop_engine);

  return TRUE;
}

static void
test_counter_finalize (GObject *object)
{
  TestCounter *self = TEST_COUNTER (object);

  g_ptr_array_unref (self->records);

  G_OBJECT_CLASS (test_counter_parent_class)->finalize (object);
}

static void
test_counter_class_init (TestCounterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_counter_finalize;
  PB_HANDLER_CLASS (klass)->on_message = test_counter_on_message;
  PB_HANDLER_CLASS (klass)->on_tombstone = test_counter_on_message;
}

static void
test_counter_init (TestCounter *self)
{
  self->records = g_ptr_array_new_with_free_func (g_free);
}

TestCounter *
test_counter_new (const char *topic)
{
  return g_object_new (TEST_TYPE_COUNTER, "topic", topic, NULL);
}

gboolean
test_counter_has (TestCounter *self,
                  guint        n)
{
  return self->n_handled >= n;
}

/* TestRecorder */

G_DEFINE_FINAL_TYPE (TestRecorder, test_recorder, PB_TYPE_HANDLER)

static void
record (TestRecorder *self,
        const char   *vfunc,
        PbMessage    *message,
        const char   *detail)
{
  g_ptr_array_add (self->events,
                   g_strdup_printf ("%s:%" G_GINT64_FORMAT "%s%s", vfunc,
                                    message != NULL ? pb_message_get_offset (message) : -1,
                                    detail != NULL ? ":" : "", detail != NULL ? detail : ""));
}

static GObject *
test_recorder_define_context (PbHandler  *handler,
                              GError    **error)
{
  TestRecorder *self = TEST_RECORDER (handler);
  GObject *context = g_object_new (G_TYPE_OBJECT, NULL);

  g_ptr_array_add (self->events, g_strdup ("define_context"));
  g_ptr_array_add (self->contexts, g_object_ref (context));

  return context;
}

static void
check_context (TestRecorder *self,
               GObject      *context)
{
  if (self->contexts->len == 0 ||
      context != g_ptr_array_index (self->contexts, self->contexts->len - 1))
    self->context_mismatch = TRUE;
}

static PbMessage *
test_recorder_did_receive_message (PbHandler  *handler,
                                   PbMessage  *message,
                                   GObject    *context,
                                   GError    **error)
{
  TestRecorder *self = TEST_RECORDER (handler);
  gint64 offset = pb_message_get_offset (message);

  check_context (self, context);
  record (self, "did_receive_message", message, NULL);

  if (offset == self->skip_at)
    return NULL;

  if (offset == self->replace_at)
    {
      g_autoptr(GBytes) value = g_bytes_new_static ("replaced", 8);

      return pb_message_with_value (message, value);
    }

  return g_object_ref (message);
}

static gboolean
test_recorder_on_message (PbHandler  *handler,
                          PbMessage  *message,
                          GObject    *context,
                          GError    **error)
{
  TestRecorder *self = TEST_RECORDER (handler);
  g_autofree char *value = pb_test_bytes_to_string (pb_message_get_value (message));

  check_context (self, context);
  record (self, "on_message", message, value);

  if (pb_message_get_offset (message) == self->fail_at)
    {
      if (!self->fail_without_error)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "planned failure at %" G_GINT64_FORMAT, self->fail_at);
      return FALSE;
    }

  return TRUE;
}

static gboolean
test_recorder_on_tombstone (PbHandler  *handler,
                            PbMessage  *message,
                            GObject    *context,
                            GError    **error)
{
  TestRecorder *self = TEST_RECORDER (handler);

  check_context (self, context);
  g_assert_null (pb_message_get_value (message));
  g_assert_true (pb_message_is_tombstone (message));
  record (self, "on_tombstone", message, NULL);

  return TRUE;
}

static PbErrorAction
test_recorder_on_error (PbHandler    *handler,
                        const GError *error,
                        PbMessage    *message,
                        GObject      *context)
{
  TestRecorder *self = TEST_RECORDER (handler);
  g_autofree char *detail = g_strdup_printf ("%s:%d", g_quark_to_string (error->domain),
                                             error->code);

  check_context (self, context);
  record (self, "on_error", message, detail);
  g_ptr_array_add (self->errors, g_error_copy (error));

  return self->action;
}

static gboolean
test_recorder_on_finished_handling (PbHandler  *handler,
                                    GPtrArray  *messages,
                                    GObject    *context,
                                    GError    **error)
{
  TestRecorder *self = TEST_RECORDER (handler);
  PbMessage *message;

  g_assert_cmpuint (messages->len, ==, 1);
  message = g_ptr_array_index (messages, 0);
  g_assert_true (PB_IS_MESSAGE (message));

  check_context (self, context);
  record (self, "on_finished_handling", message, NULL);
  g_ptr_array_add (self->finished, g_object_ref (message));
  self->n_finished++;

  if (pb_message_get_offset (message) == self->fail_finished_at)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "finishing failed");
      return FALSE;
    }

  return TRUE;
}

static void
test_recorder_finalize (GObject *object)
{
  TestRecorder *self = TEST_RECORDER (object);

  g_ptr_array_unref (self->events);
  g_ptr_array_unref (self->contexts);
  g_ptr_array_unref (self->errors);
  g_ptr_array_unref (self->finished);

  G_OBJECT_CLASS (test_recorder_parent_class)->finalize (object);
}

static void
test_recorder_class_init (TestRecorderClass *klass)
{
  PbHandlerClass *handler_class = PB_HANDLER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = test_recorder_finalize;
  handler_class->define_context = test_recorder_define_context;
  handler_class->did_receive_message = test_recorder_did_receive_message;
  handler_class->on_message = test_recorder_on_message;
  handler_class->on_tombstone = test_recorder_on_tombstone;
  handler_class->on_error = test_recorder_on_error;
  handler_class->on_finished_handling = test_recorder_on_finished_handling;
}

static void
test_recorder_init (TestRecorder *self)
{
  self->events = g_ptr_array_new_with_free_func (g_free);
  self->contexts = g_ptr_array_new_with_free_func (g_object_unref);
  self->errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  self->finished = g_ptr_array_new_with_free_func (g_object_unref);
  self->fail_at = -1;
  self->fail_finished_at = -1;
  self->replace_at = -1;
  self->skip_at = -1;
  self->action = PB_ERROR_ACTION_CONTINUE;
}

TestRecorder *
test_recorder_new (const char *topic)
{
  return g_object_new (TEST_TYPE_RECORDER, "topic", topic, NULL);
}

gboolean
test_recorder_finished (TestRecorder *self,
                        guint         n)
{
  return self->n_finished >= n;
}

gboolean
test_recorder_has_event (TestRecorder *self,
                         const char   *event)
{
  return g_ptr_array_find_with_equal_func (self->events, event, g_str_equal, NULL);
}

/* TestAsync */

G_DEFINE_FINAL_TYPE (TestAsync, test_async, PB_TYPE_HANDLER)

typedef struct
{
  TestAsync *self;
  GTask     *task;
  char      *id;
  gboolean   fail;
} Pending;

static gboolean
complete_cb (gpointer user_data)
{
  Pending *pending = user_data;
  TestAsync *self = pending->self;

  self->concurrent--;

  if (pending->fail)
    g_task_return_new_error (pending->task, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                             "async failure at %s", pending->id);
  else
    {
      g_ptr_array_add (self->done, g_strdup (pending->id));
      g_task_return_boolean (pending->task, TRUE);
    }

  g_object_unref (pending->task);
  g_object_unref (pending->self);
  g_free (pending->id);
  g_free (pending);

  return G_SOURCE_REMOVE;
}

static void
cancelled_cb (GCancellable *cancellable,
              gpointer      user_data)
{
  Pending *pending = user_data;

  pending->self->n_cancelled++;
  g_idle_add (complete_cb, pending);
}

static gboolean
test_async_handle (PbHandler  *handler,
                   PbMessage  *message,
                   GObject    *context,
                   GTask      *task,
                   GError    **error)
{
  TestAsync *self = TEST_ASYNC (handler);
  gint64 offset = pb_message_get_offset (message);
  Pending *pending;

  g_ptr_array_add (self->started, g_strdup_printf ("%d/%" G_GINT64_FORMAT,
                                                   pb_message_get_partition (message), offset));

  switch (self->mode)
    {
    case TEST_ASYNC_DROP:
      return TRUE;

    case TEST_ASYNC_NEVER:
      g_ptr_array_add (self->kept_tasks, g_object_ref (task));
      return TRUE;

    case TEST_ASYNC_FAIL:
    case TEST_ASYNC_COMPLETE:
    case TEST_ASYNC_CANCELLABLE:
    default:
      break;
    }

  pending = g_new0 (Pending, 1);
  pending->self = g_object_ref (self);
  pending->task = g_object_ref (task);
  pending->id = g_strdup (g_ptr_array_index (self->started, self->started->len - 1));
  pending->fail = self->mode == TEST_ASYNC_FAIL || offset == self->fail_at;

  self->concurrent++;
  self->max_concurrent = MAX (self->max_concurrent, self->concurrent);

  if (self->mode == TEST_ASYNC_CANCELLABLE)
    {
      g_assert_nonnull (g_task_get_cancellable (task));
      g_cancellable_connect (g_task_get_cancellable (task), G_CALLBACK (cancelled_cb),
                             pending, NULL);
    }
  else
    g_timeout_add (self->base_delay_ms - MIN (self->base_delay_ms, (guint)(offset % 10)),
                   complete_cb, pending);

  return TRUE;
}

static PbErrorAction
test_async_on_error (PbHandler    *handler,
                     const GError *error,
                     PbMessage    *message,
                     GObject      *context)
{
  TestAsync *self = TEST_ASYNC (handler);

  g_ptr_array_add (self->errors, g_error_copy (error));

  return self->action;
}

static void
test_async_finalize (GObject *object)
{
  TestAsync *self = TEST_ASYNC (object);

  g_ptr_array_unref (self->started);
  g_ptr_array_unref (self->done);
  g_ptr_array_unref (self->kept_tasks);
  g_ptr_array_unref (self->errors);

  G_OBJECT_CLASS (test_async_parent_class)->finalize (object);
}

static void
test_async_class_init (TestAsyncClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_async_finalize;
  PB_HANDLER_CLASS (klass)->handle = test_async_handle;
  PB_HANDLER_CLASS (klass)->on_error = test_async_on_error;
}

static void
test_async_init (TestAsync *self)
{
  self->started = g_ptr_array_new_with_free_func (g_free);
  self->done = g_ptr_array_new_with_free_func (g_free);
  self->kept_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  self->errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  self->base_delay_ms = 20;
  self->fail_at = -1;
  self->action = PB_ERROR_ACTION_CONTINUE;
}

TestAsync *
test_async_new (const char    *topic,
                TestAsyncMode  mode)
{
  TestAsync *self = g_object_new (TEST_TYPE_ASYNC, "topic", topic, NULL);

  self->mode = mode;

  return self;
}

/* TestGioAsync */

G_DEFINE_FINAL_TYPE (TestGioAsync, test_gio_async, PB_TYPE_HANDLER)

static gboolean
gio_complete_cb (gpointer user_data)
{
  GTask *task = user_data;
  TestGioAsync *self = g_task_get_source_object (task);
  PbMessage *message = g_task_get_task_data (task);

  if (pb_message_get_offset (message) == self->fail_at)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_BUSY, "gio failure");
  else
    {
      g_ptr_array_add (self->done, g_strdup_printf ("%" G_GINT64_FORMAT,
                                                    pb_message_get_offset (message)));
      g_task_return_boolean (task, TRUE);
    }

  g_object_unref (task);

  return G_SOURCE_REMOVE;
}

static void
test_gio_async_handle_async (PbHandler           *handler,
                             PbMessage           *message,
                             GObject             *context,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *task = g_task_new (handler, cancellable, callback, user_data);

  g_task_set_task_data (task, g_object_ref (message), g_object_unref);
  g_timeout_add (5, gio_complete_cb, task);
}

static gboolean
test_gio_async_handle_finish (PbHandler     *handler,
                              GAsyncResult  *result,
                              GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static PbErrorAction
test_gio_async_on_error (PbHandler    *handler,
                         const GError *error,
                         PbMessage    *message,
                         GObject      *context)
{
  g_ptr_array_add (TEST_GIO_ASYNC (handler)->errors, g_error_copy (error));

  return PB_ERROR_ACTION_CONTINUE;
}

static void
test_gio_async_finalize (GObject *object)
{
  TestGioAsync *self = TEST_GIO_ASYNC (object);

  g_ptr_array_unref (self->done);
  g_ptr_array_unref (self->errors);

  G_OBJECT_CLASS (test_gio_async_parent_class)->finalize (object);
}

static void
test_gio_async_class_init (TestGioAsyncClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_gio_async_finalize;
  PB_HANDLER_CLASS (klass)->handle_async = test_gio_async_handle_async;
  PB_HANDLER_CLASS (klass)->handle_finish = test_gio_async_handle_finish;
  PB_HANDLER_CLASS (klass)->on_error = test_gio_async_on_error;
}

static void
test_gio_async_init (TestGioAsync *self)
{
  self->done = g_ptr_array_new_with_free_func (g_free);
  self->errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  self->fail_at = -1;
}

/* TestTyped */

struct _TestTyped
{
  PbHandler parent_instance;
};

char *test_typed_topic;
guint test_typed_handled;

G_DEFINE_FINAL_TYPE (TestTyped, test_typed, PB_TYPE_HANDLER)

static gboolean
test_typed_on_message (PbHandler  *handler,
                       PbMessage  *message,
                       GObject    *context,
                       GError    **error)
{
  test_typed_handled++;
  return TRUE;
}

static void
test_typed_class_init (TestTypedClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_typed_on_message;
}

static void
test_typed_init (TestTyped *self)
{
  pb_handler_set_topic (PB_HANDLER (self), test_typed_topic);
}
