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

#include "pb-run-private.h"

G_BEGIN_DECLS

/* Rebalances of a run. The consumer's callbacks only record what
 * happened: a revocation is acknowledged (the partitions given up) from
 * the run's kick, once the revoked partitions' handling in flight ended
 * and their final offsets were committed, or revoke-timeout-ms passed.
 * Where a dispatch mode or tables need to act on an assignment or a
 * revocation (flush a batch, checkpoint a store), it is here. */

/* Consumer callbacks. */
void _pb_rebalance_assigned  (PbRun                                 *run,
                              const rd_kafka_topic_partition_list_t *partitions);
void _pb_rebalance_revoked   (PbRun                                 *run,
                              const rd_kafka_topic_partition_list_t *partitions);
void _pb_rebalance_lost      (PbRun                                 *run,
                              const rd_kafka_topic_partition_list_t *partitions);
void _pb_rebalance_committed (PbRun                                 *run,
                              rd_kafka_resp_err_t                    err,
                              const rd_kafka_topic_partition_list_t *offsets);

/* From the kick: gives the revoked partitions up once they are done. */
void _pb_rebalance_check     (PbRun                                 *run);
/* The run ends: a pending revocation is dropped. */
void _pb_rebalance_clear     (PbRun                                 *run);

/* Gives @partition up at once: its queued records are dropped, its
 * handling in flight abandoned, its cancellable cancelled. */
void _pb_rebalance_give_up   (PbRun                                 *run,
                              PbPartition                           *partition);

G_END_DECLS
