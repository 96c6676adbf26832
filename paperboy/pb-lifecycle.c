/* pb-lifecycle.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-lifecycle-private.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "pb-bulk-handler.h"
#include "pb-error.h"
#include "pb-gjs-private.h"
#include "pb-outcome-private.h"

struct _PbLifecycle
{
  PbHost         *host;
  PbPartitionMap *partitions;
  PbOffsets      *offsets;
  PbMessagePool  *pool;

  GQueue          preparations;  /* Preparation, in flight */
  const PbSource *source;        /* exact-state: the record whose handling starts */
  guint           timeout_ms;
  gboolean        fail_on_exception;
};

static GQuark handling_quark;

PbLifecycle *
_pb_lifecycle_new (PbHost         *host,
                   PbPartitionMap *partitions,
                   PbOffsets      *offsets,
                   PbMessagePool  *pool)
{
  PbLifecycle *self = g_new0 (PbLifecycle, 1);

  self->host = host;
  self->partitions = partitions;
  self->offsets = offsets;
  self->pool = pool;

  return self;
}

void
_pb_lifecycle_set_fail_on_exception (PbLifecycle *self,
                                     gboolean     fail_on_exception)
{
  self->fail_on_exception = fail_on_exception;
}

void
_pb_lifecycle_set_handling_timeout_ms (PbLifecycle *self,
                                       guint        timeout_ms)
{
  self->timeout_ms = timeout_ms;
}

/* Around every call into a handler's code. */
static inline void
enter (PbLifecycle *self,
       PbTopic     *topic)
{
  _pb_host_enter (self->host);

  if (G_UNLIKELY (topic->javascript))
    _pb_gjs_before_call ();
}

static inline void
leave (PbLifecycle *self)
{
  _pb_host_leave (self->host);
}

/* Fates */

/* What a failed handling concerns: a record, or a batch. */
typedef struct
{
  PbTopic     *topic;
  PbPartition *partition;  /* a record's */
  PbMessage   *message;    /* a record's, as its handler saw it */
  PbBatch     *batch;      /* a batch's */
  GPtrArray   *messages;   /* a batch's, as its handler saw them */
  GObject     *context;
} Handled;

static PbErrorAction
call_on_error (PbLifecycle  *self,
               Handled      *handled,
               const GError *error)
{
  PbTopic *topic = handled->topic;
  PbErrorAction action;

  enter (self, topic);
  if (handled->batch == NULL)
    action = topic->klass->on_error (topic->handler, error, handled->message, handled->context);
  else
    action = PB_BULK_HANDLER_GET_CLASS (topic->handler)->on_bulk_error (PB_BULK_HANDLER (topic->handler),
                                                                        error, handled->messages,
                                                                        handled->context);
  leave (self);

  return action;
}

static void
subject_init (PbSubject *subject,
              Handled   *handled)
{
  PbMessage *first = handled->batch != NULL ? handled->batch->messages[0] : handled->message;

  subject->topic = handled->topic->name;
  subject->handler = G_OBJECT_TYPE_NAME (handled->topic->handler);
  subject->n_records = handled->batch != NULL ? handled->batch->n_messages : 0;
  subject->partition = first != NULL ? pb_message_get_partition (first) : -1;
  subject->offset = first != NULL ? pb_message_get_offset (first) : -1;
}

/* The end of every handling, of a record or a batch: on_error() (or
 * on_bulk_error()) for a failure, on_finished_handling(), whose own
 * failure goes to on_error() when nothing failed before, and the fate.
 * Takes @error. */
static PbFate
conclude (PbLifecycle *self,
          Handled     *handled,
          GError     **error)
{
  PbTopic *topic = handled->topic;
  PbHandler *handler = topic->handler;
  PbErrorAction action = PB_ERROR_ACTION_CONTINUE;
  PbSubject subject;

  if (*error != NULL)
    action = call_on_error (self, handled, *error);

  /* A batch split is finished record by record. */
  if ((topic->vfuncs & PB_HANDLER_VFUNC_ON_FINISHED_HANDLING) &&
      (handled->batch == NULL || action != PB_ERROR_ACTION_SPLIT))
    {
      g_autoptr(GPtrArray) one = NULL;
      GPtrArray *messages = handled->messages;
      GError *local_error = NULL;
      GError *finish_error = NULL;
      gboolean ok;

      if (handled->batch == NULL)
        {
          messages = one = g_ptr_array_new_full (1, g_object_unref);
          g_ptr_array_add (one, g_object_ref (handled->message));
        }

      enter (self, topic);
      ok = topic->klass->on_finished_handling (handler, messages, handled->context, &local_error);
      leave (self);

      if (!_pb_handler_check_result (handler, "on_finished_handling", ok, local_error, &finish_error))
        {
          if (*error == NULL)
            {
              *error = finish_error;
              action = call_on_error (self, handled, *error);
            }
          else
            {
              subject_init (&subject, handled);
              _pb_log_record (_pb_host_get_warnings (self->host), G_LOG_LEVEL_WARNING,
                              subject.topic, subject.partition, subject.offset, subject.handler,
                              "%s.on_finished_handling() failed after a failure: %s",
                              subject.handler, finish_error->message);
              g_error_free (finish_error);
            }
        }
    }

  if (*error == NULL)
    return PB_FATE_HANDLED;

  subject_init (&subject, handled);
  return _pb_outcome_decide (&subject, *error, action, self->fail_on_exception,
                             _pb_host_get_warnings (self->host));
}

/* The batch's records are handled (or skipped by the handler's decision):
 * their offsets become committable, for the partitions still owned by the
 * same assignment. */
static void
batch_mark_handled (PbLifecycle *self,
                    PbBatch     *batch)
{
  for (guint i = 0; i < batch->n_parts; i++)
    {
      PbBatchPart *part = &batch->parts[i];

      if (part->live && part->epoch == part->partition->epoch)
        _pb_offsets_mark_handled (self->offsets, part->partition, part->last);
    }
}

/* Concludes the handling of a record and acts on its fate. Takes
 * @handled, @context and @error, and the engine's reference to
 * @message. */
static void
decide (PbLifecycle *self,
        PbPartition *p,
        PbMessage   *message,
        PbMessage   *handled,
        GObject     *context,
        GError      *error)
{
  Handled h = { p->topic, p, handled != NULL ? handled : message, NULL, NULL, context };

  switch (conclude (self, &h, &error))
    {
    case PB_FATE_HANDLED:
    case PB_FATE_SPLIT:
      _pb_offsets_mark_handled (self->offsets, p, pb_message_get_offset (message));
      break;

    case PB_FATE_FAIL:
      _pb_host_fail (self->host, g_steal_pointer (&error));
      break;
    }

  g_clear_error (&error);
  g_clear_object (&context);
  g_clear_object (&handled);
  _pb_message_pool_return (self->pool, message);
}

/* The same for a batch. Takes @handled, @context and @error. */
static void
decide_batch (PbLifecycle *self,
              PbBatch     *batch,
              GPtrArray   *handled,
              GObject     *context,
              GError      *error)
{
  Handled h = { batch->topic, NULL, NULL, batch, handled, context };

  switch (conclude (self, &h, &error))
    {
    case PB_FATE_HANDLED:
      batch_mark_handled (self, batch);
      break;

    case PB_FATE_SPLIT:
      batch->one_by_one = TRUE;
      break;

    case PB_FATE_FAIL:
      _pb_host_fail (self->host, g_steal_pointer (&error));
      break;
    }

  g_clear_error (&error);
  g_clear_object (&context);
  g_ptr_array_unref (handled);
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
      g_assert (h->source_host == NULL);
      g_clear_object (&h->handler_context);
      g_clear_object (&h->handled);
      g_clear_pointer (&h->handled_batch, g_ptr_array_unref);
      g_clear_object (&h->cancellable);
      g_clear_error (&h->error);
      g_main_context_unref (h->context);
      g_free (h);
    }
}

/* Its writes no longer come from its record. */
static void
end_source (PbHandling *h)
{
  if (h->source_host != NULL)
    _pb_host_source_end (h->source_host, &h->source);
  h->source_host = NULL;
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
  end_source (h);

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

  g_clear_pointer (&h->timeout, g_source_unref);
  h->timed_out = TRUE;
  complete (h, g_error_new (PB_ERROR, PB_ERROR_HANDLER,
                            h->vfunc == NULL || strcmp (h->vfunc, "handle_bulk") != 0
                            ? _("%s did not finish handling the record within %u ms")
                            : _("%s did not finish handling the batch within %u ms"),
                            G_OBJECT_TYPE_NAME (h->topic->handler), h->timeout_ms));

  return G_SOURCE_REMOVE;
}

static PbHandling *
handling_new (PbLifecycle    *self,
              PbTopic        *topic,
              GObject        *context,
              PbHandlingDone  done,
              gpointer        done_data)
{
  GMainContext *main_context = _pb_host_get_context (self->host);
  PbHandling *h;

  if (G_UNLIKELY (handling_quark == 0))
    handling_quark = g_quark_from_static_string ("pb-handling");

  h = g_new0 (PbHandling, 1);
  g_atomic_ref_count_init (&h->ref_count);
  h->context = g_main_context_ref (main_context);
  h->topic = topic;
  h->handler_context = context;
  h->done = done;
  h->done_data = done_data;
  h->link.data = h;

  h->timeout_ms = self->timeout_ms;
  if (h->timeout_ms > 0)
    h->timeout = _pb_timeout_source_new (main_context, h->timeout_ms, G_PRIORITY_DEFAULT,
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
start_async (PbLifecycle    *self,
             PbPartition    *p,
             PbMessage      *message,
             PbMessage      *handled,
             GObject        *context,
             PbHandlingDone  done,
             gpointer        done_data)
{
  PbTopic *topic = p->topic;
  PbHandler *handler = topic->handler;
  PbHandling *h = handling_new (self, topic, context, done, done_data);

  h->partition = p;
  h->epoch = p->epoch;
  h->offset = pb_message_get_offset (message);
  h->message = message;
  h->handled = handled;

  if (self->source != NULL)
    {
      _pb_host_source_begin (self->host, &h->source, topic->name, p->id, h->offset,
                             self->source);
      h->source_host = self->host;
    }

  enter (self, topic);

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

  leave (self);

  return h;
}

/* Decodes @message's key and value with its topic's deserializers: the
 * error, in PB_ERROR_DESERIALIZE, or NULL. */
static GError *
decode (PbLifecycle *self,
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

  enter (self, topic);

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

  leave (self);

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
handle_message_full (PbLifecycle    *self,
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
      error = decode (self, p, topic, message);
      if (error != NULL)
        {
          decide (self, p, message, NULL, NULL, error);
          return NULL;
        }
    }

  if (topic->vfuncs & PB_HANDLER_VFUNC_DEFINE_CONTEXT)
    {
      enter (self, topic);
      context = klass->define_context (handler, &local_error);
      leave (self);

      context = _pb_handler_check_object (handler, "define_context", context, local_error, &error);
      if (error != NULL)
        {
          decide (self, p, message, NULL, NULL, error);
          return NULL;
        }
    }

  if (topic->vfuncs & PB_HANDLER_VFUNC_DID_RECEIVE_MESSAGE)
    {
      enter (self, topic);
      handled = klass->did_receive_message (handler, message, context, &local_error);
      leave (self);

      /* NULL without an error skips the record. */
      handled = _pb_handler_check_object (handler, "did_receive_message", handled, local_error, &error);
      if (handled == NULL)
        {
          decide (self, p, message, NULL, context, error);
          return NULL;
        }
    }
  else
    handled = g_object_ref (message);

  if (topic->vfuncs & (PB_HANDLER_VFUNC_HANDLE | PB_HANDLER_VFUNC_HANDLE_ASYNC))
    return start_async (self, p, message, handled, context, done, done_data);

  tombstone = pb_message_is_tombstone (handled);
  enter (self, topic);
  if (tombstone)
    ok = klass->on_tombstone (handler, handled, context, &local_error);
  else
    ok = klass->on_message (handler, handled, context, &local_error);
  leave (self);

  _pb_handler_check_result (handler, tombstone ? "on_tombstone" : "on_message",
                            ok, local_error, &error);
  decide (self, p, message, handled, context, error);

  return NULL;
}

/* The per-record path. Handlers that only override on_message and
 * on_tombstone cost one message object (usually reused) and one call. */
static inline PbHandling *
handle_message_now (PbLifecycle    *self,
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
    return handle_message_full (self, p, message, done, done_data);

  enter (self, topic);
  if (tombstone)
    ok = topic->klass->on_tombstone (topic->handler, message, NULL, &local_error);
  else
    ok = topic->klass->on_message (topic->handler, message, NULL, &local_error);
  leave (self);

  if (G_LIKELY (ok && local_error == NULL))
    {
      _pb_offsets_mark_handled (self->offsets, p, offset);
      _pb_message_pool_return (self->pool, message);
      return NULL;
    }

  _pb_handler_check_result (topic->handler, tombstone ? "on_tombstone" : "on_message",
                            ok, local_error, &error);
  decide (self, p, message, g_object_ref (message), NULL, error);

  return NULL;
}

/* Under exact-state, the tables hear which record writes them. */
static PbHandling *
handle_message_from (PbLifecycle    *self,
                     PbPartition    *p,
                     PbMessage      *message,
                     gint64          offset,
                     gboolean        tombstone,
                     PbHandlingDone  done,
                     gpointer        done_data)
{
  const PbSource *outer = self->source;
  PbSource source = { 0, };
  PbHandling *h;

  _pb_host_source_begin (self->host, &source, p->topic->name, p->id, offset, NULL);
  self->source = &source;
  h = handle_message_now (self, p, message, offset, tombstone, done, done_data);
  self->source = outer;
  _pb_host_source_end (self->host, &source);

  return h;
}

static inline PbHandling *
handle_message (PbLifecycle    *self,
                PbPartition    *p,
                PbMessage      *message,
                gint64          offset,
                gboolean        tombstone,
                PbHandlingDone  done,
                gpointer        done_data)
{
  if (G_UNLIKELY (_pb_host_is_exact_state (self->host)))
    return handle_message_from (self, p, message, offset, tombstone, done, done_data);

  return handle_message_now (self, p, message, offset, tombstone, done, done_data);
}

PbHandling *
_pb_lifecycle_message (PbLifecycle    *self,
                       PbPartition    *p,
                       PbMessage      *message,
                       PbHandlingDone  done,
                       gpointer        done_data)
{
  return handle_message (self, p, message, pb_message_get_offset (message),
                         pb_message_is_tombstone (message), done, done_data);
}

PbHandling *
_pb_lifecycle_record (PbLifecycle        *self,
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

  return handle_message (self, p, _pb_message_pool_take (self->pool, rkm, topic->name),
                         offset, tombstone, done, done_data);
}

/* Preparing deserializers */

/* A preparation in flight. Its lifecycle forgets it when it ends: the
 * result is then dropped. */
typedef struct
{
  PbLifecycle *lifecycle;  /* NULL once abandoned */
  PbPartition *partition;
  guint        epoch;
  GList        link;
} Preparation;

static void
prepared_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  Preparation *prep = user_data;
  PbLifecycle *self = prep->lifecycle;
  PbPartition *p = prep->partition;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error) && error == NULL)
    error = g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                         _("%s.prepare() failed without reporting an error"),
                         G_OBJECT_TYPE_NAME (source_object));

  if (self != NULL)
    {
      g_queue_unlink (&self->preparations, &prep->link);

      if (p->epoch == prep->epoch && p->preparing)
        {
          p->preparing = FALSE;
          if (error != NULL && p->prepare_error == NULL)
            p->prepare_error = g_steal_pointer (&error);
          /* Its records go on. */
          _pb_partition_resume (self->partitions, p, PB_PAUSE_DESERIALIZER);
          _pb_host_kick (self->host);
        }
    }

  g_clear_error (&error);
  g_free (prep);
}

/* Starts @deserializer's preparation for @data of @p. */
static void
prepare (PbLifecycle    *self,
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

  prep->lifecycle = self;
  prep->partition = p;
  prep->epoch = p->epoch;
  prep->link.data = prep;
  g_queue_push_tail_link (&self->preparations, &prep->link);

  p->preparing = TRUE;
  _pb_partition_pause (self->partitions, p, PB_PAUSE_DESERIALIZER);

  task = g_task_new (deserializer, p->cancellable, prepared_cb, prep);
  g_task_set_source_tag (task, pb_deserializer_prepare);
  g_task_set_check_cancellable (task, FALSE);

  enter (self, p->topic);
  ok = pb_deserializer_prepare (deserializer, bytes, task, &error);
  leave (self);

  if (!ok)
    g_task_return_error (task, error != NULL ? error
                                             : g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                                                            _("%s.prepare() failed without reporting an error"),
                                                            G_OBJECT_TYPE_NAME (deserializer)));
}

/* Whether @deserializer must prepare for @data, which is @bit of the
 * record (1: its key, 2: its value): then it begins. Asked once a record. */
static gboolean
needs_prepare (PbLifecycle    *self,
               PbPartition    *p,
               PbDeserializer *deserializer,
               const void     *data,
               gsize           size,
               guint           bit)
{
  g_autoptr(GBytes) bytes = NULL;
  gboolean needs;

  if (deserializer == NULL || data == NULL || (p->prepared & bit))
    return FALSE;

  bytes = g_bytes_new_static (data, size);
  enter (self, p->topic);
  needs = pb_deserializer_needs_prepare (deserializer, bytes);
  leave (self);

  p->prepared |= bit;
  if (needs)
    prepare (self, p, deserializer, data, size);

  return needs;
}

gboolean
_pb_lifecycle_ready (PbLifecycle              *self,
                     PbPartition              *p,
                     const rd_kafka_message_t *rkm)
{
  PbTopic *topic = p->topic;

  if (p->preparing)
    return FALSE;

  if (p->prepared_at != rkm->offset)
    {
      p->prepared_at = rkm->offset;
      p->prepared = 0;
      g_clear_error (&p->prepare_error);
    }

  return !needs_prepare (self, p, topic->key_deserializer, rkm->key, rkm->key_len, 1) &&
         !needs_prepare (self, p, topic->value_deserializer, rkm->payload, rkm->len, 2);
}

void
_pb_lifecycle_free (PbLifecycle *self)
{
  Preparation *prep;

  if (self == NULL)
    return;

  while ((prep = g_queue_peek_head (&self->preparations)) != NULL)
    {
      g_queue_unlink (&self->preparations, &prep->link);
      prep->lifecycle = NULL;
    }

  g_free (self);
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

static PbHandling *
start_async_batch (PbLifecycle    *self,
                   PbBatch        *batch,
                   GPtrArray      *handled,
                   GObject        *context,
                   PbHandlingDone  done,
                   gpointer        done_data)
{
  PbTopic *topic = batch->topic;
  PbBulkHandler *handler = PB_BULK_HANDLER (topic->handler);
  PbHandling *h = handling_new (self, topic, context, done, done_data);
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

  enter (self, topic);
  ok = PB_BULK_HANDLER_GET_CLASS (handler)->handle_bulk (handler, handled, context, task,
                                                         &local_error);
  if (!_pb_handler_check_result (topic->handler, "handle_bulk", ok, local_error, &error))
    complete (h, error);
  leave (self);

  return h;
}

PbHandling *
_pb_lifecycle_batch (PbLifecycle    *self,
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
      if ((error = decode (self, _pb_batch_part_of (batch, batch->messages[i])->partition,
                           topic, batch->messages[i])) != NULL)
        {
          decide_batch (self, batch, g_steal_pointer (&messages), NULL, error);
          return NULL;
        }

  if (topic->vfuncs & PB_HANDLER_VFUNC_DEFINE_CONTEXT)
    {
      enter (self, topic);
      context = topic->klass->define_context (handler, &local_error);
      leave (self);

      context = _pb_handler_check_object (handler, "define_context", context, local_error, &error);
      if (error != NULL)
        {
          decide_batch (self, batch, g_steal_pointer (&messages), NULL, error);
          return NULL;
        }
    }

  if (topic->bulk_vfuncs & PB_BULK_VFUNC_DID_RECEIVE_BULK_MESSAGES)
    {
      enter (self, topic);
      handled = klass->did_receive_bulk_messages (PB_BULK_HANDLER (handler), messages,
                                                  context, &local_error);
      leave (self);

      handled = _pb_handler_check_object (handler, "did_receive_bulk_messages", handled,
                                          local_error, &error);

      /* NULL without an error, or nothing, skips the batch. */
      if (handled == NULL || handled->len == 0)
        {
          g_clear_pointer (&handled, g_ptr_array_unref);
          decide_batch (self, batch, g_steal_pointer (&messages), context, error);
          return NULL;
        }
    }
  else
    handled = g_ptr_array_ref (messages);

  if (topic->bulk_vfuncs & PB_BULK_VFUNC_HANDLE_BULK)
    return start_async_batch (self, batch, handled, context, done, done_data);

  enter (self, topic);
  ok = klass->on_bulk (PB_BULK_HANDLER (handler), handled, context, &local_error);
  leave (self);

  _pb_handler_check_result (handler, "on_bulk", ok, local_error, &error);
  decide_batch (self, batch, handled, context, error);

  return NULL;
}

static void
batch_finish (PbLifecycle *self,
              PbHandling  *h)
{
  PbBatch *batch = h->batch;
  GError *error = g_steal_pointer (&h->error);

  h->abandoned = TRUE;
  h->batch = NULL;

  if (h->timed_out)
    _pb_host_cancel_later (self->host, h->cancellable);

  decide_batch (self, batch,
                g_steal_pointer (&h->handled_batch),
                g_steal_pointer (&h->handler_context),
                error);
}

void
_pb_lifecycle_finish (PbLifecycle *self,
                      PbHandling  *h)
{
  PbPartition *p = h->partition;
  GError *error;

  g_assert (h->completed && !h->abandoned);

  if (h->batch != NULL)
    {
      batch_finish (self, h);
      return;
    }

  error = g_steal_pointer (&h->error);

  /* Its result is ours to act on now: nothing else touches it. */
  h->abandoned = TRUE;
  h->partition = NULL;

  /* A timed-out handler is told through its cancellable. */
  if (h->timed_out)
    _pb_partition_cancel (self->partitions, p);

  if (h->epoch != p->epoch ||
      (error != NULL && p->state != PB_PARTITION_ASSIGNED &&
       g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)))
    {
      /* Cancelled because the partition is going away: not handled, and
       * not a failure either; the next owner handles the record again. */
      g_clear_error (&error);
      release_objects (h, self->pool);
      return;
    }

  decide (self, p,
          g_steal_pointer (&h->message),
          g_steal_pointer (&h->handled),
          g_steal_pointer (&h->handler_context),
          error);
}

void
_pb_lifecycle_abandon (PbLifecycle *self,
                       PbHandling  *h)
{
  PbPartition *p = h->partition;
  PbRateLimit *warnings = _pb_host_get_warnings (self->host);
  const char *handler = G_OBJECT_TYPE_NAME (h->topic->handler);

  g_assert (!h->abandoned);

  h->abandoned = TRUE;
  g_clear_error (&h->error);
  _pb_clear_source (&h->timeout);
  end_source (h);

  if (h->batch != NULL)
    {
      _pb_log_record (warnings, G_LOG_LEVEL_MESSAGE, h->topic->name, -1, h->offset, handler,
                      "Abandoning the handling of a batch of %u records of %s: "
                      "its partitions went away or the engine stopped",
                      h->batch->n_messages, h->topic->name);
      h->batch = NULL;
      _pb_host_cancel_later (self->host, h->cancellable);
    }
  else
    {
      _pb_log_record (warnings, G_LOG_LEVEL_MESSAGE, h->topic->name, p->id, h->offset, handler,
                      "Abandoning the handling of %s[%d]@%" G_GINT64_FORMAT,
                      h->topic->name, p->id, h->offset);
      h->partition = NULL;
      _pb_partition_cancel (self->partitions, p);
    }

  /* The engine's reference goes back now: a message the handler still
   * holds is detached from librdkafka. */
  release_objects (h, self->pool);
}
