/* pb-kafka-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-kafka-private.h is a private header of Paperboy."
#endif

#include <gio/gio.h>
#include <librdkafka/rdkafka.h>

G_BEGIN_DECLS

/* A reference-counted librdkafka handle. Zero-copy GBytes that point into
 * fetched records hold a reference, because rd_kafka_destroy() blocks until
 * every fetched record is destroyed: the handle is destroyed when the last
 * reference is dropped, which is at once in the common case. */
typedef struct _PbKafkaHandle PbKafkaHandle;

PbKafkaHandle *_pb_kafka_handle_new          (rd_kafka_t          *rk);
PbKafkaHandle *_pb_kafka_handle_ref          (PbKafkaHandle       *handle);
/* The last reference destroys the handle, without closing a consumer:
 * its owner closes it first. */
void           _pb_kafka_handle_unref        (PbKafkaHandle       *handle);
/* The same, but the destruction, which blocks, runs in a worker thread;
 * @callback runs on the thread-default main context once it is over, or
 * at once when this was not the last reference. */
void           _pb_kafka_handle_unref_async  (PbKafkaHandle       *handle,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
rd_kafka_t    *_pb_kafka_handle_get          (PbKafkaHandle       *handle);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PbKafkaHandle, _pb_kafka_handle_unref)

/* Sets one configuration property, mapping a rejection to PB_ERROR_CONFIG. */
gboolean _pb_kafka_conf_set (rd_kafka_conf_t  *conf,
                             const char       *key,
                             const char       *value,
                             GError          **error);

/* Wraps a librdkafka error code in a PB_ERROR_KAFKA error. */
void     _pb_kafka_set_error (GError              **error,
                              rd_kafka_resp_err_t   err,
                              const char           *what);

/* TRUE for configuration keys whose values must never be logged. */
gboolean _pb_kafka_key_is_secret (const char *key);

/* Re-emits a librdkafka log line in the Paperboy-Kafka log domain. */
void     _pb_kafka_log (const rd_kafka_t *rk,
                        int               level,
                        const char       *facility,
                        const char       *buf);

/* A list of partitions as a GVariant of type a(si) (floating). */
GVariant *_pb_kafka_partitions_to_variant (const rd_kafka_topic_partition_list_t *partitions);

/* Headers from a GVariant of type a(smay), or NULL when it has none. */
rd_kafka_headers_t *_pb_kafka_headers_from_variant (GVariant *headers);

G_END_DECLS
