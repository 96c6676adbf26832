/* pb-message-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <librdkafka/rdkafka.h>

#include "pb-kafka-private.h"
#include "pb-message.h"

G_BEGIN_DECLS

/* The messages of one engine run that outlived their handling: they still
 * reference fetched records and are detached (copied) when the run stops. */
typedef struct _PbMessagePool PbMessagePool;

PbMessagePool *_pb_message_pool_new    (PbKafkaHandle *handle);
/* Detaches every message still alive and frees the pool. */
void           _pb_message_pool_free   (PbMessagePool *pool);

/* Gives @rkm (owned) to a message, reusing the pool's spare one when its
 * only reference is the pool's. @topic is @rkm's topic name, interned.
 * Returns a new reference. */
PbMessage     *_pb_message_pool_take   (PbMessagePool      *pool,
                                        rd_kafka_message_t *rkm,
                                        const char         *topic);
/* Drops the engine's reference to @message: a message nobody else holds
 * becomes the spare one, any other is tracked until it is finalized. */
void           _pb_message_pool_return (PbMessagePool      *pool,
                                        PbMessage          *message);

G_END_DECLS
