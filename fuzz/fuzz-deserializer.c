/* fuzz-deserializer.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A libFuzzer target for one built-in deserializer, chosen at build time
 * (FUZZ_DESERIALIZER): any input gives a value or a PB_ERROR_DESERIALIZE
 * error, never a crash, a leak or a critical. */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <paperboy.h>

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

#ifdef FUZZ_AVRO
/* Avro: the inputs are the Avro part of records of schema 1, a record with
 * every kind of field. */
static const char *avro_schema =
  "{\"type\": \"record\", \"name\": \"Event\", \"fields\": ["
  "{\"name\": \"name\", \"type\": \"string\"},"
  "{\"name\": \"count\", \"type\": \"long\"},"
  "{\"name\": \"score\", \"type\": \"float\"},"
  "{\"name\": \"ok\", \"type\": \"boolean\"},"
  "{\"name\": \"tags\", \"type\": {\"type\": \"array\", \"items\": \"string\"}},"
  "{\"name\": \"attrs\", \"type\": {\"type\": \"map\", \"values\": \"int\"}},"
  "{\"name\": \"note\", \"type\": [\"null\", \"string\", \"double\"]},"
  "{\"name\": \"color\", \"type\": {\"type\": \"enum\", \"name\": \"Color\", \"symbols\": [\"RED\", \"BLUE\"]}},"
  "{\"name\": \"hash\", \"type\": {\"type\": \"fixed\", \"name\": \"Hash\", \"size\": 4}},"
  "{\"name\": \"raw\", \"type\": \"bytes\"}]}";

static PbDeserializer *
avro_deserializer_new (void)
{
  PbDeserializer *deserializer = pb_avro_deserializer_new ("http://127.0.0.1:1");

  g_assert (pb_avro_deserializer_add_schema (PB_AVRO_DESERIALIZER (deserializer), 1,
                                             avro_schema, NULL));
  return deserializer;
}
#endif

/* A critical or a warning is a finding: abort, which libFuzzer reports
 * with the input (a GLib breakpoint trap it would not). */
static GLogWriterOutput
writer (GLogLevelFlags   level,
        const GLogField *fields,
        gsize            n_fields,
        gpointer         user_data)
{
  g_log_writer_standard_streams (level, fields, n_fields, user_data);
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    abort ();

  return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static PbDeserializer *deserializer;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

#ifdef FUZZ_AVRO
  {
    GByteArray *framed = g_byte_array_sized_new (size + 5);

    g_byte_array_append (framed, (const guint8 *)"\0\0\0\0\1", 5);
    g_byte_array_append (framed, data, size);
    bytes = g_byte_array_free_to_bytes (framed);
  }
#else
  bytes = g_bytes_new (data, size);
#endif

  if (deserializer == NULL)
    {
      g_log_set_writer_func (writer, NULL, NULL);
      deserializer = FUZZ_DESERIALIZER ();
    }

  value = pb_deserializer_deserialize (deserializer, bytes, &error);

  g_assert ((value == NULL) != (error == NULL));
  if (error != NULL)
    g_assert (g_error_matches (error, PB_ERROR, PB_ERROR_DESERIALIZE));
  else
    g_assert (g_variant_is_normal_form (value));

  return 0;
}
