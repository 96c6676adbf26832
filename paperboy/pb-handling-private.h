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
  GObject         *handler_context;
  GSource         *timeout;
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

/* What follows a completed handling: on_error() and on_finished_handling()
 * run, and the record's fate is decided. Runs handler code. */
void        _pb_handling_finish   (PbRun              *run,
                                   PbHandling         *handling);

/* Stops waiting for @handling: whatever it returns later is discarded.
 * Runs no handler code; the partition's cancellable is cancelled from the
 * run's next kick. */
void        _pb_handling_abandon  (PbRun              *run,
                                   PbHandling         *handling);

PbHandling *_pb_handling_ref      (PbHandling         *handling);
void        _pb_handling_unref    (PbHandling         *handling);

/* Cancels @partition's cancellable at the run's next kick, and gives it a
 * fresh one. */
void        _pb_partition_cancel  (PbRun              *run,
                                   PbPartition        *partition);

G_END_DECLS
