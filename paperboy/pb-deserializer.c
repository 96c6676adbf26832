/* pb-deserializer.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-deserializer.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "pb-error.h"

/**
 * PbDeserializer:
 *
 * Turns the bytes of a record's key or value into a [struct@GLib.Variant].
 *
 * A handler's [property@Paperboy.Handler:key-deserializer] and
 * [property@Paperboy.Handler:value-deserializer] decode each record once,
 * before [vfunc@Paperboy.Handler.did_receive_message]; the results are
 * [method@Paperboy.Message.get_decoded_key] and
 * [method@Paperboy.Message.get_decoded_value]. A null key or value is not
 * given to the deserializer: its decoded form is %NULL. A failure reaches
 * [vfunc@Paperboy.Handler.on_error] as a %PB_ERROR_DESERIALIZE error, with
 * the raw message, and the handler's decision applies.
 *
 * Paperboy has [class@Paperboy.StringDeserializer] and
 * [class@Paperboy.JsonDeserializer]. A deserializer in Python implements
 * `do_deserialize()` in a class derived from `GObject.Object` and
 * `Paperboy.Deserializer`; in JavaScript, `vfunc_deserialize()` in a class
 * that implements `Paperboy.Deserializer`.
 *
 * [vfunc@Paperboy.Deserializer.deserialize] runs on the engine's main
 * context, for every record: it must not block. A deserializer that needs
 * to fetch something first (a schema, for instance) says so with
 * [vfunc@Paperboy.Deserializer.needs_prepare] and fetches it in
 * [vfunc@Paperboy.Deserializer.prepare], which completes a task when it is
 * done; meanwhile the record's partition waits and the others go on.
 */

G_DEFINE_INTERFACE (PbDeserializer, pb_deserializer, G_TYPE_OBJECT)

static gboolean
pb_deserializer_real_needs_prepare (PbDeserializer *self,
                                    GBytes         *data)
{
  return FALSE;
}

static gboolean
pb_deserializer_real_prepare (PbDeserializer  *self,
                              GBytes          *data,
                              GTask           *task,
                              GError         **error)
{
  g_task_return_boolean (task, TRUE);
  return TRUE;
}

static void
pb_deserializer_default_init (PbDeserializerInterface *iface)
{
  iface->needs_prepare = pb_deserializer_real_needs_prepare;
  iface->prepare = pb_deserializer_real_prepare;
}

/**
 * pb_deserializer_deserialize: (virtual deserialize)
 * @self: a [iface@Paperboy.Deserializer]
 * @data: the bytes of a key or a value
 * @error: return location for a #GError
 *
 * Decodes @data.
 *
 * Returns: (transfer full): the decoded value, or %NULL with @error set
 */
GVariant *
pb_deserializer_deserialize (PbDeserializer  *self,
                             GBytes          *data,
                             GError         **error)
{
  PbDeserializerInterface *iface;
  GError *local_error = NULL;
  GVariant *ret;

  g_return_val_if_fail (PB_IS_DESERIALIZER (self), NULL);
  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  iface = PB_DESERIALIZER_GET_IFACE (self);
  g_return_val_if_fail (iface->deserialize != NULL, NULL);

  ret = iface->deserialize (self, data, &local_error);

  if (ret != NULL)
    {
      if (local_error != NULL)
        {
          g_critical ("%s.deserialize() returned a value but set an error: %s",
                      G_OBJECT_TYPE_NAME (self), local_error->message);
          g_error_free (local_error);
        }
      return g_variant_take_ref (ret);
    }

  if (local_error == NULL)
    local_error = g_error_new (PB_ERROR, PB_ERROR_DESERIALIZE,
                               _("%s.deserialize() failed without reporting an error "
                                 "(an uncaught exception in a language binding?)"),
                               G_OBJECT_TYPE_NAME (self));
  g_propagate_error (error, local_error);

  return NULL;
}

/**
 * pb_deserializer_needs_prepare: (virtual needs_prepare)
 * @self: a [iface@Paperboy.Deserializer]
 * @data: the bytes of a key or a value
 *
 * Whether [vfunc@Paperboy.Deserializer.prepare] must run before @data can
 * be decoded without blocking. The default returns %FALSE.
 *
 * Returns: %TRUE if the engine must call
 *   [method@Paperboy.Deserializer.prepare] first
 */
gboolean
pb_deserializer_needs_prepare (PbDeserializer *self,
                               GBytes         *data)
{
  g_return_val_if_fail (PB_IS_DESERIALIZER (self), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);

  return PB_DESERIALIZER_GET_IFACE (self)->needs_prepare (self, data);
}

/**
 * pb_deserializer_prepare: (virtual prepare)
 * @self: a [iface@Paperboy.Deserializer]
 * @data: the bytes of a key or a value
 * @task: the task to complete when @data can be decoded
 * @error: return location for a #GError
 *
 * Gets ready to decode @data, without blocking, and completes @task with
 * %TRUE, or with an error: the record then reaches
 * [vfunc@Paperboy.Handler.on_error] with that error. The record's partition
 * waits meanwhile; the others go on. The default completes @task at once.
 *
 * Returns: %TRUE if @self took charge of @task, %FALSE with @error set if
 *   it failed at once
 */
gboolean
pb_deserializer_prepare (PbDeserializer  *self,
                         GBytes          *data,
                         GTask           *task,
                         GError         **error)
{
  g_return_val_if_fail (PB_IS_DESERIALIZER (self), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (G_IS_TASK (task), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return PB_DESERIALIZER_GET_IFACE (self)->prepare (self, data, task, error);
}

/* Strings */

/**
 * PbStringDeserializer:
 *
 * Decodes UTF-8 text into a string (`s`) [struct@GLib.Variant]. Invalid
 * UTF-8, and a NUL byte, are %PB_ERROR_DESERIALIZE errors.
 */
struct _PbStringDeserializer
{
  GObject parent_instance;
};

static void pb_string_deserializer_iface_init (PbDeserializerInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PbStringDeserializer, pb_string_deserializer, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (PB_TYPE_DESERIALIZER,
                                                      pb_string_deserializer_iface_init))

static GVariant *
pb_string_deserializer_deserialize (PbDeserializer  *self,
                                    GBytes          *data,
                                    GError         **error)
{
  gsize size;
  const char *text = g_bytes_get_data (data, &size);
  const char *end;

  if (size > 0 && !g_utf8_validate_len (text, size, &end))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   _("Not valid UTF-8 text: bad byte 0x%02x at position %lu"),
                   (guint)(guchar)*end, (unsigned long)(end - text));
      return NULL;
    }

  return g_variant_new_take_string (g_strndup (size > 0 ? text : "", size));
}

static void
pb_string_deserializer_iface_init (PbDeserializerInterface *iface)
{
  iface->deserialize = pb_string_deserializer_deserialize;
}

static void
pb_string_deserializer_class_init (PbStringDeserializerClass *klass)
{
}

static void
pb_string_deserializer_init (PbStringDeserializer *self)
{
}

/**
 * pb_string_deserializer_new:
 *
 * Creates a [class@Paperboy.StringDeserializer].
 *
 * Returns: (transfer full): a new deserializer
 */
PbDeserializer *
pb_string_deserializer_new (void)
{
  return g_object_new (PB_TYPE_STRING_DESERIALIZER, NULL);
}

/* JSON */

/**
 * PbJsonDeserializer:
 *
 * Decodes JSON (RFC 8259, with json-glib) into a [struct@GLib.Variant]:
 *
 * | JSON | GVariant |
 * |---|---|
 * | object | `a{sv}`, members in their order |
 * | array | `av` |
 * | string | `s` |
 * | integer (no fraction, no exponent, within 64 bits) | `x` |
 * | any other number | `d` |
 * | `true`, `false` | `b` |
 * | `null` | `mv`, nothing |
 *
 * Malformed or truncated JSON, an empty value, and nesting deeper than 512
 * are %PB_ERROR_DESERIALIZE errors.
 */
struct _PbJsonDeserializer
{
  GObject parent_instance;
};

#define JSON_MAX_DEPTH 512

static void pb_json_deserializer_iface_init (PbDeserializerInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PbJsonDeserializer, pb_json_deserializer, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (PB_TYPE_DESERIALIZER,
                                                      pb_json_deserializer_iface_init))

/* The parser recurses: reject what would nest too deep first. */
static gboolean
check_depth (const char *text,
             gsize       size)
{
  gboolean in_string = FALSE;
  guint depth = 0;

  for (gsize i = 0; i < size; i++)
    {
      char c = text[i];

      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
        }
      else if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > JSON_MAX_DEPTH)
            return FALSE;
        }
      else if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }

  return TRUE;
}

/* json-glib's scanner lets escapes through that make invalid UTF-8 (an
 * octal escape such as "\377"): checked here. */
static gboolean
check_text (const char  *text,
            GError     **error)
{
  if (g_utf8_validate (text, -1, NULL))
    return TRUE;

  g_set_error_literal (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                       _("Not valid JSON: a string is not valid UTF-8"));
  return FALSE;
}

static GVariant *
node_to_variant (JsonNode  *node,
                 GError   **error)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      {
        GVariantBuilder builder;
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
        json_object_iter_init_ordered (&iter, json_node_get_object (node));
        while (json_object_iter_next_ordered (&iter, &name, &member))
          {
            GVariant *child;

            if (!check_text (name, error) || (child = node_to_variant (member, error)) == NULL)
              {
                g_variant_builder_clear (&builder);
                return NULL;
              }
            g_variant_builder_add (&builder, "{sv}", name, child);
          }

        return g_variant_builder_end (&builder);
      }

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);
        GVariantBuilder builder;

        g_variant_builder_init (&builder, G_VARIANT_TYPE ("av"));
        for (guint i = 0; i < n; i++)
          {
            GVariant *child = node_to_variant (json_array_get_element (array, i), error);

            if (child == NULL)
              {
                g_variant_builder_clear (&builder);
                return NULL;
              }
            g_variant_builder_add (&builder, "v", child);
          }

        return g_variant_builder_end (&builder);
      }

    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_INT64:
          return g_variant_new_int64 (json_node_get_int (node));
        case G_TYPE_DOUBLE:
          return g_variant_new_double (json_node_get_double (node));
        case G_TYPE_BOOLEAN:
          return g_variant_new_boolean (json_node_get_boolean (node));
        default:
          if (!check_text (json_node_get_string (node), error))
            return NULL;
          return g_variant_new_string (json_node_get_string (node));
        }

    case JSON_NODE_NULL:
    default:
      return g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL);
    }
}

static GVariant *
pb_json_deserializer_deserialize (PbDeserializer  *self,
                                  GBytes          *data,
                                  GError         **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local_error = NULL;
  gsize size;
  const char *text = g_bytes_get_data (data, &size);
  JsonNode *root;

  if (size == 0)
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                           _("An empty value is not JSON"));
      return NULL;
    }

  if (!check_depth (text, size))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   _("Not valid JSON: nested deeper than %d"), JSON_MAX_DEPTH);
      return NULL;
    }

  if (!json_parser_load_from_data (parser, text, size, &local_error))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                   _("Not valid JSON: %s"), local_error->message);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_DESERIALIZE,
                           _("Not valid JSON: no value"));
      return NULL;
    }

  return node_to_variant (root, error);
}

static void
pb_json_deserializer_iface_init (PbDeserializerInterface *iface)
{
  iface->deserialize = pb_json_deserializer_deserialize;
}

static void
pb_json_deserializer_class_init (PbJsonDeserializerClass *klass)
{
}

static void
pb_json_deserializer_init (PbJsonDeserializer *self)
{
}

/**
 * pb_json_deserializer_new:
 *
 * Creates a [class@Paperboy.JsonDeserializer].
 *
 * Returns: (transfer full): a new deserializer
 */
PbDeserializer *
pb_json_deserializer_new (void)
{
  return g_object_new (PB_TYPE_JSON_DESERIALIZER, NULL);
}
