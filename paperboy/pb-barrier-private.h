/* pb-barrier-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-barrier-private.h is a private header of Paperboy."
#endif

#include <glib.h>

G_BEGIN_DECLS

/* The delivery barrier of a run: every record the run produces (a
 * table's change, a handler's record, later a dead letter) takes the next
 * number of one sequence, and its delivery report marks it done.
 * `delivered` is the highest number with every number up to it done.
 *
 * The producer issues and marks; the offsets read: a source record handled
 * while `issued` was N is committed only once `delivered` reached N. */
typedef struct
{
  guint64  issued;
  guint64  delivered;
  /* Whether each number after `delivered`, up to `issued`, was done: a
   * ring whose capacity is a power of two, its head `delivered` + 1. */
  guint8  *done;
  gsize    head;
  gsize    capacity;
} PbBarrier;

PbBarrier *_pb_barrier_new    (void);
void       _pb_barrier_free   (PbBarrier *self);

/* Takes the next number. */
guint64    _pb_barrier_issue  (PbBarrier *self);
/* @seq, issued, was delivered. */
void       _pb_barrier_mark   (PbBarrier *self,
                               guint64    seq);

/* Whether everything issued was delivered. */
static inline gboolean
_pb_barrier_is_settled (const PbBarrier *self)
{
  return self->issued == self->delivered;
}

G_END_DECLS
