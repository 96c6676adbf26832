/* pb-handling.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-handling-private.h"

#include <glib/gi18n-lib.h>

#include "pb-error.h"
#include "pb-gjs-private.h"

static GQuark handling_quark;

/* Around every call into a handler's code. */
static inline void
enter (PbRun   *run,
       PbTopic *topic)
{
  _pb_run_enter_handler (run);

  if (G_UNLIKELY (topic->javascript))
    _pb_gjs_before_call ();
}

static inline void
leave (PbRun *run)
{
  _pb_run_leave_handler (run);
}

static void
log_failure (PbRun          *run,
             GLogLevelFlags  level,
             PbPartition    *p,
             gint64          offset,
             const char     *format,
             const char     *message)
{
  _pb_log_record (&run->warnings, level, p->topic->name, p->id, offset,
                  G_OBJECT_TYPE_NAME (p->topic->handler), format,
                  p->topic->name, p->id, offset, message);
}

void
_pb_partition_cancel (PbRun       *run,
                      PbPartition *p)
{
  if (p->cancellable == NULL)
    return;

  g_ptr_array_add (run->to_cancel, g_steal_pointer (&p->cancellable));
  p->cancellable = g_cancellable_new ();
  _pb_run_kick (run);
}

/* Runs on_error() and on_finished_handling() and decides the record's
 * fate. Takes @handled, @context and @error, and the engine's reference
 * to @message. */
static void
decide (PbRun       *run,
        PbPartition *p,
        PbMessage   *message,
        PbMessage   *handled,
        GObject     *context,
        GError      *error)
{
  PbTopic *topic = p->topic;
  PbHandler *handler = topic->handler;
  PbMessage *subject = handled != NULL ? handled : message;
  PbErrorAction action = PB_ERROR_ACTION_CONTINUE;
  gint64 offset = pb_message_get_offset (message);

  if (error != NULL)
    {
      enter (run, topic);
      action = topic->klass->on_error (handler, error, subject, context);
      leave (run);
    }

  if (topic->vfuncs & PB_HANDLER_VFUNC_ON_FINISHED_HANDLING)
    {
      g_autoptr(GPtrArray) messages = g_ptr_array_new_full (1, g_object_unref);
      GError *local_error = NULL;
      GError *finish_error = NULL;
      gboolean ok;

      g_ptr_array_add (messages, g_object_ref (subject));
      enter (run, topic);
      ok = topic->klass->on_finished_handling (handler, messages, context, &local_error);
      leave (run);

      if (!_pb_handler_check_result (handler, "on_finished_handling", ok, local_error, &finish_error))
        {
          if (error == NULL)
            {
              error = finish_error;
              enter (run, topic);
              action = topic->klass->on_error (handler, error, subject, context);
              leave (run);
            }
          else
            {
              _pb_log_record (&run->warnings, G_LOG_LEVEL_WARNING, topic->name, p->id, offset,
                              G_OBJECT_TYPE_NAME (handler),
                              "%s.on_finished_handling() failed after a failure: %s",
                              G_OBJECT_TYPE_NAME (handler), finish_error->message);
              g_error_free (finish_error);
            }
        }
    }

  if (error == NULL)
    _pb_offsets_mark_handled (&run->offsets, p, offset);
  else if (action == PB_ERROR_ACTION_STOP && pb_engine_get_fail_on_exception (run->engine))
    {
      log_failure (run, G_LOG_LEVEL_MESSAGE, p, offset,
                   "Stopping: handling %s[%d]@%" G_GINT64_FORMAT " failed: %s", error->message);
      _pb_run_fail (run, g_steal_pointer (&error));
    }
  else
    {
      log_failure (run, action == PB_ERROR_ACTION_STOP ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_DEBUG,
                   p, offset, "Handling %s[%d]@%" G_GINT64_FORMAT " failed: %s", error->message);
      _pb_offsets_mark_handled (&run->offsets, p, offset);
    }

  g_clear_error (&error);
  g_clear_object (&context);
  g_clear_object (&handled);
  _pb_message_pool_return (run->pool, message);
}

/* Asynchronous handlings */

PbHandling *
_pb_handling_ref (PbHandling *h)
{
  g_atomic_ref_count_inc (&h->ref_count);
  return h;
}

static void
release_objects (PbHandling    *h,
                 PbMessagePool *pool)
{
  g_clear_object (&h->handler_context);
  g_clear_object (&h->handled);

  if (h->message != NULL)
    _pb_message_pool_return (pool, g_steal_pointer (&h->message));
}

void
_pb_handling_unref (PbHandling *h)
{
  if (g_atomic_ref_count_dec (&h->ref_count))
    {
      g_assert (h->timeout == NULL);
      g_assert (h->message == NULL);
      g_clear_object (&h->handler_context);
      g_clear_object (&h->handled);
      g_clear_error (&h->error);
      g_main_context_unref (h->context);
      g_free (h);
    }
}

/* The handling's result came: recorded, and the dispatch hears of it.
 * Results after the first, and results of abandoned handlings (the
 * handler was told through its cancellable), are dropped. */
static void
complete (PbHandling *h,
          GError     *error)
{
  if (h->completed || h->abandoned)
    {
      g_clear_error (&error);
      return;
    }

  h->completed = TRUE;
  h->error = error;
  _pb_clear_source (&h->timeout);

  h->done (h, h->done_data);
}

/* handle() completed its task: a task without a callback, so that GLib
 * has no callback to complain about when a handler drops it. */
static void
task_completed_cb (GTask      *task,
                   GParamSpec *pspec,
                   PbHandling *h)
{
  GError *error = NULL;

  if (!g_task_propagate_boolean (task, &error) && error == NULL)
    error = _pb_handler_missing_error_new (h->topic->handler, "handle");

  complete (h, error);
}

static void
task_completed_notify (gpointer  data,
                       GClosure *closure)
{
  _pb_handling_unref (data);
}

static gboolean
task_dropped_cb (gpointer user_data)
{
  PbHandling *h = user_data;

  complete (h, g_error_new (PB_ERROR, PB_ERROR_HANDLER,
                            _("%s.handle() dropped its task without returning a result"),
                            G_OBJECT_TYPE_NAME (h->topic->handler)));

  return G_SOURCE_REMOVE;
}

/* The task let go of its reference to the handling: it was finalized, on
 * whatever thread, maybe in a binding's collector. A task that never
 * returned was dropped: that is reported from an idle. */
static void
task_released (gpointer data)
{
  PbHandling *h = data;

  if (!h->completed && !h->abandoned)
    _pb_invoke_later (h->context, task_dropped_cb, _pb_handling_ref (h),
                      (GDestroyNotify) _pb_handling_unref);

  _pb_handling_unref (h);
}

static void
handle_async_done_cb (GObject      *source_object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  PbHandling *h = user_data;
  PbHandler *handler = PB_HANDLER (source_object);
  GError *local_error = NULL;
  GError *error = NULL;
  gboolean ok;

  ok = PB_HANDLER_GET_CLASS (handler)->handle_finish (handler, result, &local_error);
  _pb_handler_check_result (handler, "handle_finish", ok, local_error, &error);

  complete (h, error);
  _pb_handling_unref (h);
}

static gboolean
timeout_cb (gpointer user_data)
{
  PbHandling *h = user_data;
  guint timeout_ms = h->run != NULL ? _pb_engine_get_handling_timeout_ms (h->run->engine) : 0;

  g_clear_pointer (&h->timeout, g_source_unref);
  h->timed_out = TRUE;
  complete (h, g_error_new (PB_ERROR, PB_ERROR_HANDLER,
                            _("%s did not finish handling the record within %u ms"),
                            G_OBJECT_TYPE_NAME (h->topic->handler), timeout_ms));

  return G_SOURCE_REMOVE;
}

static PbHandling *
start_async (PbRun          *run,
             PbPartition    *p,
             PbMessage      *message,
             PbMessage      *handled,
             GObject        *context,
             PbHandlingDone  done,
             gpointer        done_data)
{
  PbTopic *topic = p->topic;
  PbHandler *handler = topic->handler;
  guint timeout_ms = _pb_engine_get_handling_timeout_ms (run->engine);
  PbHandling *h;

  if (G_UNLIKELY (handling_quark == 0))
    handling_quark = g_quark_from_static_string ("pb-handling");

  h = g_new0 (PbHandling, 1);
  g_atomic_ref_count_init (&h->ref_count);
  h->run = run;
  h->partition = p;
  h->context = g_main_context_ref (run->context);
  h->epoch = p->epoch;
  h->topic = topic;
  h->offset = pb_message_get_offset (message);
  h->message = message;
  h->handled = handled;
  h->handler_context = context;
  h->done = done;
  h->done_data = done_data;
  h->link.data = h;

  if (timeout_ms > 0)
    h->timeout = _pb_timeout_source_new (run->context, timeout_ms, G_PRIORITY_DEFAULT,
                                         "[paperboy] handling timeout", timeout_cb,
                                         _pb_handling_ref (h),
                                         (GDestroyNotify) _pb_handling_unref);

  enter (run, topic);

  if (topic->vfuncs & PB_HANDLER_VFUNC_HANDLE_ASYNC)
    topic->klass->handle_async (handler, handled, context, p->cancellable,
                                handle_async_done_cb, _pb_handling_ref (h));
  else
    {
      g_autoptr(GTask) task = g_task_new (handler, p->cancellable, NULL, NULL);
      GError *local_error = NULL;
      GError *error = NULL;
      gboolean ok;

      g_task_set_source_tag (task, pb_handler_handle);
      g_task_set_check_cancellable (task, FALSE);
      g_signal_connect_data (task, "notify::completed", G_CALLBACK (task_completed_cb),
                             _pb_handling_ref (h), task_completed_notify, 0);
      g_object_set_qdata_full (G_OBJECT (task), handling_quark, _pb_handling_ref (h),
                               task_released);

      ok = topic->klass->handle (handler, handled, context, task, &local_error);
      if (!_pb_handler_check_result (handler, "handle", ok, local_error, &error))
        complete (h, error);
    }

  leave (run);

  return h;
}

/* Everything but the common case: some virtual function besides on_message
 * and on_tombstone is overridden. */
static PbHandling *
handle_message_full (PbRun          *run,
                     PbPartition    *p,
                     PbMessage      *message,
                     PbHandlingDone  done,
                     gpointer        done_data)
{
  PbTopic *topic = p->topic;
  PbHandler *handler = topic->handler;
  PbHandlerClass *klass = topic->klass;
  PbMessage *handled;
  GObject *context = NULL;
  GError *local_error = NULL;
  GError *error = NULL;
  gboolean tombstone;
  gboolean ok;

  if (topic->vfuncs & PB_HANDLER_VFUNC_DEFINE_CONTEXT)
    {
      enter (run, topic);
      context = klass->define_context (handler, &local_error);
      leave (run);

      context = _pb_handler_check_object (handler, "define_context", context, local_error, &error);
      if (error != NULL)
        {
          decide (run, p, message, NULL, NULL, error);
          return NULL;
        }
    }

  if (topic->vfuncs & PB_HANDLER_VFUNC_DID_RECEIVE_MESSAGE)
    {
      enter (run, topic);
      handled = klass->did_receive_message (handler, message, context, &local_error);
      leave (run);

      /* NULL without an error skips the record. */
      handled = _pb_handler_check_object (handler, "did_receive_message", handled, local_error, &error);
      if (handled == NULL)
        {
          decide (run, p, message, NULL, context, error);
          return NULL;
        }
    }
  else
    handled = g_object_ref (message);

  if (topic->vfuncs & (PB_HANDLER_VFUNC_HANDLE | PB_HANDLER_VFUNC_HANDLE_ASYNC))
    return start_async (run, p, message, handled, context, done, done_data);

  tombstone = pb_message_is_tombstone (handled);
  enter (run, topic);
  if (tombstone)
    ok = klass->on_tombstone (handler, handled, context, &local_error);
  else
    ok = klass->on_message (handler, handled, context, &local_error);
  leave (run);

  _pb_handler_check_result (handler, tombstone ? "on_tombstone" : "on_message",
                            ok, local_error, &error);
  decide (run, p, message, handled, context, error);

  return NULL;
}

/* The per-record path. Handlers that only override on_message and
 * on_tombstone cost one message object (usually reused) and one call. */
PbHandling *
_pb_handle_record (PbRun              *run,
                   PbPartition        *p,
                   rd_kafka_message_t *rkm,
                   PbHandlingDone      done,
                   gpointer            done_data)
{
  PbTopic *topic = p->topic;
  gint64 offset = rkm->offset;
  gboolean tombstone = rkm->payload == NULL;
  PbMessage *message = _pb_message_pool_take (run->pool, rkm, topic->name);
  GError *local_error = NULL;
  GError *error = NULL;
  gboolean ok;

  if (G_UNLIKELY (topic->javascript))
    _pb_gjs_handed (1);

  if (topic->vfuncs != 0)
    return handle_message_full (run, p, message, done, done_data);

  enter (run, topic);
  if (tombstone)
    ok = topic->klass->on_tombstone (topic->handler, message, NULL, &local_error);
  else
    ok = topic->klass->on_message (topic->handler, message, NULL, &local_error);
  leave (run);

  if (G_LIKELY (ok && local_error == NULL))
    {
      _pb_offsets_mark_handled (&run->offsets, p, offset);
      _pb_message_pool_return (run->pool, message);
      return NULL;
    }

  _pb_handler_check_result (topic->handler, tombstone ? "on_tombstone" : "on_message",
                            ok, local_error, &error);
  decide (run, p, message, g_object_ref (message), NULL, error);

  return NULL;
}

void
_pb_handling_finish (PbRun      *run,
                     PbHandling *h)
{
  PbPartition *p = h->partition;
  GError *error = g_steal_pointer (&h->error);

  g_assert (h->completed && !h->abandoned);

  /* Its result is ours to act on now: nothing else touches it. */
  h->abandoned = TRUE;
  h->run = NULL;
  h->partition = NULL;

  /* A timed-out handler is told through its cancellable. */
  if (h->timed_out)
    _pb_partition_cancel (run, p);

  if (h->epoch != p->epoch ||
      (error != NULL && p->state != PB_PARTITION_ASSIGNED &&
       g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)))
    {
      /* Cancelled because the partition is going away: not handled, and
       * not a failure either; the next owner handles the record again. */
      g_clear_error (&error);
      release_objects (h, run->pool);
      return;
    }

  decide (run, p,
          g_steal_pointer (&h->message),
          g_steal_pointer (&h->handled),
          g_steal_pointer (&h->handler_context),
          error);
}

void
_pb_handling_abandon (PbRun      *run,
                      PbHandling *h)
{
  PbPartition *p = h->partition;

  g_assert (!h->abandoned);

  _pb_log_record (&run->warnings, G_LOG_LEVEL_MESSAGE, h->topic->name, p->id, h->offset,
                  G_OBJECT_TYPE_NAME (h->topic->handler),
                  "Abandoning the handling of %s[%d]@%" G_GINT64_FORMAT,
                  h->topic->name, p->id, h->offset);

  h->abandoned = TRUE;
  h->run = NULL;
  h->partition = NULL;
  g_clear_error (&h->error);
  _pb_clear_source (&h->timeout);
  _pb_partition_cancel (run, p);

  /* The engine's reference goes back now: a message the handler still
   * holds is detached from librdkafka. */
  release_objects (h, run->pool);
}
