/* pb-dispatch-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-dispatch-private.h is a private header of Paperboy."
#endif

#include "pb-run-private.h"

G_BEGIN_DECLS

/* A dispatch mode: how the records a run polled reach the handlers.
 * Single is the first; Bulk and Steps come beside it. */
typedef struct
{
  const char *name;

  /* A record polled for @partition, which is assigned and not stopping:
   * handled now or queued. Owns @rkm. */
  void     (*offer)   (PbDispatch         *self,
                       PbPartition        *partition,
                       rd_kafka_message_t *rkm);
  /* @partition, assigned, has records queued from before this dispatch
   * took over. */
  void     (*adopt)   (PbDispatch         *self,
                       PbPartition        *partition);
  /* @partition, which waited for a deserializer to prepare, may go on. */
  void     (*resume)  (PbDispatch         *self,
                       PbPartition        *partition);
  /* Finishes what completed and, with @start, runs what is queued, until
   * @deadline (monotonic time) or until it has to wait. Runs handler
   * code: never while handler code is on the stack. Returns whether work
   * is left that it could do now. */
  gboolean (*drain)   (PbDispatch         *self,
                       gboolean            start,
                       gint64              deadline);
  /* @partition goes away: its queued records are dropped and, with
   * @abandon, its handling in flight is given up (its result, if it comes,
   * is ignored). Runs no handler code. */
  void     (*release) (PbDispatch         *self,
                       PbPartition        *partition,
                       gboolean            abandon);
  /* Whether a handling of @partition (of any, for NULL) is in flight. */
  gboolean (*busy)    (PbDispatch         *self,
                       PbPartition        *partition);
  void     (*free)    (PbDispatch         *self);
} PbDispatchClass;

struct _PbDispatch
{
  const PbDispatchClass *klass;
  PbRun                 *run;
};

PbDispatch *_pb_dispatch_single_new (PbRun *run);
PbDispatch *_pb_dispatch_bulk_new   (PbRun *run);

/* A new dispatch takes over the records the run's partitions queued. */
void        _pb_dispatch_adopt      (PbDispatch *self);

static inline void
_pb_dispatch_free (PbDispatch *self)
{
  if (self != NULL)
    self->klass->free (self);
}

G_END_DECLS
