/* pb-steps-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-steps-private.h is a private header of Paperboy."
#endif

#include "pb-host-private.h"
#include "pb-partition-private.h"

G_BEGIN_DECLS

/* A run's way through its steps. */
typedef struct _PbSteps PbSteps;

typedef struct
{
  /* Whether a handling of @partition is in flight. */
  gboolean (*busy) (gpointer     user_data,
                    PbPartition *partition);
  /* The last step ended. */
  void     (*over) (gpointer     user_data);
} PbStepsCallbacks;

PbSteps *_pb_steps_new         (PbHost                                *host,
                                PbConsumer                            *consumer,
                                PbPartitionMap                        *partitions,
                                guint                                  n_steps,
                                const PbStepsCallbacks                *callbacks,
                                gpointer                               user_data);
/* End captures still running are abandoned. */
void     _pb_steps_free        (PbSteps                               *self);

/* The current step, or -1 once through them all. */
int      _pb_steps_get_current (PbSteps                               *self);

/* Sets the STEP pause reason of newly assigned partitions (before their
 * pause flags are applied) and captures the ends of the current step's. */
void     _pb_steps_assigned    (PbSteps                               *self,
                                const rd_kafka_topic_partition_list_t *partitions);
void     _pb_steps_eof         (PbSteps                               *self,
                                const char                            *topic,
                                int                                    partition,
                                gint64                                 offset);
/* Begins and ends steps. From the reconciliation, while the run is in its
 * group and not stopping. */
void     _pb_steps_check       (PbSteps                               *self);

G_END_DECLS
