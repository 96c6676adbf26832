/* pb-codec.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-codec-private.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "pb-error.h"

/* Whether json-glib carries values of @type exactly, given the type. */
static gboolean
type_is_json_exact (const char *type)
{
  for (const char *c = type; *c != '\0'; c++)
    {
      if (*c == 'v')
        return FALSE;
      if (c[0] == 'm' && c[1] == 'm')
        return FALSE;
      /* json-glib keeps the last of duplicate keys: a round trip makes
       * them one. */
      if (c[0] == '{')
        return FALSE;
    }

  return TRUE;
}

static gboolean
is_finite (GVariant *value)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
    return isfinite (g_variant_get_double (value));

  if (g_variant_is_container (value))
    {
      gsize n = g_variant_n_children (value);

      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) child = g_variant_get_child_value (value, i);

          if (!is_finite (child))
            return FALSE;
        }
    }

  return TRUE;
}

/* @v in decimal, as printf's %lld. */
static void
append_integer (GString *json,
                gint64   v)
{
  char buffer[24];
  char *end = buffer + sizeof buffer, *p = end;
  guint64 magnitude = v < 0 ? -(guint64)v : (guint64)v;

  do
    *--p = '0' + magnitude % 10;
  while ((magnitude /= 10) != 0);
  if (v < 0)
    *--p = '-';

  g_string_append_len (json, p, end - p);
}

/* JSON for the common types, as json-glib writes it and reads it back with
 * the type, without building a JsonNode tree; FALSE for the others. */
static gboolean
append_json (GString  *json,
             GVariant *value)
{
  const char *type = g_variant_get_type_string (value);

  switch (type[0])
    {
    case 'b':
      g_string_append (json, g_variant_get_boolean (value) ? "true" : "false");
      return TRUE;
    case 'y':
      append_integer (json, g_variant_get_byte (value));
      return TRUE;
    case 'n':
      append_integer (json, g_variant_get_int16 (value));
      return TRUE;
    case 'q':
      append_integer (json, g_variant_get_uint16 (value));
      return TRUE;
    case 'i':
      append_integer (json, g_variant_get_int32 (value));
      return TRUE;
    case 'u':
      append_integer (json, g_variant_get_uint32 (value));
      return TRUE;
    case 'x':
      append_integer (json, g_variant_get_int64 (value));
      return TRUE;
    case 't':
      /* As json-glib: the bits of an int64. */
      append_integer (json, (gint64)g_variant_get_uint64 (value));
      return TRUE;
    case 'd':
      {
        char buffer[G_ASCII_DTOSTR_BUF_SIZE];
        double d = g_variant_get_double (value);

        g_ascii_formatd (buffer, sizeof buffer, "%.17g", d);
        g_string_append (json, buffer);
        /* A number JSON readers take for a double. */
        if (strpbrk (buffer, ".eEn") == NULL)
          g_string_append (json, ".0");
        return TRUE;
      }
    case 's':
    case 'o':
    case 'g':
      {
        const guchar *c = (const guchar *)g_variant_get_string (value, NULL);

        g_string_append_c (json, '"');
        for (;;)
          {
            const guchar *run = c;

            /* What needs no escape, at once. */
            while (*c >= 0x20 && *c != '"' && *c != '\\')
              c++;
            g_string_append_len (json, (const char *)run, c - run);

            if (*c == '\0')
              break;
            if (*c == '"' || *c == '\\')
              {
                g_string_append_c (json, '\\');
                g_string_append_c (json, *c);
              }
            else
              g_string_append_printf (json, "\\u%04x", *c);
            c++;
          }
        g_string_append_c (json, '"');
        return TRUE;
      }
    case '(':
    case 'a':
      {
        gsize n = g_variant_n_children (value);
        gboolean object = type[0] == 'a' && type[1] == '{';

        /* Only string keys, and no unit tuple. */
        if ((object && type[2] != 's') || g_str_equal (type, "()"))
          return FALSE;

        g_string_append_c (json, object ? '{' : '[');
        for (gsize i = 0; i < n; i++)
          {
            g_autoptr(GVariant) child = g_variant_get_child_value (value, i);

            if (i > 0)
              g_string_append_c (json, ',');

            if (object)
              {
                g_autoptr(GVariant) key = g_variant_get_child_value (child, 0);
                g_autoptr(GVariant) item = g_variant_get_child_value (child, 1);

                if (!append_json (json, key))
                  return FALSE;
                g_string_append_c (json, ':');
                if (!append_json (json, item))
                  return FALSE;
              }
            else if (!append_json (json, child))
              return FALSE;
          }
        g_string_append_c (json, object ? '}' : ']');
        return TRUE;
      }
    case 'm':
      {
        g_autoptr(GVariant) inner = g_variant_get_maybe (value);

        if (inner == NULL)
          {
            g_string_append (json, "null");
            return TRUE;
          }
        return append_json (json, inner);
      }
    default:
      return FALSE;
    }
}

/* Appends the JSON of @value to @json. */
static void
serialize (GVariant *value,
           GString  *json)
{
  gsize start = json->len;
  g_autofree char *text = NULL;
  gsize length;

  if (append_json (json, value))
    return;

  g_string_truncate (json, start);
  text = json_gvariant_serialize_data (value, &length);
  g_string_append_len (json, text, length);
}

GVariant *
_pb_codec_encode (GVariant  *value,
                  GString   *json,
                  GError   **error)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (value);
  const char *type = g_variant_get_type_string (value);
  g_autoptr(GVariant) normal = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *text = NULL;
  gsize length;

  /* json-glib writes them, but cannot read them back. */
  if (strstr (type, "{o") != NULL || strstr (type, "{g") != NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("A table cannot hold a dictionary keyed by object paths or signatures (%s)"),
                   type);
      return NULL;
    }

  if (strpbrk (type, "dv") != NULL && !is_finite (value))
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                           _("A table cannot hold a number that is not finite (NaN or an infinity)"));
      return NULL;
    }

  if (type_is_json_exact (type))
    {
      serialize (value, json);
      return g_steal_pointer (&owned);
    }

  text = json_gvariant_serialize_data (value, &length);
  normal = json_gvariant_deserialize_data (text, -1, type, &local_error);
  if (normal == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("Cannot store a value of type “%s”: %s"), type,
                   local_error != NULL ? local_error->message : "");
      return NULL;
    }

  g_variant_ref_sink (normal);
  serialize (normal, json);

  return g_steal_pointer (&normal);
}

GVariant *
_pb_codec_decode (const char  *json,
                  gsize        json_len,
                  const char  *type,
                  GError     **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  GVariant *value = NULL;

  if (type != NULL &&
      (!g_variant_type_string_is_valid (type) || !g_variant_type_is_definite (G_VARIANT_TYPE (type))))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG, _("Invalid type “%s”"), type);
      return NULL;
    }

  /* Parsed here: json_gvariant_deserialize_data() of json-glib 1.6 leaks
   * its parser when the JSON does not parse. */
  parser = json_parser_new ();
  if (json_parser_load_from_data (parser, json, json_len, &local_error) &&
      json_parser_get_root (parser) == NULL)
    g_set_error_literal (&local_error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                         _("the value is empty"));
  if (local_error == NULL)
    value = json_gvariant_deserialize (json_parser_get_root (parser), type, &local_error);
  if (value == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG, _("Not a value of type “%s”: %s"),
                   type != NULL ? type : "?", local_error->message);
      return NULL;
    }

  return g_variant_ref_sink (value);
}

rd_kafka_headers_t *
_pb_codec_headers_new (GVariant *value,
                       gboolean  with_source)
{
  rd_kafka_headers_t *headers;

  if (value == NULL && !with_source)
    return NULL;

  /* Sized at once: a list that grows is a realloc per change. */
  headers = rd_kafka_headers_new ((value != NULL ? 2 : 0) + (with_source ? 1 : 0));
  if (value != NULL)
    {
      rd_kafka_header_add (headers, PB_CODEC_TYPE_HEADER, -1, g_variant_get_type_string (value), -1);
      rd_kafka_header_add (headers, PB_CODEC_ENCODING_HEADER, -1, PB_CODEC_ENCODING, -1);
    }

  return headers;
}

void
_pb_codec_add_source (rd_kafka_headers_t *headers,
                      const char         *topic,
                      gint64              offset,
                      guint               seq)
{
  char value[64 + 256];
  char digits[24];
  gsize topic_len = MIN (strlen (topic), 256);
  gsize len = 0;
  int n;

  g_return_if_fail (offset >= 0);

  /* Once per change: no printf. */
  n = 0;
  do
    digits[n++] = '0' + (char)(offset % 10);
  while ((offset /= 10) > 0);
  while (n > 0)
    value[len++] = digits[--n];
  value[len++] = ':';
  do
    digits[n++] = '0' + (char)(seq % 10);
  while ((seq /= 10) > 0);
  while (n > 0)
    value[len++] = digits[--n];
  value[len++] = ':';
  memcpy (value + len, topic, topic_len);
  len += topic_len;

  rd_kafka_header_add (headers, PB_CODEC_SOURCE_HEADER, -1, value, len);
}

gboolean
_pb_codec_get_source (const rd_kafka_message_t  *rkm,
                      char                     **topic,
                      gint64                    *offset,
                      guint                     *seq)
{
  rd_kafka_headers_t *headers = NULL;
  g_autofree char *text = NULL;
  const void *header;
  size_t size;
  guint64 number;
  char *end;

  *topic = NULL;

  if (rd_kafka_message_headers (rkm, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last (headers, PB_CODEC_SOURCE_HEADER, &header,
                                &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      header == NULL)
    return FALSE;

  text = g_strndup (header, size);
  if (!g_ascii_isdigit (text[0]))
    return FALSE;
  *offset = g_ascii_strtoll (text, &end, 10);
  if (*end != ':' || !g_ascii_isdigit (end[1]))
    return FALSE;
  number = g_ascii_strtoull (end + 1, &end, 10);
  if (*end != ':' || end[1] == '\0' || number > G_MAXUINT)
    return FALSE;

  *seq = (guint)number;
  *topic = g_strdup (end + 1);

  return TRUE;
}

GVariant *
_pb_codec_decode_record (const rd_kafka_message_t  *rkm,
                         gboolean                  *deleted,
                         GError                   **error)
{
  rd_kafka_headers_t *headers = NULL;
  g_autofree char *type = NULL;
  const void *header;
  size_t header_size;
  GVariant *value;

  *deleted = FALSE;

  if (rkm->key == NULL || !g_utf8_validate_len (rkm->key, rkm->key_len, NULL) ||
      memchr (rkm->key, '\0', rkm->key_len) != NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                   _("Changelog record %s[%d]@%lld has no UTF-8 key"),
                   rd_kafka_topic_name (rkm->rkt), (int)rkm->partition, (long long)rkm->offset);
      return NULL;
    }

  if (rkm->payload == NULL)
    {
      *deleted = TRUE;
      return NULL;
    }

  if (rd_kafka_message_headers (rkm, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      if (rd_kafka_header_get_last (headers, PB_CODEC_ENCODING_HEADER, &header,
                                    &header_size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          (header_size != strlen (PB_CODEC_ENCODING) ||
           memcmp (header, PB_CODEC_ENCODING, header_size) != 0))
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                       _("Changelog record %s[%d]@%lld has an unknown encoding"),
                       rd_kafka_topic_name (rkm->rkt), (int)rkm->partition,
                       (long long)rkm->offset);
          return NULL;
        }

      if (rd_kafka_header_get_last (headers, PB_CODEC_TYPE_HEADER, &header,
                                    &header_size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          header != NULL)
        type = g_strndup (header, header_size);
    }

  value = _pb_codec_decode (rkm->payload, rkm->len, type, error);
  if (value == NULL)
    g_prefix_error (error, _("Changelog record %s[%d]@%lld: "),
                    rd_kafka_topic_name (rkm->rkt), (int)rkm->partition, (long long)rkm->offset);

  return value;
}
