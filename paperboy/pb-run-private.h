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

#include "pb-engine.h"
#include "pb-host-private.h"
#include "pb-kafka-config-private.h"
#include "pb-mock-cluster.h"

G_BEGIN_DECLS

/* One run of an engine: everything from run_async() to the task's
 * return, made of parts (pb-consumer.c, pb-partition.c, pb-dispatch*.c,
 * pb-lifecycle.c, pb-steps.c, pb-mode.c, pb-rebalance.c, pb-tables.c...)
 * that talk back through its host. A new run is a new object, so nothing
 * of one run leaks into the next. */
typedef struct _PbRun PbRun;

/* Settings a running engine may change: pushed into the run, which
 * pushes each into the part that uses it. */
typedef struct
{
  guint    max_in_flight;
  guint    handling_timeout_ms;
  gboolean fail_on_exception;
} PbRunLive;

/* What an engine gives a run when it starts it. */
typedef struct
{
  GPtrArray       *topics;            /* PbTopic, owned */
  PbKafkaConfig   *kafka_config;      /* owned: pb_engine_set_config() */
  PbKafkaSettings  kafka;             /* from properties; the run copies the strings */
  PbMockCluster   *mock_cluster;      /* nullable */
  GError          *mock_error;        /* why the mock:// cluster failed */
  GCancellable    *cancellable;       /* nullable */
  PbRunLive        live;
  guint            revoke_timeout_ms;
  guint            stop_timeout_ms;
  int              priority;
  gboolean         handle_signals;
  gboolean         bulk_mode;
  guint            bulk_max_records;
  gboolean         exact_state;
  guint            bulk_timeout_ms;
  guint            bulk_lag_threshold;
  guint            single_lag_threshold;
  guint            mode_switch_dwell_ms;
  guint            n_steps;
  GPtrArray       *tables;            /* PbTable, owned */
  char            *state_dir;         /* owned */
} PbRunSettings;

/* How a run talks to its engine: from the run's reconciliation, never
 * from a librdkafka callback. */
typedef struct
{
  /* An event for the application (PbEvent): application code. */
  void (*event) (gpointer       user_data,
                 const PbEvent *event);
  /* The run let everything go, just before its task returns: the engine
   * no longer runs. */
  void (*ended) (gpointer       user_data,
                 PbRun         *run);
} PbRunCallbacks;

/* The run takes what @settings owns. @task returns when the run ended;
 * the caller keeps @user_data alive until then. */
PbRun        *_pb_run_new          (GTask                *task,
                                    PbRunSettings        *settings,
                                    const PbRunCallbacks *callbacks,
                                    gpointer              user_data);
PbRun        *_pb_run_ref          (PbRun                *self);
void          _pb_run_unref        (PbRun                *self);
/* Starts the run; on failure the task returns the error soon after. */
void          _pb_run_start        (PbRun                *self);

/* Any thread: a graceful stop, from the run's context. */
void          _pb_run_stop         (PbRun                *self);
/* Any thread: @live applies from the run's context. */
void          _pb_run_set_live     (PbRun                *self,
                                    const PbRunLive      *live);

/* On the run's context. */
PbEngineMode  _pb_run_get_mode     (PbRun                *self);
/* a(six): topic, partition, lag. */
GVariant     *_pb_run_get_lag      (PbRun                *self);
/* A handler's record, through the run's producer. */
gboolean      _pb_run_produce      (PbRun                *self,
                                    const char           *topic,
                                    int                   partition,
                                    GBytes               *key,
                                    GBytes               *value,
                                    GVariant             *headers,
                                    GError              **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PbRun, _pb_run_unref)

G_END_DECLS
