/* pb-mock-cluster.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_INSIDE) && !defined (PAPERBOY_COMPILATION)
# error "Only <paperboy.h> can be included directly."
#endif

#include <gio/gio.h>

#include "pb-types.h"
#include "pb-version-macros.h"

G_BEGIN_DECLS

#define PB_TYPE_MOCK_CLUSTER (pb_mock_cluster_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbMockCluster, pb_mock_cluster, PB, MOCK_CLUSTER, GObject)

PB_AVAILABLE_IN_ALL
PbMockCluster *pb_mock_cluster_new                   (guint           n_brokers,
                                                      GError        **error) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
const char    *pb_mock_cluster_get_bootstrap_servers (PbMockCluster  *self);
PB_AVAILABLE_IN_ALL
guint          pb_mock_cluster_get_n_brokers         (PbMockCluster  *self);
PB_AVAILABLE_IN_ALL
gboolean       pb_mock_cluster_create_topic          (PbMockCluster  *self,
                                                      const char     *topic,
                                                      int             partitions,
                                                      GError        **error);
PB_AVAILABLE_IN_ALL
gint64         pb_mock_cluster_produce               (PbMockCluster  *self,
                                                      const char     *topic,
                                                      int             partition,
                                                      GBytes         *key,
                                                      GBytes         *value,
                                                      GVariant       *headers,
                                                      GError        **error);
PB_AVAILABLE_IN_ALL
gint64         pb_mock_cluster_get_committed_offset  (PbMockCluster  *self,
                                                      const char     *group_id,
                                                      const char     *topic,
                                                      int             partition,
                                                      GError        **error);
PB_AVAILABLE_IN_ALL
gboolean       pb_mock_cluster_set_broker_down       (PbMockCluster  *self,
                                                      int             broker_id,
                                                      GError        **error);
PB_AVAILABLE_IN_ALL
gboolean       pb_mock_cluster_set_broker_up         (PbMockCluster  *self,
                                                      int             broker_id,
                                                      GError        **error);
PB_AVAILABLE_IN_ALL
gboolean       pb_mock_cluster_set_topic_error       (PbMockCluster  *self,
                                                      const char     *topic,
                                                      int             error_code,
                                                      GError        **error);

G_END_DECLS
