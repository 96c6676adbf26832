/* pb-dispatch-single.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-dispatch-private.h"

/* Single mode: each record is handled on its own, in order within its
 * partition. Partitions with records take turns, one record each, so that
 * a slow handler makes every partition advance, not the one whose records
 * librdkafka happened to fetch first.
 *
 * Records wait in their partition's queue; a partition whose queue reaches
 * BACKPRESSURE_HIGH is paused until it is down to BACKPRESSURE_LOW. Pausing
 * also drops what librdkafka prefetched for it, which lets the records of
 * other partitions through. */

#define BACKPRESSURE_HIGH 4000
#define BACKPRESSURE_LOW  2000

/* The clock is read after every record of a slow handler, and after up
 * to MAX_CHECK_EVERY records of a fast one. */
#define MAX_CHECK_EVERY 64
#define FAST_US         100

typedef struct
{
  PbDispatch  parent;
  GQueue      ready;        /* PbPartition with records and nothing in flight */
  GQueue      completions;  /* PbHandling completed, to finish */
  guint       in_flight;
  guint       check_every;  /* records between two looks at the clock */
} PbDispatchSingle;

static void
ready_add (PbDispatchSingle *self,
           PbPartition      *p)
{
  if (!p->in_ready)
    {
      g_queue_push_tail_link (&self->ready, &p->ready_link);
      p->in_ready = TRUE;
    }
}

static void
ready_remove (PbDispatchSingle *self,
              PbPartition      *p)
{
  if (p->in_ready)
    {
      g_queue_unlink (&self->ready, &p->ready_link);
      p->in_ready = FALSE;
    }
}

static void
single_offer (PbDispatch         *dispatch,
              PbPartition        *p,
              rd_kafka_message_t *rkm)
{
  PbDispatchSingle *self = (PbDispatchSingle *)dispatch;

  _pb_ring_push (&p->fifo, rkm);

  if (p->current == NULL && !_pb_partition_is_held (p))
    ready_add (self, p);

  if (G_UNLIKELY (p->fifo.length >= BACKPRESSURE_HIGH))
    _pb_partition_pause (dispatch->setup.partitions, p, PB_PAUSE_BACKPRESSURE);
}

static void
single_adopt (PbDispatch  *dispatch,
              PbPartition *p)
{
  if (p->current == NULL && !_pb_partition_is_held (p))
    ready_add ((PbDispatchSingle *)dispatch, p);
}

static void
single_resume (PbDispatch  *dispatch,
               PbPartition *p)
{
  if (p->current == NULL && p->fifo.length > 0)
    ready_add ((PbDispatchSingle *)dispatch, p);
}

/* Heard from a main loop callback: the drain finishes it. */
static void
single_done (PbHandling *h,
             gpointer    user_data)
{
  PbDispatchSingle *self = user_data;

  g_queue_push_tail_link (&self->completions, &h->link);
  _pb_host_kick (self->parent.setup.host);
}

static void
end_current (PbDispatchSingle *self,
             PbPartition      *p)
{
  p->current = NULL;
  self->in_flight--;

  if (p->state == PB_PARTITION_ASSIGNED && p->fifo.length > 0 && !_pb_partition_is_held (p))
    ready_add (self, p);
}

static gboolean
single_drain (PbDispatch *dispatch,
              gboolean    start,
              gint64      deadline)
{
  PbDispatchSingle *self = (PbDispatchSingle *)dispatch;
  PbLifecycle *lifecycle = dispatch->setup.lifecycle;
  PbHandling *h;
  gint64 last_check = g_get_monotonic_time ();
  guint n = 0;

  while ((h = g_queue_peek_head (&self->completions)) != NULL)
    {
      PbPartition *p = h->partition;

      g_queue_unlink (&self->completions, &h->link);
      end_current (self, p);
      _pb_lifecycle_finish (lifecycle, h);
      _pb_handling_unref (h);
    }

  while (start && !dispatch->stopping &&
         self->in_flight < dispatch->max_in_flight &&
         self->ready.length > 0)
    {
      PbPartition *p = g_queue_peek_head (&self->ready);
      rd_kafka_message_t *rkm;

      if (++n >= self->check_every)
        {
          gint64 now = g_get_monotonic_time ();

          if (now - last_check < FAST_US)
            self->check_every = MIN (self->check_every * 2, MAX_CHECK_EVERY);
          else
            self->check_every = MAX (self->check_every / 2, 1);

          last_check = now;
          n = 0;

          if (now > deadline)
            return TRUE;
        }

      ready_remove (self, p);

      /* Held since it was made ready: it comes back when it may go on. */
      if (G_UNLIKELY (_pb_partition_is_held (p)))
        continue;

      /* A deserializer may have to prepare first: the partition waits. */
      if (G_UNLIKELY (p->topic->vfuncs & PB_HANDLER_VFUNC_DESERIALIZE) &&
          !_pb_lifecycle_ready (lifecycle, p, _pb_ring_peek (&p->fifo)))
        continue;

      rkm = _pb_ring_pop (&p->fifo);

      if ((p->pause_reasons & PB_PAUSE_BACKPRESSURE) && p->fifo.length <= BACKPRESSURE_LOW)
        _pb_partition_resume (dispatch->setup.partitions, p, PB_PAUSE_BACKPRESSURE);

      h = _pb_lifecycle_record (lifecycle, p, rkm, single_done, self);

      if (h != NULL)
        {
          /* The partition may have gone away while the handler ran (it
           * can iterate the main context). */
          if (h->epoch != p->epoch)
            {
              if (h->completed)
                g_queue_unlink (&self->completions, &h->link);
              _pb_lifecycle_abandon (lifecycle, h);
              _pb_handling_unref (h);
            }
          else
            {
              p->current = h;
              self->in_flight++;
            }
        }

      if (p->current == NULL && p->fifo.length > 0 && p->state == PB_PARTITION_ASSIGNED &&
          !_pb_partition_is_held (p))
        ready_add (self, p);
    }

  return FALSE;
}

static void
single_release (PbDispatch  *dispatch,
                PbPartition *p,
                gboolean     abandon)
{
  PbDispatchSingle *self = (PbDispatchSingle *)dispatch;
  PbHandling *h = p->current;

  ready_remove (self, p);
  _pb_partition_drop_queued (p);

  if (abandon && h != NULL)
    {
      p->current = NULL;
      self->in_flight--;
      if (h->completed)
        g_queue_unlink (&self->completions, &h->link);
      _pb_lifecycle_abandon (dispatch->setup.lifecycle, h);
      _pb_handling_unref (h);
    }
}

static gboolean
single_busy (PbDispatch  *dispatch,
             PbPartition *p)
{
  PbDispatchSingle *self = (PbDispatchSingle *)dispatch;

  return p != NULL ? p->current != NULL : self->in_flight > 0;
}

static void
single_free (PbDispatch *dispatch)
{
  PbDispatchSingle *self = (PbDispatchSingle *)dispatch;

  PbPartition *p;

  g_assert (self->in_flight == 0);
  g_assert (self->completions.length == 0);

  while ((p = g_queue_peek_head (&self->ready)) != NULL)
    ready_remove (self, p);

  g_free (self);
}

static const PbDispatchClass single_class = {
  .name = "single",
  .offer = single_offer,
  .adopt = single_adopt,
  .resume = single_resume,
  .drain = single_drain,
  .release = single_release,
  .busy = single_busy,
  .free = single_free,
};

PbDispatch *
_pb_dispatch_single_new (const PbDispatchSetup *setup)
{
  PbDispatchSingle *self = g_new0 (PbDispatchSingle, 1);

  self->parent.klass = &single_class;
  self->parent.setup = *setup;
  self->check_every = 1;

  return &self->parent;
}
