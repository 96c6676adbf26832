/* pb-rocksdb-store-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-rocksdb-store-private.h is a private header of Paperboy."
#endif

#include "pb-store.h"

G_BEGIN_DECLS

/* Deletes the database of a store that is not open, damaged or not. */
gboolean _pb_rocksdb_store_destroy (PbRocksdbStore  *self,
                                    GError         **error);

/* Exact-state: what _pb_store_get_sources() says of a RocksDB store. */
GArray  *_pb_rocksdb_store_get_sources (PbRocksdbStore  *self,
                                        int              partition);

G_END_DECLS
