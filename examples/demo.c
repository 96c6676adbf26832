/* demo.c: page views handled on an embedded Kafka cluster
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Produces a dozen page-view events (JSON, keyed by user) to a topic of the
 * engine's own mock:// cluster, then handles them with a handler that shows
 * every step of the lifecycle: a heartbeat is skipped in
 * did_receive_message(), a deleted account arrives as a tombstone, a
 * malformed event fails and on_error() decides to go on. The engine stops
 * once everything was handled, and the demo prints the committed offsets.
 */

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <paperboy.h>

#define TOPIC        "page-views"
#define N_PARTITIONS 3

static const struct {
  const char *key;
  const char *value;
} events[] = {
  { "alice", "{\"user\": \"alice\", \"page\": \"/home\"}" },
  { "bob", "{\"user\": \"bob\", \"page\": \"/home\"}" },
  { "alice", "{\"user\": \"alice\", \"page\": \"/pricing\"}" },
  { "carol", "{\"user\": \"carol\", \"page\": \"/blog/kafka\"}" },
  { "heartbeat", "{}" },
  { "bob", "{\"user\": \"bob\", \"page\": \"/signup\"}" },
  { "dave", "{\"user\": \"dave\", \"page\": " },
  { "carol", "{\"user\": \"carol\", \"page\": \"/home\"}" },
  { "alice", "{\"user\": \"alice\", \"page\": \"/checkout\"}" },
  { "bob", NULL },
  { "erin", "{\"user\": \"erin\", \"page\": \"/home\"}" },
  { "carol", "{\"user\": \"carol\", \"page\": \"/pricing\"}" },
};

#define DEMO_TYPE_HANDLER (demo_handler_get_type ())
G_DECLARE_FINAL_TYPE (DemoHandler, demo_handler, DEMO, HANDLER, PbHandler)

struct _DemoHandler
{
  PbHandler   parent_instance;
  PbEngine   *engine;        /* stopped when everything was handled */
  GHashTable *views;         /* user → number of views */
  guint       n_views;
  guint       n_deleted;
  guint       n_skipped;
  guint       n_failed;
  guint       n_finished;
};

G_DEFINE_FINAL_TYPE (DemoHandler, demo_handler, PB_TYPE_HANDLER)

static char *
describe (PbMessage *message)
{
  return g_strdup_printf ("[%s %d@%" G_GINT64_FORMAT "]",
                          pb_message_get_topic (message),
                          pb_message_get_partition (message),
                          pb_message_get_offset (message));
}

static char *
key_of (PbMessage *message)
{
  GBytes *key = pb_message_get_key (message);
  gsize len = 0;
  const char *data = key != NULL ? g_bytes_get_data (key, &len) : NULL;

  return g_utf8_make_valid (data != NULL ? data : "", len);
}

static PbMessage *
demo_handler_did_receive_message (PbHandler  *handler,
                                  PbMessage  *message,
                                  GObject    *context,
                                  GError    **error)
{
  DemoHandler *self = DEMO_HANDLER (handler);
  g_autofree char *where = describe (message);
  g_autofree char *key = key_of (message);

  if (g_str_equal (key, "heartbeat"))
    {
      g_print ("  %s heartbeat: skipped by did_receive_message()\n", where);
      self->n_skipped++;
      return NULL;
    }

  return g_object_ref (message);
}

static gboolean
demo_handler_on_message (PbHandler  *handler,
                         PbMessage  *message,
                         GObject    *context,
                         GError    **error)
{
  DemoHandler *self = DEMO_HANDLER (handler);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *where = describe (message);
  GBytes *value = pb_message_get_value (message);
  gsize len;
  const char *data = g_bytes_get_data (value, &len);
  JsonObject *event;
  const char *user;
  const char *page;
  guint views;

  if (!json_parser_load_from_data (parser, data != NULL ? data : "", len, error))
    return FALSE;

  event = json_node_get_object (json_parser_get_root (parser));
  user = json_object_get_string_member_with_default (event, "user", "someone");
  page = json_object_get_string_member_with_default (event, "page", "?");

  views = GPOINTER_TO_UINT (g_hash_table_lookup (self->views, user)) + 1;
  g_hash_table_insert (self->views, g_strdup (user), GUINT_TO_POINTER (views));
  self->n_views++;

  g_print ("  %s %s viewed %s (%u view%s so far)\n",
           where, user, page, views, views == 1 ? "" : "s");

  return TRUE;
}

static gboolean
demo_handler_on_tombstone (PbHandler  *handler,
                           PbMessage  *message,
                           GObject    *context,
                           GError    **error)
{
  DemoHandler *self = DEMO_HANDLER (handler);
  g_autofree char *where = describe (message);
  g_autofree char *user = key_of (message);

  g_hash_table_remove (self->views, user);
  self->n_deleted++;

  g_print ("  %s %s deleted their account (a tombstone): views forgotten\n", where, user);

  return TRUE;
}

static PbErrorAction
demo_handler_on_error (PbHandler    *handler,
                       const GError *error,
                       PbMessage    *message,
                       GObject      *context)
{
  DemoHandler *self = DEMO_HANDLER (handler);
  g_autofree char *where = describe (message);

  self->n_failed++;
  g_print ("  %s failed: %s; on_error() says CONTINUE\n", where, error->message);

  return PB_ERROR_ACTION_CONTINUE;
}

static gboolean
demo_handler_on_finished_handling (PbHandler  *handler,
                                   GPtrArray  *messages,
                                   GObject    *context,
                                   GError    **error)
{
  DemoHandler *self = DEMO_HANDLER (handler);

  self->n_finished += messages->len;
  if (self->n_finished == G_N_ELEMENTS (events))
    pb_engine_stop (self->engine);

  return TRUE;
}

static void
demo_handler_finalize (GObject *object)
{
  g_hash_table_unref (DEMO_HANDLER (object)->views);

  G_OBJECT_CLASS (demo_handler_parent_class)->finalize (object);
}

static void
demo_handler_class_init (DemoHandlerClass *klass)
{
  PbHandlerClass *handler_class = PB_HANDLER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = demo_handler_finalize;
  handler_class->did_receive_message = demo_handler_did_receive_message;
  handler_class->on_message = demo_handler_on_message;
  handler_class->on_tombstone = demo_handler_on_tombstone;
  handler_class->on_error = demo_handler_on_error;
  handler_class->on_finished_handling = demo_handler_on_finished_handling;
}

static void
demo_handler_init (DemoHandler *self)
{
  self->views = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

static void
assigned_cb (PbEngine *engine,
             GVariant *partitions,
             gpointer  user_data)
{
  g_print ("The consumer group assigned %zu partitions; handling:\n",
           g_variant_n_children (partitions));
}

static gboolean
give_up_cb (gpointer user_data)
{
  g_printerr ("The demo did not finish in time\n");
  exit (1);
  return G_SOURCE_REMOVE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(PbEngine) engine = pb_engine_new ("mock://", "demo");
  g_autoptr(DemoHandler) handler = g_object_new (DEMO_TYPE_HANDLER, "topic", TOPIC, NULL);
  g_autoptr(GError) error = NULL;
  PbMockCluster *cluster = pb_engine_get_mock_cluster (engine);
  GString *committed = g_string_new (NULL);

  setlocale (LC_ALL, "");

  if (cluster == NULL)
    {
      g_autoptr(GError) run_error = NULL;

      pb_engine_run (engine, NULL, &run_error);
      g_printerr ("No embedded cluster: %s\n", run_error->message);
      return 1;
    }

  g_print ("Paperboy demo: page views on an embedded Kafka cluster at %s\n\n",
           pb_mock_cluster_get_bootstrap_servers (cluster));

  g_print ("Producing %zu events to \"%s\" (%d partitions, keyed by user)\n",
           G_N_ELEMENTS (events), TOPIC, N_PARTITIONS);
  if (!pb_mock_cluster_create_topic (cluster, TOPIC, N_PARTITIONS, &error))
    goto failed;

  for (guint i = 0; i < G_N_ELEMENTS (events); i++)
    {
      g_autoptr(GBytes) key = g_bytes_new (events[i].key, strlen (events[i].key));
      g_autoptr(GBytes) value = NULL;

      if (events[i].value != NULL)
        value = g_bytes_new (events[i].value, strlen (events[i].value));

      if (pb_mock_cluster_produce (cluster, TOPIC, -1, key, value, NULL, &error) < 0)
        goto failed;
    }

  handler->engine = engine;
  if (!pb_engine_add_handler (engine, PB_HANDLER (handler), &error))
    goto failed;

  /* A short session timeout makes the first join quicker on the mock. */
  pb_engine_set_config (engine, "session.timeout.ms", "6000", NULL);
  pb_engine_set_config (engine, "fetch.wait.max.ms", "10", NULL);
  pb_engine_set_handle_signals (engine, TRUE);
  g_signal_connect (engine, "partitions-assigned", G_CALLBACK (assigned_cb), NULL);
  g_timeout_add_seconds (60, give_up_cb, NULL);

  g_print ("Starting the engine in consumer group \"%s\"\n",
           pb_engine_get_group_id (engine));
  if (!pb_engine_run (engine, NULL, &error))
    goto failed;

  for (int p = 0; p < N_PARTITIONS; p++)
    {
      gint64 offset = pb_mock_cluster_get_committed_offset (cluster, "demo", TOPIC, p, &error);

      if (error != NULL)
        goto failed;
      g_string_append_printf (committed, " %s[%d]=%" G_GINT64_FORMAT, TOPIC, p, offset);
    }

  g_print ("\nAll %zu records handled: %u page views, %u deletion, %u skipped, %u failed.\n",
           G_N_ELEMENTS (events), handler->n_views, handler->n_deleted,
           handler->n_skipped, handler->n_failed);
  g_print ("Committed offsets:%s\n", committed->str);
  g_string_free (committed, TRUE);

  return 0;

failed:
  g_printerr ("Demo failed: %s\n", error->message);
  g_string_free (committed, TRUE);
  return 1;
}
