/* pb-tables-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-tables-private.h is a private header of Paperboy."
#endif

#include "pb-host-private.h"
#include "pb-kafka-config-private.h"
#include "pb-mock-cluster.h"
#include "pb-producer-private.h"
#include "pb-table.h"

G_BEGIN_DECLS

/* The tables of a run: their stores and changelogs made ready before the
 * run joins its group, the restore of the partitions assigned to it, the
 * writes of their delivered changes to their stores while it runs, and
 * their release when it ends. A table's partition p goes with the input
 * partitions p of every topic of the run. */
typedef struct _PbTables PbTables;

typedef struct
{
  /* The restore of @partitions ended: their input partitions may go on. */
  void (*restored) (gpointer   user_data,
                    const int *partitions,
                    int        n_partitions);
} PbTablesCallbacks;

/* What a restore needs besides the tables. */
typedef struct
{
  const PbKafkaConfig   *config;
  const PbKafkaSettings *settings;
  PbMockCluster         *mock_cluster;   /* nullable */
  PbProducer            *producer;       /* learns of the changelogs */
  const char * const    *topics;         /* the run's, whose partitions are counted */
} PbTablesRestore;

/* @tables (PbTable) is referenced. */
PbTables *_pb_tables_new            (PbHost                  *host,
                                     GPtrArray               *tables,
                                     const char              *state_dir,
                                     const PbTablesCallbacks *callbacks,
                                     gpointer                 user_data);
void      _pb_tables_free           (PbTables               *self);

gboolean  _pb_tables_is_empty       (PbTables               *self);
/* Whether a preparation or a restore is in flight. */
gboolean  _pb_tables_is_restoring   (PbTables               *self);
/* Whether a worker thread still runs for them: a restore, or a global
 * table's follower, which ends when cancelled. */
gboolean  _pb_tables_is_busy        (PbTables               *self);
/* The run stops: restores in flight end soon, and no other begins. */
void      _pb_tables_cancel         (PbTables               *self);

/* Opens the stores, creates the changelogs that are missing and checks
 * that they have as many partitions as the run's topics, in a worker
 * thread with data of its own. @restore is copied. The run keeps
 * @restore's producer until this ended. */
void      _pb_tables_restore_async  (PbTables               *self,
                                     const PbTablesRestore  *restore,
                                     GCancellable           *cancellable,
                                     GAsyncReadyCallback     callback,
                                     gpointer                user_data);
gboolean  _pb_tables_restore_finish (PbTables               *self,
                                     GAsyncResult           *result,
                                     GError                **error);

/* The tables are ready: they are written through @producer from now on,
 * and hold no partition yet. Global tables, restored in full by now, emit
 * ::restored (application code) and follow their changelog until the run
 * is cancelled. */
void      _pb_tables_attach         (PbTables               *self,
                                     PbProducer             *producer);
/* Input partitions were assigned: the table partitions of the same
 * numbers that are not held yet are restored, in a worker thread, and
 * held once the restore ended (PbTablesCallbacks.restored). Each table
 * emits ::restored then (application code). */
void      _pb_tables_assigned       (PbTables               *self,
                                     const int              *partitions,
                                     int                     n_partitions);
/* Whether the records of input partitions @partition wait for a restore. */
gboolean  _pb_tables_holds          (PbTables               *self,
                                     int                     partition);
/* No input partition of these numbers is assigned any more: what was
 * delivered goes to the stores, and the table partitions are given up
 * (dropped from memory stores, kept in stores on disk), unless the run
 * stops (_pb_tables_cancel()). */
void      _pb_tables_revoked        (PbTables               *self,
                                     const int              *partitions,
                                     int                     n_partitions);
/* Deliveries came: writes what is enough to the stores, the rest soon. */
void      _pb_tables_delivered      (PbTables               *self);
/* The table whose changelog is @topic, or NULL. */
PbTable  *_pb_tables_find_changelog (PbTables               *self,
                                     const char             *topic);
/* The run ends: what was delivered goes to the stores, what was not is
 * forgotten, and the stores are closed, free for others. */
void      _pb_tables_close          (PbTables               *self);

G_END_DECLS
