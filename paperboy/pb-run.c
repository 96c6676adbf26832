/* pb-run.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-run-private.h"

#include <signal.h>
#include <glib/gi18n-lib.h>
#include <glib-unix.h>

#include "pb-dispatch-private.h"
#include "pb-error.h"
#include "pb-gjs-private.h"
#include "pb-mode-private.h"
#include "pb-rebalance-private.h"
#include "pb-steps-private.h"
#include "pb-table-private.h"

/* A dispatch (the consumer's or the kick's) hands control back to the
 * main loop after this long. */
#define DISPATCH_BUDGET_US 10000

typedef enum
{
  EMIT_STATE,
  EMIT_CONNECTED,
  EMIT_MODE,
  EMIT_STEP,
  EMIT_ASSIGNED,
  EMIT_REVOKED,
} EmissionKind;

typedef struct
{
  EmissionKind   kind;
  PbEngineState  state;
  PbEngineMode   mode;
  guint          step;
  GVariant      *partitions;
  gboolean       flag;        /* lost, or connected */
} Emission;

static void reconcile (PbRun *self);
static void flush_tables (PbRun    *self,
                          gboolean  force);

/* The kick: a source made ready by _pb_run_kick(), from any thread, that
 * runs the run's reconciliation once however many times it was kicked. */

static gboolean
kick_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  g_source_set_ready_time (source, -1);
  reconcile (user_data);

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs kick_funcs = {
  .dispatch = kick_dispatch,
};

void
_pb_run_kick (PbRun *self)
{
  if (self->kick != NULL)
    g_source_set_ready_time (self->kick, 0);
}

/* Emissions */

static void
emission_free (Emission *emission)
{
  g_clear_pointer (&emission->partitions, g_variant_unref);
  g_free (emission);
}

static void
queue_emission (PbRun    *self,
                Emission *emission)
{
  g_queue_push_tail (&self->emissions, emission);
  _pb_run_kick (self);
}

void
_pb_run_set_state (PbRun         *self,
                   PbEngineState  state)
{
  Emission *emission;

  if (self->state == state)
    return;

  self->state = state;
  emission = g_new0 (Emission, 1);
  emission->kind = EMIT_STATE;
  emission->state = state;
  queue_emission (self, emission);
}

void
_pb_run_emit_mode (PbRun        *self,
                   PbEngineMode  mode)
{
  Emission *emission = g_new0 (Emission, 1);

  emission->kind = EMIT_MODE;
  emission->mode = mode;
  queue_emission (self, emission);
}

void
_pb_run_emit_step (PbRun    *self,
                   guint     step,
                   gboolean  started)
{
  Emission *emission = g_new0 (Emission, 1);

  emission->kind = EMIT_STEP;
  emission->step = step;
  emission->flag = started;
  queue_emission (self, emission);
}

void
_pb_run_emit_partitions (PbRun                                 *self,
                         gboolean                               assigned,
                         const rd_kafka_topic_partition_list_t *partitions,
                         gboolean                               lost)
{
  Emission *emission = g_new0 (Emission, 1);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(si)"));
  for (int i = 0; partitions != NULL && i < partitions->cnt; i++)
    g_variant_builder_add (&builder, "(si)",
                           partitions->elems[i].topic,
                           (gint32)partitions->elems[i].partition);

  emission->kind = assigned ? EMIT_ASSIGNED : EMIT_REVOKED;
  emission->partitions = g_variant_ref_sink (g_variant_builder_end (&builder));
  emission->flag = lost;
  queue_emission (self, emission);
}

/* Signal handlers are application code: they may stop the engine, start
 * a nested main loop, even drop their last reference to it. */
static void
flush_emissions (PbRun *self)
{
  Emission *emission;

  _pb_run_enter_handler (self);

  while ((emission = g_queue_pop_head (&self->emissions)) != NULL)
    {
      _pb_gjs_before_call ();

      switch (emission->kind)
        {
        case EMIT_STATE:
          _pb_engine_set_state (self->engine, emission->state);
          break;

        case EMIT_CONNECTED:
          _pb_engine_set_connected (self->engine, emission->flag);
          break;

        case EMIT_MODE:
          _pb_engine_set_mode (self->engine, emission->mode);
          break;

        case EMIT_STEP:
          _pb_engine_emit_step (self->engine, emission->step, emission->flag);
          break;

        case EMIT_ASSIGNED:
          _pb_engine_emit_partitions_assigned (self->engine, emission->partitions);
          break;

        case EMIT_REVOKED:
          _pb_engine_emit_partitions_revoked (self->engine, emission->partitions, emission->flag);
          break;
        }

      emission_free (emission);
    }

  _pb_run_leave_handler (self);
}

/* Cancellables fire their "cancelled" handlers, which are handler code:
 * only from the kick. */
static void
flush_cancellations (PbRun *self)
{
  g_autoptr(GPtrArray) to_cancel = NULL;

  if (self->to_cancel->len == 0)
    return;

  to_cancel = g_steal_pointer (&self->to_cancel);
  self->to_cancel = g_ptr_array_new_with_free_func (g_object_unref);

  _pb_run_enter_handler (self);
  for (guint i = 0; i < to_cancel->len; i++)
    g_cancellable_cancel (g_ptr_array_index (to_cancel, i));
  _pb_run_leave_handler (self);
}

/* Stopping */

/* With @say_now (not from a librdkafka callback), the engine's state is
 * "stopping" when this returns: after the signals still pending. */
static void
request_stop (PbRun    *self,
              gboolean  say_now)
{
  if (self->finished || self->stop_requested)
    return;

  g_debug ("Stop requested");
  self->stop_requested = TRUE;
  _pb_run_kick (self);

  if (say_now)
    {
      _pb_run_set_state (self, PB_ENGINE_STATE_STOPPING);
      flush_emissions (self);
    }
}

static gboolean
stop_invoke_cb (gpointer user_data)
{
  request_stop (user_data, TRUE);
  return G_SOURCE_REMOVE;
}

void
_pb_run_stop (PbRun *self)
{
  if (g_main_context_is_owner (self->context))
    request_stop (self, TRUE);
  else
    _pb_invoke_later (self->context, stop_invoke_cb, _pb_run_ref (self),
                      (GDestroyNotify) _pb_run_unref);
}

void
_pb_run_fail (PbRun  *self,
              GError *error)
{
  if (self->error == NULL)
    self->error = error;
  else
    g_error_free (error);

  request_stop (self, FALSE);
}

void
_pb_run_set_max_in_flight (PbRun *self,
                           guint  max_in_flight)
{
  self->settings.max_in_flight = max_in_flight;
  _pb_run_kick (self);
}

static gboolean
stop_timeout_cb (gpointer user_data)
{
  PbRun *self = user_data;

  g_clear_pointer (&self->stop_timeout, g_source_unref);
  self->stop_timed_out = TRUE;
  _pb_run_kick (self);

  return G_SOURCE_REMOVE;
}

static void
drop_queued_cb (PbPartition *p,
                gpointer     user_data)
{
  PbRun *self = user_data;

  self->dispatch->klass->release (self->dispatch, p, FALSE);
}

static void
abandon_cb (PbPartition *p,
            gpointer     user_data)
{
  PbRun *self = user_data;

  self->dispatch->klass->release (self->dispatch, p, TRUE);
}

/* No record is started any more: those polled and not started are dropped
 * (they were not stored, so the group reads them again), and fetching
 * stops; handling in flight may finish within stop-timeout-ms. */
/* Whether the producer has nothing undelivered that is worth waiting for. */
static gboolean
producer_settled (PbRun *self)
{
  return self->producer == NULL || self->producer_failed ||
         _pb_producer_get_idle (self->producer);
}

static void
begin_stop (PbRun *self)
{
  g_debug ("Stopping");

  self->stopping = TRUE;
  _pb_run_set_state (self, PB_ENGINE_STATE_STOPPING);

  if (self->partitions != NULL)
    {
      _pb_partition_map_foreach (self->partitions, drop_queued_cb, self);
      /* The consumer still polls, to stay in its group while in-flight
       * handling finishes. */
      _pb_partition_map_pause_all (self->partitions, PB_PAUSE_STOP);
    }

  if (self->restore_cancellable != NULL)
    g_cancellable_cancel (self->restore_cancellable);

  if ((self->dispatch != NULL && self->dispatch->klass->busy (self->dispatch, NULL)) ||
      !producer_settled (self))
    {
      g_info ("Stopping: waiting up to %u ms for the handling in flight to finish",
              self->settings.stop_timeout_ms);
      self->stop_timeout = _pb_timeout_source_new (self->context, self->settings.stop_timeout_ms,
                                                   G_PRIORITY_DEFAULT, "[paperboy] stop timeout",
                                                   stop_timeout_cb, self, NULL);
    }
}

static void
check_stop (PbRun *self)
{
  if (!self->stopping || self->closing || self->restoring)
    return;

  if (self->dispatch != NULL && self->dispatch->klass->busy (self->dispatch, NULL))
    return;

  /* The offsets to commit last wait for the deliveries of what their
   * handling produced, unless one failed. */
  if (!producer_settled (self) && !self->stop_timed_out)
    {
      if (self->stop_timeout == NULL)
        self->stop_timeout = _pb_timeout_source_new (self->context, self->settings.stop_timeout_ms,
                                                     G_PRIORITY_DEFAULT, "[paperboy] stop timeout",
                                                     stop_timeout_cb, self, NULL);
      return;
    }

  _pb_clear_source (&self->stop_timeout);
  self->closing = TRUE;

  if (self->consumer == NULL)
    {
      self->closed = TRUE;
      return;
    }

  _pb_offsets_store (&self->offsets, self->consumer);
  _pb_consumer_close (self->consumer);
}

/* Finishing: everything of the run is let go before anyone hears of its
 * end, since a handler of notify::state or the task's callback may start
 * a new run. */

static void
return_task (PbRun *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->task);
  GError *error = g_steal_pointer (&self->error);
  PbEngine *engine = self->engine;

  g_object_ref (engine);

  /* The run's last signals, while the engine still counts as running. */
  flush_emissions (self);
  _pb_clear_source (&self->kick);

  _pb_engine_run_ended (engine, self);
  _pb_gjs_before_call ();
  _pb_engine_set_connected (engine, FALSE);
  _pb_engine_set_state (engine, error != NULL ? PB_ENGINE_STATE_FAILED : PB_ENGINE_STATE_STOPPED);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);

  g_object_unref (engine);
}

static void
consumer_freed_cb (GObject      *source_object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(PbRun) self = user_data;

  return_task (self);
}

static void
finish (PbRun *self)
{
  g_debug ("Run finished");

  self->finished = TRUE;

  _pb_clear_source (&self->cancel_source);
  _pb_clear_source (&self->sigint_source);
  _pb_clear_source (&self->sigterm_source);
  _pb_clear_source (&self->stop_timeout);
  _pb_mode_stop (self);
  _pb_steps_stop (self);
  _pb_rebalance_clear (self);

  if (self->partitions != NULL)
    _pb_partition_map_foreach (self->partitions, abandon_cb, self);
  flush_cancellations (self);

  /* The producer's last reports: what was not delivered is purged (its
   * records' offsets were not committed), what was goes to the stores,
   * which are then free for others (a RocksDB database has one user at a
   * time). The changes never delivered are forgotten. */
  _pb_clear_source (&self->flush_timer);
  if (self->producer != NULL)
    _pb_producer_drain (self->producer);
  flush_tables (self, TRUE);
  _pb_clear_source (&self->flush_timer);
  for (guint i = 0; i < self->settings.tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->settings.tables, i);

      _pb_table_detach (table);
      _pb_table_close_store (table);
    }

  if (self->producer != NULL)
    {
      _pb_offsets_clear (&self->offsets);
      self->offsets.issued = self->offsets.delivered = NULL;
      g_clear_pointer (&self->producer, _pb_producer_free);
    }

  g_clear_pointer (&self->dispatch, _pb_dispatch_free);
  g_clear_pointer (&self->partitions, _pb_partition_map_free);
  /* Messages that outlived their handling were detached from librdkafka
   * when the engine let them go; the spare one goes now. */
  g_clear_pointer (&self->pool, _pb_message_pool_free);

  if (self->consumer != NULL)
    _pb_consumer_free_async (g_steal_pointer (&self->consumer), consumer_freed_cb,
                             _pb_run_ref (self));
  else
    return_task (self);
}

/* The reconciliation, from the kick. */
static void
reconcile (PbRun *self)
{
  gboolean more = FALSE;

  if (self->finished)
    return;

  if (self->depth > 0)
    {
      self->kick_missed = TRUE;
      return;
    }

  self->kick_missed = FALSE;
  _pb_run_ref (self);

  flush_cancellations (self);

  if (self->stop_requested && !self->stopping)
    begin_stop (self);

  _pb_mode_check (self);

  if (self->dispatch != NULL)
    {
      /* What the consumer polled goes first: its dispatch handles the
       * records after it served librdkafka (a revocation, a lost
       * assignment) and polled what came. */
      more = self->dispatch->klass->drain (self->dispatch, !_pb_consumer_pending (self->consumer),
                                           g_get_monotonic_time () + DISPATCH_BUDGET_US);

      if (self->stop_timed_out)
        _pb_partition_map_foreach (self->partitions, abandon_cb, self);
    }

  if (self->consumer != NULL)
    {
      _pb_steps_check (self);
      _pb_offsets_store (&self->offsets, self->consumer);
      _pb_rebalance_check (self);
    }

  check_stop (self);
  flush_cancellations (self);
  flush_emissions (self);
  _pb_gjs_collect_if_due ();

  if (self->closed)
    finish (self);
  else if (more)
    _pb_run_kick (self);

  _pb_run_unref (self);
}

/* Consumer callbacks */

static void
on_record (gpointer            user_data,
           rd_kafka_message_t *rkm)
{
  PbRun *self = user_data;
  PbPartition *p = _pb_partition_map_lookup (self->partitions, rkm);

  if (G_UNLIKELY (p == NULL || p->state != PB_PARTITION_ASSIGNED || self->stop_requested))
    rd_kafka_message_destroy (rkm);
  else
    {
      if (G_UNLIKELY (p->polled_from < 0))
        p->polled_from = rkm->offset;
      self->dispatch->klass->offer (self->dispatch, p, rkm);
    }
}

/* After each batch the consumer polled, its records are handled, within
 * the dispatch's budget: a slow handler leaves the rest queued, and the
 * consumer goes on polling only to keep its queues short and its group
 * membership alive. */
static gboolean
on_batch_end (gpointer user_data,
              gboolean drained)
{
  PbRun *self = user_data;
  gint64 now;

  if (self->poll_deadline == 0)
    self->poll_deadline = g_get_monotonic_time () + DISPATCH_BUDGET_US;

  /* Handler code iterating the main context: the kick takes over when it
   * returns. */
  if (self->depth > 0)
    {
      self->kick_missed = TRUE;
      self->poll_deadline = 0;
      return FALSE;
    }

  self->dispatch->klass->drain (self->dispatch, TRUE, self->poll_deadline);

  now = g_get_monotonic_time ();
  if (!drained && now < self->poll_deadline && !self->stop_requested)
    return TRUE;

  self->poll_deadline = 0;
  _pb_offsets_store (&self->offsets, self->consumer);
  _pb_run_kick (self);

  return FALSE;
}

static void
count_owned_cb (PbPartition *p,
                gpointer     user_data)
{
  if (p->state != PB_PARTITION_UNASSIGNED)
    (*(guint *)user_data)++;
}

/* Tables have a single writer: say so when the group has other members,
 * which is when this one does not own every partition. */
static void
check_single_writer (PbRun *self)
{
  guint owned = 0;

  if (self->settings.tables->len == 0 || self->n_partitions == 0 || self->warned_writers)
    return;

  _pb_partition_map_foreach (self->partitions, count_owned_cb, &owned);
  if (owned >= self->n_partitions)
    return;

  self->warned_writers = TRUE;
  g_warning ("The group “%s” has other members (this one has %u of %u partitions), "
             "but a table has a single writer: the members’ tables do not see each "
             "other’s changes",
             self->settings.kafka.group_id, owned, self->n_partitions);
}

static void
on_assigned (gpointer                               user_data,
             const rd_kafka_topic_partition_list_t *partitions)
{
  _pb_rebalance_assigned (user_data, partitions);
  check_single_writer (user_data);
}

static void
on_revoked (gpointer                               user_data,
            const rd_kafka_topic_partition_list_t *partitions)
{
  _pb_rebalance_revoked (user_data, partitions);
  check_single_writer (user_data);
}

static void
on_lost (gpointer                               user_data,
         const rd_kafka_topic_partition_list_t *partitions)
{
  _pb_rebalance_lost (user_data, partitions);
}

static void
on_committed (gpointer                               user_data,
              rd_kafka_resp_err_t                    err,
              const rd_kafka_topic_partition_list_t *offsets)
{
  _pb_rebalance_committed (user_data, err, offsets);
}

static void
on_eof (gpointer    user_data,
        const char *topic,
        int         partition,
        gint64      offset)
{
  _pb_steps_eof (user_data, topic, partition, offset);
}

static void
on_failed (gpointer  user_data,
           GError   *error)
{
  _pb_run_fail (user_data, error);
}

/* Emitted with the others, from the kick. */
static void
on_connected (gpointer user_data,
              gboolean connected)
{
  Emission *emission = g_new0 (Emission, 1);

  emission->kind = EMIT_CONNECTED;
  emission->flag = connected;
  queue_emission (user_data, emission);
}

static void
on_closed (gpointer user_data)
{
  PbRun *self = user_data;

  self->closed = TRUE;
  _pb_run_kick (self);
}

static const PbConsumerCallbacks consumer_callbacks = {
  .record = on_record,
  .batch_end = on_batch_end,
  .assigned = on_assigned,
  .revoked = on_revoked,
  .lost = on_lost,
  .committed = on_committed,
  .eof = on_eof,
  .failed = on_failed,
  .connected = on_connected,
  .closed = on_closed,
};

/* Starting */

static gboolean
stop_source_cb (gpointer user_data)
{
  request_stop (user_data, TRUE);
  return G_SOURCE_CONTINUE;
}

static gboolean
cancelled_cb (GCancellable *cancellable,
              gpointer      user_data)
{
  request_stop (user_data, TRUE);
  return G_SOURCE_REMOVE;
}

static GSource *
attach_signal (PbRun *self,
               int    signum)
{
  GSource *source = g_unix_signal_source_new (signum);

  g_source_set_callback (source, stop_source_cb, self, NULL);
  g_source_attach (source, self->context);

  return source;
}

/* The producer */

#define FLUSH_INTERVAL_MS 5

static gboolean flush_timer_cb (gpointer user_data);

/* Writes the tables' delivered changes to their stores; unless @force,
 * only those that have enough, and the others within FLUSH_INTERVAL_MS. */
static void
flush_tables (PbRun    *self,
              gboolean  force)
{
  gboolean waiting = FALSE;

  for (guint i = 0; i < self->settings.tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->settings.tables, i);
      GError *error = NULL;

      if (!_pb_table_flush (table, force, &error))
        _pb_run_fail (self, error);
      waiting |= _pb_table_has_delivered (table);
    }

  if (waiting && self->flush_timer == NULL)
    self->flush_timer = _pb_timeout_source_new (self->context, FLUSH_INTERVAL_MS,
                                                self->settings.priority,
                                                "[paperboy] table flush",
                                                flush_timer_cb, self, NULL);
}

static gboolean
flush_timer_cb (gpointer user_data)
{
  PbRun *self = user_data;

  g_clear_pointer (&self->flush_timer, g_source_unref);
  flush_tables (self, TRUE);

  return G_SOURCE_REMOVE;
}

static void
producer_delivered (gpointer user_data)
{
  PbRun *self = user_data;

  flush_tables (self, FALSE);

  if (_pb_offsets_release (&self->offsets) || self->stopping ||
      self->revocation.revoking != NULL)
    _pb_run_kick (self);
}

static void
producer_failed (gpointer    user_data,
                 const char *topic,
                 GError     *error)
{
  PbRun *self = user_data;

  for (guint i = 0; topic != NULL && i < self->settings.tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->settings.tables, i);

      if (g_strcmp0 (pb_table_get_changelog_topic_name (table), topic) == 0)
        {
          error->code = PB_ERROR_CHANGELOG;
          g_prefix_error (&error, _("Table “%s”: "), pb_table_get_name (table));
          break;
        }
    }

  self->producer_failed = TRUE;
  _pb_run_fail (self, error);
}

static const PbProducerCallbacks producer_callbacks = {
  .delivered = producer_delivered,
  .failed = producer_failed,
};

static gboolean
ensure_producer (PbRun   *self,
                 GError **error)
{
  rd_kafka_conf_t *conf;

  if (self->producer != NULL)
    return TRUE;

  conf = _pb_kafka_config_build (self->settings.config, PB_KAFKA_CLIENT_PRODUCER,
                                 &self->settings.kafka, error);
  if (conf == NULL)
    return FALSE;

  self->producer = _pb_producer_new (conf, self->context, self->settings.priority,
                                     &producer_callbacks, self, error);
  if (self->producer == NULL)
    return FALSE;

  self->offsets.issued = _pb_producer_get_issued (self->producer);
  self->offsets.delivered = _pb_producer_get_delivered (self->producer);

  return TRUE;
}

gboolean
_pb_run_produce (PbRun       *self,
                 const char  *topic,
                 int          partition,
                 GBytes      *key,
                 GBytes      *value,
                 GVariant    *headers,
                 GError     **error)
{
  gconstpointer key_data = NULL, value_data = NULL;
  gsize key_len = 0, value_len = 0;

  if (self->closing || self->finished || self->producer_failed)
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                           _("The engine is stopping: it produces no more records"));
      return FALSE;
    }

  if (!ensure_producer (self, error))
    return FALSE;

  if (key != NULL)
    key_data = g_bytes_get_data (key, &key_len);
  if (value != NULL)
    {
      value_data = g_bytes_get_data (value, &value_len);
      /* An empty value is not a tombstone. */
      if (value_data == NULL)
        value_data = "";
    }

  return _pb_producer_produce (self->producer, topic,
                               partition < 0 ? RD_KAFKA_PARTITION_UA : partition,
                               key_data, key_len, value_data, value_len,
                               _pb_kafka_headers_from_variant (headers),
                               NULL, NULL, error) != 0;
}

/* Restoring tables, in a worker thread, before the run subscribes */

static void
warm_producer (rd_kafka_t *rk,
               const char *topic)
{
  rd_kafka_topic_t *rkt = rd_kafka_topic_new (rk, topic, NULL);
  const struct rd_kafka_metadata *metadata = NULL;

  if (rd_kafka_metadata (rk, 0, rkt, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
    rd_kafka_metadata_destroy (metadata);
  rd_kafka_topic_destroy (rkt);
}

static void
restore_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  PbRun *self = task_data;

  for (guint i = 0; i < self->settings.tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->settings.tables, i);
      GError *error = NULL;
      rd_kafka_conf_t *conf;

      if (!_pb_table_open (table, self->settings.state_dir, &error))
        {
          g_prefix_error (&error, _("Table “%s”: "), pb_table_get_name (table));
          g_task_return_error (task, error);
          return;
        }

      conf = _pb_kafka_config_build (self->settings.config, PB_KAFKA_CLIENT_ADMIN,
                                     &self->settings.kafka, &error);
      if (conf == NULL ||
          !_pb_table_create_changelog (table, conf, self->settings.mock_cluster, &error))
        {
          g_task_return_error (task, error);
          return;
        }

      /* The producer learns of the changelog now: told of a topic by its
       * first record, librdkafka waits up to a second for its metadata. */
      warm_producer (_pb_producer_get_client (self->producer),
                     pb_table_get_changelog_topic_name (table));

      conf = _pb_kafka_config_build (self->settings.config, PB_KAFKA_CLIENT_RESTORE,
                                     &self->settings.kafka, &error);
      if (conf == NULL || !_pb_table_restore (table, conf, cancellable, &error))
        {
          g_task_return_error (task, error);
          return;
        }
    }

  /* What the group has to share, to tell other members apart. */
  for (guint i = 0; i < self->settings.topics->len; i++)
    {
      PbTopic *topic = g_ptr_array_index (self->settings.topics, i);
      rd_kafka_t *rk = _pb_producer_get_client (self->producer);
      rd_kafka_topic_t *rkt = rd_kafka_topic_new (rk, topic->name, NULL);
      const struct rd_kafka_metadata *metadata = NULL;

      if (rd_kafka_metadata (rk, 0, rkt, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        {
          if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            self->n_partitions += metadata->topics[0].partition_cnt;
          rd_kafka_metadata_destroy (metadata);
        }
      rd_kafka_topic_destroy (rkt);
    }

  g_task_return_boolean (task, TRUE);
}

static gboolean subscribe (PbRun   *self,
                           GError **error);

static void
restored_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(PbRun) self = user_data;
  GError *error = NULL;

  self->restoring = FALSE;
  for (guint i = 0; i < self->settings.tables->len; i++)
    _pb_table_set_restoring (g_ptr_array_index (self->settings.tables, i), FALSE);

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->stopping)
        g_clear_error (&error);
      else
        _pb_run_fail (self, error);
      _pb_run_kick (self);
      return;
    }

  if (self->stopping)
    {
      _pb_run_kick (self);
      return;
    }

  /* All writable before anyone hears of one. */
  for (guint i = 0; i < self->settings.tables->len; i++)
    _pb_table_attach (g_ptr_array_index (self->settings.tables, i), self->producer);

  for (guint i = 0; i < self->settings.tables->len && !self->stopping; i++)
    {
      _pb_run_enter_handler (self);
      _pb_table_restored (g_ptr_array_index (self->settings.tables, i));
      _pb_run_leave_handler (self);
    }

  if (self->stopping)
    {
      _pb_run_kick (self);
      return;
    }

  _pb_run_set_state (self, PB_ENGINE_STATE_JOINING);
  if (!subscribe (self, &error))
    _pb_run_fail (self, error);
  _pb_run_kick (self);
}

static void
restore (PbRun *self)
{
  g_autoptr(GTask) task = NULL;

  self->restoring = TRUE;
  self->restore_cancellable = g_cancellable_new ();
  for (guint i = 0; i < self->settings.tables->len; i++)
    _pb_table_set_restoring (g_ptr_array_index (self->settings.tables, i), TRUE);

  task = g_task_new (NULL, self->restore_cancellable, restored_cb, _pb_run_ref (self));
  g_task_set_source_tag (task, restore);
  g_task_set_task_data (task, _pb_run_ref (self), (GDestroyNotify) _pb_run_unref);
  g_task_run_in_thread (task, restore_thread);
}

static gboolean
subscribe (PbRun   *self,
           GError **error)
{
  g_autofree const char **names = NULL;

  names = g_new0 (const char *, self->settings.topics->len + 1);
  for (guint i = 0; i < self->settings.topics->len; i++)
    names[i] = ((PbTopic *)g_ptr_array_index (self->settings.topics, i))->name;

  if (!_pb_consumer_subscribe (self->consumer, names, error))
    return FALSE;

  g_debug ("Subscribed to %u topics in group “%s”",
           self->settings.topics->len, self->settings.kafka.group_id);

  return TRUE;
}

static gboolean
start (PbRun   *self,
       GError **error)
{
  rd_kafka_conf_t *conf;

  if (self->settings.mock_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&self->settings.mock_error));
      return FALSE;
    }

  if (self->settings.topics->len == 0)
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_NO_HANDLER,
                           _("The engine has no handlers: add one before running it"));
      return FALSE;
    }

  if (self->settings.kafka.group_id == NULL || *self->settings.kafka.group_id == '\0')
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_CONFIG,
                           _("The engine has no consumer group id"));
      return FALSE;
    }

  conf = _pb_kafka_config_build (self->settings.config, PB_KAFKA_CLIENT_CONSUMER,
                                 &self->settings.kafka, error);
  if (conf == NULL)
    return FALSE;

  self->consumer = _pb_consumer_new (conf, self->context, self->settings.priority,
                                     &consumer_callbacks, self, error);
  if (self->consumer == NULL)
    return FALSE;

  self->pool = _pb_message_pool_new (_pb_consumer_get_handle (self->consumer));
  self->partitions = _pb_partition_map_new (self->settings.topics, self->consumer);
  for (guint i = 0; i < self->settings.topics->len; i++)
    ((PbTopic *)g_ptr_array_index (self->settings.topics, i))->index = i;

  _pb_steps_start (self);
  _pb_mode_start (self);
  _pb_engine_set_mode (self->engine, self->mode.current);

  /* Tables first: the group assigns nothing before they are whole. */
  if (self->settings.tables->len > 0)
    {
      if (!ensure_producer (self, error))
        return FALSE;

      restore (self);
      return TRUE;
    }

  return subscribe (self, error);
}

/* In the caller of run_async(), not in a callback: said at once. */
static void
set_state_now (PbRun         *self,
               PbEngineState  state)
{
  self->state = state;
  _pb_engine_set_state (self->engine, state);
}

void
_pb_run_start (PbRun *self)
{
  GError *error = NULL;

  set_state_now (self, PB_ENGINE_STATE_STARTING);

  if (!start (self, &error))
    {
      /* Nothing was joined: the consumer, if any, is let go without a
       * close. */
      _pb_run_fail (self, error);
      self->stopping = TRUE;
      self->closing = TRUE;
      self->closed = TRUE;
      return;
    }

  set_state_now (self, self->restoring ? PB_ENGINE_STATE_RESTORING : PB_ENGINE_STATE_JOINING);

  if (self->settings.cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (self->settings.cancellable);
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (cancelled_cb), self, NULL);
      g_source_attach (self->cancel_source, self->context);
    }

  if (self->settings.handle_signals)
    {
      self->sigint_source = attach_signal (self, SIGINT);
      self->sigterm_source = attach_signal (self, SIGTERM);
    }
}

PbRun *
_pb_run_new (PbEngine      *engine,
             GTask         *task,
             PbRunSettings *settings)
{
  PbRun *self = g_new0 (PbRun, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->engine = engine;
  self->task = g_object_ref (task);
  self->context = g_main_context_ref_thread_default ();
  self->settings = *settings;
  self->settings.kafka.bootstrap_servers = g_strdup (settings->kafka.bootstrap_servers);
  self->settings.kafka.group_id = g_strdup (settings->kafka.group_id);
  self->settings.kafka.client_id = g_strdup (settings->kafka.client_id);
  self->settings.kafka.auto_offset_reset = g_strdup (settings->kafka.auto_offset_reset);
  self->to_cancel = g_ptr_array_new_with_free_func (g_object_unref);
  self->warnings.per_second = 10;

  self->kick = g_source_new (&kick_funcs, sizeof (GSource));
  g_source_set_priority (self->kick, settings->priority);
  g_source_set_static_name (self->kick, "[paperboy] run");
  g_source_set_callback (self->kick, NULL, self, NULL);
  g_source_attach (self->kick, self->context);
  _pb_run_kick (self);

  return self;
}

PbRun *
_pb_run_ref (PbRun *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
_pb_run_unref (PbRun *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_assert (self->consumer == NULL);
  g_assert (self->kick == NULL);

  g_queue_clear_full (&self->emissions, (GDestroyNotify) emission_free);
  g_clear_pointer (&self->to_cancel, g_ptr_array_unref);
  g_clear_pointer (&self->settings.topics, g_ptr_array_unref);
  g_clear_pointer (&self->settings.tables, g_ptr_array_unref);
  g_clear_pointer (&self->settings.state_dir, g_free);
  g_clear_object (&self->restore_cancellable);
  g_clear_pointer (&self->settings.config, _pb_kafka_config_free);
  g_free ((char *)self->settings.kafka.bootstrap_servers);
  g_free ((char *)self->settings.kafka.group_id);
  g_free ((char *)self->settings.kafka.client_id);
  g_free ((char *)self->settings.kafka.auto_offset_reset);
  g_clear_object (&self->settings.mock_cluster);
  g_clear_error (&self->settings.mock_error);
  g_clear_object (&self->settings.cancellable);
  g_clear_object (&self->task);
  g_clear_error (&self->error);
  g_main_context_unref (self->context);
  g_free (self);
}
