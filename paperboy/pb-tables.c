/* pb-tables.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-tables-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "pb-error.h"
#include "pb-restore-private.h"
#include "pb-table-private.h"
#include "pb-topic-admin-private.h"

/* Delivered changes wait at most this long for a flush to their store. */
#define FLUSH_INTERVAL_MS    5
/* Standby replicas start again this long after the member's partitions
 * changed: once for the revocations and assignments of a rebalance. */
#define STANDBY_DELAY_MS     100
#define METADATA_TIMEOUT_MS  5000

typedef struct _ShardRestore ShardRestore;

/* Writes the tables' delivered changes to their stores; unless @force,
 * only those that have enough, and the others within FLUSH_INTERVAL_MS. */
static void flush (PbTables *self,
                   gboolean  force);

/* What a restore is for. */
typedef enum
{
  RESTORE_HELD,     /* partitions the member is given */
  RESTORE_GLOBAL,   /* global tables, followed while the run lasts */
  RESTORE_STANDBY,  /* partitions the member does not hold, followed */
} RestoreKind;

typedef enum
{
  SHARD_NONE,
  SHARD_RESTORING,
  SHARD_HELD,
} ShardState;

struct _PbTables
{
  PbHost                  *host;
  GPtrArray               *tables;     /* PbTable */
  char                    *state_dir;
  const PbTablesCallbacks *callbacks;
  gpointer                 user_data;

  GSource                 *flush_timer;
  gboolean                 preparing;

  /* After the preparation: what the partitions' restores need. */
  PbKafkaConfig           *config;
  PbKafkaSettings          settings;   /* its strings are owned */
  int                      n_partitions;
  guint8                  *shards;     /* ShardState by partition */
  ShardRestore           **owners;     /* by partition: the restore that
                                        * restores it now, or NULL */
  GList                   *restores;   /* ShardRestore, in flight */
  GList                   *followers;  /* ShardRestore of global tables
                                        * and standby replicas */
  guint                    standby_generation;  /* of the current standby
                                                 * replicas */
  GSource                 *standby_timer;  /* starts the next ones */
  PbRestoreResult         *global_results;  /* of the preparation, by table */
  GCancellable            *cancellable;

  /* The thread that writes the stores that are written apart, in the
   * order of their flushes, and what it wrote. */
  GThreadPool             *writer;
  GMutex                   write_lock;
  GCond                    write_cond;
  guint                    writes_in_flight;  /* under write_lock */
  GQueue                   written;           /* StoreWrite, under write_lock */
  GSource                 *written_source;    /* under write_lock */
};

/* A batch for the writer. */
typedef struct
{
  PbTable      *table;
  PbStoreBatch *batch;
  GPtrArray    *settled;
  guint64       number;
  gboolean      ok;
  GError       *error;
} StoreWrite;

static void sync_writes (PbTables *self);

/* The preparation of a run's tables, in a worker thread: everything it
 * reads is its own, and what it found comes back with it. */
typedef struct
{
  GPtrArray       *tables;     /* PbTable */
  char            *state_dir;
  PbKafkaConfig   *config;
  PbKafkaSettings  settings;   /* its strings are owned */
  PbMockCluster   *mock_cluster;
  rd_kafka_t      *producer;
  GStrv            topics;
  int             *changelog_partitions;
  PbRestoreResult *results;            /* of global tables, by table */
  int              n_input_partitions; /* of the topic that has most */
} PrepareOp;

static void
copy_settings (PbKafkaSettings       *to,
               const PbKafkaSettings *from)
{
  *to = *from;
  to->bootstrap_servers = g_strdup (from->bootstrap_servers);
  to->group_id = g_strdup (from->group_id);
  to->client_id = g_strdup (from->client_id);
  to->auto_offset_reset = g_strdup (from->auto_offset_reset);
}

static void
clear_settings (PbKafkaSettings *settings)
{
  g_free ((char *)settings->bootstrap_servers);
  g_free ((char *)settings->group_id);
  g_free ((char *)settings->client_id);
  g_free ((char *)settings->auto_offset_reset);
  memset (settings, 0, sizeof *settings);
}

PbTables *
_pb_tables_new (PbHost                  *host,
                GPtrArray               *tables,
                const char              *state_dir,
                const PbTablesCallbacks *callbacks,
                gpointer                 user_data)
{
  PbTables *self = g_new0 (PbTables, 1);

  self->host = host;
  self->tables = g_ptr_array_ref (tables);
  self->state_dir = g_strdup (state_dir);
  self->callbacks = callbacks;
  self->user_data = user_data;
  self->cancellable = g_cancellable_new ();
  g_mutex_init (&self->write_lock);
  g_cond_init (&self->write_cond);

  return self;
}

void
_pb_tables_free (PbTables *self)
{
  if (self == NULL)
    return;

  g_assert (!_pb_tables_is_busy (self));

  sync_writes (self);
  if (self->writer != NULL)
    g_thread_pool_free (self->writer, FALSE, TRUE);
  _pb_clear_source (&self->written_source);
  g_mutex_clear (&self->write_lock);
  g_cond_clear (&self->write_cond);

  _pb_clear_source (&self->flush_timer);
  _pb_clear_source (&self->standby_timer);
  g_ptr_array_unref (self->tables);
  g_free (self->state_dir);
  _pb_kafka_config_free (self->config);
  clear_settings (&self->settings);
  g_free (self->shards);
  g_free (self->owners);
  g_free (self->global_results);
  g_object_unref (self->cancellable);
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
  return self->preparing || self->restores != NULL;
}

gboolean
_pb_tables_is_busy (PbTables *self)
{
  return _pb_tables_is_restoring (self) || self->followers != NULL;
}

static void cancel_restores (GList *restores,
                             int    kind);

void
_pb_tables_cancel (PbTables *self)
{
  g_cancellable_cancel (self->cancellable);
  cancel_restores (self->restores, -1);
  cancel_restores (self->followers, -1);
}

/* Preparing */

static void
prepare_op_free (PrepareOp *op)
{
  g_ptr_array_unref (op->tables);
  g_free (op->state_dir);
  _pb_kafka_config_free (op->config);
  clear_settings (&op->settings);
  g_clear_object (&op->mock_cluster);
  g_strfreev (op->topics);
  g_free (op->changelog_partitions);
  g_free (op->results);
  g_free (op);
}

/* The changelog topic, as the table's properties say. */
static gboolean
ensure_changelog (PrepareOp  *op,
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
  int num_partitions = pb_table_get_changelog_topic_num_partitions (table);
  PbTopicSpec spec = {
    pb_table_get_changelog_topic_name (table),
    num_partitions > 0 ? num_partitions : MAX (op->n_input_partitions, 1),
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
prepare_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  PrepareOp *op = task_data;

  for (guint i = 0; op->topics[i] != NULL; i++)
    {
      guint n = count_partitions (op->producer, op->topics[i]);

      op->n_input_partitions = MAX (op->n_input_partitions, (int)n);
    }

  for (guint i = 0; i < op->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (op->tables, i);
      const char *changelog = pb_table_get_changelog_topic_name (table);
      GError *error = NULL;
      int n;

      if (!_pb_table_open (table, op->state_dir, TRUE, &error) ||
          !ensure_changelog (op, table, &error))
        {
          g_prefix_error (&error, _("Table “%s”: "), pb_table_get_name (table));
          g_task_return_error (task, error);
          return;
        }

      /* The producer learns of the changelog now: told of a topic by its
       * first record, librdkafka waits up to a second for its metadata. */
      n = count_partitions (op->producer, changelog);
      if (n <= 0)
        {
          g_task_return_new_error (task, PB_ERROR, PB_ERROR_CHANGELOG,
                                   _("Table “%s”: cannot read the metadata of its changelog "
                                     "topic “%s”"),
                                   pb_table_get_name (table), changelog);
          return;
        }

      op->changelog_partitions[i] = n;

      /* A global table is whole before the group is joined. */
      if (pb_table_get_global (table))
        {
          PbRestoreTarget target;
          rd_kafka_conf_t *conf;

          _pb_restore_target_init_store (&target, _pb_table_peek_store (table));
          conf = _pb_kafka_config_build (op->config, PB_KAFKA_CLIENT_RESTORE, &op->settings, &error);
          if (conf == NULL ||
              !_pb_restore (&target, changelog, pb_table_get_name (table),
                            pb_table_get_strict (table), NULL, 0, conf, cancellable,
                            &op->results[i], &error))
            {
              g_task_return_error (task, error);
              return;
            }
          continue;
        }

      /* A table's partition p goes with the input partitions p. */
      if (op->n_input_partitions > 0 && n != op->n_input_partitions)
        {
          g_task_return_new_error (task, PB_ERROR, PB_ERROR_CHANGELOG,
                                   _("Table “%s”: its changelog topic “%s” has %d partitions, "
                                     "but the engine’s input topics have %d: a table has as "
                                     "many partitions as its input topics"),
                                   pb_table_get_name (table), changelog, n,
                                   op->n_input_partitions);
          return;
        }
    }

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
  PrepareOp *op = g_new0 (PrepareOp, 1);

  op->tables = g_ptr_array_ref (self->tables);
  op->state_dir = g_strdup (self->state_dir);
  op->config = _pb_kafka_config_copy (restore->config);
  copy_settings (&op->settings, restore->settings);
  op->mock_cluster = restore->mock_cluster != NULL ? g_object_ref (restore->mock_cluster) : NULL;
  op->producer = _pb_producer_get_client (restore->producer);
  op->topics = g_strdupv ((GStrv)restore->topics);
  op->changelog_partitions = g_new0 (int, self->tables->len);
  op->results = g_new0 (PbRestoreResult, self->tables->len);

  _pb_kafka_config_free (self->config);
  self->config = _pb_kafka_config_copy (restore->config);
  clear_settings (&self->settings);
  copy_settings (&self->settings, restore->settings);

  self->preparing = TRUE;
  for (guint i = 0; i < self->tables->len; i++)
    _pb_table_set_restoring (g_ptr_array_index (self->tables, i), TRUE);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, _pb_tables_restore_async);
  g_task_set_task_data (task, op, (GDestroyNotify) prepare_op_free);
  g_task_run_in_thread (task, prepare_thread);
}

gboolean
_pb_tables_restore_finish (PbTables      *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  PrepareOp *op = g_task_get_task_data (G_TASK (result));

  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == _pb_tables_restore_async, FALSE);

  self->preparing = FALSE;
  for (guint i = 0; i < self->tables->len; i++)
    _pb_table_set_restoring (g_ptr_array_index (self->tables, i), FALSE);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;

  self->n_partitions = 0;
  for (guint i = 0; i < self->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->tables, i);

      _pb_table_set_n_partitions (table, op->changelog_partitions[i]);
      if (!_pb_table_is_global (table))
        self->n_partitions = MAX (self->n_partitions, op->changelog_partitions[i]);
    }
  g_free (self->global_results);
  self->global_results = g_steal_pointer (&op->results);
  g_free (self->shards);
  self->shards = g_new0 (guint8, MAX (self->n_partitions, 1));
  g_free (self->owners);
  self->owners = g_new0 (ShardRestore *, MAX (self->n_partitions, 1));

  return TRUE;
}

static void start_restore (PbTables    *self,
                           GPtrArray   *tables,
                           GArray      *partitions,
                           RestoreKind  kind);
static void start_follower (PbTables    *self,
                            PbTable     *table,
                            GArray      *partitions,
                            RestoreKind  kind);
static GPtrArray *select_tables (PbTables *self,
                                 gboolean  global);

void
_pb_tables_attach (PbTables   *self,
                   PbProducer *producer)
{
  g_autoptr(GPtrArray) global = select_tables (self, TRUE);

  for (guint i = 0; i < self->tables->len; i++)
    _pb_table_attach (g_ptr_array_index (self->tables, i), producer,
                      _pb_host_is_exact_state (self->host) ? self->host : NULL);

  if (global->len == 0)
    return;

  /* Global tables are whole: they say so, and follow their changelog. */
  _pb_host_enter (self->host);
  for (guint i = 0; i < self->tables->len; i++)
    if (_pb_table_is_global (g_ptr_array_index (self->tables, i)))
      _pb_table_restored (g_ptr_array_index (self->tables, i), &self->global_results[i]);
  _pb_host_leave (self->host);

  for (guint i = 0; i < global->len; i++)
    start_follower (self, g_ptr_array_index (global, i),
                    g_array_new (FALSE, FALSE, sizeof (int)), RESTORE_GLOBAL);
}

/* Restoring the partitions of an assignment
 *
 * A worker thread reads the changelog partitions; the stores are written
 * on the engine's context only, between the handlings of other
 * partitions, which go on meanwhile. */

struct _ShardRestore
{
  gatomicrefcount  ref;
  PbTables        *tables;      /* NULL once they went away */
  GMainContext    *context;
  int              priority;
  GPtrArray       *table_list;  /* PbTable */
  GPtrArray       *offsets;     /* GVariant a{ix}, by table, read before */
  PbKafkaConfig   *config;
  PbKafkaSettings  settings;
  GArray          *partitions;  /* int, or empty: all */
  RestoreKind      kind;
  guint            generation;  /* of a standby replica */
  GCancellable    *cancellable;
  PbRestoreResult *results;     /* by table */
  gint64           began;
  GThread         *thread;      /* a follower's, joined once it returned */

  /* The call the worker waits for. */
  GMutex           lock;
  GCond            cond;
};

typedef struct
{
  ShardRestore *restore;
  PbTable      *table;
  GVariant     *offsets;
} ShardTarget;

typedef struct
{
  ShardRestore *restore;
  PbTable      *table;
  PbStoreBatch *batch;       /* nullable: a wipe */
  const int    *wipe;        /* nullable: all partitions */
  int           n_wipe;
  gboolean      done;
  gboolean      ok;
  GError       *error;
} StoreCall;

/* Cancels @restores, or those of them of @kind when it is not -1. */
static void
cancel_restores (GList *restores,
                 int    kind)
{
  for (GList *l = restores; l != NULL; l = l->next)
    {
      ShardRestore *restore = l->data;

      if (kind == -1 || restore->kind == (RestoreKind)kind)
        g_cancellable_cancel (restore->cancellable);
    }
}

static ShardRestore *
shard_restore_ref (ShardRestore *restore)
{
  g_atomic_ref_count_inc (&restore->ref);
  return restore;
}

static void
shard_restore_unref (ShardRestore *restore)
{
  if (!g_atomic_ref_count_dec (&restore->ref))
    return;

  g_main_context_unref (restore->context);
  g_ptr_array_unref (restore->table_list);
  g_ptr_array_unref (restore->offsets);
  _pb_kafka_config_free (restore->config);
  clear_settings (&restore->settings);
  g_array_unref (restore->partitions);
  g_object_unref (restore->cancellable);
  g_free (restore->results);
  g_mutex_clear (&restore->lock);
  g_cond_clear (&restore->cond);
  g_free (restore);
}

/* Whether a later restore took one of @restore's partitions over (they
 * were revoked and assigned again meanwhile, or a standby's partition was
 * assigned): @restore must write nothing more, or it would mix older
 * changes with the newer one's. */
static gboolean
is_superseded (PbTables     *self,
               ShardRestore *restore)
{
  if (restore->kind == RESTORE_STANDBY)
    return restore->generation != self->standby_generation;

  for (guint i = 0; restore->kind == RESTORE_HELD && i < restore->partitions->len; i++)
    if (self->owners[g_array_index (restore->partitions, int, i)] != restore)
      return TRUE;

  return FALSE;
}

/* On the engine's context: the store call of the worker. */
static gboolean
store_call_cb (gpointer user_data)
{
  StoreCall *call = user_data;
  ShardRestore *restore = call->restore;
  PbStore *store = _pb_table_peek_store (call->table);

  /* After what the writer has. */
  if (restore->tables != NULL)
    sync_writes (restore->tables);

  /* Tables that went away, or a later restore, take no more. */
  if (restore->tables == NULL || is_superseded (restore->tables, restore))
    call->ok = FALSE;
  else if (call->batch == NULL && call->wipe == NULL)
    call->ok = pb_store_wipe (store, &call->error);
  else if (call->batch == NULL)
    call->ok = _pb_table_drop_partitions (call->table, call->wipe, call->n_wipe, &call->error);
  else if (restore->kind == RESTORE_STANDBY)
    {
      _pb_host_enter (restore->tables->host);
      call->ok = _pb_table_apply_standby (call->table, call->batch, &call->error);
      _pb_host_leave (restore->tables->host);
    }
  else if (restore->kind == RESTORE_GLOBAL)
    {
      _pb_host_enter (restore->tables->host);
      call->ok = _pb_table_apply_followed (call->table, call->batch, &call->error);
      _pb_host_leave (restore->tables->host);
    }
  else
    call->ok = pb_store_apply (store, call->batch, &call->error);

  if (!call->ok && call->error == NULL)
    call->error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                       _("The restore was cancelled"));

  g_mutex_lock (&restore->lock);
  call->done = TRUE;
  g_cond_broadcast (&restore->cond);
  g_mutex_unlock (&restore->lock);

  return G_SOURCE_REMOVE;
}

/* In the worker: runs @call on the engine's context and waits for it. */
static gboolean
call_store (StoreCall  *call,
            GError    **error)
{
  ShardRestore *restore = call->restore;
  GSource *source = g_idle_source_new ();

  /* Not g_main_context_invoke(), which runs the call in this thread when
   * no one owns the context at that moment. */
  g_source_set_priority (source, restore->priority);
  g_source_set_static_name (source, "[paperboy] table restore");
  g_source_set_callback (source, store_call_cb, call, NULL);
  g_source_attach (source, restore->context);
  g_source_unref (source);

  g_mutex_lock (&restore->lock);
  while (!call->done)
    g_cond_wait (&restore->cond, &restore->lock);
  g_mutex_unlock (&restore->lock);

  if (!call->ok)
    {
      g_propagate_error (error, call->error);
      return FALSE;
    }

  return TRUE;
}

static GVariant *
shard_get_offsets (gpointer   data,
                   GError   **error)
{
  ShardTarget *target = data;

  return g_variant_ref (target->offsets);
}

static gboolean
shard_wipe (gpointer    data,
            const int  *partitions,
            int         n_partitions,
            GError    **error)
{
  ShardTarget *target = data;
  StoreCall call = { target->restore, target->table, NULL, partitions, n_partitions };

  return call_store (&call, error);
}

static gboolean
shard_apply (gpointer       data,
             PbStoreBatch  *batch,
             GError       **error)
{
  ShardTarget *target = data;
  StoreCall call = { target->restore, target->table, batch, NULL, 0 };

  return call_store (&call, error);
}

static void
shard_restore_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  ShardRestore *restore = task_data;

  for (guint i = 0; i < restore->table_list->len; i++)
    {
      PbTable *table = g_ptr_array_index (restore->table_list, i);
      ShardTarget data = { restore, table, g_ptr_array_index (restore->offsets, i) };
      PbRestoreTarget target = { shard_get_offsets, shard_wipe, shard_apply, &data,
                                 restore->kind != RESTORE_HELD };
      GError *error = NULL;
      rd_kafka_conf_t *conf;

      if (g_task_return_error_if_cancelled (task))
        return;

      conf = _pb_kafka_config_build (restore->config, PB_KAFKA_CLIENT_RESTORE,
                                     &restore->settings, &error);
      if (conf == NULL ||
          !_pb_restore (&target, pb_table_get_changelog_topic_name (table),
                        pb_table_get_name (table), pb_table_get_strict (table),
                        restore->partitions->len > 0 ? (const int *)restore->partitions->data
                                                     : NULL,
                        restore->partitions->len,
                        conf, cancellable, &restore->results[i], &error))
        {
          g_task_return_error (task, error);
          return;
        }
    }

  g_task_return_boolean (task, TRUE);
}

static gpointer
follower_thread (gpointer data)
{
  g_autoptr(GTask) task = data;

  shard_restore_thread (task, NULL, g_task_get_task_data (task), g_task_get_cancellable (task));

  return NULL;
}

static void
drop (PbTables  *self,
      const int *partitions,
      int        n_partitions)
{
  sync_writes (self);

  for (guint i = 0; i < self->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->tables, i);
      GError *error = NULL;

      if (_pb_table_is_global (table))
        continue;

      /* A standby replica keeps them in its store. */
      if (_pb_table_drops_revoked (table) && !_pb_table_has_standby (table))
        {
          if (!_pb_table_drop_partitions (table, partitions, n_partitions, &error))
            _pb_host_fail (self->host, error);
        }
      else
        _pb_table_forget_pending (table, partitions, n_partitions);
    }
}

static void
shard_restored_cb (GObject      *source_object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  ShardRestore *restore = g_task_get_task_data (G_TASK (result));
  PbTables *self = restore->tables;
  g_autoptr(GArray) held = g_array_new (FALSE, FALSE, sizeof (int));
  GArray *again = NULL;
  GError *error = NULL;
  gboolean ok;

  /* A follower's thread ends right after it returned: nothing of it
   * outlives the run. */
  if (restore->thread != NULL)
    g_thread_join (g_steal_pointer (&restore->thread));

  if (self == NULL)
    return;

  if (restore->kind != RESTORE_HELD)
    self->followers = g_list_remove (self->followers, restore);
  else
    self->restores = g_list_remove (self->restores, restore);
  restore->tables = NULL;
  shard_restore_unref (restore);

  ok = g_task_propagate_boolean (G_TASK (result), &error);

  /* A follower ends when the run stops, a standby replica also when
   * the member's partitions change. */
  if (restore->kind != RESTORE_HELD)
    {
      /* A standby replica is a spare: when it fails, the partitions it
       * followed are restored in full if they come, and it starts again at
       * the next rebalance. */
      if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_clear_error (&error);
      else if (error != NULL && restore->kind == RESTORE_STANDBY)
        {
          g_warning (_("Table “%s”: its standby replica stopped, until the next rebalance: %s"),
                     pb_table_get_name (g_ptr_array_index (restore->table_list, 0)),
                     error->message);
          g_clear_error (&error);
        }
      else if (error != NULL)
        _pb_host_fail (self->host, error);
      _pb_host_kick (self->host);
      return;
    }

  /* Its partitions that a later restore took over are that one's, those
   * revoked meanwhile were dropped then; the others are held, or, when it
   * was superseded, are restored again. */
  if (!ok && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      !g_cancellable_is_cancelled (self->cancellable))
    again = g_array_new (FALSE, FALSE, sizeof (int));

  for (guint i = 0; i < restore->partitions->len; i++)
    {
      int p = g_array_index (restore->partitions, int, i);

      if (self->owners[p] != restore)
        continue;
      self->owners[p] = NULL;

      if (ok)
        {
          self->shards[p] = SHARD_HELD;
          g_array_append_val (held, p);
        }
      else if (again != NULL)
        g_array_append_val (again, p);
    }

  if (!ok)
    {
      if (again != NULL && again->len > 0)
        start_restore (self, restore->table_list, g_steal_pointer (&again), RESTORE_HELD);
      /* Superseded with nothing left to restore: it ended, holding
       * nothing (the run may wait for its restores to end). */
      else if (again != NULL)
        self->callbacks->restored (self->user_data, NULL, 0);
      if (again != NULL)
        g_array_unref (again);
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        _pb_host_fail (self->host, error);
      else
        g_clear_error (&error);
      _pb_host_kick (self->host);
      return;
    }

  for (guint i = 0; i < restore->table_list->len; i++)
    for (guint j = 0; j < held->len; j++)
      _pb_table_set_owned (g_ptr_array_index (restore->table_list, i),
                           g_array_index (held, int, j), TRUE);

  g_info ("Restored %u table partitions in %.3f s", held->len,
          (g_get_monotonic_time () - restore->began) / (double)G_USEC_PER_SEC);

  if (held->len > 0)
    {
      _pb_host_enter (self->host);
      for (guint i = 0; i < restore->table_list->len; i++)
        _pb_table_restored (g_ptr_array_index (restore->table_list, i), &restore->results[i]);
      _pb_host_leave (self->host);
    }

  self->callbacks->restored (self->user_data, (const int *)held->data, held->len);
  _pb_host_kick (self->host);
}

/* Starts restoring @partitions (all when empty) of @tables, or following
 * them; takes @partitions. */
static void
start_restore (PbTables    *self,
               GPtrArray   *tables,
               GArray      *partitions,
               RestoreKind  kind)
{
  g_autoptr(GTask) task = NULL;
  ShardRestore *restore = g_new0 (ShardRestore, 1);

  g_atomic_ref_count_init (&restore->ref);
  restore->partitions = partitions;
  restore->kind = kind;
  restore->cancellable = g_cancellable_new ();
  if (g_cancellable_is_cancelled (self->cancellable))
    g_cancellable_cancel (restore->cancellable);
  restore->tables = self;
  restore->context = g_main_context_ref (_pb_host_get_context (self->host));
  restore->priority = _pb_host_get_priority (self->host);
  restore->table_list = g_ptr_array_new_with_free_func (g_object_unref);
  restore->offsets = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  restore->config = _pb_kafka_config_copy (self->config);
  copy_settings (&restore->settings, &self->settings);
  restore->results = g_new0 (PbRestoreResult, tables->len);
  restore->began = g_get_monotonic_time ();
  g_mutex_init (&restore->lock);
  g_cond_init (&restore->cond);

  /* Where the stores stand, once they have all that was delivered. */
  sync_writes (self);

  for (guint i = 0; i < tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (tables, i);
      GError *error = NULL;
      GVariant *offsets = pb_store_get_offsets (_pb_table_peek_store (table), &error);

      if (offsets == NULL)
        {
          g_prefix_error (&error, _("Table “%s”: "), pb_table_get_name (table));
          _pb_host_fail (self->host, error);
          offsets = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{ix}"), NULL, 0));
        }
      g_ptr_array_add (restore->table_list, g_object_ref (table));
      g_ptr_array_add (restore->offsets, offsets);
    }

  if (kind != RESTORE_HELD)
    self->followers = g_list_prepend (self->followers, restore);
  else
    self->restores = g_list_prepend (self->restores, restore);

  /* It supersedes any restore of its partitions still in flight. */
  for (guint i = 0; kind == RESTORE_HELD && i < partitions->len; i++)
    self->owners[g_array_index (partitions, int, i)] = restore;
  restore->generation = self->standby_generation;

  g_main_context_push_thread_default (restore->context);
  task = g_task_new (NULL, restore->cancellable, shard_restored_cb, NULL);
  g_main_context_pop_thread_default (restore->context);
  g_task_set_source_tag (task, start_restore);
  g_task_set_task_data (task, shard_restore_ref (restore), (GDestroyNotify) shard_restore_unref);

  /* A follower reads until the run ends: a thread of its own, not one of
   * the pool's that restores and other tasks wait for. */
  if (kind == RESTORE_HELD)
    g_task_run_in_thread (task, shard_restore_thread);
  else
    restore->thread = g_thread_new ("pb-table-follow", follower_thread, g_steal_pointer (&task));
}

/* Starts following @partitions of @table alone: a follower reads its
 * table's changelog until cancelled. Takes @partitions. */
static void
start_follower (PbTables    *self,
                PbTable     *table,
                GArray      *partitions,
                RestoreKind  kind)
{
  g_autoptr(GPtrArray) tables = g_ptr_array_new ();

  g_ptr_array_add (tables, table);
  start_restore (self, tables, partitions, kind);
}

/* The tables that are partitioned (@global FALSE) or global. */
static GPtrArray *
select_tables (PbTables *self,
               gboolean  global)
{
  GPtrArray *tables = g_ptr_array_new ();

  for (guint i = 0; i < self->tables->len; i++)
    if (!_pb_table_is_global (g_ptr_array_index (self->tables, i)) == !global)
      g_ptr_array_add (tables, g_ptr_array_index (self->tables, i));

  return tables;
}

static gboolean
standby_timer_cb (gpointer user_data)
{
  PbTables *self = user_data;
  g_autoptr(GArray) partitions = g_array_new (FALSE, FALSE, sizeof (int));

  g_clear_pointer (&self->standby_timer, g_source_unref);

  if (g_cancellable_is_cancelled (self->cancellable))
    return G_SOURCE_REMOVE;

  for (int p = 0; p < self->n_partitions; p++)
    if (self->shards[p] == SHARD_NONE)
      g_array_append_val (partitions, p);

  if (partitions->len == 0)
    return G_SOURCE_REMOVE;

  for (guint i = 0; i < self->tables->len; i++)
    if (_pb_table_has_standby (g_ptr_array_index (self->tables, i)))
      start_follower (self, g_ptr_array_index (self->tables, i),
                      g_array_copy (partitions), RESTORE_STANDBY);

  return G_SOURCE_REMOVE;
}

/* The standby replicas, which followed the partitions the member did not
 * hold, write nothing more from now on; new ones follow those it does not
 * hold once the rebalance is over. */
static void
restart_standby (PbTables *self)
{
  gboolean any = FALSE;

  for (guint i = 0; i < self->tables->len; i++)
    any |= _pb_table_has_standby (g_ptr_array_index (self->tables, i));
  if (!any)
    return;

  self->standby_generation++;
  cancel_restores (self->followers, RESTORE_STANDBY);

  if (self->standby_timer == NULL && !g_cancellable_is_cancelled (self->cancellable))
    self->standby_timer = _pb_timeout_source_new (_pb_host_get_context (self->host),
                                                  STANDBY_DELAY_MS,
                                                  _pb_host_get_priority (self->host),
                                                  "[paperboy] table standby",
                                                  standby_timer_cb, self, NULL);
}

void
_pb_tables_assigned (PbTables  *self,
                     const int *partitions,
                     int        n_partitions)
{
  g_autoptr(GPtrArray) tables = select_tables (self, FALSE);
  GArray *restored;

  if (tables->len == 0 || g_cancellable_is_cancelled (self->cancellable))
    return;

  restored = g_array_new (FALSE, FALSE, sizeof (int));
  for (int i = 0; i < n_partitions; i++)
    {
      int p = partitions[i];

      if (p < 0 || p >= self->n_partitions || self->shards[p] != SHARD_NONE)
        continue;

      self->shards[p] = SHARD_RESTORING;
      g_array_append_val (restored, p);
    }

  if (restored->len == 0)
    {
      /* A member given nothing is a spare: its standby replicas start. */
      if (self->standby_generation == 0)
        restart_standby (self);
      g_array_unref (restored);
      return;
    }

  /* Before the restore reads where the store stands. */
  restart_standby (self);
  start_restore (self, tables, restored, RESTORE_HELD);
}

gboolean
_pb_tables_holds (PbTables *self,
                  int       partition)
{
  return self->shards != NULL && partition >= 0 && partition < self->n_partitions &&
         self->shards[partition] == SHARD_RESTORING;
}

void
_pb_tables_revoked (PbTables  *self,
                    const int *partitions,
                    int        n_partitions)
{
  g_autoptr(GArray) gone = g_array_new (FALSE, FALSE, sizeof (int));
  gboolean changed = FALSE;

  if (self->tables->len == 0 || self->shards == NULL)
    return;

  /* What was delivered is checkpointed before the partitions go. */
  flush (self, TRUE);

  /* A run that stops keeps them: they are the table its application
   * reads once it stopped. */
  if (g_cancellable_is_cancelled (self->cancellable))
    return;

  for (int i = 0; i < n_partitions; i++)
    {
      int p = partitions[i];

      if (p < 0 || p >= self->n_partitions || self->shards[p] == SHARD_NONE)
        continue;

      /* A restore in flight writes nothing more (its other partitions
       * are restored again). */
      changed = TRUE;
      self->owners[p] = NULL;
      g_array_append_val (gone, p);
      self->shards[p] = SHARD_NONE;

      for (guint j = 0; j < self->tables->len; j++)
        if (!_pb_table_is_global (g_ptr_array_index (self->tables, j)))
          _pb_table_set_owned (g_ptr_array_index (self->tables, j), p, FALSE);
    }

  drop (self, (const int *)gone->data, gone->len);

  if (changed)
    restart_standby (self);
}

/* Writing */

static void
store_write_free (StoreWrite *write)
{
  g_object_unref (write->table);
  pb_store_batch_unref (write->batch);
  g_ptr_array_unref (write->settled);
  g_clear_error (&write->error);
  g_free (write);
}

/* On the engine's context: what the writer wrote settles its keys. */
static void
collect_writes (PbTables *self)
{
  GQueue written = G_QUEUE_INIT;
  StoreWrite *write;

  g_mutex_lock (&self->write_lock);
  written = self->written;
  g_queue_init (&self->written);
  g_mutex_unlock (&self->write_lock);

  while ((write = g_queue_pop_head (&written)) != NULL)
    {
      _pb_table_written (write->table, write->settled, write->number, write->ok);
      if (write->error != NULL)
        _pb_host_fail (self->host, g_steal_pointer (&write->error));
      store_write_free (write);
    }
}

static gboolean
written_cb (gpointer user_data)
{
  PbTables *self = user_data;

  g_mutex_lock (&self->write_lock);
  g_clear_pointer (&self->written_source, g_source_unref);
  g_mutex_unlock (&self->write_lock);

  collect_writes (self);

  return G_SOURCE_REMOVE;
}

/* The writer's thread. */
static void
write_thread (gpointer data,
              gpointer user_data)
{
  StoreWrite *write = data;
  PbTables *self = user_data;

  write->ok = _pb_table_write (write->table, write->batch, &write->error);

  g_mutex_lock (&self->write_lock);
  g_queue_push_tail (&self->written, write);
  self->writes_in_flight--;
  g_cond_broadcast (&self->write_cond);
  if (self->written_source == NULL)
    {
      self->written_source = g_idle_source_new ();
      g_source_set_static_name (self->written_source, "[paperboy] table written");
      g_source_set_priority (self->written_source, _pb_host_get_priority (self->host));
      g_source_set_callback (self->written_source, written_cb, self, NULL);
      g_source_attach (self->written_source, _pb_host_get_context (self->host));
    }
  g_mutex_unlock (&self->write_lock);
}

/* Waits until the writer wrote all it was given, and settles it: before
 * anything else writes a store, or reads where it stands. */
static void
sync_writes (PbTables *self)
{
  if (self->writer == NULL)
    return;

  g_mutex_lock (&self->write_lock);
  while (self->writes_in_flight > 0)
    g_cond_wait (&self->write_cond, &self->write_lock);
  g_mutex_unlock (&self->write_lock);

  collect_writes (self);
}

static void
write_apart (PbTables     *self,
             PbTable      *table,
             PbStoreBatch *batch,
             GPtrArray    *settled,
             guint64       number)
{
  StoreWrite *write = g_new0 (StoreWrite, 1);

  /* One thread: the batches are written in order. */
  if (self->writer == NULL)
    self->writer = g_thread_pool_new (write_thread, self, 1, FALSE, NULL);

  write->table = g_object_ref (table);
  write->batch = batch;
  write->settled = settled;
  write->number = number;

  g_mutex_lock (&self->write_lock);
  self->writes_in_flight++;
  g_mutex_unlock (&self->write_lock);

  g_thread_pool_push (self->writer, write, NULL);
}


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

      if (_pb_table_writes_apart (table))
        {
          GPtrArray *settled;
          guint64 number;
          PbStoreBatch *batch = _pb_table_take_delivered (table, force, &settled, &number);

          if (batch != NULL)
            write_apart (self, table, batch, settled, number);
        }
      else if (!_pb_table_flush (table, force, &error))
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
  g_assert (!_pb_tables_is_busy (self));

  _pb_clear_source (&self->flush_timer);
  _pb_clear_source (&self->standby_timer);
  flush (self, TRUE);
  sync_writes (self);
  _pb_clear_source (&self->flush_timer);

  for (guint i = 0; i < self->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->tables, i);

      _pb_table_detach (table);
      _pb_table_close_store (table);
    }

  if (self->shards != NULL)
    memset (self->shards, SHARD_NONE, self->n_partitions);
}
