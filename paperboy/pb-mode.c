/* pb-mode.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-mode-private.h"

#include "pb-kafka-private.h"

/* The automatic switch between Single and Bulk mode. The lag of a
 * partition is its high watermark, which librdkafka updates from every
 * fetch response (stale while the partition is paused, unknown before its
 * first fetch), minus the engine's next offset to hand over: records
 * polled and not handled count. No broker round trip. */

#define TICK_MAX_MS 1000
#define TICK_MIN_MS 100

struct _PbMode
{
  PbHost          *host;
  PbConsumer      *consumer;
  PbPartitionMap  *partitions;
  PbModeSettings   settings;

  PbEngineMode     current;
  PbEngineMode     wanted;
  GSource         *timer;
  gint64           beyond_since;    /* the lag crossed the threshold, or 0 */
};

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
get_rk (PbMode *self)
{
  return _pb_kafka_handle_get (_pb_consumer_get_handle (self->consumer));
}

GVariant *
_pb_mode_get_lag (PbMode *self)
{
  GVariantBuilder builder;
  LagSum sum = { get_rk (self), 0, &builder };

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(six)"));
  _pb_partition_map_foreach (self->partitions, add_lag_cb, &sum);

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static gboolean
tick_cb (gpointer user_data)
{
  PbMode *self = user_data;
  LagSum sum = { get_rk (self), 0, NULL };
  gboolean beyond;
  gint64 now;

  if (self->wanted != self->current)
    return G_SOURCE_CONTINUE;

  _pb_partition_map_foreach (self->partitions, add_lag_cb, &sum);

  if (self->current == PB_ENGINE_MODE_SINGLE)
    beyond = sum.total > self->settings.bulk_lag_threshold;
  else
    beyond = sum.total < self->settings.single_lag_threshold;

  if (!beyond)
    {
      self->beyond_since = 0;
      return G_SOURCE_CONTINUE;
    }

  now = g_get_monotonic_time ();
  if (self->beyond_since == 0)
    self->beyond_since = now;

  if (now - self->beyond_since >= (gint64)self->settings.mode_switch_dwell_ms * 1000)
    {
      self->wanted = self->current == PB_ENGINE_MODE_SINGLE ? PB_ENGINE_MODE_BULK
                                                            : PB_ENGINE_MODE_SINGLE;
      self->beyond_since = 0;
      g_info ("Switching to %s mode: the lag, %" G_GUINT64_FORMAT ", was %s %u for %u ms",
              mode_name (self->wanted), sum.total,
              self->wanted == PB_ENGINE_MODE_BULK ? "above" : "below",
              self->wanted == PB_ENGINE_MODE_BULK ? self->settings.bulk_lag_threshold
                                                  : self->settings.single_lag_threshold,
              self->settings.mode_switch_dwell_ms);
      _pb_host_kick (self->host);
    }

  return G_SOURCE_CONTINUE;
}

static void
watch_lag (PbMode *self)
{
  if (!self->settings.bulk_mode && self->settings.bulk_lag_threshold > 0 && self->timer == NULL)
    {
      guint interval = CLAMP (self->settings.mode_switch_dwell_ms / 2, TICK_MIN_MS, TICK_MAX_MS);

      self->timer = _pb_timeout_source_new (_pb_host_get_context (self->host), interval,
                                            G_PRIORITY_DEFAULT, "[paperboy] lag watch",
                                            tick_cb, self, NULL);
    }
}

PbMode *
_pb_mode_new (PbHost               *host,
              PbConsumer           *consumer,
              PbPartitionMap       *partitions,
              const PbModeSettings *settings)
{
  PbMode *self = g_new0 (PbMode, 1);

  self->host = host;
  self->consumer = consumer;
  self->partitions = partitions;
  self->settings = *settings;

  /* Steps are handled in Bulk mode. */
  if (settings->bulk_mode || settings->n_steps > 0)
    self->current = PB_ENGINE_MODE_BULK;
  else
    self->current = PB_ENGINE_MODE_SINGLE;
  self->wanted = self->current;

  if (settings->n_steps == 0)
    watch_lag (self);

  return self;
}

void
_pb_mode_free (PbMode *self)
{
  if (self == NULL)
    return;

  _pb_clear_source (&self->timer);
  g_free (self);
}

PbEngineMode
_pb_mode_get_current (PbMode *self)
{
  return self->current;
}

PbEngineMode
_pb_mode_get_wanted (PbMode *self)
{
  return self->wanted;
}

void
_pb_mode_switched (PbMode       *self,
                   PbEngineMode  mode)
{
  self->current = mode;
  g_message ("Now in %s mode", mode_name (mode));
  _pb_host_emit (self->host, PB_EVENT_MODE, mode, FALSE, NULL);
}

void
_pb_mode_steps_over (PbMode *self)
{
  self->wanted = self->settings.bulk_mode ? PB_ENGINE_MODE_BULK : PB_ENGINE_MODE_SINGLE;
  self->beyond_since = 0;
  watch_lag (self);
  _pb_host_kick (self->host);
}

void
_pb_mode_stop (PbMode *self)
{
  _pb_clear_source (&self->timer);
  self->wanted = self->current;
}
