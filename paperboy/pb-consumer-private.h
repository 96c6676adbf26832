/* pb-consumer-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-consumer-private.h is a private header of Paperboy."
#endif

#include <gio/gio.h>
#include <librdkafka/rdkafka.h>

#include "pb-kafka-private.h"

G_BEGIN_DECLS

/* The consumer of an engine's group: a librdkafka consumer whose queue a
 * GSource serves on the engine's main context, reporting upward through
 * callbacks. The callbacks run inside that dispatch, some of them inside
 * rd_kafka_consumer_poll(): they record what happened and never run
 * handler code nor emit signals. */
typedef struct _PbConsumer PbConsumer;

typedef struct
{
  /* A polled record, owned by the callee. */
  void     (*record)    (gpointer                               user_data,
                         rd_kafka_message_t                    *rkm);
  /* After each batch of records: TRUE to poll another one at once.
   * @drained says whether the queue is empty. */
  gboolean (*batch_end) (gpointer                               user_data,
                         gboolean                               drained);
  /* Partitions the consumer is about to take (not yet assigned in
   * librdkafka). */
  void     (*assigning) (gpointer                               user_data,
                         const rd_kafka_topic_partition_list_t *partitions);
  /* Partitions the consumer took (already assigned in librdkafka). */
  void     (*assigned)  (gpointer                               user_data,
                         const rd_kafka_topic_partition_list_t *partitions);
  /* Partitions to give up: held until _pb_consumer_unassign(). */
  void     (*revoked)   (gpointer                               user_data,
                         const rd_kafka_topic_partition_list_t *partitions);
  /* Partitions the group took away; given up when this returns. */
  void     (*lost)      (gpointer                               user_data,
                         const rd_kafka_topic_partition_list_t *partitions);
  void     (*committed) (gpointer                               user_data,
                         rd_kafka_resp_err_t                    err,
                         const rd_kafka_topic_partition_list_t *offsets);
  /* The consumer reached the end of a partition, at @offset (only with
   * enable.partition.eof). */
  void     (*eof)       (gpointer                               user_data,
                         const char                            *topic,
                         int                                    partition,
                         gint64                                 offset);
  /* Something that ends the run; @error is owned by the callee. */
  void     (*failed)    (gpointer                               user_data,
                         GError                                *error);
  /* No broker answers any more (FALSE), or one does again (TRUE). */
  void     (*connected) (gpointer                               user_data,
                         gboolean                               connected);
  /* The consumer left its group after _pb_consumer_close(). */
  void     (*closed)    (gpointer                               user_data);
} PbConsumerCallbacks;

PbConsumer       *_pb_consumer_new           (rd_kafka_conf_t                       *conf,
                                              GMainContext                          *context,
                                              int                                    priority,
                                              const PbConsumerCallbacks             *callbacks,
                                              gpointer                               user_data,
                                              GError                               **error);

PbKafkaHandle    *_pb_consumer_get_handle    (PbConsumer                            *self);
rd_kafka_topic_t *_pb_consumer_topic_new     (PbConsumer                            *self,
                                              const char                            *topic);
gboolean          _pb_consumer_subscribe     (PbConsumer                            *self,
                                              const char * const                    *topics,
                                              GError                               **error);

void              _pb_consumer_set_paused    (PbConsumer                            *self,
                                              const rd_kafka_topic_partition_list_t *partitions,
                                              gboolean                               paused);
/* Stores offsets for the next commit; partitions no longer assigned are
 * skipped. */
void              _pb_consumer_store         (PbConsumer                            *self,
                                              rd_kafka_topic_partition_list_t       *offsets);
/* Commits @offsets now, without waiting: the result comes to the
 * committed callback. */
void              _pb_consumer_commit        (PbConsumer                            *self,
                                              const rd_kafka_topic_partition_list_t *offsets);
/* Gives up revoked partitions. */
void              _pb_consumer_unassign      (PbConsumer                            *self,
                                              const rd_kafka_topic_partition_list_t *partitions);

/* Whether polled records or events wait in the consumer's queue. */
gboolean          _pb_consumer_pending       (PbConsumer                            *self);

/* Leaves the group; the closed callback says when it is done. */
void              _pb_consumer_close         (PbConsumer                            *self);

/* Stops serving the consumer and lets it go: librdkafka's handle is
 * destroyed in a worker thread once nothing references it any more (the
 * bytes of records a handler still holds keep it), and @callback runs on
 * the consumer's context when this consumer's part is done. */
void              _pb_consumer_free_async    (PbConsumer                            *self,
                                              GAsyncReadyCallback                    callback,
                                              gpointer                               user_data);

G_END_DECLS
