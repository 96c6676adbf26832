/* pb-barrier.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-barrier-private.h"

#define MIN_CAPACITY 1024

PbBarrier *
_pb_barrier_new (void)
{
  return g_new0 (PbBarrier, 1);
}

void
_pb_barrier_free (PbBarrier *self)
{
  if (self == NULL)
    return;

  g_free (self->done);
  g_free (self);
}

static void
grow (PbBarrier *self)
{
  gsize length = self->issued - self->delivered;
  gsize capacity = MAX (self->capacity * 2, MIN_CAPACITY);
  guint8 *done = g_new0 (guint8, capacity);

  for (gsize i = 0; i < length; i++)
    done[i] = self->done[(self->head + i) & (self->capacity - 1)];

  g_free (self->done);
  self->done = done;
  self->head = 0;
  self->capacity = capacity;
}

guint64
_pb_barrier_issue (PbBarrier *self)
{
  if (self->issued - self->delivered == self->capacity)
    grow (self);

  return ++self->issued;
}

void
_pb_barrier_mark (PbBarrier *self,
                  guint64    seq)
{
  gsize mask = self->capacity - 1;

  g_assert (seq > self->delivered && seq <= self->issued);

  self->done[(self->head + (seq - self->delivered - 1)) & mask] = TRUE;

  while (self->delivered < self->issued && self->done[self->head])
    {
      self->done[self->head] = FALSE;
      self->head = (self->head + 1) & mask;
      self->delivered++;
    }
}
