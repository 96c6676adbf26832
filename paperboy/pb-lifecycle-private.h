/* pb-lifecycle-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-lifecycle-private.h is a private header of Paperboy."
#endif

#include "pb-host-private.h"
#include "pb-message-private.h"
#include "pb-offsets-private.h"
#include "pb-partition-private.h"

G_BEGIN_DECLS

/* The lifecycle of records and batches: a handler's virtual functions
 * called in order around each record (decode, define_context,
 * did_receive_message, on_message or handle, on_error,
 * on_finished_handling) or batch, and the fate decided at the end
 * (pb-outcome.c). A dispatch chooses what to hand over and when; the
 * lifecycle hands it over. */
typedef struct _PbLifecycle PbLifecycle;

PbLifecycle *_pb_lifecycle_new  (PbHost                     *host,
                                 PbPartitionMap             *partitions,
                                 PbOffsets                  *offsets,
                                 PbMessagePool              *pool);
/* Preparations still running are abandoned: their results are dropped. */
void         _pb_lifecycle_free (PbLifecycle                *self);

/* Live settings, pushed by the run. */
void         _pb_lifecycle_set_fail_on_exception   (PbLifecycle *self,
                                                    gboolean     fail_on_exception);
void         _pb_lifecycle_set_handling_timeout_ms (PbLifecycle *self,
                                                    guint        timeout_ms);

typedef void (*PbHandlingDone) (PbHandling *handling,
                                gpointer    user_data);

/* The records of one partition in a batch. */
typedef struct
{
  PbPartition *partition;
  guint        epoch;
  gint64       last;      /* the offset of its last record in the batch */
  gboolean     live;      /* FALSE once the partition was given up */
} PbBatchPart;

/* A batch of records of one topic, in Bulk mode: handled by a
 * PbBulkHandler's batch lifecycle, or one record at a time (a plain
 * handler's, or a failed batch split). Owned by the dispatch. */
typedef struct
{
  PbTopic     *topic;
  PbMessage  **messages;  /* the engine's references; NULL once handed on */
  guint        n_messages;
  PbBatchPart *parts;
  guint        n_parts;
  guint        live_parts;
  guint        next;      /* one by one: the next record */
  PbHandling  *handling;  /* in flight, or NULL */
  guint        one_by_one : 1;
} PbBatch;

PbBatchPart *_pb_batch_find_part  (PbBatch            *batch,
                                   PbPartition        *partition);
/* The part of @message, one of the batch's. */
PbBatchPart *_pb_batch_part_of    (PbBatch            *batch,
                                   PbMessage          *message);
/* Returns what the batch still holds to the pool and frees it. */
void         _pb_batch_free       (PbBatch            *batch,
                                   PbMessagePool      *pool);

/* An asynchronous handling: a handler that overrides handle() or
 * handle_async(). It does not own the run: a run abandons every handling
 * still in flight before it ends, and whatever comes back later is
 * discarded. */
struct _PbHandling
{
  gatomicrefcount  ref_count;
  PbPartition     *partition;        /* NULL once abandoned */
  GMainContext    *context;
  guint            epoch;
  PbTopic         *topic;
  gint64           offset;
  PbMessage       *message;          /* the original record */
  PbMessage       *handled;          /* what did_receive_message() returned */
  PbBatch         *batch;            /* a batch's handling: its batch */
  GPtrArray       *handled_batch;    /* what did_receive_bulk_messages() returned */
  GCancellable    *cancellable;      /* a batch's */
  GObject         *handler_context;
  GSource         *timeout;
  guint            timeout_ms;
  const char      *vfunc;            /* what was called: handle, handle_bulk... */
  GError          *error;            /* the result */
  PbHandlingDone   done;
  gpointer         done_data;
  GList            link;             /* in the dispatch's completions */
  PbSource         source;           /* exact-state: the record it handles */
  PbHost          *source_host;      /* where @source is active */
  guint            completed : 1;
  guint            abandoned : 1;
  guint            timed_out : 1;
};

/* Runs the handling of @rkm (owned), a record of @partition: to its end
 * when the handler is synchronous, returning NULL; otherwise up to the
 * asynchronous handling it starts, which it returns (a reference).
 * @done hears of its completion from a main loop callback, never from
 * handler code nor a finalizer; then _pb_lifecycle_finish() takes over. */
PbHandling *_pb_lifecycle_record  (PbLifecycle        *self,
                                   PbPartition        *partition,
                                   rd_kafka_message_t *rkm,
                                   PbHandlingDone      done,
                                   gpointer            done_data);

/* The same from a message the engine made for @rkm (takes the engine's
 * reference). */
PbHandling *_pb_lifecycle_message (PbLifecycle        *self,
                                   PbPartition        *partition,
                                   PbMessage          *message,
                                   PbHandlingDone      done,
                                   gpointer            done_data);

/* Runs the batch lifecycle of a PbBulkHandler on @batch: to its end when
 * the handler is synchronous, returning NULL (the batch may then have to
 * be handled one by one, see PbBatch.one_by_one); otherwise up to the
 * asynchronous handling it starts, which it returns (a reference). */
PbHandling *_pb_lifecycle_batch   (PbLifecycle        *self,
                                   PbBatch            *batch,
                                   PbHandlingDone      done,
                                   gpointer            done_data);

/* What follows a completed handling: on_error() and on_finished_handling()
 * run, and the record's fate is decided. Runs handler code. For a batch's
 * handling, on_bulk_error() and on_finished_handling(). */
void        _pb_lifecycle_finish  (PbLifecycle        *self,
                                   PbHandling         *handling);

/* Stops waiting for @handling: whatever it returns later is discarded.
 * Runs no handler code; the partition's cancellable is cancelled from the
 * host's next flush. */
void        _pb_lifecycle_abandon (PbLifecycle        *self,
                                   PbHandling         *handling);

PbHandling *_pb_handling_ref      (PbHandling         *handling);
void        _pb_handling_unref    (PbHandling         *handling);

/* Whether @rkm, the next record of @partition, can be decoded now. If a
 * deserializer must prepare first, that begins, @partition waits (paused,
 * reason DESERIALIZER, which holds its records) until the preparation
 * ended. Only for topics with deserializers. */
gboolean    _pb_lifecycle_ready   (PbLifecycle        *self,
                                   PbPartition        *partition,
                                   const rd_kafka_message_t *rkm);

G_END_DECLS
