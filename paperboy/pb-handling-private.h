/* pb-handling-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-handling-private.h is a private header of Paperboy."
#endif

#include "pb-run-private.h"

G_BEGIN_DECLS

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
  PbRun           *run;              /* NULL once abandoned */
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
  const char      *vfunc;            /* what was called: handle, handle_bulk... */
  GError          *error;            /* the result */
  PbHandlingDone   done;
  gpointer         done_data;
  GList            link;             /* in the dispatch's completions */
  guint            completed : 1;
  guint            abandoned : 1;
  guint            timed_out : 1;
};

/* Runs the handling of @rkm (owned), a record of @partition: to its end
 * when the handler is synchronous, returning NULL; otherwise up to the
 * asynchronous handling it starts, which it returns (a reference).
 * @done hears of its completion from a main loop callback, never from
 * handler code nor a finalizer; then _pb_handling_finish() takes over. */
PbHandling *_pb_handle_record     (PbRun              *run,
                                   PbPartition        *partition,
                                   rd_kafka_message_t *rkm,
                                   PbHandlingDone      done,
                                   gpointer            done_data);

/* The same from a message the engine made for @rkm (takes the engine's
 * reference). */
PbHandling *_pb_handle_message    (PbRun              *run,
                                   PbPartition        *partition,
                                   PbMessage          *message,
                                   PbHandlingDone      done,
                                   gpointer            done_data);

/* Runs the batch lifecycle of a PbBulkHandler on @batch: to its end when
 * the handler is synchronous, returning NULL (the batch may then have to
 * be handled one by one, see PbBatch.one_by_one); otherwise up to the
 * asynchronous handling it starts, which it returns (a reference). */
PbHandling *_pb_handle_batch      (PbRun              *run,
                                   PbBatch            *batch,
                                   PbHandlingDone      done,
                                   gpointer            done_data);

/* What follows a completed handling: on_error() and on_finished_handling()
 * run, and the record's fate is decided. Runs handler code. For a batch's
 * handling, on_bulk_error() and on_finished_handling(). */
void        _pb_handling_finish   (PbRun              *run,
                                   PbHandling         *handling);

/* Stops waiting for @handling: whatever it returns later is discarded.
 * Runs no handler code; the partition's cancellable is cancelled from the
 * run's next kick. */
void        _pb_handling_abandon  (PbRun              *run,
                                   PbHandling         *handling);

PbHandling *_pb_handling_ref      (PbHandling         *handling);
void        _pb_handling_unref    (PbHandling         *handling);

/* Whether @rkm, the next record of @partition, can be decoded now. If a
 * deserializer must prepare first, that begins, @partition waits (paused,
 * reason DESERIALIZER, and out of its dispatch's turns) and the dispatch's
 * resume() says when it may go on. Only for topics with deserializers. */
gboolean    _pb_record_ready      (PbRun              *run,
                                   PbPartition        *partition,
                                   const rd_kafka_message_t *rkm);

/* Cancels @partition's cancellable at the run's next kick, and gives it a
 * fresh one. */
void        _pb_partition_cancel  (PbRun              *run,
                                   PbPartition        *partition);

G_END_DECLS
