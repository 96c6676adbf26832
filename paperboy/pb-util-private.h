/* pb-util-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-util-private.h is a private header of Paperboy."
#endif

#include <glib.h>

G_BEGIN_DECLS

/* Destroys *@source, if any, and clears it. */
void     _pb_clear_source       (GSource      **source);

/* A timeout or idle source attached to @context; the caller keeps the
 * returned reference and clears it with _pb_clear_source(). */
GSource *_pb_timeout_source_new (GMainContext  *context,
                                 guint          interval_ms,
                                 int            priority,
                                 const char    *name,
                                 GSourceFunc    func,
                                 gpointer       data,
                                 GDestroyNotify notify);

/* Calls @func (@data) once from an idle on @context: for work noticed
 * where calling into a binding is not allowed (a finalizer). */
void     _pb_invoke_later       (GMainContext  *context,
                                 GSourceFunc    func,
                                 gpointer       data,
                                 GDestroyNotify notify);

/* At most @per_second of some kind of warning a second; the number left
 * out is reported with the next one allowed. */
typedef struct
{
  guint  per_second;
  gint64 second;
  guint  in_second;
  guint  suppressed;
} PbRateLimit;

gboolean _pb_rate_limit_allow   (PbRateLimit   *limit);

/* Logs about one record in the Paperboy domain, with the structured
 * fields PAPERBOY_TOPIC, PAPERBOY_PARTITION, PAPERBOY_OFFSET and
 * PAPERBOY_HANDLER. Warnings go through @limit. */
void     _pb_log_record         (PbRateLimit    *limit,
                                 GLogLevelFlags  level,
                                 const char     *topic,
                                 int             partition,
                                 gint64          offset,
                                 const char     *handler,
                                 const char     *format,
                                 ...) G_GNUC_PRINTF (7, 8);

G_END_DECLS
