/* pb-topic-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-topic-private.h is a private header of Paperboy."
#endif

#include "pb-deserializer.h"
#include "pb-handler-private.h"

G_BEGIN_DECLS

/* A topic an engine consumes, and the handler of its records: what the
 * engine looked up once, so that the per-record path only reads it. */
typedef struct
{
  const char      *name;        /* interned: messages point to it */
  PbHandler       *handler;     /* owned */
  PbHandlerClass  *klass;
  PbHandlerVfuncs  vfuncs;      /* what the engine has to call */
  PbBulkVfuncs     bulk_vfuncs; /* the same, for batches */
  PbDeserializer  *key_deserializer;    /* owned, nullable */
  PbDeserializer  *value_deserializer;  /* owned, nullable */
  guint            index;       /* in the run's topics */
  guint            step;        /* its step, or the number of steps */
  guint            javascript : 1;
} PbTopic;

PbTopic *_pb_topic_new  (const char *name,
                         PbHandler  *handler);
PbTopic *_pb_topic_copy (PbTopic    *topic);
void     _pb_topic_free (PbTopic    *topic);

G_END_DECLS
