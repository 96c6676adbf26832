/* test-deserialize.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <avro.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "pb-test-util.h"

/* Deserializers: the built-in ones, and through the engine. */

static GVariant *
decode (PbDeserializer  *deserializer,
        const char      *data,
        gssize           size,
        GError         **error)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, size < 0 ? strlen (data) : (gsize)size);

  return pb_deserializer_deserialize (deserializer, bytes, error);
}

static void
assert_decodes (PbDeserializer *deserializer,
                const char     *data,
                const char     *type,
                const char     *printed)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = decode (deserializer, data, -1, &error);
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (value);
  g_assert_false (g_variant_is_floating (value));
  g_assert_cmpstr (g_variant_get_type_string (value), ==, type);
  text = g_variant_print (value, FALSE);
  g_assert_cmpstr (text, ==, printed);
}

static void
assert_fails (PbDeserializer *deserializer,
              const char     *data,
              gssize          size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = decode (deserializer, data, size, &error);

  g_assert_null (value);
  g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
}

static void
test_string (void)
{
  g_autoptr(PbDeserializer) deserializer = pb_string_deserializer_new ();

  g_test_summary ("UTF-8 text becomes a string; invalid UTF-8 and NUL bytes are errors");

  assert_decodes (deserializer, "héllo", "s", "'héllo'");
  assert_decodes (deserializer, "", "s", "''");
  assert_fails (deserializer, "\xff\xfe", 2);
  assert_fails (deserializer, "a\0b", 3);
  assert_fails (deserializer, "\xc3", 1);
}

static void
test_json (void)
{
  g_autoptr(PbDeserializer) deserializer = pb_json_deserializer_new ();
  g_autoptr(GString) deep = g_string_new (NULL);

  g_test_summary ("JSON maps to GVariant as documented; malformed, truncated, empty and "
                  "too deeply nested JSON are errors");

  assert_decodes (deserializer,
                  "{\"b\": 1, \"a\": [true, null, 2.5, \"x\"], \"n\": {\"big\": 9007199254740993}}",
                  "a{sv}",
                  "{'b': <int64 1>, 'a': <[<true>, <@mv nothing>, <2.5>, <'x'>]>, "
                  "'n': <{'big': <int64 9007199254740993>}>}");
  assert_decodes (deserializer, "-7", "x", "-7");
  assert_decodes (deserializer, "1e3", "d", "1000.0");
  assert_decodes (deserializer, "\"\\u00e9\"", "s", "'é'");
  assert_decodes (deserializer, "[]", "av", "[]");
  assert_decodes (deserializer, "null", "mv", "nothing");

  assert_fails (deserializer, "", 0);
  assert_fails (deserializer, "{\"a\": ", -1);
  assert_fails (deserializer, "{\"a\" 1}", -1);
  assert_fails (deserializer, "[1, 2", -1);
  assert_fails (deserializer, "\"\xff\"", -1);
  assert_fails (deserializer, "nul", -1);
  /* Found by fuzzing: json-glib takes octal escapes, which can make
   * invalid UTF-8. */
  assert_fails (deserializer, "[\"\\777\"]", -1);
  assert_fails (deserializer, "{\"\\377\": 1}", -1);

  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  assert_fails (deserializer, deep->str, deep->len);
}

/* Through the engine */

#define TEST_TYPE_DECODED (test_decoded_get_type ())
G_DECLARE_FINAL_TYPE (TestDecoded, test_decoded, TEST, DECODED, PbBulkHandler)

struct _TestDecoded
{
  PbBulkHandler  parent_instance;
  GPtrArray     *seen;       /* "offset:key:value", decoded, printed */
  GPtrArray     *errors;     /* "offset:raw value:message" */
  guint          n_bulk_errors;
  guint          n_done;     /* records handled or failed */
  PbErrorAction  action;
  PbErrorAction  bulk_action;
};

G_DEFINE_FINAL_TYPE (TestDecoded, test_decoded, PB_TYPE_BULK_HANDLER)

static char *
print_or_null (GVariant *value)
{
  return value != NULL ? g_variant_print (value, FALSE) : g_strdup ("NULL");
}

static gboolean
test_decoded_on_message (PbHandler  *handler,
                         PbMessage  *message,
                         GObject    *context,
                         GError    **error)
{
  TestDecoded *self = TEST_DECODED (handler);
  g_autofree char *key = print_or_null (pb_message_get_decoded_key (message));
  g_autofree char *value = print_or_null (pb_message_get_decoded_value (message));

  g_ptr_array_add (self->seen, g_strdup_printf ("%" G_GINT64_FORMAT ":%s:%s",
                                                pb_message_get_offset (message), key, value));
  self->n_done++;

  return TRUE;
}

static gboolean
test_decoded_on_bulk (PbBulkHandler  *handler,
                      GPtrArray      *messages,
                      GObject        *context,
                      GError        **error)
{
  for (guint i = 0; i < messages->len; i++)
    test_decoded_on_message (PB_HANDLER (handler), g_ptr_array_index (messages, i), context, error);

  return TRUE;
}

static PbErrorAction
test_decoded_on_error (PbHandler    *handler,
                       const GError *error,
                       PbMessage    *message,
                       GObject      *context)
{
  TestDecoded *self = TEST_DECODED (handler);
  g_autofree char *raw = pb_test_bytes_to_string (pb_message_get_value (message));

  g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
  g_assert_null (pb_message_get_decoded_value (message));
  g_ptr_array_add (self->errors, g_strdup_printf ("%" G_GINT64_FORMAT ":%s:%s",
                                                  pb_message_get_offset (message), raw,
                                                  error->message));
  self->n_done++;

  return self->action;
}

static PbErrorAction
test_decoded_on_bulk_error (PbBulkHandler *handler,
                            const GError  *error,
                            GPtrArray     *messages,
                            GObject       *context)
{
  TestDecoded *self = TEST_DECODED (handler);

  g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
  self->n_bulk_errors++;

  return self->bulk_action;
}

static void
test_decoded_finalize (GObject *object)
{
  TestDecoded *self = TEST_DECODED (object);

  g_ptr_array_unref (self->seen);
  g_ptr_array_unref (self->errors);

  G_OBJECT_CLASS (test_decoded_parent_class)->finalize (object);
}

static void
test_decoded_class_init (TestDecodedClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_decoded_finalize;
  PB_HANDLER_CLASS (klass)->on_message = test_decoded_on_message;
  PB_HANDLER_CLASS (klass)->on_tombstone = test_decoded_on_message;
  PB_HANDLER_CLASS (klass)->on_error = test_decoded_on_error;
  PB_BULK_HANDLER_CLASS (klass)->on_bulk = test_decoded_on_bulk;
  PB_BULK_HANDLER_CLASS (klass)->on_bulk_error = test_decoded_on_bulk_error;
}

static void
test_decoded_init (TestDecoded *self)
{
  self->seen = g_ptr_array_new_with_free_func (g_free);
  self->errors = g_ptr_array_new_with_free_func (g_free);
}

static TestDecoded *
test_decoded_new (const char *topic)
{
  g_autoptr(PbDeserializer) keys = pb_string_deserializer_new ();
  g_autoptr(PbDeserializer) values = pb_json_deserializer_new ();

  return g_object_new (TEST_TYPE_DECODED,
                       "topic", topic,
                       "key-deserializer", keys,
                       "value-deserializer", values,
                       NULL);
}

static gboolean
has_done (gpointer user_data)
{
  TestDecoded *self = user_data;

  return self->n_done >= GPOINTER_TO_UINT (g_object_get_data (user_data, "expected"));
}

static void
produce_records (const char *topic)
{
  pb_test_create_topic (topic, 1);
  pb_test_produce (topic, 0, "k0", "{\"n\": 1}");
  pb_test_produce (topic, 0, "k1", "{\"n\": ");          /* truncated */
  pb_test_produce (topic, 0, NULL, "[1, 2.5]");
  pb_test_produce (topic, 0, "k3", NULL);                /* tombstone */
  pb_test_produce (topic, 0, "k4", "");                  /* empty */
  pb_test_produce (topic, 0, "k5", "\"ok\"");
}

static void
test_engine (PbTestFixture *fixture,
             gconstpointer  user_data)
{
  gboolean stop = GPOINTER_TO_INT (user_data);
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestDecoded) handler = test_decoded_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  gboolean ok;

  g_test_summary ("Keys and values are decoded before the handling; a value that is not "
                  "JSON reaches on_error as PB_ERROR_DESERIALIZE with the raw message, and "
                  "STOP commits nothing from it on");

  produce_records (fixture->topic);
  handler->action = stop ? PB_ERROR_ACTION_STOP : PB_ERROR_ACTION_CONTINUE;
  pb_engine_set_fail_on_exception (engine, TRUE);
  pb_test_add_handler (engine, handler);
  g_object_set_data (G_OBJECT (handler), "expected", GUINT_TO_POINTER (6));

  ok = pb_test_run_until (engine, stop ? NULL : has_done, handler, 30000, &error);

  if (stop)
    {
      g_assert_false (ok);
      g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
      g_assert_cmpuint (handler->seen->len, ==, 1);
      g_assert_cmpuint (handler->errors->len, ==, 1);
      g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 1);
    }
  else
    {
      g_assert_true (ok);
      g_assert_no_error (error);
      g_assert_cmpuint (handler->seen->len, ==, 4);
      g_assert_cmpstr (g_ptr_array_index (handler->seen, 0), ==, "0:'k0':{'n': <int64 1>}");
      g_assert_cmpstr (g_ptr_array_index (handler->seen, 1), ==, "2:NULL:[<int64 1>, <2.5>]");
      g_assert_cmpstr (g_ptr_array_index (handler->seen, 2), ==, "3:'k3':NULL");
      g_assert_cmpstr (g_ptr_array_index (handler->seen, 3), ==, "5:'k5':'ok'");
      g_assert_cmpuint (handler->errors->len, ==, 2);
      g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 6);
    }

  g_assert_true (g_str_has_prefix (g_ptr_array_index (handler->errors, 0), "1:{\"n\": :Cannot decode the value"));
  g_assert_nonnull (strstr (g_ptr_array_index (handler->errors, 0), "PbJsonDeserializer"));
  if (!stop)
    g_assert_true (g_str_has_prefix (g_ptr_array_index (handler->errors, 1), "4::Cannot decode the value"));
}

static void
test_bulk (PbTestFixture *fixture,
           gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestDecoded) handler = test_decoded_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("In Bulk mode a record that cannot be decoded fails its batch; SPLIT "
                  "gets it its own on_error and the others are handled");

  produce_records (fixture->topic);
  g_object_set (engine, "bulk-mode", TRUE, NULL);
  handler->bulk_action = PB_ERROR_ACTION_SPLIT;
  handler->action = PB_ERROR_ACTION_CONTINUE;
  pb_engine_set_fail_on_exception (engine, TRUE);
  pb_test_add_handler (engine, handler);
  g_object_set_data (G_OBJECT (handler), "expected", GUINT_TO_POINTER (6));

  g_assert_true (pb_test_run_until (engine, has_done, handler, 30000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (handler->n_bulk_errors, >=, 1);
  g_assert_cmpuint (handler->seen->len, ==, 4);
  g_assert_cmpuint (handler->errors->len, ==, 2);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 6);
}


/* Avro and the schema registry */

static const char *record_schema =
  "{\"type\": \"record\", \"name\": \"Event\", \"fields\": ["
  "{\"name\": \"name\", \"type\": \"string\"},"
  "{\"name\": \"count\", \"type\": \"long\"},"
  "{\"name\": \"score\", \"type\": \"double\"},"
  "{\"name\": \"ok\", \"type\": \"boolean\"},"
  "{\"name\": \"tags\", \"type\": {\"type\": \"array\", \"items\": \"string\"}},"
  "{\"name\": \"attrs\", \"type\": {\"type\": \"map\", \"values\": \"int\"}},"
  "{\"name\": \"note\", \"type\": [\"null\", \"string\"]},"
  "{\"name\": \"color\", \"type\": {\"type\": \"enum\", \"name\": \"Color\", \"symbols\": [\"RED\", \"BLUE\"]}},"
  "{\"name\": \"raw\", \"type\": \"bytes\"}]}";

typedef struct
{
  SoupServer *server;
  char       *url;
  guint       requests;
  gboolean    delayed;
} Registry;

static void registry_cb (SoupServer        *server,
                         SoupServerMessage *msg,
                         const char        *path,
                         GHashTable        *query,
                         gpointer           user_data);

static gboolean
unpause_cb (gpointer user_data)
{
  SoupServerMessage *msg = user_data;

  /* Served again, now without the delay. */
  registry_cb (NULL, msg, g_uri_get_path (soup_server_message_get_uri (msg)), NULL,
               g_object_get_data (G_OBJECT (msg), "registry"));
  soup_server_message_unpause (msg);

  return G_SOURCE_REMOVE;
}

static void
registry_cb (SoupServer        *server,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  Registry *registry = user_data;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *body = NULL;

  registry->requests++;

  /* Schema 5 is schema 1, answered after a second. */
  if (g_strcmp0 (path, "/schemas/ids/5") == 0 && !registry->delayed)
    {
      registry->delayed = TRUE;
      g_object_set_data (G_OBJECT (msg), "registry", registry);
      soup_server_message_pause (msg);
      g_timeout_add_full (G_PRIORITY_DEFAULT, 1000, unpause_cb, g_object_ref (msg), g_object_unref);
      registry->requests--;
      return;
    }

  if (g_strcmp0 (path, "/schemas/ids/1") == 0 || g_strcmp0 (path, "/schemas/ids/5") == 0)
    {
      builder = json_builder_new ();
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "schema");
      json_builder_add_string_value (builder, record_schema);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      body = json_to_string (root, FALSE);
    }
  else if (g_strcmp0 (path, "/schemas/ids/2") == 0)
    body = g_strdup ("this is not JSON");
  else if (g_strcmp0 (path, "/schemas/ids/3") == 0)
    body = g_strdup ("{\"schema\": \"{\\\"type\\\": \\\"nonsense\\\"}\"}");

  if (body == NULL)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                        "{\"error_code\": 40403}", 21);
      return;
    }

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/vnd.schemaregistry.v1+json",
                                    SOUP_MEMORY_COPY, body, strlen (body));
}

static void
registry_start (Registry *registry)
{
  g_autoptr(GError) error = NULL;
  GSList *uris;

  registry->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (registry->server, NULL, registry_cb, registry, NULL);
  g_assert_true (soup_server_listen_local (registry->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);

  uris = soup_server_get_uris (registry->server);
  registry->url = g_uri_to_string (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  registry->requests = 0;
  registry->delayed = FALSE;
}

static void
registry_stop (Registry *registry)
{
  g_clear_object (&registry->server);
  g_clear_pointer (&registry->url, g_free);
}

/* The Confluent wire format of an Event. */
static GBytes *
encode_event (guint32     id,
              const char *name,
              gint64      count,
              gboolean    truncate)
{
  avro_schema_t schema;
  avro_value_iface_t *iface;
  avro_value_t value, field, item;
  avro_writer_t writer;
  char buf[4096];
  guint8 *data;
  gsize size;

  g_assert_cmpint (avro_schema_from_json_length (record_schema, strlen (record_schema), &schema), ==, 0);
  iface = avro_generic_class_from_schema (schema);
  g_assert_cmpint (avro_generic_value_new (iface, &value), ==, 0);

  avro_value_get_by_name (&value, "name", &field, NULL);
  avro_value_set_string (&field, name);
  avro_value_get_by_name (&value, "count", &field, NULL);
  avro_value_set_long (&field, count);
  avro_value_get_by_name (&value, "score", &field, NULL);
  avro_value_set_double (&field, 2.5);
  avro_value_get_by_name (&value, "ok", &field, NULL);
  avro_value_set_boolean (&field, 1);
  avro_value_get_by_name (&value, "tags", &field, NULL);
  avro_value_append (&field, &item, NULL);
  avro_value_set_string (&item, "a");
  avro_value_get_by_name (&value, "attrs", &field, NULL);
  avro_value_add (&field, "k", &item, NULL, NULL);
  avro_value_set_int (&item, 7);
  avro_value_get_by_name (&value, "note", &field, NULL);
  avro_value_set_branch (&field, 0, &item);
  avro_value_set_null (&item);
  avro_value_get_by_name (&value, "color", &field, NULL);
  avro_value_set_enum (&field, 1);
  avro_value_get_by_name (&value, "raw", &field, NULL);
  avro_value_set_bytes (&field, (void *)"\x01\x02", 2);

  writer = avro_writer_memory (buf + 5, sizeof buf - 5);
  g_assert_cmpint (avro_value_write (writer, &value), ==, 0);
  size = 5 + avro_writer_tell (writer);
  avro_writer_free (writer);
  avro_value_decref (&value);
  avro_value_iface_decref (iface);
  avro_schema_decref (schema);

  buf[0] = 0;
  buf[1] = (id >> 24) & 0xff;
  buf[2] = (id >> 16) & 0xff;
  buf[3] = (id >> 8) & 0xff;
  buf[4] = id & 0xff;
  if (truncate)
    size -= 4;

  data = g_memdup2 (buf, size);
  return g_bytes_new_take (data, size);
}

static void
prepared_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  GError **error = user_data;

  if (!g_task_propagate_boolean (G_TASK (result), error))
    g_assert_nonnull (*error);
  g_object_set_data (G_OBJECT (source_object), "prepared", GINT_TO_POINTER (TRUE));
}

static gboolean
is_prepared (gpointer user_data)
{
  return g_object_get_data (user_data, "prepared") != NULL;
}

/* Prepares @deserializer for @data as the engine would: the error of the
 * preparation, or NULL. */
static GError *
prepare_for (PbDeserializer *deserializer,
             GBytes         *data)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  g_object_set_data (G_OBJECT (deserializer), "prepared", NULL);
  task = g_task_new (deserializer, NULL, prepared_cb, &error);
  g_assert_true (pb_deserializer_prepare (deserializer, data, task, NULL));
  g_clear_object (&task);
  pb_test_wait_until (is_prepared, deserializer, 30000);

  return error;
}

static void
test_avro (void)
{
  Registry registry = { 0 };
  g_autoptr(PbDeserializer) deserializer = NULL;
  g_autoptr(GBytes) first = encode_event (1, "one", 1, FALSE);
  g_autoptr(GBytes) second = encode_event (1, "two", -9007199254740993, FALSE);
  g_autoptr(GBytes) truncated = encode_event (1, "cut", 3, TRUE);
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("Avro in the Confluent wire format: the schema is fetched once from the "
                  "registry; unknown ids, garbage from the registry, a registry that is down, "
                  "a wrong first byte, truncated data and an empty value are errors");

  registry_start (&registry);
  deserializer = pb_avro_deserializer_new (registry.url);

  g_assert_true (pb_deserializer_needs_prepare (deserializer, first));
  g_assert_null (prepare_for (deserializer, first));
  g_assert_false (pb_deserializer_needs_prepare (deserializer, second));

  value = pb_deserializer_deserialize (deserializer, first, &error);
  g_assert_no_error (error);
  text = g_variant_print (value, FALSE);
  g_assert_cmpstr (text, ==, "{'name': <'one'>, 'count': <int64 1>, 'score': <2.5>, 'ok': <true>, "
                             "'tags': <[<'a'>]>, 'attrs': <{'k': <7>}>, 'note': <@mv nothing>, "
                             "'color': <'BLUE'>, 'raw': <[byte 0x01, 0x02]>}");
  g_clear_pointer (&value, g_variant_unref);
  g_clear_pointer (&text, g_free);

  value = pb_deserializer_deserialize (deserializer, second, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (value, "count", "x", &(gint64) { 0 }));
  g_clear_pointer (&value, g_variant_unref);
  g_assert_cmpuint (registry.requests, ==, 1);

  value = pb_deserializer_deserialize (deserializer, truncated, &error);
  g_assert_null (value);
  g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
  g_clear_error (&error);

  /* Not found, garbage, not a schema. */
  for (guint32 id = 2; id <= 4; id++)
    {
      g_autoptr(GBytes) data = encode_event (id == 4 ? 99 : id, "x", 0, FALSE);

      g_assert_true (pb_deserializer_needs_prepare (deserializer, data));
      error = prepare_for (deserializer, data);
      g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
      g_clear_error (&error);
      g_assert_null (pb_deserializer_deserialize (deserializer, data, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
      g_clear_error (&error);
      /* Asked again with the next record that needs it. */
      g_assert_true (pb_deserializer_needs_prepare (deserializer, data));
    }

  /* Found by fuzzing: a negative length (avro-c would allocate what it
   * says), and a map key that is not UTF-8. */
  assert_fails (deserializer, "\x00\x00\x00\x00\x01\x03", 6);
  assert_fails (deserializer,
                "\x00\x00\x00\x00\x01" "\x00\x00" "\x00\x00\x00\x00\x00\x00\x04\x40" "\x01"
                "\x00" "\x02\x02\xff\x00\x00" "\x00" "\x00" "\x00", 23);
  assert_fails (deserializer, "\x01\x00\x00\x00\x01\x02", 6);
  assert_fails (deserializer, "\x00\x00", 2);
  assert_fails (deserializer, "", 0);

  /* A registry that is down. */
  {
    g_autoptr(PbDeserializer) down = pb_avro_deserializer_new ("http://127.0.0.1:1");

    error = prepare_for (down, first);
    g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
    g_assert_nonnull (strstr (error->message, "127.0.0.1:1"));
    g_clear_error (&error);
  }

  registry_stop (&registry);
}

static void
test_avro_engine (PbTestFixture *fixture,
                  gconstpointer  user_data)
{
  Registry registry = { 0 };
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestDecoded) handler = NULL;
  g_autoptr(PbDeserializer) avro = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Through the engine: the partition waits for the schema, fetched once for "
                  "many records; a record of an unknown schema and a truncated one reach "
                  "on_error, the others are handled");

  registry_start (&registry);
  avro = pb_avro_deserializer_new (registry.url);
  handler = g_object_new (TEST_TYPE_DECODED, "topic", fixture->topic, "value-deserializer", avro, NULL);
  handler->action = PB_ERROR_ACTION_CONTINUE;

  pb_test_create_topic (fixture->topic, 2);
  for (int i = 0; i < 40; i++)
    {
      g_autoptr(GBytes) data = encode_event (1, "n", i, FALSE);
      g_autoptr(GBytes) key = g_bytes_new_static ("k", 1);

      g_assert_cmpint (pb_mock_cluster_produce (pb_test_mock_cluster (), fixture->topic, i % 2,
                                                key, data, NULL, &error), >=, 0);
      g_assert_no_error (error);
      if (i == 10)
        {
          g_autoptr(GBytes) unknown = encode_event (99, "x", 0, FALSE);
          g_autoptr(GBytes) cut = encode_event (1, "x", 0, TRUE);

          pb_mock_cluster_produce (pb_test_mock_cluster (), fixture->topic, 0, key, unknown, NULL, &error);
          pb_mock_cluster_produce (pb_test_mock_cluster (), fixture->topic, 1, key, cut, NULL, &error);
          g_assert_no_error (error);
        }
    }

  pb_test_add_handler (engine, handler);
  g_object_set_data (G_OBJECT (handler), "expected", GUINT_TO_POINTER (42));
  g_assert_true (pb_test_run_until (engine, has_done, handler, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (handler->seen->len, ==, 40);
  g_assert_cmpuint (handler->errors->len, ==, 2);
  /* One request for schema 1, at least one for schema 99. */
  g_assert_cmpuint (registry.requests, >=, 2);
  g_assert_cmpuint (registry.requests, <=, 3);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 21);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 1), ==, 21);

  registry_stop (&registry);
}

static void
test_avro_bad_input (PbTestFixture *fixture,
                     gconstpointer  user_data)
{
  gboolean stop = GPOINTER_TO_INT (user_data);
  Registry registry = { 0 };
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestDecoded) handler = NULL;
  g_autoptr(PbDeserializer) avro = NULL;
  g_autoptr(PbDeserializer) text = pb_string_deserializer_new ();
  g_autoptr(GError) error = NULL;
  struct {
    const char *key;
    GBytes     *value;
  } bad[] = {
    { "\xff", encode_event (1, "bad key", 0, FALSE) },
    { "k", g_bytes_new_static ("\x01\x00\x00\x00\x01\x00", 6) },   /* wrong magic byte */
    { "k", encode_event (99, "unknown id", 0, FALSE) },
    { "k", encode_event (2, "garbage from the registry", 0, FALSE) },
    { "k", encode_event (1, "truncated", 0, TRUE) },
    { "k", g_bytes_new_static ("", 0) },
  };

  g_test_summary ("Every bad input through the engine: a key that is not UTF-8, a wrong "
                  "magic byte, an unknown schema id, garbage from the registry, truncated "
                  "Avro, an empty value; CONTINUE goes on, STOP commits nothing from the "
                  "first one on");

  registry_start (&registry);
  avro = pb_avro_deserializer_new (registry.url);
  handler = g_object_new (TEST_TYPE_DECODED, "topic", fixture->topic,
                          "key-deserializer", text, "value-deserializer", avro, NULL);
  handler->action = stop ? PB_ERROR_ACTION_STOP : PB_ERROR_ACTION_CONTINUE;
  pb_engine_set_fail_on_exception (engine, TRUE);

  pb_test_create_topic (fixture->topic, 1);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GBytes) good = encode_event (1, "good", i, FALSE);
      g_autoptr(GBytes) key = g_bytes_new (bad[i].key, strlen (bad[i].key));

      pb_mock_cluster_produce (pb_test_mock_cluster (), fixture->topic, 0, NULL, good, NULL, &error);
      pb_mock_cluster_produce (pb_test_mock_cluster (), fixture->topic, 0, key, bad[i].value, NULL, &error);
      g_assert_no_error (error);
      g_bytes_unref (bad[i].value);
    }

  pb_test_add_handler (engine, handler);
  g_object_set_data (G_OBJECT (handler), "expected", GUINT_TO_POINTER (12));

  if (stop)
    {
      g_assert_false (pb_test_run_until (engine, NULL, NULL, 30000, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_DESERIALIZE);
      g_assert_cmpuint (handler->seen->len, ==, 1);
      g_assert_cmpuint (handler->errors->len, ==, 1);
      g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 1);
    }
  else
    {
      g_assert_true (pb_test_run_until (engine, has_done, handler, 30000, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (handler->seen->len, ==, 6);
      g_assert_cmpuint (handler->errors->len, ==, 6);
      for (guint i = 0; i < 6; i++)
        {
          g_autofree char *offset = g_strdup_printf ("%u:", 2 * i + 1);

          g_assert_true (g_str_has_prefix (g_ptr_array_index (handler->errors, i), offset));
        }
      g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 12);
    }

  registry_stop (&registry);
}

static void
test_avro_waits (PbTestFixture *fixture,
                 gconstpointer  user_data)
{
  Registry registry = { 0 };
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestDecoded) handler = NULL;
  g_autoptr(PbDeserializer) avro = NULL;
  g_autoptr(GError) error = NULL;
  int slow_at = -1;

  g_test_summary ("While a schema is fetched, its record's partition waits and the other "
                  "partitions go on");

  registry_start (&registry);
  avro = pb_avro_deserializer_new (registry.url);
  g_assert_true (pb_avro_deserializer_add_schema (PB_AVRO_DESERIALIZER (avro), 1, record_schema, &error));
  handler = g_object_new (TEST_TYPE_DECODED, "topic", fixture->topic, "value-deserializer", avro, NULL);

  pb_test_create_topic (fixture->topic, 2);
  {
    g_autoptr(GBytes) slow = encode_event (5, "slow", 0, FALSE);

    pb_mock_cluster_produce (pb_test_mock_cluster (), fixture->topic, 0, NULL, slow, NULL, &error);
  }
  for (int i = 0; i < 20; i++)
    {
      g_autoptr(GBytes) data = encode_event (1, "fast", i, FALSE);

      pb_mock_cluster_produce (pb_test_mock_cluster (), fixture->topic, 1, NULL, data, NULL, &error);
    }
  g_assert_no_error (error);

  pb_test_add_handler (engine, handler);
  g_object_set_data (G_OBJECT (handler), "expected", GUINT_TO_POINTER (21));
  g_assert_true (pb_test_run_until (engine, has_done, handler, 30000, &error));
  g_assert_no_error (error);

  /* "offset:key:value": partition 0's one record has the name 'slow'. */
  for (guint i = 0; i < handler->seen->len; i++)
    if (strstr (g_ptr_array_index (handler->seen, i), "'slow'") != NULL)
      slow_at = i;

  /* Records of the other partition were handled while it waited. */
  g_assert_cmpint (slow_at, >, 0);
  g_assert_cmpuint (registry.requests, ==, 1);

  registry_stop (&registry);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/Deserializer/string", test_string);
  g_test_add_func ("/Paperboy/Deserializer/json", test_json);
  PB_TEST_ADD ("Deserializer/continue", test_engine, GINT_TO_POINTER (FALSE));
  PB_TEST_ADD ("Deserializer/stop", test_engine, GINT_TO_POINTER (TRUE));
  PB_TEST_ADD ("Deserializer/bulk", test_bulk, NULL);
  g_test_add_func ("/Paperboy/Deserializer/avro", test_avro);
  PB_TEST_ADD ("Deserializer/avro", test_avro_engine, NULL);
  PB_TEST_ADD ("Deserializer/avro-bad-continue", test_avro_bad_input, GINT_TO_POINTER (FALSE));
  PB_TEST_ADD ("Deserializer/avro-bad-stop", test_avro_bad_input, GINT_TO_POINTER (TRUE));
  PB_TEST_ADD ("Deserializer/avro-waits", test_avro_waits, NULL);

  return g_test_run ();
}
