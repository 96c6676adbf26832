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

#include "pb-host-private.h"
#include "pb-producer-private.h"
#include "pb-restore-private.h"
#include "pb-table.h"

G_BEGIN_DECLS

/* Opens the table's store, made from its URI the first time, with
 * rocksdb:// under @state_dir. When @restoring (the store is read from
 * the changelog next), a damaged store is wiped. Any thread. */
gboolean  _pb_table_open           (PbTable               *self,
                                    const char            *state_dir,
                                    gboolean               restoring,
                                    GError               **error);
PbStore  *_pb_table_peek_store     (PbTable               *self);
void      _pb_table_close_store    (PbTable               *self);

/* Its changelog settings are fixed from then on. */
void      _pb_table_set_registered (PbTable               *self);
/* While a worker thread restores it, the table is not read. */
void      _pb_table_set_restoring  (PbTable               *self,
                                    gboolean               restoring);
/* On the engine's context, once restored: takes the restore's counts and
 * emits ::restored. */
void      _pb_table_restored       (PbTable               *self,
                                    const PbRestoreResult *result);

/* The number of partitions of its changelog, once known. */
void      _pb_table_set_n_partitions (PbTable             *self,
                                      int                  n_partitions);
gboolean  _pb_table_is_global      (PbTable               *self);
/* A global table applies changes its changelog brought to its store, and
 * emits ::changed for them (application code). */
gboolean  _pb_table_apply_followed (PbTable               *self,
                                    PbStoreBatch          *batch,
                                    GError               **error);
/* Whether members keep standby replicas of the partitions they do not
 * hold. */
gboolean  _pb_table_has_standby    (PbTable               *self);
/* A standby replica applies changes its changelog brought to its store;
 * they stay out of reach until the partition is held. */
gboolean  _pb_table_apply_standby  (PbTable               *self,
                                    PbStoreBatch          *batch,
                                    GError               **error);
/* While a run owns the table, it holds the partitions it restored, and
 * nothing else: reading or writing a key of another fails. */
void      _pb_table_set_owned      (PbTable               *self,
                                    int                    partition,
                                    gboolean               owned);
/* Forgets the pending changes of @partitions: those delivered after the
 * partitions were given up are not this store's (their next holder reads
 * them from the changelog). A memory store, which takes writes before
 * their delivery, drops those of @partitions with undelivered writes. */
void      _pb_table_forget_pending (PbTable               *self,
                                    const int             *partitions,
                                    int                    n_partitions);
/* Deletes the keys of @partitions from the store and the pending changes,
 * and the store's offsets of them. */
gboolean  _pb_table_drop_partitions (PbTable              *self,
                                     const int            *partitions,
                                     int                   n_partitions,
                                     GError              **error);
/* Whether the partitions a run gives up are dropped (memory) or kept
 * for when they come back (stores on disk). */
gboolean  _pb_table_drops_revoked  (PbTable               *self);

/* While a run owns the table, its writes go through @producer and it
 * holds no partition until told. */
void      _pb_table_attach         (PbTable               *self,
                                    PbProducer            *producer,
                                    PbHost                *exact_state);
/* The run let the table go: what was never delivered is forgotten. */
void      _pb_table_detach         (PbTable               *self);
/* Writes what was delivered to the store, when there is enough of it or
 * with @force; FALSE with @error when the store failed. */
gboolean  _pb_table_flush          (PbTable               *self,
                                    gboolean               force,
                                    GError               **error);
/* Takes the delivered changes due for the store, all of them with
 * @force, in @settled the pending entries they settle, and in @number
 * the batch's number; NULL when none is due. */
PbStoreBatch *_pb_table_take_delivered (PbTable          *self,
                                        gboolean          force,
                                        GPtrArray       **settled,
                                        guint64          *number);
/* Writes @batch, taken from the table, to its store: from any thread, one
 * at a time, in the order they were taken. After a failure, writes
 * nothing more, and returns FALSE without an error. */
gboolean  _pb_table_write          (PbTable               *self,
                                    PbStoreBatch          *batch,
                                    GError               **error);
/* On the engine's context, once batch @number, which settles @settled,
 * was written (or not): a key leaves the pending changes when no later
 * batch has it. */
void      _pb_table_written        (PbTable               *self,
                                    GPtrArray             *settled,
                                    guint64                number,
                                    gboolean               written);
/* Whether the table's store is written by a thread of its own (RocksDB),
 * while the engine goes on. */
gboolean  _pb_table_writes_apart   (PbTable               *self);
/* Whether delivered changes wait for a flush. */
gboolean  _pb_table_has_delivered  (PbTable               *self);

G_END_DECLS
