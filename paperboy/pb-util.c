/* pb-util.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-util-private.h"

void
_pb_clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

GSource *
_pb_timeout_source_new (GMainContext   *context,
                        guint           interval_ms,
                        int             priority,
                        const char     *name,
                        GSourceFunc     func,
                        gpointer        data,
                        GDestroyNotify  notify)
{
  GSource *source = g_timeout_source_new (interval_ms);

  g_source_set_priority (source, priority);
  g_source_set_static_name (source, name);
  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, context);

  return source;
}

void
_pb_invoke_later (GMainContext   *context,
                  GSourceFunc     func,
                  gpointer        data,
                  GDestroyNotify  notify)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (source, "[paperboy] deferred call");
  g_source_set_callback (source, func, data, notify);
  g_source_attach (source, context);
}

gboolean
_pb_rate_limit_allow (PbRateLimit *limit)
{
  gint64 second = g_get_monotonic_time () / G_USEC_PER_SEC;

  if (second != limit->second)
    {
      if (limit->suppressed > 0)
        g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                          "MESSAGE", "%u similar warnings suppressed",
                          limit->suppressed);
      limit->second = second;
      limit->in_second = 0;
      limit->suppressed = 0;
    }

  if (limit->in_second >= limit->per_second)
    {
      limit->suppressed++;
      return FALSE;
    }

  limit->in_second++;
  return TRUE;
}

void
_pb_log_record (PbRateLimit    *limit,
                GLogLevelFlags  level,
                const char     *topic,
                int             partition,
                gint64          offset,
                const char     *handler,
                const char     *format,
                ...)
{
  g_autofree char *message = NULL;
  char partition_str[16];
  char offset_str[24];
  va_list args;
  GLogField fields[] = {
    { "PRIORITY", NULL, -1 },
    { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
    { "MESSAGE", NULL, -1 },
    { "PAPERBOY_TOPIC", topic, -1 },
    { "PAPERBOY_PARTITION", partition_str, -1 },
    { "PAPERBOY_OFFSET", offset_str, -1 },
    { "PAPERBOY_HANDLER", handler, -1 },
  };

  if (level == G_LOG_LEVEL_WARNING && limit != NULL && !_pb_rate_limit_allow (limit))
    return;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_snprintf (partition_str, sizeof partition_str, "%d", partition);
  g_snprintf (offset_str, sizeof offset_str, "%" G_GINT64_FORMAT, offset);

  switch (level & G_LOG_LEVEL_MASK)
    {
    case G_LOG_LEVEL_WARNING:
      fields[0].value = "4";
      break;
    case G_LOG_LEVEL_MESSAGE:
      fields[0].value = "5";
      break;
    case G_LOG_LEVEL_INFO:
      fields[0].value = "6";
      break;
    default:
      fields[0].value = "7";
      break;
    }
  fields[2].value = message;

  g_log_structured_array (level, fields, G_N_ELEMENTS (fields));
}
