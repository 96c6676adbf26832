/* pb-producer.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-producer-private.h"

#include <glib/gi18n-lib.h>

#include "pb-error.h"
#include "pb-kafka-private.h"
#include "pb-kafka-source-private.h"

/* How long a produce waits for room in a full queue before it fails. */
#define QUEUE_FULL_WAIT_US (30 * G_USEC_PER_SEC)
/* How long the last reports of purged records may take. */
#define DRAIN_TIMEOUT_US (2 * G_USEC_PER_SEC)

typedef struct
{
  guint64         seq;
  PbDeliveryFunc  func;
  gpointer        data;
} PbDelivery;

struct _PbProducer
{
  rd_kafka_t                *rk;
  GSource                   *source;
  const PbProducerCallbacks *callbacks;
  gpointer                   user_data;

  guint64                    issued;
  guint64                    delivered;
  /* Whether each record after `delivered`, up to `issued`, was delivered:
   * a ring of capacity a power of two, its head the record delivered + 1. */
  guint8                    *done;
  gsize                      head;
  gsize                      capacity;

  GError                    *error;     /* to report after the dispatch */
  char                      *error_topic;
  guint                      closing : 1;
};

static void
ring_grow (PbProducer *self)
{
  gsize length = self->issued - self->delivered;
  gsize capacity = MAX (self->capacity * 2, 1024);
  guint8 *done = g_new0 (guint8, capacity);

  for (gsize i = 0; i < length; i++)
    done[i] = self->done[(self->head + i) & (self->capacity - 1)];

  g_free (self->done);
  self->done = done;
  self->head = 0;
  self->capacity = capacity;
}

static void
mark_delivered (PbProducer *self,
                guint64     seq)
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

static void
dr_msg_cb (rd_kafka_t                *rk,
           const rd_kafka_message_t  *rkmessage,
           void                      *opaque)
{
  PbProducer *self = opaque;
  PbDelivery *delivery = rkmessage->_private;

  if (delivery == NULL)
    return;

  if (delivery->func != NULL)
    delivery->func (delivery->data, rkmessage->err, rkmessage->partition, rkmessage->offset);

  if (rkmessage->err == RD_KAFKA_RESP_ERR_NO_ERROR)
    mark_delivered (self, delivery->seq);
  else if (self->error == NULL && !self->closing)
    {
      self->error = g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                                 _("Could not deliver a record to “%s”: %s"),
                                 rd_kafka_topic_name (rkmessage->rkt),
                                 rd_kafka_err2str (rkmessage->err));
      self->error_topic = g_strdup (rd_kafka_topic_name (rkmessage->rkt));
    }

  g_free (delivery);
}

static void
error_cb (rd_kafka_t *rk,
          int         err,
          const char *reason,
          void       *opaque)
{
  PbProducer *self = opaque;

  if (err == RD_KAFKA_RESP_ERR__FATAL)
    {
      char errstr[512];
      rd_kafka_resp_err_t orig = rd_kafka_fatal_error (rk, errstr, sizeof errstr);

      if (self->error == NULL && !self->closing)
        self->error = g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                                   _("Fatal Kafka producer error: %s (%s)"),
                                   errstr, rd_kafka_err2name (orig));
      return;
    }

  g_debug ("Producer: %s (%s)", reason, rd_kafka_err2name (err));
}

static void
report (PbProducer *self)
{
  if (self->error != NULL)
    {
      g_autofree char *topic = g_steal_pointer (&self->error_topic);

      self->callbacks->failed (self->user_data, topic, g_steal_pointer (&self->error));
    }

  self->callbacks->delivered (self->user_data);
}

static gboolean
producer_dispatch (gpointer user_data)
{
  PbProducer *self = user_data;

  rd_kafka_poll (self->rk, 0);
  report (self);

  return G_SOURCE_CONTINUE;
}

PbProducer *
_pb_producer_new (rd_kafka_conf_t           *conf,
                  GMainContext              *context,
                  int                        priority,
                  const PbProducerCallbacks *callbacks,
                  gpointer                   user_data,
                  GError                   **error)
{
  PbProducer *self;
  char errstr[512];

  self = g_new0 (PbProducer, 1);
  self->callbacks = callbacks;
  self->user_data = user_data;

  rd_kafka_conf_set_opaque (conf, self);
  rd_kafka_conf_set_dr_msg_cb (conf, dr_msg_cb);
  rd_kafka_conf_set_error_cb (conf, error_cb);
  rd_kafka_conf_set_log_cb (conf, _pb_kafka_log);

  self->rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (self->rk == NULL)
    {
      rd_kafka_conf_destroy (conf);
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Invalid Kafka producer configuration: %s"), errstr);
      g_free (self);
      return NULL;
    }

  /* Its logs come with the delivery reports, on the engine's thread. */
  rd_kafka_set_log_queue (self->rk, NULL);

  self->source = _pb_kafka_source_new (rd_kafka_queue_get_main (self->rk), 0, error);
  if (self->source == NULL)
    {
      rd_kafka_destroy (self->rk);
      g_free (self);
      return NULL;
    }

  g_source_set_static_name (self->source, "[paperboy] producer");
  g_source_set_priority (self->source, priority);
  g_source_set_callback (self->source, producer_dispatch, self, NULL);
  g_source_attach (self->source, context);

  return self;
}

void
_pb_producer_drain (PbProducer *self)
{
  gint64 deadline = g_get_monotonic_time () + DRAIN_TIMEOUT_US;

  /* What came, failures included... */
  rd_kafka_poll (self->rk, 0);
  report (self);

  /* ...then what is purged, which is no failure of the run. */
  self->closing = TRUE;
  rd_kafka_purge (self->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  while (rd_kafka_outq_len (self->rk) > 0 && g_get_monotonic_time () < deadline)
    rd_kafka_poll (self->rk, 10);
  rd_kafka_poll (self->rk, 0);
  report (self);
}

void
_pb_producer_free (PbProducer *self)
{
  if (self == NULL)
    return;

  self->closing = TRUE;

  _pb_kafka_source_release (self->source);
  g_source_destroy (self->source);
  g_clear_pointer (&self->source, g_source_unref);

  /* What is left is reported as purged, and its deliveries freed. */
  rd_kafka_purge (self->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                            RD_KAFKA_PURGE_F_NON_BLOCKING);
  rd_kafka_poll (self->rk, 0);
  _pb_kafka_handle_unref_async (_pb_kafka_handle_new (g_steal_pointer (&self->rk)), NULL, NULL);

  g_clear_error (&self->error);
  g_free (self->error_topic);
  g_free (self->done);
  g_free (self);
}

guint64
_pb_producer_produce (PbProducer          *self,
                      const char          *topic,
                      int                  partition,
                      const void          *key,
                      gsize                key_len,
                      const void          *value,
                      gsize                value_len,
                      rd_kafka_headers_t  *headers,
                      PbDeliveryFunc       func,
                      gpointer             data,
                      GError             **error)
{
  PbDelivery *delivery;
  rd_kafka_resp_err_t err;
  gint64 deadline = 0;
  gboolean polled = FALSE;

  delivery = g_new (PbDelivery, 1);
  delivery->seq = self->issued + 1;
  delivery->func = func;
  delivery->data = data;

  for (;;)
    {
      err = rd_kafka_producev (self->rk,
                               RD_KAFKA_V_TOPIC (topic),
                               RD_KAFKA_V_PARTITION (partition),
                               RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_KEY (key, key_len),
                               RD_KAFKA_V_VALUE ((void *)value, value_len),
                               RD_KAFKA_V_HEADERS (headers),
                               RD_KAFKA_V_OPAQUE (delivery),
                               RD_KAFKA_V_END);

      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        break;

      /* Back-pressure: the deliveries served here make room. */
      if (deadline == 0)
        deadline = g_get_monotonic_time () + QUEUE_FULL_WAIT_US;
      else if (g_get_monotonic_time () > deadline)
        break;

      rd_kafka_poll (self->rk, 100);
      polled = TRUE;
    }

  if (polled)
    report (self);

  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      if (headers != NULL)
        rd_kafka_headers_destroy (headers);
      g_free (delivery);
      g_set_error (error, PB_ERROR, PB_ERROR_KAFKA,
                   _("Could not produce a record to “%s”: %s"),
                   topic, rd_kafka_err2str (err));
      return 0;
    }

  if (self->issued - self->delivered == self->capacity)
    ring_grow (self);
  self->issued++;

  return self->issued;
}

const guint64 *
_pb_producer_get_issued (PbProducer *self)
{
  return &self->issued;
}

const guint64 *
_pb_producer_get_delivered (PbProducer *self)
{
  return &self->delivered;
}

gboolean
_pb_producer_get_idle (PbProducer *self)
{
  return self->issued == self->delivered;
}

rd_kafka_t *
_pb_producer_get_client (PbProducer *self)
{
  return self->rk;
}
