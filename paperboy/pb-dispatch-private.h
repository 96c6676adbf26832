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

#include "pb-engine.h"
#include "pb-lifecycle-private.h"

G_BEGIN_DECLS

typedef struct _PbDispatch PbDispatch;

/* A dispatch mode: how the records a run polled reach the handlers,
 * Single (pb-dispatch-single.c) or Bulk (pb-dispatch-bulk.c). Records wait
 * in their partition's queue whatever the mode; a dispatch chooses which
 * go next and hands them to the lifecycle. Steps are no dispatch: they
 * pause the partitions of later steps (pb-steps.c). */
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

/* What a run gives the dispatches it makes. */
typedef struct
{
  PbHost         *host;
  PbPartitionMap *partitions;
  PbLifecycle    *lifecycle;
  PbMessagePool  *pool;
  PbConsumer     *consumer;
  guint           n_topics;
  guint           bulk_max_records;
  guint           bulk_timeout_ms;
} PbDispatchSetup;

struct _PbDispatch
{
  const PbDispatchClass *klass;
  PbEngineMode           mode;
  PbDispatchSetup        setup;
  guint                  max_in_flight;  /* pushed by the run */
  gboolean               stopping;       /* no record starts any more */
};

/* A dispatch for @mode, which takes over the records the partitions
 * queued. */
PbDispatch *_pb_dispatch_new (PbEngineMode           mode,
                              const PbDispatchSetup *setup,
                              guint                  max_in_flight);

PbDispatch *_pb_dispatch_single_new (const PbDispatchSetup *setup);
PbDispatch *_pb_dispatch_bulk_new   (const PbDispatchSetup *setup);

static inline void
_pb_dispatch_free (PbDispatch *self)
{
  if (self != NULL)
    self->klass->free (self);
}

G_END_DECLS
