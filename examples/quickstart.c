/* quickstart.c: one handler for one topic
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Runs on the embedded mock:// cluster unless PAPERBOY_BOOTSTRAP_SERVERS
 * names real brokers; stop it with Ctrl-C.
 */

#include <locale.h>
#include <string.h>

#include <paperboy.h>

#define EXAMPLE_TYPE_TOPIC_HANDLER (example_topic_handler_get_type ())
G_DECLARE_FINAL_TYPE (ExampleTopicHandler, example_topic_handler,
                      EXAMPLE, TOPIC_HANDLER, PbHandler)

struct _ExampleTopicHandler
{
  PbHandler parent_instance;
};

G_DEFINE_FINAL_TYPE (ExampleTopicHandler, example_topic_handler, PB_TYPE_HANDLER)

static char *
to_text (GBytes *bytes)
{
  gsize len;
  const char *data;

  if (bytes == NULL)
    return g_strdup ("(null)");

  data = g_bytes_get_data (bytes, &len);

  return g_utf8_make_valid (data != NULL ? data : "", len);
}

static gboolean
example_topic_handler_on_message (PbHandler  *handler,
                                  PbMessage  *message,
                                  GObject    *context,
                                  GError    **error)
{
  g_autofree char *key = to_text (pb_message_get_key (message));
  g_autofree char *value = to_text (pb_message_get_value (message));

  g_print ("Received message: [%s] %s\n", key, value);

  return TRUE;
}

static void
example_topic_handler_class_init (ExampleTopicHandlerClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = example_topic_handler_on_message;
}

static void
example_topic_handler_init (ExampleTopicHandler *self)
{
  pb_handler_set_topic (PB_HANDLER (self), "example-topic");
}

int
main (int   argc,
      char *argv[])
{
  const char *servers = g_getenv ("PAPERBOY_BOOTSTRAP_SERVERS");
  g_autoptr(PbEngine) engine = NULL;
  g_autoptr(GError) error = NULL;
  PbMockCluster *cluster;

  setlocale (LC_ALL, "");

  engine = pb_engine_new (servers != NULL ? servers : "mock://", "example-group");
  pb_engine_set_fail_on_exception (engine, TRUE);
  pb_engine_set_handle_signals (engine, TRUE);

  if (!pb_engine_add_handler_type (engine, EXAMPLE_TYPE_TOPIC_HANDLER, &error))
    goto failed;

  /* On the embedded cluster, give the handler something to read. */
  cluster = pb_engine_get_mock_cluster (engine);
  for (int i = 0; cluster != NULL && i < 3; i++)
    {
      g_autofree char *key = g_strdup_printf ("key-%d", i);
      g_autofree char *value = g_strdup_printf ("hello %d", i);
      g_autoptr(GBytes) key_bytes = g_bytes_new (key, strlen (key));
      g_autoptr(GBytes) value_bytes = g_bytes_new (value, strlen (value));

      if (pb_mock_cluster_produce (cluster, "example-topic", -1, key_bytes, value_bytes,
                                   NULL, &error) < 0)
        goto failed;
    }

  if (!pb_engine_run (engine, NULL, &error))
    goto failed;

  return 0;

failed:
  g_printerr ("%s\n", error->message);
  return 1;
}
