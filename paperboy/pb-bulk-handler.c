/* pb-bulk-handler.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-bulk-handler.h"
#include "pb-handler-private.h"
#include "pb-message.h"

/**
 * PbBulkHandler:
 *
 * A [class@Paperboy.Handler] that can handle a batch of records at once.
 *
 * In Bulk mode (see [property@Paperboy.Engine:mode]) the engine gathers,
 * per topic, the records that are ready (up to
 * [property@Paperboy.Engine:bulk-max-records]) and calls, in order and on
 * its main context:
 *
 * 1. [vfunc@Paperboy.Handler.define_context], once for the batch;
 * 2. [vfunc@Paperboy.BulkHandler.did_receive_bulk_messages], which may
 *    replace, drop or reorder messages, or skip the whole batch;
 * 3. [vfunc@Paperboy.BulkHandler.handle_bulk]: by default
 *    [vfunc@Paperboy.BulkHandler.on_bulk];
 * 4. on failure, [vfunc@Paperboy.BulkHandler.on_bulk_error], whose
 *    [enum@Paperboy.ErrorAction] decides: stop without committing anything
 *    of the batch, go on past it, or handle its records again one by one
 *    (%PB_ERROR_ACTION_SPLIT) to find the poison record;
 * 5. [vfunc@Paperboy.Handler.on_finished_handling] with the batch, always
 *    last (except after %PB_ERROR_ACTION_SPLIT, where each record gets its
 *    own).
 *
 * The offsets of a batch become committable only when all of this
 * returned. A batch holds records of one topic, maybe of several of its
 * partitions, in order within each partition.
 *
 * In Single mode, and in Bulk mode when neither
 * [vfunc@Paperboy.BulkHandler.on_bulk] nor
 * [vfunc@Paperboy.BulkHandler.handle_bulk] is overridden, a bulk handler
 * handles each record through the single-record lifecycle of
 * [class@Paperboy.Handler]: override
 * [vfunc@Paperboy.Handler.on_message] too, for the engine switches between
 * the modes on its own (see [property@Paperboy.Engine:bulk-lag-threshold]).
 *
 * The arrays the engine gives these virtual functions do not own their
 * messages: they are valid until the batch's handling ended (for
 * [vfunc@Paperboy.BulkHandler.handle_bulk], until its task returned). Keep
 * a reference to a message to use it later.
 */

G_DEFINE_TYPE (PbBulkHandler, pb_bulk_handler, PB_TYPE_HANDLER)

static GPtrArray *
pb_bulk_handler_real_did_receive_bulk_messages (PbBulkHandler  *self,
                                                GPtrArray      *messages,
                                                GObject        *context,
                                                GError        **error)
{
  return g_ptr_array_ref (messages);
}

static gboolean
pb_bulk_handler_real_on_bulk (PbBulkHandler  *self,
                              GPtrArray      *messages,
                              GObject        *context,
                              GError        **error)
{
  for (guint i = 0; i < messages->len; i++)
    {
      PbMessage *message = g_ptr_array_index (messages, i);
      gboolean ok;

      if (pb_message_is_tombstone (message))
        ok = pb_handler_on_tombstone (PB_HANDLER (self), message, context, error);
      else
        ok = pb_handler_on_message (PB_HANDLER (self), message, context, error);

      if (!ok)
        return FALSE;
    }

  return TRUE;
}

static PbErrorAction
pb_bulk_handler_real_on_bulk_error (PbBulkHandler *self,
                                    const GError  *error,
                                    GPtrArray     *messages,
                                    GObject       *context)
{
  return PB_ERROR_ACTION_STOP;
}

static gboolean
pb_bulk_handler_real_handle_bulk (PbBulkHandler  *self,
                                  GPtrArray      *messages,
                                  GObject        *context,
                                  GTask          *task,
                                  GError        **error)
{
  GError *local_error = NULL;

  if (pb_bulk_handler_on_bulk (self, messages, context, &local_error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, local_error);

  return TRUE;
}

static void
pb_bulk_handler_class_init (PbBulkHandlerClass *klass)
{
  /* Never leave a slot NULL: bindings chain up to these. */
  klass->did_receive_bulk_messages = pb_bulk_handler_real_did_receive_bulk_messages;
  klass->on_bulk = pb_bulk_handler_real_on_bulk;
  klass->on_bulk_error = pb_bulk_handler_real_on_bulk_error;
  klass->handle_bulk = pb_bulk_handler_real_handle_bulk;
}

static void
pb_bulk_handler_init (PbBulkHandler *self)
{
}

PbBulkVfuncs
_pb_bulk_handler_get_overrides (PbHandler *handler)
{
  PbBulkHandlerClass *klass;
  PbBulkVfuncs vfuncs = 0;

  if (!PB_IS_BULK_HANDLER (handler))
    return 0;

  klass = PB_BULK_HANDLER_GET_CLASS (handler);

  if (klass->did_receive_bulk_messages != pb_bulk_handler_real_did_receive_bulk_messages)
    vfuncs |= PB_BULK_VFUNC_DID_RECEIVE_BULK_MESSAGES;
  if (klass->on_bulk != pb_bulk_handler_real_on_bulk)
    vfuncs |= PB_BULK_VFUNC_ON_BULK;
  if (klass->handle_bulk != pb_bulk_handler_real_handle_bulk)
    vfuncs |= PB_BULK_VFUNC_HANDLE_BULK;

  return vfuncs;
}

/**
 * pb_bulk_handler_did_receive_bulk_messages: (virtual did_receive_bulk_messages)
 * @self: a [class@Paperboy.BulkHandler]
 * @messages: (element-type PbMessage): the messages of the batch
 * @context: (nullable): the context of this batch's handling
 * @error: return location for a #GError
 *
 * Pre-processes a batch before it is handled. An override may return
 * @messages itself, or a new array with some messages replaced (see
 * [method@Paperboy.Message.with_value]), dropped or reordered. An empty
 * array, or %NULL without an error, skips the batch: no handler runs and
 * its records count as handled. The offsets the engine commits are always
 * those of the original records.
 *
 * The default returns @messages, and the engine does not call this
 * virtual function when it is not overridden.
 *
 * Returns: (transfer full) (nullable) (element-type PbMessage): the
 *   messages to handle, or %NULL to skip the batch (also on failure, with
 *   @error set)
 */
GPtrArray *
pb_bulk_handler_did_receive_bulk_messages (PbBulkHandler  *self,
                                           GPtrArray      *messages,
                                           GObject        *context,
                                           GError        **error)
{
  g_return_val_if_fail (PB_IS_BULK_HANDLER (self), NULL);
  g_return_val_if_fail (messages != NULL, NULL);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return PB_BULK_HANDLER_GET_CLASS (self)->did_receive_bulk_messages (self, messages,
                                                                      context, error);
}

/**
 * pb_bulk_handler_on_bulk: (virtual on_bulk)
 * @self: a [class@Paperboy.BulkHandler]
 * @messages: (element-type PbMessage): the messages to handle
 * @context: (nullable): the context of this batch's handling
 * @error: return location for a #GError
 *
 * Handles a batch of records, tombstones included (see
 * [method@Paperboy.Message.is_tombstone]).
 *
 * The default calls [vfunc@Paperboy.Handler.on_message] (or
 * [vfunc@Paperboy.Handler.on_tombstone]) for each message in turn and
 * fails with the first failure.
 *
 * Returns: %TRUE on success, %FALSE with @error set on failure
 */
gboolean
pb_bulk_handler_on_bulk (PbBulkHandler  *self,
                         GPtrArray      *messages,
                         GObject        *context,
                         GError        **error)
{
  GError *local_error = NULL;
  gboolean ret;

  g_return_val_if_fail (PB_IS_BULK_HANDLER (self), FALSE);
  g_return_val_if_fail (messages != NULL, FALSE);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ret = PB_BULK_HANDLER_GET_CLASS (self)->on_bulk (self, messages, context, &local_error);

  return _pb_handler_check_result (PB_HANDLER (self), "on_bulk", ret, local_error, error);
}

/**
 * pb_bulk_handler_on_bulk_error: (virtual on_bulk_error)
 * @self: a [class@Paperboy.BulkHandler]
 * @error: the failure, as the failing code reported it
 * @messages: (element-type PbMessage): the messages of the failed batch
 * @context: (nullable): the context of this batch's handling
 *
 * Decides what a failed batch means: %PB_ERROR_ACTION_STOP (with
 * [property@Paperboy.Engine:fail-on-exception], the engine stops with
 * @error and commits nothing of the batch), %PB_ERROR_ACTION_CONTINUE (the
 * batch counts as handled) or %PB_ERROR_ACTION_SPLIT (its records are
 * handled again one by one, through [vfunc@Paperboy.Handler.on_message]
 * and [vfunc@Paperboy.Handler.on_error]).
 *
 * The default returns %PB_ERROR_ACTION_STOP. An override that throws in a
 * language binding returns %PB_ERROR_ACTION_STOP too.
 *
 * Returns: what the engine does next
 */
PbErrorAction
pb_bulk_handler_on_bulk_error (PbBulkHandler *self,
                               const GError  *error,
                               GPtrArray     *messages,
                               GObject       *context)
{
  g_return_val_if_fail (PB_IS_BULK_HANDLER (self), PB_ERROR_ACTION_STOP);
  g_return_val_if_fail (error != NULL, PB_ERROR_ACTION_STOP);
  g_return_val_if_fail (messages != NULL, PB_ERROR_ACTION_STOP);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), PB_ERROR_ACTION_STOP);

  return PB_BULK_HANDLER_GET_CLASS (self)->on_bulk_error (self, error, messages, context);
}

/**
 * pb_bulk_handler_handle_bulk: (virtual handle_bulk)
 * @self: a [class@Paperboy.BulkHandler]
 * @messages: (element-type PbMessage): the messages to handle
 * @context: (nullable): the context of this batch's handling
 * @task: the task to complete with the result of the handling
 * @error: return location for a #GError
 *
 * Handles a batch and completes @task, now or later, with
 * [method@Gio.Task.return_boolean] (%TRUE) or
 * [method@Gio.Task.return_error]. The engine hands the topic's next batch
 * over only after @task returned; @task's cancellable is cancelled when
 * every partition of the batch went away, when
 * [property@Paperboy.Engine:handling-timeout-ms] passes, and when the
 * engine stops without @task having returned within
 * [property@Paperboy.Engine:stop-timeout-ms]. The records of a partition
 * that went away meanwhile count as not handled (their next owner reads
 * them again), whatever the result.
 *
 * This is the asynchronous override point that works in every language.
 * Keep a reference to @task until it returns: a task dropped without a
 * result is a failure. An override that fails at once may instead return
 * %FALSE with @error set and leave @task alone.
 *
 * The default calls [vfunc@Paperboy.BulkHandler.on_bulk] and returns @task
 * at once; when no subclass overrides this function, the engine calls
 * that directly and creates no task.
 *
 * Returns: %TRUE if @self took charge of @task, %FALSE with @error set if
 *   the handling failed at once
 */
gboolean
pb_bulk_handler_handle_bulk (PbBulkHandler  *self,
                             GPtrArray      *messages,
                             GObject        *context,
                             GTask          *task,
                             GError        **error)
{
  GError *local_error = NULL;
  gboolean ret;

  g_return_val_if_fail (PB_IS_BULK_HANDLER (self), FALSE);
  g_return_val_if_fail (messages != NULL, FALSE);
  g_return_val_if_fail (context == NULL || G_IS_OBJECT (context), FALSE);
  g_return_val_if_fail (G_IS_TASK (task), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ret = PB_BULK_HANDLER_GET_CLASS (self)->handle_bulk (self, messages, context, task,
                                                       &local_error);

  return _pb_handler_check_result (PB_HANDLER (self), "handle_bulk", ret, local_error, error);
}
