/* pb-handler.h
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

#include "pb-deserializer.h"
#include "pb-error.h"
#include "pb-types.h"
#include "pb-version-macros.h"

G_BEGIN_DECLS

#define PB_TYPE_HANDLER (pb_handler_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (PbHandler, pb_handler, PB, HANDLER, GObject)

/**
 * PbHandlerClass:
 * @parent_class: the parent class
 * @define_context: creates the state of one message's handling
 * @did_receive_message: pre-processes a message; returns the message to
 *   handle, or %NULL to skip it
 * @on_message: handles a message whose value is not null
 * @on_tombstone: handles a message whose value is null
 * @on_error: decides what a failure means
 * @on_finished_handling: runs last, after a message was handled or failed
 * @handle: the asynchronous override point usable from every language
 * @handle_async: the GIO-style asynchronous override point, for C and Vala
 * @handle_finish: completes @handle_async
 *
 * The class structure of [class@Paperboy.Handler].
 *
 * The engine calls every virtual function on the thread that runs its main
 * context, never on a librdkafka thread. It does no work for the virtual
 * functions a subclass does not override.
 */
struct _PbHandlerClass
{
  GObjectClass parent_class;

  GObject      *(*define_context)       (PbHandler            *self,
                                         GError              **error);
  PbMessage    *(*did_receive_message)  (PbHandler            *self,
                                         PbMessage            *message,
                                         GObject              *context,
                                         GError              **error);
  gboolean      (*on_message)           (PbHandler            *self,
                                         PbMessage            *message,
                                         GObject              *context,
                                         GError              **error);
  gboolean      (*on_tombstone)         (PbHandler            *self,
                                         PbMessage            *message,
                                         GObject              *context,
                                         GError              **error);
  PbErrorAction (*on_error)             (PbHandler            *self,
                                         const GError         *error,
                                         PbMessage            *message,
                                         GObject              *context);
  gboolean      (*on_finished_handling) (PbHandler            *self,
                                         GPtrArray            *messages,
                                         GObject              *context,
                                         GError              **error);
  gboolean      (*handle)               (PbHandler            *self,
                                         PbMessage            *message,
                                         GObject              *context,
                                         GTask                *task,
                                         GError              **error);
  void          (*handle_async)         (PbHandler            *self,
                                         PbMessage            *message,
                                         GObject              *context,
                                         GCancellable         *cancellable,
                                         GAsyncReadyCallback   callback,
                                         gpointer              user_data);
  gboolean      (*handle_finish)        (PbHandler            *self,
                                         GAsyncResult         *result,
                                         GError              **error);

  /*< private >*/
  gpointer _reserved[12];
};

PB_AVAILABLE_IN_ALL
const char * const *pb_handler_get_topics               (PbHandler            *self);
PB_AVAILABLE_IN_ALL
void                pb_handler_set_topics               (PbHandler            *self,
                                                         const char * const   *topics);
PB_AVAILABLE_IN_ALL
const char         *pb_handler_get_topic                (PbHandler            *self);
PB_AVAILABLE_IN_ALL
void                pb_handler_set_topic                (PbHandler            *self,
                                                         const char           *topic);
PB_AVAILABLE_IN_ALL
PbDeserializer     *pb_handler_get_key_deserializer     (PbHandler            *self);
PB_AVAILABLE_IN_ALL
void                pb_handler_set_key_deserializer     (PbHandler            *self,
                                                         PbDeserializer       *deserializer);
PB_AVAILABLE_IN_ALL
PbDeserializer     *pb_handler_get_value_deserializer   (PbHandler            *self);
PB_AVAILABLE_IN_ALL
void                pb_handler_set_value_deserializer   (PbHandler            *self,
                                                         PbDeserializer       *deserializer);
PB_AVAILABLE_IN_ALL
GObject            *pb_handler_define_context           (PbHandler            *self,
                                                         GError              **error) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
PbMessage          *pb_handler_did_receive_message      (PbHandler            *self,
                                                         PbMessage            *message,
                                                         GObject              *context,
                                                         GError              **error) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
gboolean            pb_handler_on_message               (PbHandler            *self,
                                                         PbMessage            *message,
                                                         GObject              *context,
                                                         GError              **error);
PB_AVAILABLE_IN_ALL
gboolean            pb_handler_on_tombstone             (PbHandler            *self,
                                                         PbMessage            *message,
                                                         GObject              *context,
                                                         GError              **error);
PB_AVAILABLE_IN_ALL
PbErrorAction       pb_handler_on_error                 (PbHandler            *self,
                                                         const GError         *error,
                                                         PbMessage            *message,
                                                         GObject              *context);
PB_AVAILABLE_IN_ALL
gboolean            pb_handler_on_finished_handling     (PbHandler            *self,
                                                         GPtrArray            *messages,
                                                         GObject              *context,
                                                         GError              **error);
PB_AVAILABLE_IN_ALL
gboolean            pb_handler_handle                   (PbHandler            *self,
                                                         PbMessage            *message,
                                                         GObject              *context,
                                                         GTask                *task,
                                                         GError              **error);
PB_AVAILABLE_IN_ALL
void                pb_handler_handle_async             (PbHandler            *self,
                                                         PbMessage            *message,
                                                         GObject              *context,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
PB_AVAILABLE_IN_ALL
gboolean            pb_handler_handle_finish            (PbHandler            *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);

G_END_DECLS
