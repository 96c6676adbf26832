/* pb-dispatch-bulk.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-dispatch-private.h"

/* Bulk mode: the records of a topic are handed over in batches, like
 * aiokafka's getmany(): a batch is what is ready, up to bulk-max-records.
 * "Ready" means polled from librdkafka: a batch smaller than that waits
 * while librdkafka still has records for the engine (so that a batch is
 * not cut at whatever one poll returned), at most bulk-timeout-ms.
 *
 * Each topic has at most one batch at a time, so records stay in order
 * within each partition; topics with records take turns. A batch whose
 * handler is not a PbBulkHandler overriding on_bulk() or handle_bulk() is
 * handled one record at a time, as is a failed batch that
 * on_bulk_error() splits.
 *
 * Records wait in their partition's queue, which is paused past the
 * larger of bulk-max-records and BACKPRESSURE_HIGH. */

#define BACKPRESSURE_HIGH 4000

/* One by one, the clock is read every CHECK_EVERY records. */
#define CHECK_EVERY       16

typedef struct
{
  GQueue    ready;      /* PbPartition of the topic with queued records */
  guint     queued;     /* records in those */
  gint64    since;      /* when the first of them came, or 0 */
  PbBatch  *batch;      /* being handled, or NULL */
} TopicState;

typedef struct
{
  PbDispatch  parent;
  TopicState *topics;
  guint       n_topics;
  guint       next_topic;  /* the first to look at, in turn */
  GQueue      completions; /* PbHandling completed, to finish */
  guint       batches;     /* batches being handled */
  guint       max_records;
  gint64      timeout_us;
  guint       high;        /* back-pressure watermarks, per partition */
  guint       low;
} PbDispatchBulk;

static inline TopicState *
state_of (PbDispatchBulk *self,
          PbPartition    *p)
{
  return &self->topics[p->topic->index];
}

/* A topic counts the records of its partitions in the ready queue: those
 * of a partition that is held (a deserializer prepares, a step waits...)
 * do not count. */
static void
ready_add (TopicState  *ts,
           PbPartition *p)
{
  if (!p->in_ready && p->fifo.length > 0)
    {
      g_queue_push_tail_link (&ts->ready, &p->ready_link);
      p->in_ready = TRUE;
      if (ts->queued == 0)
        ts->since = g_get_monotonic_time ();
      ts->queued += p->fifo.length;
    }
}

static void
ready_remove (TopicState  *ts,
              PbPartition *p)
{
  if (p->in_ready)
    {
      g_queue_unlink (&ts->ready, &p->ready_link);
      p->in_ready = FALSE;
      ts->queued -= p->fifo.length;
    }
}

static void
bulk_offer (PbDispatch         *dispatch,
            PbPartition        *p,
            rd_kafka_message_t *rkm)
{
  PbDispatchBulk *self = (PbDispatchBulk *)dispatch;
  TopicState *ts = state_of (self, p);

  _pb_ring_push (&p->fifo, rkm);
  if (p->in_ready)
    ts->queued++;
  else if (!_pb_partition_is_held (p))
    ready_add (ts, p);

  if (G_UNLIKELY (p->fifo.length >= self->high))
    _pb_partition_pause (dispatch->setup.partitions, p, PB_PAUSE_BACKPRESSURE);
}

static void
bulk_adopt (PbDispatch  *dispatch,
            PbPartition *p)
{
  PbDispatchBulk *self = (PbDispatchBulk *)dispatch;
  TopicState *ts = state_of (self, p);

  if (!_pb_partition_is_held (p))
    ready_add (ts, p);
}

static void
bulk_resume (PbDispatch  *dispatch,
             PbPartition *p)
{
  PbDispatchBulk *self = (PbDispatchBulk *)dispatch;

  ready_add (state_of (self, p), p);
}

/* Heard from a main loop callback: the drain finishes it. */
static void
bulk_done (PbHandling *h,
           gpointer    user_data)
{
  PbDispatchBulk *self = user_data;

  g_queue_push_tail_link (&self->completions, &h->link);
  _pb_host_kick (self->parent.setup.host);
}

static gboolean
batch_is_due (PbDispatchBulk *self,
              TopicState     *ts,
              gint64          now)
{
  return ts->queued >= self->max_records ||
         !_pb_consumer_pending (self->parent.setup.consumer) ||
         now - ts->since >= self->timeout_us;
}

/* Takes what is ready of @ts, up to max-records, partition by partition. */
static PbBatch *
batch_new (PbDispatchBulk *self,
           TopicState     *ts)
{
  const PbDispatchSetup *setup = &self->parent.setup;
  guint n = MIN (ts->queued, self->max_records);
  PbBatch *batch = g_new0 (PbBatch, 1);
  PbPartition *p;

  batch->messages = g_new (PbMessage *, n);
  batch->parts = g_new0 (PbBatchPart, ts->ready.length);

  while (batch->n_messages < n && (p = g_queue_peek_head (&ts->ready)) != NULL)
    {
      PbBatchPart *part = &batch->parts[batch->n_parts];
      guint take = MIN (p->fifo.length, n - batch->n_messages);
      gboolean prepares = (p->topic->vfuncs & PB_HANDLER_VFUNC_DESERIALIZE) != 0;

      ready_remove (ts, p);

      /* Held since it was made ready: it comes back when it may go on. */
      if (G_UNLIKELY (_pb_partition_is_held (p)))
        continue;

      batch->topic = p->topic;
      part->partition = p;
      part->epoch = p->epoch;
      part->live = TRUE;

      for (guint i = 0; i < take; i++)
        {
          rd_kafka_message_t *rkm;

          /* A record a deserializer must prepare for ends the partition's
           * part: it waits. */
          if (G_UNLIKELY (prepares) &&
              !_pb_lifecycle_ready (setup->lifecycle, p, _pb_ring_peek (&p->fifo)))
            break;

          rkm = _pb_ring_pop (&p->fifo);
          if (i == 0)
            batch->n_parts++;

          part->last = rkm->offset;
          batch->messages[batch->n_messages++] =
            _pb_message_pool_take (setup->pool, rkm, p->topic->name);
        }

      /* A partition cut short goes last next time, unless it is held. */
      if (p->fifo.length > 0 && !_pb_partition_is_held (p))
        ready_add (ts, p);

      if ((p->pause_reasons & PB_PAUSE_BACKPRESSURE) && p->fifo.length <= self->low)
        _pb_partition_resume (setup->partitions, p, PB_PAUSE_BACKPRESSURE);
    }

  batch->live_parts = batch->n_parts;
  ts->since = ts->queued > 0 ? g_get_monotonic_time () : 0;
  self->batches++;

  return batch;
}

static void
batch_end (PbDispatchBulk *self,
           TopicState     *ts)
{
  _pb_batch_free (g_steal_pointer (&ts->batch), self->parent.setup.pool);
  self->batches--;
}

/* Hands the batch's records over one at a time, from where it stopped:
 * returns whether it got to the end (or gave up because of a stop), FALSE
 * when a handling is in flight or @deadline passed. */
static gboolean
run_one_by_one (PbDispatchBulk *self,
                TopicState     *ts,
                gint64          deadline)
{
  PbDispatch *dispatch = &self->parent;
  PbBatch *batch = ts->batch;
  guint n = 0;

  while (batch->next < batch->n_messages)
    {
      PbMessage *message;
      PbBatchPart *part;
      PbPartition *p;
      PbHandling *h;

      /* The rest was not handled: it is not stored, and read again. */
      if (dispatch->stopping)
        return TRUE;

      if (++n % CHECK_EVERY == 0 && g_get_monotonic_time () > deadline)
        return FALSE;

      message = g_steal_pointer (&batch->messages[batch->next++]);
      part = _pb_batch_part_of (batch, message);
      p = part->partition;

      if (!part->live || part->epoch != p->epoch || p->state != PB_PARTITION_ASSIGNED)
        {
          _pb_message_pool_return (dispatch->setup.pool, message);
          continue;
        }

      h = _pb_lifecycle_message (dispatch->setup.lifecycle, p, message, bulk_done, self);
      if (h == NULL)
        continue;

      /* The partition may have gone away while the handler ran. */
      if (h->epoch != p->epoch || !part->live)
        {
          if (h->completed)
            g_queue_unlink (&self->completions, &h->link);
          _pb_lifecycle_abandon (dispatch->setup.lifecycle, h);
          _pb_handling_unref (h);
          continue;
        }

      batch->handling = h;
      return FALSE;
    }

  return TRUE;
}

/* Takes @ts's batch as far as it goes now: returns whether work is left
 * that could be done now. */
static gboolean
advance (PbDispatchBulk *self,
         TopicState     *ts,
         gint64          deadline)
{
  PbLifecycle *lifecycle = self->parent.setup.lifecycle;
  PbBatch *batch = ts->batch;

  if (batch->handling != NULL)
    return FALSE;

  if (!batch->one_by_one)
    {
      if (!(batch->topic->bulk_vfuncs & (PB_BULK_VFUNC_ON_BULK | PB_BULK_VFUNC_HANDLE_BULK)))
        batch->one_by_one = TRUE;
      else if (batch->next == 0)
        {
          /* Started once: after it, the batch is over or split. */
          batch->next = batch->n_messages;
          batch->handling = _pb_lifecycle_batch (lifecycle, batch, bulk_done, self);
          if (batch->handling != NULL)
            {
              /* Every partition may have gone away while it ran. */
              if (batch->live_parts == 0)
                {
                  if (batch->handling->completed)
                    g_queue_unlink (&self->completions, &batch->handling->link);
                  _pb_lifecycle_abandon (lifecycle, batch->handling);
                  g_clear_pointer (&batch->handling, _pb_handling_unref);
                  batch_end (self, ts);
                }
              return FALSE;
            }
          if (batch->one_by_one)
            batch->next = 0;
        }
    }

  if (batch->one_by_one && !run_one_by_one (self, ts, deadline))
    return batch->handling == NULL;

  batch_end (self, ts);
  return FALSE;
}

static void
finish_completed (PbDispatchBulk *self,
                  PbHandling     *h)
{
  TopicState *ts = &self->topics[h->topic->index];
  PbBatch *batch = ts->batch;
  gboolean of_batch = h->batch != NULL;

  g_assert (batch != NULL && batch->handling == h);

  batch->handling = NULL;
  _pb_lifecycle_finish (self->parent.setup.lifecycle, h);
  _pb_handling_unref (h);

  /* A batch handled as a whole is over, unless it was split. */
  if (of_batch && batch->one_by_one)
    batch->next = 0;
  else if (of_batch)
    batch_end (self, ts);
}

static gboolean
bulk_drain (PbDispatch *dispatch,
            gboolean    start,
            gint64      deadline)
{
  PbDispatchBulk *self = (PbDispatchBulk *)dispatch;
  PbHandling *h;
  gboolean more = FALSE;
  gint64 now;

  while ((h = g_queue_peek_head (&self->completions)) != NULL)
    {
      g_queue_unlink (&self->completions, &h->link);
      finish_completed (self, h);
    }

  now = g_get_monotonic_time ();

  for (guint k = 0; k < self->n_topics; k++)
    {
      guint i = (self->next_topic + k) % self->n_topics;
      TopicState *ts = &self->topics[i];

      if (k > 0 && now > deadline)
        return TRUE;

      /* A batch handled one by one goes on; a stop ends it. */
      if (ts->batch != NULL)
        {
          if (advance (self, ts, deadline))
            more = TRUE;
          now = g_get_monotonic_time ();
        }

      if (ts->batch == NULL && start && !dispatch->stopping && ts->queued > 0 &&
          self->batches < dispatch->max_in_flight && batch_is_due (self, ts, now))
        {
          ts->batch = batch_new (self, ts);
          /* Every record it could take waits for a deserializer. */
          if (ts->batch->n_messages == 0)
            {
              batch_end (self, ts);
              continue;
            }
          if (advance (self, ts, deadline))
            more = TRUE;
          now = g_get_monotonic_time ();
          self->next_topic = i + 1;

          if (ts->queued > 0 && ts->batch == NULL)
            more = TRUE;
        }
    }

  return more;
}

static void
bulk_release (PbDispatch  *dispatch,
              PbPartition *p,
              gboolean     abandon)
{
  PbDispatchBulk *self = (PbDispatchBulk *)dispatch;
  TopicState *ts = state_of (self, p);
  PbBatch *batch = ts->batch;
  PbBatchPart *part;

  ready_remove (ts, p);
  _pb_partition_drop_queued (p);

  if (!abandon || batch == NULL || (part = _pb_batch_find_part (batch, p)) == NULL || !part->live)
    return;

  part->live = FALSE;
  batch->live_parts--;

  if (batch->handling == NULL)
    return;

  /* One by one, the record in flight is given up if it is this
   * partition's; a batch handled as a whole, once none of its partitions
   * is left. Nothing of a partition given up is stored. */
  if (batch->one_by_one ? batch->handling->partition == p : batch->live_parts == 0)
    {
      if (batch->handling->completed)
        g_queue_unlink (&self->completions, &batch->handling->link);
      _pb_lifecycle_abandon (dispatch->setup.lifecycle, batch->handling);
      g_clear_pointer (&batch->handling, _pb_handling_unref);

      if (!batch->one_by_one)
        batch_end (self, ts);
    }
}

static gboolean
bulk_busy (PbDispatch  *dispatch,
           PbPartition *p)
{
  PbDispatchBulk *self = (PbDispatchBulk *)dispatch;
  PbBatch *batch;
  PbBatchPart *part;

  if (p == NULL)
    return self->batches > 0;

  /* Records of @partition in a batch that is being handled, or that is
   * handled one by one and not through yet. */
  batch = state_of (self, p)->batch;
  if (batch == NULL || (part = _pb_batch_find_part (batch, p)) == NULL || !part->live)
    return FALSE;

  return batch->handling != NULL || (batch->one_by_one && batch->next < batch->n_messages);
}

static void
bulk_free (PbDispatch *dispatch)
{
  PbDispatchBulk *self = (PbDispatchBulk *)dispatch;

  g_assert (self->completions.length == 0);

  for (guint i = 0; i < self->n_topics; i++)
    {
      TopicState *ts = &self->topics[i];
      PbPartition *p;

      if (ts->batch != NULL)
        {
          g_assert (ts->batch->handling == NULL);
          batch_end (self, ts);
        }

      while ((p = g_queue_peek_head (&ts->ready)) != NULL)
        ready_remove (ts, p);
    }

  g_free (self->topics);
  g_free (self);
}

static const PbDispatchClass bulk_class = {
  .name = "bulk",
  .offer = bulk_offer,
  .adopt = bulk_adopt,
  .resume = bulk_resume,
  .drain = bulk_drain,
  .release = bulk_release,
  .busy = bulk_busy,
  .free = bulk_free,
};

PbDispatch *
_pb_dispatch_bulk_new (const PbDispatchSetup *setup)
{
  PbDispatchBulk *self = g_new0 (PbDispatchBulk, 1);

  self->parent.klass = &bulk_class;
  self->parent.setup = *setup;
  self->n_topics = setup->n_topics;
  self->topics = g_new0 (TopicState, self->n_topics);
  self->max_records = MAX (setup->bulk_max_records, 1);
  self->timeout_us = (gint64)setup->bulk_timeout_ms * 1000;
  self->high = MAX (BACKPRESSURE_HIGH, self->max_records);
  self->low = self->high / 2;

  return &self->parent;
}
