/* pb-engine-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-engine-private.h is a private header of Paperboy."
#endif

#include "pb-engine.h"
#include "pb-handler-private.h"

G_BEGIN_DECLS

/* A topic the engine consumes, and the handler of its records. */
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

/* Read by a run as it goes on: changes apply to a running engine. */
guint    _pb_engine_get_handling_timeout_ms    (PbEngine *self);

typedef struct _PbRun PbRun;

/* The run let everything go: the engine is no longer running. */
void     _pb_engine_run_ended                  (PbEngine      *self,
                                                PbRun         *run);

/* Emissions, always from the run's scheduling point. */
void     _pb_engine_set_state                  (PbEngine      *self,
                                                PbEngineState  state);
void     _pb_engine_set_connected              (PbEngine      *self,
                                                gboolean       connected);
void     _pb_engine_set_mode                   (PbEngine      *self,
                                                PbEngineMode   mode);
void     _pb_engine_emit_step                  (PbEngine      *self,
                                                guint          step,
                                                gboolean       started);
void     _pb_engine_emit_partitions_assigned   (PbEngine      *self,
                                                GVariant      *partitions);
void     _pb_engine_emit_partitions_revoked    (PbEngine      *self,
                                                GVariant      *partitions,
                                                gboolean       lost);

G_END_DECLS
