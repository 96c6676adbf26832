/* pb-topic-admin.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-topic-admin-private.h"

#include <glib/gi18n-lib.h>

#include "pb-error.h"
#include "pb-kafka-private.h"

/* The Admin API's timeouts: a broker that does not know it (the mock,
 * paperboy mock-broker) takes the whole request timeout to say so. */
#define METADATA_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_MS  10000
#define RESULT_TIMEOUT_MS   15000

static gboolean
topic_exists (rd_kafka_t  *rk,
              const char  *topic,
              gboolean    *exists,
              GError     **error)
{
  const struct rd_kafka_metadata *metadata = NULL;
  rd_kafka_resp_err_t err;

  /* All topics: asking for one would create it where brokers do so. */
  err = rd_kafka_metadata (rk, 1, NULL, &metadata, METADATA_TIMEOUT_MS);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      _pb_kafka_set_error (error, err, _("Could not list the topics"));
      return FALSE;
    }

  *exists = FALSE;
  for (int i = 0; i < metadata->topic_cnt; i++)
    if (g_str_equal (metadata->topics[i].topic, topic) &&
        metadata->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        metadata->topics[i].partition_cnt > 0)
      *exists = TRUE;

  rd_kafka_metadata_destroy (metadata);

  return TRUE;
}

static gboolean
create_topic (const PbTopicSpec  *spec,
              rd_kafka_t         *rk,
              GError            **error)
{
  char errstr[512];
  rd_kafka_NewTopic_t *topic;
  rd_kafka_AdminOptions_t *options;
  rd_kafka_queue_t *queue;
  rd_kafka_event_t *event;
  const rd_kafka_CreateTopics_result_t *result;
  const rd_kafka_topic_result_t **results;
  size_t n_results = 0;
  rd_kafka_resp_err_t err;
  gboolean ok = FALSE;

  topic = rd_kafka_NewTopic_new (spec->name, spec->partitions, spec->replication_factor,
                                 errstr, sizeof errstr);
  if (topic == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                   _("Cannot create the changelog topic “%s”: %s"), spec->name, errstr);
      return FALSE;
    }

  for (guint i = 0; spec->configs != NULL && spec->configs[i] != NULL; i += 2)
    rd_kafka_NewTopic_set_config (topic, spec->configs[i], spec->configs[i + 1]);

  options = rd_kafka_AdminOptions_new (rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout (options, REQUEST_TIMEOUT_MS, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_operation_timeout (options, REQUEST_TIMEOUT_MS, errstr, sizeof errstr);

  queue = rd_kafka_queue_new (rk);
  rd_kafka_CreateTopics (rk, &topic, 1, options, queue);
  event = rd_kafka_queue_poll (queue, RESULT_TIMEOUT_MS);

  if (event == NULL)
    err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  else if ((err = rd_kafka_event_error (event)) == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      result = rd_kafka_event_CreateTopics_result (event);
      results = rd_kafka_CreateTopics_result_topics (result, &n_results);
      if (n_results > 0)
        err = rd_kafka_topic_result_error (results[0]);
    }

  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    ok = TRUE;
  else
    g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                 _("Could not create the changelog topic “%s”: %s"),
                 spec->name, rd_kafka_err2str (err));

  if (event != NULL)
    rd_kafka_event_destroy (event);
  rd_kafka_queue_destroy (queue);
  rd_kafka_AdminOptions_destroy (options);
  rd_kafka_NewTopic_destroy (topic);

  return ok;
}

gboolean
_pb_topic_admin_ensure (const PbTopicSpec  *spec,
                        rd_kafka_conf_t    *admin_conf,
                        PbMockCluster      *mock_cluster,
                        GError            **error)
{
  char errstr[512];
  rd_kafka_t *rk;
  gboolean exists = FALSE;
  gboolean ok;

  if (mock_cluster != NULL)
    {
      rd_kafka_conf_destroy (admin_conf);
      return pb_mock_cluster_create_topic (mock_cluster, spec->name, spec->partitions, error);
    }

  rd_kafka_conf_set (admin_conf, "log.queue", "false", NULL, 0);
  rd_kafka_conf_set_log_cb (admin_conf, _pb_kafka_log);
  rk = rd_kafka_new (RD_KAFKA_PRODUCER, admin_conf, errstr, sizeof errstr);
  if (rk == NULL)
    {
      rd_kafka_conf_destroy (admin_conf);
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Invalid Kafka configuration: %s"), errstr);
      return FALSE;
    }

  ok = topic_exists (rk, spec->name, &exists, error);
  if (ok && !exists)
    ok = create_topic (spec, rk, error);

  rd_kafka_destroy (rk);

  return ok;
}
