/* count.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A C handler over a large backlog, for the volume suite:
 *   pb-volume-count BOOTSTRAP GROUP TOPIC TOTAL
 * Counts the records of TOPIC, checks that each partition's come once and
 * in order, and stops after TOTAL. Prints one line of JSON: what it saw,
 * and when it handled the first record and every 10,000th. PB_VOLUME_CONFIG may hold librdkafka
 * properties, as KEY=VALUE words. */

#include "config.h"

#include <stdlib.h>
#include <paperboy.h>

#define MAX_PARTITIONS 1024

/* When the first record, and every TICKth, was handled. */
#define TICK 10000

/* A line on stderr every PROGRESSth record, which a test shows when the
 * program does not finish. */
#define PROGRESS 100000

#define TEST_TYPE_VOLUME_COUNTER (test_volume_counter_get_type ())
G_DECLARE_FINAL_TYPE (TestVolumeCounter, test_volume_counter, TEST, VOLUME_COUNTER, PbBulkHandler)

/* A bulk handler: with PB_VOLUME_BULK set the engine runs in Bulk mode. */
struct _TestVolumeCounter
{
  PbBulkHandler parent_instance;
  PbEngine  *engine;
  PbTable   *table;     /* with PB_VOLUME_TABLE: each record sets its key */
  guint64    total;
  guint64    handled;
  guint64    duplicates;
  guint64    gaps;
  gint64     next[MAX_PARTITIONS];
  GArray    *ticks;
};

G_DEFINE_FINAL_TYPE (TestVolumeCounter, test_volume_counter, PB_TYPE_BULK_HANDLER)

static gboolean
test_volume_counter_on_message (PbHandler  *handler,
                                PbMessage  *message,
                                GObject    *context,
                                GError    **error)
{
  TestVolumeCounter *self = TEST_VOLUME_COUNTER (handler);
  int partition = pb_message_get_partition (message);
  gint64 offset = pb_message_get_offset (message);

  g_assert (partition >= 0 && partition < MAX_PARTITIONS);

  if (offset < self->next[partition])
    self->duplicates++;
  else if (offset > self->next[partition])
    self->gaps++;
  self->next[partition] = MAX (self->next[partition], offset + 1);

  if (self->table != NULL)
    {
      GBytes *key = pb_message_get_key (message);
      g_autofree char *text = key != NULL ? g_strndup (g_bytes_get_data (key, NULL),
                                                       g_bytes_get_size (key)) : g_strdup ("");

      if (!pb_table_set (self->table, text, g_variant_new_int64 (offset), error))
        return FALSE;
    }

  self->handled++;
  if (self->handled == 1 || self->handled % TICK == 0)
    {
      gint64 now = g_get_monotonic_time ();

      g_array_append_val (self->ticks, now);
    }
  if (self->handled % PROGRESS == 0)
    g_printerr ("progress %" G_GUINT64_FORMAT "\n", self->handled);
  if (self->handled == self->total)
    pb_engine_stop (self->engine);

  return TRUE;
}

static gboolean
test_volume_counter_on_bulk (PbBulkHandler  *handler,
                             GPtrArray      *messages,
                             GObject        *context,
                             GError        **error)
{
  for (guint i = 0; i < messages->len; i++)
    test_volume_counter_on_message (PB_HANDLER (handler), g_ptr_array_index (messages, i),
                                    context, error);

  return TRUE;
}

static void
test_volume_counter_finalize (GObject *object)
{
  g_array_unref (TEST_VOLUME_COUNTER (object)->ticks);

  G_OBJECT_CLASS (test_volume_counter_parent_class)->finalize (object);
}

static void
test_volume_counter_class_init (TestVolumeCounterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_volume_counter_finalize;
  PB_HANDLER_CLASS (klass)->on_message = test_volume_counter_on_message;
  PB_HANDLER_CLASS (klass)->on_tombstone = test_volume_counter_on_message;
  PB_BULK_HANDLER_CLASS (klass)->on_bulk = test_volume_counter_on_bulk;
}

static void
test_volume_counter_init (TestVolumeCounter *self)
{
  self->ticks = g_array_new (FALSE, FALSE, sizeof (gint64));
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(TestVolumeCounter) counter = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) next = g_string_new (NULL);
  g_autoptr(GString) ticks = g_string_new (NULL);
  g_auto(GStrv) config = NULL;
  gboolean ok;

  if (argc != 5)
    {
      g_printerr ("usage: %s BOOTSTRAP GROUP TOPIC TOTAL\n", argv[0]);
      return 2;
    }

  engine = pb_engine_new (argv[1], argv[2]);
  if (!pb_engine_set_config (engine, "fetch.wait.max.ms", "10", &error))
    g_error ("%s", error->message);

  config = g_strsplit_set (g_getenv ("PB_VOLUME_CONFIG") != NULL ? g_getenv ("PB_VOLUME_CONFIG") : "", " \t", -1);
  for (guint i = 0; config[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (config[i], "=", 2);

      if (*config[i] != '\0' &&
          (pair[1] == NULL || !pb_engine_set_config (engine, pair[0], pair[1], &error)))
        g_error ("Bad PB_VOLUME_CONFIG word “%s”: %s", config[i],
                 error != NULL ? error->message : "not KEY=VALUE");
    }

  pb_engine_set_bulk_mode (engine, g_getenv ("PB_VOLUME_BULK") != NULL);
  counter = g_object_new (TEST_TYPE_VOLUME_COUNTER, "topic", argv[3], NULL);
  counter->engine = engine;
  counter->total = g_ascii_strtoull (argv[4], NULL, 10);
  if (!pb_engine_add_handler (engine, PB_HANDLER (counter), &error))
    g_error ("%s", error->message);

  if (g_getenv ("PB_VOLUME_TABLE") != NULL)
    {
      counter->table = pb_table_new ("volume-table", g_getenv ("PB_VOLUME_TABLE"));
      pb_engine_set_state_dir (engine, g_getenv ("PB_VOLUME_STATE_DIR"));
      if (!pb_engine_register_table (engine, counter->table, &error))
        g_error ("%s", error->message);
    }

  ok = pb_engine_run (engine, NULL, &error);
  if (!ok)
    g_printerr ("run failed: %s\n", error->message);

  g_clear_object (&counter->table);

  for (int p = 0; p < MAX_PARTITIONS; p++)
    if (counter->next[p] > 0)
      g_string_append_printf (next, "%s\"%d\": %" G_GINT64_FORMAT, next->len > 0 ? ", " : "",
                              p, counter->next[p]);

  for (guint i = 0; i < counter->ticks->len; i++)
    g_string_append_printf (ticks, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "",
                            g_array_index (counter->ticks, gint64, i));

  g_print ("{\"language\": \"c\", \"ok\": %s, \"handled\": %" G_GUINT64_FORMAT ", "
           "\"duplicates\": %" G_GUINT64_FORMAT ", \"gaps\": %" G_GUINT64_FORMAT ", "
           "\"failures\": 0, \"next\": {%s}, \"tick\": %d, \"ticks\": [%s]}\n",
           ok ? "true" : "false", counter->handled, counter->duplicates, counter->gaps,
           next->str, TICK, ticks->str);

  return ok ? 0 : 1;
}
