/* pb-message-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-message-private.h is a private header of Paperboy."
#endif

#include <librdkafka/rdkafka.h>

#include "pb-kafka-private.h"
#include "pb-message.h"

G_BEGIN_DECLS

/* The messages of one engine run: a message the engine handed to a handler
 * is reused when nobody kept it, and detached from librdkafka when someone
 * did. */
typedef struct _PbMessagePool PbMessagePool;

PbMessagePool *_pb_message_pool_new    (PbKafkaHandle *handle);
void           _pb_message_pool_free   (PbMessagePool *pool);
/* How many spare messages the pool keeps (1 at first). */
void           _pb_message_pool_set_capacity (PbMessagePool *pool,
                                              guint          capacity);

/* Gives @rkm (owned) to a message, reusing a spare one. @topic is @rkm's topic name, interned.
 * Returns a new reference. */
PbMessage     *_pb_message_pool_take   (PbMessagePool      *pool,
                                        rd_kafka_message_t *rkm,
                                        const char         *topic);
/* Drops the engine's reference to @message: a message nobody else holds
 * becomes the spare one, any other is detached from its record (its fields
 * copied) and let go. Never calls into a binding. */
void           _pb_message_pool_return (PbMessagePool      *pool,
                                        PbMessage          *message);

/* The engine's decoding, before the handling: takes @key and @value
 * (full references, or NULL). */
void           _pb_message_set_decoded (PbMessage          *message,
                                        GVariant           *key,
                                        GVariant           *value);

G_END_DECLS
