/* pb-test-consumer.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* An engine in a process of its own, for tests of what processes do:
 * several members of one group, SIGTERM, SIGKILL.
 *
 *   pb-test-consumer --bootstrap B --group G --topic T[,T2...] [--steps]
 *                    [--delay-ms N] [--bulk MAX] [-X key=value]...
 *
 * Handles the records of the topics, a handler each (sleeping N ms for
 * each record, or with --bulk in Bulk mode, in batches of at most MAX
 * records, sleeping N ms for each batch); with --steps, each topic is a
 * step of its own, in the order given. Prints, one line each, on stdout:
 *   assigned TOPIC PARTITION     for every partition it is given
 *   revoked TOPIC PARTITION LOST for every partition it gives up
 *   batch PARTITION FIRST        when a batch begins (--bulk)
 *   handled PARTITION OFFSET TOPIC  for every record, once handled
 *   finished                     when a batch ends (--bulk)
 *   step N started|finished      as steps begin and end (--steps)
 *   stopped                      when the run ended well
 * SIGINT and SIGTERM stop it gracefully. Exits 0 when the run ended
 * well, 1 when it failed (with the error on stderr), 2 on bad usage. */

#include "config.h"

#include <stdio.h>
#include <paperboy.h>

#define TEST_TYPE_PRINTER (test_printer_get_type ())
G_DECLARE_FINAL_TYPE (TestPrinter, test_printer, TEST, PRINTER, PbHandler)

struct _TestPrinter
{
  PbHandler parent_instance;
  guint     delay_ms;
  PbTable  *table;      /* nullable: written for each record */
};

G_DEFINE_FINAL_TYPE (TestPrinter, test_printer, PB_TYPE_HANDLER)

static gboolean
test_printer_on_message (PbHandler  *handler,
                         PbMessage  *message,
                         GObject    *context,
                         GError    **error)
{
  TestPrinter *self = TEST_PRINTER (handler);

  gint64 offset = pb_message_get_offset (message);

  if (self->delay_ms > 0)
    g_usleep (self->delay_ms * 1000);

  /* Two writes a record: the count so far, and a key of 100. */
  if (self->table != NULL)
    {
      g_autofree char *key = g_strdup_printf ("rec-%d", (int)(offset % 100));

      if (!pb_table_set (self->table, "count", g_variant_new_int64 (offset + 1), error) ||
          !pb_table_set (self->table, key, g_variant_new_int64 (offset), error))
        return FALSE;
    }

  g_print ("handled %d %" G_GINT64_FORMAT " %s\n", pb_message_get_partition (message), offset,
           pb_message_get_topic (message));

  return TRUE;
}

static void
test_printer_class_init (TestPrinterClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_printer_on_message;
  PB_HANDLER_CLASS (klass)->on_tombstone = test_printer_on_message;
}

static void
test_printer_init (TestPrinter *self)
{
}

#define TEST_TYPE_BULK_PRINTER (test_bulk_printer_get_type ())
G_DECLARE_FINAL_TYPE (TestBulkPrinter, test_bulk_printer, TEST, BULK_PRINTER, PbBulkHandler)

struct _TestBulkPrinter
{
  PbBulkHandler parent_instance;
  guint         delay_ms;
};

G_DEFINE_FINAL_TYPE (TestBulkPrinter, test_bulk_printer, PB_TYPE_BULK_HANDLER)

static gboolean
test_bulk_printer_on_bulk (PbBulkHandler  *handler,
                           GPtrArray      *messages,
                           GObject        *context,
                           GError        **error)
{
  TestBulkPrinter *self = TEST_BULK_PRINTER (handler);
  PbMessage *first = g_ptr_array_index (messages, 0);

  g_print ("batch %d %" G_GINT64_FORMAT "\n",
           pb_message_get_partition (first), pb_message_get_offset (first));

  if (self->delay_ms > 0)
    g_usleep (self->delay_ms * 1000);

  for (guint i = 0; i < messages->len; i++)
    {
      PbMessage *message = g_ptr_array_index (messages, i);

      g_print ("handled %d %" G_GINT64_FORMAT " %s\n",
               pb_message_get_partition (message), pb_message_get_offset (message),
               pb_message_get_topic (message));
    }

  g_print ("finished\n");

  return TRUE;
}

static void
test_bulk_printer_class_init (TestBulkPrinterClass *klass)
{
  PB_BULK_HANDLER_CLASS (klass)->on_bulk = test_bulk_printer_on_bulk;
}

static void
test_bulk_printer_init (TestBulkPrinter *self)
{
}

static void
print_partitions (const char *what,
                  GVariant   *partitions,
                  const char *suffix)
{
  GVariantIter iter;
  const char *topic;
  gint32 partition;

  g_variant_iter_init (&iter, partitions);
  while (g_variant_iter_next (&iter, "(&si)", &topic, &partition))
    g_print ("%s %s %d%s\n", what, topic, partition, suffix);
}

static void
assigned_cb (PbEngine *engine,
             GVariant *partitions,
             gpointer  user_data)
{
  print_partitions ("assigned", partitions, "");
}

static void
revoked_cb (PbEngine *engine,
            GVariant *partitions,
            gboolean  lost,
            gpointer  user_data)
{
  print_partitions ("revoked", partitions, lost ? " lost" : "");
}

static void
step_cb (PbEngine   *engine,
         guint       step,
         const char *what)
{
  g_print ("step %u %s\n", step, what);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *bootstrap = NULL;
  g_autofree char *group = NULL;
  g_autofree char *topic = NULL;
  g_auto(GStrv) config = NULL;
  int delay_ms = 0;
  g_autofree char *table_uri = NULL;
  g_autofree char *state_dir = NULL;
  g_autoptr(PbTable) table = NULL;
  int bulk = 0;
  gboolean steps = FALSE;
  g_auto(GStrv) topics = NULL;
  GOptionEntry entries[] = {
    { "bootstrap", 0, 0, G_OPTION_ARG_STRING, &bootstrap, "Bootstrap servers", "B" },
    { "group", 0, 0, G_OPTION_ARG_STRING, &group, "Consumer group", "G" },
    { "topic", 0, 0, G_OPTION_ARG_STRING, &topic, "Topics, separated by commas", "T" },
    { "steps", 0, 0, G_OPTION_ARG_NONE, &steps, "Each topic is a step", NULL },
    { "delay-ms", 0, 0, G_OPTION_ARG_INT, &delay_ms, "Time each record takes", "N" },
    { "bulk", 0, 0, G_OPTION_ARG_INT, &bulk, "Bulk mode, with batches of at most MAX records", "MAX" },
    { "config", 'X', 0, G_OPTION_ARG_STRING_ARRAY, &config, "librdkafka property", "KEY=VALUE" },
    { "table", 0, 0, G_OPTION_ARG_STRING, &table_uri, "A table “table”, written for each record", "URI" },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "The engine's state directory", "DIR" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(GPtrArray) printers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;

  /* Every line reaches the test as soon as it is printed. */
  setvbuf (stdout, NULL, _IOLBF, 0);

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) ||
      bootstrap == NULL || group == NULL || topic == NULL)
    {
      g_printerr ("%s\n", error != NULL ? error->message : "--bootstrap, --group and --topic are needed");
      return 2;
    }

  engine = pb_engine_new (bootstrap, group);
  pb_engine_set_handle_signals (engine, TRUE);
  pb_engine_set_commit_interval_ms (engine, 200);

  for (guint i = 0; config != NULL && config[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (config[i], "=", 2);

      if (pair[1] == NULL || !pb_engine_set_config (engine, pair[0], pair[1], &error))
        {
          g_printerr ("%s\n", error != NULL ? error->message : "-X takes KEY=VALUE");
          return 2;
        }
    }

  if (bulk > 0)
    g_object_set (engine, "bulk-mode", TRUE, "bulk-max-records", bulk, NULL);

  if (table_uri != NULL)
    {
      table = pb_table_new ("table", table_uri);
      if (!pb_engine_register_table (engine, table, &error))
        {
          g_printerr ("%s\n", error->message);
          return 2;
        }
    }
  if (state_dir != NULL)
    pb_engine_set_state_dir (engine, state_dir);

  topics = g_strsplit (topic, ",", -1);
  for (guint i = 0; topics[i] != NULL; i++)
    {
      PbHandler *printer;

      if (bulk > 0)
        {
          printer = g_object_new (TEST_TYPE_BULK_PRINTER, "topic", topics[i], NULL);
          TEST_BULK_PRINTER (printer)->delay_ms = delay_ms;
        }
      else
        {
          printer = g_object_new (TEST_TYPE_PRINTER, "topic", topics[i], NULL);
          TEST_PRINTER (printer)->delay_ms = delay_ms;
          TEST_PRINTER (printer)->table = table;
        }
      g_ptr_array_add (printers, printer);

      if (!pb_engine_add_handler (engine, printer, &error) ||
          (steps && !pb_engine_add_step (engine, &printer, 1, &error)))
        {
          g_printerr ("%s\n", error->message);
          return 2;
        }
    }

  g_signal_connect (engine, "step-started", G_CALLBACK (step_cb), (gpointer) "started");
  g_signal_connect (engine, "step-finished", G_CALLBACK (step_cb), (gpointer) "finished");
  g_signal_connect (engine, "partitions-assigned", G_CALLBACK (assigned_cb), NULL);
  g_signal_connect (engine, "partitions-revoked", G_CALLBACK (revoked_cb), NULL);

  if (!pb_engine_run (engine, NULL, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  g_print ("stopped\n");

  return 0;
}
