/* pb-steps.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-steps-private.h"

/* Steps: the topics of step k are handled (in Bulk mode) up to the end
 * offsets captured when the step began, before the records of the topics of
 * later steps, whose partitions stay paused (reason STEP) meanwhile. Steps
 * are cumulative: the topics of earlier steps keep being consumed. The
 * consumer stays in its group: a partition of the current step assigned
 * later gets its end captured then, one given up leaves the step.
 *
 * End offsets come from one rd_kafka_offsets_for_times() call (timestamp
 * -1: the end) in a worker thread. A partition is done when its handled
 * position reached its end, or when the consumer reported its end (EOF) at
 * or beyond it and everything polled before was handled: an empty
 * partition has no position. */

#define CAPTURE_TIMEOUT_MS 10000
#define CAPTURE_RETRY_MS   1000

struct _PbSteps
{
  PbHost                 *host;
  PbConsumer             *consumer;
  PbPartitionMap         *partitions;
  guint                   n_steps;
  const PbStepsCallbacks *callbacks;
  gpointer                user_data;

  int                     current;   /* the step, or -1 once through them all */
  gboolean                started;   /* the current step began */
  GQueue                  captures;  /* Capture, in flight */
  PbDeadline              retry;     /* a failed capture, tried again */
};

/* One end capture, in a worker thread: its own data, which the steps
 * forget when they end (the result is then dropped). */
typedef struct
{
  PbSteps                         *steps;     /* NULL once abandoned */
  PbKafkaHandle                   *handle;
  rd_kafka_topic_partition_list_t *list;      /* opaque: the partition's epoch */
  rd_kafka_resp_err_t              err;
  GList                            link;
} Capture;

static void
capture_free (Capture *c)
{
  g_clear_pointer (&c->handle, _pb_kafka_handle_unref);
  rd_kafka_topic_partition_list_destroy (c->list);
  g_free (c);
}

static void
capture_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  Capture *c = task_data;

  c->err = rd_kafka_offsets_for_times (_pb_kafka_handle_get (c->handle), c->list,
                                       CAPTURE_TIMEOUT_MS);
  /* Here: the last reference, when the run ended meanwhile, destroys the
   * consumer, which blocks. */
  g_clear_pointer (&c->handle, _pb_kafka_handle_unref);
  g_task_return_boolean (task, TRUE);
}

static void
captured_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  Capture *c = g_task_get_task_data (G_TASK (result));
  PbSteps *self = c->steps;

  if (self == NULL)
    return;

  g_queue_unlink (&self->captures, &c->link);

  for (int i = 0; i < c->list->cnt; i++)
    {
      rd_kafka_topic_partition_t *elem = &c->list->elems[i];
      PbPartition *p = _pb_partition_map_find (self->partitions, elem->topic, elem->partition);
      rd_kafka_resp_err_t err = c->err != RD_KAFKA_RESP_ERR_NO_ERROR ? c->err : elem->err;

      if (p == NULL || p->epoch != GPOINTER_TO_UINT (elem->opaque) ||
          p->state != PB_PARTITION_ASSIGNED)
        continue;

      p->capturing = FALSE;

      if (err == RD_KAFKA_RESP_ERR_NO_ERROR && elem->offset >= 0)
        {
          p->step_end = elem->offset;
          g_debug ("Step %d: %s[%d] ends at %" G_GINT64_FORMAT,
                   self->current, elem->topic, (int)elem->partition, (gint64)elem->offset);
        }
      else
        {
          /* Tried again from the next check. */
          g_warning ("Cannot get the end offset of %s[%d]: %s",
                     elem->topic, (int)elem->partition, rd_kafka_err2str (err));
          _pb_deadline_start (&self->retry, self->host, CAPTURE_RETRY_MS, "[paperboy] step end");
        }
    }

  _pb_host_kick (self->host);
}

static void
capture (PbSteps                         *self,
         rd_kafka_topic_partition_list_t *list)
{
  g_autoptr(GTask) task = NULL;
  Capture *c;

  if (list->cnt == 0)
    {
      rd_kafka_topic_partition_list_destroy (list);
      return;
    }

  c = g_new0 (Capture, 1);
  c->steps = self;
  c->handle = _pb_kafka_handle_ref (_pb_consumer_get_handle (self->consumer));
  c->list = list;
  c->link.data = c;
  g_queue_push_tail_link (&self->captures, &c->link);

  task = g_task_new (NULL, NULL, captured_cb, NULL);
  g_task_set_source_tag (task, capture);
  g_task_set_task_data (task, c, (GDestroyNotify) capture_free);
  g_task_run_in_thread (task, capture_thread);
}

/* @p, of the current step, gets its end captured. */
static void
add_to_capture (rd_kafka_topic_partition_list_t *list,
                PbPartition                     *p)
{
  rd_kafka_topic_partition_t *elem = rd_kafka_topic_partition_list_add (list, p->topic->name, p->id);

  elem->offset = -1;   /* the time of the latest record: the end */
  elem->opaque = GUINT_TO_POINTER (p->epoch);
  p->capturing = TRUE;
  p->step_end = -1;
}

PbSteps *
_pb_steps_new (PbHost                 *host,
               PbConsumer             *consumer,
               PbPartitionMap         *partitions,
               guint                   n_steps,
               const PbStepsCallbacks *callbacks,
               gpointer                user_data)
{
  PbSteps *self = g_new0 (PbSteps, 1);

  self->host = host;
  self->consumer = consumer;
  self->partitions = partitions;
  self->n_steps = n_steps;
  self->callbacks = callbacks;
  self->user_data = user_data;
  self->current = n_steps > 0 ? 0 : -1;

  return self;
}

void
_pb_steps_free (PbSteps *self)
{
  Capture *c;

  if (self == NULL)
    return;

  while ((c = g_queue_peek_head (&self->captures)) != NULL)
    {
      g_queue_unlink (&self->captures, &c->link);
      c->steps = NULL;
    }

  _pb_deadline_clear (&self->retry);
  g_free (self);
}

int
_pb_steps_get_current (PbSteps *self)
{
  return self->current;
}

void
_pb_steps_eof (PbSteps    *self,
               const char *topic,
               int         partition,
               gint64      offset)
{
  PbPartition *p;

  if (self->current < 0)
    return;

  p = _pb_partition_map_find (self->partitions, topic, partition);
  if (p != NULL && p->state == PB_PARTITION_ASSIGNED && offset > p->eof)
    {
      p->eof = offset;
      _pb_host_kick (self->host);
    }
}

typedef struct
{
  PbSteps                         *steps;
  rd_kafka_topic_partition_list_t *list;
  gboolean                         done;
} StepWalk;

static void
begin_cb (PbPartition *p,
          gpointer     user_data)
{
  StepWalk *walk = user_data;
  PbSteps *self = walk->steps;

  if (p->state != PB_PARTITION_ASSIGNED || (int)p->topic->step > self->current)
    return;

  if (p->pause_reasons & PB_PAUSE_STEP)
    _pb_partition_resume (self->partitions, p, PB_PAUSE_STEP);

  if ((int)p->topic->step == self->current)
    add_to_capture (walk->list, p);
}

static void
begin_step (PbSteps *self)
{
  StepWalk walk = { self, rd_kafka_topic_partition_list_new (8), TRUE };

  self->started = TRUE;
  g_info ("Step %d of %u begins", self->current, self->n_steps);
  _pb_host_emit (self->host, PB_EVENT_STEP, self->current, TRUE, NULL);

  _pb_partition_map_foreach (self->partitions, begin_cb, &walk);
  capture (self, walk.list);
}

void
_pb_steps_assigned (PbSteps                               *self,
                    const rd_kafka_topic_partition_list_t *partitions)
{
  rd_kafka_topic_partition_list_t *list;
  int current = self->current;

  if (self->n_steps == 0)
    return;

  list = rd_kafka_topic_partition_list_new (partitions->cnt);

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self->partitions, partitions->elems[i].topic,
                                               partitions->elems[i].partition);

      if (p == NULL || p->state != PB_PARTITION_ASSIGNED)
        continue;

      if (current >= 0 && (int)p->topic->step > current)
        p->pause_reasons |= PB_PAUSE_STEP;
      else
        p->pause_reasons &= ~PB_PAUSE_STEP;

      if (current >= 0 && self->started && (int)p->topic->step == current)
        add_to_capture (list, p);
    }

  capture (self, list);

  /* The first step begins with the first assignment, before any record
   * of it is polled: its step-started signal comes first. */
  if (current >= 0 && !self->started)
    begin_step (self);
}

static gboolean
partition_done (PbSteps     *self,
                PbPartition *p)
{
  if (p->capturing || p->step_end < 0)
    return FALSE;

  if (p->committable >= p->step_end)
    return TRUE;

  return p->eof >= p->step_end && p->fifo.length == 0 &&
         !self->callbacks->busy (self->user_data, p);
}

static void
done_cb (PbPartition *p,
         gpointer     user_data)
{
  StepWalk *walk = user_data;
  PbSteps *self = walk->steps;

  if (p->state != PB_PARTITION_ASSIGNED || (int)p->topic->step != self->current)
    return;

  /* A failed capture is tried again. */
  if (!p->capturing && p->step_end < 0 && !_pb_deadline_running (&self->retry))
    add_to_capture (walk->list, p);

  if (!partition_done (self, p))
    walk->done = FALSE;
}

static void
resume_all_cb (PbPartition *p,
               gpointer     user_data)
{
  PbSteps *self = user_data;

  if (p->pause_reasons & PB_PAUSE_STEP)
    _pb_partition_resume (self->partitions, p, PB_PAUSE_STEP);
}

void
_pb_steps_check (PbSteps *self)
{
  while (self->current >= 0)
    {
      StepWalk walk = { self, rd_kafka_topic_partition_list_new (0), TRUE };

      if (!self->started)
        begin_step (self);

      _pb_partition_map_foreach (self->partitions, done_cb, &walk);
      capture (self, walk.list);
      if (!walk.done)
        return;

      g_info ("Step %d of %u is over", self->current, self->n_steps);
      _pb_host_emit (self->host, PB_EVENT_STEP, self->current, FALSE, NULL);
      self->started = FALSE;

      if ((guint)++self->current == self->n_steps)
        {
          self->current = -1;
          _pb_partition_map_foreach (self->partitions, resume_all_cb, self);
          self->callbacks->over (self->user_data);
        }
    }
}
