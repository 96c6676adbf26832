/* pb-deserializer.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_INSIDE) && !defined (PAPERBOY_COMPILATION)
# error "Only <paperboy.h> can be included directly."
#endif

#include <gio/gio.h>

#include "pb-version-macros.h"

G_BEGIN_DECLS

#define PB_TYPE_DESERIALIZER (pb_deserializer_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_INTERFACE (PbDeserializer, pb_deserializer, PB, DESERIALIZER, GObject)

struct _PbDeserializerInterface
{
  GTypeInterface g_iface;

  GVariant *(*deserialize)   (PbDeserializer  *self,
                              GBytes          *data,
                              GError         **error);
  gboolean  (*needs_prepare) (PbDeserializer  *self,
                              GBytes          *data);
  gboolean  (*prepare)       (PbDeserializer  *self,
                              GBytes          *data,
                              GTask           *task,
                              GError         **error);

  /*< private >*/
  gpointer _reserved[8];
};

PB_AVAILABLE_IN_ALL
GVariant *pb_deserializer_deserialize   (PbDeserializer  *self,
                                         GBytes          *data,
                                         GError         **error) G_GNUC_WARN_UNUSED_RESULT;

PB_AVAILABLE_IN_ALL
gboolean  pb_deserializer_needs_prepare (PbDeserializer  *self,
                                         GBytes          *data);
PB_AVAILABLE_IN_ALL
gboolean  pb_deserializer_prepare       (PbDeserializer  *self,
                                         GBytes          *data,
                                         GTask           *task,
                                         GError         **error);

#define PB_TYPE_STRING_DESERIALIZER (pb_string_deserializer_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbStringDeserializer, pb_string_deserializer, PB, STRING_DESERIALIZER, GObject)

PB_AVAILABLE_IN_ALL
PbDeserializer *pb_string_deserializer_new (void);

#define PB_TYPE_JSON_DESERIALIZER (pb_json_deserializer_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbJsonDeserializer, pb_json_deserializer, PB, JSON_DESERIALIZER, GObject)

PB_AVAILABLE_IN_ALL
PbDeserializer *pb_json_deserializer_new   (void);

#define PB_TYPE_AVRO_DESERIALIZER (pb_avro_deserializer_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbAvroDeserializer, pb_avro_deserializer, PB, AVRO_DESERIALIZER, GObject)

PB_AVAILABLE_IN_ALL
PbDeserializer *pb_avro_deserializer_new   (const char *schema_registry_url);
PB_AVAILABLE_IN_ALL
const char     *pb_avro_deserializer_get_schema_registry_url (PbAvroDeserializer *self);
PB_AVAILABLE_IN_ALL
gboolean        pb_avro_deserializer_add_schema (PbAvroDeserializer  *self,
                                                 guint32              id,
                                                 const char          *schema,
                                                 GError             **error);

G_END_DECLS
