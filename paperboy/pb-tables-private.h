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

/* The tables of a run: their restore before the run joins its group, the
 * writes of their delivered changes to their stores while it runs, and
 * their release when it ends. */
typedef struct _PbTables PbTables;

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
PbTables *_pb_tables_new            (PbHost                 *host,
                                     GPtrArray              *tables,
                                     const char             *state_dir);
void      _pb_tables_free           (PbTables               *self);

gboolean  _pb_tables_is_empty       (PbTables               *self);
gboolean  _pb_tables_is_restoring   (PbTables               *self);

/* Opens the stores, creates the changelogs that are missing and restores
 * every table, in a worker thread with data of its own. @restore is
 * copied. The run keeps @restore's producer until the restore ended. */
void      _pb_tables_restore_async  (PbTables               *self,
                                     const PbTablesRestore  *restore,
                                     GCancellable           *cancellable,
                                     GAsyncReadyCallback     callback,
                                     gpointer                user_data);
/* Sets @n_partitions to the partitions of the run's topics. */
gboolean  _pb_tables_restore_finish (PbTables               *self,
                                     GAsyncResult           *result,
                                     guint                  *n_partitions,
                                     GError                **error);

/* The tables are restored: they are written through @producer from now
 * on, and each emits ::restored (application code). */
void      _pb_tables_attach         (PbTables               *self,
                                     PbProducer             *producer);
/* Deliveries came: writes what is enough to the stores, the rest soon. */
void      _pb_tables_delivered      (PbTables               *self);
/* The table whose changelog is @topic, or NULL. */
PbTable  *_pb_tables_find_changelog (PbTables               *self,
                                     const char             *topic);
/* The run ends: what was delivered goes to the stores, what was not is
 * forgotten, and the stores are closed, free for others. */
void      _pb_tables_close          (PbTables               *self);

G_END_DECLS
