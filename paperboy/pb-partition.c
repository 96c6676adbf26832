/* pb-partition.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-partition-private.h"

#include <string.h>

/* A lost pause is issued again at most this often per partition. */
#define REPAUSE_INTERVAL_US (100 * 1000)

/* The partitions of one topic, indexed by number (with holes: a member
 * of a group may own partition 3 and not 0). */
typedef struct
{
  PbTopic          *topic;
  rd_kafka_topic_t *rkt;
  GPtrArray        *partitions;
} TopicPartitions;

struct _PbPartitionMap
{
  PbConsumer       *consumer;
  PbHost           *host;
  PbPartitionFunc   resume;
  gpointer          user_data;
  GPtrArray        *topics;       /* TopicPartitions */
  PbPauseReasons    all_reasons;  /* added to every partition */

  const rd_kafka_topic_t *last_rkt;  /* lookup cache */
  TopicPartitions        *last;
};

void
_pb_ring_clear (PbRing *ring)
{
  rd_kafka_message_t *rkm;

  while ((rkm = _pb_ring_pop (ring)) != NULL)
    rd_kafka_message_destroy (rkm);

  g_clear_pointer (&ring->items, g_free);
  ring->capacity = 0;
  ring->head = 0;
}

static void
partition_free (PbPartition *p)
{
  /* Holes in the array are NULL. */
  if (p == NULL)
    return;

  _pb_ring_clear (&p->fifo);
  g_clear_object (&p->cancellable);
  g_clear_error (&p->prepare_error);
  g_free (p);
}

static void
topic_partitions_free (TopicPartitions *tp)
{
  g_ptr_array_unref (tp->partitions);
  g_free (tp);
}

PbPartitionMap *
_pb_partition_map_new (GPtrArray       *topics,
                       PbConsumer      *consumer,
                       PbHost          *host,
                       PbPartitionFunc  resume,
                       gpointer         user_data)
{
  PbPartitionMap *self = g_new0 (PbPartitionMap, 1);

  self->consumer = consumer;
  self->host = host;
  self->resume = resume;
  self->user_data = user_data;
  self->topics = g_ptr_array_new_with_free_func ((GDestroyNotify) topic_partitions_free);

  for (guint i = 0; i < topics->len; i++)
    {
      TopicPartitions *tp = g_new0 (TopicPartitions, 1);

      tp->topic = g_ptr_array_index (topics, i);
      tp->rkt = _pb_consumer_topic_new (consumer, tp->topic->name);
      tp->partitions = g_ptr_array_new_with_free_func ((GDestroyNotify) partition_free);
      g_ptr_array_add (self->topics, tp);
    }

  return self;
}

void
_pb_partition_map_free (PbPartitionMap *self)
{
  if (self == NULL)
    return;

  g_ptr_array_unref (self->topics);
  g_free (self);
}

static TopicPartitions *
find_topic (PbPartitionMap *self,
            const char     *name)
{
  for (guint i = 0; i < self->topics->len; i++)
    {
      TopicPartitions *tp = g_ptr_array_index (self->topics, i);

      if (strcmp (tp->topic->name, name) == 0)
        return tp;
    }

  return NULL;
}

PbPartition *
_pb_partition_map_find (PbPartitionMap *self,
                        const char     *topic,
                        int             id)
{
  TopicPartitions *tp = find_topic (self, topic);

  if (tp == NULL || id < 0 || (guint)id >= tp->partitions->len)
    return NULL;

  return g_ptr_array_index (tp->partitions, id);
}

/* What an assignment starts from. */
static void
reset (PbPartition *p)
{
  p->committable = -1;
  p->stored = -1;
  p->committed = -1;
  p->polled_from = -1;
  p->step_end = -1;
  p->eof = -1;
  p->prepared_at = -1;
  p->repaused_at = 0;
  p->prepared = 0;
  p->capturing = FALSE;
  p->preparing = FALSE;
  g_clear_error (&p->prepare_error);
}

PbPartition *
_pb_partition_map_get (PbPartitionMap *self,
                       const char     *topic,
                       int             id)
{
  TopicPartitions *tp = find_topic (self, topic);
  PbPartition *p;

  if (tp == NULL || id < 0)
    return NULL;

  if ((guint)id >= tp->partitions->len)
    g_ptr_array_set_size (tp->partitions, id + 1);

  p = g_ptr_array_index (tp->partitions, id);
  if (p == NULL)
    {
      p = g_new0 (PbPartition, 1);
      p->topic = tp->topic;
      p->id = id;
      reset (p);
      p->pause_reasons = self->all_reasons;
      p->ready_link.data = p;
      p->dirty_link.data = p;
      g_ptr_array_index (tp->partitions, id) = p;
    }

  return p;
}

PbPartition *
_pb_partition_map_lookup (PbPartitionMap           *self,
                          const rd_kafka_message_t *rkm)
{
  TopicPartitions *tp;

  if (G_LIKELY (rkm->rkt == self->last_rkt))
    tp = self->last;
  else
    {
      tp = NULL;
      for (guint i = 0; i < self->topics->len; i++)
        {
          TopicPartitions *candidate = g_ptr_array_index (self->topics, i);

          if (candidate->rkt == rkm->rkt)
            {
              tp = candidate;
              break;
            }
        }

      if (tp == NULL)
        tp = find_topic (self, rd_kafka_topic_name (rkm->rkt));

      self->last_rkt = rkm->rkt;
      self->last = tp;
    }

  if (G_UNLIKELY (tp == NULL || rkm->partition < 0 ||
                  (guint)rkm->partition >= tp->partitions->len))
    return NULL;

  return g_ptr_array_index (tp->partitions, rkm->partition);
}

void
_pb_partition_map_foreach (PbPartitionMap  *self,
                           PbPartitionFunc  func,
                           gpointer         user_data)
{
  for (guint i = 0; i < self->topics->len; i++)
    {
      TopicPartitions *tp = g_ptr_array_index (self->topics, i);

      for (guint j = 0; j < tp->partitions->len; j++)
        {
          PbPartition *p = g_ptr_array_index (tp->partitions, j);

          if (p != NULL)
            func (p, user_data);
        }
    }
}

/* A pause or a resume that comes while librdkafka starts fetching a newly
 * assigned partition can make it drop that start, and the partition is
 * never fetched, without a word (librdkafka #2190 and #5591, in every
 * version so far; 2.4.0 made a resume of a partition that is not paused a
 * no-op). So librdkafka is told of a pause once the partition's fetch
 * started, that is once a first record of it was polled (the run issues
 * the pause then, and the records polled meanwhile wait), and of a resume
 * only when it has the partition paused. */
static void
set_paused (PbPartitionMap *self,
            PbPartition    *p,
            gboolean        paused)
{
  rd_kafka_topic_partition_list_t *list;

  if (paused ? p->polled_from < 0 : !p->rk_paused)
    return;

  list = rd_kafka_topic_partition_list_new (1);

  rd_kafka_topic_partition_list_add (list, p->topic->name, p->id);
  _pb_consumer_set_paused (self->consumer, list, paused);
  rd_kafka_topic_partition_list_destroy (list);
  p->rk_paused = paused;
}

/* librdkafka's flag is only touched when the set goes from empty to not,
 * or back, and only for an assigned partition. */
void
_pb_partition_pause (PbPartitionMap *self,
                     PbPartition    *p,
                     PbPauseReasons  reason)
{
  gboolean was_paused = p->pause_reasons != 0;

  p->pause_reasons |= reason;

  if (!was_paused && p->state == PB_PARTITION_ASSIGNED)
    set_paused (self, p, TRUE);
}

void
_pb_partition_resume (PbPartitionMap *self,
                      PbPartition    *p,
                      PbPauseReasons  reason)
{
  gboolean was_paused = p->pause_reasons != 0;
  gboolean was_held = _pb_partition_is_held (p);

  p->pause_reasons &= ~reason;

  if (p->state != PB_PARTITION_ASSIGNED)
    return;

  if (was_paused && p->pause_reasons == 0)
    set_paused (self, p, FALSE);

  /* What was polled meanwhile may go on now. */
  if (was_held && !_pb_partition_is_held (p) && p->fifo.length > 0)
    self->resume (p, self->user_data);
}

void
_pb_partition_repause (PbPartitionMap *self,
                       PbPartition    *p)
{
  gint64 now = g_get_monotonic_time ();

  if (p->state != PB_PARTITION_ASSIGNED || now - p->repaused_at < REPAUSE_INTERVAL_US)
    return;

  if (p->rk_paused)
    g_debug ("%s[%d] is paused, but librdkafka fetched it: pausing it again",
             p->topic->name, p->id);
  p->repaused_at = now;
  set_paused (self, p, TRUE);
}

static void
pause_all_cb (PbPartition *p,
              gpointer     user_data)
{
  PbPartitionMap *self = user_data;

  _pb_partition_pause (self, p, self->all_reasons);
}

void
_pb_partition_map_pause_all (PbPartitionMap *self,
                             PbPauseReasons  reason)
{
  self->all_reasons |= reason;
  _pb_partition_map_foreach (self, pause_all_cb, self);
}

void
_pb_partition_map_unpause (PbPartitionMap                        *self,
                           const rd_kafka_topic_partition_list_t *partitions)
{
  rd_kafka_topic_partition_list_t *resumed = rd_kafka_topic_partition_list_new (partitions->cnt);

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self, partitions->elems[i].topic,
                                               partitions->elems[i].partition);

      if (p != NULL && p->rk_paused)
        {
          rd_kafka_topic_partition_list_add (resumed, p->topic->name, p->id);
          p->rk_paused = FALSE;
        }
    }

  _pb_consumer_set_paused (self->consumer, resumed, FALSE);
  rd_kafka_topic_partition_list_destroy (resumed);
}

void
_pb_partition_drop_queued (PbPartition *p)
{
  rd_kafka_message_t *rkm;

  while ((rkm = _pb_ring_pop (&p->fifo)) != NULL)
    rd_kafka_message_destroy (rkm);
}

void
_pb_partition_assign (PbPartitionMap *self,
                      PbPartition    *p)
{
  p->state = PB_PARTITION_ASSIGNED;
  p->epoch++;
  reset (p);
  p->pause_reasons &= ~PB_PAUSE_TRANSIENT;
  if (p->cancellable == NULL)
    p->cancellable = g_cancellable_new ();
}

void
_pb_partition_unassign (PbPartitionMap *self,
                        PbPartition    *p)
{
  _pb_partition_cancel (self, p);
  p->state = PB_PARTITION_UNASSIGNED;
  p->epoch++;
}

void
_pb_partition_cancel (PbPartitionMap *self,
                      PbPartition    *p)
{
  if (p->cancellable == NULL)
    return;

  _pb_host_cancel_later (self->host, p->cancellable);
  g_object_unref (p->cancellable);
  p->cancellable = g_cancellable_new ();
}
