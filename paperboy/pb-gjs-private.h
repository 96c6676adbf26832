/* pb-gjs-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-gjs-private.h is a private header of Paperboy."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/* Handlers written in JavaScript (GJS). Everything here is a no-op in a
 * process that has no GJS; see pb-gjs.c for why each part exists. */

/* Whether @type (or a parent) is a class GJS registered. */
gboolean _pb_gjs_is_javascript  (GType  type);

/* Whether @error is how GJS reports a JavaScript virtual function's
 * return value that it could not convert. */
gboolean _pb_gjs_is_wrong_return (const GError *error);

/* Before the engine calls into JavaScript code. */
void     _pb_gjs_before_call    (void);

/* @n more messages were handed to JavaScript code. */
void     _pb_gjs_handed         (guint  n);

/* At the engine's scheduling point, no JavaScript on the stack: runs the
 * collector when enough messages were handed over since the last run. */
void     _pb_gjs_collect_if_due (void);

G_END_DECLS
