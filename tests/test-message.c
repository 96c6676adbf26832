/* test-message.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-test-util.h"

static GVariant *
make_headers (void)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(smay)"));
  g_variant_builder_add (&builder, "(s@may)", "trace",
                         g_variant_new_maybe (G_VARIANT_TYPE_BYTESTRING,
                                              g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "a", 1, 1)));
  g_variant_builder_add (&builder, "(s@may)", "empty",
                         g_variant_new_maybe (G_VARIANT_TYPE_BYTESTRING,
                                              g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "", 0, 1)));
  g_variant_builder_add (&builder, "(s@may)", "null",
                         g_variant_new_maybe (G_VARIANT_TYPE_BYTESTRING, NULL));
  g_variant_builder_add (&builder, "(s@may)", "trace",
                         g_variant_new_maybe (G_VARIANT_TYPE_BYTESTRING,
                                              g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "b", 1, 1)));

  return g_variant_builder_end (&builder);
}

static void
test_new_full (void)
{
  g_autoptr(GBytes) key = g_bytes_new_static ("k", 1);
  g_autoptr(GBytes) value = g_bytes_new_static ("value", 5);
  g_autoptr(PbMessage) message = NULL;
  g_autoptr(GBytes) trace = NULL;
  g_autoptr(GBytes) empty = NULL;
  g_autofree char *topic = NULL;
  gint64 offset;
  int partition;
  GBytes *got;

  g_test_summary ("pb_message_new_full() keeps every field; headers keep order and "
                  "duplicates, and the last header of a name wins");

  message = pb_message_new_full ("events", 3, 42, 1700000000000, key, value, make_headers ());

  g_assert_cmpstr (pb_message_get_topic (message), ==, "events");
  g_assert_cmpint (pb_message_get_partition (message), ==, 3);
  g_assert_cmpint (pb_message_get_offset (message), ==, 42);
  g_assert_cmpint (pb_message_get_timestamp (message), ==, 1700000000000);
  g_assert_true (pb_message_get_key (message) == key);
  g_assert_true (pb_message_get_value (message) == value);
  g_assert_false (pb_message_is_tombstone (message));

  g_assert_cmpuint (g_variant_n_children (pb_message_get_headers (message)), ==, 4);
  trace = pb_message_get_header (message, "trace");
  g_assert_cmpmem (g_bytes_get_data (trace, NULL), g_bytes_get_size (trace), "b", 1);
  empty = pb_message_get_header (message, "empty");
  g_assert_nonnull (empty);
  g_assert_cmpuint (g_bytes_get_size (empty), ==, 0);
  g_assert_null (pb_message_get_header (message, "null"));
  g_assert_null (pb_message_get_header (message, "absent"));

  /* Properties read the same fields. */
  g_object_get (message, "topic", &topic, "partition", &partition, "offset", &offset,
                "value", &got, NULL);
  g_assert_cmpstr (topic, ==, "events");
  g_assert_cmpint (partition, ==, 3);
  g_assert_cmpint (offset, ==, 42);
  g_assert_true (got == value);
  g_bytes_unref (got);
}

static void
test_null_is_not_empty (void)
{
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(PbMessage) tombstone = pb_message_new_full ("t", 0, 0, -1, NULL, NULL, NULL);
  g_autoptr(PbMessage) blank = pb_message_new_full ("t", 0, 1, -1, empty, empty, NULL);
  gboolean is_tombstone;
  gsize size;

  g_test_summary ("A null key or value is NULL, an empty one is a GBytes of length 0; "
                  "only a null value is a tombstone");

  g_assert_null (pb_message_get_key (tombstone));
  g_assert_null (pb_message_get_value (tombstone));
  g_assert_true (pb_message_is_tombstone (tombstone));
  g_object_get (tombstone, "is-tombstone", &is_tombstone, NULL);
  g_assert_true (is_tombstone);
  g_assert_cmpuint (g_variant_n_children (pb_message_get_headers (tombstone)), ==, 0);
  g_assert_cmpint (pb_message_get_timestamp (tombstone), ==, -1);

  g_assert_nonnull (pb_message_get_key (blank));
  g_assert_nonnull (pb_message_get_value (blank));
  g_assert_false (pb_message_is_tombstone (blank));

  /* peek gives the same bytes; NULL for null. */
  size = 42;
  g_assert_null (pb_message_peek_value (tombstone, &size));
  g_assert_cmpuint (size, ==, 0);
  g_assert_null (pb_message_peek_key (tombstone, &size));
  g_assert_true (pb_message_peek_value (blank, &size) == g_bytes_get_data (pb_message_get_value (blank), NULL));
  g_assert_cmpuint (size, ==, 0);
}

static void
test_with_and_dup (void)
{
  g_autoptr(GBytes) key = g_bytes_new_static ("k", 1);
  g_autoptr(GBytes) value = g_bytes_new_static ("v", 1);
  g_autoptr(GBytes) other = g_bytes_new_static ("other", 5);
  g_autoptr(PbMessage) message = pb_message_new_full ("t", 1, 7, 99, key, value, make_headers ());
  g_autoptr(PbMessage) with_key = pb_message_with_key (message, other);
  g_autoptr(PbMessage) with_value = pb_message_with_value (message, NULL);
  g_autoptr(PbMessage) copy = pb_message_dup (message);

  g_test_summary ("with_key(), with_value() and dup() keep the record's provenance");

  g_assert_true (g_bytes_equal (pb_message_get_key (with_key), other));
  g_assert_true (g_bytes_equal (pb_message_get_value (with_key), value));
  g_assert_true (pb_message_is_tombstone (with_value));
  g_assert_true (g_bytes_equal (pb_message_get_key (with_value), key));

  for (guint i = 0; i < 3; i++)
    {
      PbMessage *derived = i == 0 ? with_key : i == 1 ? with_value : copy;

      g_assert_true (derived != message);
      g_assert_cmpstr (pb_message_get_topic (derived), ==, "t");
      g_assert_cmpint (pb_message_get_partition (derived), ==, 1);
      g_assert_cmpint (pb_message_get_offset (derived), ==, 7);
      g_assert_cmpint (pb_message_get_timestamp (derived), ==, 99);
      g_assert_true (g_variant_equal (pb_message_get_headers (derived),
                                      pb_message_get_headers (message)));
    }

  g_assert_true (g_bytes_equal (pb_message_get_value (copy), value));
  g_assert_true (pb_message_get_value (copy) != value);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/Message/new-full", test_new_full);
  g_test_add_func ("/Paperboy/Message/null-is-not-empty", test_null_is_not_empty);
  g_test_add_func ("/Paperboy/Message/with-and-dup", test_with_and_dup);

  return g_test_run ();
}
