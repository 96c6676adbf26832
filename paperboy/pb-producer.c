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

/* A delivery report, as librdkafka gave it. */
typedef struct
{
  PbDelivery          *delivery;
  rd_kafka_resp_err_t  err;
  int                  partition;
  gint64               offset;
} PbReport;

struct _PbProducer
{
  rd_kafka_t                *rk;
  GSource                   *source;
  PbBarrier                 *barrier;
  const PbProducerCallbacks *callbacks;
  gpointer                   user_data;

  GArray                    *reports;   /* PbReport, to serve */
  GError                    *error;     /* to report after the dispatch */
  char                      *error_topic;
  guint                      closing : 1;
};

/* Inside rd_kafka_poll(): only recorded. */
static void
dr_msg_cb (rd_kafka_t                *rk,
           const rd_kafka_message_t  *rkmessage,
           void                      *opaque)
{
  PbProducer *self = opaque;
  PbReport report;

  if (rkmessage->_private == NULL)
    return;

  report.delivery = rkmessage->_private;
  report.err = rkmessage->err;
  report.partition = rkmessage->partition;
  report.offset = rkmessage->offset;
  g_array_append_val (self->reports, report);

  if (rkmessage->err != RD_KAFKA_RESP_ERR_NO_ERROR && self->error == NULL && !self->closing)
    {
      self->error = g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                                 _("Could not deliver a record to “%s”: %s"),
                                 rd_kafka_topic_name (rkmessage->rkt),
                                 rd_kafka_err2str (rkmessage->err));
      self->error_topic = g_strdup (rd_kafka_topic_name (rkmessage->rkt));
    }
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

/* Hands a report to its delivery, which is gone then. */
static void
deliver (PbReport *r)
{
  if (r->delivery->func != NULL)
    r->delivery->func (r->delivery, r->err, r->partition, r->offset);
  else
    g_free (r->delivery);
}

/* Serves the reports librdkafka gave during its last poll, once it
 * returned: the callers' functions, the barrier, then the callbacks. */
static void
report (PbProducer *self)
{
  for (guint i = 0; i < self->reports->len; i++)
    {
      PbReport *r = &g_array_index (self->reports, PbReport, i);
      guint64 seq = r->delivery->seq;

      deliver (r);
      if (r->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        _pb_barrier_mark (self->barrier, seq);
    }
  g_array_set_size (self->reports, 0);

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
                  PbBarrier                 *barrier,
                  GMainContext              *context,
                  int                        priority,
                  const PbProducerCallbacks *callbacks,
                  gpointer                   user_data,
                  GError                   **error)
{
  PbProducer *self;
  char errstr[512];

  self = g_new0 (PbProducer, 1);
  self->barrier = barrier;
  self->reports = g_array_new (FALSE, FALSE, sizeof (PbReport));
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
      g_array_unref (self->reports);
      g_free (self);
      return NULL;
    }

  /* Its logs come with the delivery reports, on the engine's thread. */
  rd_kafka_set_log_queue (self->rk, NULL);

  self->source = _pb_kafka_source_new (rd_kafka_queue_get_main (self->rk), 0, error);
  if (self->source == NULL)
    {
      rd_kafka_destroy (self->rk);
      g_array_unref (self->reports);
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
  for (guint i = 0; i < self->reports->len; i++)
    deliver (&g_array_index (self->reports, PbReport, i));
  _pb_kafka_handle_unref_async (_pb_kafka_handle_new (g_steal_pointer (&self->rk)), NULL, NULL);

  g_array_unref (self->reports);
  g_clear_error (&self->error);
  g_free (self->error_topic);
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
                      PbDelivery          *delivery,
                      GError             **error)
{
  PbDelivery *own = NULL;
  rd_kafka_resp_err_t err;
  gint64 deadline = 0;
  gboolean polled = FALSE;

  if (delivery == NULL)
    delivery = own = g_new0 (PbDelivery, 1);
  delivery->seq = self->barrier->issued + 1;

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
      g_free (own);
      g_set_error (error, PB_ERROR, PB_ERROR_KAFKA,
                   _("Could not produce a record to “%s”: %s"),
                   topic, rd_kafka_err2str (err));
      return 0;
    }

  return _pb_barrier_issue (self->barrier);
}

rd_kafka_t *
_pb_producer_get_client (PbProducer *self)
{
  return self->rk;
}
