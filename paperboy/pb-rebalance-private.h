/* pb-rebalance-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-rebalance-private.h is a private header of Paperboy."
#endif

#include "pb-host-private.h"
#include "pb-offsets-private.h"

G_BEGIN_DECLS

/* The partitions a run gives up. A revocation is held: the consumer's
 * callback only records it; the partitions are given up (unassigned in
 * librdkafka) from the reconciliation, once their handling in flight
 * ended, their records' deliveries came and their final offsets were
 * committed, or once revoke-timeout-ms passed. Lost partitions are given
 * up at once. */
typedef struct _PbRebalance PbRebalance;

typedef struct
{
  /* @partition goes away: its queued records are dropped and, with
   * @abandon, its handling in flight is given up. */
  void     (*release) (gpointer     user_data,
                       PbPartition *partition,
                       gboolean     abandon);
  /* Whether a handling of @partition is in flight. */
  gboolean (*busy)    (gpointer     user_data,
                       PbPartition *partition);
  /* @partition was given up: it is unassigned now. */
  void     (*gone)    (gpointer     user_data,
                       PbPartition *partition);
} PbRebalanceCallbacks;

PbRebalance *_pb_rebalance_new       (PbHost                                *host,
                                      PbConsumer                            *consumer,
                                      PbPartitionMap                        *partitions,
                                      PbOffsets                             *offsets,
                                      guint                                  revoke_timeout_ms,
                                      const PbRebalanceCallbacks            *callbacks,
                                      gpointer                               user_data);
/* A revocation still held is dropped. */
void         _pb_rebalance_free      (PbRebalance                           *self);

/* Consumer callbacks. */
void         _pb_rebalance_revoked   (PbRebalance                           *self,
                                      const rd_kafka_topic_partition_list_t *partitions);
void         _pb_rebalance_lost      (PbRebalance                           *self,
                                      const rd_kafka_topic_partition_list_t *partitions);
void         _pb_rebalance_committed (PbRebalance                           *self,
                                      rd_kafka_resp_err_t                    err,
                                      const rd_kafka_topic_partition_list_t *offsets);

/* Whether a revocation is held. */
gboolean     _pb_rebalance_is_revoking (PbRebalance                         *self);
/* From the reconciliation: gives the revoked partitions up once they are
 * done. */
void         _pb_rebalance_check     (PbRebalance                           *self);

G_END_DECLS
