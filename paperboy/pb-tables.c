/* pb-tables.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-tables-private.h"

#include <glib/gi18n-lib.h>

#include "pb-restore-private.h"
#include "pb-table-private.h"
#include "pb-topic-admin-private.h"

/* Delivered changes wait at most this long for a flush to their store. */
#define FLUSH_INTERVAL_MS    5
#define METADATA_TIMEOUT_MS  5000

struct _PbTables
{
  PbHost          *host;
  GPtrArray       *tables;     /* PbTable */
  char            *state_dir;

  PbRestoreResult *results;    /* one a table, from the last restore */
  GSource         *flush_timer;
  gboolean         restoring;
};

/* One restore, in a worker thread: everything it reads is its own, and
 * what it found comes back with it. */
typedef struct
{
  GPtrArray       *tables;     /* PbTable */
  char            *state_dir;
  PbKafkaConfig   *config;
  PbKafkaSettings  settings;   /* its strings are owned */
  PbMockCluster   *mock_cluster;
  rd_kafka_t      *producer;
  GStrv            topics;
  PbRestoreResult *results;
  guint            n_partitions;
} RestoreOp;

PbTables *
_pb_tables_new (PbHost     *host,
                GPtrArray  *tables,
                const char *state_dir)
{
  PbTables *self = g_new0 (PbTables, 1);

  self->host = host;
  self->tables = g_ptr_array_ref (tables);
  self->state_dir = g_strdup (state_dir);

  return self;
}

void
_pb_tables_free (PbTables *self)
{
  if (self == NULL)
    return;

  g_assert (!self->restoring);

  _pb_clear_source (&self->flush_timer);
  g_ptr_array_unref (self->tables);
  g_free (self->state_dir);
  g_free (self->results);
  g_free (self);
}

gboolean
_pb_tables_is_empty (PbTables *self)
{
  return self->tables->len == 0;
}

gboolean
_pb_tables_is_restoring (PbTables *self)
{
  return self->restoring;
}

/* Restoring */

static void
restore_op_free (RestoreOp *op)
{
  g_ptr_array_unref (op->tables);
  g_free (op->state_dir);
  _pb_kafka_config_free (op->config);
  g_free ((char *)op->settings.bootstrap_servers);
  g_free ((char *)op->settings.group_id);
  g_free ((char *)op->settings.client_id);
  g_free ((char *)op->settings.auto_offset_reset);
  g_clear_object (&op->mock_cluster);
  g_strfreev (op->topics);
  g_free (op->results);
  g_free (op);
}

/* The changelog topic, as the table's properties say. */
static gboolean
ensure_changelog (RestoreOp  *op,
                  PbTable    *table,
                  GError    **error)
{
  g_autofree char *segment_ms = g_strdup_printf ("%" G_GINT64_FORMAT,
                                                 pb_table_get_changelog_topic_segment_ms (table));
  g_autofree char *lag_ms = g_strdup_printf ("%" G_GINT64_FORMAT,
                                             pb_table_get_changelog_topic_max_compaction_lag_ms (table));
  char ratio[G_ASCII_DTOSTR_BUF_SIZE];
  const char *configs[] = {
    "cleanup.policy", "compact",
    "segment.ms", segment_ms,
    "min.cleanable.dirty.ratio", ratio,
    "max.compaction.lag.ms", lag_ms,
    NULL,
  };
  PbTopicSpec spec = {
    pb_table_get_changelog_topic_name (table),
    pb_table_get_changelog_topic_num_partitions (table),
    pb_table_get_changelog_topic_replication_factor (table),
    configs,
  };
  rd_kafka_conf_t *conf;

  g_ascii_dtostr (ratio, sizeof ratio, pb_table_get_changelog_topic_min_cleanable_dirty_ratio (table));

  conf = _pb_kafka_config_build (op->config, PB_KAFKA_CLIENT_ADMIN, &op->settings, error);

  return conf != NULL && _pb_topic_admin_ensure (&spec, conf, op->mock_cluster, error);
}

/* The number of partitions of @topic, as @rk's metadata says, or 0. */
static guint
count_partitions (rd_kafka_t *rk,
                  const char *topic)
{
  rd_kafka_topic_t *rkt = rd_kafka_topic_new (rk, topic, NULL);
  const struct rd_kafka_metadata *metadata = NULL;
  guint n = 0;

  if (rd_kafka_metadata (rk, 0, rkt, &metadata, METADATA_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = metadata->topics[0].partition_cnt;
      rd_kafka_metadata_destroy (metadata);
    }
  rd_kafka_topic_destroy (rkt);

  return n;
}

static void
restore_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  RestoreOp *op = task_data;

  for (guint i = 0; i < op->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (op->tables, i);
      const char *name = pb_table_get_name (table);
      GError *error = NULL;
      rd_kafka_conf_t *conf;

      if (!_pb_table_open (table, op->state_dir, &error) ||
          !ensure_changelog (op, table, &error))
        {
          g_prefix_error (&error, _("Table “%s”: "), name);
          g_task_return_error (task, error);
          return;
        }

      /* The producer learns of the changelog now: told of a topic by its
       * first record, librdkafka waits up to a second for its metadata. */
      count_partitions (op->producer, pb_table_get_changelog_topic_name (table));

      conf = _pb_kafka_config_build (op->config, PB_KAFKA_CLIENT_RESTORE, &op->settings, &error);
      if (conf == NULL ||
          !_pb_restore (_pb_table_peek_store (table), pb_table_get_changelog_topic_name (table),
                        name, pb_table_get_strict (table), conf, cancellable,
                        &op->results[i], &error))
        {
          g_task_return_error (task, error);
          return;
        }
    }

  /* What the group has to share, to tell other members apart. */
  for (guint i = 0; op->topics[i] != NULL; i++)
    op->n_partitions += count_partitions (op->producer, op->topics[i]);

  g_task_return_boolean (task, TRUE);
}

void
_pb_tables_restore_async (PbTables              *self,
                          const PbTablesRestore *restore,
                          GCancellable          *cancellable,
                          GAsyncReadyCallback    callback,
                          gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  RestoreOp *op = g_new0 (RestoreOp, 1);

  op->tables = g_ptr_array_ref (self->tables);
  op->state_dir = g_strdup (self->state_dir);
  op->config = _pb_kafka_config_copy (restore->config);
  op->settings = *restore->settings;
  op->settings.bootstrap_servers = g_strdup (restore->settings->bootstrap_servers);
  op->settings.group_id = g_strdup (restore->settings->group_id);
  op->settings.client_id = g_strdup (restore->settings->client_id);
  op->settings.auto_offset_reset = g_strdup (restore->settings->auto_offset_reset);
  op->mock_cluster = restore->mock_cluster != NULL ? g_object_ref (restore->mock_cluster) : NULL;
  op->producer = _pb_producer_get_client (restore->producer);
  op->topics = g_strdupv ((GStrv)restore->topics);
  op->results = g_new0 (PbRestoreResult, self->tables->len);

  self->restoring = TRUE;
  for (guint i = 0; i < self->tables->len; i++)
    _pb_table_set_restoring (g_ptr_array_index (self->tables, i), TRUE);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, _pb_tables_restore_async);
  g_task_set_task_data (task, op, (GDestroyNotify) restore_op_free);
  g_task_run_in_thread (task, restore_thread);
}

gboolean
_pb_tables_restore_finish (PbTables      *self,
                           GAsyncResult  *result,
                           guint         *n_partitions,
                           GError       **error)
{
  RestoreOp *op = g_task_get_task_data (G_TASK (result));

  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == _pb_tables_restore_async, FALSE);

  self->restoring = FALSE;
  for (guint i = 0; i < self->tables->len; i++)
    _pb_table_set_restoring (g_ptr_array_index (self->tables, i), FALSE);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;

  g_free (self->results);
  self->results = g_steal_pointer (&op->results);
  *n_partitions = op->n_partitions;

  return TRUE;
}

void
_pb_tables_attach (PbTables   *self,
                   PbProducer *producer)
{
  /* All writable before anyone hears of one. */
  for (guint i = 0; i < self->tables->len; i++)
    _pb_table_attach (g_ptr_array_index (self->tables, i), producer);

  _pb_host_enter (self->host);
  for (guint i = 0; i < self->tables->len; i++)
    _pb_table_restored (g_ptr_array_index (self->tables, i), &self->results[i]);
  _pb_host_leave (self->host);
}

/* Writing */

/* Writes the tables' delivered changes to their stores; unless @force,
 * only those that have enough, and the others within FLUSH_INTERVAL_MS. */
static void flush (PbTables *self,
                   gboolean  force);

static gboolean
flush_timer_cb (gpointer user_data)
{
  PbTables *self = user_data;

  g_clear_pointer (&self->flush_timer, g_source_unref);
  flush (self, TRUE);

  return G_SOURCE_REMOVE;
}

static void
flush (PbTables *self,
       gboolean  force)
{
  gboolean waiting = FALSE;

  for (guint i = 0; i < self->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->tables, i);
      GError *error = NULL;

      if (!_pb_table_flush (table, force, &error))
        _pb_host_fail (self->host, error);
      waiting |= _pb_table_has_delivered (table);
    }

  if (waiting && self->flush_timer == NULL)
    self->flush_timer = _pb_timeout_source_new (_pb_host_get_context (self->host),
                                                FLUSH_INTERVAL_MS,
                                                _pb_host_get_priority (self->host),
                                                "[paperboy] table flush",
                                                flush_timer_cb, self, NULL);
}

void
_pb_tables_delivered (PbTables *self)
{
  flush (self, FALSE);
}

PbTable *
_pb_tables_find_changelog (PbTables   *self,
                           const char *topic)
{
  for (guint i = 0; topic != NULL && i < self->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->tables, i);

      if (g_strcmp0 (pb_table_get_changelog_topic_name (table), topic) == 0)
        return table;
    }

  return NULL;
}

void
_pb_tables_close (PbTables *self)
{
  _pb_clear_source (&self->flush_timer);
  flush (self, TRUE);
  _pb_clear_source (&self->flush_timer);

  for (guint i = 0; i < self->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->tables, i);

      _pb_table_detach (table);
      _pb_table_close_store (table);
    }
}
