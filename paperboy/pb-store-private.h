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

G_END_DECLS
