/* pb-offsets.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-offsets-private.h"

typedef struct
{
  PbPartition *p;
  guint        epoch;
  gint64       next_offset;
  guint64      seq;
} PbWaiting;

PbOffsets *
_pb_offsets_new (const PbBarrier *barrier)
{
  PbOffsets *self = g_new0 (PbOffsets, 1);

  self->barrier = barrier;

  return self;
}

void
_pb_offsets_free (PbOffsets *self)
{
  PbWaiting *waiting;

  if (self == NULL)
    return;

  /* The partitions outlive their offsets: the dirty queue's links are
   * theirs. */
  while ((waiting = g_queue_pop_head (&self->waiting)) != NULL)
    {
      waiting->p->barrier--;
      g_free (waiting);
    }

  g_free (self);
}

void
_pb_offsets_wait (PbOffsets   *self,
                  PbPartition *p,
                  gint64       next_offset)
{
  PbWaiting *waiting = g_new (PbWaiting, 1);

  waiting->p = p;
  waiting->epoch = p->epoch;
  waiting->next_offset = next_offset;
  waiting->seq = self->barrier->issued;
  g_queue_push_tail (&self->waiting, waiting);
  p->barrier++;
}

gboolean
_pb_offsets_release (PbOffsets *self)
{
  PbWaiting *waiting;
  gboolean released = FALSE;

  while ((waiting = g_queue_peek_head (&self->waiting)) != NULL &&
         waiting->seq <= self->barrier->delivered)
    {
      PbPartition *p = waiting->p;

      g_queue_pop_head (&self->waiting);
      p->barrier--;

      if (p->epoch == waiting->epoch)
        {
          p->committable = MAX (p->committable, waiting->next_offset);
          if (!p->in_dirty)
            {
              g_queue_push_tail_link (&self->dirty, &p->dirty_link);
              p->in_dirty = TRUE;
            }
          released = TRUE;
        }

      g_free (waiting);
    }

  return released;
}

rd_kafka_topic_partition_list_t *
_pb_offsets_collect (PbOffsets *self)
{
  rd_kafka_topic_partition_list_t *list;
  PbPartition *p;

  if (self->dirty.length == 0)
    return NULL;

  list = rd_kafka_topic_partition_list_new (self->dirty.length);

  while ((p = g_queue_peek_head (&self->dirty)) != NULL)
    {
      g_queue_unlink (&self->dirty, &p->dirty_link);
      p->in_dirty = FALSE;

      if (p->state != PB_PARTITION_UNASSIGNED && p->committable > p->stored)
        {
          rd_kafka_topic_partition_list_add (list, p->topic->name, p->id)->offset = p->committable;
          p->stored = p->committable;
        }
    }

  if (list->cnt == 0)
    g_clear_pointer (&list, rd_kafka_topic_partition_list_destroy);

  return list;
}

void
_pb_offsets_store (PbOffsets  *self,
                   PbConsumer *consumer)
{
  rd_kafka_topic_partition_list_t *list = _pb_offsets_collect (self);

  if (list != NULL)
    {
      _pb_consumer_store (consumer, list);
      rd_kafka_topic_partition_list_destroy (list);
    }
}

void
_pb_offsets_forget (PbOffsets   *self,
                    PbPartition *p)
{
  if (p->in_dirty)
    {
      g_queue_unlink (&self->dirty, &p->dirty_link);
      p->in_dirty = FALSE;
    }
}

void
_pb_offsets_committed (PbPartitionMap                        *partitions,
                       rd_kafka_resp_err_t                    err,
                       const rd_kafka_topic_partition_list_t *offsets)
{
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return;

  for (int i = 0; offsets != NULL && i < offsets->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (partitions, offsets->elems[i].topic,
                                               offsets->elems[i].partition);

      if (p != NULL && offsets->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          offsets->elems[i].offset >= 0)
        {
          p->committed = MAX (p->committed, offsets->elems[i].offset);
          g_debug ("Committed %s[%d]@%" G_GINT64_FORMAT,
                   offsets->elems[i].topic, (int)offsets->elems[i].partition,
                   (gint64)offsets->elems[i].offset);
        }
    }
}
