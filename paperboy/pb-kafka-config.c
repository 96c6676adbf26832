/* pb-kafka-config.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-kafka-config-private.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "pb-error.h"
#include "pb-kafka-private.h"

#define ALL_CLIENTS (PB_KAFKA_CLIENT_CONSUMER | PB_KAFKA_CLIENT_PRODUCER | \
                     PB_KAFKA_CLIENT_RESTORE | PB_KAFKA_CLIENT_ADMIN)

/* Every key the engine has a say on, in one table. */
typedef enum
{
  KEY_PROPERTY,  /* set from an engine property; never through set_config */
  KEY_DEFAULT,   /* the engine's default, which set_config may change */
  KEY_OWNED,     /* the engine's choice, which nothing may change */
} KeyKind;

typedef struct
{
  const char    *key;
  KeyKind        kind;
  PbKafkaClient  clients;
  const char    *value;     /* the property's name for KEY_PROPERTY */
} KeyInfo;

static const KeyInfo keys[] = {
  { "bootstrap.servers",             KEY_PROPERTY, ALL_CLIENTS,               "bootstrap-servers" },
  { "client.id",                     KEY_PROPERTY, ALL_CLIENTS,               "client-id" },
  { "group.id",                      KEY_PROPERTY, PB_KAFKA_CLIENT_CONSUMER,  "group-id" },
  { "auto.offset.reset",             KEY_PROPERTY, PB_KAFKA_CLIENT_CONSUMER,  "auto-offset-reset" },
  { "auto.commit.interval.ms",       KEY_PROPERTY, PB_KAFKA_CLIENT_CONSUMER,  "commit-interval-ms" },

  /* Cooperative rebalances hand partitions over without stopping the
   * others; with an eager assignor the mock refuses commits while it
   * revokes. */
  { "partition.assignment.strategy", KEY_DEFAULT,  PB_KAFKA_CLIENT_CONSUMER,  "cooperative-sticky" },
  /* The engine stores offsets once records were handled, and librdkafka
   * commits them from its own thread. */
  { "enable.auto.commit",            KEY_OWNED,    PB_KAFKA_CLIENT_CONSUMER,  "true" },
  { "enable.auto.offset.store",      KEY_OWNED,    PB_KAFKA_CLIENT_CONSUMER,  "false" },
  { "enable.partition.eof",          KEY_OWNED,    PB_KAFKA_CLIENT_CONSUMER,  "false" },
  /* The same murmur2 key → partition mapping as the Java clients. */
  { "partitioner",                   KEY_DEFAULT,  PB_KAFKA_CLIENT_PRODUCER,  "murmur2_random" },
  { "enable.idempotence",            KEY_OWNED,    PB_KAFKA_CLIENT_PRODUCER,  "true" },
  /* Restorers read a changelog to its end without a group; at the end, a
   * broker holds an empty fetch for the whole wait. */
  { "enable.auto.commit",            KEY_OWNED,    PB_KAFKA_CLIENT_RESTORE,   "false" },
  { "enable.partition.eof",          KEY_OWNED,    PB_KAFKA_CLIENT_RESTORE,   "true" },
  { "fetch.wait.max.ms",             KEY_DEFAULT,  PB_KAFKA_CLIENT_RESTORE,   "50" },
  /* Logs come through a queue the engine serves on its own thread. */
  { "log.queue",                     KEY_OWNED,    ALL_CLIENTS,               "true" },
};

static const struct {
  const char    *prefix;
  PbKafkaClient  client;
} scopes[] = {
  { "consumer.", PB_KAFKA_CLIENT_CONSUMER },
  { "producer.", PB_KAFKA_CLIENT_PRODUCER },
  { "restore.",  PB_KAFKA_CLIENT_RESTORE },
  { "admin.",    PB_KAFKA_CLIENT_ADMIN },
};

typedef struct
{
  char          *key;      /* as given, with its scope */
  const char    *bare_key; /* points into key */
  PbKafkaClient  clients;
  char          *value;
} Entry;

struct _PbKafkaConfig
{
  GPtrArray *entries;      /* Entry, in the order they were set */
};

static void
entry_free (Entry *entry)
{
  g_free (entry->key);
  g_free (entry->value);
  g_free (entry);
}

static Entry *
entry_new (const char *key,
           const char *value)
{
  Entry *entry = g_new0 (Entry, 1);

  entry->key = g_strdup (key);
  entry->bare_key = entry->key;
  entry->clients = ALL_CLIENTS;
  entry->value = g_strdup (value);

  for (guint i = 0; i < G_N_ELEMENTS (scopes); i++)
    if (g_str_has_prefix (key, scopes[i].prefix))
      {
        entry->bare_key = entry->key + strlen (scopes[i].prefix);
        entry->clients = scopes[i].client;
        break;
      }

  return entry;
}

PbKafkaConfig *
_pb_kafka_config_new (void)
{
  PbKafkaConfig *config = g_new0 (PbKafkaConfig, 1);

  config->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);

  return config;
}

PbKafkaConfig *
_pb_kafka_config_copy (const PbKafkaConfig *config)
{
  PbKafkaConfig *copy = _pb_kafka_config_new ();

  for (guint i = 0; i < config->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (config->entries, i);

      g_ptr_array_add (copy->entries, entry_new (entry->key, entry->value));
    }

  return copy;
}

void
_pb_kafka_config_free (PbKafkaConfig *config)
{
  if (config == NULL)
    return;

  g_ptr_array_unref (config->entries);
  g_free (config);
}

gboolean
_pb_kafka_config_set (PbKafkaConfig  *config,
                      const char     *key,
                      const char     *value,
                      GError        **error)
{
  Entry *entry = entry_new (key, value);

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      if (strcmp (entry->bare_key, keys[i].key) != 0 || (entry->clients & keys[i].clients) == 0)
        continue;

      if (keys[i].kind == KEY_PROPERTY)
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                       _("“%s” is set through the engine’s “%s” property"),
                       entry->bare_key, keys[i].value);
          entry_free (entry);
          return FALSE;
        }

      if (keys[i].kind == KEY_OWNED)
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                       _("“%s” is managed by the engine and cannot be set"), entry->bare_key);
          entry_free (entry);
          return FALSE;
        }
    }

  if (value != NULL)
    {
      rd_kafka_conf_t *scratch = rd_kafka_conf_new ();
      gboolean ok = _pb_kafka_conf_set (scratch, entry->bare_key, value, error);

      rd_kafka_conf_destroy (scratch);
      if (!ok)
        {
          entry_free (entry);
          return FALSE;
        }
    }

  for (guint i = 0; i < config->entries->len; i++)
    {
      Entry *existing = g_ptr_array_index (config->entries, i);

      if (strcmp (existing->key, key) == 0)
        {
          g_ptr_array_remove_index (config->entries, i);
          break;
        }
    }

  g_debug ("Configuration: %s = %s", key,
           value == NULL ? "(default)" : _pb_kafka_key_is_secret (entry->bare_key) ? "(secret)" : value);

  if (value != NULL)
    g_ptr_array_add (config->entries, entry);
  else
    entry_free (entry);

  return TRUE;
}

static const char *
property_value (const PbKafkaSettings *settings,
                const char            *key,
                char                  *buf,
                gsize                  size)
{
  if (strcmp (key, "bootstrap.servers") == 0)
    return settings->bootstrap_servers;
  if (strcmp (key, "client.id") == 0)
    return settings->client_id;
  if (strcmp (key, "group.id") == 0)
    return settings->group_id;
  if (strcmp (key, "auto.offset.reset") == 0)
    return settings->auto_offset_reset;
  if (strcmp (key, "auto.commit.interval.ms") == 0)
    {
      g_snprintf (buf, size, "%u", settings->commit_interval_ms);
      return buf;
    }

  g_assert_not_reached ();
}

/* Applies the table's rows of one kind for @client. */
static gboolean
apply_keys (rd_kafka_conf_t        *conf,
            KeyKind                 kind,
            PbKafkaClient           client,
            const PbKafkaSettings  *settings,
            GError                **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      const char *value = keys[i].value;
      char buf[32];

      if (keys[i].kind != kind || (keys[i].clients & client) == 0)
        continue;

      if (kind == KEY_PROPERTY)
        value = property_value (settings, keys[i].key, buf, sizeof buf);

      if (value != NULL && !_pb_kafka_conf_set (conf, keys[i].key, value, error))
        return FALSE;
    }

  return TRUE;
}

rd_kafka_conf_t *
_pb_kafka_config_build (const PbKafkaConfig    *config,
                        PbKafkaClient           client,
                        const PbKafkaSettings  *settings,
                        GError                **error)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();

  if (!apply_keys (conf, KEY_PROPERTY, client, settings, error) ||
      !apply_keys (conf, KEY_DEFAULT, client, settings, error))
    goto failed;

  for (guint i = 0; i < config->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (config->entries, i);

      if ((entry->clients & client) != 0 &&
          !_pb_kafka_conf_set (conf, entry->bare_key, entry->value, error))
        goto failed;
    }

  if (!apply_keys (conf, KEY_OWNED, client, settings, error))
    goto failed;

  /* Steps need to know when the consumer reached a partition's end. */
  if (client == PB_KAFKA_CLIENT_CONSUMER && settings->partition_eof &&
      !_pb_kafka_conf_set (conf, "enable.partition.eof", "true", error))
    goto failed;

  return conf;

failed:
  rd_kafka_conf_destroy (conf);
  return NULL;
}
