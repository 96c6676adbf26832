/* pb-mode.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-mode-private.h"

#include "pb-dispatch-private.h"
#include "pb-enum-types.h"
#include "pb-kafka-private.h"

/* The automatic switch between Single and Bulk mode. The lag of a
 * partition is its high watermark, which librdkafka updates from every
 * fetch response (stale while the partition is paused, unknown before its
 * first fetch), minus the engine's next offset to hand over: records
 * polled and not handled count. No broker round trip. */

#define TICK_MAX_MS 1000
#define TICK_MIN_MS 100

static const char *
mode_name (PbEngineMode mode)
{
  return mode == PB_ENGINE_MODE_BULK ? "Bulk" : "Single";
}

/* The partition's lag, or -1 when it is unknown. */
static gint64
partition_lag (rd_kafka_t  *rk,
               PbPartition *p)
{
  int64_t low, high;
  gint64 next;

  if (p->state != PB_PARTITION_ASSIGNED)
    return -1;

  if (rd_kafka_get_watermark_offsets (rk, p->topic->name, p->id, &low, &high) !=
      RD_KAFKA_RESP_ERR_NO_ERROR || high < 0)
    return -1;

  next = p->committable >= 0 ? p->committable : p->polled_from;
  if (next < 0)
    return -1;

  return MAX (high - next, 0);
}

typedef struct
{
  rd_kafka_t      *rk;
  guint64          total;
  GVariantBuilder *builder;
} LagSum;

static void
add_lag_cb (PbPartition *p,
            gpointer     user_data)
{
  LagSum *sum = user_data;
  gint64 lag = partition_lag (sum->rk, p);

  if (lag < 0)
    return;

  if (sum->builder != NULL)
    g_variant_builder_add (sum->builder, "(six)", p->topic->name, (gint32)p->id, lag);

  /* A partition paused for back-pressure has a backlog (its watermark is
   * stale, so its lag is a lower bound); other pauses mean the engine
   * does not want its records now. */
  if ((p->pause_reasons & ~PB_PAUSE_BACKPRESSURE) == 0)
    sum->total += lag;
}

static rd_kafka_t *
get_rk (PbRun *run)
{
  if (run->consumer == NULL || run->partitions == NULL)
    return NULL;

  return _pb_kafka_handle_get (_pb_consumer_get_handle (run->consumer));
}

GVariant *
_pb_mode_get_lag (PbRun *run)
{
  GVariantBuilder builder;
  LagSum sum = { get_rk (run), 0, &builder };

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(six)"));
  if (sum.rk != NULL)
    _pb_partition_map_foreach (run->partitions, add_lag_cb, &sum);

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static gboolean
tick_cb (gpointer user_data)
{
  PbRun *run = user_data;
  PbModeState *mode = &run->mode;
  LagSum sum = { get_rk (run), 0, NULL };
  gboolean beyond;
  gint64 now;

  if (sum.rk == NULL || run->stop_requested || mode->wanted != mode->current)
    return G_SOURCE_CONTINUE;

  _pb_partition_map_foreach (run->partitions, add_lag_cb, &sum);

  if (mode->current == PB_ENGINE_MODE_SINGLE)
    beyond = sum.total > run->settings.bulk_lag_threshold;
  else
    beyond = sum.total < run->settings.single_lag_threshold;

  if (!beyond)
    {
      mode->beyond_since = 0;
      return G_SOURCE_CONTINUE;
    }

  now = g_get_monotonic_time ();
  if (mode->beyond_since == 0)
    mode->beyond_since = now;

  if (now - mode->beyond_since >= (gint64)run->settings.mode_switch_dwell_ms * 1000)
    {
      mode->wanted = mode->current == PB_ENGINE_MODE_SINGLE ? PB_ENGINE_MODE_BULK
                                                            : PB_ENGINE_MODE_SINGLE;
      mode->beyond_since = 0;
      g_info ("Switching to %s mode: the lag, %" G_GUINT64_FORMAT ", was %s %u for %u ms",
              mode_name (mode->wanted), sum.total,
              mode->wanted == PB_ENGINE_MODE_BULK ? "above" : "below",
              mode->wanted == PB_ENGINE_MODE_BULK ? run->settings.bulk_lag_threshold
                                                  : run->settings.single_lag_threshold,
              run->settings.mode_switch_dwell_ms);
      _pb_run_kick (run);
    }

  return G_SOURCE_CONTINUE;
}

static PbDispatch *
dispatch_new (PbRun        *run,
              PbEngineMode  mode)
{
  return mode == PB_ENGINE_MODE_BULK ? _pb_dispatch_bulk_new (run) : _pb_dispatch_single_new (run);
}

static void
watch_lag (PbRun *run)
{
  if (!run->settings.bulk_mode && run->settings.bulk_lag_threshold > 0 && run->mode.timer == NULL)
    {
      guint interval = CLAMP (run->settings.mode_switch_dwell_ms / 2, TICK_MIN_MS, TICK_MAX_MS);

      run->mode.timer = _pb_timeout_source_new (run->context, interval, G_PRIORITY_DEFAULT,
                                                "[paperboy] lag watch", tick_cb, run, NULL);
    }
}

void
_pb_mode_start (PbRun *run)
{
  PbModeState *mode = &run->mode;

  /* Steps are handled in Bulk mode. */
  if (run->settings.bulk_mode || run->settings.n_steps > 0)
    mode->current = PB_ENGINE_MODE_BULK;
  else
    mode->current = PB_ENGINE_MODE_SINGLE;
  mode->wanted = mode->current;
  run->dispatch = dispatch_new (run, mode->current);

  /* Messages of a whole batch are alive at once. */
  _pb_message_pool_set_capacity (run->pool, run->settings.bulk_max_records);

  if (run->settings.n_steps == 0)
    watch_lag (run);
}

void
_pb_mode_steps_over (PbRun *run)
{
  run->mode.wanted = run->settings.bulk_mode ? PB_ENGINE_MODE_BULK : PB_ENGINE_MODE_SINGLE;
  run->mode.beyond_since = 0;
  watch_lag (run);
  _pb_run_kick (run);
}

void
_pb_mode_stop (PbRun *run)
{
  _pb_clear_source (&run->mode.timer);
}

static void
adopt_cb (PbPartition *p,
          gpointer     user_data)
{
  PbDispatch *dispatch = user_data;

  if (p->state == PB_PARTITION_ASSIGNED && p->fifo.length > 0)
    dispatch->klass->adopt (dispatch, p);
}

void
_pb_dispatch_adopt (PbDispatch *self)
{
  _pb_partition_map_foreach (self->run->partitions, adopt_cb, self);
}

void
_pb_mode_check (PbRun *run)
{
  PbModeState *mode = &run->mode;

  if (mode->wanted == mode->current || run->dispatch == NULL || run->stop_requested ||
      run->dispatch->klass->busy (run->dispatch, NULL))
    return;

  g_clear_pointer (&run->dispatch, _pb_dispatch_free);
  run->dispatch = dispatch_new (run, mode->wanted);
  _pb_dispatch_adopt (run->dispatch);
  mode->current = mode->wanted;

  g_message ("Now in %s mode", mode_name (mode->current));
  _pb_run_emit_mode (run, mode->current);
}
