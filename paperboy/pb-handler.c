/* pb-handler.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-handler-private.h"

#include <glib/gi18n-lib.h>

#include "pb-enum-types.h"
#include "pb-gjs-private.h"
#include "pb-message.h"
#include "pb-util-private.h"

/**
 * PbHandler:
 *
 * The base class of the objects that handle the records of a set of topics.
 *
 * A handler declares its topics with [property@Paperboy.Handler:topics] (or
 * [property@Paperboy.Handler:topic]) and overrides the lifecycle virtual
 * functions it needs. For every record of its topics, the engine calls, in
 * order and on its main context:
 *
 * 1. [vfunc@Paperboy.Handler.define_context], which creates the state of
 *    this record's handling (by default none);
 * 2. [vfunc@Paperboy.Handler.did_receive_message], which may replace the
 *    message or skip it by returning %NULL;
 * 3. [vfunc@Paperboy.Handler.handle]: by default
 *    [vfunc@Paperboy.Handler.on_message], or
 *    [vfunc@Paperboy.Handler.on_tombstone] when the value is null;
 * 4. on failure, [vfunc@Paperboy.Handler.on_error], whose
 *    [enum@Paperboy.ErrorAction] decides what happens next;
 * 5. [vfunc@Paperboy.Handler.on_finished_handling], always last.
 *
 * (An asynchronous handling the engine stopped waiting for, because its
 * partition went away or the engine stopped, ends without steps 4 and 5:
 * the record counts as not handled and is read again.)
 *
 * Virtual functions that can fail return %TRUE on success and %FALSE with
 * an error otherwise; %FALSE without an error (which is what PyGObject
 * reports for a Python exception that is not a `GLib.Error`) is a failure
 * too, described by a %PB_ERROR_HANDLER error naming the handler and the
 * virtual function.
 *
 * In Python, override `do_on_message()` and the others; in JavaScript,
 * `vfunc_on_message()`. An asynchronous handler overrides
 * [vfunc@Paperboy.Handler.handle] and completes the [class@Gio.Task] it is
 * given, now or later: the engine handles the next record of the same
 * partition only once the task returned.
 *
 * A handler registered by type with
 * [method@Paperboy.Engine.add_handler_type] is created with
 * [ctor@GObject.Object.new] and no arguments, so it can only be configured
 * through its properties.
 */

typedef struct
{
  char           **topics;
  PbDeserializer  *key_deserializer;
  PbDeserializer  *value_deserializer;
} PbHandlerPrivate;

enum {
  PROP_0,
  PROP_TOPICS,
  PROP_TOPIC,
  PROP_KEY_DESERIALIZER,
  PROP_VALUE_DESERIALIZER,
  N_PROPS
};

G_DEFINE_TYPE_WITH_PRIVATE (PbHandler, pb_handler, G_TYPE_OBJECT)

static GParamSpec *properties[N_PROPS];

GError *
_pb_handler_missing_error_new (PbHandler  *self,
                               const char *vfunc)
{
  return g_error_new (PB_ERROR, PB_ERROR_HANDLER,
                      _("%s.%s() failed without reporting an error "
                        "(an uncaught exception in a language binding?)"),
                      G_OBJECT_TYPE_NAME (self), vfunc);
}

/* A failure of @vfunc, as a handler reports it: a JavaScript handler's
 * return value of the wrong type becomes a PB_ERROR_HANDLER error naming
 * the handler and the virtual function. */
static void
propagate_failure (PbHandler   *self,
                   const char  *vfunc,
                   GError      *local_error,
                   GError     **error)
{
  if (_pb_gjs_is_wrong_return (local_error) &&
      _pb_gjs_is_javascript (G_OBJECT_TYPE (self)))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_HANDLER,
                   _("%s.%s() returned a value of the wrong type: %s"),
                   G_OBJECT_TYPE_NAME (self), vfunc, local_error->message);
      g_error_free (local_error);
      return;
    }

  g_propagate_error (error, local_error);
}

gboolean
_pb_handler_check_result (PbHandler   *self,
                          const char  *vfunc,
                          gboolean     ret,
                          GError      *local_error,
                          GError     **error)
{
  if (ret)
    {
      if (local_error != NULL)
        {
          g_critical ("%s.%s() returned TRUE but set an error: %s",
                      G_OBJECT_TYPE_NAME (self), vfunc, local_error->message);
          g_error_free (local_error);
        }

      return TRUE;
    }

  if (local_error == NULL)
    local_error = _pb_handler_missing_error_new (self, vfunc);

  propagate_failure (self, vfunc, local_error, error);

  return FALSE;
}

gpointer
_pb_handler_check_object (PbHandler   *self,
                          const char  *vfunc,
                          gpointer     object,
                          GError      *local_error,
                          GError     **error)
{
  if (object != NULL && local_error != NULL)
    {
      g_critical ("%s.%s() returned an object but set an error: %s",
                  G_OBJECT_TYPE_NAME (self), vfunc, local_error->message);
      g_error_free (local_error);
    }
  else if (local_error != NULL)
    propagate_failure (self, vfunc, local_error, error);

  return object;
}

static GObject *
pb_handler_real_define_context (PbHandler  *self,
                                GError    **error)
{
  return NULL;
}

static PbMessage *
pb_handler_real_did_receive_message (PbHandler  *self,
                                     PbMessage  *message,
                                     GObject    *context,
                                     GError    **error)
{
  return g_object_ref (message);
}

static gboolean
pb_handler_real_on_message (PbHandler  *self,
                            PbMessage  *message,
                            GObject    *context,
                            GError    **error)
{
  return TRUE;
}

static gboolean
pb_handler_real_on_tombstone (PbHandler  *self,
                              PbMessage  *message,
                              GObject    *context,
                              GError    **error)
{
  return TRUE;
}

static PbErrorAction
pb_handler_real_on_error (PbHandler    *self,
                          const GError *error,
                          PbMessage    *message,
                          GObject      *context)
{
  return PB_ERROR_ACTION_STOP;
}

static gboolean
pb_handler_real_on_finished_handling (PbHandler  *self,
                                      GPtrArray  *messages,
                                      GObject    *context,
                                      GError    **error)
{
  return TRUE;
}

static gboolean
pb_handler_real_handle (PbHandler  *self,
                        PbMessage  *message,
                        GObject    *context,
                        GTask      *task,
                        GError    **error)
{
  GError *local_error = NULL;
  gboolean ok;

  if (pb_message_is_tombstone (message))
    ok = pb_handler_on_tombstone (self, message, context, &local_error);
  else
    ok = pb_handler_on_message (self, message, context, &local_error);

  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, local_error);

  return TRUE;
}

/* The default handle_async() runs handle() with an inner task and completes
 * the caller's (outer) task when the inner one returns. The inner task has
 * no callback (GLib would complain about a callback task dropped without a
 * result, which is a handler's failure here, not a bug of the library):
 * its completion is noticed through GTask:completed, and a drop when it is
 * finalized. Its state lives in qdata, not in its task data, which
 * handle() may use. */
typedef struct
{
  GTask    *outer;
  gboolean  done;
} InnerState;

static GQuark inner_state_quark;

static gboolean
inner_dropped_cb (gpointer data)
{
  GTask *outer = data;

  g_task_return_new_error (outer, PB_ERROR, PB_ERROR_HANDLER,
                           _("%s.handle() dropped its task without returning a result"),
                           G_OBJECT_TYPE_NAME (g_task_get_source_object (outer)));

  return G_SOURCE_REMOVE;
}

static void
inner_state_free (gpointer data)
{
  InnerState *state = data;

  /* Runs while the inner task is finalized, maybe in a binding's garbage
   * collector: report a dropped task from an idle instead. */
  if (!state->done)
    {
      GMainContext *context = g_task_get_context (state->outer);

      _pb_invoke_later (context, inner_dropped_cb, g_steal_pointer (&state->outer),
                        g_object_unref);
    }

  g_clear_object (&state->outer);
  g_free (state);
}

static void
inner_completed_cb (GTask      *inner,
                    GParamSpec *pspec,
                    gpointer    user_data)
{
  InnerState *state = g_object_get_qdata (G_OBJECT (inner), inner_state_quark);
  GError *error = NULL;
  gboolean ok;

  state->done = TRUE;
  ok = g_task_propagate_boolean (inner, &error);
  if (!ok && error == NULL)
    error = _pb_handler_missing_error_new (PB_HANDLER (g_task_get_source_object (inner)), "handle");

  if (error != NULL)
    g_task_return_error (state->outer, error);
  else
    g_task_return_boolean (state->outer, TRUE);
}

static void
pb_handler_real_handle_async (PbHandler           *self,
                              PbMessage           *message,
                              GObject             *context,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) outer = NULL;
  g_autoptr(GTask) inner = NULL;
  InnerState *state;
  GError *local_error = NULL;
  GError *error = NULL;
  gboolean ok;

  /* A result is a result: whether a cancellation stopped the handling is
   * for handle() to say, not for the tasks to guess. */
  outer = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (outer, pb_handler_real_handle_async);
  g_task_set_check_cancellable (outer, FALSE);

  state = g_new0 (InnerState, 1);
  state->outer = g_object_ref (outer);

  inner = g_task_new (self, cancellable, NULL, NULL);
  g_task_set_source_tag (inner, pb_handler_handle);
  g_task_set_check_cancellable (inner, FALSE);
  g_object_set_qdata_full (G_OBJECT (inner), inner_state_quark, state, inner_state_free);
  g_signal_connect (inner, "notify::completed", G_CALLBACK (inner_completed_cb), NULL);

  ok = PB_HANDLER_GET_CLASS (self)->handle (self, message, context, inner, &local_error);
  if (!_pb_handler_check_result (self, "handle", ok, local_error, &error))
    {
      state->done = TRUE;
      g_task_return_error (outer, error);
    }
}

static gboolean
pb_handler_real_handle_finish (PbHandler     *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
pb_handler_finalize (GObject *object)
{
  PbHandler *self = (PbHandler *)object;
  PbHandlerPrivate *priv = pb_handler_get_instance_private (self);

  g_clear_pointer (&priv->topics, g_strfreev);
  g_clear_object (&priv->key_deserializer);
  g_clear_object (&priv->value_deserializer);

  G_OBJECT_CLASS (pb_handler_parent_class)->finalize (object);
}

static void
pb_handler_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  PbHandler *self = PB_HANDLER (object);

  switch (prop_id)
    {
    case PROP_TOPICS:
      g_value_set_boxed (value, pb_handler_get_topics (self));
      break;

    case PROP_TOPIC:
      g_value_set_string (value, pb_handler_get_topic (self));
      break;

    case PROP_KEY_DESERIALIZER:
      g_value_set_object (value, pb_handler_get_key_deserializer (self));
      break;

    case PROP_VALUE_DESERIALIZER:
      g_value_set_object (value, pb_handler_get_value_deserializer (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_handler_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  PbHandler *self = PB_HANDLER (object);

  switch (prop_id)
    {
    case PROP_TOPICS:
      pb_handler_set_topics (self, g_value_get_boxed (value));
      break;

    case PROP_TOPIC:
      pb_handler_set_topic (self, g_value_get_string (value));
      break;

    case PROP_KEY_DESERIALIZER:
      pb_handler_set_key_deserializer (self, g_value_get_object (value));
      break;

    case PROP_VALUE_DESERIALIZER:
      pb_handler_set_value_deserializer (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_handler_class_init (PbHandlerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pb_handler_finalize;
  object_class->get_property = pb_handler_get_property;
  object_class->set_property = pb_handler_set_property;

  /* Never leave a slot NULL: bindings chain up to these. */
  klass->define_context = pb_handler_real_define_context;
  klass->did_receive_message = pb_handler_real_did_receive_message;
  klass->on_message = pb_handler_real_on_message;
  klass->on_tombstone = pb_handler_real_on_tombstone;
  klass->on_error = pb_handler_real_on_error;
  klass->on_finished_handling = pb_handler_real_on_finished_handling;
  klass->handle = pb_handler_real_handle;
  klass->handle_async = pb_handler_real_handle_async;
  klass->handle_finish = pb_handler_real_handle_finish;

  inner_state_quark = g_quark_from_static_string ("pb-handler-inner-state");

  /**
   * PbHandler:topics:
   *
   * The names of the topics whose records this handler receives.
   */
  properties[PROP_TOPICS] =
    g_param_spec_boxed ("topics", NULL, NULL,
                        G_TYPE_STRV,
                        (G_PARAM_READWRITE |
                         G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS));

  /**
   * PbHandler:topic:
   *
   * A shortcut for a handler of a single topic: reading it gives the first
   * of [property@Paperboy.Handler:topics], setting it replaces them all.
   */
  properties[PROP_TOPIC] =
    g_param_spec_string ("topic", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbHandler:key-deserializer:
   *
   * What decodes the keys of this handler's records, before
   * [vfunc@Paperboy.Handler.did_receive_message], into
   * [method@Paperboy.Message.get_decoded_key]; %NULL for none. Read when
   * the handler is added to an engine.
   */
  properties[PROP_KEY_DESERIALIZER] =
    g_param_spec_object ("key-deserializer", NULL, NULL,
                         PB_TYPE_DESERIALIZER,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbHandler:value-deserializer:
   *
   * What decodes the values of this handler's records, before
   * [vfunc@Paperboy.Handler.did_receive_message], into
   * [method@Paperboy.Message.get_decoded_value]; %NULL for none. Read when
   * the handler is added to an engine.
   */
  properties[PROP_VALUE_DESERIALIZER] =
    g_param_spec_object ("value-deserializer", NULL, NULL,
                         PB_TYPE_DESERIALIZER,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
pb_handler_init (PbHandler *self)
{
}

PbHandlerVfuncs
_pb_handler_get_overrides (PbHandler *self)
{
  PbHandlerClass *klass = PB_HANDLER_GET_CLASS (self);
  PbHandlerVfuncs vfuncs = 0;

  if (klass->define_context != pb_handler_real_define_context)
    vfuncs |= PB_HANDLER_VFUNC_DEFINE_CONTEXT;
  if (klass->did_receive_message != pb_handler_real_did_receive_message)
    vfuncs |= PB_HANDLER_VFUNC_DID_RECEIVE_MESSAGE;
  if (klass->on_finished_handling != pb_handler_real_on_finished_handling)
    vfuncs |= PB_HANDLER_VFUNC_ON_FINISHED_HANDLING;
  if (klass->handle != pb_handler_real_handle)
    vfuncs |= PB_HANDLER_VFUNC_HANDLE;
  if (klass->handle_async != pb_handler_real_handle_async ||
      klass->handle_finish != pb_handler_real_handle_finish)
    vfuncs |= PB_HANDLER_VFUNC_HANDLE_ASYNC;
  if (pb_handler_get_key_deserializer (self) != NULL || pb_handler_get_value_deserializer (self) != NULL)
    vfuncs |= PB_HANDLER_VFUNC_DESERIALIZE;

  return vfuncs;
}

/**
 * pb_handler_get_topics:
 * @self: a [class@Paperboy.Handler]
 *
 * Gets [property@Paperboy.Handler:topics].
 *
 * Returns: (transfer none) (nullable) (array zero-terminated=1): the topics
 *   of @self
 */
const char * const *
pb_handler_get_topics (PbHandler *self)
{
  PbHandlerPrivate *priv = pb_handler_get_instance_private (self);

  g_return_val_if_fail (PB_IS_HANDLER (self), NULL);

  return (const char * const *)priv->topics;
}

/**
 * pb_handler_set_topics:
 * @self: a [class@Paperboy.Handler]
 * @topics: (nullable) (array zero-terminated=1): the topic names
 *
 * Sets [property@Paperboy.Handler:topics]. Takes effect when the handler is
 * added to an engine.
 */
void
pb_handler_set_topics (PbHandler          *self,
                       const char * const *topics)
{
  PbHandlerPrivate *priv = pb_handler_get_instance_private (self);

  g_return_if_fail (PB_IS_HANDLER (self));

  if (priv->topics == NULL && topics == NULL)
    return;
  if (priv->topics != NULL && topics != NULL &&
      g_strv_equal ((const char * const *)priv->topics, topics))
    return;

  g_strfreev (priv->topics);
  priv->topics = g_strdupv ((char **)topics);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOPICS]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOPIC]);
}

/**
 * pb_handler_get_topic:
 * @self: a [class@Paperboy.Handler]
 *
 * Gets [property@Paperboy.Handler:topic].
 *
 * Returns: (nullable): the first topic of @self
 */
const char *
pb_handler_get_topic (PbHandler *self)
{
  PbHandlerPrivate *priv = pb_handler_get_instance_private (self);

  g_return_val_if_fail (PB_IS_HANDLER (self), NULL);

  return priv->topics != NULL ? priv->topics[0] : NULL;
}

/**
 * pb_handler_set_topic:
 * @self: a [class@Paperboy.Handler]
 * @topic: (nullable): a topic name
 *
 * Sets [property@Paperboy.Handler:topic]: @self handles @topic only.
 */
void
pb_handler_set_topic (PbHandler  *self,
                      const char *topic)
{
  const char *topics[] = { topic, NULL };

  g_return_if_fail (PB_IS_HANDLER (self));

  pb_handler_set_topics (self, topic != NULL ? topics : NULL);
}

/**
 * pb_handler_get_key_deserializer:
 * @self: a [class@Paperboy.Handler]
 *
 * Gets [property@Paperboy.Handler:key-deserializer].
 *
 * Returns: (transfer none) (nullable): the key deserializer of @self
 */
PbDeserializer *
pb_handler_get_key_deserializer (PbHandler *self)
{
  PbHandlerPrivate *priv = pb_handler_get_instance_private (self);

  g_return_val_if_fail (PB_IS_HANDLER (self), NULL);

  return priv->key_deserializer;
}

/**
 * pb_handler_set_key_deserializer:
 * @self: a [class@Paperboy.Handler]
 * @deserializer: (nullable): a deserializer, or %NULL for none
 *
 * Sets [property@Paperboy.Handler:key-deserializer].
 */
void
pb_handler_set_key_deserializer (PbHandler      *self,
                                 PbDeserializer *deserializer)
{
  PbHandlerPrivate *priv = pb_handler_get_instance_private (self);

  g_return_if_fail (PB_IS_HANDLER (self));
  g_return_if_fail (deserializer == NULL || PB_IS_DESERIALIZER (deserializer));

  if (g_set_object (&priv->key_deserializer, deserializer))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEY_DESERIALIZER]);
}

/**
 * pb_handler_get_value_deserializer:
 * @self: a [class@Paperboy.Handler]
 *
 * Gets [property@Paperboy.Handler:value-deserializer].
 *
 * Returns: (transfer none) (nullable): the value deserializer of @self
 */
PbDeserializer *
pb_handler_get_value_deserializer (PbHandler *self)
{
  PbHandlerPrivate *priv = pb_handler_get_instance_private (self);

  g_return_val_if_fail (PB_IS_HANDLER (self), NULL);

  return priv->value_deserializer;
}

/**
 * pb_handler_set_value_deserializer:
 * @self: a [class@Paperboy.Handler]
 * @deserializer: (nullable): a deserializer, or %NULL for none
 *
 * Sets [property@Paperboy.Handler:value-deserializer].
 */
void
pb_handler_set_value_deserializer (PbHandler      *self,
                                   PbDeserializer *deserializer)
{
  PbHandlerPrivate *priv = pb_handler_get_instance_private (self);

  g_return_if_fail (PB_IS_HANDLER (self));
  g_return_if_fail (deserializer == NULL || PB_IS_DESERIALIZER (deserializer));

  if (g_set_object (&priv->value_deserializer, deserializer))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VALUE_DESERIALIZER]);
}

/**
 * pb_handler_define_context: (virtual define_context)
 * @self: a [class@Paperboy.Handler]
 * @error: return location for a #GError
 *
 * Creates the state of one record's handling, which the engine passes to
 * every other virtual function for that record and releases afterwards.
 * Each record gets a context of its own.
 *
 * The default returns %NULL, and the engine does not call this virtual
 * function at all when it is not overridden.
 *
 * Returns: (transfer full) (nullable): a new context, or %NULL for none
 *   (also on failure, with @error set)
 */
GObject *
pb_handler_define_context (PbHandler  *self,
                           GError    **error)
{
  g_return_val_if_fail (PB_IS_HANDLER (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return PB_HANDLER_GET_CLASS (self)->define_context (self, error);
}

/**
 * pb_handler_did_receive_message: (virtual did_receive_message)
 * @self: a [class@Paperboy.Handler]
 * @message: the received message
 * @context: (nullable): the context of this handling
 * @error: return location for a #GError
 *
 * Pre-processes @message before it is handled. An override may return
 * @message itself, a replacement (see [ctor@Paperboy.Message.new_full] and
 * [method@Paperboy.Message.with_value]), or %NULL to skip the record: no
 * handler runs for it and it counts as handled. The offset the engine
 * commits is always the original record's.
 *
 * The default returns @message.
 *
 * Returns: (transfer full) (nullable): the message to handle, or %NULL to
 *   skip it (also on failure, with @error set)
 */
PbMessage *
pb_handler_did_receive_message (PbHandler  *self,
                                PbMessage  *message,
                                GObject    *context,
                                GError    **error)
{
  g_return_val_if_fail (PB_IS_HANDLER (self), NULL);
  g_return_val_if_fail (PB_IS_MESSAGE (message), NULL);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return PB_HANDLER_GET_CLASS (self)->did_receive_message (self, message, context, error);
}

/**
 * pb_handler_on_message: (virtual on_message)
 * @self: a [class@Paperboy.Handler]
 * @message: the message to handle
 * @context: (nullable): the context of this handling
 * @error: return location for a #GError
 *
 * Handles a record whose value is not null. The default does nothing.
 *
 * Returns: %TRUE on success, %FALSE with @error set on failure
 */
gboolean
pb_handler_on_message (PbHandler  *self,
                       PbMessage  *message,
                       GObject    *context,
                       GError    **error)
{
  GError *local_error = NULL;
  gboolean ret;

  g_return_val_if_fail (PB_IS_HANDLER (self), FALSE);
  g_return_val_if_fail (PB_IS_MESSAGE (message), FALSE);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ret = PB_HANDLER_GET_CLASS (self)->on_message (self, message, context, &local_error);

  return _pb_handler_check_result (self, "on_message", ret, local_error, error);
}

/**
 * pb_handler_on_tombstone: (virtual on_tombstone)
 * @self: a [class@Paperboy.Handler]
 * @message: the tombstone to handle
 * @context: (nullable): the context of this handling
 * @error: return location for a #GError
 *
 * Handles a record whose value is null (a tombstone, which deletes its key
 * from a compacted topic). The default does nothing.
 *
 * Returns: %TRUE on success, %FALSE with @error set on failure
 */
gboolean
pb_handler_on_tombstone (PbHandler  *self,
                         PbMessage  *message,
                         GObject    *context,
                         GError    **error)
{
  GError *local_error = NULL;
  gboolean ret;

  g_return_val_if_fail (PB_IS_HANDLER (self), FALSE);
  g_return_val_if_fail (PB_IS_MESSAGE (message), FALSE);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ret = PB_HANDLER_GET_CLASS (self)->on_tombstone (self, message, context, &local_error);

  return _pb_handler_check_result (self, "on_tombstone", ret, local_error, error);
}

/**
 * pb_handler_on_error: (virtual on_error)
 * @self: a [class@Paperboy.Handler]
 * @error: the failure, as the failing code reported it
 * @message: the message whose handling failed
 * @context: (nullable): the context of this handling
 *
 * Decides what a failed handling means. @error is the handler's own error,
 * unchanged, or a %PB_ERROR_HANDLER error when the handler failed without
 * one.
 *
 * The default returns %PB_ERROR_ACTION_STOP: with
 * [property@Paperboy.Engine:fail-on-exception] the engine stops with
 * @error, otherwise it logs a warning and goes on. An override that throws
 * in a language binding returns %PB_ERROR_ACTION_STOP too.
 *
 * Returns: what the engine does next
 */
PbErrorAction
pb_handler_on_error (PbHandler    *self,
                     const GError *error,
                     PbMessage    *message,
                     GObject      *context)
{
  g_return_val_if_fail (PB_IS_HANDLER (self), PB_ERROR_ACTION_STOP);
  g_return_val_if_fail (error != NULL, PB_ERROR_ACTION_STOP);
  g_return_val_if_fail (PB_IS_MESSAGE (message), PB_ERROR_ACTION_STOP);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), PB_ERROR_ACTION_STOP);

  return PB_HANDLER_GET_CLASS (self)->on_error (self, error, message, context);
}

/**
 * pb_handler_on_finished_handling: (virtual on_finished_handling)
 * @self: a [class@Paperboy.Handler]
 * @messages: (element-type PbMessage): the handled messages (one in Single
 *   mode)
 * @context: (nullable): the context of this handling
 * @error: return location for a #GError
 *
 * Runs last for every record, after it was handled, after
 * [vfunc@Paperboy.Handler.on_error] when it failed, and after
 * [vfunc@Paperboy.Handler.did_receive_message] skipped it (then with the
 * original message). The only records it does not run for are those whose
 * asynchronous handling the engine stopped waiting for (see
 * [vfunc@Paperboy.Handler.handle]): they count as not handled. When the
 * handling had succeeded, a failure here goes to
 * [vfunc@Paperboy.Handler.on_error] (and this function is not called again
 * for that record); after a failed handling it is only logged.
 *
 * The default does nothing, and the engine does not call this virtual
 * function (nor build the array) when it is not overridden.
 *
 * Returns: %TRUE on success, %FALSE with @error set on failure
 */
gboolean
pb_handler_on_finished_handling (PbHandler  *self,
                                 GPtrArray  *messages,
                                 GObject    *context,
                                 GError    **error)
{
  GError *local_error = NULL;
  gboolean ret;

  g_return_val_if_fail (PB_IS_HANDLER (self), FALSE);
  g_return_val_if_fail (messages != NULL, FALSE);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ret = PB_HANDLER_GET_CLASS (self)->on_finished_handling (self, messages, context, &local_error);

  return _pb_handler_check_result (self, "on_finished_handling", ret, local_error, error);
}

/**
 * pb_handler_handle: (virtual handle)
 * @self: a [class@Paperboy.Handler]
 * @message: the message to handle
 * @context: (nullable): the context of this handling
 * @task: the task to complete with the result of the handling
 * @error: return location for a #GError
 *
 * Handles @message and completes @task, now or later, with
 * [method@Gio.Task.return_boolean] (%TRUE) or
 * [method@Gio.Task.return_error]. The engine handles the next record of
 * the same partition only after @task returned. @task's cancellable is
 * cancelled when the partition is revoked or lost, when
 * [property@Paperboy.Engine:handling-timeout-ms] passes, and when the
 * engine stops without @task having returned within
 * [property@Paperboy.Engine:stop-timeout-ms].
 *
 * While the partition is being revoked, the engine waits for @task (up to
 * [property@Paperboy.Engine:revoke-timeout-ms]): a success is committed
 * before the partition is given up, and a %G_IO_ERROR_CANCELLED failure
 * means "not handled": no [vfunc@Paperboy.Handler.on_error], and the
 * partition's next owner handles the record. A result that arrives after
 * the engine stopped waiting (a lost partition, a timeout, a stop) is
 * ignored.
 *
 * This is the asynchronous override point that works in every language.
 * Keep a reference to @task until it returns: a task dropped without a
 * result is a failure. An override that fails at once may instead return
 * %FALSE with @error set and leave @task alone.
 *
 * The default calls [vfunc@Paperboy.Handler.on_message], or
 * [vfunc@Paperboy.Handler.on_tombstone] for a tombstone, and returns
 * @task at once. When no subclass overrides this function, the engine
 * calls those directly and creates no task.
 *
 * Returns: %TRUE if @self took charge of @task, %FALSE with @error set if
 *   the handling failed at once
 */
gboolean
pb_handler_handle (PbHandler  *self,
                   PbMessage  *message,
                   GObject    *context,
                   GTask      *task,
                   GError    **error)
{
  GError *local_error = NULL;
  gboolean ret;

  g_return_val_if_fail (PB_IS_HANDLER (self), FALSE);
  g_return_val_if_fail (PB_IS_MESSAGE (message), FALSE);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), FALSE);
  g_return_val_if_fail (G_IS_TASK (task), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ret = PB_HANDLER_GET_CLASS (self)->handle (self, message, context, task, &local_error);

  return _pb_handler_check_result (self, "handle", ret, local_error, error);
}

/**
 * pb_handler_handle_async: (virtual handle_async)
 * @self: a [class@Paperboy.Handler]
 * @message: the message to handle
 * @context: (nullable): the context of this handling
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the handling completes
 * @user_data: data for @callback
 *
 * Handles @message asynchronously. This is the GIO-style override point for
 * C and Vala (`async` methods); JavaScript cannot override it, so a
 * handler meant for every language overrides
 * [vfunc@Paperboy.Handler.handle] instead.
 *
 * The default runs [vfunc@Paperboy.Handler.handle].
 */
void
pb_handler_handle_async (PbHandler           *self,
                         PbMessage           *message,
                         GObject             *context,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (PB_IS_HANDLER (self));
  g_return_if_fail (PB_IS_MESSAGE (message));
  g_return_if_fail (context == NULL || G_IS_OBJECT (context));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  PB_HANDLER_GET_CLASS (self)->handle_async (self, message, context, cancellable,
                                             callback, user_data);
}

/**
 * pb_handler_handle_finish: (virtual handle_finish)
 * @self: a [class@Paperboy.Handler]
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Completes [method@Paperboy.Handler.handle_async].
 *
 * Returns: %TRUE if the message was handled, %FALSE with @error set on
 *   failure
 */
gboolean
pb_handler_handle_finish (PbHandler     *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  GError *local_error = NULL;
  gboolean ret;

  g_return_val_if_fail (PB_IS_HANDLER (self), FALSE);
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ret = PB_HANDLER_GET_CLASS (self)->handle_finish (self, result, &local_error);

  return _pb_handler_check_result (self, "handle_finish", ret, local_error, error);
}
