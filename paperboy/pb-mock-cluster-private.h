/* pb-mock-cluster-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-mock-cluster-private.h is a private header of Paperboy."
#endif

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "pb-mock-cluster.h"

G_BEGIN_DECLS

/* The librdkafka mock cluster itself, for fault injection in tests. */
rd_kafka_mock_cluster_t *_pb_mock_cluster_get_mock (PbMockCluster *self);

G_END_DECLS
