/* pb-engine.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-engine.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gi18n-lib.h>
#include <glib-unix.h>
#include <librdkafka/rdkafka.h>

#include "pb-enum-types.h"
#include "pb-error.h"
#include "pb-handler-private.h"
#include "pb-kafka-private.h"
#include "pb-kafka-source-private.h"
#include "pb-message-private.h"
#include "pb-mock-cluster.h"

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
#define DEFAULT_ASSIGNOR            "cooperative-sticky"
#define DEFAULT_COMMIT_INTERVAL_MS  5000
#define DEFAULT_REVOKE_TIMEOUT_MS   10000
#define DEFAULT_STOP_TIMEOUT_MS     30000
#define MOCK_PREFIX                 "mock://"

/* A dispatch hands control back to the main loop after this long. */
#define DISPATCH_BUDGET_US          10000
#define DISPATCH_CHECK_MASK         63

/* A partition whose queue of polled records reaches HIGH is paused until
 * the queue is down to LOW. */
#define BACKPRESSURE_HIGH           5000
#define BACKPRESSURE_LOW            1000

/* Per-record warnings: at most this many a second. */
#define WARNINGS_PER_SECOND         10

/* A revoked partition's final commit is retried this often. */
#define REVOKE_COMMIT_INTERVAL_MS   200

typedef enum
{
  PARTITION_UNASSIGNED,
  PARTITION_ASSIGNED,
  PARTITION_REVOKING,
} PartitionState;

typedef enum
{
  PAUSE_STEP         = 1 << 0,
  PAUSE_BACKPRESSURE = 1 << 1,
  PAUSE_RETRY        = 1 << 2,
  PAUSE_RESTORE      = 1 << 3,
  PAUSE_DESERIALIZER = 1 << 4,
  PAUSE_USER         = 1 << 5,
} PauseReasons;

/* Reasons that belong to one assignment and end with it. */
#define PAUSE_TRANSIENT (PAUSE_BACKPRESSURE | PAUSE_RETRY | PAUSE_DESERIALIZER)

typedef struct _Topic     Topic;
typedef struct _Partition Partition;
typedef struct _Handling  Handling;

struct _Topic
{
  const char       *name;        /* interned: messages point to it */
  PbHandler        *handler;     /* owned by PbEngine.handlers */
  PbHandlerClass   *klass;
  PbHandlerVfuncs   vfuncs;

  /* Valid during a run */
  rd_kafka_topic_t *rkt;
  GPtrArray        *partitions;  /* Partition, indexed by partition id */
};

struct _Partition
{
  Topic          *topic;
  int             id;
  PartitionState  state;
  guint           epoch;

  GQueue          fifo;          /* rd_kafka_message_t: polled, not handled */
  Handling       *current;       /* the asynchronous handling in flight */
  gint64          committable;   /* the offset to commit next, or -1 */
  gint64          stored;        /* the offset last stored, or -1 */
  gint64          committed;     /* the offset last committed, or -1 */
  GCancellable   *cancellable;
  PauseReasons    pause_reasons;

  GList           ready_link;
  GList           dirty_link;
  guint           in_ready : 1;
  guint           in_dirty : 1;
};

/* An asynchronous handling: handle() or handle_async() overridden. It does
 * not own the engine: a running engine is kept alive by its run's task,
 * and every handling still in flight is abandoned when the run ends. */
struct _Handling
{
  gatomicrefcount  ref_count;
  PbEngine        *engine;       /* valid while not abandoned */
  GMainContext    *context;
  Partition       *partition;    /* valid while not abandoned */
  guint            epoch;
  Topic           *topic;
  gint64           offset;
  PbMessage       *message;      /* the original record */
  PbMessage       *handled;      /* what did_receive_message() returned */
  GObject         *handler_context;
  GSource         *timeout;
  guint            completed : 1;
  guint            abandoned : 1;
  guint            message_returned : 1;
};

typedef struct
{
  char *key;
  char *value;
} ConfigEntry;

typedef struct
{
  guint     signal_id;
  GVariant *partitions;
  gboolean  lost;
} PendingEmission;

struct _PbEngine
{
  GObject          parent_instance;

  /* Configuration */
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
  GPtrArray       *config;               /* ConfigEntry */
  PbMockCluster   *mock_cluster;
  GError          *mock_error;
  guint            fail_on_exception : 1;
  guint            handle_signals : 1;

  GPtrArray       *handlers;             /* PbHandler */
  GPtrArray       *topics;               /* Topic */

  PbEngineState    state;

  /* Run */
  GMutex           lock;                 /* guards context, for stop() */
  GMainContext    *context;
  GTask           *task;
  PbKafkaHandle   *handle;
  rd_kafka_t      *rk;
  PbMessagePool   *pool;
  GSource         *consumer_source;
  GSource         *close_source;
  rd_kafka_queue_t *close_queue;         /* owned by close_source */
  GSource         *cancel_source;
  GSource         *sigint_source;
  GSource         *sigterm_source;
  GSource         *stop_timeout;
  GSource         *revoke_timeout;
  GSource         *revoke_retry;
  GSource         *first_assign_timeout;
  GSource         *finish_source;
  GSource         *pump_source;
  GError          *error;

  gboolean         cooperative;
  gboolean         sticky;
  guint            session_timeout_ms;

  Topic           *last_topic;           /* lookup cache */
  rd_kafka_topic_t *last_rkt;

  GQueue           ready;                /* Partition with records, idle */
  GQueue           dirty;                /* Partition with offsets to store */
  guint            in_flight;
  guint            handler_depth;        /* handler code on the stack */
  rd_kafka_topic_partition_list_t *revoking;
  GQueue           pending_emissions;

  gint64           warning_second;
  guint            warnings_in_second;
  guint            warnings_suppressed;

  guint            in_poll : 1;
  guint            pumping : 1;
  guint            stop_requested : 1;
  guint            closing : 1;
  guint            assigned_once : 1;
  guint            first_assign_wait_over : 1;
  guint            all_brokers_down : 1;
  guint            stop_timed_out : 1;
  guint            revoke_timed_out : 1;
  guint            revoke_refused : 1;
  guint            notify_state_pending : 1;
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
  PROP_STATE,
  N_PROPS
};

enum {
  PARTITIONS_ASSIGNED,
  PARTITIONS_REVOKED,
  N_SIGNALS
};

G_DEFINE_FINAL_TYPE (PbEngine, pb_engine, G_TYPE_OBJECT)

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];
static GQuark handling_quark;

static void request_stop   (PbEngine *self);
static void check_stop     (PbEngine *self);
static void check_revoke   (PbEngine *self);
static void pump           (PbEngine *self);
static void flush_offsets  (PbEngine *self);
static void flush_pending  (PbEngine *self);

/* Logging */

static gboolean
warning_allowed (PbEngine *self)
{
  gint64 second = g_get_monotonic_time () / G_USEC_PER_SEC;

  if (second != self->warning_second)
    {
      if (self->warnings_suppressed > 0)
        g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                          "MESSAGE", "%u similar warnings suppressed",
                          self->warnings_suppressed);
      self->warning_second = second;
      self->warnings_in_second = 0;
      self->warnings_suppressed = 0;
    }

  if (self->warnings_in_second >= WARNINGS_PER_SECOND)
    {
      self->warnings_suppressed++;
      return FALSE;
    }

  self->warnings_in_second++;
  return TRUE;
}

G_GNUC_PRINTF (6, 7)
static void
log_record (PbEngine       *self,
            GLogLevelFlags  level,
            Topic          *topic,
            int             partition,
            gint64          offset,
            const char     *format,
            ...)
{
  g_autofree char *message = NULL;
  char partition_str[16];
  char offset_str[24];
  va_list args;
  GLogField fields[] = {
    { "PRIORITY", NULL, -1 },
    { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
    { "MESSAGE", NULL, -1 },
    { "PAPERBOY_TOPIC", topic->name, -1 },
    { "PAPERBOY_PARTITION", partition_str, -1 },
    { "PAPERBOY_OFFSET", offset_str, -1 },
    { "PAPERBOY_HANDLER", G_OBJECT_TYPE_NAME (topic->handler), -1 },
  };

  if (level == G_LOG_LEVEL_WARNING && !warning_allowed (self))
    return;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_snprintf (partition_str, sizeof partition_str, "%d", partition);
  g_snprintf (offset_str, sizeof offset_str, "%" G_GINT64_FORMAT, offset);

  fields[0].value = level == G_LOG_LEVEL_WARNING ? "4" : level == G_LOG_LEVEL_MESSAGE ? "5" : "7";
  fields[2].value = message;

  g_log_structured_array (level, fields, G_N_ELEMENTS (fields));
}

/* State */

static void
set_state (PbEngine      *self,
           PbEngineState  state)
{
  if (self->state == state)
    return;

  self->state = state;

  /* Never emit from inside a librdkafka callback. */
  if (self->in_poll)
    self->notify_state_pending = TRUE;
  else
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static gboolean
is_running (PbEngine *self)
{
  return self->task != NULL;
}

/* Topics and partitions */

static Topic *
find_topic (PbEngine   *self,
            const char *name)
{
  for (guint i = 0; i < self->topics->len; i++)
    {
      Topic *topic = g_ptr_array_index (self->topics, i);

      if (strcmp (topic->name, name) == 0)
        return topic;
    }

  return NULL;
}

static void
topic_free (Topic *topic)
{
  g_assert (topic->partitions == NULL);
  g_assert (topic->rkt == NULL);

  g_free (topic);
}

static void
partition_free (Partition *p)
{
  rd_kafka_message_t *rkm;

  while ((rkm = g_queue_pop_head (&p->fifo)) != NULL)
    rd_kafka_message_destroy (rkm);

  g_clear_object (&p->cancellable);
  g_free (p);
}

static Partition *
get_partition (Topic *topic,
               int    id)
{
  Partition *p;

  if ((guint)id >= topic->partitions->len)
    g_ptr_array_set_size (topic->partitions, id + 1);

  p = g_ptr_array_index (topic->partitions, id);
  if (p == NULL)
    {
      p = g_new0 (Partition, 1);
      p->topic = topic;
      p->id = id;
      p->committable = -1;
      p->stored = -1;
      p->committed = -1;
      p->ready_link.data = p;
      p->dirty_link.data = p;
      g_ptr_array_index (topic->partitions, id) = p;
    }

  return p;
}

static Partition *
find_partition (PbEngine   *self,
                const char *topic_name,
                int         id)
{
  Topic *topic = find_topic (self, topic_name);

  if (topic == NULL || topic->partitions == NULL || id < 0 ||
      (guint)id >= topic->partitions->len)
    return NULL;

  return g_ptr_array_index (topic->partitions, id);
}

static inline Partition *
lookup_partition (PbEngine           *self,
                  rd_kafka_message_t *rkm)
{
  Topic *topic;

  if (G_LIKELY (rkm->rkt == self->last_rkt))
    topic = self->last_topic;
  else
    {
      topic = NULL;
      for (guint i = 0; i < self->topics->len; i++)
        {
          Topic *candidate = g_ptr_array_index (self->topics, i);

          if (candidate->rkt == rkm->rkt)
            {
              topic = candidate;
              break;
            }
        }

      if (topic == NULL)
        topic = find_topic (self, rd_kafka_topic_name (rkm->rkt));

      self->last_rkt = rkm->rkt;
      self->last_topic = topic;
    }

  if (G_UNLIKELY (topic == NULL || (guint)rkm->partition >= topic->partitions->len))
    return NULL;

  return g_ptr_array_index (topic->partitions, rkm->partition);
}

static void
ready_add (PbEngine  *self,
           Partition *p)
{
  if (!p->in_ready)
    {
      g_queue_push_tail_link (&self->ready, &p->ready_link);
      p->in_ready = TRUE;
    }
}

static void
ready_remove (PbEngine  *self,
              Partition *p)
{
  if (p->in_ready)
    {
      g_queue_unlink (&self->ready, &p->ready_link);
      p->in_ready = FALSE;
    }
}

static inline void
mark_handled (PbEngine  *self,
              Partition *p,
              gint64     offset)
{
  p->committable = offset + 1;

  if (!p->in_dirty)
    {
      g_queue_push_tail_link (&self->dirty, &p->dirty_link);
      p->in_dirty = TRUE;
    }
}

static void
drop_queued (PbEngine  *self,
             Partition *p)
{
  rd_kafka_message_t *rkm;

  ready_remove (self, p);

  while ((rkm = g_queue_pop_head (&p->fifo)) != NULL)
    rd_kafka_message_destroy (rkm);
}

static void
set_librdkafka_paused (PbEngine  *self,
                       Partition *p,
                       gboolean   paused)
{
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new (1);

  rd_kafka_topic_partition_list_add (list, p->topic->name, p->id);

  if (paused)
    rd_kafka_pause_partitions (self->rk, list);
  else
    rd_kafka_resume_partitions (self->rk, list);

  rd_kafka_topic_partition_list_destroy (list);
}

/* librdkafka's pause flag is set exactly when the reason set is not empty;
 * it is only touched when the set goes from empty to not or back. */
static void
add_pause_reason (PbEngine     *self,
                  Partition    *p,
                  PauseReasons  reason)
{
  gboolean was_paused = p->pause_reasons != 0;

  p->pause_reasons |= reason;

  if (!was_paused && p->state == PARTITION_ASSIGNED)
    set_librdkafka_paused (self, p, TRUE);
}

static void
remove_pause_reason (PbEngine     *self,
                     Partition    *p,
                     PauseReasons  reason)
{
  gboolean was_paused = p->pause_reasons != 0;

  p->pause_reasons &= ~reason;

  if (was_paused && p->pause_reasons == 0 && p->state == PARTITION_ASSIGNED)
    set_librdkafka_paused (self, p, FALSE);
}

static GVariant *
partitions_to_variant (const rd_kafka_topic_partition_list_t *partitions)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(si)"));

  for (int i = 0; partitions != NULL && i < partitions->cnt; i++)
    g_variant_builder_add (&builder, "(si)",
                           partitions->elems[i].topic,
                           (gint32)partitions->elems[i].partition);

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
emit_later (PbEngine                              *self,
            guint                                  signal_id,
            const rd_kafka_topic_partition_list_t *partitions,
            gboolean                               lost)
{
  PendingEmission *emission = g_new0 (PendingEmission, 1);

  emission->signal_id = signal_id;
  emission->partitions = partitions_to_variant (partitions);
  emission->lost = lost;

  g_queue_push_tail (&self->pending_emissions, emission);

  if (!self->in_poll)
    flush_pending (self);
}

static void
flush_pending (PbEngine *self)
{
  PendingEmission *emission;

  g_object_ref (self);

  if (self->notify_state_pending)
    {
      self->notify_state_pending = FALSE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }

  while ((emission = g_queue_pop_head (&self->pending_emissions)) != NULL)
    {
      if (emission->signal_id == signals[PARTITIONS_ASSIGNED])
        g_signal_emit (self, emission->signal_id, 0, emission->partitions);
      else
        g_signal_emit (self, emission->signal_id, 0, emission->partitions, emission->lost);

      g_variant_unref (emission->partitions);
      g_free (emission);
    }

  g_object_unref (self);
}

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* Failures */

static void
fail (PbEngine *self,
      GError   *error)
{
  if (self->error == NULL)
    self->error = error;
  else
    g_error_free (error);

  request_stop (self);
}

/* Handling */

static Handling *
handling_ref (Handling *h)
{
  g_atomic_ref_count_inc (&h->ref_count);
  return h;
}

static void
handling_release_objects (Handling *h)
{
  g_clear_object (&h->handler_context);
  g_clear_object (&h->handled);

  if (h->message_returned)
    g_clear_object (&h->message);
  else if (h->message != NULL)
    {
      _pb_message_pool_return (h->engine->pool, g_steal_pointer (&h->message));
      h->message_returned = TRUE;
    }
}

static void
handling_unref (Handling *h)
{
  if (g_atomic_ref_count_dec (&h->ref_count))
    {
      g_assert (h->timeout == NULL);
      handling_release_objects (h);
      g_main_context_unref (h->context);
      g_free (h);
    }
}

/* Stops waiting for @h: its partition and the in-flight slot are free
 * again, and whatever it returns later is discarded. */
static void
abandon (PbEngine *self,
         Handling *h)
{
  Partition *p = h->partition;

  g_assert (!h->abandoned);

  log_record (self, G_LOG_LEVEL_MESSAGE, h->topic, p->id, h->offset,
              "Abandoning the handling of %s[%d]@%" G_GINT64_FORMAT,
              h->topic->name, p->id, h->offset);

  h->abandoned = TRUE;
  h->engine = NULL;
  h->partition = NULL;
  p->current = NULL;
  self->in_flight--;

  if (p->cancellable != NULL)
    g_cancellable_cancel (p->cancellable);

  /* Give the engine's reference back now: the pool detaches the message
   * when the run ends, which it may do before the handler lets go. */
  if (!h->message_returned)
    {
      _pb_message_pool_return (self->pool, g_object_ref (h->message));
      h->message_returned = TRUE;
    }

  clear_source (&h->timeout);
}

/* Runs on_error() and on_finished_handling() and decides what the record's
 * fate is. Takes ownership of @handled, @context and @error, and of the
 * engine's reference to @message. */
static void
finish_handling (PbEngine  *self,
                 Partition *p,
                 PbMessage *message,
                 PbMessage *handled,
                 GObject   *context,
                 GError    *error)
{
  Topic *topic = p->topic;
  PbHandler *handler = topic->handler;
  PbMessage *subject = handled != NULL ? handled : message;
  PbErrorAction action = PB_ERROR_ACTION_CONTINUE;
  gint64 offset = pb_message_get_offset (message);

  if (error != NULL)
    action = topic->klass->on_error (handler, error, subject, context);

  if (topic->vfuncs & PB_HANDLER_VFUNC_ON_FINISHED_HANDLING)
    {
      g_autoptr(GPtrArray) messages = g_ptr_array_new_full (1, g_object_unref);
      GError *finish_error = NULL;
      gboolean ok;

      g_ptr_array_add (messages, g_object_ref (subject));
      ok = topic->klass->on_finished_handling (handler, messages, context, &finish_error);
      if (!ok && finish_error == NULL)
        finish_error = _pb_handler_missing_error_new (handler, "on_finished_handling");

      if (finish_error != NULL)
        {
          if (error == NULL)
            {
              error = finish_error;
              action = topic->klass->on_error (handler, error, subject, context);
            }
          else
            {
              log_record (self, G_LOG_LEVEL_WARNING, topic, p->id, offset,
                          "%s.on_finished_handling() failed after a failure: %s",
                          G_OBJECT_TYPE_NAME (handler), finish_error->message);
              g_error_free (finish_error);
            }
        }
    }

  if (error == NULL)
    mark_handled (self, p, offset);
  else if (action == PB_ERROR_ACTION_STOP && self->fail_on_exception)
    {
      log_record (self, G_LOG_LEVEL_MESSAGE, topic, p->id, offset,
                  "Stopping: handling %s[%d]@%" G_GINT64_FORMAT " failed: %s",
                  topic->name, p->id, offset, error->message);
      fail (self, g_steal_pointer (&error));
    }
  else
    {
      log_record (self,
                  action == PB_ERROR_ACTION_STOP ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_DEBUG,
                  topic, p->id, offset,
                  "Handling %s[%d]@%" G_GINT64_FORMAT " failed: %s",
                  topic->name, p->id, offset, error->message);
      mark_handled (self, p, offset);
    }

  g_clear_error (&error);
  g_clear_object (&context);
  g_clear_object (&handled);
  _pb_message_pool_return (self->pool, message);
}

static void
complete_async (Handling *h,
                GError   *error)
{
  PbEngine *self = h->engine;
  Partition *p = h->partition;

  /* Results of abandoned handlings are discarded: the handler was told
   * through its cancellable. */
  if (h->completed || h->abandoned)
    {
      h->completed = TRUE;
      g_clear_error (&error);
      return;
    }

  h->completed = TRUE;
  clear_source (&h->timeout);

  g_object_ref (self);

  p->current = NULL;
  self->in_flight--;

  if (h->epoch != p->epoch ||
      (error != NULL && p->state != PARTITION_ASSIGNED &&
       g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)))
    {
      /* Cancelled because the partition is going away: not handled, and
       * not a failure either; the next owner handles the record again. */
      g_clear_error (&error);
      handling_release_objects (h);
    }
  else
    {
      h->message_returned = TRUE;
      self->handler_depth++;
      finish_handling (self, p,
                       g_steal_pointer (&h->message),
                       g_steal_pointer (&h->handled),
                       g_steal_pointer (&h->handler_context),
                       error);
      self->handler_depth--;
    }

  if (p->state == PARTITION_ASSIGNED && p->fifo.length > 0)
    ready_add (self, p);

  pump (self);
  flush_offsets (self);
  check_revoke (self);
  check_stop (self);

  g_object_unref (self);
}

static void
handle_task_done_cb (GObject      *source_object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Handling *h = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error) && error == NULL)
    error = _pb_handler_missing_error_new (PB_HANDLER (source_object), "handle");

  complete_async (h, error);
}

static void
handle_async_done_cb (GObject      *source_object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Handling *h = user_data;
  PbHandler *handler = PB_HANDLER (source_object);
  GError *error = NULL;

  if (!PB_HANDLER_GET_CLASS (handler)->handle_finish (handler, result, &error) && error == NULL)
    error = _pb_handler_missing_error_new (handler, "handle_finish");

  complete_async (h, error);
  handling_unref (h);
}

static gboolean
handling_dropped_cb (gpointer user_data)
{
  Handling *h = user_data;

  if (!h->completed && !h->abandoned)
    complete_async (h, g_error_new (PB_ERROR, PB_ERROR_HANDLER,
                                    _("%s.handle() dropped its task without returning a result"),
                                    G_OBJECT_TYPE_NAME (h->topic->handler)));

  return G_SOURCE_REMOVE;
}

/* The task's qdata holds a reference to the handling and is released when
 * the task is finalized: after its callback ran, or when it was dropped
 * without a result, which is reported from an idle since this may run in
 * a binding's garbage collector. */
static void
handling_task_notify (gpointer data)
{
  Handling *h = data;

  if (!h->completed && !h->abandoned)
    _pb_invoke_later (h->context, handling_dropped_cb, handling_ref (h),
                      (GDestroyNotify) handling_unref);

  handling_unref (h);
}

static gboolean
handling_timeout_cb (gpointer user_data)
{
  Handling *h = user_data;
  PbEngine *self = h->engine;
  Partition *p = h->partition;

  g_clear_pointer (&h->timeout, g_source_unref);

  /* Tell the handler, and give the partition a fresh cancellable. */
  if (p != NULL && p->cancellable != NULL)
    {
      g_cancellable_cancel (p->cancellable);
      g_set_object (&p->cancellable, g_cancellable_new ());
      g_object_unref (p->cancellable);
    }

  complete_async (h, g_error_new (PB_ERROR, PB_ERROR_HANDLER,
                                  _("%s did not finish handling the record within %u ms"),
                                  G_OBJECT_TYPE_NAME (h->topic->handler),
                                  self->handling_timeout_ms));

  return G_SOURCE_REMOVE;
}

static void
start_async (PbEngine  *self,
             Partition *p,
             PbMessage *message,
             PbMessage *handled,
             GObject   *context)
{
  Topic *topic = p->topic;
  PbHandler *handler = topic->handler;
  Handling *h;

  h = g_new0 (Handling, 1);
  g_atomic_ref_count_init (&h->ref_count);
  h->engine = self;
  h->context = g_main_context_ref (self->context);
  h->partition = p;
  h->epoch = p->epoch;
  h->topic = topic;
  h->offset = pb_message_get_offset (message);
  h->message = message;
  h->handled = handled;
  h->handler_context = context;

  p->current = h;
  self->in_flight++;

  if (self->handling_timeout_ms > 0)
    {
      h->timeout = g_timeout_source_new (self->handling_timeout_ms);
      g_source_set_static_name (h->timeout, "[paperboy] handling timeout");
      g_source_set_callback (h->timeout, handling_timeout_cb, handling_ref (h),
                             (GDestroyNotify) handling_unref);
      g_source_attach (h->timeout, self->context);
    }

  if (topic->vfuncs & PB_HANDLER_VFUNC_HANDLE_ASYNC)
    {
      topic->klass->handle_async (handler, handled, context, p->cancellable,
                                  handle_async_done_cb, handling_ref (h));
    }
  else
    {
      GTask *task = g_task_new (handler, p->cancellable, handle_task_done_cb, h);
      GError *error = NULL;

      g_task_set_check_cancellable (task, FALSE);
      g_object_set_qdata_full (G_OBJECT (task), handling_quark, handling_ref (h),
                               handling_task_notify);

      if (!topic->klass->handle (handler, handled, context, task, &error))
        {
          if (error == NULL)
            error = _pb_handler_missing_error_new (handler, "handle");
          complete_async (h, error);
        }

      g_object_unref (task);
    }

  handling_unref (h);
}

/* Everything but the common case: some virtual function besides on_message
 * and on_tombstone is overridden. */
static void
handle_message_full (PbEngine  *self,
                     Partition *p,
                     PbMessage *message)
{
  Topic *topic = p->topic;
  PbHandler *handler = topic->handler;
  PbHandlerClass *klass = topic->klass;
  PbMessage *handled;
  GObject *context = NULL;
  GError *error = NULL;
  gboolean ok;

  if (topic->vfuncs & PB_HANDLER_VFUNC_DEFINE_CONTEXT)
    {
      context = klass->define_context (handler, &error);
      if (error != NULL)
        {
          finish_handling (self, p, message, NULL, context, error);
          return;
        }
    }

  if (topic->vfuncs & PB_HANDLER_VFUNC_DID_RECEIVE_MESSAGE)
    {
      handled = klass->did_receive_message (handler, message, context, &error);
      if (handled == NULL)
        {
          /* NULL without an error skips the record. */
          finish_handling (self, p, message, NULL, context, error);
          return;
        }

      if (error != NULL)
        {
          g_critical ("%s.did_receive_message() returned a message but set an error: %s",
                      G_OBJECT_TYPE_NAME (handler), error->message);
          g_clear_error (&error);
        }
    }
  else
    handled = g_object_ref (message);

  if (topic->vfuncs & (PB_HANDLER_VFUNC_HANDLE | PB_HANDLER_VFUNC_HANDLE_ASYNC))
    {
      start_async (self, p, message, handled, context);
      return;
    }

  if (pb_message_is_tombstone (handled))
    ok = klass->on_tombstone (handler, handled, context, &error);
  else
    ok = klass->on_message (handler, handled, context, &error);

  if (!ok && error == NULL)
    error = _pb_handler_missing_error_new (handler,
                                           pb_message_is_tombstone (handled)
                                           ? "on_tombstone" : "on_message");
  else if (ok)
    g_clear_error (&error);

  finish_handling (self, p, message, handled, context, error);
}

/* The per-record path. Handlers that only override on_message and
 * on_tombstone cost one message object (usually reused) and one call. */
static inline void
handle_record (PbEngine           *self,
               Partition          *p,
               rd_kafka_message_t *rkm)
{
  Topic *topic = p->topic;
  gint64 offset = rkm->offset;
  PbMessage *message = _pb_message_pool_take (self->pool, rkm, topic->name);
  GError *error = NULL;
  gboolean tombstone;
  gboolean ok;

  /* While handler code runs, the engine does not close: a handler may
   * stop the engine, or even iterate the main context. */
  self->handler_depth++;

  if (topic->vfuncs != 0)
    {
      handle_message_full (self, p, message);
      self->handler_depth--;
      return;
    }

  tombstone = rkm->payload == NULL;
  if (tombstone)
    ok = topic->klass->on_tombstone (topic->handler, message, NULL, &error);
  else
    ok = topic->klass->on_message (topic->handler, message, NULL, &error);

  if (G_LIKELY (ok && error == NULL))
    {
      mark_handled (self, p, offset);
      _pb_message_pool_return (self->pool, message);
      self->handler_depth--;
      return;
    }

  if (!ok && error == NULL)
    error = _pb_handler_missing_error_new (topic->handler,
                                           tombstone ? "on_tombstone" : "on_message");
  else if (ok)
    g_clear_error (&error);

  finish_handling (self, p, message, g_object_ref (message), NULL, error);
  self->handler_depth--;
}

static gboolean
pump_cb (gpointer user_data)
{
  PbEngine *self = user_data;

  g_clear_pointer (&self->pump_source, g_source_unref);
  pump (self);
  flush_offsets (self);
  check_revoke (self);
  check_stop (self);

  return G_SOURCE_REMOVE;
}

/* Runs the records queued behind other handlings, within a time budget;
 * what is left continues from an idle. Never inside a librdkafka callback:
 * the dispatch that polled pumps afterwards. */
static void
pump (PbEngine *self)
{
  gint64 start;
  guint n = 0;

  if (self->pumping || self->in_poll || self->ready.length == 0)
    return;

  self->pumping = TRUE;
  start = g_get_monotonic_time ();

  while (!self->stop_requested &&
         self->in_flight < self->max_in_flight &&
         self->ready.length > 0)
    {
      Partition *p = g_queue_peek_head (&self->ready);
      rd_kafka_message_t *rkm;

      if ((++n & DISPATCH_CHECK_MASK) == 0 &&
          g_get_monotonic_time () - start > DISPATCH_BUDGET_US)
        {
          if (self->pump_source == NULL)
            {
              self->pump_source = g_idle_source_new ();
              g_source_set_priority (self->pump_source, self->priority);
              g_source_set_static_name (self->pump_source, "[paperboy] queued records");
              g_source_set_callback (self->pump_source, pump_cb, self, NULL);
              g_source_attach (self->pump_source, self->context);
            }
          break;
        }

      ready_remove (self, p);
      rkm = g_queue_pop_head (&p->fifo);

      if ((p->pause_reasons & PAUSE_BACKPRESSURE) && p->fifo.length <= BACKPRESSURE_LOW)
        remove_pause_reason (self, p, PAUSE_BACKPRESSURE);

      handle_record (self, p, rkm);

      if (p->current == NULL && p->fifo.length > 0 && p->state == PARTITION_ASSIGNED)
        ready_add (self, p);
    }

  self->pumping = FALSE;
}

static void
flush_offsets (PbEngine *self)
{
  rd_kafka_topic_partition_list_t *list;
  rd_kafka_resp_err_t err;
  Partition *p;

  if (self->dirty.length == 0 || self->rk == NULL)
    return;

  list = rd_kafka_topic_partition_list_new (self->dirty.length);

  while ((p = g_queue_peek_head (&self->dirty)) != NULL)
    {
      g_queue_unlink (&self->dirty, &p->dirty_link);
      p->in_dirty = FALSE;

      if (p->state != PARTITION_UNASSIGNED && p->committable > p->stored)
        {
          rd_kafka_topic_partition_list_add (list, p->topic->name, p->id)->offset = p->committable;
          p->stored = p->committable;
        }
    }

  if (list->cnt > 0)
    {
      err = rd_kafka_offsets_store (self->rk, list);

      /* _STATE means the partition is no longer assigned: nothing to do. */
      for (int i = 0; err != RD_KAFKA_RESP_ERR_NO_ERROR && i < list->cnt; i++)
        if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR &&
            list->elems[i].err != RD_KAFKA_RESP_ERR__STATE)
          g_warning ("Could not store the offset of %s[%d]: %s",
                     list->elems[i].topic, (int)list->elems[i].partition,
                     rd_kafka_err2str (list->elems[i].err));
    }

  rd_kafka_topic_partition_list_destroy (list);
}

/* Rebalances. The callback only records what happened: it never calls a
 * handler nor emits a signal, and a revocation is acknowledged (unassigned)
 * only once the revoked partitions' in-flight handling ended. */

static void
on_assign (PbEngine                        *self,
           rd_kafka_topic_partition_list_t *partitions)
{
  rd_kafka_topic_partition_list_t *paused;
  rd_kafka_topic_partition_list_t *resumed;
  rd_kafka_error_t *kerror = NULL;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

  if (self->cooperative)
    kerror = rd_kafka_incremental_assign (self->rk, partitions);
  else
    err = rd_kafka_assign (self->rk, partitions);

  if (kerror != NULL || err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      GError *error = NULL;

      if (kerror != NULL)
        {
          g_set_error (&error, PB_ERROR, PB_ERROR_KAFKA,
                       _("Could not take the assigned partitions: %s"),
                       rd_kafka_error_string (kerror));
          rd_kafka_error_destroy (kerror);
        }
      else
        _pb_kafka_set_error (&error, err, _("Could not take the assigned partitions"));

      fail (self, error);
      return;
    }

  paused = rd_kafka_topic_partition_list_new (partitions->cnt);
  resumed = rd_kafka_topic_partition_list_new (partitions->cnt);

  for (int i = 0; i < partitions->cnt; i++)
    {
      Topic *topic = find_topic (self, partitions->elems[i].topic);
      Partition *p;

      if (topic == NULL)
        {
          g_warning ("Assigned %s[%d], which no handler handles",
                     partitions->elems[i].topic, (int)partitions->elems[i].partition);
          continue;
        }

      p = get_partition (topic, partitions->elems[i].partition);
      p->state = PARTITION_ASSIGNED;
      p->epoch++;
      p->committable = -1;
      p->stored = -1;
      p->committed = -1;
      p->pause_reasons &= ~PAUSE_TRANSIENT;
      g_set_object (&p->cancellable, NULL);
      p->cancellable = g_cancellable_new ();

      /* librdkafka keeps a partition's pause flag across revocation and
       * re-assignment: set it explicitly either way. A stopping engine
       * fetches nothing more. */
      rd_kafka_topic_partition_list_add (p->pause_reasons != 0 || self->stop_requested
                                         ? paused : resumed,
                                         topic->name, p->id);
    }

  if (paused->cnt > 0)
    rd_kafka_pause_partitions (self->rk, paused);
  if (resumed->cnt > 0)
    rd_kafka_resume_partitions (self->rk, resumed);

  rd_kafka_topic_partition_list_destroy (paused);
  rd_kafka_topic_partition_list_destroy (resumed);

  self->assigned_once = TRUE;
  if (self->state == PB_ENGINE_STATE_JOINING)
    set_state (self, PB_ENGINE_STATE_RUNNING);

  g_debug ("Assigned %d partitions", partitions->cnt);
  if (partitions->cnt > 0)
    emit_later (self, signals[PARTITIONS_ASSIGNED], partitions, FALSE);
}

static void
unassign (PbEngine                        *self,
          rd_kafka_topic_partition_list_t *partitions)
{
  rd_kafka_error_t *kerror = NULL;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

  if (self->cooperative)
    kerror = rd_kafka_incremental_unassign (self->rk, partitions);
  else
    err = rd_kafka_assign (self->rk, NULL);

  if (kerror != NULL)
    {
      g_warning ("Could not give up the revoked partitions: %s",
                 rd_kafka_error_string (kerror));
      rd_kafka_error_destroy (kerror);
    }
  else if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    g_warning ("Could not give up the revoked partitions: %s", rd_kafka_err2str (err));
}

static void
release_partition (PbEngine  *self,
                   Partition *p)
{
  drop_queued (self, p);

  if (p->current != NULL)
    abandon (self, p->current);

  if (p->cancellable != NULL)
    g_cancellable_cancel (p->cancellable);

  p->state = PARTITION_UNASSIGNED;
  p->epoch++;
}

static void
on_revoke (PbEngine                        *self,
           rd_kafka_topic_partition_list_t *partitions)
{
  if (self->revoking == NULL)
    self->revoking = rd_kafka_topic_partition_list_new (partitions->cnt);

  for (int i = 0; i < partitions->cnt; i++)
    {
      Partition *p = find_partition (self, partitions->elems[i].topic,
                                     partitions->elems[i].partition);

      rd_kafka_topic_partition_list_add (self->revoking,
                                         partitions->elems[i].topic,
                                         partitions->elems[i].partition);

      if (p == NULL || p->state != PARTITION_ASSIGNED)
        continue;

      p->state = PARTITION_REVOKING;
      drop_queued (self, p);
      if (p->cancellable != NULL)
        g_cancellable_cancel (p->cancellable);
    }

  g_debug ("Revoking %d partitions", partitions->cnt);
  check_revoke (self);
}

static gboolean
revoke_timeout_cb (gpointer user_data)
{
  PbEngine *self = user_data;

  g_clear_pointer (&self->revoke_timeout, g_source_unref);
  self->revoke_timed_out = TRUE;
  check_revoke (self);

  return G_SOURCE_REMOVE;
}

static gboolean
revoke_retry_cb (gpointer user_data)
{
  PbEngine *self = user_data;

  g_clear_pointer (&self->revoke_retry, g_source_unref);
  check_revoke (self);

  return G_SOURCE_REMOVE;
}

static GSource *
add_timeout (PbEngine    *self,
             guint        interval_ms,
             const char  *name,
             GSourceFunc  func)
{
  GSource *source = g_timeout_source_new (interval_ms);

  g_source_set_static_name (source, name);
  g_source_set_callback (source, func, self, NULL);
  g_source_attach (source, self->context);

  return source;
}

/* Commits the final offsets of the revoked partitions that are not
 * committed yet, and says whether some still are not. The partitions are
 * given up only once they are: the next owner then starts right after the
 * last record handled here. librdkafka's own commit on unassign is not
 * enough: a broker may refuse it while the group rebalances (the mock
 * does), and it is not retried. A commit goes out at most every
 * REVOKE_COMMIT_INTERVAL_MS, until revoke-timeout-ms. */
static gboolean
commit_revoked (PbEngine                              *self,
                const rd_kafka_topic_partition_list_t *revoking)
{
  rd_kafka_topic_partition_list_t *offsets;
  rd_kafka_resp_err_t err;

  offsets = rd_kafka_topic_partition_list_new (revoking->cnt);
  for (int i = 0; i < revoking->cnt; i++)
    {
      Partition *p = find_partition (self, revoking->elems[i].topic, revoking->elems[i].partition);

      if (p != NULL && p->state == PARTITION_REVOKING && p->committable > p->committed)
        rd_kafka_topic_partition_list_add (offsets, p->topic->name, p->id)->offset = p->committable;
    }

  if (offsets->cnt == 0)
    {
      rd_kafka_topic_partition_list_destroy (offsets);
      return FALSE;
    }

  if (self->revoke_retry == NULL)
    {
      /* The result comes to offset_commit_cb(). */
      err = rd_kafka_commit (self->rk, offsets, TRUE);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        g_debug ("Could not commit the revoked partitions: %s", rd_kafka_err2str (err));

      self->revoke_retry = add_timeout (self, REVOKE_COMMIT_INTERVAL_MS,
                                        "[paperboy] revoke commit", revoke_retry_cb);
    }

  rd_kafka_topic_partition_list_destroy (offsets);

  return TRUE;
}

static void
check_revoke (PbEngine *self)
{
  rd_kafka_topic_partition_list_t *revoking = self->revoking;
  rd_kafka_topic_partition_list_t *handed_over;
  rd_kafka_topic_partition_list_t *uncommitted;
  gboolean busy = FALSE;

  if (revoking == NULL)
    return;

  for (int i = 0; i < revoking->cnt; i++)
    {
      Partition *p = find_partition (self, revoking->elems[i].topic, revoking->elems[i].partition);

      if (p != NULL && p->current != NULL)
        {
          if (!self->revoke_timed_out)
            {
              busy = TRUE;
              break;
            }

          abandon (self, p->current);
        }
    }

  if (!busy)
    {
      flush_offsets (self);
      busy = !self->revoke_timed_out && !self->revoke_refused &&
             commit_revoked (self, revoking);
    }

  if (busy)
    {
      if (self->revoke_timeout == NULL)
        self->revoke_timeout = add_timeout (self, self->revoke_timeout_ms,
                                            "[paperboy] revoke timeout", revoke_timeout_cb);
      return;
    }

  self->revoking = NULL;
  clear_source (&self->revoke_timeout);
  clear_source (&self->revoke_retry);

  unassign (self, revoking);

  /* Those whose final commit the group refused are reported lost: their
   * next owner handles their last records again. */
  handed_over = rd_kafka_topic_partition_list_new (revoking->cnt);
  uncommitted = rd_kafka_topic_partition_list_new (0);
  for (int i = 0; i < revoking->cnt; i++)
    {
      Partition *p = find_partition (self, revoking->elems[i].topic, revoking->elems[i].partition);

      if (self->revoke_refused && p != NULL &&
          p->state == PARTITION_REVOKING && p->committable > p->committed)
        rd_kafka_topic_partition_list_add (uncommitted, revoking->elems[i].topic,
                                           revoking->elems[i].partition);
      else
        rd_kafka_topic_partition_list_add (handed_over, revoking->elems[i].topic,
                                           revoking->elems[i].partition);

      if (p != NULL)
        release_partition (self, p);
    }

  self->revoke_timed_out = FALSE;
  self->revoke_refused = FALSE;

  if (uncommitted->cnt > 0)
    g_message ("The group refused the final commit of %d revoked partitions: "
               "their next owner will handle their last records again",
               uncommitted->cnt);

  if (handed_over->cnt > 0 || uncommitted->cnt == 0)
    emit_later (self, signals[PARTITIONS_REVOKED], handed_over, FALSE);
  if (uncommitted->cnt > 0)
    emit_later (self, signals[PARTITIONS_REVOKED], uncommitted, TRUE);

  rd_kafka_topic_partition_list_destroy (handed_over);
  rd_kafka_topic_partition_list_destroy (uncommitted);
  rd_kafka_topic_partition_list_destroy (revoking);

  pump (self);
}

static void
on_lost (PbEngine                        *self,
         rd_kafka_topic_partition_list_t *partitions)
{
  g_message ("Lost %d partitions: their records will be handled again", partitions->cnt);

  /* A pending revocation is moot now. */
  g_clear_pointer (&self->revoking, rd_kafka_topic_partition_list_destroy);
  clear_source (&self->revoke_timeout);
  clear_source (&self->revoke_retry);
  self->revoke_timed_out = FALSE;
  self->revoke_refused = FALSE;

  for (int i = 0; i < partitions->cnt; i++)
    {
      Partition *p = find_partition (self, partitions->elems[i].topic,
                                     partitions->elems[i].partition);

      if (p != NULL)
        {
          if (p->in_dirty)
            {
              g_queue_unlink (&self->dirty, &p->dirty_link);
              p->in_dirty = FALSE;
            }
          release_partition (self, p);
        }
    }

  unassign (self, partitions);
  emit_later (self, signals[PARTITIONS_REVOKED], partitions, TRUE);
  pump (self);
}

static void
rebalance_cb (rd_kafka_t                      *rk,
              rd_kafka_resp_err_t              err,
              rd_kafka_topic_partition_list_t *partitions,
              void                            *opaque)
{
  PbEngine *self = opaque;

  /* Only an rd_kafka_destroy() that closes the consumer itself, after a
   * failed close, gets here without the engine: just let go. */
  if (self->rk == NULL)
    {
      if (strcmp (rd_kafka_rebalance_protocol (rk), "COOPERATIVE") == 0)
        rd_kafka_error_destroy (rd_kafka_incremental_unassign (rk, partitions));
      else
        rd_kafka_assign (rk, NULL);
      return;
    }

  self->cooperative = strcmp (rd_kafka_rebalance_protocol (rk), "COOPERATIVE") == 0;

  switch ((int)err)
    {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
      on_assign (self, partitions);
      break;

    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
      if (rd_kafka_assignment_lost (rk))
        on_lost (self, partitions);
      else
        on_revoke (self, partitions);
      break;

    default:
      g_warning ("Rebalance failed: %s", rd_kafka_err2str (err));
      if (partitions != NULL)
        on_lost (self, partitions);
      else
        rd_kafka_assign (rk, NULL);
      break;
    }
}

static void
error_cb (rd_kafka_t *rk,
          int         err,
          const char *reason,
          void       *opaque)
{
  PbEngine *self = opaque;

  if (err == RD_KAFKA_RESP_ERR__FATAL)
    {
      char errstr[512];
      rd_kafka_resp_err_t orig = rd_kafka_fatal_error (rk, errstr, sizeof errstr);

      fail (self, g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                               _("Fatal Kafka client error: %s (%s)"),
                               errstr, rd_kafka_err2name (orig)));
      return;
    }

  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    self->all_brokers_down = TRUE;

  if (warning_allowed (self))
    g_warning ("Kafka: %s (%s)", reason, rd_kafka_err2name (err));
}

/* Whether a commit made while a revocation is held can never succeed.
 * The group cannot finish a new rebalance without this member, which
 * rejoins only once it gave the partitions up: a group that moved on
 * (a new generation, this member removed or fenced) will not take the
 * commit, and neither will the 2.0.2 mock while other members rejoin (it
 * answers REBALANCE_IN_PROGRESS where a broker accepts the commit).
 * Waiting longer would only get this member evicted. */
static gboolean
commit_refused (rd_kafka_resp_err_t err)
{
  switch ((int)err)
    {
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
      return TRUE;

    default:
      return FALSE;
    }
}

static void
offset_commit_cb (rd_kafka_t                      *rk,
                  rd_kafka_resp_err_t              err,
                  rd_kafka_topic_partition_list_t *offsets,
                  void                            *opaque)
{
  PbEngine *self = opaque;
  gboolean revoked_partitions = FALSE;
  gboolean refused = FALSE;

  for (int i = 0; offsets != NULL && i < offsets->cnt; i++)
    {
      Partition *p = find_partition (self, offsets->elems[i].topic, offsets->elems[i].partition);

      if (p == NULL)
        continue;

      if (p->state == PARTITION_REVOKING)
        {
          revoked_partitions = TRUE;
          if (commit_refused (err) || commit_refused (offsets->elems[i].err))
            refused = self->revoke_refused = TRUE;
        }

      if (err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          offsets->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          offsets->elems[i].offset >= 0)
        {
          p->committed = MAX (p->committed, offsets->elems[i].offset);
          g_debug ("Committed %s[%d]@%" G_GINT64_FORMAT,
                   offsets->elems[i].topic, (int)offsets->elems[i].partition,
                   (gint64)offsets->elems[i].offset);
        }
    }

  /* Done once every revoked partition is committed. */
  if (revoked_partitions)
    check_revoke (self);

  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
    return;

  /* A commit that fails is retried with the next one; during a rebalance
   * that is expected, and a refused revocation was reported above. */
  if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || refused)
    g_debug ("Could not commit offsets during a rebalance: %s", rd_kafka_err2str (err));
  else if (warning_allowed (self))
    g_warning ("Could not commit offsets: %s", rd_kafka_err2str (err));
}

static void
log_cb (const rd_kafka_t *rk,
        int               level,
        const char       *facility,
        const char       *buf)
{
  _pb_kafka_log (rk, level, facility, buf);
}

static void
consumer_error (PbEngine           *self,
                rd_kafka_message_t *rkm)
{
  const char *topic = rkm->rkt != NULL ? rd_kafka_topic_name (rkm->rkt) : NULL;

  switch ((int)rkm->err)
    {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      break;

    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      fail (self, g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                               _("Topic “%s” cannot be consumed: %s"),
                               topic != NULL ? topic : "?",
                               rd_kafka_message_errstr (rkm)));
      break;

    /* With auto-offset-reset "error", a partition without a valid
     * offset stops being fetched: that is the end of the run. */
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      fail (self, g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                               _("Partition %d of topic “%s” has no offset to start from: %s"),
                               (int)rkm->partition, topic != NULL ? topic : "?",
                               rd_kafka_message_errstr (rkm)));
      break;

    default:
      if (warning_allowed (self))
        g_warning ("Kafka consumer error%s%s: %s",
                   topic != NULL ? " on " : "", topic != NULL ? topic : "",
                   rd_kafka_message_errstr (rkm));
      break;
    }
}

/* The consumer queue's dispatch: polls records in a batch bounded by time,
 * hands each to its handler (or queues it behind its partition's in-flight
 * handling), then stores the offsets of what was handled. */
static gboolean
consumer_dispatch (gpointer user_data)
{
  PbEngine *self = user_data;
  gint64 start = g_get_monotonic_time ();
  guint n = 0;

  g_object_ref (self);

  while (!self->closing)
    {
      rd_kafka_message_t *rkm;
      Partition *p;

      self->in_poll = TRUE;
      rkm = rd_kafka_consumer_poll (self->rk, 0);
      self->in_poll = FALSE;

      if (rkm == NULL)
        break;

      if (G_UNLIKELY (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR))
        {
          consumer_error (self, rkm);
          rd_kafka_message_destroy (rkm);
          continue;
        }

      p = lookup_partition (self, rkm);
      if (G_UNLIKELY (p == NULL || p->state != PARTITION_ASSIGNED || self->stop_requested))
        rd_kafka_message_destroy (rkm);
      else if (G_LIKELY (p->current == NULL && p->fifo.length == 0 &&
                         self->in_flight < self->max_in_flight))
        handle_record (self, p, rkm);
      else
        {
          g_queue_push_tail (&p->fifo, rkm);
          if (p->current == NULL)
            ready_add (self, p);
          if (p->fifo.length >= BACKPRESSURE_HIGH)
            add_pause_reason (self, p, PAUSE_BACKPRESSURE);
        }

      if ((++n & DISPATCH_CHECK_MASK) == 0 &&
          g_get_monotonic_time () - start > DISPATCH_BUDGET_US)
        break;
    }

  pump (self);
  flush_offsets (self);
  flush_pending (self);
  check_revoke (self);
  check_stop (self);

  g_object_unref (self);

  return G_SOURCE_CONTINUE;
}

/* Stopping */

static void finish_run (PbEngine *self);

static gboolean
finish_cb (gpointer user_data)
{
  PbEngine *self = user_data;

  g_clear_pointer (&self->finish_source, g_source_unref);
  finish_run (self);

  return G_SOURCE_REMOVE;
}

/* Handles are destroyed outside any dispatch. */
static void
schedule_finish (PbEngine *self)
{
  if (self->finish_source != NULL)
    return;

  self->finish_source = g_idle_source_new ();
  g_source_set_priority (self->finish_source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (self->finish_source, "[paperboy] finish run");
  g_source_set_callback (self->finish_source, finish_cb, self, NULL);
  g_source_attach (self->finish_source, self->context);
}

/* While closing, librdkafka forwards everything to the close queue, whose
 * rd_kafka_queue_poll() returns rebalances, commits and logs as events
 * instead of calling the callbacks. */
static void
serve_close_event (PbEngine         *self,
                   rd_kafka_event_t *event)
{
  const char *facility;
  const char *text;
  int level;

  switch (rd_kafka_event_type (event))
    {
    case RD_KAFKA_EVENT_LOG:
      if (rd_kafka_event_log (event, &facility, &text, &level) == 0)
        _pb_kafka_log (self->rk, level, facility, text);
      break;

    case RD_KAFKA_EVENT_REBALANCE:
      rebalance_cb (self->rk, rd_kafka_event_error (event),
                    rd_kafka_event_topic_partition_list (event), self);
      break;

    case RD_KAFKA_EVENT_OFFSET_COMMIT:
      offset_commit_cb (self->rk, rd_kafka_event_error (event),
                        rd_kafka_event_topic_partition_list (event), self);
      break;

    case RD_KAFKA_EVENT_ERROR:
      error_cb (self->rk, rd_kafka_event_error (event),
                rd_kafka_event_error_string (event), self);
      break;

    default:
      break;
    }
}

static gboolean
close_dispatch (gpointer user_data)
{
  PbEngine *self = user_data;
  rd_kafka_event_t *event;

  g_object_ref (self);

  for (;;)
    {
      self->in_poll = TRUE;
      event = rd_kafka_queue_poll (self->close_queue, 0);
      if (event != NULL)
        serve_close_event (self, event);
      self->in_poll = FALSE;

      if (event == NULL)
        break;

      rd_kafka_event_destroy (event);
    }

  flush_pending (self);

  if (self->finish_source == NULL && rd_kafka_consumer_closed (self->rk))
    {
      g_debug ("Consumer closed");
      schedule_finish (self);
    }

  g_object_unref (self);

  return G_SOURCE_CONTINUE;
}

static void
begin_close (PbEngine *self)
{
  g_autoptr(GError) error = NULL;
  rd_kafka_error_t *kerror;

  g_debug ("Closing the consumer");

  self->closing = TRUE;

  /* librdkafka forwards the consumer queue to the close queue. */
  _pb_kafka_source_release (self->consumer_source);

  self->close_queue = rd_kafka_queue_new (self->rk);
  self->close_source = _pb_kafka_source_new (self->close_queue, 200, &error);
  if (self->close_source == NULL)
    {
      self->close_queue = NULL;
      g_warning ("Could not watch the consumer while it closes: %s", error->message);
      schedule_finish (self);
      return;
    }

  g_source_set_priority (self->close_source, self->priority);
  g_source_set_callback (self->close_source, close_dispatch, self, NULL);
  g_source_attach (self->close_source, self->context);

  kerror = rd_kafka_consumer_close_queue (self->rk, self->close_queue);
  if (kerror != NULL)
    {
      g_message ("Closing the consumer: %s", rd_kafka_error_string (kerror));
      rd_kafka_error_destroy (kerror);
      schedule_finish (self);
    }
}

static gboolean
first_assign_timeout_cb (gpointer user_data)
{
  PbEngine *self = user_data;

  g_clear_pointer (&self->first_assign_timeout, g_source_unref);
  self->first_assign_wait_over = TRUE;
  check_stop (self);

  return G_SOURCE_REMOVE;
}

/* librdkafka before 2.3.0 aborts when a sticky consumer closes before its
 * first assignment in a group another member just left (#4381). A member
 * that never reached a broker has nothing to wait for. */
static gboolean
must_wait_for_first_assignment (PbEngine *self)
{
  char *member_id;
  gboolean joined;

  if (!self->sticky ||
      self->assigned_once ||
      self->first_assign_wait_over ||
      self->error != NULL ||
      rd_kafka_version () >= 0x020300ff)
    return FALSE;

  member_id = rd_kafka_memberid (self->rk);
  joined = member_id != NULL && *member_id != '\0';
  if (member_id != NULL)
    rd_kafka_mem_free (self->rk, member_id);

  return joined || !self->all_brokers_down;
}

static void
check_stop (PbEngine *self)
{
  if (!self->stop_requested || self->closing || self->in_poll ||
      self->in_flight > 0 || self->handler_depth > 0)
    return;

  clear_source (&self->stop_timeout);

  if (self->rk == NULL)
    {
      self->closing = TRUE;
      schedule_finish (self);
      return;
    }

  flush_offsets (self);

  if (must_wait_for_first_assignment (self))
    {
      if (self->first_assign_timeout == NULL)
        {
          g_debug ("Waiting for the first assignment before leaving the group");
          self->first_assign_timeout = add_timeout (self, self->session_timeout_ms + 1000,
                                                    "[paperboy] first assignment",
                                                    first_assign_timeout_cb);
        }
      return;
    }

  clear_source (&self->first_assign_timeout);
  begin_close (self);
}

static gboolean
stop_timeout_cb (gpointer user_data)
{
  PbEngine *self = user_data;

  g_clear_pointer (&self->stop_timeout, g_source_unref);
  self->stop_timed_out = TRUE;

  for (guint i = 0; i < self->topics->len; i++)
    {
      Topic *topic = g_ptr_array_index (self->topics, i);

      for (guint j = 0; topic->partitions != NULL && j < topic->partitions->len; j++)
        {
          Partition *p = g_ptr_array_index (topic->partitions, j);

          if (p != NULL && p->current != NULL)
            abandon (self, p->current);
        }
    }

  check_stop (self);

  return G_SOURCE_REMOVE;
}

static void
pause_all (PbEngine *self)
{
  rd_kafka_topic_partition_list_t *list;

  if (self->rk == NULL)
    return;

  list = rd_kafka_topic_partition_list_new (8);
  for (guint i = 0; i < self->topics->len; i++)
    {
      Topic *topic = g_ptr_array_index (self->topics, i);

      for (guint j = 0; topic->partitions != NULL && j < topic->partitions->len; j++)
        {
          Partition *p = g_ptr_array_index (topic->partitions, j);

          if (p != NULL && p->state == PARTITION_ASSIGNED)
            rd_kafka_topic_partition_list_add (list, topic->name, p->id);
        }
    }

  if (list->cnt > 0)
    rd_kafka_pause_partitions (self->rk, list);
  rd_kafka_topic_partition_list_destroy (list);
}

static void
request_stop (PbEngine *self)
{
  if (!is_running (self) || self->stop_requested)
    return;

  g_debug ("Stopping (%u handlings in flight)", self->in_flight);

  self->stop_requested = TRUE;
  set_state (self, PB_ENGINE_STATE_STOPPING);

  /* Records polled but not started are dropped: they were not stored, so
   * the group reads them again. In-flight handling may finish. */
  for (guint i = 0; i < self->topics->len; i++)
    {
      Topic *topic = g_ptr_array_index (self->topics, i);

      for (guint j = 0; topic->partitions != NULL && j < topic->partitions->len; j++)
        {
          Partition *p = g_ptr_array_index (topic->partitions, j);

          if (p != NULL)
            drop_queued (self, p);
        }
    }

  /* Nothing more is handled: stop fetching too (the consumer still polls,
   * to keep its group membership while in-flight work finishes). */
  pause_all (self);

  if (self->in_flight > 0 && self->stop_timeout == NULL)
    self->stop_timeout = add_timeout (self, self->stop_timeout_ms, "[paperboy] stop timeout",
                                      stop_timeout_cb);

  check_stop (self);
}

static void
finish_run (PbEngine *self)
{
  g_autoptr(GTask) task = NULL;
  PbKafkaHandle *handle;
  GError *error;

  g_assert (self->task != NULL);

  g_object_ref (self);

  if (self->consumer_source != NULL)
    _pb_kafka_source_release (self->consumer_source);
  if (self->close_source != NULL)
    _pb_kafka_source_release (self->close_source);
  self->close_queue = NULL;
  clear_source (&self->consumer_source);
  clear_source (&self->close_source);
  clear_source (&self->cancel_source);
  clear_source (&self->sigint_source);
  clear_source (&self->sigterm_source);
  clear_source (&self->stop_timeout);
  clear_source (&self->revoke_timeout);
  clear_source (&self->revoke_retry);
  clear_source (&self->first_assign_timeout);
  clear_source (&self->finish_source);
  clear_source (&self->pump_source);
  g_clear_pointer (&self->revoking, rd_kafka_topic_partition_list_destroy);

  for (guint i = 0; i < self->topics->len; i++)
    {
      Topic *topic = g_ptr_array_index (self->topics, i);

      for (guint j = 0; topic->partitions != NULL && j < topic->partitions->len; j++)
        {
          Partition *p = g_ptr_array_index (topic->partitions, j);

          if (p != NULL && p->current != NULL)
            abandon (self, p->current);
        }

      g_clear_pointer (&topic->partitions, g_ptr_array_unref);
      g_clear_pointer (&topic->rkt, rd_kafka_topic_destroy);
    }

  g_queue_clear (&self->ready);
  g_queue_clear (&self->dirty);
  self->in_flight = 0;
  self->last_rkt = NULL;
  self->last_topic = NULL;

  g_clear_pointer (&self->pool, _pb_message_pool_free);

  handle = g_steal_pointer (&self->handle);
  self->rk = NULL;
  if (handle != NULL)
    _pb_kafka_handle_unref (handle);

  /* The run's last signals, while the engine still counts as running. */
  flush_pending (self);

  /* Everything of this run is let go before anyone hears of its end: a
   * handler of notify::state or the task's callback may start a new run. */
  task = g_steal_pointer (&self->task);
  error = g_steal_pointer (&self->error);
  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_mutex_unlock (&self->lock);

  set_state (self, error != NULL ? PB_ENGINE_STATE_FAILED : PB_ENGINE_STATE_STOPPED);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);

  g_object_unref (self);
}

static gboolean
stop_source_cb (gpointer user_data)
{
  request_stop (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
cancelled_cb (GCancellable *cancellable,
              gpointer      user_data)
{
  request_stop (user_data);
  return G_SOURCE_REMOVE;
}

/* Starting */

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

static guint
conf_get_uint (rd_kafka_conf_t *conf,
               const char      *key,
               guint            fallback)
{
  char buf[64];
  size_t size = sizeof buf;
  guint64 value;

  if (rd_kafka_conf_get (conf, key, buf, &size) != RD_KAFKA_CONF_OK ||
      !g_ascii_string_to_unsigned (buf, 10, 0, G_MAXUINT, &value, NULL))
    return fallback;

  return (guint)value;
}

static rd_kafka_conf_t *
build_conf (PbEngine  *self,
            GError   **error)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  g_autofree char *commit_interval = g_strdup_printf ("%u", self->commit_interval_ms);
  char buf[256];
  size_t size = sizeof buf;
  struct {
    const char *key;
    const char *value;
  } defaults[] = {
    { "bootstrap.servers", self->bootstrap_servers },
    { "group.id", self->group_id },
    { "client.id", self->client_id },
    { "auto.offset.reset", self->auto_offset_reset },
    { "auto.commit.interval.ms", commit_interval },
    { "partition.assignment.strategy", DEFAULT_ASSIGNOR },
  }, owned[] = {
    { "enable.auto.commit", "true" },
    { "enable.auto.offset.store", "false" },
    { "enable.partition.eof", "false" },
    { "log.queue", "true" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (defaults); i++)
    if (!_pb_kafka_conf_set (conf, defaults[i].key, defaults[i].value, error))
      goto failed;

  for (guint i = 0; i < self->config->len; i++)
    {
      ConfigEntry *entry = g_ptr_array_index (self->config, i);
      const char *key = entry->key;

      if (g_str_has_prefix (key, "consumer."))
        key += strlen ("consumer.");
      else if (g_str_has_prefix (key, "producer.") ||
               g_str_has_prefix (key, "restore.") ||
               g_str_has_prefix (key, "admin."))
        continue;

      if (!_pb_kafka_conf_set (conf, key, entry->value, error))
        goto failed;
    }

  for (guint i = 0; i < G_N_ELEMENTS (owned); i++)
    if (!_pb_kafka_conf_set (conf, owned[i].key, owned[i].value, error))
      goto failed;

  if (rd_kafka_conf_get (conf, "partition.assignment.strategy", buf, &size) == RD_KAFKA_CONF_OK)
    self->sticky = strstr (buf, "sticky") != NULL;
  self->session_timeout_ms = conf_get_uint (conf, "session.timeout.ms", 45000);

  rd_kafka_conf_set_opaque (conf, self);
  rd_kafka_conf_set_log_cb (conf, log_cb);
  rd_kafka_conf_set_error_cb (conf, error_cb);
  rd_kafka_conf_set_rebalance_cb (conf, rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb (conf, offset_commit_cb);

  return conf;

failed:
  rd_kafka_conf_destroy (conf);
  return NULL;
}

static gboolean
start (PbEngine  *self,
       GError   **error)
{
  rd_kafka_topic_partition_list_t *subscription;
  rd_kafka_conf_t *conf;
  rd_kafka_resp_err_t err;
  rd_kafka_t *rk;
  guint keepalive_ms;
  char errstr[512];

  if (self->mock_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->mock_error));
      return FALSE;
    }

  if (self->topics->len == 0)
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_NO_HANDLER,
                           _("The engine has no handlers: add one before running it"));
      return FALSE;
    }

  if (self->group_id == NULL || *self->group_id == '\0')
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_CONFIG,
                           _("The engine has no consumer group id"));
      return FALSE;
    }

  if (!(conf = build_conf (self, error)))
    return FALSE;

  keepalive_ms = MIN (conf_get_uint (conf, "max.poll.interval.ms", 300000) / 4, 1000);

  rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL)
    {
      rd_kafka_conf_destroy (conf);
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Invalid Kafka configuration: %s"), errstr);
      return FALSE;
    }

  self->rk = rk;
  self->handle = _pb_kafka_handle_new (rk);
  self->pool = _pb_message_pool_new (self->handle);

  /* Everything librdkafka has to say (rebalances, errors, logs) comes
   * through the consumer queue, served on this thread. */
  rd_kafka_poll_set_consumer (rk);
  rd_kafka_set_log_queue (rk, NULL);

  self->consumer_source = _pb_kafka_source_new (rd_kafka_queue_get_consumer (rk),
                                                keepalive_ms, error);
  if (self->consumer_source == NULL)
    return FALSE;

  g_source_set_priority (self->consumer_source, self->priority);
  g_source_set_callback (self->consumer_source, consumer_dispatch, self, NULL);
  g_source_attach (self->consumer_source, self->context);

  subscription = rd_kafka_topic_partition_list_new (self->topics->len);
  for (guint i = 0; i < self->topics->len; i++)
    {
      Topic *topic = g_ptr_array_index (self->topics, i);

      topic->partitions = g_ptr_array_new_with_free_func ((GDestroyNotify) partition_free);
      topic->rkt = rd_kafka_topic_new (rk, topic->name, NULL);
      rd_kafka_topic_partition_list_add (subscription, topic->name, RD_KAFKA_PARTITION_UA);
    }

  err = rd_kafka_subscribe (rk, subscription);
  rd_kafka_topic_partition_list_destroy (subscription);

  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      _pb_kafka_set_error (error, err, _("Could not subscribe"));
      return FALSE;
    }

  g_debug ("Subscribed to %u topics in group “%s”", self->topics->len, self->group_id);

  return TRUE;
}

/* GObject */

static void
config_entry_free (ConfigEntry *entry)
{
  g_free (entry->key);
  g_free (entry->value);
  g_free (entry);
}

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

  /* A running engine holds a reference to itself through its task. */
  g_assert (self->task == NULL);

  if (self->topics != NULL)
    g_ptr_array_set_size (self->topics, 0);
  g_clear_pointer (&self->handlers, g_ptr_array_unref);
  g_clear_object (&self->mock_cluster);

  G_OBJECT_CLASS (pb_engine_parent_class)->dispose (object);
}

static void
pb_engine_finalize (GObject *object)
{
  PbEngine *self = (PbEngine *)object;

  g_clear_pointer (&self->topics, g_ptr_array_unref);
  g_clear_pointer (&self->config, g_ptr_array_unref);
  g_clear_pointer (&self->bootstrap_servers, g_free);
  g_clear_pointer (&self->group_id, g_free);
  g_clear_pointer (&self->client_id, g_free);
  g_clear_pointer (&self->auto_offset_reset, g_free);
  g_clear_error (&self->mock_error);
  g_clear_error (&self->error);
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

    case PROP_STATE:
      g_value_set_enum (value, self->state);
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

  handling_quark = g_quark_from_static_string ("pb-engine-handling");

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
   * The consumer group. Changes take effect at the next run.
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
   * record counts as handled.
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
   * milliseconds. Offsets are also committed when partitions are revoked
   * and when the engine stops.
   */
  properties[PROP_COMMIT_INTERVAL_MS] =
    g_param_spec_uint ("commit-interval-ms", NULL, NULL,
                       1, G_MAXINT32, DEFAULT_COMMIT_INTERVAL_MS,
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
   * 0 for no limit.
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
   * PbEngine:state:
   *
   * What the engine is doing.
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       PB_TYPE_ENGINE_STATE,
                       PB_ENGINE_STATE_STOPPED,
                       (G_PARAM_READABLE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * PbEngine::partitions-assigned:
   * @self: the engine
   * @partitions: the assigned partitions, as a `a(si)` variant of topic and
   *   partition
   *
   * Emitted when the consumer group assigned partitions to the engine,
   * after the engine took them.
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
  self->config = g_ptr_array_new_with_free_func ((GDestroyNotify) config_entry_free);
  self->handlers = g_ptr_array_new_with_free_func (g_object_unref);
  self->topics = g_ptr_array_new_with_free_func ((GDestroyNotify) topic_free);
  self->state = PB_ENGINE_STATE_STOPPED;
  g_mutex_init (&self->lock);
}

/**
 * pb_engine_new:
 * @bootstrap_servers: (nullable): the brokers, or `mock://` for an embedded
 *   cluster; %NULL for `localhost:9092`
 * @group_id: (nullable): the consumer group
 *
 * Creates an engine. Add handlers, then run it.
 *
 * Returns: (transfer full): a new engine
 */
PbEngine *
pb_engine_new (const char *bootstrap_servers,
               const char *group_id)
{
  return g_object_new (PB_TYPE_ENGINE,
                       "bootstrap-servers", bootstrap_servers,
                       "group-id", group_id,
                       NULL);
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
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Handler %s has no topics: set its “topic” or “topics” property"),
                   G_OBJECT_TYPE_NAME (handler));
      return FALSE;
    }

  added = g_ptr_array_new ();

  for (guint i = 0; topics[i] != NULL; i++)
    {
      const char *name = topics[i];
      Topic *existing = find_topic (self, name);

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
    {
      Topic *topic = g_new0 (Topic, 1);

      topic->name = g_intern_string (g_ptr_array_index (added, i));
      topic->handler = handler;
      topic->klass = PB_HANDLER_GET_CLASS (handler);
      topic->vfuncs = _pb_handler_get_overrides (handler);
      g_ptr_array_add (self->topics, topic);
    }

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

static const struct {
  const char *key;
  const char *property;
} property_keys[] = {
  { "bootstrap.servers", "bootstrap-servers" },
  { "group.id", "group-id" },
  { "client.id", "client-id" },
  { "auto.offset.reset", "auto-offset-reset" },
  { "auto.commit.interval.ms", "commit-interval-ms" },
};

static const char * const owned_keys[] = {
  "enable.auto.commit",
  "enable.auto.offset.store",
  "enable.partition.eof",
  "log.queue",
  "enable.idempotence",
};

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
 * %PB_ERROR_CONFIG. Changes take effect at the next run.
 *
 * Returns: %TRUE if the value was set, %FALSE with @error set otherwise
 */
gboolean
pb_engine_set_config (PbEngine    *self,
                      const char  *key,
                      const char  *value,
                      GError     **error)
{
  static const char * const scopes[] = { "consumer.", "producer.", "restore.", "admin." };
  const char *bare_key = key;
  ConfigEntry *entry;

  g_return_val_if_fail (PB_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (scopes); i++)
    if (g_str_has_prefix (key, scopes[i]))
      {
        bare_key = key + strlen (scopes[i]);
        break;
      }

  for (guint i = 0; i < G_N_ELEMENTS (property_keys); i++)
    if (strcmp (bare_key, property_keys[i].key) == 0)
      {
        g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                     _("“%s” is set through the engine’s “%s” property"),
                     bare_key, property_keys[i].property);
        return FALSE;
      }

  for (guint i = 0; i < G_N_ELEMENTS (owned_keys); i++)
    if (strcmp (bare_key, owned_keys[i]) == 0)
      {
        g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                     _("“%s” is managed by the engine and cannot be set"), bare_key);
        return FALSE;
      }

  if (value != NULL)
    {
      rd_kafka_conf_t *scratch = rd_kafka_conf_new ();
      gboolean ok = _pb_kafka_conf_set (scratch, bare_key, value, error);

      rd_kafka_conf_destroy (scratch);
      if (!ok)
        return FALSE;
    }

  for (guint i = 0; i < self->config->len; i++)
    {
      entry = g_ptr_array_index (self->config, i);
      if (strcmp (entry->key, key) == 0)
        {
          g_ptr_array_remove_index (self->config, i);
          break;
        }
    }

  if (value == NULL)
    return TRUE;

  entry = g_new0 (ConfigEntry, 1);
  entry->key = g_strdup (key);
  entry->value = g_strdup (value);
  g_ptr_array_add (self->config, entry);

  g_debug ("Configuration: %s = %s", key,
           _pb_kafka_key_is_secret (bare_key) ? "(secret)" : value);

  return TRUE;
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
  GError *error = NULL;

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

  g_mutex_lock (&self->lock);
  self->context = g_main_context_ref_thread_default ();
  g_mutex_unlock (&self->lock);

  self->task = g_object_ref (task);
  self->stop_requested = FALSE;
  self->closing = FALSE;
  self->assigned_once = FALSE;
  self->first_assign_wait_over = FALSE;
  self->all_brokers_down = FALSE;
  self->stop_timed_out = FALSE;
  self->revoke_timed_out = FALSE;
  g_clear_error (&self->error);
  set_state (self, PB_ENGINE_STATE_STARTING);

  if (!start (self, &error))
    {
      self->error = error;
      self->stop_requested = TRUE;
      self->closing = TRUE;
      schedule_finish (self);
      return;
    }

  set_state (self, PB_ENGINE_STATE_JOINING);

  if (cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (cancelled_cb), self, NULL);
      g_source_attach (self->cancel_source, self->context);
    }

  if (self->handle_signals)
    {
      self->sigint_source = g_unix_signal_source_new (SIGINT);
      g_source_set_callback (self->sigint_source, stop_source_cb, self, NULL);
      g_source_attach (self->sigint_source, self->context);

      self->sigterm_source = g_unix_signal_source_new (SIGTERM);
      g_source_set_callback (self->sigterm_source, stop_source_cb, self, NULL);
      g_source_attach (self->sigterm_source, self->context);
    }
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

static gboolean
stop_invoke_cb (gpointer user_data)
{
  request_stop (user_data);
  return G_SOURCE_REMOVE;
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
  g_autoptr(GMainContext) context = NULL;

  g_return_if_fail (PB_IS_ENGINE (self));

  g_mutex_lock (&self->lock);
  if (self->context != NULL)
    context = g_main_context_ref (self->context);
  g_mutex_unlock (&self->lock);

  if (context == NULL)
    return;

  if (g_main_context_is_owner (context))
    request_stop (self);
  else
    _pb_invoke_later (context, stop_invoke_cb, g_object_ref (self), g_object_unref);
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
 * @group_id: (nullable): the consumer group
 *
 * Sets [property@Paperboy.Engine:group-id].
 */
void
pb_engine_set_group_id (PbEngine   *self,
                        const char *group_id)
{
  g_return_if_fail (PB_IS_ENGINE (self));

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
 * @commit_interval_ms: the commit interval in milliseconds, at least 1
 *
 * Sets [property@Paperboy.Engine:commit-interval-ms]. Takes effect at the
 * next run.
 */
void
pb_engine_set_commit_interval_ms (PbEngine *self,
                                  guint     commit_interval_ms)
{
  g_return_if_fail (PB_IS_ENGINE (self));
  g_return_if_fail (commit_interval_ms >= 1);

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
}
