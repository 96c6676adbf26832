/* test-kafka-config.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-kafka-config-private.h"
#include "pb-test-util.h"

static const PbKafkaSettings settings = {
  .bootstrap_servers = "broker:9092",
  .group_id = "group",
  .client_id = "client",
  .auto_offset_reset = "earliest",
  .commit_interval_ms = 1234,
};

/* The value @conf has for @key, or NULL. */
static char *
get (rd_kafka_conf_t *conf,
     const char      *key)
{
  char value[512];
  size_t size = sizeof value;

  if (rd_kafka_conf_get (conf, key, value, &size) != RD_KAFKA_CONF_OK)
    return NULL;

  return g_strdup (value);
}

static rd_kafka_conf_t *
build (PbKafkaConfig   *config,
       PbKafkaClient    client,
       const PbKafkaSettings *with)
{
  g_autoptr(GError) error = NULL;
  rd_kafka_conf_t *conf = _pb_kafka_config_build (config, client, with, &error);

  g_assert_no_error (error);
  g_assert_nonnull (conf);

  return conf;
}

#define assert_conf(conf, key, expected) \
  G_STMT_START { \
    g_autofree char *got_ = get (conf, key); \
    g_assert_cmpstr (got_, ==, expected); \
  } G_STMT_END

static void
test_refused (void)
{
  static const char *keys[] = {
    "bootstrap.servers", "group.id", "client.id", "auto.offset.reset", "auto.commit.interval.ms",
    "enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof", "log.queue",
    "producer.enable.idempotence", "consumer.group.id", "restore.enable.partition.eof",
    "no.such.key", "consumer.no.such.key",
  };
  g_autoptr(PbKafkaConfig) config = _pb_kafka_config_new ();

  g_test_summary ("Keys the engine sets or owns, and keys librdkafka does not know, are "
                  "refused with PB_ERROR_CONFIG, with or without a scope");

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (_pb_kafka_config_set (config, keys[i], "true", &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
      g_test_message ("%s: %s", keys[i], error->message);
    }
}

static void
test_bad_values (void)
{
  static const struct {
    const char *key;
    const char *value;
  } cases[] = {
    { "fetch.wait.max.ms", "-5" },
    { "fetch.wait.max.ms", "lots" },
    { "consumer.session.timeout.ms", "0" },
    { "compression.codec", "rot13" },
  };
  g_autoptr(PbKafkaConfig) config = _pb_kafka_config_new ();

  g_test_summary ("Values librdkafka refuses are refused when they are set");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (_pb_kafka_config_set (config, cases[i].key, cases[i].value, &error));
      g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
    }
}

static void
test_scopes (void)
{
  g_autoptr(PbKafkaConfig) config = _pb_kafka_config_new ();
  g_autoptr(PbKafkaConfig) copy = NULL;
  g_autoptr(GError) error = NULL;
  PbKafkaClient clients[] = {
    PB_KAFKA_CLIENT_CONSUMER, PB_KAFKA_CLIENT_PRODUCER, PB_KAFKA_CLIENT_RESTORE,
    PB_KAFKA_CLIENT_ADMIN,
  };

  g_test_summary ("A key without a scope goes to every client, a scoped key to its client "
                  "only and wins there; removing a key brings the default back; a copy "
                  "keeps everything");

  g_assert_true (_pb_kafka_config_set (config, "socket.timeout.ms", "1111", &error));
  g_assert_true (_pb_kafka_config_set (config, "consumer.socket.timeout.ms", "2222", &error));
  g_assert_true (_pb_kafka_config_set (config, "restore.fetch.wait.max.ms", "77", &error));
  g_assert_true (_pb_kafka_config_set (config, "statistics.interval.ms", "5000", &error));
  g_assert_true (_pb_kafka_config_set (config, "statistics.interval.ms", NULL, &error));
  g_assert_no_error (error);
  copy = _pb_kafka_config_copy (config);

  for (guint i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      rd_kafka_conf_t *conf = build (copy, clients[i], &settings);

      assert_conf (conf, "bootstrap.servers", "broker:9092");
      assert_conf (conf, "client.id", "client");
      assert_conf (conf, "log.queue", "true");
      assert_conf (conf, "statistics.interval.ms", "0");
      assert_conf (conf, "socket.timeout.ms",
                   clients[i] == PB_KAFKA_CLIENT_CONSUMER ? "2222" : "1111");
      rd_kafka_conf_destroy (conf);
    }
}

static void
test_clients (void)
{
  g_autoptr(PbKafkaConfig) config = _pb_kafka_config_new ();
  PbKafkaSettings with_eof = settings;
  rd_kafka_conf_t *conf;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Each kind of client gets the engine's properties, its defaults and the "
                  "keys the engine owns");

  conf = build (config, PB_KAFKA_CLIENT_CONSUMER, &settings);
  assert_conf (conf, "group.id", "group");
  assert_conf (conf, "auto.offset.reset", "smallest");
  assert_conf (conf, "auto.commit.interval.ms", "1234");
  assert_conf (conf, "enable.auto.commit", "true");
  assert_conf (conf, "enable.auto.offset.store", "false");
  assert_conf (conf, "enable.partition.eof", "false");
  assert_conf (conf, "partition.assignment.strategy", "cooperative-sticky");
  rd_kafka_conf_destroy (conf);

  /* Steps need partition ends. */
  with_eof.partition_eof = TRUE;
  conf = build (config, PB_KAFKA_CLIENT_CONSUMER, &with_eof);
  assert_conf (conf, "enable.partition.eof", "true");
  rd_kafka_conf_destroy (conf);

  conf = build (config, PB_KAFKA_CLIENT_PRODUCER, &settings);
  assert_conf (conf, "enable.idempotence", "true");
  assert_conf (conf, "partitioner", "murmur2_random");
  rd_kafka_conf_destroy (conf);

  conf = build (config, PB_KAFKA_CLIENT_RESTORE, &settings);
  assert_conf (conf, "enable.auto.commit", "false");
  assert_conf (conf, "enable.partition.eof", "true");
  assert_conf (conf, "fetch.wait.max.ms", "50");
  rd_kafka_conf_destroy (conf);

  /* A default can be changed, for its client. */
  g_assert_true (_pb_kafka_config_set (config, "restore.fetch.wait.max.ms", "5", &error));
  g_assert_true (_pb_kafka_config_set (config, "partition.assignment.strategy", "range", &error));
  g_assert_no_error (error);
  conf = build (config, PB_KAFKA_CLIENT_RESTORE, &settings);
  assert_conf (conf, "fetch.wait.max.ms", "5");
  rd_kafka_conf_destroy (conf);
  conf = build (config, PB_KAFKA_CLIENT_CONSUMER, &settings);
  assert_conf (conf, "partition.assignment.strategy", "range");
  rd_kafka_conf_destroy (conf);
}

static void
test_build_errors (void)
{
  g_autoptr(PbKafkaConfig) config = _pb_kafka_config_new ();
  PbKafkaSettings bad = settings;
  g_autoptr(GError) error = NULL;

  g_test_summary ("An engine property librdkafka refuses fails the build with "
                  "PB_ERROR_CONFIG, and nothing is leaked");

  bad.auto_offset_reset = "sometimes";
  g_assert_null (_pb_kafka_config_build (config, PB_KAFKA_CLIENT_CONSUMER, &bad, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/KafkaConfig/refused", test_refused);
  g_test_add_func ("/Paperboy/KafkaConfig/bad-values", test_bad_values);
  g_test_add_func ("/Paperboy/KafkaConfig/scopes", test_scopes);
  g_test_add_func ("/Paperboy/KafkaConfig/clients", test_clients);
  g_test_add_func ("/Paperboy/KafkaConfig/build-errors", test_build_errors);

  return g_test_run ();
}
