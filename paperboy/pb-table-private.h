/* pb-table-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-table-private.h is a private header of Paperboy."
#endif

#include <librdkafka/rdkafka.h>

#include "pb-mock-cluster.h"
#include "pb-producer-private.h"
#include "pb-table.h"

G_BEGIN_DECLS

#define PB_TABLE_TYPE_HEADER     "paperboy.type"
#define PB_TABLE_ENCODING_HEADER "paperboy.encoding"
#define PB_TABLE_ENCODING        "json/1"

/* Checks a store URI: memory://, rocksdb:// or rocksdb:///absolute/path. */
gboolean  _pb_table_check_uri      (const char        *uri,
                                    GError           **error);
/* Opens the table's store, made from its URI the first time, with
 * rocksdb:// under @state_dir. Any thread. */
gboolean  _pb_table_open           (PbTable           *self,
                                    const char        *state_dir,
                                    GError           **error);

/* Creates the changelog topic when it is missing: through the mock API
 * when @mock_cluster is set, else with the Admin API. Any thread. */
gboolean  _pb_table_create_changelog (PbTable         *self,
                                    rd_kafka_conf_t   *admin_conf,
                                    PbMockCluster     *mock_cluster,
                                    GError           **error);
/* Replays the changelog into the store (pb-restore.c), with a group-less
 * consumer made from @conf (owned). Any thread; no signal is emitted. */
gboolean  _pb_table_restore        (PbTable           *self,
                                    rd_kafka_conf_t   *conf,
                                    GCancellable      *cancellable,
                                    GError           **error);
/* On the engine's context, once restored: emits ::restored. */
void      _pb_table_restored       (PbTable           *self);

/* While a run owns the table, its writes go through @producer. */
void      _pb_table_attach         (PbTable           *self,
                                    PbProducer        *producer);
void      _pb_table_detach         (PbTable           *self);
void      _pb_table_close_store    (PbTable           *self);
/* While a worker thread restores it, the table is not read. */
void      _pb_table_set_restoring  (PbTable           *self,
                                    gboolean           restoring);
/* Its changelog settings are fixed from then on. */
void      _pb_table_set_registered (PbTable           *self);
void      _pb_table_set_n_partitions (PbTable         *self,
                                    int                n_partitions);
/* Writes what was delivered to the store, when there is enough of it or
 * with @force; FALSE with @error when the store failed. */
gboolean  _pb_table_flush          (PbTable           *self,
                                    gboolean           force,
                                    GError           **error);
/* Whether delivered changes wait for a flush. */
gboolean  _pb_table_has_delivered  (PbTable           *self);

/* A changelog record's value, from its headers and JSON; NULL with @error
 * for a record that is not one. Sets @deleted for a tombstone. */
GVariant *_pb_table_decode_record  (const rd_kafka_message_t *rkm,
                                    gboolean          *deleted,
                                    GError           **error);
void      _pb_table_count_restored (PbTable           *self,
                                    guint64            records,
                                    guint64            bad);
PbStore  *_pb_table_peek_store     (PbTable           *self);

G_END_DECLS
