/* pb-table.h
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

#include "pb-store.h"
#include "pb-version-macros.h"

G_BEGIN_DECLS

/**
 * PbTablePartitioner:
 * @PB_TABLE_PARTITIONER_MURMUR2: murmur2, the default partitioner of
 *   Kafka's Java clients, of Kafka Streams and of Paperboy's
 *   [method@Paperboy.Engine.produce] (librdkafka's `murmur2_random`)
 * @PB_TABLE_PARTITIONER_CONSISTENT: CRC32, the default partitioner of
 *   librdkafka and of the clients built on it, kcat and
 *   confluent-kafka-python among them (librdkafka's `consistent_random`)
 *
 * How the keys of a table are spread over the partitions of its changelog:
 * the same way as the records of its input topics are over their
 * partitions, so that a member of the group that handles input partition
 * p holds the keys of table partition p.
 */
typedef enum
{
  PB_TABLE_PARTITIONER_MURMUR2,
  PB_TABLE_PARTITIONER_CONSISTENT,
} PbTablePartitioner;

#define PB_TYPE_TABLE (pb_table_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbTable, pb_table, PB, TABLE, GObject)

PB_AVAILABLE_IN_ALL
PbTable    *pb_table_new                                  (const char  *name,
                                                           const char  *store_uri) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
PbTable    *pb_table_new_with_store                       (const char  *name,
                                                           PbStore     *store) G_GNUC_WARN_UNUSED_RESULT;

PB_AVAILABLE_IN_ALL
GVariant   *pb_table_get                                  (PbTable     *self,
                                                           const char  *key,
                                                           GError     **error) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
gboolean    pb_table_set                                  (PbTable     *self,
                                                           const char  *key,
                                                           GVariant    *value,
                                                           GError     **error);
PB_AVAILABLE_IN_ALL
gboolean    pb_table_delete                               (PbTable     *self,
                                                           const char  *key,
                                                           GError     **error);
PB_AVAILABLE_IN_ALL
gboolean    pb_table_foreach                              (PbTable            *self,
                                                           PbStoreForeachFunc  func,
                                                           gpointer            user_data,
                                                           GError            **error);
PB_AVAILABLE_IN_ALL
int         pb_table_get_partition_for_key                (PbTable     *self,
                                                           const char  *key);
PB_AVAILABLE_IN_ALL
int        *pb_table_get_partitions                       (PbTable     *self,
                                                           gsize       *n_partitions) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
void        pb_table_close                                (PbTable       *self);
PB_AVAILABLE_IN_ALL
gboolean    pb_table_load                                 (PbTable       *self,
                                                           const char    *bootstrap_servers,
                                                           GCancellable  *cancellable,
                                                           GError       **error);

PB_AVAILABLE_IN_ALL
const char *pb_table_get_name                             (PbTable     *self);
PB_AVAILABLE_IN_ALL
const char *pb_table_get_store_uri                        (PbTable     *self);
PB_AVAILABLE_IN_ALL
PbStore    *pb_table_get_store                            (PbTable     *self);
PB_AVAILABLE_IN_ALL
const char *pb_table_get_changelog_topic_name             (PbTable     *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_changelog_topic_name             (PbTable     *self,
                                                           const char  *name);
PB_AVAILABLE_IN_ALL
int         pb_table_get_changelog_topic_num_partitions   (PbTable     *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_changelog_topic_num_partitions   (PbTable     *self,
                                                           int          num_partitions);
PB_AVAILABLE_IN_ALL
int         pb_table_get_changelog_topic_replication_factor (PbTable   *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_changelog_topic_replication_factor (PbTable   *self,
                                                           int          replication_factor);
PB_AVAILABLE_IN_ALL
gint64      pb_table_get_changelog_topic_segment_ms       (PbTable     *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_changelog_topic_segment_ms       (PbTable     *self,
                                                           gint64       segment_ms);
PB_AVAILABLE_IN_ALL
double      pb_table_get_changelog_topic_min_cleanable_dirty_ratio (PbTable *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_changelog_topic_min_cleanable_dirty_ratio (PbTable *self,
                                                           double       ratio);
PB_AVAILABLE_IN_ALL
gint64      pb_table_get_changelog_topic_max_compaction_lag_ms (PbTable *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_changelog_topic_max_compaction_lag_ms (PbTable *self,
                                                           gint64       lag_ms);
PB_AVAILABLE_IN_ALL
PbTablePartitioner pb_table_get_partitioner               (PbTable     *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_partitioner                      (PbTable            *self,
                                                           PbTablePartitioner  partitioner);
PB_AVAILABLE_IN_ALL
gboolean    pb_table_get_wipe_damaged_store               (PbTable     *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_wipe_damaged_store               (PbTable     *self,
                                                           gboolean     wipe);
PB_AVAILABLE_IN_ALL
gboolean    pb_table_get_global                           (PbTable     *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_global                           (PbTable     *self,
                                                           gboolean     global);
PB_AVAILABLE_IN_ALL
int         pb_table_get_standby_replicas                 (PbTable     *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_standby_replicas                 (PbTable     *self,
                                                           int          standby_replicas);
PB_AVAILABLE_IN_ALL
gboolean    pb_table_get_strict                           (PbTable     *self);
PB_AVAILABLE_IN_ALL
void        pb_table_set_strict                           (PbTable     *self,
                                                           gboolean     strict);
PB_AVAILABLE_IN_ALL
guint64     pb_table_get_restored_records                 (PbTable     *self);
PB_AVAILABLE_IN_ALL
guint64     pb_table_get_bad_records                      (PbTable     *self);
PB_AVAILABLE_IN_ALL
guint64     pb_table_get_standby_records                  (PbTable     *self);

G_END_DECLS
