/* pb-run-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-run-private.h is a private header of Paperboy."
#endif

#include <gio/gio.h>

#include "pb-consumer-private.h"
#include "pb-engine-private.h"
#include "pb-kafka-config-private.h"
#include "pb-message-private.h"
#include "pb-mock-cluster.h"
#include "pb-offsets-private.h"
#include "pb-partition-private.h"
#include "pb-producer-private.h"
#include "pb-util-private.h"

G_BEGIN_DECLS

typedef struct _PbDispatch PbDispatch;

/* What an engine gives a run when it starts it. */
typedef struct
{
  GPtrArray       *topics;            /* PbTopic, owned */
  PbKafkaConfig   *config;            /* owned */
  PbKafkaSettings  kafka;             /* the run copies the strings */
  PbMockCluster   *mock_cluster;      /* nullable */
  GError          *mock_error;        /* why the mock:// cluster failed */
  GCancellable    *cancellable;       /* nullable */
  guint            max_in_flight;
  guint            revoke_timeout_ms;
  guint            stop_timeout_ms;
  int              priority;
  gboolean         handle_signals;
  gboolean         bulk_mode;
  guint            bulk_max_records;
  guint            bulk_timeout_ms;
  guint            bulk_lag_threshold;
  guint            single_lag_threshold;
  guint            mode_switch_dwell_ms;
  guint            n_steps;
  GPtrArray       *tables;            /* PbTable, owned */
  char            *state_dir;         /* owned */
} PbRunSettings;

/* The run's way through its steps. */
typedef struct
{
  int              current;         /* the step, or -1 once through them all */
  gboolean         started;         /* the current step began */
  guint            captures;        /* end captures in flight */
  GSource         *retry;           /* a failed capture, tried again */
} PbStepState;

/* The run's mode and the lag watch that switches it. */
typedef struct
{
  PbEngineMode     current;
  PbEngineMode     wanted;
  GSource         *timer;
  gint64           beyond_since;    /* the lag crossed the threshold, or 0 */
} PbModeState;

/* The revocation a run holds: partitions revoked and not yet given up. */
typedef struct
{
  rd_kafka_topic_partition_list_t *revoking;
  GSource                         *timeout;
  GSource                         *retry;
  guint                            timed_out : 1;
  guint                            refused : 1;
} PbRevocation;

/* One run of an engine: everything from run_async() to the task's
 * return. A new run is a new object, so nothing of one run leaks into
 * the next.
 *
 * Scheduling: librdkafka callbacks, task completions, timers, stop
 * requests and releases only record what happened and kick the run.
 * Handler code runs in two places only: the consumer's dispatch, on
 * records it polled, and the kick's dispatch, which then reconciles
 * everything (queued records, completions, offsets, revocations, stop,
 * signals) in one pass. Neither runs while handler code is on the stack. */
struct _PbRun
{
  gatomicrefcount   ref_count;
  PbEngine         *engine;          /* kept alive by the task */
  GTask            *task;
  GMainContext     *context;
  PbRunSettings     settings;

  PbConsumer       *consumer;
  PbProducer       *producer;        /* nullable: made when first needed */
  GCancellable     *restore_cancellable;
  GSource          *flush_timer;      /* tables' delivered changes wait */
  guint             n_partitions;     /* of the topics, with tables */
  PbMessagePool    *pool;
  PbPartitionMap   *partitions;
  PbOffsets         offsets;
  PbDispatch       *dispatch;
  PbModeState       mode;
  PbStepState       steps;
  PbRevocation      revocation;

  PbEngineState     state;           /* last said, or to be said */
  GSource          *kick;
  GSource          *cancel_source;
  GSource          *sigint_source;
  GSource          *sigterm_source;
  GSource          *stop_timeout;

  GError           *error;
  GQueue            emissions;       /* signals to emit from the kick */
  GPtrArray        *to_cancel;       /* GCancellable to cancel from the kick */
  PbRateLimit       warnings;
  guint             depth;           /* handler code on the stack */
  gint64            poll_deadline;   /* of the consumer's dispatch, or 0 */

  guint             restoring : 1;
  guint             warned_writers : 1;
  guint             producer_failed : 1;
  guint             stop_requested : 1;
  guint             stopping : 1;    /* the stop began */
  guint             stop_timed_out : 1;
  guint             closing : 1;
  guint             closed : 1;
  guint             finished : 1;
  guint             kick_missed : 1;
};

PbRun    *_pb_run_new              (PbEngine      *engine,
                                    GTask         *task,
                                    PbRunSettings *settings);
PbRun    *_pb_run_ref              (PbRun         *self);
void      _pb_run_unref            (PbRun         *self);
/* Starts the run; on failure the task returns the error soon after. */
void      _pb_run_start            (PbRun         *self);

/* Any thread: a graceful stop, from the run's context. */
void      _pb_run_stop             (PbRun         *self);
void      _pb_run_set_max_in_flight (PbRun        *self,
                                    guint          max_in_flight);
/* A handler's record, through the run's producer. */
gboolean  _pb_run_produce          (PbRun         *self,
                                    const char    *topic,
                                    int            partition,
                                    GBytes        *key,
                                    GBytes        *value,
                                    GVariant      *headers,
                                    GError       **error);

/* For the run's parts, on its context. */
void      _pb_run_kick             (PbRun         *self);
/* Ends the run with @error (owned), after a graceful stop. */
void      _pb_run_fail             (PbRun         *self,
                                    GError        *error);
void      _pb_run_set_state        (PbRun         *self,
                                    PbEngineState  state);
void      _pb_run_emit_mode        (PbRun         *self,
                                    PbEngineMode   mode);
void      _pb_run_emit_step        (PbRun         *self,
                                    guint          step,
                                    gboolean       started);
void      _pb_run_emit_partitions  (PbRun                                 *self,
                                    gboolean                               assigned,
                                    const rd_kafka_topic_partition_list_t *partitions,
                                    gboolean                               lost);

/* Around every call into handler code. */
static inline void
_pb_run_enter_handler (PbRun *self)
{
  self->depth++;
}

static inline void
_pb_run_leave_handler (PbRun *self)
{
  if (--self->depth == 0 && self->kick_missed)
    _pb_run_kick (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PbRun, _pb_run_unref)

G_END_DECLS
