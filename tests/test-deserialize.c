/* test-deserialize.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

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

  return g_test_run ();
}
