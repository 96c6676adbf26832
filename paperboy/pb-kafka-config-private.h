/* pb-kafka-config-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-kafka-config-private.h is a private header of Paperboy."
#endif

#include <glib.h>
#include <librdkafka/rdkafka.h>

G_BEGIN_DECLS

/* The kinds of Kafka client an engine makes; a configuration key's scope
 * prefix (consumer., producer., restore., admin.) names one. */
typedef enum
{
  PB_KAFKA_CLIENT_CONSUMER = 1 << 0,  /* the consumer of the engine's group */
  PB_KAFKA_CLIENT_PRODUCER = 1 << 1,  /* changelogs and handlers' records */
  PB_KAFKA_CLIENT_RESTORE  = 1 << 2,  /* the group-less table restorers */
  PB_KAFKA_CLIENT_ADMIN    = 1 << 3,  /* topic creation */
} PbKafkaClient;

/* What the engine's properties say, for the clients they apply to. */
typedef struct
{
  const char *bootstrap_servers;
  const char *group_id;
  const char *client_id;
  const char *auto_offset_reset;
  guint       commit_interval_ms;
  gboolean    partition_eof;      /* the consumer reports partition ends */
} PbKafkaSettings;

/* The librdkafka properties set with pb_engine_set_config(), checked as
 * they are set. */
typedef struct _PbKafkaConfig PbKafkaConfig;

PbKafkaConfig   *_pb_kafka_config_new   (void);
PbKafkaConfig   *_pb_kafka_config_copy  (const PbKafkaConfig    *config);
void             _pb_kafka_config_free  (PbKafkaConfig          *config);

/* Sets (or with @value NULL removes) @key, which may carry a scope. */
gboolean         _pb_kafka_config_set   (PbKafkaConfig          *config,
                                         const char             *key,
                                         const char             *value,
                                         GError                **error);

/* A configuration for one kind of client: the engine's settings, the
 * client's defaults, the keys set for it, and what the engine owns. */
rd_kafka_conf_t *_pb_kafka_config_build (const PbKafkaConfig    *config,
                                         PbKafkaClient           client,
                                         const PbKafkaSettings  *settings,
                                         GError                **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PbKafkaConfig, _pb_kafka_config_free)

G_END_DECLS
