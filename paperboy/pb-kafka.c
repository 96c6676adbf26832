/* pb-kafka.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-kafka-private.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "pb-error.h"

struct _PbKafkaHandle
{
  gatomicrefcount  ref_count;
  rd_kafka_t      *rk;
};

PbKafkaHandle *
_pb_kafka_handle_new (rd_kafka_t *rk)
{
  PbKafkaHandle *handle = g_new0 (PbKafkaHandle, 1);

  g_atomic_ref_count_init (&handle->ref_count);
  handle->rk = rk;

  return handle;
}

PbKafkaHandle *
_pb_kafka_handle_ref (PbKafkaHandle *handle)
{
  g_atomic_ref_count_inc (&handle->ref_count);
  return handle;
}

static void
handle_destroy (PbKafkaHandle *handle)
{
  /* A consumer is closed by its owner before it lets go; one whose close
   * failed must not close now, on whatever thread this is, calling back
   * into an owner that is gone. */
  rd_kafka_destroy_flags (handle->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  g_free (handle);
}

void
_pb_kafka_handle_unref (PbKafkaHandle *handle)
{
  if (g_atomic_ref_count_dec (&handle->ref_count))
    handle_destroy (handle);
}

static void
destroy_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  handle_destroy (task_data);
  g_task_return_boolean (task, TRUE);
}

void
_pb_kafka_handle_unref_async (PbKafkaHandle       *handle,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, user_data);

  g_task_set_source_tag (task, _pb_kafka_handle_unref_async);

  if (!g_atomic_ref_count_dec (&handle->ref_count))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  g_task_set_task_data (task, handle, NULL);
  g_task_run_in_thread (task, destroy_thread);
}

rd_kafka_t *
_pb_kafka_handle_get (PbKafkaHandle *handle)
{
  return handle->rk;
}

gboolean
_pb_kafka_conf_set (rd_kafka_conf_t  *conf,
                    const char       *key,
                    const char       *value,
                    GError          **error)
{
  char errstr[512] = "";

  switch (rd_kafka_conf_set (conf, key, value, errstr, sizeof errstr))
    {
    case RD_KAFKA_CONF_OK:
      return TRUE;

    case RD_KAFKA_CONF_UNKNOWN:
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Unknown configuration property “%s”"), key);
      return FALSE;

    case RD_KAFKA_CONF_INVALID:
    default:
      /* librdkafka's sentence names the property, and often the value
       * or the range allowed. */
      if (errstr[0] != '\0' &&
          (value == NULL || strstr (errstr, value) != NULL || _pb_kafka_key_is_secret (key)))
        g_set_error_literal (error, PB_ERROR, PB_ERROR_CONFIG, errstr);
      else if (errstr[0] != '\0')
        g_set_error (error, PB_ERROR, PB_ERROR_CONFIG, _("%s (value “%s”)"), errstr, value);
      else
        g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                     _("Invalid value for configuration property “%s”"), key);
      return FALSE;
    }
}

void
_pb_kafka_set_error (GError              **error,
                     rd_kafka_resp_err_t   err,
                     const char           *what)
{
  g_set_error (error, PB_ERROR, PB_ERROR_KAFKA, "%s: %s (%s)",
               what, rd_kafka_err2str (err), rd_kafka_err2name (err));
}

gboolean
_pb_kafka_key_is_secret (const char *key)
{
  return strstr (key, "password") != NULL ||
         strstr (key, "secret") != NULL ||
         strstr (key, ".pem") != NULL ||
         g_str_has_suffix (key, ".key") ||
         g_str_has_prefix (key, "sasl.oauthbearer.config");
}

void
_pb_kafka_log (const rd_kafka_t *rk,
               int               level,
               const char       *facility,
               const char       *buf)
{
  GLogLevelFlags log_level;

  /* syslog levels: 0 emerg .. 3 err, 4 warning, 5 notice, 6 info, 7 debug */
  if (level <= 4)
    log_level = G_LOG_LEVEL_WARNING;
  else if (level == 5)
    log_level = G_LOG_LEVEL_MESSAGE;
  else if (level == 6)
    log_level = G_LOG_LEVEL_INFO;
  else
    log_level = G_LOG_LEVEL_DEBUG;

  /* A key set without a scope goes to each of the engine's clients: the
   * ones it does not apply to say they ignore it. */
  if (g_strcmp0 (facility, "CONFWARN") == 0 && strstr (buf, "will be ignored by this") != NULL)
    log_level = G_LOG_LEVEL_DEBUG;

  g_log_structured ("Paperboy-Kafka", log_level,
                    "PAPERBOY_KAFKA_FACILITY", facility,
                    "MESSAGE", "%s: [%s] %s",
                    rk != NULL ? rd_kafka_name (rk) : "rdkafka", facility, buf);
}

rd_kafka_headers_t *
_pb_kafka_headers_from_variant (GVariant *headers)
{
  rd_kafka_headers_t *hdrs;
  GVariantIter iter;
  const char *name;
  GVariant *maybe;

  if (headers == NULL || g_variant_n_children (headers) == 0)
    return NULL;

  hdrs = rd_kafka_headers_new (g_variant_n_children (headers));

  g_variant_iter_init (&iter, headers);
  while (g_variant_iter_next (&iter, "(&s@may)", &name, &maybe))
    {
      g_autoptr(GVariant) bytes = g_variant_get_maybe (maybe);
      gconstpointer data = NULL;
      gsize size = 0;

      if (bytes != NULL)
        data = g_variant_get_fixed_array (bytes, &size, 1);

      /* An empty value is not a null one. */
      rd_kafka_header_add (hdrs, name, -1, bytes != NULL && data == NULL ? "" : data, size);
      g_variant_unref (maybe);
    }

  return hdrs;
}

GVariant *
_pb_kafka_partitions_to_variant (const rd_kafka_topic_partition_list_t *partitions)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(si)"));
  for (int i = 0; partitions != NULL && i < partitions->cnt; i++)
    g_variant_builder_add (&builder, "(si)",
                           partitions->elems[i].topic,
                           (gint32)partitions->elems[i].partition);

  return g_variant_builder_end (&builder);
}
