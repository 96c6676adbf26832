/* pb-kafka-source-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-kafka-source-private.h is a private header of Paperboy."
#endif

#include <glib.h>
#include <librdkafka/rdkafka.h>

G_BEGIN_DECLS

/* Called when the queue has work, or when the keep-alive interval passed
 * without a dispatch; the callback polls the queue itself (it knows whether
 * rd_kafka_consumer_poll() or rd_kafka_queue_poll() is right). */
typedef gboolean (*PbKafkaSourceFunc) (gpointer user_data);

GSource *_pb_kafka_source_new     (rd_kafka_queue_t  *queue,
                                   guint              keepalive_ms,
                                   GError           **error);
/* Whether the queue holds something to poll. */
gboolean _pb_kafka_source_pending (GSource           *source);
/* Stops librdkafka writing to the wake-up pipe and lets the queue go; the
 * source then never dispatches again. Safe to call more than once. */
void     _pb_kafka_source_release (GSource           *source);

G_END_DECLS
