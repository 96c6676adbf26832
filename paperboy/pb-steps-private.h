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

#include "pb-run-private.h"

G_BEGIN_DECLS

void _pb_steps_start    (PbRun                                 *run);
void _pb_steps_stop     (PbRun                                 *run);
/* Sets the STEP pause reason of newly assigned partitions (before their
 * pause flags are applied) and captures the ends of the current step's. */
void _pb_steps_assigned (PbRun                                 *run,
                         const rd_kafka_topic_partition_list_t *partitions);
void _pb_steps_eof      (PbRun                                 *run,
                         const char                            *topic,
                         int                                    partition,
                         gint64                                 offset);
/* Begins and ends steps. From the kick. */
void _pb_steps_check    (PbRun                                 *run);

G_END_DECLS
