/* pb-partition-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-partition-private.h is a private header of Paperboy."
#endif

#include <gio/gio.h>
#include <librdkafka/rdkafka.h>

#include "pb-consumer-private.h"
#include "pb-host-private.h"
#include "pb-topic-private.h"

G_BEGIN_DECLS

typedef enum
{
  PB_PARTITION_UNASSIGNED,
  PB_PARTITION_ASSIGNED,
  PB_PARTITION_REVOKING,
} PbPartitionState;

/* Why a partition is paused. librdkafka's pause flag is set exactly when
 * the set is not empty. */
typedef enum
{
  PB_PAUSE_STEP         = 1 << 0,
  PB_PAUSE_BACKPRESSURE = 1 << 1,
  PB_PAUSE_RETRY        = 1 << 2,
  PB_PAUSE_RESTORE      = 1 << 3,
  PB_PAUSE_DESERIALIZER = 1 << 4,
  PB_PAUSE_USER         = 1 << 5,
  PB_PAUSE_STOP         = 1 << 6,
} PbPauseReasons;

/* Reasons that belong to one assignment and end with it. */
#define PB_PAUSE_TRANSIENT (PB_PAUSE_BACKPRESSURE | PB_PAUSE_RETRY | PB_PAUSE_RESTORE | \
                            PB_PAUSE_DESERIALIZER)

/* Reasons for which the records already polled wait too; the others
 * (back-pressure) only stop the fetching. */
#define PB_PAUSE_HOLD (PB_PAUSE_STEP | PB_PAUSE_RETRY | PB_PAUSE_RESTORE | \
                       PB_PAUSE_DESERIALIZER | PB_PAUSE_USER | PB_PAUSE_STOP)

/* Records polled and not handled yet, in order: a growable ring. */
typedef struct
{
  rd_kafka_message_t **items;
  guint                capacity;  /* a power of two, or 0 */
  guint                head;
  guint                length;
} PbRing;

void _pb_ring_clear (PbRing *ring);

static inline void
_pb_ring_grow (PbRing *ring)
{
  guint capacity = MAX (ring->capacity * 2, 64);
  rd_kafka_message_t **items = g_new (rd_kafka_message_t *, capacity);

  for (guint i = 0; i < ring->length; i++)
    items[i] = ring->items[(ring->head + i) & (ring->capacity - 1)];

  g_free (ring->items);
  ring->items = items;
  ring->capacity = capacity;
  ring->head = 0;
}

static inline void
_pb_ring_push (PbRing             *ring,
               rd_kafka_message_t *rkm)
{
  if (G_UNLIKELY (ring->length == ring->capacity))
    _pb_ring_grow (ring);

  ring->items[(ring->head + ring->length++) & (ring->capacity - 1)] = rkm;
}

static inline rd_kafka_message_t *
_pb_ring_peek (PbRing *ring)
{
  return ring->length > 0 ? ring->items[ring->head] : NULL;
}

static inline rd_kafka_message_t *
_pb_ring_pop (PbRing *ring)
{
  rd_kafka_message_t *rkm;

  if (ring->length == 0)
    return NULL;

  rkm = ring->items[ring->head];
  ring->head = (ring->head + 1) & (ring->capacity - 1);
  ring->length--;

  return rkm;
}

typedef struct _PbHandling PbHandling;

/* One assigned (or once assigned) partition of a run: the record the
 * run's parts share about it. The map owns it; each part keeps to its own
 * fields. */
typedef struct
{
  PbTopic          *topic;
  int               id;
  PbPartitionState  state;
  guint             epoch;         /* bumped on every assign and release */

  PbRing            fifo;          /* polled, not handled */
  PbHandling       *current;       /* the asynchronous handling in flight */
  gint64            committable;   /* the offset to commit next, or -1 */
  gint64            stored;        /* the offset last stored, or -1 */
  gint64            committed;     /* the offset last committed, or -1 */
  gint64            polled_from;   /* the first offset polled since assigned, or -1 */
  gint64            step_end;      /* the end captured for its step, or -1 */
  gint64            eof;           /* where the consumer last reached its end, or -1 */
  gint64            prepared_at;   /* the record the deserializers prepared for, or -1 */
  GError           *prepare_error; /* what preparing it failed with */
  GCancellable     *cancellable;
  PbPauseReasons    pause_reasons;
  guint             barrier;       /* handled records waiting for deliveries */

  gint64            repaused_at;   /* when its pause was last issued again */

  GList             ready_link;    /* in the dispatch's ready queue */
  GList             dirty_link;    /* in PbOffsets' dirty queue */
  guint             in_ready : 1;
  guint             in_dirty : 1;
  guint             cancel_pending : 1;
  guint             capturing : 1;   /* its step end is being captured */
  guint             preparing : 1;   /* a deserializer prepares for its next record */
  guint             prepared : 2;    /* 1: the key, 2: the value deserializer, at prepared_at */
  guint             rk_paused : 1;   /* librdkafka has it paused, whatever the assignment */
} PbPartition;

/* Whether @partition's records wait, whatever was polled. */
static inline gboolean
_pb_partition_is_held (const PbPartition *partition)
{
  return (partition->pause_reasons & PB_PAUSE_HOLD) != 0;
}

/* The partitions of a run, by topic and number. The engine's pause
 * reasons are what counts: librdkafka's pause flag follows them, but a
 * pause can be lost inside librdkafka (a pause racing with the start of
 * the partition's fetching, librdkafka #2190 and #5591), so a record
 * polled for a paused partition is held like the others and the pause
 * issued again (_pb_partition_repause()). */
typedef struct _PbPartitionMap PbPartitionMap;

typedef void (*PbPartitionFunc) (PbPartition *partition,
                                 gpointer     user_data);

/* @resume hears of a partition whose records may go on: it was held and
 * no longer is. */
PbPartitionMap *_pb_partition_map_new     (GPtrArray                             *topics,
                                           PbConsumer                            *consumer,
                                           PbHost                                *host,
                                           PbPartitionFunc                        resume,
                                           gpointer                               user_data);
void            _pb_partition_map_free    (PbPartitionMap                        *self);

/* The partition, made on first use. NULL for a topic the run does not
 * consume. */
PbPartition    *_pb_partition_map_get     (PbPartitionMap                        *self,
                                           const char                            *topic,
                                           int                                    id);
/* The partition, or NULL. */
PbPartition    *_pb_partition_map_find    (PbPartitionMap                        *self,
                                           const char                            *topic,
                                           int                                    id);
/* The partition of a polled record, or NULL. */
PbPartition    *_pb_partition_map_lookup  (PbPartitionMap                        *self,
                                           const rd_kafka_message_t              *rkm);
void            _pb_partition_map_foreach (PbPartitionMap                        *self,
                                           PbPartitionFunc                        func,
                                           gpointer                               user_data);

void            _pb_partition_pause       (PbPartitionMap                        *self,
                                           PbPartition                           *partition,
                                           PbPauseReasons                         reason);
void            _pb_partition_resume      (PbPartitionMap                        *self,
                                           PbPartition                           *partition,
                                           PbPauseReasons                         reason);
/* Pauses every partition, now and to come, for @reason. */
void            _pb_partition_map_pause_all    (PbPartitionMap                        *self,
                                                PbPauseReasons                         reason);
/* Resumes in librdkafka the partitions about to be assigned that it has
 * paused (its flag survives revocation and re-assignment): before the
 * assignment, so that the resume cannot race the start of their fetch.
 * Their pauses, if any, are issued once their first record came. */
void            _pb_partition_map_unpause      (PbPartitionMap                        *self,
                                                const rd_kafka_topic_partition_list_t *partitions);
/* A record was polled for @partition while the engine has it paused:
 * its pause waited for its fetch to start, or librdkafka lost it; it is
 * issued (again, at most every few milliseconds). */
void            _pb_partition_repause     (PbPartitionMap                        *self,
                                           PbPartition                           *partition);

/* Drops the records polled and not handled. */
void            _pb_partition_drop_queued (PbPartition                           *partition);

/* @partition was assigned: a new epoch, with everything of the last one
 * forgotten but the reasons it is paused for whatever its assignment. */
void            _pb_partition_assign      (PbPartitionMap                        *self,
                                           PbPartition                           *partition);
/* @partition is given up: a new epoch, and its cancellable cancelled. */
void            _pb_partition_unassign    (PbPartitionMap                        *self,
                                           PbPartition                           *partition);
/* Cancels @partition's cancellable at the host's next flush, and gives
 * it a fresh one. */
void            _pb_partition_cancel      (PbPartitionMap                        *self,
                                           PbPartition                           *partition);

G_END_DECLS
