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

#include "pb-barrier-private.h"
#include "pb-consumer-private.h"
#include "pb-dispatch-private.h"
#include "pb-error.h"
#include "pb-gjs-private.h"
#include "pb-lifecycle-private.h"
#include "pb-mode-private.h"
#include "pb-offsets-private.h"
#include "pb-producer-private.h"
#include "pb-rebalance-private.h"
#include "pb-steps-private.h"
#include "pb-tables-private.h"
#include "pb-topic-private.h"

/* A dispatch (the consumer's or the kick's) hands control back to the
 * main loop after this long. */
#define DISPATCH_BUDGET_US 10000

/* The run orchestrates its parts: each has a struct of its own and talks
 * back through the host (kick, fail, emit) or through callbacks the run
 * gives it; the run's reconciliation, from the host's kick, does what has
 * to be done in one pass. The run is the only part that knows the others. */
struct _PbRun
{
  gatomicrefcount       ref_count;
  GTask                *task;
  GMainContext         *context;
  PbRunSettings         settings;
  const PbRunCallbacks *callbacks;
  gpointer              user_data;

  PbHost               *host;
  PbBarrier            *barrier;
  PbConsumer           *consumer;
  PbProducer           *producer;         /* nullable: made when first needed */
  PbMessagePool        *pool;
  PbPartitionMap       *partitions;
  PbOffsets            *offsets;
  PbLifecycle          *lifecycle;
  PbDispatchSetup       dispatch_setup;
  PbDispatch           *dispatch;
  PbMode               *mode;
  PbSteps              *steps;            /* nullable: no steps */
  PbRebalance          *rebalance;
  PbTables             *tables;
  GCancellable         *restore_cancellable;

  PbEngineState         state;            /* last said, or to be said */
  GSource              *cancel_source;
  GSource              *sigint_source;
  GSource              *sigterm_source;
  PbDeadline            stop_deadline;

  GError               *error;
  gint64                poll_deadline;    /* of the consumer's dispatch, or 0 */

  guint                 producer_failed : 1;
  guint                 stop_requested : 1;
  guint                 stopping : 1;     /* the stop began */
  guint                 closing : 1;
  guint                 closed : 1;
  guint                 finished : 1;
};

static void reconcile (gpointer user_data);

/* State */

static void
set_state (PbRun         *self,
           PbEngineState  state)
{
  if (self->state == state)
    return;

  self->state = state;
  _pb_host_emit (self->host, PB_EVENT_STATE, state, FALSE, NULL);
}

/* In the caller of run_async(), not in a callback: said at once. */
static void
say_now (PbRun       *self,
         PbEventKind  kind,
         int          value,
         gboolean     flag)
{
  PbEvent event = { kind, value, flag, NULL };

  if (kind == PB_EVENT_STATE)
    self->state = value;
  self->callbacks->event (self->user_data, &event);
}

/* Stopping */

/* With @say_now (not from a librdkafka callback), the engine's state is
 * "stopping" when this returns: after the events still pending. */
static void
request_stop (PbRun    *self,
              gboolean  now)
{
  if (self->finished || self->stop_requested)
    return;

  g_debug ("Stop requested");
  self->stop_requested = TRUE;
  if (self->dispatch != NULL)
    self->dispatch->stopping = TRUE;
  _pb_host_kick (self->host);

  if (now)
    {
      set_state (self, PB_ENGINE_STATE_STOPPING);
      _pb_host_flush (self->host);
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

static void
fail (gpointer  user_data,
      GError   *error)
{
  PbRun *self = user_data;

  if (self->error == NULL)
    self->error = error;
  else
    g_error_free (error);

  request_stop (self, FALSE);
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

/* Whether the producer has nothing undelivered that is worth waiting for. */
static gboolean
producer_settled (PbRun *self)
{
  return self->producer == NULL || self->producer_failed || _pb_barrier_is_settled (self->barrier);
}

static gboolean
busy (PbRun *self)
{
  return self->dispatch != NULL && self->dispatch->klass->busy (self->dispatch, NULL);
}

/* No record is started any more: those polled and not started are dropped
 * (they were not stored, so the group reads them again), and fetching
 * stops; handling in flight may finish within stop-timeout-ms. */
static void
begin_stop (PbRun *self)
{
  g_debug ("Stopping");

  self->stopping = TRUE;
  set_state (self, PB_ENGINE_STATE_STOPPING);

  if (self->partitions != NULL)
    {
      _pb_partition_map_foreach (self->partitions, drop_queued_cb, self);
      /* The consumer still polls, to stay in its group while in-flight
       * handling finishes. */
      _pb_partition_map_pause_all (self->partitions, PB_PAUSE_STOP);
    }

  if (self->mode != NULL)
    _pb_mode_stop (self->mode);

  if (self->restore_cancellable != NULL)
    g_cancellable_cancel (self->restore_cancellable);
  _pb_tables_cancel (self->tables);

  if (busy (self) || !producer_settled (self))
    {
      g_info ("Stopping: waiting up to %u ms for the handling in flight to finish",
              self->settings.stop_timeout_ms);
      _pb_deadline_start (&self->stop_deadline, self->host, self->settings.stop_timeout_ms,
                          "[paperboy] stop timeout");
    }
}

static void
check_stop (PbRun *self)
{
  if (!self->stopping || self->closing || _pb_tables_is_busy (self->tables))
    return;

  if (busy (self))
    return;

  /* The offsets to commit last wait for the deliveries of what their
   * handling produced, unless one failed. */
  if (!producer_settled (self) && !self->stop_deadline.passed)
    {
      _pb_deadline_start (&self->stop_deadline, self->host, self->settings.stop_timeout_ms,
                          "[paperboy] stop timeout");
      return;
    }

  _pb_deadline_clear (&self->stop_deadline);
  self->closing = TRUE;

  if (self->consumer == NULL)
    {
      self->closed = TRUE;
      return;
    }

  _pb_offsets_store (self->offsets, self->consumer);
  _pb_consumer_close (self->consumer);
}

/* Finishing: everything of the run is let go before anyone hears of its
 * end, since a handler of notify::state or the task's callback may start
 * a new run. */

static void
return_task (PbRun *self)
{
  /* The task keeps the engine alive until it returned. */
  g_autoptr(GTask) task = g_steal_pointer (&self->task);
  GError *error = g_steal_pointer (&self->error);

  /* The run's last events, while the engine still counts as running. */
  _pb_host_flush (self->host);
  g_clear_pointer (&self->host, _pb_host_free);

  self->callbacks->ended (self->user_data, self);
  _pb_gjs_before_call ();
  say_now (self, PB_EVENT_CONNECTED, 0, FALSE);
  say_now (self, PB_EVENT_STATE, error != NULL ? PB_ENGINE_STATE_FAILED : PB_ENGINE_STATE_STOPPED,
           FALSE);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
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
  _pb_deadline_clear (&self->stop_deadline);
  g_clear_pointer (&self->mode, _pb_mode_free);
  g_clear_pointer (&self->steps, _pb_steps_free);
  g_clear_pointer (&self->rebalance, _pb_rebalance_free);

  if (self->partitions != NULL)
    _pb_partition_map_foreach (self->partitions, abandon_cb, self);
  _pb_host_cancel_queued (self->host);

  /* The producer's last reports: what was not delivered is purged (its
   * records' offsets were not committed), what was goes to the stores,
   * which are then free for others (a RocksDB database has one user at a
   * time). The changes never delivered are forgotten. */
  if (self->producer != NULL)
    _pb_producer_drain (self->producer);
  _pb_tables_close (self->tables);

  g_clear_pointer (&self->offsets, _pb_offsets_free);
  g_clear_pointer (&self->producer, _pb_producer_free);
  g_clear_pointer (&self->dispatch, _pb_dispatch_free);
  g_clear_pointer (&self->lifecycle, _pb_lifecycle_free);
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

/* Modes */

/* Switches the dispatch when the lag watch asked for it and nothing is in
 * flight. */
static void
check_mode (PbRun *self)
{
  PbEngineMode wanted = _pb_mode_get_wanted (self->mode);

  if (wanted == self->dispatch->mode || self->stop_requested || busy (self))
    return;

  _pb_dispatch_free (self->dispatch);
  self->dispatch = _pb_dispatch_new (wanted, &self->dispatch_setup,
                                     self->settings.live.max_in_flight);
  _pb_mode_switched (self->mode, wanted);
}

/* The reconciliation, from the host's kick. */
static void
reconcile (gpointer user_data)
{
  PbRun *self = user_data;
  gboolean more = FALSE;

  if (self->finished)
    return;

  _pb_run_ref (self);

  /* What happened before the records waiting now (an assignment, a step
   * that began) is told before they are handled. */
  _pb_host_flush (self->host);

  if (self->stop_requested && !self->stopping)
    begin_stop (self);

  if (self->dispatch != NULL)
    {
      check_mode (self);

      /* What the consumer polled goes first: its dispatch handles the
       * records after it served librdkafka (a revocation, a lost
       * assignment) and polled what came. */
      more = self->dispatch->klass->drain (self->dispatch, !_pb_consumer_pending (self->consumer),
                                           g_get_monotonic_time () + DISPATCH_BUDGET_US);

      if (self->stop_deadline.passed)
        _pb_partition_map_foreach (self->partitions, abandon_cb, self);
    }

  if (self->consumer != NULL)
    {
      if (self->steps != NULL && self->state == PB_ENGINE_STATE_RUNNING && !self->stop_requested)
        _pb_steps_check (self->steps);
      _pb_offsets_store (self->offsets, self->consumer);
      _pb_rebalance_check (self->rebalance);
    }

  check_stop (self);
  _pb_host_flush (self->host);
  _pb_gjs_collect_if_due ();

  if (self->closed)
    finish (self);
  else if (more)
    _pb_host_kick (self->host);

  _pb_run_unref (self);
}

static void
event (gpointer       user_data,
       const PbEvent *event)
{
  PbRun *self = user_data;

  self->callbacks->event (self->user_data, event);
}

static const PbHostCallbacks host_callbacks = {
  .reconcile = reconcile,
  .fail = fail,
  .event = event,
};

/* Callbacks of the parts */

static void
resume_cb (PbPartition *p,
           gpointer     user_data)
{
  PbRun *self = user_data;

  if (self->dispatch != NULL)
    self->dispatch->klass->resume (self->dispatch, p);
}

static void
release_cb (gpointer     user_data,
            PbPartition *p,
            gboolean     abandon)
{
  PbRun *self = user_data;

  self->dispatch->klass->release (self->dispatch, p, abandon);
}

static gboolean
busy_cb (gpointer     user_data,
         PbPartition *p)
{
  PbRun *self = user_data;

  return self->dispatch->klass->busy (self->dispatch, p);
}

static void
steps_over_cb (gpointer user_data)
{
  PbRun *self = user_data;

  _pb_mode_steps_over (self->mode);
}

static void gone_cb (gpointer     user_data,
                     PbPartition *p);

static const PbRebalanceCallbacks rebalance_callbacks = {
  .release = release_cb,
  .busy = busy_cb,
  .gone = gone_cb,
};

static const PbStepsCallbacks steps_callbacks = {
  .busy = busy_cb,
  .over = steps_over_cb,
};

/* Consumer callbacks */

static void
on_record (gpointer            user_data,
           rd_kafka_message_t *rkm)
{
  PbRun *self = user_data;
  PbPartition *p = _pb_partition_map_lookup (self->partitions, rkm);

  if (G_UNLIKELY (p == NULL || p->state != PB_PARTITION_ASSIGNED || self->stop_requested))
    {
      rd_kafka_message_destroy (rkm);
      return;
    }

  if (G_UNLIKELY (p->polled_from < 0))
    p->polled_from = rkm->offset;
  /* A pause that waited for the partition's fetch to start, or one
   * librdkafka lost: the record waits, and the pause is issued. */
  if (G_UNLIKELY (p->pause_reasons != 0))
    _pb_partition_repause (self->partitions, p);
  self->dispatch->klass->offer (self->dispatch, p, rkm);
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
   * returns. Events the poll queued go first: from the kick too. */
  if (_pb_host_defer (self->host) || _pb_host_has_events (self->host))
    {
      self->poll_deadline = 0;
      return FALSE;
    }

  self->dispatch->klass->drain (self->dispatch, TRUE, self->poll_deadline);

  now = g_get_monotonic_time ();
  if (!drained && now < self->poll_deadline && !self->stop_requested)
    return TRUE;

  self->poll_deadline = 0;
  _pb_offsets_store (self->offsets, self->consumer);
  _pb_host_kick (self->host);

  return FALSE;
}

static int
compare_ints (gconstpointer a,
              gconstpointer b)
{
  return *(const int *)a - *(const int *)b;
}

static void
hold_for_tables (PbRun                                 *self,
                 const rd_kafka_topic_partition_list_t *partitions)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (int));

  for (int i = 0; i < partitions->cnt; i++)
    g_array_append_val (ids, partitions->elems[i].partition);
  g_array_sort (ids, compare_ints);

  _pb_tables_assigned (self->tables, (const int *)ids->data, ids->len);

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self->partitions, partitions->elems[i].topic,
                                               partitions->elems[i].partition);

      if (p != NULL && _pb_tables_holds (self->tables, p->id))
        _pb_partition_pause (self->partitions, p, PB_PAUSE_RESTORE);
    }
}

typedef struct
{
  PbRun     *run;
  const int *ids;
  int        n_ids;
  gboolean   found;
} IdsData;

static gboolean
ids_contain (const IdsData *data,
             int            id)
{
  for (int i = 0; i < data->n_ids; i++)
    if (data->ids[i] == id)
      return TRUE;

  return FALSE;
}

static void
tables_resume_cb (PbPartition *p,
                  gpointer     user_data)
{
  IdsData *data = user_data;

  if (p->state == PB_PARTITION_ASSIGNED && ids_contain (data, p->id))
    _pb_partition_resume (data->run->partitions, p, PB_PAUSE_RESTORE);
}

static void
tables_restored_cb (gpointer   user_data,
                    const int *partitions,
                    int        n_partitions)
{
  PbRun *self = user_data;
  IdsData data = { self, partitions, n_partitions, FALSE };

  if (self->partitions != NULL)
    _pb_partition_map_foreach (self->partitions, tables_resume_cb, &data);

  if (self->state == PB_ENGINE_STATE_RESTORING && !_pb_tables_is_restoring (self->tables))
    set_state (self, PB_ENGINE_STATE_RUNNING);
}

static const PbTablesCallbacks tables_callbacks = {
  .restored = tables_restored_cb,
};

static void
find_assigned_cb (PbPartition *p,
                  gpointer     user_data)
{
  IdsData *data = user_data;

  if (p->state != PB_PARTITION_UNASSIGNED && ids_contain (data, p->id))
    data->found = TRUE;
}

/* @p was given up: its table partitions go when no partition of its
 * number is left. */
static void
gone_cb (gpointer     user_data,
         PbPartition *p)
{
  PbRun *self = user_data;
  IdsData data = { self, &p->id, 1, FALSE };

  _pb_partition_map_foreach (self->partitions, find_assigned_cb, &data);
  if (!data.found)
    _pb_tables_revoked (self->tables, &p->id, 1);
}

static void
on_assigning (gpointer                               user_data,
              const rd_kafka_topic_partition_list_t *partitions)
{
  PbRun *self = user_data;

  _pb_partition_map_unpause (self->partitions, partitions);
}

static void
on_assigned (gpointer                               user_data,
             const rd_kafka_topic_partition_list_t *partitions)
{
  PbRun *self = user_data;

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_get (self->partitions, partitions->elems[i].topic,
                                              partitions->elems[i].partition);

      if (p == NULL)
        g_warning ("Assigned %s[%d], which no handler handles",
                   partitions->elems[i].topic, (int)partitions->elems[i].partition);
      else
        _pb_partition_assign (self->partitions, p);
    }

  /* Those whose table partitions are being restored wait for them. */
  if (!_pb_tables_is_empty (self->tables))
    hold_for_tables (self, partitions);

  /* The first partitions of the group are handled once their tables
   * are whole: until then the engine is restoring. */
  if (self->state == PB_ENGINE_STATE_JOINING)
    set_state (self, _pb_tables_is_restoring (self->tables) ? PB_ENGINE_STATE_RESTORING
                                                            : PB_ENGINE_STATE_RUNNING);
  if (partitions->cnt > 0)
    _pb_host_emit (self->host, PB_EVENT_ASSIGNED, 0, FALSE,
                   _pb_kafka_partitions_to_variant (partitions));

  /* Partitions of later steps wait; those of the current one get their
   * end captured. */
  if (self->steps != NULL)
    _pb_steps_assigned (self->steps, partitions);
}

static void
on_revoked (gpointer                               user_data,
            const rd_kafka_topic_partition_list_t *partitions)
{
  PbRun *self = user_data;

  _pb_rebalance_revoked (self->rebalance, partitions);
}

static void
on_lost (gpointer                               user_data,
         const rd_kafka_topic_partition_list_t *partitions)
{
  PbRun *self = user_data;

  _pb_rebalance_lost (self->rebalance, partitions);

  /* Without partitions, the engine joins its group again. */
  if (self->state == PB_ENGINE_STATE_RUNNING || self->state == PB_ENGINE_STATE_RESTORING)
    set_state (self, PB_ENGINE_STATE_JOINING);
}

static void
on_committed (gpointer                               user_data,
              rd_kafka_resp_err_t                    err,
              const rd_kafka_topic_partition_list_t *offsets)
{
  PbRun *self = user_data;

  _pb_rebalance_committed (self->rebalance, err, offsets);
}

static void
on_eof (gpointer    user_data,
        const char *topic,
        int         partition,
        gint64      offset)
{
  PbRun *self = user_data;

  if (self->steps != NULL)
    _pb_steps_eof (self->steps, topic, partition, offset);
}

static void
on_failed (gpointer  user_data,
           GError   *error)
{
  fail (user_data, error);
}

static void
on_connected (gpointer user_data,
              gboolean connected)
{
  PbRun *self = user_data;

  _pb_host_emit (self->host, PB_EVENT_CONNECTED, 0, connected, NULL);
}

static void
on_closed (gpointer user_data)
{
  PbRun *self = user_data;

  self->closed = TRUE;
  _pb_host_kick (self->host);
}

static const PbConsumerCallbacks consumer_callbacks = {
  .record = on_record,
  .batch_end = on_batch_end,
  .assigning = on_assigning,
  .assigned = on_assigned,
  .revoked = on_revoked,
  .lost = on_lost,
  .committed = on_committed,
  .eof = on_eof,
  .failed = on_failed,
  .connected = on_connected,
  .closed = on_closed,
};

/* The producer */

static void
producer_delivered (gpointer user_data)
{
  PbRun *self = user_data;

  _pb_tables_delivered (self->tables);

  if (_pb_offsets_release (self->offsets) || self->stopping ||
      _pb_rebalance_is_revoking (self->rebalance))
    _pb_host_kick (self->host);
}

static void
producer_failed (gpointer    user_data,
                 const char *topic,
                 GError     *error)
{
  PbRun *self = user_data;
  PbTable *table = _pb_tables_find_changelog (self->tables, topic);

  if (table != NULL)
    {
      error->code = PB_ERROR_CHANGELOG;
      g_prefix_error (&error, _("Table “%s”: "), pb_table_get_name (table));
    }

  self->producer_failed = TRUE;
  fail (self, error);
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

  conf = _pb_kafka_config_build (self->settings.kafka_config, PB_KAFKA_CLIENT_PRODUCER,
                                 &self->settings.kafka, error);
  if (conf == NULL)
    return FALSE;

  self->producer = _pb_producer_new (conf, self->barrier, self->context,
                                     self->settings.priority, &producer_callbacks, self, error);

  return self->producer != NULL;
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
      g_set_error_literal (error, PB_ERROR, PB_ERROR_CANCELLED,
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
                               NULL, error) != 0;
}

/* Live settings */

static void
apply_live (PbRun *self)
{
  if (self->dispatch != NULL)
    self->dispatch->max_in_flight = self->settings.live.max_in_flight;

  if (self->lifecycle != NULL)
    {
      _pb_lifecycle_set_fail_on_exception (self->lifecycle, self->settings.live.fail_on_exception);
      _pb_lifecycle_set_handling_timeout_ms (self->lifecycle,
                                             self->settings.live.handling_timeout_ms);
    }

  if (self->host != NULL)
    _pb_host_kick (self->host);
}

typedef struct
{
  PbRun     *run;
  PbRunLive  live;
} LiveUpdate;

static gboolean
live_invoke_cb (gpointer user_data)
{
  LiveUpdate *update = user_data;

  update->run->settings.live = update->live;
  apply_live (update->run);

  return G_SOURCE_REMOVE;
}

static void
live_update_free (LiveUpdate *update)
{
  _pb_run_unref (update->run);
  g_free (update);
}

void
_pb_run_set_live (PbRun           *self,
                  const PbRunLive *live)
{
  LiveUpdate *update;

  if (g_main_context_is_owner (self->context))
    {
      self->settings.live = *live;
      apply_live (self);
      return;
    }

  update = g_new (LiveUpdate, 1);
  update->run = _pb_run_ref (self);
  update->live = *live;
  _pb_invoke_later (self->context, live_invoke_cb, update, (GDestroyNotify) live_update_free);
}

PbEngineMode
_pb_run_get_mode (PbRun *self)
{
  return self->mode != NULL ? _pb_mode_get_current (self->mode) : PB_ENGINE_MODE_SINGLE;
}

GVariant *
_pb_run_get_lag (PbRun *self)
{
  if (self->mode == NULL)
    return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(six)"), NULL, 0));

  return _pb_mode_get_lag (self->mode);
}

/* Starting */

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

/* Tables first: the group assigns nothing before they are whole. */
static void
restored_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(PbRun) self = user_data;
  GError *error = NULL;

  if (!_pb_tables_restore_finish (self->tables, result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->stopping)
        g_clear_error (&error);
      else
        fail (self, error);
      _pb_host_kick (self->host);
      return;
    }

  if (!self->stopping)
    _pb_tables_attach (self->tables, self->producer);

  if (self->stopping)
    {
      _pb_host_kick (self->host);
      return;
    }

  set_state (self, PB_ENGINE_STATE_JOINING);
  if (!subscribe (self, &error))
    fail (self, error);
  _pb_host_kick (self->host);
}

static void
restore (PbRun *self)
{
  g_autofree const char **names = g_new0 (const char *, self->settings.topics->len + 1);
  PbTablesRestore restore = {
    self->settings.kafka_config,
    &self->settings.kafka,
    self->settings.mock_cluster,
    self->producer,
    names,
  };

  for (guint i = 0; i < self->settings.topics->len; i++)
    names[i] = ((PbTopic *)g_ptr_array_index (self->settings.topics, i))->name;

  self->restore_cancellable = g_cancellable_new ();
  _pb_tables_restore_async (self->tables, &restore, self->restore_cancellable,
                            restored_cb, _pb_run_ref (self));
}

/* Checks the settings, makes the parts, and restores the tables or joins
 * the group. */
static gboolean
begin_run (PbRun   *self,
           GError **error)
{
  PbModeSettings mode_settings = {
    self->settings.bulk_mode,
    self->settings.bulk_lag_threshold,
    self->settings.single_lag_threshold,
    self->settings.mode_switch_dwell_ms,
    self->settings.n_steps,
  };
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

  conf = _pb_kafka_config_build (self->settings.kafka_config, PB_KAFKA_CLIENT_CONSUMER,
                                 &self->settings.kafka, error);
  if (conf == NULL)
    return FALSE;

  self->consumer = _pb_consumer_new (conf, self->context, self->settings.priority,
                                     &consumer_callbacks, self, error);
  if (self->consumer == NULL)
    return FALSE;

  for (guint i = 0; i < self->settings.topics->len; i++)
    ((PbTopic *)g_ptr_array_index (self->settings.topics, i))->index = i;

  self->pool = _pb_message_pool_new (_pb_consumer_get_handle (self->consumer));
  /* Messages of a whole batch are alive at once. */
  _pb_message_pool_set_capacity (self->pool, self->settings.bulk_max_records);
  self->partitions = _pb_partition_map_new (self->settings.topics, self->consumer, self->host,
                                            resume_cb, self);
  self->offsets = _pb_offsets_new (self->barrier);
  self->lifecycle = _pb_lifecycle_new (self->host, self->partitions, self->offsets, self->pool);
  self->rebalance = _pb_rebalance_new (self->host, self->consumer, self->partitions, self->offsets,
                                       self->settings.revoke_timeout_ms,
                                       &rebalance_callbacks, self);
  if (self->settings.n_steps > 0)
    self->steps = _pb_steps_new (self->host, self->consumer, self->partitions,
                                 self->settings.n_steps, &steps_callbacks, self);
  self->mode = _pb_mode_new (self->host, self->consumer, self->partitions, &mode_settings);

  self->dispatch_setup.host = self->host;
  self->dispatch_setup.partitions = self->partitions;
  self->dispatch_setup.lifecycle = self->lifecycle;
  self->dispatch_setup.pool = self->pool;
  self->dispatch_setup.consumer = self->consumer;
  self->dispatch_setup.n_topics = self->settings.topics->len;
  self->dispatch_setup.bulk_max_records = self->settings.bulk_max_records;
  self->dispatch_setup.bulk_timeout_ms = self->settings.bulk_timeout_ms;
  self->dispatch = _pb_dispatch_new (_pb_mode_get_current (self->mode), &self->dispatch_setup,
                                     self->settings.live.max_in_flight);
  apply_live (self);
  say_now (self, PB_EVENT_MODE, _pb_mode_get_current (self->mode), FALSE);

  if (!_pb_tables_is_empty (self->tables))
    {
      if (!ensure_producer (self, error))
        return FALSE;

      restore (self);
      return TRUE;
    }

  return subscribe (self, error);
}

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

void
_pb_run_start (PbRun *self)
{
  GError *error = NULL;

  say_now (self, PB_EVENT_STATE, PB_ENGINE_STATE_STARTING, FALSE);

  if (!begin_run (self, &error))
    {
      /* Nothing was joined: the consumer, if any, is let go without a
       * close. */
      fail (self, error);
      self->stopping = TRUE;
      self->closing = TRUE;
      self->closed = TRUE;
      return;
    }

  say_now (self, PB_EVENT_STATE,
           _pb_tables_is_restoring (self->tables) ? PB_ENGINE_STATE_RESTORING
                                                  : PB_ENGINE_STATE_JOINING,
           FALSE);

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
_pb_run_new (GTask                *task,
             PbRunSettings        *settings,
             const PbRunCallbacks *callbacks,
             gpointer              user_data)
{
  PbRun *self = g_new0 (PbRun, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->task = g_object_ref (task);
  self->context = g_main_context_ref_thread_default ();
  self->callbacks = callbacks;
  self->user_data = user_data;
  self->settings = *settings;
  self->settings.kafka.bootstrap_servers = g_strdup (settings->kafka.bootstrap_servers);
  self->settings.kafka.group_id = g_strdup (settings->kafka.group_id);
  self->settings.kafka.client_id = g_strdup (settings->kafka.client_id);
  self->settings.kafka.auto_offset_reset = g_strdup (settings->kafka.auto_offset_reset);

  self->host = _pb_host_new (self->context, settings->priority, &host_callbacks, self);
  _pb_host_set_exact_state (self->host, settings->exact_state);
  self->barrier = _pb_barrier_new ();
  self->tables = _pb_tables_new (self->host, settings->tables, settings->state_dir,
                                &tables_callbacks, self);
  _pb_host_kick (self->host);

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
  g_assert (self->host == NULL);

  g_clear_pointer (&self->tables, _pb_tables_free);
  g_clear_pointer (&self->barrier, _pb_barrier_free);
  g_clear_pointer (&self->settings.topics, g_ptr_array_unref);
  g_clear_pointer (&self->settings.tables, g_ptr_array_unref);
  g_clear_pointer (&self->settings.state_dir, g_free);
  g_clear_object (&self->restore_cancellable);
  g_clear_pointer (&self->settings.kafka_config, _pb_kafka_config_free);
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
