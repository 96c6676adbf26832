/* pb-memory-store-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-memory-store-private.h is a private header of Paperboy."
#endif

#include "pb-store.h"

G_BEGIN_DECLS

/* What pb_store_apply() does for one change, or for one offset, without a
 * batch: a table writes its sets to a memory store at once. */
void _pb_memory_store_put        (PbMemoryStore *self,
                                  const char    *key,
                                  GVariant      *value);
void _pb_memory_store_set_offset (PbMemoryStore *self,
                                  int            partition,
                                  gint64         next_offset);
/* Exact-state: what _pb_store_get_sources() says of a memory store. */
GArray *_pb_memory_store_get_sources (PbMemoryStore *self,
                                      int            partition);

G_END_DECLS
