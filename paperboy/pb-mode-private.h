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

#include "pb-run-private.h"

G_BEGIN_DECLS

/* The run's dispatch for its first mode, and the lag watch. */
void      _pb_mode_start   (PbRun *run);
void      _pb_mode_stop    (PbRun *run);
/* The steps are over: Single mode (or Bulk with bulk-mode), and the lag
 * watch. */
void      _pb_mode_steps_over (PbRun *run);
/* Switches the dispatch when the lag watch asked for it and nothing is in
 * flight. From the kick. */
void      _pb_mode_check   (PbRun *run);
/* a(six): topic, partition, lag. */
GVariant *_pb_mode_get_lag (PbRun *run);

G_END_DECLS
