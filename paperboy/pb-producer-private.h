/* pb-producer-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-producer-private.h is a private header of Paperboy."
#endif

#include <gio/gio.h>
#include <librdkafka/rdkafka.h>

#include "pb-barrier-private.h"

G_BEGIN_DECLS

/* The engine's producer: table changelogs and handlers' records.
 *
 * Every record produced takes the next number of the run's barrier.
 * Delivery reports, served on the engine's context, mark their numbers
 * delivered; a failed delivery never does. librdkafka's delivery callback
 * only records each report: what the engine does with them (the barrier,
 * the callers' delivery functions, the callbacks below) runs after
 * librdkafka returned, never inside it. */
typedef struct _PbProducer PbProducer;

typedef struct _PbDelivery PbDelivery;

/* Called for each delivery report, before the barrier moves, with the
 * delivery given to _pb_producer_produce(), which it may free; @err is the
 * delivery's error, @partition and @offset where the record went. */
typedef void (*PbDeliveryFunc) (PbDelivery          *delivery,
                                rd_kafka_resp_err_t  err,
                                int                  partition,
                                gint64               offset);

/* What hears of a record's delivery: the first member of the caller's own
 * structure, which the caller allocates and @func frees. */
struct _PbDelivery
{
  PbDeliveryFunc func;
  guint64        seq;     /* set by the producer */
};

typedef struct
{
  /* After the delivery reports of one dispatch were served. */
  void (*delivered) (gpointer  user_data);
  /* A delivery to @topic failed, or the producer did (@topic NULL):
   * @error is owned. */
  void (*failed)    (gpointer    user_data,
                     const char *topic,
                     GError     *error);
} PbProducerCallbacks;

PbProducer *_pb_producer_new            (rd_kafka_conf_t           *conf,
                                         PbBarrier                 *barrier,
                                         GMainContext              *context,
                                         int                        priority,
                                         const PbProducerCallbacks *callbacks,
                                         gpointer                   user_data,
                                         GError                   **error);
/* Purges what was not delivered and serves the last reports, the purged
 * records' failures included, which are not reported as failures. */
void        _pb_producer_drain          (PbProducer                *self);
/* Purges what was not delivered and destroys the client in a worker
 * thread. */
void        _pb_producer_free           (PbProducer                *self);

/* Produces one record; @headers (owned, nullable) is taken in every case.
 * @delivery, when not NULL, hears of its delivery report, and is the
 * producer's until then; when the record cannot be produced, it stays the
 * caller's. Returns the record's
 * sequence number, or 0 with @error set. Blocks while librdkafka's queue
 * is full, serving delivery reports meanwhile. */
guint64     _pb_producer_produce        (PbProducer                *self,
                                         const char                *topic,
                                         int                        partition,
                                         const void                *key,
                                         gsize                      key_len,
                                         const void                *value,
                                         gsize                      value_len,
                                         rd_kafka_headers_t        *headers,
                                         PbDelivery                *delivery,
                                         GError                   **error);

rd_kafka_t *_pb_producer_get_client     (PbProducer                *self);

G_END_DECLS
