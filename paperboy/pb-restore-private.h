/* pb-restore-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-restore-private.h is a private header of Paperboy."
#endif

#include <gio/gio.h>
#include <librdkafka/rdkafka.h>

#include "pb-store.h"

G_BEGIN_DECLS

/* What a restore read. */
typedef struct
{
  guint64 records;       /* changelog records read */
  guint64 bad;           /* of them, skipped as not a change */
  int     n_partitions;  /* the changelog's */
} PbRestoreResult;

/* Where a restore writes: a store, or whatever stands for a part of one.
 * Called from the restoring thread. */
typedef struct
{
  /* The changelog offsets held, as `a{ix}`. */
  GVariant *(*get_offsets) (gpointer       data,
                            GError       **error);
  /* Forgets what the partitions hold (all of them when @partitions is
   * NULL), their offsets included. */
  gboolean  (*wipe)        (gpointer       data,
                            const int     *partitions,
                            int            n_partitions,
                            GError       **error);
  gboolean  (*apply)       (gpointer       data,
                            PbStoreBatch  *batch,
                            GError       **error);
  gpointer    data;
  /* Goes on past the ends, applying what comes as it comes, until
   * cancelled. */
  gboolean    follow;
} PbRestoreTarget;

/* A target that is @store itself. */
void _pb_restore_target_init_store (PbRestoreTarget *target,
                                    PbStore         *store);

/* Replays the changelog @topic into @target, from the offsets the store
 * holds (or from the start) to the ends captured as it starts, with a
 * group-less consumer made from @conf (owned), which commits nothing:
 * the @n_partitions @partitions of the changelog, or all of them when
 * @partitions is NULL.
 * A bad record fails the restore when @strict, and is skipped and counted
 * otherwise. @name names what is restored in messages. Blocks (until
 * cancelled, for a @target that follows): any thread but the engine's;
 * emits nothing itself. */
gboolean _pb_restore (const PbRestoreTarget *target,
                      const char       *topic,
                      const char       *name,
                      gboolean          strict,
                      const int        *partitions,
                      int               n_partitions,
                      rd_kafka_conf_t  *conf,
                      GCancellable     *cancellable,
                      PbRestoreResult  *result,
                      GError          **error);

G_END_DECLS
