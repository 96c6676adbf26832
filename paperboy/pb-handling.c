/* pb-handling.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-handling-private.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "pb-bulk-handler.h"
#include "pb-dispatch-private.h"
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

  /* Only a batch can be split: for a record, SPLIT is STOP. */
  if (action == PB_ERROR_ACTION_SPLIT)
    action = PB_ERROR_ACTION_STOP;

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
  g_clear_pointer (&h->handled_batch, g_ptr_array_unref);

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
      g_clear_pointer (&h->handled_batch, g_ptr_array_unref);
      g_clear_object (&h->cancellable);
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
    error = _pb_handler_missing_error_new (h->topic->handler, h->vfunc);

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
                            _("%s.%s() dropped its task without returning a result"),
                            G_OBJECT_TYPE_NAME (h->topic->handler), h->vfunc));

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
                            h->vfunc == NULL || strcmp (h->vfunc, "handle_bulk") != 0
                            ? _("%s did not finish handling the record within %u ms")
                            : _("%s did not finish handling the batch within %u ms"),
                            G_OBJECT_TYPE_NAME (h->topic->handler), timeout_ms));

  return G_SOURCE_REMOVE;
}

static PbHandling *
handling_new (PbRun          *run,
              PbTopic        *topic,
              GObject        *context,
              PbHandlingDone  done,
              gpointer        done_data)
{
  guint timeout_ms = _pb_engine_get_handling_timeout_ms (run->engine);
  PbHandling *h;

  if (G_UNLIKELY (handling_quark == 0))
    handling_quark = g_quark_from_static_string ("pb-handling");

  h = g_new0 (PbHandling, 1);
  g_atomic_ref_count_init (&h->ref_count);
  h->run = run;
  h->context = g_main_context_ref (run->context);
  h->topic = topic;
  h->handler_context = context;
  h->done = done;
  h->done_data = done_data;
  h->link.data = h;

  if (timeout_ms > 0)
    h->timeout = _pb_timeout_source_new (run->context, timeout_ms, G_PRIORITY_DEFAULT,
                                         "[paperboy] handling timeout", timeout_cb,
                                         _pb_handling_ref (h),
                                         (GDestroyNotify) _pb_handling_unref);

  return h;
}

/* A task without a callback for @h: its completion is heard through
 * GTask:completed, and a drop when it is finalized. */
static GTask *
handling_task_new (PbHandling   *h,
                   GCancellable *cancellable,
                   gpointer      source_tag)
{
  GTask *task = g_task_new (h->topic->handler, cancellable, NULL, NULL);

  g_task_set_source_tag (task, source_tag);
  g_task_set_check_cancellable (task, FALSE);
  g_signal_connect_data (task, "notify::completed", G_CALLBACK (task_completed_cb),
                         _pb_handling_ref (h), task_completed_notify, 0);
  g_object_set_qdata_full (G_OBJECT (task), handling_quark, _pb_handling_ref (h),
                           task_released);

  return task;
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
  PbHandling *h = handling_new (run, topic, context, done, done_data);

  h->partition = p;
  h->epoch = p->epoch;
  h->offset = pb_message_get_offset (message);
  h->message = message;
  h->handled = handled;

  enter (run, topic);

  if (topic->vfuncs & PB_HANDLER_VFUNC_HANDLE_ASYNC)
    {
      h->vfunc = "handle_async";
      topic->klass->handle_async (handler, handled, context, p->cancellable,
                                  handle_async_done_cb, _pb_handling_ref (h));
    }
  else
    {
      g_autoptr(GTask) task = handling_task_new (h, p->cancellable, pb_handler_handle);
      GError *local_error = NULL;
      GError *error = NULL;
      gboolean ok;

      h->vfunc = "handle";
      ok = topic->klass->handle (handler, handled, context, task, &local_error);
      if (!_pb_handler_check_result (handler, "handle", ok, local_error, &error))
        complete (h, error);
    }

  leave (run);

  return h;
}

/* Decodes @message's key and value with its topic's deserializers: the
 * error, in PB_ERROR_DESERIALIZE, or NULL. */
static GError *
decode (PbRun       *run,
        PbPartition *p,
        PbTopic     *topic,
        PbMessage   *message)
{
  PbDeserializer *failed = NULL;
  gboolean of_key = FALSE;
  GVariant *key = NULL;
  GVariant *value = NULL;
  GError *error = NULL;
  GError *wrapped;
  GBytes *bytes;

  /* What preparing this record failed with stands for its decoding. */
  if (G_UNLIKELY (p != NULL && p->prepare_error != NULL &&
                  p->prepared_at == pb_message_get_offset (message)))
    {
      error = g_steal_pointer (&p->prepare_error);
      wrapped = g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                             _("Cannot decode %s[%d]@%lld: %s"),
                             topic->name, pb_message_get_partition (message),
                             (long long)pb_message_get_offset (message), error->message);
      g_error_free (error);
      return wrapped;
    }

  enter (run, topic);

  if (topic->key_deserializer != NULL && (bytes = pb_message_get_key (message)) != NULL)
    {
      key = pb_deserializer_deserialize (topic->key_deserializer, bytes, &error);
      failed = topic->key_deserializer;
      of_key = TRUE;
    }

  if (error == NULL && topic->value_deserializer != NULL &&
      (bytes = pb_message_get_value (message)) != NULL)
    {
      value = pb_deserializer_deserialize (topic->value_deserializer, bytes, &error);
      failed = topic->value_deserializer;
      of_key = FALSE;
    }

  leave (run);

  if (error == NULL)
    {
      _pb_message_set_decoded (message, key, value);
      return NULL;
    }

  g_clear_pointer (&key, g_variant_unref);
  wrapped = g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                         of_key ? _("Cannot decode the key of %s[%d]@%lld with %s: %s")
                                : _("Cannot decode the value of %s[%d]@%lld with %s: %s"),
                         topic->name, pb_message_get_partition (message),
                         (long long)pb_message_get_offset (message), G_OBJECT_TYPE_NAME (failed),
                         error->message);
  g_error_free (error);

  return wrapped;
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

  if (topic->vfuncs & PB_HANDLER_VFUNC_DESERIALIZE)
    {
      error = decode (run, p, topic, message);
      if (error != NULL)
        {
          decide (run, p, message, NULL, NULL, error);
          return NULL;
        }
    }

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
static inline PbHandling *
handle_message (PbRun          *run,
                PbPartition    *p,
                PbMessage      *message,
                gint64          offset,
                gboolean        tombstone,
                PbHandlingDone  done,
                gpointer        done_data)
{
  PbTopic *topic = p->topic;
  GError *local_error = NULL;
  GError *error = NULL;
  gboolean ok;

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

PbHandling *
_pb_handle_message (PbRun          *run,
                    PbPartition    *p,
                    PbMessage      *message,
                    PbHandlingDone  done,
                    gpointer        done_data)
{
  return handle_message (run, p, message, pb_message_get_offset (message),
                         pb_message_is_tombstone (message), done, done_data);
}

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

  if (G_UNLIKELY (topic->javascript))
    _pb_gjs_handed (1);

  return handle_message (run, p, _pb_message_pool_take (run->pool, rkm, topic->name),
                         offset, tombstone, done, done_data);
}

/* Preparing deserializers */

typedef struct
{
  PbRun       *run;
  PbPartition *partition;
  guint        epoch;
} Preparation;

static void
prepared_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  Preparation *prep = user_data;
  PbRun *run = prep->run;
  PbPartition *p = prep->partition;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error) && error == NULL)
    error = g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                         _("%s.prepare() failed without reporting an error"),
                         G_OBJECT_TYPE_NAME (source_object));

  if (!run->finished && run->partitions != NULL && p->epoch == prep->epoch && p->preparing)
    {
      p->preparing = FALSE;
      if (error != NULL && p->prepare_error == NULL)
        p->prepare_error = g_steal_pointer (&error);
      _pb_partition_resume (run->partitions, p, PB_PAUSE_DESERIALIZER);
      if (run->dispatch != NULL && p->state == PB_PARTITION_ASSIGNED)
        run->dispatch->klass->resume (run->dispatch, p);
      _pb_run_kick (run);
    }

  g_clear_error (&error);
  _pb_run_unref (run);
  g_free (prep);
}

/* Starts @deserializer's preparation for @data of @p. */
static void
prepare (PbRun          *run,
         PbPartition    *p,
         PbDeserializer *deserializer,
         const void     *data,
         gsize           size)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, size);
  g_autoptr(GTask) task = NULL;
  Preparation *prep = g_new0 (Preparation, 1);
  GError *error = NULL;
  gboolean ok;

  prep->run = _pb_run_ref (run);
  prep->partition = p;
  prep->epoch = p->epoch;

  p->preparing = TRUE;
  _pb_partition_pause (run->partitions, p, PB_PAUSE_DESERIALIZER);

  task = g_task_new (deserializer, p->cancellable, prepared_cb, prep);
  g_task_set_source_tag (task, pb_deserializer_prepare);
  g_task_set_check_cancellable (task, FALSE);

  enter (run, p->topic);
  ok = pb_deserializer_prepare (deserializer, bytes, task, &error);
  leave (run);

  if (!ok)
    g_task_return_error (task, error != NULL ? error
                                             : g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                                                            _("%s.prepare() failed without reporting an error"),
                                                            G_OBJECT_TYPE_NAME (deserializer)));
}

gboolean
_pb_record_ready (PbRun                    *run,
                  PbPartition              *p,
                  const rd_kafka_message_t *rkm)
{
  PbTopic *topic = p->topic;
  gboolean needs;

  if (p->preparing)
    return FALSE;

  if (p->prepared_at != rkm->offset)
    {
      p->prepared_at = rkm->offset;
      p->prepared = 0;
      g_clear_error (&p->prepare_error);
    }

  if (topic->key_deserializer != NULL && rkm->key != NULL && !(p->prepared & 1))
    {
      g_autoptr(GBytes) key = g_bytes_new_static (rkm->key, rkm->key_len);

      enter (run, topic);
      needs = pb_deserializer_needs_prepare (topic->key_deserializer, key);
      leave (run);

      p->prepared |= 1;
      if (needs)
        {
          prepare (run, p, topic->key_deserializer, rkm->key, rkm->key_len);
          return FALSE;
        }
    }

  if (topic->value_deserializer != NULL && rkm->payload != NULL && !(p->prepared & 2))
    {
      g_autoptr(GBytes) value = g_bytes_new_static (rkm->payload, rkm->len);

      enter (run, topic);
      needs = pb_deserializer_needs_prepare (topic->value_deserializer, value);
      leave (run);

      p->prepared |= 2;
      if (needs)
        {
          prepare (run, p, topic->value_deserializer, rkm->payload, rkm->len);
          return FALSE;
        }
    }

  return TRUE;
}

/* Batches */

PbBatchPart *
_pb_batch_find_part (PbBatch     *batch,
                     PbPartition *p)
{
  for (guint i = 0; i < batch->n_parts; i++)
    if (batch->parts[i].partition == p)
      return &batch->parts[i];

  return NULL;
}

PbBatchPart *
_pb_batch_part_of (PbBatch   *batch,
                   PbMessage *message)
{
  int id = pb_message_get_partition (message);

  for (guint i = 0; i < batch->n_parts; i++)
    if (batch->parts[i].partition->id == id)
      return &batch->parts[i];

  g_assert_not_reached ();
}

void
_pb_batch_free (PbBatch       *batch,
                PbMessagePool *pool)
{
  g_assert (batch->handling == NULL);

  for (guint i = 0; i < batch->n_messages; i++)
    if (batch->messages[i] != NULL)
      _pb_message_pool_return (pool, batch->messages[i]);

  g_free (batch->messages);
  g_free (batch->parts);
  g_free (batch);
}

/* The messages as handlers see them: an array that borrows the batch's
 * references, valid until the batch's handling ended (no reference per
 * message: each would cost two toggle notifications). */
static GPtrArray *
batch_view (PbBatch *batch)
{
  GPtrArray *view = g_ptr_array_sized_new (batch->n_messages);

  for (guint i = 0; i < batch->n_messages; i++)
    g_ptr_array_add (view, batch->messages[i]);

  return view;
}

static void
log_batch (PbRun          *run,
           GLogLevelFlags  level,
           PbBatch        *batch,
           const char     *what,
           const char     *message)
{
  PbMessage *first = batch->messages[0];
  const char *topic = batch->topic->name;
  int partition = first != NULL ? pb_message_get_partition (first) : -1;
  gint64 offset = first != NULL ? pb_message_get_offset (first) : -1;

  _pb_log_record (&run->warnings, level, topic, partition, offset,
                  G_OBJECT_TYPE_NAME (batch->topic->handler),
                  "%s a batch of %u records of %s from %s[%d]@%" G_GINT64_FORMAT ": %s",
                  what, batch->n_messages, topic, topic, partition, offset, message);
}

static PbErrorAction
call_on_bulk_error (PbRun        *run,
                    PbBatch      *batch,
                    const GError *error,
                    GPtrArray    *messages,
                    GObject      *context)
{
  PbTopic *topic = batch->topic;
  PbErrorAction action;

  enter (run, topic);
  action = PB_BULK_HANDLER_GET_CLASS (topic->handler)->on_bulk_error (PB_BULK_HANDLER (topic->handler),
                                                                      error, messages, context);
  leave (run);

  return action;
}

/* The batch's records are handled (or skipped by the handler's decision):
 * their offsets become committable, for the partitions still owned by the
 * same assignment. */
static void
batch_mark_handled (PbRun   *run,
                    PbBatch *batch)
{
  for (guint i = 0; i < batch->n_parts; i++)
    {
      PbBatchPart *part = &batch->parts[i];

      if (part->live && part->epoch == part->partition->epoch)
        _pb_offsets_mark_handled (&run->offsets, part->partition, part->last);
    }
}

/* Runs on_bulk_error() and on_finished_handling() and decides the batch's
 * fate. Takes @handled, @context and @error. */
static void
decide_batch (PbRun     *run,
              PbBatch   *batch,
              GPtrArray *handled,
              GObject   *context,
              GError    *error)
{
  PbTopic *topic = batch->topic;
  PbHandler *handler = topic->handler;
  PbErrorAction action = PB_ERROR_ACTION_CONTINUE;

  if (handled == NULL)
    handled = batch_view (batch);

  if (error != NULL)
    action = call_on_bulk_error (run, batch, error, handled, context);

  if (action != PB_ERROR_ACTION_SPLIT && (topic->vfuncs & PB_HANDLER_VFUNC_ON_FINISHED_HANDLING))
    {
      GError *local_error = NULL;
      GError *finish_error = NULL;
      gboolean ok;

      enter (run, topic);
      ok = topic->klass->on_finished_handling (handler, handled, context, &local_error);
      leave (run);

      if (!_pb_handler_check_result (handler, "on_finished_handling", ok, local_error, &finish_error))
        {
          if (error == NULL)
            {
              error = finish_error;
              action = call_on_bulk_error (run, batch, error, handled, context);
            }
          else
            {
              log_batch (run, G_LOG_LEVEL_WARNING, batch,
                         "on_finished_handling() failed after the failure of",
                         finish_error->message);
              g_error_free (finish_error);
            }
        }
    }

  if (error == NULL)
    batch_mark_handled (run, batch);
  else if (action == PB_ERROR_ACTION_SPLIT)
    {
      log_batch (run, G_LOG_LEVEL_DEBUG, batch, "Handling one by one", error->message);
      batch->one_by_one = TRUE;
    }
  else if (action == PB_ERROR_ACTION_STOP && pb_engine_get_fail_on_exception (run->engine))
    {
      log_batch (run, G_LOG_LEVEL_MESSAGE, batch, "Stopping: failed to handle", error->message);
      _pb_run_fail (run, g_steal_pointer (&error));
    }
  else
    {
      log_batch (run, action == PB_ERROR_ACTION_STOP ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_DEBUG,
                 batch, "Failed to handle", error->message);
      batch_mark_handled (run, batch);
    }

  g_clear_error (&error);
  g_clear_object (&context);
  g_ptr_array_unref (handled);
}

static PbHandling *
start_async_batch (PbRun          *run,
                   PbBatch        *batch,
                   GPtrArray      *handled,
                   GObject        *context,
                   PbHandlingDone  done,
                   gpointer        done_data)
{
  PbTopic *topic = batch->topic;
  PbBulkHandler *handler = PB_BULK_HANDLER (topic->handler);
  PbHandling *h = handling_new (run, topic, context, done, done_data);
  g_autoptr(GTask) task = NULL;
  GError *local_error = NULL;
  GError *error = NULL;
  gboolean ok;

  h->batch = batch;
  h->handled_batch = handled;
  h->offset = pb_message_get_offset (batch->messages[0]);
  h->cancellable = g_cancellable_new ();
  h->vfunc = "handle_bulk";
  task = handling_task_new (h, h->cancellable, pb_bulk_handler_handle_bulk);

  enter (run, topic);
  ok = PB_BULK_HANDLER_GET_CLASS (handler)->handle_bulk (handler, handled, context, task,
                                                         &local_error);
  if (!_pb_handler_check_result (topic->handler, "handle_bulk", ok, local_error, &error))
    complete (h, error);
  leave (run);

  return h;
}

PbHandling *
_pb_handle_batch (PbRun          *run,
                  PbBatch        *batch,
                  PbHandlingDone  done,
                  gpointer        done_data)
{
  PbTopic *topic = batch->topic;
  PbHandler *handler = topic->handler;
  PbBulkHandlerClass *klass = PB_BULK_HANDLER_GET_CLASS (handler);
  g_autoptr(GPtrArray) messages = batch_view (batch);
  GPtrArray *handled;
  GObject *context = NULL;
  GError *local_error = NULL;
  GError *error = NULL;
  gboolean ok;

  if (G_UNLIKELY (topic->javascript))
    _pb_gjs_handed (batch->n_messages);

  /* A record that cannot be decoded fails the batch: on_bulk_error()
   * decides, and SPLIT gets each record its own on_error(). */
  if (topic->vfuncs & PB_HANDLER_VFUNC_DESERIALIZE)
    for (guint i = 0; i < batch->n_messages; i++)
      if ((error = decode (run, _pb_batch_part_of (batch, batch->messages[i])->partition,
                           topic, batch->messages[i])) != NULL)
        {
          decide_batch (run, batch, g_steal_pointer (&messages), NULL, error);
          return NULL;
        }

  if (topic->vfuncs & PB_HANDLER_VFUNC_DEFINE_CONTEXT)
    {
      enter (run, topic);
      context = topic->klass->define_context (handler, &local_error);
      leave (run);

      context = _pb_handler_check_object (handler, "define_context", context, local_error, &error);
      if (error != NULL)
        {
          decide_batch (run, batch, g_steal_pointer (&messages), NULL, error);
          return NULL;
        }
    }

  if (topic->bulk_vfuncs & PB_BULK_VFUNC_DID_RECEIVE_BULK_MESSAGES)
    {
      enter (run, topic);
      handled = klass->did_receive_bulk_messages (PB_BULK_HANDLER (handler), messages,
                                                  context, &local_error);
      leave (run);

      handled = _pb_handler_check_object (handler, "did_receive_bulk_messages", handled,
                                          local_error, &error);

      /* NULL without an error, or nothing, skips the batch. */
      if (handled == NULL || handled->len == 0)
        {
          g_clear_pointer (&handled, g_ptr_array_unref);
          decide_batch (run, batch, g_steal_pointer (&messages), context, error);
          return NULL;
        }
    }
  else
    handled = g_ptr_array_ref (messages);

  if (topic->bulk_vfuncs & PB_BULK_VFUNC_HANDLE_BULK)
    return start_async_batch (run, batch, handled, context, done, done_data);

  enter (run, topic);
  ok = klass->on_bulk (PB_BULK_HANDLER (handler), handled, context, &local_error);
  leave (run);

  _pb_handler_check_result (handler, "on_bulk", ok, local_error, &error);
  decide_batch (run, batch, handled, context, error);

  return NULL;
}

static void
batch_finish (PbRun      *run,
              PbHandling *h)
{
  PbBatch *batch = h->batch;
  GError *error = g_steal_pointer (&h->error);

  h->abandoned = TRUE;
  h->run = NULL;
  h->batch = NULL;

  if (h->timed_out)
    g_ptr_array_add (run->to_cancel, g_object_ref (h->cancellable));

  decide_batch (run, batch,
                g_steal_pointer (&h->handled_batch),
                g_steal_pointer (&h->handler_context),
                error);
}

void
_pb_handling_finish (PbRun      *run,
                     PbHandling *h)
{
  PbPartition *p = h->partition;
  GError *error;

  g_assert (h->completed && !h->abandoned);

  if (h->batch != NULL)
    {
      batch_finish (run, h);
      return;
    }

  error = g_steal_pointer (&h->error);

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

  if (h->batch != NULL)
    {
      log_batch (run, G_LOG_LEVEL_MESSAGE, h->batch, "Abandoning the handling of",
                 "its partitions went away or the engine stopped");
      h->abandoned = TRUE;
      h->run = NULL;
      h->batch = NULL;
      g_clear_error (&h->error);
      _pb_clear_source (&h->timeout);
      g_ptr_array_add (run->to_cancel, g_object_ref (h->cancellable));
      _pb_run_kick (run);
      release_objects (h, run->pool);
      return;
    }

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
