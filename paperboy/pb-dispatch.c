/* pb-dispatch.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-dispatch-private.h"

static void
adopt_cb (PbPartition *p,
          gpointer     user_data)
{
  PbDispatch *dispatch = user_data;

  if (p->state == PB_PARTITION_ASSIGNED && p->fifo.length > 0)
    dispatch->klass->adopt (dispatch, p);
}

PbDispatch *
_pb_dispatch_new (PbEngineMode           mode,
                  const PbDispatchSetup *setup,
                  guint                  max_in_flight)
{
  PbDispatch *self;

  if (mode == PB_ENGINE_MODE_BULK)
    self = _pb_dispatch_bulk_new (setup);
  else
    self = _pb_dispatch_single_new (setup);

  self->mode = mode;
  self->max_in_flight = max_in_flight;
  _pb_partition_map_foreach (setup->partitions, adopt_cb, self);

  return self;
}
