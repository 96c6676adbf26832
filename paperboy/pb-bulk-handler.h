/* pb-bulk-handler.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_INSIDE) && !defined (PAPERBOY_COMPILATION)
# error "Only <paperboy.h> can be included directly."
#endif

#include "pb-handler.h"

G_BEGIN_DECLS

#define PB_TYPE_BULK_HANDLER (pb_bulk_handler_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (PbBulkHandler, pb_bulk_handler, PB, BULK_HANDLER, PbHandler)

struct _PbBulkHandlerClass
{
  PbHandlerClass parent_class;

  GPtrArray     *(*did_receive_bulk_messages) (PbBulkHandler  *self,
                                               GPtrArray      *messages,
                                               GObject        *context,
                                               GError        **error);
  gboolean       (*on_bulk)                   (PbBulkHandler  *self,
                                               GPtrArray      *messages,
                                               GObject        *context,
                                               GError        **error);
  PbErrorAction  (*on_bulk_error)             (PbBulkHandler  *self,
                                               const GError   *error,
                                               GPtrArray      *messages,
                                               GObject        *context);
  gboolean       (*handle_bulk)               (PbBulkHandler  *self,
                                               GPtrArray      *messages,
                                               GObject        *context,
                                               GTask          *task,
                                               GError        **error);

  /*< private >*/
  gpointer _reserved[8];
};

PB_AVAILABLE_IN_ALL
GPtrArray     *pb_bulk_handler_did_receive_bulk_messages (PbBulkHandler  *self,
                                                          GPtrArray      *messages,
                                                          GObject        *context,
                                                          GError        **error) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
gboolean       pb_bulk_handler_on_bulk                   (PbBulkHandler  *self,
                                                          GPtrArray      *messages,
                                                          GObject        *context,
                                                          GError        **error);
PB_AVAILABLE_IN_ALL
PbErrorAction  pb_bulk_handler_on_bulk_error             (PbBulkHandler  *self,
                                                          const GError   *error,
                                                          GPtrArray      *messages,
                                                          GObject        *context);
PB_AVAILABLE_IN_ALL
gboolean       pb_bulk_handler_handle_bulk               (PbBulkHandler  *self,
                                                          GPtrArray      *messages,
                                                          GObject        *context,
                                                          GTask          *task,
                                                          GError        **error);

G_END_DECLS
