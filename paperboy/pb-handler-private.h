/* pb-handler-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

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
} PbHandlerVfuncs;

PbHandlerVfuncs _pb_handler_get_overrides (PbHandler *self);

/* The error of a virtual function that failed without setting one. */
GError   *_pb_handler_missing_error_new (PbHandler  *self,
                                         const char *vfunc);

/* Applies the rule that a FALSE return without a GError is a failure. */
gboolean  _pb_handler_check_result      (PbHandler   *self,
                                         const char  *vfunc,
                                         gboolean     ret,
                                         GError      *local_error,
                                         GError     **error);

/* Calls @func (@data) from an idle on @context: for work noticed while an
 * object is finalized, where calling into a binding is not allowed. */
void      _pb_invoke_later              (GMainContext   *context,
                                         GSourceFunc     func,
                                         gpointer        data,
                                         GDestroyNotify  notify);

G_END_DECLS
