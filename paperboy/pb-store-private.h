/* pb-store-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-store-private.h is a private header of Paperboy."
#endif

#include "pb-store.h"

G_BEGIN_DECLS

/* A batch with room for @n_changes changes before it grows. */
PbStoreBatch *_pb_store_batch_new_sized (guint         n_changes);
/* Adds a change whose @key (owned) and @value (owned, nullable: deleted)
 * the batch takes as they are; returns the change's index. */
guint         _pb_store_batch_take      (PbStoreBatch *self,
                                         char         *key,
                                         GVariant     *value);

/* Exact-state: the last change a store holds of records of @topic, in
 * changelog @partition. */
typedef struct
{
  int     partition;
  char   *topic;
  gint64  offset;   /* of the record */
  guint   seq;      /* of the change, among the record's changes */
} PbStoreSource;

/* Says that @batch brings the changes up to (@offset, @seq) of the records
 * of @topic in @partition (a later call for the same ones wins). A batch
 * that sets the offset of a partition to -1 drops its sources too. */
void          _pb_store_batch_set_source (PbStoreBatch *self,
                                          int           partition,
                                          const char   *topic,
                                          gint64        offset,
                                          guint         seq);
/* The sources of @self: PbStoreSource (owned by @self). */
GArray       *_pb_store_batch_get_sources (PbStoreBatch *self);
/* The sources that @store holds of @partition, as PbStoreSource (a new
 * array): memory:// and rocksdb:// stores keep them, other stores none. */
GArray       *_pb_store_get_sources      (PbStore      *store,
                                          int           partition);
void          _pb_store_source_clear     (gpointer      source);
/* An empty array of PbStoreSource, and the update of one in it. */
GArray       *_pb_store_sources_new      (void);
void          _pb_store_sources_set      (GArray       *sources,
                                          int           partition,
                                          const char   *topic,
                                          gint64        offset,
                                          guint         seq);

G_END_DECLS
