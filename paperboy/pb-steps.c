/* pb-steps.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-steps-private.h"

#include "pb-dispatch-private.h"
#include "pb-mode-private.h"

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

typedef struct
{
  PbRun                           *run;
  PbKafkaHandle                   *handle;
  rd_kafka_topic_partition_list_t *list;      /* opaque: the partition's epoch */
  rd_kafka_resp_err_t              err;
} Capture;

static void capture (PbRun                           *run,
                     rd_kafka_topic_partition_list_t *list);

static void
capture_free (Capture *c)
{
  _pb_run_unref (c->run);
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

static gboolean
retry_cb (gpointer user_data)
{
  PbRun *run = user_data;

  g_clear_pointer (&run->steps.retry, g_source_unref);
  _pb_run_kick (run);

  return G_SOURCE_REMOVE;
}

static void
captured_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  Capture *c = g_task_get_task_data (G_TASK (result));
  PbRun *run = c->run;

  run->steps.captures--;
  if (run->finished || run->partitions == NULL)
    return;

  for (int i = 0; i < c->list->cnt; i++)
    {
      rd_kafka_topic_partition_t *elem = &c->list->elems[i];
      PbPartition *p = _pb_partition_map_find (run->partitions, elem->topic, elem->partition);
      rd_kafka_resp_err_t err = c->err != RD_KAFKA_RESP_ERR_NO_ERROR ? c->err : elem->err;

      if (p == NULL || p->epoch != GPOINTER_TO_UINT (elem->opaque) ||
          p->state != PB_PARTITION_ASSIGNED)
        continue;

      p->capturing = FALSE;

      if (err == RD_KAFKA_RESP_ERR_NO_ERROR && elem->offset >= 0)
        {
          p->step_end = elem->offset;
          g_debug ("Step %d: %s[%d] ends at %" G_GINT64_FORMAT,
                   run->steps.current, elem->topic, (int)elem->partition, (gint64)elem->offset);
        }
      else
        {
          /* Tried again from the next check. */
          g_warning ("Cannot get the end offset of %s[%d]: %s",
                     elem->topic, (int)elem->partition, rd_kafka_err2str (err));
          if (run->steps.retry == NULL)
            run->steps.retry = _pb_timeout_source_new (run->context, CAPTURE_RETRY_MS,
                                                       G_PRIORITY_DEFAULT, "[paperboy] step end",
                                                       retry_cb, run, NULL);
        }
    }

  _pb_run_kick (run);
}

static void
capture (PbRun                           *run,
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
  c->run = _pb_run_ref (run);
  c->handle = _pb_kafka_handle_ref (_pb_consumer_get_handle (run->consumer));
  c->list = list;

  run->steps.captures++;
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

void
_pb_steps_start (PbRun *run)
{
  run->steps.current = run->settings.n_steps > 0 ? 0 : -1;
  run->steps.started = FALSE;
}

void
_pb_steps_stop (PbRun *run)
{
  _pb_clear_source (&run->steps.retry);
}

void
_pb_steps_assigned (PbRun                                 *run,
                    const rd_kafka_topic_partition_list_t *partitions)
{
  rd_kafka_topic_partition_list_t *list;
  int current = run->steps.current;

  if (run->settings.n_steps == 0)
    return;

  list = rd_kafka_topic_partition_list_new (partitions->cnt);

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (run->partitions, partitions->elems[i].topic,
                                               partitions->elems[i].partition);

      if (p == NULL || p->state != PB_PARTITION_ASSIGNED)
        continue;

      if (current >= 0 && (int)p->topic->step > current)
        p->pause_reasons |= PB_PAUSE_STEP;
      else
        p->pause_reasons &= ~PB_PAUSE_STEP;

      if (current >= 0 && run->steps.started && (int)p->topic->step == current)
        add_to_capture (list, p);
    }

  capture (run, list);
}

void
_pb_steps_eof (PbRun      *run,
               const char *topic,
               int         partition,
               gint64      offset)
{
  PbPartition *p;

  if (run->steps.current < 0 || run->partitions == NULL)
    return;

  p = _pb_partition_map_find (run->partitions, topic, partition);
  if (p != NULL && p->state == PB_PARTITION_ASSIGNED && offset > p->eof)
    {
      p->eof = offset;
      _pb_run_kick (run);
    }
}

typedef struct
{
  PbRun                           *run;
  rd_kafka_topic_partition_list_t *list;
  gboolean                         done;
} StepWalk;

static void
begin_cb (PbPartition *p,
          gpointer     user_data)
{
  StepWalk *walk = user_data;
  PbRun *run = walk->run;

  if (p->state != PB_PARTITION_ASSIGNED || (int)p->topic->step > run->steps.current)
    return;

  if (p->pause_reasons & PB_PAUSE_STEP)
    _pb_partition_resume (run->partitions, p, PB_PAUSE_STEP);

  if ((int)p->topic->step == run->steps.current)
    add_to_capture (walk->list, p);
}

static void
begin_step (PbRun *run)
{
  StepWalk walk = { run, rd_kafka_topic_partition_list_new (8), TRUE };

  run->steps.started = TRUE;
  g_info ("Step %d of %u begins", run->steps.current, run->settings.n_steps);
  _pb_run_emit_step (run, run->steps.current, TRUE);

  _pb_partition_map_foreach (run->partitions, begin_cb, &walk);
  capture (run, walk.list);
}

static gboolean
partition_done (PbRun       *run,
                PbPartition *p)
{
  if (p->capturing || p->step_end < 0)
    return FALSE;

  if (p->committable >= p->step_end)
    return TRUE;

  return p->eof >= p->step_end && p->fifo.length == 0 &&
         !run->dispatch->klass->busy (run->dispatch, p);
}

static void
done_cb (PbPartition *p,
         gpointer     user_data)
{
  StepWalk *walk = user_data;
  PbRun *run = walk->run;

  if (p->state != PB_PARTITION_ASSIGNED || (int)p->topic->step != run->steps.current)
    return;

  /* A failed capture is tried again. */
  if (!p->capturing && p->step_end < 0 && run->steps.retry == NULL)
    add_to_capture (walk->list, p);

  if (!partition_done (run, p))
    walk->done = FALSE;
}

static void
resume_all_cb (PbPartition *p,
               gpointer     user_data)
{
  PbRun *run = user_data;

  if (p->pause_reasons & PB_PAUSE_STEP)
    _pb_partition_resume (run->partitions, p, PB_PAUSE_STEP);
}

void
_pb_steps_check (PbRun *run)
{
  while (run->steps.current >= 0 && !run->stop_requested && run->partitions != NULL &&
         run->state == PB_ENGINE_STATE_RUNNING)
    {
      StepWalk walk = { run, rd_kafka_topic_partition_list_new (0), TRUE };

      if (!run->steps.started)
        begin_step (run);

      _pb_partition_map_foreach (run->partitions, done_cb, &walk);
      capture (run, walk.list);
      if (!walk.done)
        return;

      g_info ("Step %d of %u is over", run->steps.current, run->settings.n_steps);
      _pb_run_emit_step (run, run->steps.current, FALSE);
      run->steps.started = FALSE;

      if ((guint)++run->steps.current == run->settings.n_steps)
        {
          run->steps.current = -1;
          _pb_partition_map_foreach (run->partitions, resume_all_cb, run);
          _pb_mode_steps_over (run);
        }
    }
}
