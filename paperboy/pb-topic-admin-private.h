/* pb-topic-admin-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-topic-admin-private.h is a private header of Paperboy."
#endif

#include <librdkafka/rdkafka.h>

#include "pb-mock-cluster.h"

G_BEGIN_DECLS

/* A topic the engine needs, as it would create it. */
typedef struct
{
  const char         *name;
  int                 partitions;
  int                 replication_factor;
  const char * const *configs;     /* key, value, ..., NULL; nullable */
} PbTopicSpec;

/* Creates @spec's topic when it is missing: through the mock API when
 * @mock_cluster is set, else with the Admin API of a client made from
 * @admin_conf (owned; its logs come from librdkafka's threads). Errors
 * are PB_ERROR_CHANGELOG (@spec's topic) or PB_ERROR_KAFKA. Blocks: never
 * on the engine's thread. */
gboolean _pb_topic_admin_ensure (const PbTopicSpec  *spec,
                                 rd_kafka_conf_t    *admin_conf,
                                 PbMockCluster      *mock_cluster,
                                 GError            **error);

G_END_DECLS
