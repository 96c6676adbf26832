/* pb-engine.h
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

#define PB_TYPE_ENGINE (pb_engine_get_type ())

/**
 * PbEngineState:
 * @PB_ENGINE_STATE_STOPPED: not running: never started, or stopped cleanly
 * @PB_ENGINE_STATE_STARTING: checking the configuration and creating the
 *   Kafka client
 * @PB_ENGINE_STATE_RESTORING: preparing tables, then, once the group
 *   assigned the first partitions, restoring their partitions of the
 *   tables from their changelogs
 * @PB_ENGINE_STATE_JOINING: subscribed, waiting for the consumer group to
 *   assign partitions: at the start, and again after the engine lost its
 *   partitions
 * @PB_ENGINE_STATE_RUNNING: consuming and handling records
 * @PB_ENGINE_STATE_STOPPING: finishing in-flight handling, committing and
 *   leaving the consumer group
 * @PB_ENGINE_STATE_FAILED: the last run ended with an error
 *
 * The states of a [class@Paperboy.Engine], in
 * [property@Paperboy.Engine:state].
 */
typedef enum
{
  PB_ENGINE_STATE_STOPPED,
  PB_ENGINE_STATE_STARTING,
  PB_ENGINE_STATE_RESTORING,
  PB_ENGINE_STATE_JOINING,
  PB_ENGINE_STATE_RUNNING,
  PB_ENGINE_STATE_STOPPING,
  PB_ENGINE_STATE_FAILED,
} PbEngineState;

/**
 * PbEngineMode:
 * @PB_ENGINE_MODE_SINGLE: records are handed to their handlers one by one
 * @PB_ENGINE_MODE_BULK: records are handed over in batches, per topic (see
 *   [class@Paperboy.BulkHandler])
 *
 * How the engine hands records to its handlers, in
 * [property@Paperboy.Engine:mode].
 */
typedef enum
{
  PB_ENGINE_MODE_SINGLE,
  PB_ENGINE_MODE_BULK,
} PbEngineMode;

/**
 * PbProcessingGuarantee:
 * @PB_PROCESSING_GUARANTEE_AT_LEAST_ONCE: every record is handled at
 *   least once: a record handled again after a crash or a rebalance makes
 *   its table changes again
 * @PB_PROCESSING_GUARANTEE_EXACT_STATE: every record is handled at least
 *   once, and its table changes are made once: a table recognises the
 *   changes of a record handled again that it holds already, and drops
 *   them
 *
 * What the engine guarantees of the records it handles and of their
 * changes to its tables, in [property@Paperboy.Engine:processing-guarantee].
 */
typedef enum
{
  PB_PROCESSING_GUARANTEE_AT_LEAST_ONCE,
  PB_PROCESSING_GUARANTEE_EXACT_STATE,
} PbProcessingGuarantee;

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbEngine, pb_engine, PB, ENGINE, GObject)

PB_AVAILABLE_IN_ALL
PbEngine      *pb_engine_new                   (const char           *bootstrap_servers,
                                                const char           *group_id) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_add_handler           (PbEngine             *self,
                                                PbHandler            *handler,
                                                GError              **error);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_add_handler_type      (PbEngine             *self,
                                                GType                 handler_type,
                                                GError              **error);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_add_step              (PbEngine             *self,
                                                PbHandler * const    *handlers,
                                                guint                 n_handlers,
                                                GError              **error);
PB_AVAILABLE_IN_ALL
void           pb_engine_clear_steps           (PbEngine             *self);
PB_AVAILABLE_IN_ALL
guint          pb_engine_get_n_steps           (PbEngine             *self);
PB_AVAILABLE_IN_ALL
int            pb_engine_get_current_step      (PbEngine             *self);
PB_AVAILABLE_IN_ALL
GPtrArray     *pb_engine_get_handlers          (PbEngine             *self) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_set_config            (PbEngine             *self,
                                                const char           *key,
                                                const char           *value,
                                                GError              **error);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_run                   (PbEngine             *self,
                                                GCancellable         *cancellable,
                                                GError              **error);
PB_AVAILABLE_IN_ALL
void           pb_engine_run_async             (PbEngine             *self,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_run_finish            (PbEngine             *self,
                                                GAsyncResult         *result,
                                                GError              **error);
PB_AVAILABLE_IN_ALL
void           pb_engine_stop                  (PbEngine             *self);
PB_AVAILABLE_IN_ALL
PbEngineState  pb_engine_get_state             (PbEngine             *self);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_get_connected         (PbEngine             *self);
PB_AVAILABLE_IN_ALL
PbEngineMode   pb_engine_get_mode              (PbEngine             *self);
PB_AVAILABLE_IN_ALL
GVariant      *pb_engine_get_lag               (PbEngine             *self) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_get_bulk_mode         (PbEngine             *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_bulk_mode         (PbEngine             *self,
                                                gboolean              bulk_mode);
PB_AVAILABLE_IN_ALL
PbProcessingGuarantee pb_engine_get_processing_guarantee (PbEngine              *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_processing_guarantee (PbEngine             *self,
                                                   PbProcessingGuarantee guarantee);
PB_AVAILABLE_IN_ALL
PbMockCluster *pb_engine_get_mock_cluster      (PbEngine             *self);
PB_AVAILABLE_IN_ALL
const char    *pb_engine_get_bootstrap_servers (PbEngine             *self);
PB_AVAILABLE_IN_ALL
const char    *pb_engine_get_group_id          (PbEngine             *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_group_id          (PbEngine             *self,
                                                const char           *group_id);
PB_AVAILABLE_IN_ALL
const char    *pb_engine_get_client_id         (PbEngine             *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_client_id         (PbEngine             *self,
                                                const char           *client_id);
PB_AVAILABLE_IN_ALL
const char    *pb_engine_get_auto_offset_reset (PbEngine             *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_auto_offset_reset (PbEngine             *self,
                                                const char           *auto_offset_reset);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_get_fail_on_exception (PbEngine             *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_fail_on_exception (PbEngine             *self,
                                                gboolean              fail_on_exception);
PB_AVAILABLE_IN_ALL
guint          pb_engine_get_commit_interval_ms (PbEngine            *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_commit_interval_ms (PbEngine            *self,
                                                 guint                commit_interval_ms);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_get_handle_signals    (PbEngine             *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_handle_signals    (PbEngine             *self,
                                                gboolean              handle_signals);
PB_AVAILABLE_IN_ALL
guint          pb_engine_get_max_in_flight     (PbEngine             *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_max_in_flight     (PbEngine             *self,
                                                guint                 max_in_flight);

PB_AVAILABLE_IN_ALL
const char    *pb_engine_get_state_dir         (PbEngine             *self);
PB_AVAILABLE_IN_ALL
void           pb_engine_set_state_dir         (PbEngine             *self,
                                                const char           *state_dir);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_register_table        (PbEngine             *self,
                                                PbTable              *table,
                                                GError              **error);
PB_AVAILABLE_IN_ALL
PbTable       *pb_engine_get_table             (PbEngine             *self,
                                                const char           *name);
PB_AVAILABLE_IN_ALL
gboolean       pb_engine_produce               (PbEngine             *self,
                                                const char           *topic,
                                                int                   partition,
                                                GBytes               *key,
                                                GBytes               *value,
                                                GVariant             *headers,
                                                GError              **error);

G_END_DECLS
