/* pb-mode-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-mode-private.h is a private header of Paperboy."
#endif

#include "pb-engine.h"
#include "pb-host-private.h"
#include "pb-partition-private.h"

G_BEGIN_DECLS

/* A run's mode: the one it starts in, and the lag watch that asks for
 * the switch between Single and Bulk mode. The run switches its dispatch
 * when nothing is in flight, and says so with _pb_mode_switched(). */
typedef struct _PbMode PbMode;

typedef struct
{
  gboolean bulk_mode;
  guint    bulk_lag_threshold;
  guint    single_lag_threshold;
  guint    mode_switch_dwell_ms;
  guint    n_steps;
} PbModeSettings;

PbMode       *_pb_mode_new         (PbHost               *host,
                                    PbConsumer           *consumer,
                                    PbPartitionMap       *partitions,
                                    const PbModeSettings *settings);
void          _pb_mode_free        (PbMode               *self);

PbEngineMode  _pb_mode_get_current (PbMode               *self);
/* What the lag watch asks for: the current mode, or the other one. */
PbEngineMode  _pb_mode_get_wanted  (PbMode               *self);
/* The run switched its dispatch to @mode. */
void          _pb_mode_switched    (PbMode               *self,
                                    PbEngineMode          mode);
/* The steps are over: Single mode (or Bulk with bulk-mode), and the lag
 * watch. */
void          _pb_mode_steps_over  (PbMode               *self);
/* The run stops: no more switches. */
void          _pb_mode_stop        (PbMode               *self);
/* a(six): topic, partition, lag. */
GVariant     *_pb_mode_get_lag     (PbMode               *self);

G_END_DECLS
