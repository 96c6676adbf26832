/* pb-engine.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-engine.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "pb-bulk-handler.h"
#include "pb-enum-types.h"
#include "pb-error.h"
#include "pb-gjs-private.h"
#include "pb-kafka-config-private.h"
#include "pb-mock-cluster.h"
#include "pb-run-private.h"
#include "pb-store-uri-private.h"
#include "pb-table-private.h"
#include "pb-topic-private.h"

/**
 * PbEngine:
 *
 * Consumes Kafka records in a consumer group and hands each one to the
 * [class@Paperboy.Handler] of its topic.
 *
 * ```c
 * g_autoptr(PbEngine) engine = pb_engine_new ("localhost:9092", "my-group");
 *
 * if (!pb_engine_add_handler (engine, PB_HANDLER (handler), &error) ||
 *     !pb_engine_run (engine, NULL, &error))
 *   g_printerr ("%s\n", error->message);
 * ```
 *
 * The engine runs on the thread-default [struct@GLib.MainContext] of the
 * thread that calls [method@Paperboy.Engine.run] or
 * [method@Paperboy.Engine.run_async]: librdkafka wakes it through a file
 * descriptor, and every virtual function, signal and callback runs there,
 * never on a librdkafka thread.
 *
 * Records of one partition are handled in order, one at a time; an
 * asynchronous handler's task is awaited before the next record of its
 * partition (or until [property@Paperboy.Engine:handling-timeout-ms], after
 * which the next record may start while the handler still finishes). [property@Paperboy.Engine:max-in-flight] bounds how many
 * records are handled at once across partitions (1 by default).
 *
 * Commits are at-least-once: the offset of a record is stored only after
 * its handling finished, and librdkafka commits stored offsets every
 * [property@Paperboy.Engine:commit-interval-ms], when partitions are
 * revoked and when the engine stops, from its own thread. After a crash,
 * the records handled since the last commit are handled again.
 *
 * A revoked partition is given up only after its in-flight handling
 * finished (its [class@Gio.Cancellable] is cancelled at once) and its
 * final offset was committed, or after
 * [property@Paperboy.Engine:revoke-timeout-ms]; its next owner starts
 * right after the last record handled here. A lost partition is dropped at
 * once and nothing more is stored for it; so is a revoked one whose final
 * commit the group refused (it moved on, or it is rebalancing again and
 * waits for this member), which is then reported lost.
 *
 * [method@Paperboy.Engine.stop], the cancellable given to
 * [method@Paperboy.Engine.run], and SIGINT or SIGTERM when
 * [property@Paperboy.Engine:handle-signals] is set, stop the engine
 * gracefully: in-flight handling finishes (within
 * [property@Paperboy.Engine:stop-timeout-ms]), offsets are committed and
 * the consumer leaves its group.
 *
 * A [property@Paperboy.Engine:bootstrap-servers] of `mock://` (or
 * `mock://N`) runs the engine on a [class@Paperboy.MockCluster] of its own.
 */

#define DEFAULT_BOOTSTRAP_SERVERS   "localhost:9092"
#define DEFAULT_CLIENT_ID           "paperboy"
#define DEFAULT_AUTO_OFFSET_RESET   "earliest"
#define DEFAULT_COMMIT_INTERVAL_MS  5000
/* librdkafka's range for auto.commit.interval.ms, above 0. */
#define MAX_COMMIT_INTERVAL_MS      86400000
#define DEFAULT_REVOKE_TIMEOUT_MS   10000
#define DEFAULT_STOP_TIMEOUT_MS     30000
#define DEFAULT_BULK_MAX_RECORDS    10000
#define DEFAULT_BULK_TIMEOUT_MS     10000
#define DEFAULT_BULK_LAG_THRESHOLD  10000
#define DEFAULT_SINGLE_LAG_THRESHOLD 1000
#define DEFAULT_MODE_SWITCH_DWELL_MS 5000
#define MOCK_PREFIX                 "mock://"

struct _PbEngine
{
  GObject          parent_instance;

  char            *bootstrap_servers;
  char            *group_id;
  char            *client_id;
  char            *auto_offset_reset;
  guint            commit_interval_ms;
  guint            max_in_flight;
  guint            handling_timeout_ms;
  guint            revoke_timeout_ms;
  guint            stop_timeout_ms;
  int              priority;
  guint            bulk_max_records;
  PbProcessingGuarantee processing_guarantee;
  guint            bulk_timeout_ms;
  guint            bulk_lag_threshold;
  guint            single_lag_threshold;
  guint            mode_switch_dwell_ms;
  char            *state_dir;
  PbKafkaConfig   *config;
  PbMockCluster   *mock_cluster;
  GError          *mock_error;
  guint            fail_on_exception : 1;
  guint            handle_signals : 1;
  guint            bulk_mode : 1;

  GPtrArray       *handlers;             /* PbHandler */
  GPtrArray       *topics;               /* PbTopic */
  GPtrArray       *steps;                /* GPtrArray of PbHandler */
  GPtrArray       *tables;               /* PbTable */

  PbEngineState    state;
  gboolean         connected;
  PbEngineMode     mode;
  int              current_step;

  /* The current run, which owns all per-run state. The lock is for
   * pb_engine_stop() from other threads. */
  GMutex           lock;
  PbRun           *run;
};

enum {
  PROP_0,
  PROP_BOOTSTRAP_SERVERS,
  PROP_GROUP_ID,
  PROP_CLIENT_ID,
  PROP_AUTO_OFFSET_RESET,
  PROP_FAIL_ON_EXCEPTION,
  PROP_COMMIT_INTERVAL_MS,
  PROP_HANDLE_SIGNALS,
  PROP_MAX_IN_FLIGHT,
  PROP_HANDLING_TIMEOUT_MS,
  PROP_REVOKE_TIMEOUT_MS,
  PROP_STOP_TIMEOUT_MS,
  PROP_PRIORITY,
  PROP_MOCK_CLUSTER,
  PROP_BULK_MODE,
  PROP_BULK_MAX_RECORDS,
  PROP_PROCESSING_GUARANTEE,
  PROP_BULK_TIMEOUT_MS,
  PROP_BULK_LAG_THRESHOLD,
  PROP_SINGLE_LAG_THRESHOLD,
  PROP_MODE_SWITCH_DWELL_MS,
  PROP_STATE_DIR,
  PROP_STATE,
  PROP_CONNECTED,
  PROP_MODE,
  PROP_CURRENT_STEP,
  N_PROPS
};

enum {
  PARTITIONS_ASSIGNED,
  PARTITIONS_REVOKED,
  MODE_CHANGED,
  STEP_STARTED,
  STEP_FINISHED,
  N_SIGNALS
};

G_DEFINE_FINAL_TYPE (PbEngine, pb_engine, G_TYPE_OBJECT)

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static PbTopic *
find_topic (PbEngine   *self,
            const char *name)
{
  for (guint i = 0; i < self->topics->len; i++)
    {
      PbTopic *topic = g_ptr_array_index (self->topics, i);

      if (strcmp (topic->name, name) == 0)
        return topic;
    }

  return NULL;
}

static gboolean
is_running (PbEngine *self)
{
  return self->run != NULL;
}

/* The table named @name, or whose changelog is @topic. */
static PbTable *
find_table (PbEngine   *self,
            const char *name,
            const char *topic)
{
  for (guint i = 0; i < self->tables->len; i++)
    {
      PbTable *table = g_ptr_array_index (self->tables, i);

      if (g_strcmp0 (pb_table_get_name (table), name) == 0 ||
          g_strcmp0 (pb_table_get_changelog_topic_name (table), topic) == 0)
        return table;
    }

  return NULL;
}

/* What the run says */

static void
set_state (PbEngine      *self,
           PbEngineState  state)
{
  if (self->state == state)
    return;

  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_connected (PbEngine *self,
               gboolean  connected)
{
  if (self->connected == connected)
    return;

  self->connected = connected;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
}

static void
set_mode (PbEngine     *self,
          PbEngineMode  mode)
{
  if (self->mode == mode)
    return;

  self->mode = mode;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODE]);
  g_signal_emit (self, signals[MODE_CHANGED], 0, mode);
}

static void
emit_step (PbEngine *self,
           guint     step,
           gboolean  started)
{
  int current = started ? (int)step : (step + 1 < self->steps->len ? (int)step : -1);

  if (started)
    {
      self->current_step = current;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CURRENT_STEP]);
      g_signal_emit (self, signals[STEP_STARTED], 0, step);
    }
  else
    {
      g_signal_emit (self, signals[STEP_FINISHED], 0, step);
      if (self->current_step != current)
        {
          self->current_step = current;
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CURRENT_STEP]);
        }
    }
}

static void
run_event_cb (gpointer       user_data,
              const PbEvent *event)
{
  PbEngine *self = user_data;

  switch (event->kind)
    {
    case PB_EVENT_STATE:
      set_state (self, event->value);
      break;

    case PB_EVENT_CONNECTED:
      set_connected (self, event->flag);
      break;

    case PB_EVENT_MODE:
      set_mode (self, event->value);
      break;

    case PB_EVENT_STEP:
      emit_step (self, event->value, event->flag);
      break;

    case PB_EVENT_ASSIGNED:
      g_signal_emit (self, signals[PARTITIONS_ASSIGNED], 0, event->partitions);
      break;

    case PB_EVENT_REVOKED:
      g_signal_emit (self, signals[PARTITIONS_REVOKED], 0, event->partitions, event->flag);
      break;
    }
}

static void
run_ended_cb (gpointer  user_data,
              PbRun    *run)
{
  PbEngine *self = user_data;

  g_assert (self->run == run);

  g_mutex_lock (&self->lock);
  self->run = NULL;
  g_mutex_unlock (&self->lock);

  if (self->current_step != -1)
    {
      self->current_step = -1;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CURRENT_STEP]);
    }

  _pb_run_unref (run);
}

static const PbRunCallbacks run_callbacks = {
  .event = run_event_cb,
  .ended = run_ended_cb,
};

/* Pushes the settings a running engine may change into its run. */
static void
push_live (PbEngine *self)
{
  PbRunLive live = {
    self->max_in_flight,
    self->handling_timeout_ms,
    self->fail_on_exception,
  };

  if (self->run != NULL)
    _pb_run_set_live (self->run, &live);
}

static gboolean
parse_mock_url (const char  *url,
                guint       *n_brokers,
                GError     **error)
{
  const char *rest = url + strlen (MOCK_PREFIX);
  guint64 n = 1;

  if (*rest != '\0' &&
      (!g_ascii_string_to_unsigned (rest, 10, 1, 64, &n, NULL)))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Invalid embedded cluster address “%s”: use mock:// or mock://N "
                     "with N from 1 to 64 brokers"), url);
      return FALSE;
    }

  *n_brokers = (guint)n;
  return TRUE;
}

/* GObject */

static void
pb_engine_constructed (GObject *object)
{
  PbEngine *self = (PbEngine *)object;

  G_OBJECT_CLASS (pb_engine_parent_class)->constructed (object);

  if (self->mock_cluster == NULL &&
      g_str_has_prefix (self->bootstrap_servers, MOCK_PREFIX))
    {
      guint n_brokers;

      if (parse_mock_url (self->bootstrap_servers, &n_brokers, &self->mock_error))
        self->mock_cluster = pb_mock_cluster_new (n_brokers, &self->mock_error);
    }

  if (self->mock_cluster != NULL &&
      pb_mock_cluster_get_bootstrap_servers (self->mock_cluster) != NULL)
    {
      g_free (self->bootstrap_servers);
      self->bootstrap_servers = g_strdup (pb_mock_cluster_get_bootstrap_servers (self->mock_cluster));
    }
}

static void
pb_engine_dispose (GObject *object)
{
  PbEngine *self = (PbEngine *)object;

  /* A running engine is kept alive by its run's task: disposing of it
   * (from a binding, or from a handler) ends the run gracefully. The run
   * has its own references to the handlers. */
  if (self->run != NULL)
    _pb_run_stop (self->run);

  /* The engine stays usable, without handlers. */
  g_ptr_array_set_size (self->steps, 0);
  g_ptr_array_set_size (self->topics, 0);
  g_ptr_array_set_size (self->handlers, 0);
  g_clear_object (&self->mock_cluster);

  G_OBJECT_CLASS (pb_engine_parent_class)->dispose (object);
}

static void
pb_engine_finalize (GObject *object)
{
  PbEngine *self = (PbEngine *)object;

  g_assert (self->run == NULL);

  g_clear_pointer (&self->steps, g_ptr_array_unref);
  g_clear_pointer (&self->topics, g_ptr_array_unref);
  g_clear_pointer (&self->handlers, g_ptr_array_unref);
  g_clear_pointer (&self->tables, g_ptr_array_unref);
  g_clear_pointer (&self->state_dir, g_free);
  g_clear_pointer (&self->config, _pb_kafka_config_free);
  g_clear_pointer (&self->bootstrap_servers, g_free);
  g_clear_pointer (&self->group_id, g_free);
  g_clear_pointer (&self->client_id, g_free);
  g_clear_pointer (&self->auto_offset_reset, g_free);
  g_clear_error (&self->mock_error);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (pb_engine_parent_class)->finalize (object);
}

static void
pb_engine_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  PbEngine *self = PB_ENGINE (object);

  switch (prop_id)
    {
    case PROP_BOOTSTRAP_SERVERS:
      g_value_set_string (value, self->bootstrap_servers);
      break;

    case PROP_GROUP_ID:
      g_value_set_string (value, self->group_id);
      break;

    case PROP_CLIENT_ID:
      g_value_set_string (value, self->client_id);
      break;

    case PROP_AUTO_OFFSET_RESET:
      g_value_set_string (value, self->auto_offset_reset);
      break;

    case PROP_FAIL_ON_EXCEPTION:
      g_value_set_boolean (value, self->fail_on_exception);
      break;

    case PROP_COMMIT_INTERVAL_MS:
      g_value_set_uint (value, self->commit_interval_ms);
      break;

    case PROP_HANDLE_SIGNALS:
      g_value_set_boolean (value, self->handle_signals);
      break;

    case PROP_MAX_IN_FLIGHT:
      g_value_set_uint (value, self->max_in_flight);
      break;

    case PROP_HANDLING_TIMEOUT_MS:
      g_value_set_uint (value, self->handling_timeout_ms);
      break;

    case PROP_REVOKE_TIMEOUT_MS:
      g_value_set_uint (value, self->revoke_timeout_ms);
      break;

    case PROP_STOP_TIMEOUT_MS:
      g_value_set_uint (value, self->stop_timeout_ms);
      break;

    case PROP_PRIORITY:
      g_value_set_int (value, self->priority);
      break;

    case PROP_MOCK_CLUSTER:
      g_value_set_object (value, self->mock_cluster);
      break;

    case PROP_STATE_DIR:
      g_value_set_string (value, self->state_dir);
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_CONNECTED:
      g_value_set_boolean (value, self->connected);
      break;

    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;

    case PROP_CURRENT_STEP:
      g_value_set_int (value, self->current_step);
      break;

    case PROP_BULK_MODE:
      g_value_set_boolean (value, self->bulk_mode);
      break;

    case PROP_BULK_MAX_RECORDS:
      g_value_set_uint (value, self->bulk_max_records);
      break;

    case PROP_PROCESSING_GUARANTEE:
      g_value_set_enum (value, self->processing_guarantee);
      break;

    case PROP_BULK_TIMEOUT_MS:
      g_value_set_uint (value, self->bulk_timeout_ms);
      break;

    case PROP_BULK_LAG_THRESHOLD:
      g_value_set_uint (value, self->bulk_lag_threshold);
      break;

    case PROP_SINGLE_LAG_THRESHOLD:
      g_value_set_uint (value, self->single_lag_threshold);
      break;

    case PROP_MODE_SWITCH_DWELL_MS:
      g_value_set_uint (value, self->mode_switch_dwell_ms);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
set_uint_property (PbEngine *self,
                   guint    *field,
                   guint     value,
                   int       prop_id)
{
  if (*field != value)
    {
      *field = value;
      g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
    }
}

static void
pb_engine_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  PbEngine *self = PB_ENGINE (object);

  switch (prop_id)
    {
    case PROP_BOOTSTRAP_SERVERS:
      g_free (self->bootstrap_servers);
      self->bootstrap_servers = g_value_dup_string (value);
      if (self->bootstrap_servers == NULL)
        self->bootstrap_servers = g_strdup (DEFAULT_BOOTSTRAP_SERVERS);
      break;

    case PROP_GROUP_ID:
      pb_engine_set_group_id (self, g_value_get_string (value));
      break;

    case PROP_CLIENT_ID:
      pb_engine_set_client_id (self, g_value_get_string (value));
      break;

    case PROP_AUTO_OFFSET_RESET:
      pb_engine_set_auto_offset_reset (self, g_value_get_string (value));
      break;

    case PROP_FAIL_ON_EXCEPTION:
      pb_engine_set_fail_on_exception (self, g_value_get_boolean (value));
      break;

    case PROP_COMMIT_INTERVAL_MS:
      pb_engine_set_commit_interval_ms (self, g_value_get_uint (value));
      break;

    case PROP_HANDLE_SIGNALS:
      pb_engine_set_handle_signals (self, g_value_get_boolean (value));
      break;

    case PROP_MAX_IN_FLIGHT:
      pb_engine_set_max_in_flight (self, g_value_get_uint (value));
      break;

    case PROP_HANDLING_TIMEOUT_MS:
      set_uint_property (self, &self->handling_timeout_ms, g_value_get_uint (value), prop_id);
      push_live (self);
      break;

    case PROP_REVOKE_TIMEOUT_MS:
      set_uint_property (self, &self->revoke_timeout_ms, g_value_get_uint (value), prop_id);
      break;

    case PROP_STOP_TIMEOUT_MS:
      set_uint_property (self, &self->stop_timeout_ms, g_value_get_uint (value), prop_id);
      break;

    case PROP_PRIORITY:
      if (self->priority != g_value_get_int (value))
        {
          self->priority = g_value_get_int (value);
          g_object_notify_by_pspec (object, pspec);
        }
      break;

    case PROP_MOCK_CLUSTER:
      self->mock_cluster = g_value_dup_object (value);
      break;

    case PROP_STATE_DIR:
      pb_engine_set_state_dir (self, g_value_get_string (value));
      break;

    case PROP_BULK_MODE:
      pb_engine_set_bulk_mode (self, g_value_get_boolean (value));
      break;

    case PROP_BULK_MAX_RECORDS:
      set_uint_property (self, &self->bulk_max_records, g_value_get_uint (value), prop_id);
      break;

    case PROP_PROCESSING_GUARANTEE:
      pb_engine_set_processing_guarantee (self, g_value_get_enum (value));
      break;

    case PROP_BULK_TIMEOUT_MS:
      set_uint_property (self, &self->bulk_timeout_ms, g_value_get_uint (value), prop_id);
      break;

    case PROP_BULK_LAG_THRESHOLD:
      set_uint_property (self, &self->bulk_lag_threshold, g_value_get_uint (value), prop_id);
      break;

    case PROP_SINGLE_LAG_THRESHOLD:
      set_uint_property (self, &self->single_lag_threshold, g_value_get_uint (value), prop_id);
      break;

    case PROP_MODE_SWITCH_DWELL_MS:
      set_uint_property (self, &self->mode_switch_dwell_ms, g_value_get_uint (value), prop_id);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_engine_class_init (PbEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = pb_engine_constructed;
  object_class->dispose = pb_engine_dispose;
  object_class->finalize = pb_engine_finalize;
  object_class->get_property = pb_engine_get_property;
  object_class->set_property = pb_engine_set_property;

  /**
   * PbEngine:bootstrap-servers:
   *
   * The Kafka brokers to connect to first, as `host:port` pairs separated
   * by commas, or `mock://` (`mock://N` for N brokers) for an embedded
   * [class@Paperboy.MockCluster]. When the engine runs on a mock cluster,
   * this is the cluster's address.
   */
  properties[PROP_BOOTSTRAP_SERVERS] =
    g_param_spec_string ("bootstrap-servers", NULL, NULL,
                         DEFAULT_BOOTSTRAP_SERVERS,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:group-id:
   *
   * The consumer group. It has no default: an engine created without
   * one fails to run with %PB_ERROR_CONFIG, and setting it to %NULL or
   * to an empty string is a programming error. Changes take effect at the
   * next run.
   */
  properties[PROP_GROUP_ID] =
    g_param_spec_string ("group-id", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:client-id:
   *
   * The client id the brokers see, in their logs and quotas.
   */
  properties[PROP_CLIENT_ID] =
    g_param_spec_string ("client-id", NULL, NULL,
                         DEFAULT_CLIENT_ID,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:auto-offset-reset:
   *
   * Where a partition without a committed offset starts: `earliest`,
   * `latest`, or `error` (which fails the run).
   */
  properties[PROP_AUTO_OFFSET_RESET] =
    g_param_spec_string ("auto-offset-reset", NULL, NULL,
                         DEFAULT_AUTO_OFFSET_RESET,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:fail-on-exception:
   *
   * Whether a failure whose [vfunc@Paperboy.Handler.on_error] returns
   * %PB_ERROR_ACTION_STOP stops the engine: it then commits the offsets
   * before the failing record and [method@Paperboy.Engine.run] ends with
   * the failure. Without it, such a failure is logged as a warning and the
   * record counts as handled. A change applies to the failures that
   * follow, also while the engine runs.
   */
  properties[PROP_FAIL_ON_EXCEPTION] =
    g_param_spec_boolean ("fail-on-exception", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:commit-interval-ms:
   *
   * How often librdkafka commits the offsets of handled records, in
   * milliseconds, from 1 to 86400000 (a day, librdkafka's limit). Offsets
   * are also committed when partitions are revoked and when the engine
   * stops.
   */
  properties[PROP_COMMIT_INTERVAL_MS] =
    g_param_spec_uint ("commit-interval-ms", NULL, NULL,
                       1, MAX_COMMIT_INTERVAL_MS, DEFAULT_COMMIT_INTERVAL_MS,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:handle-signals:
   *
   * Whether SIGINT and SIGTERM stop a running engine gracefully, like
   * [method@Paperboy.Engine.stop].
   */
  properties[PROP_HANDLE_SIGNALS] =
    g_param_spec_boolean ("handle-signals", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:max-in-flight:
   *
   * How many records may be handled at once, across partitions. Records of
   * one partition are always handled one after the other, in order. The
   * default, 1, handles one record at a time.
   */
  properties[PROP_MAX_IN_FLIGHT] =
    g_param_spec_uint ("max-in-flight", NULL, NULL,
                       1, G_MAXINT32, 1,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:handling-timeout-ms:
   *
   * How long an asynchronous handling may take, in milliseconds, before it
   * counts as failed (a %PB_ERROR_HANDLER error reaches
   * [vfunc@Paperboy.Handler.on_error]) and its cancellable is cancelled;
   * 0 for no limit. A change applies to the handlings that start
   * afterwards, also while the engine runs.
   */
  properties[PROP_HANDLING_TIMEOUT_MS] =
    g_param_spec_uint ("handling-timeout-ms", NULL, NULL,
                       0, G_MAXINT32, 0,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:revoke-timeout-ms:
   *
   * How long a revoked partition waits for its in-flight handling and the
   * commit of its final offset, in milliseconds, before the engine gives
   * it up anyway. Keep it well below the `max.poll.interval.ms` of
   * librdkafka: the whole group waits.
   */
  properties[PROP_REVOKE_TIMEOUT_MS] =
    g_param_spec_uint ("revoke-timeout-ms", NULL, NULL,
                       0, G_MAXINT32, DEFAULT_REVOKE_TIMEOUT_MS,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:stop-timeout-ms:
   *
   * How long stopping waits for in-flight handling, in milliseconds,
   * before it cancels what is left and leaves the group.
   */
  properties[PROP_STOP_TIMEOUT_MS] =
    g_param_spec_uint ("stop-timeout-ms", NULL, NULL,
                       0, G_MAXINT32, DEFAULT_STOP_TIMEOUT_MS,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:priority:
   *
   * The priority of the engine's main loop sources. While records are
   * waiting, sources of a lower priority (such as a default
   * [func@GLib.idle_add]) wait too.
   */
  properties[PROP_PRIORITY] =
    g_param_spec_int ("priority", NULL, NULL,
                      G_MININT, G_MAXINT, G_PRIORITY_DEFAULT,
                      (G_PARAM_READWRITE |
                       G_PARAM_EXPLICIT_NOTIFY |
                       G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:mock-cluster:
   *
   * The embedded cluster the engine runs on, if any: the one it created
   * for a `mock://` [property@Paperboy.Engine:bootstrap-servers], or the one
   * given at construction (which also sets
   * [property@Paperboy.Engine:bootstrap-servers]), to share a cluster
   * between engines.
   */
  properties[PROP_MOCK_CLUSTER] =
    g_param_spec_object ("mock-cluster", NULL, NULL,
                         PB_TYPE_MOCK_CLUSTER,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:state-dir:
   *
   * The directory where the engine keeps its state: a `rocksdb://`
   * table's database is the directory named after the table in it. %NULL
   * (the default) means `paperboy/GROUP-ID` in the user's state directory
   * (`$XDG_STATE_HOME`, see g_get_user_state_dir()).
   */
  properties[PROP_STATE_DIR] =
    g_param_spec_string ("state-dir", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:state:
   *
   * What the engine is doing. A running engine that lost its partitions
   * (its group moved on without it, after a broker outage for instance)
   * is %PB_ENGINE_STATE_JOINING again until the group assigns it
   * partitions; see also [property@Paperboy.Engine:connected].
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       PB_TYPE_ENGINE_STATE,
                       PB_ENGINE_STATE_STOPPED,
                       (G_PARAM_READABLE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:connected:
   *
   * Whether the engine's Kafka cluster answers: %TRUE once the engine
   * heard from it in a run (a broker answered its request for metadata,
   * made when it subscribes and every second while none answers; its group
   * assigned it partitions; or it fetched records), %FALSE before, after
   * the run, and from the moment librdkafka reports that none of the
   * brokers can be reached until one answers again. The engine keeps
   * trying meanwhile; while it has no partitions,
   * [property@Paperboy.Engine:state] is %PB_ENGINE_STATE_JOINING.
   */
  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:bulk-mode:
   *
   * Whether the engine runs in Bulk mode from the start and stays in it,
   * whatever the lag (see [property@Paperboy.Engine:mode]). Read when a
   * run starts.
   */
  properties[PROP_BULK_MODE] =
    g_param_spec_boolean ("bulk-mode", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:bulk-max-records:
   *
   * The most records of a batch in Bulk mode. Read when a run starts.
   */
  properties[PROP_BULK_MAX_RECORDS] =
    g_param_spec_uint ("bulk-max-records", NULL, NULL,
                       1, G_MAXINT32, DEFAULT_BULK_MAX_RECORDS,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:processing-guarantee:
   *
   * What the engine guarantees of the changes that handling a record makes
   * to its tables. Read when a run starts.
   *
   * With %PB_PROCESSING_GUARANTEE_EXACT_STATE, each change a handler makes
   * to a table says, in its changelog record, which record it comes from
   * and which of that record's changes it is; a store keeps, with its data,
   * the last of them it holds. A record handled again, after a crash, a
   * rebalance or a retry, makes the changes that its first handling did
   * not get to the changelog, and no others: counts stay exact. This holds
   * when a handler writes keys of its record's partition, makes the same
   * changes in the same order when it handles a record again, and is not
   * a [class@Paperboy.BulkHandler]. Everything else a handler does, such as
   * producing a record or calling a service, happens at least once.
   */
  properties[PROP_PROCESSING_GUARANTEE] =
    g_param_spec_enum ("processing-guarantee", NULL, NULL,
                       PB_TYPE_PROCESSING_GUARANTEE,
                       PB_PROCESSING_GUARANTEE_AT_LEAST_ONCE,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:bulk-timeout-ms:
   *
   * In Bulk mode, the longest a batch smaller than
   * [property@Paperboy.Engine:bulk-max-records] waits for more records, in
   * milliseconds. A batch is what is ready: the engine hands a batch over
   * as soon as librdkafka has nothing more fetched for it, and waits only
   * while records keep coming in, which this bounds. Read when a run
   * starts.
   */
  properties[PROP_BULK_TIMEOUT_MS] =
    g_param_spec_uint ("bulk-timeout-ms", NULL, NULL,
                       0, G_MAXINT32, DEFAULT_BULK_TIMEOUT_MS,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:bulk-lag-threshold:
   *
   * The consumer lag above which the engine switches from Single to Bulk
   * mode, once it stayed above it for
   * [property@Paperboy.Engine:mode-switch-dwell-ms]; 0 turns the automatic
   * switch off. The lag is the sum, over the assigned partitions, of the
   * partition's high watermark (as of librdkafka's last fetch) minus the
   * offset of the next record the engine will hand over: records fetched
   * and not yet handled count. Partitions paused for another reason than
   * back-pressure do not count. Read when a run starts.
   */
  properties[PROP_BULK_LAG_THRESHOLD] =
    g_param_spec_uint ("bulk-lag-threshold", NULL, NULL,
                       0, G_MAXUINT, DEFAULT_BULK_LAG_THRESHOLD,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:single-lag-threshold:
   *
   * The consumer lag (see [property@Paperboy.Engine:bulk-lag-threshold])
   * below which the engine switches from Bulk back to Single mode, once it
   * stayed below it for [property@Paperboy.Engine:mode-switch-dwell-ms].
   * Read when a run starts.
   */
  properties[PROP_SINGLE_LAG_THRESHOLD] =
    g_param_spec_uint ("single-lag-threshold", NULL, NULL,
                       0, G_MAXUINT, DEFAULT_SINGLE_LAG_THRESHOLD,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:mode-switch-dwell-ms:
   *
   * How long, in milliseconds, the lag must stay beyond a threshold before
   * the engine switches modes. The engine looks at the lag every second
   * (every half of this time when it is shorter, and at most every 100 ms).
   * Read when a run starts.
   */
  properties[PROP_MODE_SWITCH_DWELL_MS] =
    g_param_spec_uint ("mode-switch-dwell-ms", NULL, NULL,
                       0, G_MAXINT32, DEFAULT_MODE_SWITCH_DWELL_MS,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:mode:
   *
   * How the engine hands records to its handlers now. A run starts in
   * %PB_ENGINE_MODE_SINGLE, or in %PB_ENGINE_MODE_BULK with
   * [property@Paperboy.Engine:bulk-mode]; without that, it switches to Bulk
   * mode when the lag grows beyond
   * [property@Paperboy.Engine:bulk-lag-threshold] and back when it falls
   * below [property@Paperboy.Engine:single-lag-threshold], as often as the
   * lag crosses them. A switch waits for the batch or record in flight;
   * the engine stays in its consumer group throughout.
   */
  properties[PROP_MODE] =
    g_param_spec_enum ("mode", NULL, NULL,
                       PB_TYPE_ENGINE_MODE,
                       PB_ENGINE_MODE_SINGLE,
                       (G_PARAM_READABLE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbEngine:current-step:
   *
   * The index of the step the engine is in (see
   * [method@Paperboy.Engine.add_step]), or -1 when it is in none: before a
   * run, when it has no steps, and once it went through them all.
   */
  properties[PROP_CURRENT_STEP] =
    g_param_spec_int ("current-step", NULL, NULL,
                      -1, G_MAXINT, -1,
                      (G_PARAM_READABLE |
                       G_PARAM_EXPLICIT_NOTIFY |
                       G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * PbEngine::step-started:
   * @self: the engine
   * @step: the index of the step
   *
   * Emitted when a step begins, once the engine has partitions: the end
   * offsets of its topics' partitions are being captured, and from now on
   * their records are handled.
   */
  signals[STEP_STARTED] =
    g_signal_new ("step-started",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1,
                  G_TYPE_UINT);

  /**
   * PbEngine::step-finished:
   * @self: the engine
   * @step: the index of the step
   *
   * Emitted when every partition of the step's topics the engine owns was
   * handled up to the end offset captured for it. After the last step, the
   * engine is in Single mode with all its handlers.
   */
  signals[STEP_FINISHED] =
    g_signal_new ("step-finished",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1,
                  G_TYPE_UINT);

  /**
   * PbEngine::mode-changed:
   * @self: the engine
   * @mode: the new mode
   *
   * Emitted when [property@Paperboy.Engine:mode] changes while the engine
   * runs, after the switch: the next record or batch is handed over in
   * @mode.
   */
  signals[MODE_CHANGED] =
    g_signal_new ("mode-changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1,
                  PB_TYPE_ENGINE_MODE);

  /**
   * PbEngine::partitions-assigned:
   * @self: the engine
   * @partitions: the assigned partitions, as a `a(si)` variant of topic and
   *   partition
   *
   * Emitted when the consumer group assigned partitions to the engine,
   * after the engine took them and before any of their records is
   * handled.
   */
  signals[PARTITIONS_ASSIGNED] =
    g_signal_new ("partitions-assigned",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1,
                  G_TYPE_VARIANT);

  /**
   * PbEngine::partitions-revoked:
   * @self: the engine
   * @partitions: the revoked partitions, as a `a(si)` variant of topic and
   *   partition
   * @lost: %TRUE if the partitions were lost (the group moved on without
   *   the engine, or refused their final commit) rather than handed over
   *   with their offsets committed
   *
   * Emitted when the engine gave up partitions: after their in-flight
   * handling finished and their offsets were committed for a revocation,
   * at once when they were lost. The next owner of a lost partition
   * handles again its records since the last commit.
   */
  signals[PARTITIONS_REVOKED] =
    g_signal_new ("partitions-revoked",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 2,
                  G_TYPE_VARIANT,
                  G_TYPE_BOOLEAN);
}

static void
pb_engine_init (PbEngine *self)
{
  self->bootstrap_servers = g_strdup (DEFAULT_BOOTSTRAP_SERVERS);
  self->client_id = g_strdup (DEFAULT_CLIENT_ID);
  self->auto_offset_reset = g_strdup (DEFAULT_AUTO_OFFSET_RESET);
  self->commit_interval_ms = DEFAULT_COMMIT_INTERVAL_MS;
  self->max_in_flight = 1;
  self->revoke_timeout_ms = DEFAULT_REVOKE_TIMEOUT_MS;
  self->stop_timeout_ms = DEFAULT_STOP_TIMEOUT_MS;
  self->priority = G_PRIORITY_DEFAULT;
  self->bulk_max_records = DEFAULT_BULK_MAX_RECORDS;
  self->bulk_timeout_ms = DEFAULT_BULK_TIMEOUT_MS;
  self->bulk_lag_threshold = DEFAULT_BULK_LAG_THRESHOLD;
  self->single_lag_threshold = DEFAULT_SINGLE_LAG_THRESHOLD;
  self->mode_switch_dwell_ms = DEFAULT_MODE_SWITCH_DWELL_MS;
  self->config = _pb_kafka_config_new ();
  self->handlers = g_ptr_array_new_with_free_func (g_object_unref);
  self->topics = g_ptr_array_new_with_free_func ((GDestroyNotify) _pb_topic_free);
  self->steps = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  self->tables = g_ptr_array_new_with_free_func (g_object_unref);
  self->current_step = -1;
  self->state = PB_ENGINE_STATE_STOPPED;
  g_mutex_init (&self->lock);
}

/**
 * pb_engine_new:
 * @bootstrap_servers: (nullable): the brokers, or `mock://` for an embedded
 *   cluster; %NULL for `localhost:9092`
 * @group_id: the consumer group, not empty
 *
 * Creates an engine. Add handlers, then run it.
 *
 * Returns: (transfer full): a new engine
 */
PbEngine *
pb_engine_new (const char *bootstrap_servers,
               const char *group_id)
{
  g_return_val_if_fail (group_id != NULL && *group_id != '\0', NULL);

  return g_object_new (PB_TYPE_ENGINE,
                       "bootstrap-servers", bootstrap_servers,
                       "group-id", group_id,
                       NULL);
}

/* PyGObject marks the types it registers for Python classes. */
static gboolean
is_python_class (GType type)
{
  GQuark custom = g_quark_try_string ("PyGObject::custom");

  return custom != 0 && g_type_get_qdata (type, custom) != NULL;
}

/**
 * pb_engine_add_handler:
 * @self: a [class@Paperboy.Engine]
 * @handler: a handler
 * @error: return location for a #GError
 *
 * Adds @handler for the topics of its [property@Paperboy.Handler:topics].
 *
 * A topic has one handler: adding a second handler for a topic fails with
 * %PB_ERROR_CONFIG, as does a handler without topics. Topic names are
 * exact; regular expressions are not supported yet.
 *
 * Returns: %TRUE if @handler was added, %FALSE with @error set otherwise
 */
gboolean
pb_engine_add_handler (PbEngine   *self,
                       PbHandler  *handler,
                       GError    **error)
{
  const char * const *topics;
  g_autoptr(GPtrArray) added = NULL;

  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (PB_IS_HANDLER (handler), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (is_running (self))
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                           _("Cannot add a handler while the engine is running"));
      return FALSE;
    }

  topics = pb_handler_get_topics (handler);
  if (topics == NULL || topics[0] == NULL)
    {
      /* A class defined in Python declares its topics as a class attribute,
       * which only Paperboy's Python overrides turn into the property. */
      if (is_python_class (G_OBJECT_TYPE (handler)))
        g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                     _("Handler %s has no topics: set its “topic” or “topics” property. "
                       "If the class declares “topic” or “topics” as a class attribute, "
                       "Paperboy’s Python overrides are not loaded: put the directory "
                       "holding gi/overrides/Paperboy.py on PYTHONPATH"),
                     G_OBJECT_TYPE_NAME (handler));
      else
        g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                     _("Handler %s has no topics: set its “topic” or “topics” property"),
                     G_OBJECT_TYPE_NAME (handler));
      return FALSE;
    }

  added = g_ptr_array_new ();

  for (guint i = 0; topics[i] != NULL; i++)
    {
      const char *name = topics[i];
      PbTopic *existing = find_topic (self, name);

      if (*name == '\0')
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                       _("Handler %s has an empty topic name"),
                       G_OBJECT_TYPE_NAME (handler));
          return FALSE;
        }

      if (*name == '^')
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                       _("Handler %s has the topic pattern “%s”: only exact topic names are supported"),
                       G_OBJECT_TYPE_NAME (handler), name);
          return FALSE;
        }

      if (find_table (self, NULL, name) != NULL)
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                       _("Topic “%s” is the changelog of table “%s”: a handler cannot consume it"),
                       name, pb_table_get_name (find_table (self, NULL, name)));
          return FALSE;
        }

      if (existing != NULL)
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                       _("Topic “%s” already has a handler (%s)"),
                       name, G_OBJECT_TYPE_NAME (existing->handler));
          return FALSE;
        }

      if (!g_ptr_array_find_with_equal_func (added, name, g_str_equal, NULL))
        g_ptr_array_add (added, (gpointer)name);
    }

  for (guint i = 0; i < added->len; i++)
    g_ptr_array_add (self->topics, _pb_topic_new (g_ptr_array_index (added, i), handler));

  g_ptr_array_add (self->handlers, g_object_ref (handler));

  return TRUE;
}

/**
 * pb_engine_add_handler_type:
 * @self: a [class@Paperboy.Engine]
 * @handler_type: a subtype of [class@Paperboy.Handler]
 * @error: return location for a #GError
 *
 * Creates a handler of @handler_type with [ctor@GObject.Object.new] and no
 * properties, and adds it like [method@Paperboy.Engine.add_handler]. Such a
 * handler declares its topics in its instance initializer (or its
 * constructor in Python and JavaScript, which get no arguments).
 *
 * Returns: %TRUE if the handler was added, %FALSE with @error set otherwise
 */
gboolean
pb_engine_add_handler_type (PbEngine  *self,
                            GType      handler_type,
                            GError   **error)
{
  g_autoptr(PbHandler) handler = NULL;

  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!g_type_is_a (handler_type, PB_TYPE_HANDLER) || G_TYPE_IS_ABSTRACT (handler_type))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("%s is not an instantiable subtype of PbHandler"),
                   g_type_name (handler_type));
      return FALSE;
    }

  handler = g_object_new (handler_type, NULL);

  return pb_engine_add_handler (self, handler, error);
}

/* The index of the step @handler is in, or the number of steps. */
static guint
step_of (PbEngine  *self,
         PbHandler *handler)
{
  for (guint i = 0; i < self->steps->len; i++)
    if (g_ptr_array_find (g_ptr_array_index (self->steps, i), handler, NULL))
      return i;

  return self->steps->len;
}

/**
 * pb_engine_add_step:
 * @self: a [class@Paperboy.Engine]
 * @handlers: (array length=n_handlers): handlers added to @self
 * @n_handlers: the number of @handlers
 * @error: return location for a #GError
 *
 * Adds a step: the records of @handlers' topics present when the step
 * begins are handled, in Bulk mode, before any record of the topics of
 * later steps, and of handlers in no step.
 *
 * An engine with steps goes through them in order at the start of every
 * run. During a step, the topics of that step and of the steps before it
 * are consumed; the partitions of the others are paused (the engine stays
 * in its consumer group). When a step begins, and when the group assigns
 * the engine a partition of the current step's topics later, the engine
 * captures the partition's end offset (with one request for all of them);
 * the step ends when every partition of its topics the engine owns was
 * handled up to that end. After the last step, the engine runs in Single
 * mode with all its handlers, and switches to Bulk mode on lag as usual.
 *
 * The order holds for the partitions each engine owns: engines of one
 * group go through their steps each at its own pace.
 *
 * Returns: %TRUE on success, %FALSE with @error set (%PB_ERROR_CONFIG) if
 *   a handler was not added to @self or is already in a step, if
 *   @handlers is empty, or if @self is running
 */
gboolean
pb_engine_add_step (PbEngine          *self,
                    PbHandler * const *handlers,
                    guint              n_handlers,
                    GError           **error)
{
  g_autoptr(GPtrArray) step = NULL;

  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (handlers != NULL || n_handlers == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (is_running (self))
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_CONFIG,
                           _("Cannot add a step while the engine is running"));
      return FALSE;
    }

  if (n_handlers == 0)
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_CONFIG, _("A step needs handlers"));
      return FALSE;
    }

  step = g_ptr_array_new_full (n_handlers, g_object_unref);

  for (guint i = 0; i < n_handlers; i++)
    {
      g_return_val_if_fail (PB_IS_HANDLER (handlers[i]), FALSE);

      if (!g_ptr_array_find (self->handlers, handlers[i], NULL))
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                       _("Handler %s of step %u was not added to the engine"),
                       G_OBJECT_TYPE_NAME (handlers[i]), self->steps->len);
          return FALSE;
        }

      if (step_of (self, handlers[i]) < self->steps->len ||
          g_ptr_array_find (step, handlers[i], NULL))
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                       _("Handler %s is already in a step"),
                       G_OBJECT_TYPE_NAME (handlers[i]));
          return FALSE;
        }

      g_ptr_array_add (step, g_object_ref (handlers[i]));
    }

  g_ptr_array_add (self->steps, g_steal_pointer (&step));

  return TRUE;
}

/**
 * pb_engine_clear_steps:
 * @self: a [class@Paperboy.Engine]
 *
 * Removes every step: the next run starts in Single (or Bulk) mode with
 * all the handlers at once. Does nothing while @self runs.
 */
void
pb_engine_clear_steps (PbEngine *self)
{
  g_return_if_fail (PB_IS_ENGINE (self));
  g_return_if_fail (!is_running (self));

  g_ptr_array_set_size (self->steps, 0);
}

/**
 * pb_engine_get_n_steps:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets the number of steps added with [method@Paperboy.Engine.add_step].
 *
 * Returns: the number of steps
 */
guint
pb_engine_get_n_steps (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), 0);

  return self->steps->len;
}

/**
 * pb_engine_get_current_step:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:current-step].
 *
 * Returns: the index of the current step, or -1
 */
int
pb_engine_get_current_step (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), -1);

  return self->current_step;
}

/**
 * pb_engine_get_handlers:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets the handlers added to @self, in the order they were added.
 *
 * Returns: (transfer container) (element-type PbHandler): the handlers
 */
GPtrArray *
pb_engine_get_handlers (PbEngine *self)
{
  GPtrArray *handlers;

  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);

  handlers = g_ptr_array_new_full (self->handlers->len, g_object_unref);
  for (guint i = 0; i < self->handlers->len; i++)
    g_ptr_array_add (handlers, g_object_ref (g_ptr_array_index (self->handlers, i)));

  return handlers;
}

/**
 * pb_engine_set_config:
 * @self: a [class@Paperboy.Engine]
 * @key: a librdkafka configuration property, optionally with a scope
 *   prefix (`consumer.`, `producer.`, `restore.` or `admin.`)
 * @value: (nullable): its value, or %NULL to remove a value set before
 * @error: return location for a #GError
 *
 * Sets a librdkafka configuration property (see librdkafka's
 * `CONFIGURATION.md`) for the engine's Kafka clients. A key without a scope
 * applies to every client; `consumer.` and the other scopes restrict it to
 * one kind of client.
 *
 * The key and value are checked at once: an unknown key, a value
 * librdkafka rejects, and the keys the engine sets itself (`group.id`,
 * `bootstrap.servers` and the others that have a property,
 * `enable.auto.commit`, `enable.auto.offset.store`,
 * `enable.partition.eof`, `log.queue`, `enable.idempotence`) fail with
 * %PB_ERROR_CONFIG. A few combinations can only be checked when the client
 * is created: [method@Paperboy.Engine.run] then fails at once with
 * %PB_ERROR_CONFIG.
 *
 * The configuration of a running engine's clients cannot change: on a
 * running engine this fails with %PB_ERROR_FAILED and changes nothing.
 *
 * Returns: %TRUE if the value was set, %FALSE with @error set otherwise
 */
gboolean
pb_engine_set_config (PbEngine    *self,
                      const char  *key,
                      const char  *value,
                      GError     **error)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (is_running (self))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("Cannot set “%s” while the engine is running: stop it first"), key);
      return FALSE;
    }

  return _pb_kafka_config_set (self->config, key, value, error);
}

typedef struct
{
  GMainLoop    *loop;
  GAsyncResult *result;
} RunSync;

static void
run_sync_cb (GObject      *source_object,
             GAsyncResult *result,
             gpointer      user_data)
{
  RunSync *data = user_data;

  data->result = g_object_ref (result);
  g_main_loop_quit (data->loop);
}

/**
 * pb_engine_run:
 * @self: a [class@Paperboy.Engine]
 * @cancellable: (nullable): a #GCancellable that stops the engine
 * @error: return location for a #GError
 *
 * Runs the engine until it stops, iterating the thread-default main
 * context of the calling thread (see [method@Paperboy.Engine.run_async]).
 *
 * Returns: %TRUE when the engine stopped gracefully, %FALSE with @error
 *   set when it failed
 */
gboolean
pb_engine_run (PbEngine      *self,
               GCancellable  *cancellable,
               GError       **error)
{
  g_autoptr(GMainContext) context = NULL;
  RunSync data = { NULL, NULL };
  gboolean ret;

  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  context = g_main_context_ref_thread_default ();
  data.loop = g_main_loop_new (context, FALSE);

  /* The callback always runs from the main loop, never from here. */
  pb_engine_run_async (self, cancellable, run_sync_cb, &data);
  g_main_loop_run (data.loop);

  ret = pb_engine_run_finish (self, data.result, error);

  g_object_unref (data.result);
  g_main_loop_unref (data.loop);

  return ret;
}

/**
 * pb_engine_run_async:
 * @self: a [class@Paperboy.Engine]
 * @cancellable: (nullable): a #GCancellable that stops the engine
 * @callback: (scope async): called when the engine stopped
 * @user_data: data for @callback
 *
 * Starts the engine on the thread-default main context of the calling
 * thread, where every virtual function, signal and callback will run. The
 * engine subscribes to its handlers' topics in its consumer group and runs
 * until [method@Paperboy.Engine.stop] is called, @cancellable is cancelled
 * (both stop it gracefully), a signal stops it (with
 * [property@Paperboy.Engine:handle-signals]), or it fails.
 *
 * Cancelling @cancellable is a graceful stop, not a failure:
 * [method@Paperboy.Engine.run_finish] then returns %TRUE.
 */
void
pb_engine_run_async (PbEngine            *self,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  PbRunSettings settings = { 0, };
  PbRun *run;

  g_return_if_fail (PB_IS_ENGINE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, pb_engine_run_async);

  if (is_running (self))
    {
      g_task_return_new_error (task, PB_ERROR, PB_ERROR_FAILED,
                               _("The engine is already running"));
      return;
    }

  if (self->processing_guarantee == PB_PROCESSING_GUARANTEE_EXACT_STATE)
    for (guint i = 0; i < self->topics->len; i++)
      {
        PbTopic *topic = g_ptr_array_index (self->topics, i);

        if (PB_IS_BULK_HANDLER (topic->handler))
          {
            g_task_return_new_error (task, PB_ERROR, PB_ERROR_CONFIG,
                                     _("The handler %s of “%s” handles batches: the processing "
                                       "guarantee exact-state applies to records handled one "
                                       "by one"),
                                     G_OBJECT_TYPE_NAME (topic->handler), topic->name);
            return;
          }
      }

  settings.topics = g_ptr_array_new_with_free_func ((GDestroyNotify) _pb_topic_free);
  settings.n_steps = self->steps->len;
  for (guint i = 0; i < self->topics->len; i++)
    {
      PbTopic *topic = _pb_topic_copy (g_ptr_array_index (self->topics, i));

      topic->step = step_of (self, topic->handler);
      g_ptr_array_add (settings.topics, topic);
    }
  settings.kafka.partition_eof = self->steps->len > 0;
  settings.kafka_config = _pb_kafka_config_copy (self->config);
  settings.kafka.bootstrap_servers = self->bootstrap_servers;
  settings.kafka.group_id = self->group_id;
  settings.kafka.client_id = self->client_id;
  settings.kafka.auto_offset_reset = self->auto_offset_reset;
  settings.kafka.commit_interval_ms = self->commit_interval_ms;
  settings.mock_cluster = self->mock_cluster != NULL ? g_object_ref (self->mock_cluster) : NULL;
  settings.mock_error = self->mock_error != NULL ? g_error_copy (self->mock_error) : NULL;
  settings.cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  settings.live.max_in_flight = self->max_in_flight;
  settings.live.handling_timeout_ms = self->handling_timeout_ms;
  settings.live.fail_on_exception = self->fail_on_exception;
  settings.revoke_timeout_ms = self->revoke_timeout_ms;
  settings.stop_timeout_ms = self->stop_timeout_ms;
  settings.priority = self->priority;
  settings.handle_signals = self->handle_signals;
  settings.bulk_mode = self->bulk_mode;
  settings.bulk_max_records = self->bulk_max_records;
  settings.exact_state = self->processing_guarantee == PB_PROCESSING_GUARANTEE_EXACT_STATE;
  settings.bulk_timeout_ms = self->bulk_timeout_ms;
  settings.bulk_lag_threshold = self->bulk_lag_threshold;
  settings.single_lag_threshold = self->single_lag_threshold;
  settings.mode_switch_dwell_ms = self->mode_switch_dwell_ms;

  settings.tables = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < self->tables->len; i++)
    g_ptr_array_add (settings.tables, g_object_ref (g_ptr_array_index (self->tables, i)));
  if (self->state_dir != NULL)
    settings.state_dir = g_strdup (self->state_dir);
  else if (self->group_id != NULL)
    settings.state_dir = g_build_filename (g_get_user_state_dir (), "paperboy", self->group_id, NULL);

  run = _pb_run_new (task, &settings, &run_callbacks, self);

  g_mutex_lock (&self->lock);
  self->run = run;
  g_mutex_unlock (&self->lock);

  _pb_run_start (run);
}

/**
 * pb_engine_run_finish:
 * @self: a [class@Paperboy.Engine]
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Completes [method@Paperboy.Engine.run_async].
 *
 * Returns: %TRUE when the engine stopped gracefully, %FALSE with @error
 *   set when it failed
 */
gboolean
pb_engine_run_finish (PbEngine      *self,
                      GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == pb_engine_run_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * pb_engine_stop:
 * @self: a [class@Paperboy.Engine]
 *
 * Stops a running engine gracefully: no new record is handled, in-flight
 * handling may finish (see [property@Paperboy.Engine:stop-timeout-ms]),
 * the offsets of handled records are committed and the consumer leaves its
 * group; then the run ends successfully. Does nothing when the engine is
 * not running.
 *
 * May be called from any thread: from another thread than the engine's,
 * the stop happens soon after, on the engine's main context. A run started
 * by another thread only counts as running once
 * [method@Paperboy.Engine.run_async] (or run) began there; to stop a run
 * whatever its progress, cancel the cancellable it was given.
 */
void
pb_engine_stop (PbEngine *self)
{
  g_autoptr(PbRun) run = NULL;

  g_return_if_fail (PB_IS_ENGINE (self));

  /* The run itself, not whatever run is current when the stop gets to
   * the engine's thread: a stop never ends a later run. */
  g_mutex_lock (&self->lock);
  if (self->run != NULL)
    run = _pb_run_ref (self->run);
  g_mutex_unlock (&self->lock);

  if (run != NULL)
    _pb_run_stop (run);
}

/**
 * pb_engine_get_state:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:state].
 *
 * Returns: what the engine is doing
 */
PbEngineState
pb_engine_get_state (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), PB_ENGINE_STATE_STOPPED);

  return self->state;
}

/**
 * pb_engine_get_mode:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:mode].
 *
 * Returns: how the engine hands records over now
 */
PbEngineMode
pb_engine_get_mode (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), PB_ENGINE_MODE_SINGLE);

  return self->mode;
}

/**
 * pb_engine_get_lag:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets the consumer lag of each partition the engine owns: its high
 * watermark, as of librdkafka's last fetch, minus the offset of the next
 * record the engine will hand over (see
 * [property@Paperboy.Engine:bulk-lag-threshold]). A partition not fetched
 * yet is missing. Call it on the engine's main context.
 *
 * Returns: (transfer full): a `a(six)` variant of topic, partition and
 *   lag, empty when the engine is not running
 */
GVariant *
pb_engine_get_lag (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);

  if (self->run == NULL)
    return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(six)"), NULL, 0));

  return _pb_run_get_lag (self->run);
}

/**
 * pb_engine_get_bulk_mode:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:bulk-mode].
 *
 * Returns: whether the engine runs in Bulk mode throughout
 */
gboolean
pb_engine_get_bulk_mode (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);

  return self->bulk_mode;
}

/**
 * pb_engine_set_bulk_mode:
 * @self: a [class@Paperboy.Engine]
 * @bulk_mode: whether to run in Bulk mode throughout
 *
 * Sets [property@Paperboy.Engine:bulk-mode].
 */
void
pb_engine_set_bulk_mode (PbEngine *self,
                         gboolean  bulk_mode)
{
  g_return_if_fail (PB_IS_ENGINE (self));

  bulk_mode = !!bulk_mode;
  if (self->bulk_mode == bulk_mode)
    return;

  self->bulk_mode = bulk_mode;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BULK_MODE]);
}

/**
 * pb_engine_get_connected:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:connected].
 *
 * Returns: whether the engine's Kafka cluster answers
 */
gboolean
pb_engine_get_connected (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);

  return self->connected;
}

/**
 * pb_engine_get_processing_guarantee:
 * @self: an engine
 *
 * Gets [property@Paperboy.Engine:processing-guarantee].
 *
 * Returns: what the engine guarantees of its tables' changes
 */
PbProcessingGuarantee
pb_engine_get_processing_guarantee (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), PB_PROCESSING_GUARANTEE_AT_LEAST_ONCE);

  return self->processing_guarantee;
}

/**
 * pb_engine_set_processing_guarantee:
 * @self: an engine
 * @guarantee: what the engine guarantees of its tables' changes
 *
 * Sets [property@Paperboy.Engine:processing-guarantee], for the next run.
 */
void
pb_engine_set_processing_guarantee (PbEngine              *self,
                                    PbProcessingGuarantee  guarantee)
{
  g_return_if_fail (PB_IS_ENGINE (self));
  g_return_if_fail (guarantee == PB_PROCESSING_GUARANTEE_AT_LEAST_ONCE ||
                    guarantee == PB_PROCESSING_GUARANTEE_EXACT_STATE);

  if (self->processing_guarantee == guarantee)
    return;

  self->processing_guarantee = guarantee;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROCESSING_GUARANTEE]);
}

/**
 * pb_engine_get_mock_cluster:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:mock-cluster].
 *
 * Returns: (transfer none) (nullable): the embedded cluster the engine
 *   runs on, or %NULL
 */
PbMockCluster *
pb_engine_get_mock_cluster (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);

  return self->mock_cluster;
}

/**
 * pb_engine_get_bootstrap_servers:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:bootstrap-servers].
 *
 * Returns: the bootstrap servers
 */
const char *
pb_engine_get_bootstrap_servers (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);

  return self->bootstrap_servers;
}

static void
set_string_property (PbEngine    *self,
                     char       **field,
                     const char  *value,
                     int          prop_id)
{
  if (g_strcmp0 (*field, value) == 0)
    return;

  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

/**
 * pb_engine_get_group_id:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:group-id].
 *
 * Returns: (nullable): the consumer group
 */
const char *
pb_engine_get_group_id (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);

  return self->group_id;
}

/**
 * pb_engine_set_group_id:
 * @self: a [class@Paperboy.Engine]
 * @group_id: the consumer group, not empty
 *
 * Sets [property@Paperboy.Engine:group-id].
 */
void
pb_engine_set_group_id (PbEngine   *self,
                        const char *group_id)
{
  g_return_if_fail (PB_IS_ENGINE (self));
  g_return_if_fail (group_id != NULL && *group_id != '\0');

  set_string_property (self, &self->group_id, group_id, PROP_GROUP_ID);
}

/**
 * pb_engine_get_client_id:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:client-id].
 *
 * Returns: the client id
 */
const char *
pb_engine_get_client_id (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);

  return self->client_id;
}

/**
 * pb_engine_set_client_id:
 * @self: a [class@Paperboy.Engine]
 * @client_id: (nullable): the client id, or %NULL for the default
 *
 * Sets [property@Paperboy.Engine:client-id].
 */
void
pb_engine_set_client_id (PbEngine   *self,
                         const char *client_id)
{
  g_return_if_fail (PB_IS_ENGINE (self));

  set_string_property (self, &self->client_id,
                       client_id != NULL ? client_id : DEFAULT_CLIENT_ID, PROP_CLIENT_ID);
}

/**
 * pb_engine_get_auto_offset_reset:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:auto-offset-reset].
 *
 * Returns: where partitions without a committed offset start
 */
const char *
pb_engine_get_auto_offset_reset (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);

  return self->auto_offset_reset;
}

/**
 * pb_engine_set_auto_offset_reset:
 * @self: a [class@Paperboy.Engine]
 * @auto_offset_reset: (nullable): `earliest`, `latest` or `error`; %NULL
 *   for the default, `earliest`
 *
 * Sets [property@Paperboy.Engine:auto-offset-reset]. A value librdkafka
 * does not know makes [method@Paperboy.Engine.run] fail with
 * %PB_ERROR_CONFIG.
 */
void
pb_engine_set_auto_offset_reset (PbEngine   *self,
                                 const char *auto_offset_reset)
{
  g_return_if_fail (PB_IS_ENGINE (self));

  set_string_property (self, &self->auto_offset_reset,
                       auto_offset_reset != NULL ? auto_offset_reset : DEFAULT_AUTO_OFFSET_RESET,
                       PROP_AUTO_OFFSET_RESET);
}

/**
 * pb_engine_get_fail_on_exception:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:fail-on-exception].
 *
 * Returns: whether a failure that on_error() wants to stop on stops the
 *   engine
 */
gboolean
pb_engine_get_fail_on_exception (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);

  return self->fail_on_exception;
}

/**
 * pb_engine_set_fail_on_exception:
 * @self: a [class@Paperboy.Engine]
 * @fail_on_exception: whether to stop on failures
 *
 * Sets [property@Paperboy.Engine:fail-on-exception].
 */
void
pb_engine_set_fail_on_exception (PbEngine *self,
                                 gboolean  fail_on_exception)
{
  g_return_if_fail (PB_IS_ENGINE (self));

  fail_on_exception = !!fail_on_exception;
  if (self->fail_on_exception != (guint)fail_on_exception)
    {
      self->fail_on_exception = fail_on_exception;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FAIL_ON_EXCEPTION]);
      push_live (self);
    }
}

/**
 * pb_engine_get_commit_interval_ms:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:commit-interval-ms].
 *
 * Returns: the commit interval in milliseconds
 */
guint
pb_engine_get_commit_interval_ms (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), 0);

  return self->commit_interval_ms;
}

/**
 * pb_engine_set_commit_interval_ms:
 * @self: a [class@Paperboy.Engine]
 * @commit_interval_ms: the commit interval in milliseconds, from 1 to
 *   86400000
 *
 * Sets [property@Paperboy.Engine:commit-interval-ms]. Takes effect at the
 * next run. A value out of range is a programming error: it is refused
 * with a critical warning, and the interval does not change.
 */
void
pb_engine_set_commit_interval_ms (PbEngine *self,
                                  guint     commit_interval_ms)
{
  g_return_if_fail (PB_IS_ENGINE (self));
  g_return_if_fail (commit_interval_ms >= 1 && commit_interval_ms <= MAX_COMMIT_INTERVAL_MS);

  set_uint_property (self, &self->commit_interval_ms, commit_interval_ms,
                     PROP_COMMIT_INTERVAL_MS);
}

/**
 * pb_engine_get_handle_signals:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:handle-signals].
 *
 * Returns: whether SIGINT and SIGTERM stop the engine
 */
gboolean
pb_engine_get_handle_signals (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);

  return self->handle_signals;
}

/**
 * pb_engine_set_handle_signals:
 * @self: a [class@Paperboy.Engine]
 * @handle_signals: whether SIGINT and SIGTERM stop the engine
 *
 * Sets [property@Paperboy.Engine:handle-signals]. Takes effect at the next
 * run.
 */
void
pb_engine_set_handle_signals (PbEngine *self,
                              gboolean  handle_signals)
{
  g_return_if_fail (PB_IS_ENGINE (self));

  handle_signals = !!handle_signals;
  if (self->handle_signals != (guint)handle_signals)
    {
      self->handle_signals = handle_signals;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HANDLE_SIGNALS]);
    }
}

/**
 * pb_engine_get_max_in_flight:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:max-in-flight].
 *
 * Returns: how many records may be handled at once
 */
guint
pb_engine_get_max_in_flight (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), 1);

  return self->max_in_flight;
}

/**
 * pb_engine_set_max_in_flight:
 * @self: a [class@Paperboy.Engine]
 * @max_in_flight: how many records may be handled at once, at least 1
 *
 * Sets [property@Paperboy.Engine:max-in-flight]. On a running engine, a
 * higher value takes effect with the next records polled.
 */
void
pb_engine_set_max_in_flight (PbEngine *self,
                             guint     max_in_flight)
{
  g_return_if_fail (PB_IS_ENGINE (self));
  g_return_if_fail (max_in_flight >= 1);

  set_uint_property (self, &self->max_in_flight, max_in_flight, PROP_MAX_IN_FLIGHT);
  push_live (self);
}

/**
 * pb_engine_get_state_dir:
 * @self: a [class@Paperboy.Engine]
 *
 * Gets [property@Paperboy.Engine:state-dir].
 *
 * Returns: (nullable) (type filename): the state directory, or %NULL for
 *   the default
 */
const char *
pb_engine_get_state_dir (PbEngine *self)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);

  return self->state_dir;
}

/**
 * pb_engine_set_state_dir:
 * @self: a [class@Paperboy.Engine]
 * @state_dir: (nullable) (type filename): a directory, or %NULL for the
 *   default
 *
 * Sets [property@Paperboy.Engine:state-dir]. A run uses the directory set
 * when it starts.
 */
void
pb_engine_set_state_dir (PbEngine   *self,
                         const char *state_dir)
{
  g_return_if_fail (PB_IS_ENGINE (self));

  set_string_property (self, &self->state_dir, state_dir, PROP_STATE_DIR);
}

/**
 * pb_engine_register_table:
 * @self: a [class@Paperboy.Engine]
 * @table: a table
 * @error: return location for a #GError
 *
 * Registers @table: each run of the engine creates its changelog topic if
 * it is missing, and restores the partitions of the table that go with the
 * input partitions the group assigns it before it handles their records
 * (a global table: all of it, before it joins the group).
 *
 * A second table with the same name or the same changelog topic, a
 * changelog topic that a handler consumes, and a bad store URI are
 * %PB_ERROR_CONFIG errors.
 *
 * Returns: %TRUE if @table was registered, %FALSE with @error set
 *   otherwise
 */
gboolean
pb_engine_register_table (PbEngine  *self,
                          PbTable   *table,
                          GError   **error)
{
  const char *name, *topic;

  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (PB_IS_TABLE (table), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  name = pb_table_get_name (table);
  topic = pb_table_get_changelog_topic_name (table);

  if (is_running (self))
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                           _("Cannot register a table while the engine is running"));
      return FALSE;
    }

  if (find_table (self, name, NULL) != NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("A table named “%s” is already registered"), name);
      return FALSE;
    }

  if (find_table (self, NULL, topic) != NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Table “%s” has the changelog topic “%s” of table “%s”"),
                   name, topic, pb_table_get_name (find_table (self, NULL, topic)));
      return FALSE;
    }

  if (find_topic (self, topic) != NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("The changelog topic “%s” of table “%s” is consumed by handler %s"),
                   topic, name, G_OBJECT_TYPE_NAME (find_topic (self, topic)->handler));
      return FALSE;
    }

  if (pb_table_get_store (table) == NULL &&
      !_pb_store_check_uri (pb_table_get_store_uri (table), error))
    return FALSE;

  g_ptr_array_add (self->tables, g_object_ref (table));
  _pb_table_set_registered (table);

  return TRUE;
}

/**
 * pb_engine_get_table:
 * @self: a [class@Paperboy.Engine]
 * @name: a table name
 *
 * Finds a registered table by name.
 *
 * Returns: (transfer none) (nullable): the table, or %NULL
 */
PbTable *
pb_engine_get_table (PbEngine   *self,
                     const char *name)
{
  g_return_val_if_fail (PB_IS_ENGINE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  return find_table (self, name, NULL);
}

/**
 * pb_engine_produce:
 * @self: a [class@Paperboy.Engine]
 * @topic: a topic
 * @partition: a partition, or -1 to let the key choose one
 * @key: (nullable): the record's key
 * @value: (nullable): the record's value; %NULL makes a tombstone
 * @headers: (nullable): the record's headers, of type `a(smay)`
 * @error: return location for a #GError
 *
 * Produces a record through the engine's producer, from a handler. The
 * engine commits the offset of the record being handled only once this
 * record was delivered, so that a crash never loses it (it may be produced
 * again). A delivery that fails ends the run with a %PB_ERROR_KAFKA
 * error. Call it on the engine's main context, while the engine runs; once
 * a stopping engine leaves its group (or its producer failed), it fails
 * with %PB_ERROR_CANCELLED.
 *
 * Returns: %TRUE if the record was queued, %FALSE with @error set
 *   otherwise
 */
gboolean
pb_engine_produce (PbEngine    *self,
                   const char  *topic,
                   int          partition,
                   GBytes      *key,
                   GBytes      *value,
                   GVariant    *headers,
                   GError     **error)
{
  g_autoptr(GVariant) owned_headers = NULL;

  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (topic != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (headers != NULL)
    owned_headers = g_variant_ref_sink (headers);

  if (headers != NULL && !g_variant_is_of_type (headers, G_VARIANT_TYPE ("a(smay)")))
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("Record headers are of type a(smay), not %s"),
                   g_variant_get_type_string (headers));
      return FALSE;
    }

  if (self->run == NULL)
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                           _("The engine produces records only while it runs"));
      return FALSE;
    }

  /* A changelog has one writer: its table. */
  if (find_table (self, NULL, topic) != NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Topic “%s” is the changelog of table “%s”: only the table writes it"),
                   topic, pb_table_get_name (find_table (self, NULL, topic)));
      return FALSE;
    }

  return _pb_run_produce (self->run, topic, partition, key, value, owned_headers, error);
}
