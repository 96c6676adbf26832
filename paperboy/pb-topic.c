/* pb-topic.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-topic-private.h"

#include "pb-gjs-private.h"

PbTopic *
_pb_topic_new (const char *name,
               PbHandler  *handler)
{
  PbTopic *topic = g_new0 (PbTopic, 1);

  topic->name = g_intern_string (name);
  topic->handler = g_object_ref (handler);
  topic->klass = PB_HANDLER_GET_CLASS (handler);
  topic->vfuncs = _pb_handler_get_overrides (handler);
  topic->bulk_vfuncs = _pb_bulk_handler_get_overrides (handler);
  topic->key_deserializer = pb_handler_get_key_deserializer (handler);
  topic->value_deserializer = pb_handler_get_value_deserializer (handler);
  if (topic->key_deserializer != NULL)
    g_object_ref (topic->key_deserializer);
  if (topic->value_deserializer != NULL)
    g_object_ref (topic->value_deserializer);
  topic->javascript = _pb_gjs_is_javascript (G_OBJECT_TYPE (handler));

  return topic;
}

PbTopic *
_pb_topic_copy (PbTopic *topic)
{
  PbTopic *copy = g_memdup2 (topic, sizeof *topic);

  g_object_ref (copy->handler);
  if (copy->key_deserializer != NULL)
    g_object_ref (copy->key_deserializer);
  if (copy->value_deserializer != NULL)
    g_object_ref (copy->value_deserializer);

  return copy;
}

void
_pb_topic_free (PbTopic *topic)
{
  g_object_unref (topic->handler);
  g_clear_object (&topic->key_deserializer);
  g_clear_object (&topic->value_deserializer);
  g_free (topic);
}
