/* pb-store-uri-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-store-uri-private.h is a private header of Paperboy."
#endif

#include "pb-store.h"

G_BEGIN_DECLS

/* A table's store named by a URI, made from the built-in stores. */

#define PB_STORE_MEMORY_SCHEME  "memory://"
#define PB_STORE_ROCKSDB_SCHEME "rocksdb://"

/* Checks a store URI: memory://, rocksdb:// or rocksdb:///absolute/path;
 * PB_ERROR_CONFIG otherwise. */
gboolean  _pb_store_check_uri   (const char  *uri,
                                 GError     **error);
/* The store @uri names, not opened yet; a bare rocksdb:// is a database
 * at @path. */
PbStore  *_pb_store_new_for_uri (const char  *uri,
                                 const char  *path,
                                 GError     **error);

G_END_DECLS
