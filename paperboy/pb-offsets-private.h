/* pb-offsets-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-offsets-private.h is a private header of Paperboy."
#endif

#include "pb-barrier-private.h"
#include "pb-partition-private.h"

G_BEGIN_DECLS

/* The offsets of a run: what became committable since the last store,
 * stored in librdkafka once per dispatch for the partitions whose offset
 * moved; librdkafka commits what was stored.
 *
 * The barrier: with a producer, a record handled while some record
 * produced (a table's change, a handler's record) is not delivered yet
 * waits, with the producer's sequence number of that moment, until every
 * record up to it was delivered. */
typedef struct
{
  GQueue           dirty;      /* PbPartition, by dirty_link */
  GQueue           waiting;    /* PbWaiting, by sequence number */
  const PbBarrier *barrier;
} PbOffsets;

PbOffsets *_pb_offsets_new   (const PbBarrier *barrier);
/* Forgets what waits. */
void       _pb_offsets_free  (PbOffsets       *self);

void       _pb_offsets_wait  (PbOffsets       *self,
                              PbPartition     *p,
                              gint64           next_offset);

/* The record at @offset was handled (or skipped by the handler's
 * decision): the partition may commit past it. */
static inline void
_pb_offsets_mark_handled (PbOffsets   *self,
                          PbPartition *p,
                          gint64       offset)
{
  if (G_UNLIKELY (!_pb_barrier_is_settled (self->barrier)))
    {
      _pb_offsets_wait (self, p, offset + 1);
      return;
    }

  p->committable = offset + 1;

  if (!p->in_dirty)
    {
      g_queue_push_tail_link (&self->dirty, &p->dirty_link);
      p->in_dirty = TRUE;
    }
}

/* Lets past the barrier what waited for deliveries that came; says
 * whether something did. */
gboolean _pb_offsets_release   (PbOffsets                             *self);

/* The offsets that moved since the last time, for partitions still
 * assigned, or NULL; they count as stored from now on. */
rd_kafka_topic_partition_list_t *
         _pb_offsets_collect   (PbOffsets                             *self);
/* Stores what moved in @consumer. */
void     _pb_offsets_store     (PbOffsets                             *self,
                                PbConsumer                            *consumer);
/* A lost partition: whatever it handled is not stored any more. */
void     _pb_offsets_forget    (PbOffsets                             *self,
                                PbPartition                           *p);
/* Records what a commit reported. */
void     _pb_offsets_committed (PbPartitionMap                        *partitions,
                                rd_kafka_resp_err_t                    err,
                                const rd_kafka_topic_partition_list_t *offsets);

G_END_DECLS
