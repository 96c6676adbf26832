/* test-mock-cluster.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-test-util.h"
#include "test-handlers.h"

static void
test_construct (void)
{
  g_autoptr(PbMockCluster) cluster = NULL;
  g_autoptr(PbMockCluster) initable = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) servers = NULL;

  g_test_summary ("A cluster of N brokers has N bootstrap addresses; a bad N is an error");

  cluster = pb_mock_cluster_new (2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pb_mock_cluster_get_n_brokers (cluster), ==, 2);
  servers = g_strsplit (pb_mock_cluster_get_bootstrap_servers (cluster), ",", -1);
  g_assert_cmpuint (g_strv_length (servers), ==, 2);
  g_assert_true (g_str_has_prefix (servers[0], "127.0.0.1:"));

  /* Bindings construct with g_object_new() and then GInitable. */
  initable = g_object_new (PB_TYPE_MOCK_CLUSTER, NULL);
  g_assert_true (g_initable_init (G_INITABLE (initable), NULL, &error));
  g_assert_no_error (error);
  g_assert_nonnull (pb_mock_cluster_get_bootstrap_servers (initable));

  g_assert_null (pb_mock_cluster_new (0, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);
  g_assert_null (pb_mock_cluster_new (65, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
}

static void
test_produce_and_commit (void)
{
  PbMockCluster *cluster = pb_test_mock_cluster ();
  g_autofree char *topic = pb_test_unique ("produce");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(PbEngine) engine = pb_test_engine_new (group);
  g_autoptr(TestCounter) counter = test_counter_new (topic);
  g_autoptr(GBytes) value = g_bytes_new_static ("v", 1);
  g_autoptr(GError) error = NULL;
  gint64 offset = -1;

  g_test_summary ("produce() returns each record's offset; get_committed_offset() reports "
                  "-1 before a commit and the group's offset after");

  g_assert_true (pb_mock_cluster_create_topic (cluster, topic, 2, &error));
  g_assert_no_error (error);
  /* Creating it again changes nothing. */
  g_assert_true (pb_mock_cluster_create_topic (cluster, topic, 2, &error));
  g_assert_no_error (error);

  for (int i = 0; i < 3; i++)
    {
      offset = pb_mock_cluster_produce (cluster, topic, 1, NULL, value, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (offset, ==, i);
    }

  g_assert_cmpint (pb_mock_cluster_get_committed_offset (cluster, group, topic, 1, &error), ==, -1);
  g_assert_no_error (error);

  counter->stop_engine = engine;
  counter->stop_after = 3;
  g_assert_true (pb_engine_add_handler (engine, PB_HANDLER (counter), &error));
  g_assert_true (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpint (pb_mock_cluster_get_committed_offset (cluster, group, topic, 1, &error), ==, 3);
  g_assert_cmpint (pb_mock_cluster_get_committed_offset (cluster, group, topic, 0, &error), ==, -1);
  g_assert_no_error (error);
}

static void
test_bad_arguments (void)
{
  PbMockCluster *cluster = pb_test_mock_cluster ();
  g_autoptr(GError) error = NULL;

  g_test_summary ("Bad broker ids and partition counts are errors, not crashes");

  g_assert_false (pb_mock_cluster_set_broker_down (cluster, 0, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);
  g_assert_false (pb_mock_cluster_set_broker_up (cluster, 2, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);
  g_assert_false (pb_mock_cluster_create_topic (cluster, "bad", 0, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
}

static gboolean
counter_has_200 (gpointer user_data)
{
  return TEST_COUNTER (user_data)->n_handled >= 200;
}

static gboolean
counter_has_100 (gpointer user_data)
{
  return TEST_COUNTER (user_data)->n_handled >= 100;
}

static gboolean
distinct_offsets (TestCounter *counter,
                  guint        n)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < counter->records->len; i++)
    g_hash_table_add (seen, g_ptr_array_index (counter->records, i));

  return g_hash_table_size (seen) == n;
}

static void
test_broker_outage (void)
{
  g_autoptr(PbMockCluster) cluster = pb_mock_cluster_new (1, NULL);
  g_autofree char *topic = pb_test_unique ("outage");
  g_autoptr(PbEngine) engine = g_object_new (PB_TYPE_ENGINE,
                                             "mock-cluster", cluster,
                                             "group-id", "outage",
                                             "commit-interval-ms", 100,
                                             NULL);
  g_autoptr(TestCounter) counter = test_counter_new (topic);
  g_autoptr(GBytes) value = g_bytes_new_static ("v", 1);
  g_autoptr(GError) error = NULL;
  PbTestRun *run;

  g_test_summary ("While the broker is down the engine waits; when it is back every "
                  "record produced meanwhile is handled");

  g_assert_true (pb_mock_cluster_create_topic (cluster, topic, 1, &error));
  for (int i = 0; i < 100; i++)
    g_assert_cmpint (pb_mock_cluster_produce (cluster, topic, 0, NULL, value, NULL, &error), >=, 0);
  g_assert_no_error (error);

  pb_engine_set_config (engine, "session.timeout.ms", "6000", NULL);
  pb_engine_set_config (engine, "fetch.wait.max.ms", "10", NULL);
  pb_engine_set_config (engine, "reconnect.backoff.max.ms", "500", NULL);
  g_assert_true (pb_engine_add_handler (engine, PB_HANDLER (counter), &error));

  run = pb_test_start (engine);
  pb_test_wait_until (counter_has_100, counter, 30000);

  g_assert_true (pb_mock_cluster_set_broker_down (cluster, 1, &error));
  g_assert_no_error (error);
  g_usleep (2 * G_USEC_PER_SEC);
  g_assert_true (pb_mock_cluster_set_broker_up (cluster, 1, &error));
  g_assert_no_error (error);

  for (int i = 0; i < 100; i++)
    g_assert_cmpint (pb_mock_cluster_produce (cluster, topic, 0, NULL, value, NULL, &error), >=, 0);
  g_assert_no_error (error);

  pb_test_wait_until (counter_has_200, counter, 60000);
  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);

  /* At least once: every offset handled, possibly some twice. */
  g_assert_cmpuint (counter->n_handled, >=, 200);
  g_assert_true (distinct_offsets (counter, 200));
  g_assert_cmpint (pb_mock_cluster_get_committed_offset (cluster, "outage", topic, 0, &error), ==, 200);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/MockCluster/construct", test_construct);
  if (!pb_test_is_external ())
    {
      g_test_add_func ("/Paperboy/MockCluster/produce-commit", test_produce_and_commit);
      g_test_add_func ("/Paperboy/MockCluster/bad-arguments", test_bad_arguments);
      g_test_add_func ("/Paperboy/MockCluster/broker-outage", test_broker_outage);
    }

  return g_test_run ();
}
