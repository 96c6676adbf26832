/* pb-handler-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-handler-private.h is a private header of Paperboy."
#endif

#include "pb-handler.h"

G_BEGIN_DECLS

/* The virtual functions a handler class overrides, for which the engine has
 * work to do (it skips the others entirely). */
typedef enum
{
  PB_HANDLER_VFUNC_DEFINE_CONTEXT       = 1 << 0,
  PB_HANDLER_VFUNC_DID_RECEIVE_MESSAGE  = 1 << 1,
  PB_HANDLER_VFUNC_ON_FINISHED_HANDLING = 1 << 2,
  PB_HANDLER_VFUNC_HANDLE               = 1 << 3,
  PB_HANDLER_VFUNC_HANDLE_ASYNC         = 1 << 4,
  PB_HANDLER_VFUNC_DESERIALIZE          = 1 << 5,  /* not a vfunc: deserializers */
} PbHandlerVfuncs;

PbHandlerVfuncs _pb_handler_get_overrides (PbHandler *self);

/* The same for a PbBulkHandler's batch lifecycle (0 for other handlers). */
typedef enum
{
  PB_BULK_VFUNC_DID_RECEIVE_BULK_MESSAGES = 1 << 0,
  PB_BULK_VFUNC_ON_BULK                   = 1 << 1,
  PB_BULK_VFUNC_HANDLE_BULK               = 1 << 2,
} PbBulkVfuncs;

PbBulkVfuncs    _pb_bulk_handler_get_overrides (PbHandler *handler);

/* The error of a virtual function that failed without setting one. */
GError   *_pb_handler_missing_error_new (PbHandler  *self,
                                         const char *vfunc);

/* The rules for what a virtual function that can fail returned, in one
 * place: FALSE without a GError is a failure (a binding's exception), and
 * TRUE with one is a bug of the handler, reported as a critical, whose
 * error is ignored. Takes @local_error; returns @ret. */
gboolean  _pb_handler_check_result      (PbHandler   *self,
                                         const char  *vfunc,
                                         gboolean     ret,
                                         GError      *local_error,
                                         GError     **error);

/* The same for a virtual function that returns an object, where NULL
 * without an error means none (no context, skip the record). Takes
 * @object and @local_error; returns @object, or NULL on failure. */
gpointer  _pb_handler_check_object      (PbHandler   *self,
                                         const char  *vfunc,
                                         gpointer     object,
                                         GError      *local_error,
                                         GError     **error);

G_END_DECLS
