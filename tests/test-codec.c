/* test-codec.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <math.h>

#include "pb-codec-private.h"
#include "pb-test-util.h"

/* Encodes @text (a GVariant in text form), then decodes what was written
 * with the type the changelog header would carry: the value read back. */
static GVariant *
round_trip (const char  *text,
            GVariant   **encoded,
            char       **json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = g_variant_parse (NULL, text, NULL, NULL, &error);
  GString *buffer = g_string_new ("left alone");
  gsize start = buffer->len;
  GVariant *decoded;

  g_assert_no_error (error);
  *encoded = _pb_codec_encode (value, buffer, &error);
  g_assert_no_error (error);
  g_assert_nonnull (*encoded);
  g_assert_true (g_str_has_prefix (buffer->str, "left alone"));
  *json = g_strdup (buffer->str + start);
  g_string_free (buffer, TRUE);

  decoded = _pb_codec_decode (*json, strlen (*json), g_variant_get_type_string (*encoded), &error);
  g_assert_no_error (error);

  return decoded;
}

static void
test_exact (void)
{
  static const char *values[] = {
    "true", "byte 0xff", "int16 -32768", "uint16 65535", "int32 -2147483648",
    "uint32 4294967295", "int64 -9223372036854775808", "int64 9223372036854775807",
    "int64 9007199254740993", "uint64 18446744073709551615", "0.1", "1e300", "-0.0", "1.0",
    "'h\\u00e9llo \"q\" \\\\ \\n'", "objectpath '/a/b'", "signature 'a{sv}'",
    "[1, 2, 3]", "@as []", "(1, 'a', true)", "()", "@mi nothing", "just 5",
    "[(1, [0.5, 1.5]), (2, @ad [])]", "b'bytes'",
  };

  g_test_summary ("Values whose type JSON carries exactly come back equal, as written "
                  "(no normalization)");

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autoptr(GVariant) value = g_variant_parse (NULL, values[i], NULL, NULL, NULL);
      g_autoptr(GVariant) encoded = NULL;
      g_autoptr(GVariant) decoded = NULL;
      g_autofree char *json = NULL;

      decoded = round_trip (values[i], &encoded, &json);
      g_test_message ("%s → %s", values[i], json);
      g_assert_true (g_variant_equal (encoded, value));
      g_assert_true (g_variant_equal (decoded, value));
    }
}

static void
test_normalized (void)
{
  static const struct {
    const char *value;
    const char *normal;
  } cases[] = {
    { "<int32 1>", "<int64 1>" },
    { "<2.5>", "<2.5>" },
    { "{'a': <int32 1>, 'b': <'x'>}", "{'a': <int64 1>, 'b': <'x'>}" },
    { "@mmi just nothing", "@mmi nothing" },
    { "{'k': 1, 'k': 2}", "{'k': 2}" },
    { "{0.5: 'x'}", "{0.5: 'x'}" },
  };

  g_test_summary ("Values whose type JSON cannot carry exactly are normalized through one "
                  "round trip before they are held: what is read back equals what is held");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GVariant) normal = g_variant_parse (NULL, cases[i].normal, NULL, NULL, NULL);
      g_autoptr(GVariant) encoded = NULL;
      g_autoptr(GVariant) decoded = NULL;
      g_autofree char *json = NULL;

      decoded = round_trip (cases[i].value, &encoded, &json);
      g_test_message ("%s → %s", cases[i].value, json);
      g_assert_true (g_variant_equal (encoded, normal));
      g_assert_true (g_variant_equal (decoded, encoded));
    }
}

static void
test_refused (void)
{
  g_autoptr(GVariant) nan_value = g_variant_ref_sink (g_variant_new_double (NAN));
  g_autoptr(GVariant) inf_value = g_variant_ref_sink (g_variant_new_parsed ("[1.0, %d]", INFINITY));
  g_autoptr(GVariant) in_variant = g_variant_ref_sink (g_variant_new_parsed ("<%d>", -INFINITY));
  g_autoptr(GVariant) by_path = g_variant_ref_sink (g_variant_new_parsed ("{@o '/a': 1}"));
  GVariant *refused[] = { nan_value, inf_value, in_variant, by_path };

  g_test_summary ("Doubles that are not finite and dictionaries JSON cannot read back are "
                  "refused with an error");

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GString) json = g_string_new (NULL);

      g_assert_null (_pb_codec_encode (refused[i], json, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_FAILED);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
    }
}

static void
test_decode_errors (void)
{
  static const struct {
    const char *json;
    const char *type;
  } cases[] = {
    { "{\"a\":", "a{sv}" },
    { "\"text\"", "i" },
    { "[1, 2]", "(ii" },
    { "1", "*" },
    { "", NULL },
  };

  g_test_summary ("JSON that is not a value of its type, and a type that is not one, are "
                  "PB_ERROR_CHANGELOG errors");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_null (_pb_codec_decode (cases[i].json, strlen (cases[i].json), cases[i].type,
                                       &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_CHANGELOG);
      g_test_message ("%s as %s: %s", cases[i].json, cases[i].type, error->message);
    }
}

static void
test_headers (void)
{
  g_autoptr(GVariant) value = g_variant_ref_sink (g_variant_new_parsed ("(1, 'x')"));
  rd_kafka_headers_t *headers = _pb_codec_headers_new (value, TRUE);
  const void *data;
  size_t size;

  g_test_summary ("A change carries its type and the encoding in its headers, and the "
                  "record it comes from when asked; a tombstone without a source has none");

  g_assert_null (_pb_codec_headers_new (NULL, FALSE));

  _pb_codec_add_source (headers, "views", 1234, 2);
  g_assert_cmpuint (rd_kafka_header_cnt (headers), ==, 3);
  g_assert_cmpint (rd_kafka_header_get_last (headers, PB_CODEC_SOURCE_HEADER, &data, &size), ==,
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  g_assert_cmpmem (data, size, "1234:2:views", 12);

  g_assert_cmpint (rd_kafka_header_get_last (headers, PB_CODEC_TYPE_HEADER, &data, &size), ==,
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  g_assert_cmpmem (data, size, "(is)", 4);
  g_assert_cmpint (rd_kafka_header_get_last (headers, PB_CODEC_ENCODING_HEADER, &data, &size), ==,
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  g_assert_cmpmem (data, size, PB_CODEC_ENCODING, strlen (PB_CODEC_ENCODING));
  rd_kafka_headers_destroy (headers);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/Codec/exact", test_exact);
  g_test_add_func ("/Paperboy/Codec/normalized", test_normalized);
  g_test_add_func ("/Paperboy/Codec/refused", test_refused);
  g_test_add_func ("/Paperboy/Codec/decode-errors", test_decode_errors);
  g_test_add_func ("/Paperboy/Codec/headers", test_headers);

  return g_test_run ();
}
