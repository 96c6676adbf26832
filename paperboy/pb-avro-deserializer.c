/* pb-avro-deserializer.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-deserializer.h"

#include <string.h>
#include <avro.h>
#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "pb-error.h"

/**
 * PbAvroDeserializer:
 *
 * Decodes Avro in the Confluent wire format (a 0 byte, the schema's id as
 * 4 big-endian bytes, then the Avro binary encoding) into a
 * [struct@GLib.Variant], with the schema fetched by id from a schema
 * registry (`GET {url}/schemas/ids/{id}`) and kept.
 *
 * A record whose schema is not known yet makes its partition wait while the
 * schema is fetched, without blocking: see
 * [vfunc@Paperboy.Deserializer.prepare]. A registry that is down or
 * answers garbage, an unknown id, a wrong first byte and truncated data are
 * %PB_ERROR_DESERIALIZE errors; a schema that could not be fetched is asked
 * for again with the next record that needs it.
 *
 * | Avro | GVariant |
 * |---|---|
 * | record | `a{sv}`, fields in their order |
 * | map | `a{sv}` |
 * | array | `av` |
 * | union | the value of its branch |
 * | enum | `s`, the symbol |
 * | string | `s` |
 * | bytes, fixed | `ay` |
 * | int | `i` |
 * | long | `x` |
 * | float, double | `d` |
 * | boolean | `b` |
 * | null | `mv`, nothing |
 */

#define HEADER_SIZE 5

typedef struct
{
  avro_schema_t       schema;
  avro_value_iface_t *iface;
} Schema;

struct _PbAvroDeserializer
{
  GObject      parent_instance;
  char        *url;
  SoupSession *session;
  GHashTable  *schemas;   /* id → Schema */
  GHashTable  *fetching;  /* id → GPtrArray of GTask */
};

enum {
  PROP_0,
  PROP_SCHEMA_REGISTRY_URL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void pb_avro_deserializer_iface_init (PbDeserializerInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PbAvroDeserializer, pb_avro_deserializer, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (PB_TYPE_DESERIALIZER,
                                                      pb_avro_deserializer_iface_init))

static void
schema_free (Schema *schema)
{
  avro_value_iface_decref (schema->iface);
  avro_schema_decref (schema->schema);
  g_free (schema);
}

/* The schema id, or FALSE when @data is not in the wire format. */
static gboolean
read_header (GBytes  *data,
             guint32 *id)
{
  gsize size;
  const guint8 *bytes = g_bytes_get_data (data, &size);

  if (size < HEADER_SIZE || bytes[0] != 0)
    return FALSE;

  *id = ((guint32)bytes[1] << 24) | ((guint32)bytes[2] << 16) |
        ((guint32)bytes[3] << 8) | (guint32)bytes[4];
  return TRUE;
}

/* Checking the encoding before avro-c reads it: avro-c allocates what a
 * length or a count says before it reads the data, so a hostile length
 * would allocate gigabytes, or fail and crash. Every length and count must
 * fit in what is left of the record. */

#define MAX_DEPTH 64

static gboolean
read_long (const guint8 *data,
           gsize         size,
           gsize        *pos,
           gint64       *value)
{
  guint64 n = 0;

  for (guint shift = 0; shift < 64; shift += 7)
    {
      guint8 byte;

      if (*pos >= size)
        return FALSE;
      byte = data[(*pos)++];
      n |= (guint64)(byte & 0x7f) << shift;
      if (!(byte & 0x80))
        {
          *value = (gint64)(n >> 1) ^ -(gint64)(n & 1);
          return TRUE;
        }
    }

  return FALSE;
}

static gboolean
skip (gsize  *pos,
      gsize   size,
      gint64  n)
{
  if (n < 0 || (guint64)n > size - *pos)
    return FALSE;

  *pos += n;
  return TRUE;
}

static gboolean
check_value (avro_schema_t  schema,
             const guint8  *data,
             gsize          size,
             gsize         *pos,
             guint          depth)
{
  gint64 n;

  if (depth > MAX_DEPTH)
    return FALSE;

  switch (avro_typeof (schema))
    {
    case AVRO_NULL:
      return TRUE;

    case AVRO_BOOLEAN:
      return skip (pos, size, 1);

    case AVRO_INT32:
    case AVRO_INT64:
      return read_long (data, size, pos, &n);

    case AVRO_FLOAT:
      return skip (pos, size, 4);

    case AVRO_DOUBLE:
      return skip (pos, size, 8);

    case AVRO_STRING:
    case AVRO_BYTES:
      return read_long (data, size, pos, &n) && skip (pos, size, n);

    case AVRO_FIXED:
      return skip (pos, size, avro_schema_fixed_size (schema));

    case AVRO_ENUM:
      return read_long (data, size, pos, &n) && n >= 0 &&
             n < avro_schema_enum_number_of_symbols (schema);

    case AVRO_RECORD:
      for (size_t i = 0; i < avro_schema_record_size (schema); i++)
        if (!check_value (avro_schema_record_field_get_by_index (schema, i), data, size, pos, depth + 1))
          return FALSE;
      return TRUE;

    case AVRO_ARRAY:
    case AVRO_MAP:
      for (;;)
        {
          gint64 count;

          if (!read_long (data, size, pos, &count))
            return FALSE;
          if (count == 0)
            return TRUE;
          if (count < 0)
            {
              gint64 bytes;

              if (count == G_MININT64 || !read_long (data, size, pos, &bytes) || bytes < 0)
                return FALSE;
              count = -count;
            }
          /* Even items of no size count: no more than bytes are left. */
          if ((guint64)count > size - *pos + 1)
            return FALSE;

          for (gint64 i = 0; i < count; i++)
            {
              if (avro_typeof (schema) == AVRO_MAP &&
                  (!read_long (data, size, pos, &n) || !skip (pos, size, n)))
                return FALSE;
              if (!check_value (avro_typeof (schema) == AVRO_MAP ? avro_schema_map_values (schema)
                                                                 : avro_schema_array_items (schema),
                                data, size, pos, depth + 1))
                return FALSE;
            }
        }

    case AVRO_UNION:
      return read_long (data, size, pos, &n) && n >= 0 &&
             (guint64)n < avro_schema_union_size (schema) &&
             check_value (avro_schema_union_branch (schema, n), data, size, pos, depth + 1);

    case AVRO_LINK:
      return check_value (avro_schema_link_target (schema), data, size, pos, depth + 1);

    default:
      return FALSE;
    }
}

/* Avro to GVariant */

static GVariant *
to_variant (avro_value_t  *value,
            GError       **error);

static GVariant *
container_to_variant (avro_value_t  *value,
                      gboolean       named,
                      GError       **error)
{
  GVariantBuilder builder;
  size_t n = 0;

  avro_value_get_size (value, &n);
  g_variant_builder_init (&builder, named ? G_VARIANT_TYPE_VARDICT : G_VARIANT_TYPE ("av"));

  for (size_t i = 0; i < n; i++)
    {
      avro_value_t child;
      const char *name = NULL;
      GVariant *item;

      if (avro_value_get_by_index (value, i, &child, &name) != 0 ||
          (item = to_variant (&child, error)) == NULL)
        {
          if (error != NULL && *error == NULL)
            g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE, "%s", avro_strerror ());
          g_variant_builder_clear (&builder);
          return NULL;
        }

      if (named && !g_utf8_validate (name, -1, NULL))
        {
          g_variant_unref (g_variant_ref_sink (item));
          g_variant_builder_clear (&builder);
          g_set_error_literal (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                               _("Not valid Avro: a map key is not valid UTF-8"));
          return NULL;
        }

      if (named)
        g_variant_builder_add (&builder, "{sv}", name, item);
      else
        g_variant_builder_add (&builder, "v", item);
    }

  return g_variant_builder_end (&builder);
}

static GVariant *
to_variant (avro_value_t  *value,
            GError       **error)
{
  switch (avro_value_get_type (value))
    {
    case AVRO_STRING:
      {
        const char *text = NULL;
        size_t size = 0;

        avro_value_get_string (value, &text, &size);
        if (text == NULL || size == 0)
          return g_variant_new_string ("");
        if (!g_utf8_validate_len (text, size - 1, NULL))
          {
            g_set_error_literal (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                                 _("Not valid Avro: a string is not valid UTF-8"));
            return NULL;
          }
        return g_variant_new_take_string (g_strndup (text, size - 1));
      }

    case AVRO_BYTES:
    case AVRO_FIXED:
      {
        const void *buf = NULL;
        size_t size = 0;

        if (avro_value_get_type (value) == AVRO_BYTES)
          avro_value_get_bytes (value, &buf, &size);
        else
          avro_value_get_fixed (value, &buf, &size);
        return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, buf, size, 1);
      }

    case AVRO_INT32:
      {
        int32_t i = 0;
        avro_value_get_int (value, &i);
        return g_variant_new_int32 (i);
      }

    case AVRO_INT64:
      {
        int64_t i = 0;
        avro_value_get_long (value, &i);
        return g_variant_new_int64 (i);
      }

    case AVRO_FLOAT:
      {
        float f = 0;
        avro_value_get_float (value, &f);
        return g_variant_new_double (f);
      }

    case AVRO_DOUBLE:
      {
        double d = 0;
        avro_value_get_double (value, &d);
        return g_variant_new_double (d);
      }

    case AVRO_BOOLEAN:
      {
        int b = 0;
        avro_value_get_boolean (value, &b);
        return g_variant_new_boolean (b != 0);
      }

    case AVRO_ENUM:
      {
        int symbol = 0;
        const char *name;

        avro_value_get_enum (value, &symbol);
        name = avro_schema_enum_get (avro_value_get_schema (value), symbol);
        return g_variant_new_string (name != NULL ? name : "");
      }

    case AVRO_RECORD:
    case AVRO_MAP:
      return container_to_variant (value, TRUE, error);

    case AVRO_ARRAY:
      return container_to_variant (value, FALSE, error);

    case AVRO_UNION:
      {
        avro_value_t branch;

        if (avro_value_get_current_branch (value, &branch) != 0)
          {
            g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE, _("Not valid Avro: %s"),
                         avro_strerror ());
            return NULL;
          }
        return to_variant (&branch, error);
      }

    case AVRO_NULL:
    default:
      return g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL);
    }
}

static GVariant *
pb_avro_deserializer_deserialize (PbDeserializer  *deserializer,
                                  GBytes          *data,
                                  GError         **error)
{
  PbAvroDeserializer *self = PB_AVRO_DESERIALIZER (deserializer);
  avro_reader_t reader;
  avro_value_t value;
  Schema *schema;
  GVariant *ret;
  gsize size;
  const char *bytes = g_bytes_get_data (data, &size);
  guint32 id;

  if (!read_header (data, &id))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   size == 0 ? _("An empty value is not Avro")
                             : _("Not Avro in the schema registry's format: it starts with "
                                 "0x%02x, not 0, or is shorter than 5 bytes"),
                   size > 0 ? (guint)(guchar)bytes[0] : 0u);
      return NULL;
    }

  schema = g_hash_table_lookup (self->schemas, GUINT_TO_POINTER (id));
  if (schema == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   _("Schema %u is not known (the registry did not give it)"), id);
      return NULL;
    }

  {
    gsize pos = 0;

    if (!check_value (schema->schema, (const guint8 *)bytes + HEADER_SIZE, size - HEADER_SIZE,
                      &pos, 0))
      {
        g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                     _("Not valid Avro for schema %u: truncated, or a length or count "
                       "beyond its end"), id);
        return NULL;
      }
  }

  if (avro_generic_value_new (schema->iface, &value) != 0)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE, _("Not valid Avro: %s"),
                   avro_strerror ());
      return NULL;
    }

  reader = avro_reader_memory (bytes + HEADER_SIZE, size - HEADER_SIZE);
  if (avro_value_read (reader, &value) != 0)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   _("Not valid Avro for schema %u: %s"), id, avro_strerror ());
      ret = NULL;
    }
  else
    ret = to_variant (&value, error);

  avro_reader_free (reader);
  avro_value_decref (&value);

  return ret;
}

static gboolean
pb_avro_deserializer_needs_prepare (PbDeserializer *deserializer,
                                    GBytes         *data)
{
  PbAvroDeserializer *self = PB_AVRO_DESERIALIZER (deserializer);
  guint32 id;

  return read_header (data, &id) &&
         !g_hash_table_contains (self->schemas, GUINT_TO_POINTER (id));
}

typedef struct
{
  PbAvroDeserializer *self;
  guint32             id;
} Fetch;

static void
finish_fetch (PbAvroDeserializer *self,
              guint32             id,
              GError             *error)
{
  GPtrArray *tasks = NULL;

  g_hash_table_steal_extended (self->fetching, GUINT_TO_POINTER (id), NULL, (gpointer *)&tasks);

  for (guint i = 0; tasks != NULL && i < tasks->len; i++)
    {
      GTask *task = g_ptr_array_index (tasks, i);

      if (error != NULL)
        g_task_return_error (task, g_error_copy (error));
      else
        g_task_return_boolean (task, TRUE);
    }

  g_clear_pointer (&tasks, g_ptr_array_unref);
  g_clear_error (&error);
}

static GError *
parse_answer (PbAvroDeserializer *self,
              guint32             id,
              SoupMessage        *message,
              GBytes             *body)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;
  JsonObject *object;
  const char *text;
  GError *error = NULL;
  gsize size;
  const char *data = body != NULL ? g_bytes_get_data (body, &size) : NULL;

  if (soup_message_get_status (message) != SOUP_STATUS_OK)
    return g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                        _("The schema registry at %s has no schema %u: HTTP %u %s"),
                        self->url, id, soup_message_get_status (message),
                        soup_message_get_reason_phrase (message));

  if (data == NULL || size == 0 || !json_parser_load_from_data (parser, data, size, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      (object = json_node_get_object (root)) == NULL ||
      !json_object_has_member (object, "schema") ||
      json_node_get_value_type (json_object_get_member (object, "schema")) != G_TYPE_STRING)
    return g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                        _("The schema registry at %s answered something else than a schema "
                          "for id %u"), self->url, id);

  text = json_object_get_string_member (object, "schema");
  pb_avro_deserializer_add_schema (self, id, text, &error);

  return error;
}

static void
fetched_cb (GObject      *source_object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Fetch *fetch = user_data;
  PbAvroDeserializer *self = fetch->self;
  SoupMessage *message = soup_session_get_async_result_message (SOUP_SESSION (source_object), result);
  g_autoptr(GBytes) body = NULL;
  GError *error = NULL;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source_object), result, &error);
  if (body == NULL)
    {
      GError *wrapped = g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                                     _("Cannot get schema %u from the registry at %s: %s"),
                                     fetch->id, self->url, error->message);
      g_error_free (error);
      error = wrapped;
    }
  else
    error = parse_answer (self, fetch->id, message, body);

  finish_fetch (self, fetch->id, error);
  g_object_unref (self);
  g_free (fetch);
}

static gboolean
pb_avro_deserializer_prepare (PbDeserializer  *deserializer,
                              GBytes          *data,
                              GTask           *task,
                              GError         **error)
{
  PbAvroDeserializer *self = PB_AVRO_DESERIALIZER (deserializer);
  g_autoptr(SoupMessage) message = NULL;
  g_autofree char *uri = NULL;
  GPtrArray *waiting;
  Fetch *fetch;
  guint32 id;

  if (!read_header (data, &id) || g_hash_table_contains (self->schemas, GUINT_TO_POINTER (id)))
    {
      g_task_return_boolean (task, TRUE);
      return TRUE;
    }

  /* One request per schema, however many records wait for it. */
  waiting = g_hash_table_lookup (self->fetching, GUINT_TO_POINTER (id));
  if (waiting != NULL)
    {
      g_ptr_array_add (waiting, g_object_ref (task));
      return TRUE;
    }

  uri = g_strdup_printf ("%s/schemas/ids/%u", self->url, id);
  message = soup_message_new (SOUP_METHOD_GET, uri);
  if (message == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   _("Not a valid schema registry URL: “%s”"), self->url);
      return FALSE;
    }

  if (self->session == NULL)
    self->session = soup_session_new_with_options ("timeout", 10, NULL);

  waiting = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (waiting, g_object_ref (task));
  g_hash_table_insert (self->fetching, GUINT_TO_POINTER (id), waiting);

  fetch = g_new0 (Fetch, 1);
  fetch->self = g_object_ref (self);
  fetch->id = id;
  soup_session_send_and_read_async (self->session, message, G_PRIORITY_DEFAULT, NULL,
                                    fetched_cb, fetch);

  return TRUE;
}

static void
pb_avro_deserializer_iface_init (PbDeserializerInterface *iface)
{
  iface->deserialize = pb_avro_deserializer_deserialize;
  iface->needs_prepare = pb_avro_deserializer_needs_prepare;
  iface->prepare = pb_avro_deserializer_prepare;
}

static void
pb_avro_deserializer_finalize (GObject *object)
{
  PbAvroDeserializer *self = PB_AVRO_DESERIALIZER (object);

  g_clear_object (&self->session);
  g_clear_pointer (&self->schemas, g_hash_table_unref);
  g_clear_pointer (&self->fetching, g_hash_table_unref);
  g_free (self->url);

  G_OBJECT_CLASS (pb_avro_deserializer_parent_class)->finalize (object);
}

static void
pb_avro_deserializer_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  PbAvroDeserializer *self = PB_AVRO_DESERIALIZER (object);

  switch (prop_id)
    {
    case PROP_SCHEMA_REGISTRY_URL:
      g_value_set_string (value, self->url);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_avro_deserializer_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  PbAvroDeserializer *self = PB_AVRO_DESERIALIZER (object);

  switch (prop_id)
    {
    case PROP_SCHEMA_REGISTRY_URL:
      {
        const char *url = g_value_get_string (value);
        gsize len = url != NULL ? strlen (url) : 0;

        /* Without a trailing slash: paths are appended. */
        while (len > 0 && url[len - 1] == '/')
          len--;
        g_free (self->url);
        self->url = g_strndup (url != NULL ? url : "", len);
      }
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_avro_deserializer_class_init (PbAvroDeserializerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pb_avro_deserializer_finalize;
  object_class->get_property = pb_avro_deserializer_get_property;
  object_class->set_property = pb_avro_deserializer_set_property;

  /**
   * PbAvroDeserializer:schema-registry-url:
   *
   * The base URL of the schema registry, such as `http://localhost:8081`.
   */
  properties[PROP_SCHEMA_REGISTRY_URL] =
    g_param_spec_string ("schema-registry-url", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
pb_avro_deserializer_init (PbAvroDeserializer *self)
{
  self->schemas = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) schema_free);
  self->fetching = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_ptr_array_unref);
}

/**
 * pb_avro_deserializer_new:
 * @schema_registry_url: the base URL of the schema registry
 *
 * Creates a [class@Paperboy.AvroDeserializer].
 *
 * Returns: (transfer full): a new deserializer
 */
PbDeserializer *
pb_avro_deserializer_new (const char *schema_registry_url)
{
  g_return_val_if_fail (schema_registry_url != NULL, NULL);

  return g_object_new (PB_TYPE_AVRO_DESERIALIZER,
                       "schema-registry-url", schema_registry_url,
                       NULL);
}

/**
 * pb_avro_deserializer_get_schema_registry_url:
 * @self: a [class@Paperboy.AvroDeserializer]
 *
 * Gets [property@Paperboy.AvroDeserializer:schema-registry-url].
 *
 * Returns: the URL of the schema registry
 */
const char *
pb_avro_deserializer_get_schema_registry_url (PbAvroDeserializer *self)
{
  g_return_val_if_fail (PB_IS_AVRO_DESERIALIZER (self), NULL);

  return self->url;
}

/**
 * pb_avro_deserializer_add_schema:
 * @self: a [class@Paperboy.AvroDeserializer]
 * @id: the schema's id in the registry
 * @schema: the schema, as JSON
 * @error: return location for a #GError
 *
 * Gives @self the schema of id @id, which it then does not fetch: to
 * decode without a registry, or to load schemas ahead.
 *
 * Returns: %TRUE on success, %FALSE with @error set (%PB_ERROR_DESERIALIZE)
 *   if @schema is not a valid Avro schema
 */
gboolean
pb_avro_deserializer_add_schema (PbAvroDeserializer  *self,
                                 guint32              id,
                                 const char          *schema,
                                 GError             **error)
{
  avro_schema_t parsed;
  Schema *entry;

  g_return_val_if_fail (PB_IS_AVRO_DESERIALIZER (self), FALSE);
  g_return_val_if_fail (schema != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (avro_schema_from_json_length (schema, strlen (schema), &parsed) != 0)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   _("Schema %u is not a valid Avro schema: %s"), id, avro_strerror ());
      return FALSE;
    }

  entry = g_new0 (Schema, 1);
  entry->schema = parsed;
  entry->iface = avro_generic_class_from_schema (parsed);
  if (entry->iface == NULL)
    {
      schema_free (entry);
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   _("Schema %u cannot be used: %s"), id, avro_strerror ());
      return FALSE;
    }

  g_hash_table_insert (self->schemas, GUINT_TO_POINTER (id), entry);

  return TRUE;
}
