/* pb-message.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_INSIDE) && !defined (PAPERBOY_COMPILATION)
# error "Only <paperboy.h> can be included directly."
#endif

#include <glib-object.h>

#include "pb-types.h"
#include "pb-version-macros.h"

G_BEGIN_DECLS

#define PB_TYPE_MESSAGE (pb_message_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbMessage, pb_message, PB, MESSAGE, GObject)

PB_AVAILABLE_IN_ALL
PbMessage  *pb_message_new_full      (const char *topic,
                                      int         partition,
                                      gint64      offset,
                                      gint64      timestamp,
                                      GBytes     *key,
                                      GBytes     *value,
                                      GVariant   *headers) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
PbMessage  *pb_message_with_key      (PbMessage  *self,
                                      GBytes     *key) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
PbMessage  *pb_message_with_value    (PbMessage  *self,
                                      GBytes     *value) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
PbMessage  *pb_message_dup           (PbMessage  *self) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
const char *pb_message_get_topic     (PbMessage  *self);
PB_AVAILABLE_IN_ALL
int         pb_message_get_partition (PbMessage  *self);
PB_AVAILABLE_IN_ALL
gint64      pb_message_get_offset    (PbMessage  *self);
PB_AVAILABLE_IN_ALL
gint64      pb_message_get_timestamp (PbMessage  *self);
PB_AVAILABLE_IN_ALL
GBytes     *pb_message_get_key       (PbMessage  *self);
PB_AVAILABLE_IN_ALL
GBytes     *pb_message_get_value     (PbMessage  *self);
PB_AVAILABLE_IN_ALL
const guint8 *pb_message_peek_key    (PbMessage  *self,
                                      gsize      *size);
PB_AVAILABLE_IN_ALL
const guint8 *pb_message_peek_value  (PbMessage  *self,
                                      gsize      *size);
PB_AVAILABLE_IN_ALL
gboolean    pb_message_is_tombstone  (PbMessage  *self);
PB_AVAILABLE_IN_ALL
GVariant   *pb_message_get_decoded_key   (PbMessage *self);
PB_AVAILABLE_IN_ALL
GVariant   *pb_message_get_decoded_value (PbMessage *self);
PB_AVAILABLE_IN_ALL
GBytes     *pb_message_get_header    (PbMessage  *self,
                                      const char *name) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
GVariant   *pb_message_get_headers   (PbMessage  *self);

G_END_DECLS
