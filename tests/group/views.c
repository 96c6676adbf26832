/* views.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A member of a group that counts page views by key into a partitioned
 * rocksdb:// table "views", for the tests of tables across a group
 * (test_group_tables.py), which run it beside views.py and views.js:
 *
 *   pb-views BOOTSTRAP GROUP TOPIC STATE_DIR [KEY=VALUE...]
 *
 * KEY=VALUE are librdkafka properties. PB_VIEWS_STORE_URI (rocksdb://)
 * and PB_VIEWS_STANDBY_REPLICAS (0) in the environment set the table's,
 * PB_VIEWS_GUARANTEE (at-least-once) the engine's processing guarantee;
 * with PB_VIEWS_QUIET, a line "handled=N" a second replaces the
 * "handled" lines (for long runs).
 * Prints, one line each:
 *   assigned TOPIC P | revoked TOPIC P [lost]
 *   restored MS P...     once partitions were restored, MS milliseconds
 *                        after the last assignment: those it holds
 *   read N STANDBY       then the changelog records its restores read, and
 *                        those its standby replicas applied, since it
 *                        started
 *   handled P OFFSET     for every record, before its count changes (a
 *                        kill between the two leaves a line and no count)
 *   ready                once it answers SIGUSR1, which kills it before
 *   holds P...          on SIGUSR1: the table partitions it holds,
 *   shard P KEY COUNT    then each key of them, then "dumped"
 *   stopped              when the run ended well (SIGTERM, SIGINT)
 */

#include "config.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <paperboy.h>

#define TEST_TYPE_VIEWS (test_views_get_type ())
G_DECLARE_FINAL_TYPE (TestViews, test_views, TEST, VIEWS, PbHandler)

struct _TestViews
{
  PbHandler  parent_instance;
  PbTable   *table;
};

G_DEFINE_FINAL_TYPE (TestViews, test_views, PB_TYPE_HANDLER)

static gboolean quiet;
static guint64 n_handled;

static gboolean
test_views_on_message (PbHandler  *handler,
                       PbMessage  *message,
                       GObject    *context,
                       GError    **error)
{
  TestViews *self = TEST_VIEWS (handler);
  GBytes *key_bytes = pb_message_get_key (message);
  g_autofree char *key = g_strndup (g_bytes_get_data (key_bytes, NULL), g_bytes_get_size (key_bytes));
  g_autoptr(GVariant) count = pb_table_get (self->table, key, error);

  if (count == NULL && *error != NULL)
    return FALSE;

  if (quiet)
    n_handled++;
  else
    g_print ("handled %d %" G_GINT64_FORMAT "\n", pb_message_get_partition (message),
             pb_message_get_offset (message));

  return pb_table_set (self->table, key,
                       g_variant_new_int64 ((count != NULL ? g_variant_get_int64 (count) : 0) + 1),
                       error);
}

static void
test_views_class_init (TestViewsClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_views_on_message;
}

static void
test_views_init (TestViews *self)
{
}

static gint64 last_assigned;

static void
partitions_cb (PbEngine *engine,
               GVariant *partitions,
               gpointer  user_data)
{
  GVariantIter iter;
  const char *topic;
  gint32 partition;

  if (g_str_equal (user_data, "assigned"))
    last_assigned = g_get_monotonic_time ();
  g_variant_iter_init (&iter, partitions);
  while (g_variant_iter_next (&iter, "(&si)", &topic, &partition))
    g_print ("%s %s %d\n", (const char *)user_data, topic, partition);
}

static void
revoked_cb (PbEngine *engine,
            GVariant *partitions,
            gboolean  lost,
            gpointer  user_data)
{
  partitions_cb (engine, partitions, lost ? (gpointer) "revoked-lost" : (gpointer) "revoked");
}

static void
restored_cb (PbTable  *table,
             gpointer  user_data)
{
  g_autoptr(GString) line = g_string_new ("restored");
  g_autofree int *partitions = NULL;
  gsize n = 0;

  g_string_append_printf (line, " %" G_GINT64_FORMAT,
                          (g_get_monotonic_time () - last_assigned) / 1000);
  partitions = pb_table_get_partitions (table, &n);
  for (gsize i = 0; i < n; i++)
    g_string_append_printf (line, " %d", partitions[i]);
  g_print ("%s\n", line->str);
  g_print ("read %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n",
           pb_table_get_restored_records (table), pb_table_get_standby_records (table));
}

static gboolean
print_cb (const char *key,
          GVariant   *value,
          gpointer    user_data)
{
  g_print ("shard %d %s %" G_GINT64_FORMAT "\n",
           pb_table_get_partition_for_key (user_data, key), key, g_variant_get_int64 (value));

  return TRUE;
}

static gboolean
print_handled_cb (gpointer user_data)
{
  g_print ("handled=%" G_GUINT64_FORMAT "\n", n_handled);

  return G_SOURCE_CONTINUE;
}

static gboolean
dump_cb (gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) line = g_string_new ("holds");
  g_autofree int *partitions = NULL;
  gsize n = 0;

  partitions = pb_table_get_partitions (user_data, &n);
  for (gsize i = 0; i < n; i++)
    g_string_append_printf (line, " %d", partitions[i]);
  g_print ("%s\n", line->str);

  if (!pb_table_foreach (user_data, print_cb, user_data, &error))
    g_printerr ("%s\n", error->message);
  g_print ("dumped\n");

  return G_SOURCE_CONTINUE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(PbTable) table = NULL;
  g_autoptr(TestViews) views = NULL;
  g_autoptr(GError) error = NULL;

  setvbuf (stdout, NULL, _IOLBF, 0);

  if (argc < 5)
    {
      g_printerr ("Usage: %s BOOTSTRAP GROUP TOPIC STATE_DIR [KEY=VALUE...]\n", argv[0]);
      return 2;
    }

  engine = pb_engine_new (argv[1], argv[2]);
  pb_engine_set_handle_signals (engine, TRUE);
  pb_engine_set_commit_interval_ms (engine, 200);
  pb_engine_set_state_dir (engine, argv[4]);
  if (g_strcmp0 (g_getenv ("PB_VIEWS_GUARANTEE"), "exact-state") == 0)
    pb_engine_set_processing_guarantee (engine, PB_PROCESSING_GUARANTEE_EXACT_STATE);
  for (int i = 5; i < argc; i++)
    {
      g_auto(GStrv) pair = g_strsplit (argv[i], "=", 2);

      if (pair[1] == NULL || !pb_engine_set_config (engine, pair[0], pair[1], &error))
        {
          g_printerr ("%s\n", error != NULL ? error->message : "KEY=VALUE expected");
          return 2;
        }
    }

  table = pb_table_new ("views", g_getenv ("PB_VIEWS_STORE_URI") != NULL
                                   ? g_getenv ("PB_VIEWS_STORE_URI") : "rocksdb://");
  if (g_getenv ("PB_VIEWS_STANDBY_REPLICAS") != NULL)
    pb_table_set_standby_replicas (table, atoi (g_getenv ("PB_VIEWS_STANDBY_REPLICAS")));
  views = g_object_new (TEST_TYPE_VIEWS, "topic", argv[3], NULL);
  views->table = table;
  if (!pb_engine_register_table (engine, table, &error) ||
      !pb_engine_add_handler (engine, PB_HANDLER (views), &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  g_signal_connect (engine, "partitions-assigned", G_CALLBACK (partitions_cb), (gpointer) "assigned");
  g_signal_connect (engine, "partitions-revoked", G_CALLBACK (revoked_cb), NULL);
  g_signal_connect (table, "restored", G_CALLBACK (restored_cb), NULL);
  g_unix_signal_add (SIGUSR1, dump_cb, table);
  g_print ("ready\n");
  quiet = g_getenv ("PB_VIEWS_QUIET") != NULL;
  if (quiet)
    g_timeout_add_seconds (1, print_handled_cb, NULL);

  if (!pb_engine_run (engine, NULL, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  g_print ("stopped\n");

  return 0;
}
