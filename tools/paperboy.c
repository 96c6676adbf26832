/* paperboy.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <paperboy.h>
#include <json-glib/json-glib.h>

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The `paperboy` command-line tool.
 *
 * `paperboy COMMAND [ARGS…]` runs one command of the table below. Each
 * command parses its own options with a GOptionContext, so that
 * `paperboy COMMAND --help` and `paperboy help COMMAND` describe it.
 *
 * Exit status: 0 on success, 1 for a usage error (as GLib's tools), 2 when
 * a command fails.
 */

#define EXIT_USAGE 1
#define EXIT_FAILED 2

/* Kafka's own limit on topic names (Topic.validate in Apache Kafka). */
#define MAX_TOPIC_NAME_LENGTH 249

typedef int (*CommandFunc) (int    argc,
                            char **argv);

typedef struct
{
  const char  *name;
  const char  *summary;
  CommandFunc  func;
} Command;

static int command_help        (int    argc,
                                char **argv);
static int command_mock_broker (int    argc,
                                char **argv);
static int command_table       (int    argc,
                                char **argv);

/* Keep sorted by name: it is the order of `paperboy --help`. */
static const Command commands[] = {
  { "help", N_("Show help for the tool or for a command"),
    command_help },
  { "mock-broker", N_("Run a mock Kafka cluster until interrupted"),
    command_mock_broker },
  { "table", N_("Print a table from its RocksDB database or its changelog"),
    command_table },
};

static gboolean print_version = FALSE;

static const Command *
find_command (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      if (strcmp (commands[i].name, name) == 0)
        return &commands[i];
    }

  return NULL;
}

static char *
commands_description (void)
{
  g_autoptr(GString) description = g_string_new (NULL);
  int width = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    width = MAX (width, (int)strlen (commands[i].name));

  g_string_append (description, _("Commands:"));
  g_string_append_c (description, '\n');
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (description, "  %-*s  %s\n",
                            width, commands[i].name, _(commands[i].summary));

  g_string_append_c (description, '\n');
  /* Translators: do not translate “paperboy help COMMAND” nor “--help”. */
  g_string_append (description,
                   _("Run “paperboy help COMMAND” or “paperboy COMMAND --help” "
                     "for help on a command."));

  return g_string_free (g_steal_pointer (&description), FALSE);
}

static GOptionContext *
main_context_new (void)
{
  static const GOptionEntry entries[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, &print_version,
      N_("Print the version and exit"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autofree char *description = commands_description ();
  GOptionContext *context;

  context = g_option_context_new (_("COMMAND [ARGS…]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context,
                                _("Tools for Paperboy, a Kafka ingestion "
                                  "framework."));
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  /* Stop at the command: what follows it is the command's own. */
  g_option_context_set_strict_posix (context, TRUE);

  return context;
}

/* Reports a usage error the way GLib's tools do: the message, then the
 * usage, on standard error.
 */
static int
usage_error (GOptionContext *context,
             const char     *message)
{
  g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

  g_printerr ("%s: %s\n\n%s", g_get_prgname (), message, help);

  return EXIT_USAGE;
}

static int
unknown_command (GOptionContext *context,
                 const char     *name)
{
  g_autofree char *message = g_strdup_printf (_("Unknown command “%s”"), name);

  return usage_error (context, message);
}

static void
set_command_prgname (const char *command)
{
  g_autofree char *prgname = g_strdup_printf ("paperboy %s", command);

  g_set_prgname (prgname);
}

/* help [COMMAND] */

static int
command_help (int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GOptionContext) main_context = NULL;
  g_autoptr(GError) error = NULL;
  const Command *command;
  char *command_argv[3];

  context = g_option_context_new (_("[COMMAND]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context,
                                _("Show help for the tool or for COMMAND."));

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (context, error->message);

  if (argc > 2)
    return usage_error (context, _("Too many arguments"));

  if (argc < 2)
    {
      g_autofree char *help = NULL;

      main_context = main_context_new ();
      g_set_prgname ("paperboy");
      help = g_option_context_get_help (main_context, TRUE, NULL);
      g_print ("%s", help);

      return EXIT_SUCCESS;
    }

  command = find_command (argv[1]);
  if (command == NULL)
    return unknown_command (context, argv[1]);

  /* A command's own --help prints its options and exits. */
  set_command_prgname (command->name);
  command_argv[0] = (char *)command->name;
  command_argv[1] = (char *)"--help";
  command_argv[2] = NULL;

  return command->func (2, command_argv);
}

/* mock-broker [--brokers N] [--topic NAME:PARTITIONS]… */

typedef struct
{
  char *name;
  int   partitions;
} TopicSpec;

static void
topic_spec_clear (TopicSpec *spec)
{
  g_clear_pointer (&spec->name, g_free);
}

static gboolean
topic_name_is_valid (const char *name)
{
  gsize length = strlen (name);

  if (length == 0 || length > MAX_TOPIC_NAME_LENGTH)
    return FALSE;

  if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return FALSE;

  for (const char *p = name; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '.' && *p != '_' && *p != '-')
        return FALSE;
    }

  return TRUE;
}

static gboolean
parse_topic_spec (const char  *text,
                  TopicSpec   *spec,
                  GError     **error)
{
  const char *colon = strrchr (text, ':');
  g_autofree char *name = NULL;
  gint64 partitions;

  if (colon == NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid topic “%s”: expected NAME:PARTITIONS"), text);
      return FALSE;
    }

  name = g_strndup (text, colon - text);
  if (!topic_name_is_valid (name))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid topic name “%s”: use 1 to %d ASCII letters, "
                     "digits, “.”, “_” and “-”"),
                   name, MAX_TOPIC_NAME_LENGTH);
      return FALSE;
    }

  if (!g_ascii_string_to_signed (colon + 1, 10, 1, G_MAXINT,
                                 &partitions, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("Invalid number of partitions “%s” for topic “%s”: "
                     "expected a number of at least 1"),
                   colon + 1, name);
      return FALSE;
    }

  spec->name = g_steal_pointer (&name);
  spec->partitions = (int)partitions;

  return TRUE;
}

static guint
max_brokers (void)
{
  GObjectClass *klass = g_type_class_ref (PB_TYPE_MOCK_CLUSTER);
  GParamSpec *pspec = g_object_class_find_property (klass, "n-brokers");
  guint maximum = G_PARAM_SPEC_UINT (pspec)->maximum;

  g_type_class_unref (klass);

  return maximum;
}

static gboolean
on_quit_signal (gpointer user_data)
{
  GMainLoop *loop = user_data;

  g_main_loop_quit (loop);

  return G_SOURCE_CONTINUE;
}

static int
command_mock_broker (int    argc,
                     char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) specs = NULL;
  g_autoptr(PbMockCluster) cluster = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_auto(GStrv) topics = NULL;
  g_autofree char *description = NULL;
  int n_brokers = 1;
  guint sigint_id;
  guint sigterm_id;
  const GOptionEntry entries[] = {
    { "brokers", 'b', 0, G_OPTION_ARG_INT, &n_brokers,
      N_("Run N brokers (default: 1)"), N_("N") },
    { "topic", 't', 0, G_OPTION_ARG_STRING_ARRAY, &topics,
      N_("Create topic NAME with PARTITIONS partitions (repeatable)"),
      N_("NAME:PARTITIONS") },
    G_OPTION_ENTRY_NULL
  };

  context = g_option_context_new (NULL);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _("Run a mock Kafka cluster until "
                                          "interrupted."));
  description =
    g_strdup_printf (_("Prints the brokers’ addresses (host:port,… for a\n"
                       "client’s bootstrap.servers) as the first line of\n"
                       "standard output, then serves Kafka clients until\n"
                       "SIGINT or SIGTERM.\n"
                       "\n"
                       "Data stays in memory, at most about 5 MiB per\n"
                       "partition. Topics not created with --topic are\n"
                       "created with 4 partitions on first use. At most\n"
                       "%u brokers."),
                     max_brokers ());
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (context, error->message);

  if (argc > 1)
    {
      g_autofree char *message =
        g_strdup_printf (_("Unexpected argument “%s”"), argv[1]);

      return usage_error (context, message);
    }

  if (n_brokers < 1 || (guint)n_brokers > max_brokers ())
    {
      g_autofree char *message =
        g_strdup_printf (_("Invalid number of brokers %d: expected 1 to %u"),
                         n_brokers, max_brokers ());

      return usage_error (context, message);
    }

  specs = g_array_new (FALSE, TRUE, sizeof (TopicSpec));
  g_array_set_clear_func (specs, (GDestroyNotify)topic_spec_clear);

  for (guint i = 0; topics != NULL && topics[i] != NULL; i++)
    {
      TopicSpec spec = { NULL, 0 };

      if (!parse_topic_spec (topics[i], &spec, &error))
        return usage_error (context, error->message);

      for (guint j = 0; j < specs->len; j++)
        {
          if (strcmp (g_array_index (specs, TopicSpec, j).name, spec.name) == 0)
            {
              g_autofree char *message =
                g_strdup_printf (_("Topic “%s” is given more than once"),
                                 spec.name);

              topic_spec_clear (&spec);

              return usage_error (context, message);
            }
        }

      g_array_append_val (specs, spec);
    }

  cluster = pb_mock_cluster_new ((guint)n_brokers, &error);
  if (cluster == NULL)
    {
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return EXIT_FAILED;
    }

  for (guint i = 0; i < specs->len; i++)
    {
      const TopicSpec *spec = &g_array_index (specs, TopicSpec, i);

      if (!pb_mock_cluster_create_topic (cluster, spec->name, spec->partitions,
                                         &error))
        {
          g_printerr ("%s: %s\n", g_get_prgname (), error->message);
          return EXIT_FAILED;
        }
    }

  /* Handle the signals before telling anyone where the cluster is: a parent
   * may send one as soon as it has read the address.
   */
  loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, on_quit_signal, loop);
  sigterm_id = g_unix_signal_add (SIGTERM, on_quit_signal, loop);

  /* A reader that went away must not kill the process silently. */
  signal (SIGPIPE, SIG_IGN);

  g_print ("%s\n", pb_mock_cluster_get_bootstrap_servers (cluster));
  if (fflush (stdout) != 0 || ferror (stdout))
    {
      g_printerr ("%s: %s\n", g_get_prgname (),
                  _("Could not write the brokers’ addresses to standard "
                    "output"));
      g_source_remove (sigint_id);
      g_source_remove (sigterm_id);
      return EXIT_FAILED;
    }

  g_main_loop_run (loop);

  /* Back to the default handlers: a second signal ends a slow shutdown. */
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);

  return EXIT_SUCCESS;
}

/* table dump|get [KEY] (--rocksdb PATH | --bootstrap-servers SERVERS --topic TOPIC) */

typedef struct
{
  char     *key;
  GVariant *value;
} Entry;

static void
entry_clear (Entry *entry)
{
  g_free (entry->key);
  g_variant_unref (entry->value);
}

static int
entry_compare (gconstpointer a,
               gconstpointer b)
{
  return strcmp (((const Entry *)a)->key, ((const Entry *)b)->key);
}

static gboolean
collect_cb (const char *key,
            GVariant   *value,
            gpointer    user_data)
{
  Entry entry = { g_strdup (key), g_variant_ref (value) };

  g_array_append_val (user_data, entry);

  return TRUE;
}

static char *
format_value (GVariant *value,
              gboolean  json)
{
  if (json)
    return json_gvariant_serialize_data (value, NULL);

  return g_variant_print (value, TRUE);
}

static int
command_table (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PbTable) table = NULL;
  g_autoptr(GArray) entries = NULL;
  g_autofree char *rocksdb = NULL;
  g_autofree char *bootstrap = NULL;
  g_autofree char *topic = NULL;
  gboolean json = FALSE;
  const char *action;
  const GOptionEntry options[] = {
    { "rocksdb", 'd', 0, G_OPTION_ARG_FILENAME, &rocksdb,
      N_("Read the RocksDB database at PATH"), N_("PATH") },
    { "bootstrap-servers", 'b', 0, G_OPTION_ARG_STRING, &bootstrap,
      N_("Read the changelog from the Kafka cluster at SERVERS"), N_("SERVERS") },
    { "topic", 't', 0, G_OPTION_ARG_STRING, &topic,
      N_("The changelog topic"), N_("TOPIC") },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &json,
      N_("Print values as JSON instead of GVariant text"), NULL },
    G_OPTION_ENTRY_NULL
  };

  context = g_option_context_new (_("dump|get [KEY]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context,
                                _("Print a table: “dump” prints every key and its value, "
                                  "sorted by key and separated by a tab; “get KEY” prints "
                                  "the value of KEY."));
  g_option_context_set_description (context,
                                    _("The table is read from its RocksDB database, which "
                                      "may be in use by a running engine, or from its "
                                      "changelog topic, read from the beginning."));
  g_option_context_add_main_entries (context, options, GETTEXT_PACKAGE);

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (context, error->message);

  if (argc < 2)
    return usage_error (context, _("No action given: “dump” or “get”"));

  action = argv[1];
  if (strcmp (action, "dump") == 0 ? argc != 2 : strcmp (action, "get") == 0 ? argc != 3 : TRUE)
    {
      g_autofree char *message =
        g_strdup_printf (_("Expected “dump” or “get KEY”, not “%s”"), action);

      return usage_error (context, message);
    }

  if ((rocksdb != NULL) == (bootstrap != NULL) || (bootstrap != NULL) != (topic != NULL))
    return usage_error (context,
                        _("Give either --rocksdb, or --bootstrap-servers and --topic"));

  if (rocksdb != NULL)
    {
      g_autoptr(PbStore) store = pb_rocksdb_store_new (rocksdb);

      /* Read-only: an engine may hold the database. */
      pb_rocksdb_store_set_read_only (PB_ROCKSDB_STORE (store), TRUE);
      if (!pb_store_open (store, &error))
        {
          g_printerr ("%s: %s\n", g_get_prgname (), error->message);
          return EXIT_FAILED;
        }
      table = pb_table_new_with_store ("table", store);
    }
  else
    {
      table = pb_table_new ("table", "memory://");
      pb_table_set_changelog_topic_name (table, topic);
      if (!pb_table_load (table, bootstrap, NULL, &error))
        {
          g_printerr ("%s: %s\n", g_get_prgname (), error->message);
          return EXIT_FAILED;
        }
    }

  if (strcmp (action, "get") == 0)
    {
      g_autoptr(GVariant) value = NULL;
      g_autofree char *text = NULL;

      /* The store opened above is read directly. */
      value = pb_store_lookup (pb_table_get_store (table), argv[2], &error);
      if (value == NULL)
        {
          if (error != NULL)
            g_printerr ("%s: %s\n", g_get_prgname (), error->message);
          else
            g_printerr ("%s: %s\n", g_get_prgname (), _("No such key"));
          return EXIT_FAILED;
        }

      text = format_value (value, json);
      g_print ("%s\n", text);
      return EXIT_SUCCESS;
    }

  entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  g_array_set_clear_func (entries, (GDestroyNotify) entry_clear);
  if (!pb_store_foreach (pb_table_get_store (table), collect_cb, entries, &error))
    {
      g_printerr ("%s: %s\n", g_get_prgname (), error->message);
      return EXIT_FAILED;
    }

  g_array_sort (entries, entry_compare);
  for (guint i = 0; i < entries->len; i++)
    {
      const Entry *entry = &g_array_index (entries, Entry, i);
      g_autofree char *text = format_value (entry->value, json);

      g_print ("%s\t%s\n", entry->key, text);
    }

  return EXIT_SUCCESS;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  const Command *command;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_set_prgname ("paperboy");

  context = main_context_new ();
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (context, error->message);

  if (print_version)
    {
      if (argc > 1)
        return usage_error (context, _("--version takes no command"));

      g_print ("paperboy %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }

  if (argc < 2)
    return usage_error (context, _("No command given"));

  command = find_command (argv[1]);
  if (command == NULL)
    return unknown_command (context, argv[1]);

  set_command_prgname (command->name);

  /* The command sees itself as argv[0]. */
  return command->func (argc - 1, argv + 1);
}
