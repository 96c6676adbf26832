/* pb-consumer.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-consumer-private.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "pb-error.h"
#include "pb-kafka-source-private.h"
#include "pb-util-private.h"

/* Records polled before the run gets to handle them. */
#define POLL_BATCH 1024

/* The close queue is served at least this often. */
#define CLOSE_KEEPALIVE_MS 200

/* While no broker answers, one is asked for metadata this often, and
 * waited for this long. */
#define PROBE_INTERVAL_MS 1000
#define PROBE_TIMEOUT_MS  1000

/* A warning librdkafka logs again within this long is counted, not
 * repeated (a broker that is down is retried every few seconds). */
#define REPEAT_WINDOW_US (60 * G_USEC_PER_SEC)

/* Past this many distinct warnings, those not seen for a window are
 * forgotten. */
#define REPEATS_MAX 256

/* While a consumer with the workaround for librdkafka issue #4381 has no
 * assignment yet, it checks this often whether the group answered its
 * JoinGroup (see must_wait_for_first_assignment()). */
#define JOIN_WATCH_MS 100

/* How long a stop waits for the first assignment of a group that answered
 * the member's JoinGroup (see must_wait_for_first_assignment()). */
#define FIRST_ASSIGNMENT_WAIT_MS 1000

typedef struct _Probe Probe;

typedef enum
{
  CONNECTION_UNKNOWN,
  CONNECTION_UP,     /* a broker answered */
  CONNECTION_DOWN,   /* librdkafka said no broker answers */
} Connection;

struct _PbConsumer
{
  const PbConsumerCallbacks *callbacks;
  gpointer                   user_data;

  GMainContext              *context;
  int                        priority;
  PbKafkaHandle             *handle;
  rd_kafka_t                *rk;        /* borrowed from handle */
  GPtrArray                 *topics;    /* rd_kafka_topic_t */

  GSource                   *source;    /* the consumer queue */
  GSource                   *close_source;
  rd_kafka_queue_t          *close_queue;   /* owned by close_source */
  GSource                   *first_assign_timeout;
  GSource                   *join_watch;
  GSource                   *probe_timer;
  Probe                     *probe;     /* in flight, or NULL */
  guint                      probe_epoch;

  gboolean                   cooperative;
  gboolean                   sticky;
  Connection                 connection;
  PbRateLimit                warnings;
  GHashTable                *repeats;   /* a warning's text → LogRepeat */
  char                      *bootstrap_servers;

  guint                      assigned_once : 1;
  guint                      joined_seen : 1;
  guint                      told_no_broker : 1;
  guint                      close_requested : 1;
  guint                      closing : 1;
  guint                      closed : 1;
};

static void begin_close   (PbConsumer *self);
static void start_probing (PbConsumer *self);

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

/* Connection */

/* Something came from the cluster: a broker answers. */
static void
heard_from_cluster (PbConsumer *self)
{
  if (self->connection == CONNECTION_UP)
    return;

  if (self->connection == CONNECTION_DOWN)
    g_message (_("A Kafka broker answers again at %s"), self->bootstrap_servers);

  self->connection = CONNECTION_UP;
  _pb_clear_source (&self->probe_timer);
  self->callbacks->connected (self->user_data, TRUE);
}

/* A metadata request in a worker thread. The thread holds a reference on
 * the client until the request is over; the consumer's own reference is
 * released only once the probe is done (see _pb_consumer_free_async()),
 * so that the client is always destroyed by the consumer's release, in a
 * worker thread, and before the engine's run returns. */
struct _Probe
{
  PbKafkaHandle *handle;          /* the probe thread's */
  guint          epoch;
  gboolean       orphaned;        /* the consumer is gone */
  PbKafkaHandle *consumer_handle; /* the consumer's, to release when done */
  GTask         *free_task;
};

static void
probe_free (Probe *probe)
{
  g_clear_pointer (&probe->handle, _pb_kafka_handle_unref);
  g_free (probe);
}

static void
probe_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  Probe *probe = task_data;
  const struct rd_kafka_metadata *metadata = NULL;
  rd_kafka_resp_err_t err;

  err = rd_kafka_metadata (_pb_kafka_handle_get (probe->handle), 0, NULL, &metadata,
                           PROBE_TIMEOUT_MS);
  if (metadata != NULL)
    rd_kafka_metadata_destroy (metadata);

  /* Never the last reference: the consumer keeps its own until now. */
  g_clear_pointer (&probe->handle, _pb_kafka_handle_unref);

  g_task_return_boolean (task, err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void handle_released_cb (GObject      *source_object,
                                GAsyncResult *result,
                                gpointer      user_data);

static void
probe_done_cb (GObject      *source_object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Probe *probe = g_task_get_task_data (G_TASK (result));
  PbConsumer *self = user_data;

  if (probe->orphaned)
    {
      if (probe->free_task != NULL)
        {
          g_autoptr(GMainContext) context = g_main_context_ref (g_task_get_context (probe->free_task));

          g_main_context_push_thread_default (context);
          _pb_kafka_handle_unref_async (g_steal_pointer (&probe->consumer_handle),
                                        handle_released_cb, g_steal_pointer (&probe->free_task));
          g_main_context_pop_thread_default (context);
        }
      return;
    }

  self->probe = NULL;

  /* A probe that started before the last "no broker answers" says nothing
   * about now. */
  if (g_task_propagate_boolean (G_TASK (result), NULL) && probe->epoch == self->probe_epoch)
    heard_from_cluster (self);
}

/* librdkafka says when no broker answers, not when one answers (again):
 * until one does, a worker thread asks for metadata every second. */
static gboolean
probe_timer_cb (gpointer user_data)
{
  PbConsumer *self = user_data;
  g_autoptr(GTask) task = NULL;

  if (self->probe != NULL)
    return G_SOURCE_CONTINUE;

  self->probe = g_new0 (Probe, 1);
  self->probe->handle = _pb_kafka_handle_ref (self->handle);
  self->probe->epoch = self->probe_epoch;

  g_main_context_push_thread_default (self->context);
  task = g_task_new (NULL, NULL, probe_done_cb, self);
  g_main_context_pop_thread_default (self->context);
  g_task_set_source_tag (task, probe_timer_cb);
  g_task_set_task_data (task, self->probe, (GDestroyNotify) probe_free);
  g_task_run_in_thread (task, probe_thread);

  return G_SOURCE_CONTINUE;
}

static void
start_probing (PbConsumer *self)
{
  if (self->probe_timer != NULL)
    return;

  self->probe_timer = _pb_timeout_source_new (self->context, PROBE_INTERVAL_MS,
                                              G_PRIORITY_DEFAULT, "[paperboy] broker probe",
                                              probe_timer_cb, self, NULL);
  probe_timer_cb (self);
}

/* Rebalances */

static void
assign (PbConsumer                      *self,
        rd_kafka_topic_partition_list_t *partitions)
{
  rd_kafka_error_t *kerror = NULL;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  GError *error = NULL;

  self->callbacks->assigning (self->user_data, partitions);

  if (self->cooperative)
    kerror = rd_kafka_incremental_assign (self->rk, partitions);
  else
    err = rd_kafka_assign (self->rk, partitions);

  if (kerror != NULL)
    {
      g_set_error (&error, PB_ERROR, PB_ERROR_KAFKA,
                   _("Could not take the assigned partitions: %s"),
                   rd_kafka_error_string (kerror));
      rd_kafka_error_destroy (kerror);
      self->callbacks->failed (self->user_data, error);
      return;
    }

  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      _pb_kafka_set_error (&error, err, _("Could not take the assigned partitions"));
      self->callbacks->failed (self->user_data, error);
      return;
    }

  self->assigned_once = TRUE;
  _pb_clear_source (&self->join_watch);
  heard_from_cluster (self);

  /* A close waiting for the first assignment may go on now, outside the
   * poll that brought it. */
  if (self->first_assign_timeout != NULL)
    g_source_set_ready_time (self->first_assign_timeout, 0);

  g_debug ("Assigned %d partitions", partitions->cnt);
  self->callbacks->assigned (self->user_data, partitions);
}

void
_pb_consumer_unassign (PbConsumer                            *self,
                       const rd_kafka_topic_partition_list_t *partitions)
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
lose (PbConsumer                      *self,
      rd_kafka_topic_partition_list_t *partitions)
{
  self->callbacks->lost (self->user_data, partitions);
  _pb_consumer_unassign (self, partitions);
}

static void
rebalance_cb (rd_kafka_t                      *rk,
              rd_kafka_resp_err_t              err,
              rd_kafka_topic_partition_list_t *partitions,
              void                            *opaque)
{
  PbConsumer *self = opaque;
  const char *protocol = rd_kafka_rebalance_protocol (rk);

  /* NULL once the consumer left its group (a revocation while closing):
   * the protocol is still the one it had. */
  if (protocol != NULL)
    self->cooperative = strcmp (protocol, "COOPERATIVE") == 0;

  switch ((int)err)
    {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
      assign (self, partitions);
      break;

    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
      if (rd_kafka_assignment_lost (rk))
        lose (self, partitions);
      else
        {
          g_debug ("Revoking %d partitions", partitions->cnt);
          self->callbacks->revoked (self->user_data, partitions);
        }
      break;

    default:
      g_warning ("Rebalance failed: %s", rd_kafka_err2str (err));
      if (partitions != NULL)
        lose (self, partitions);
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
  PbConsumer *self = opaque;

  if (err == RD_KAFKA_RESP_ERR__FATAL)
    {
      char errstr[512];
      rd_kafka_resp_err_t orig = rd_kafka_fatal_error (rk, errstr, sizeof errstr);

      self->callbacks->failed (self->user_data,
                               g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                                            _("Fatal Kafka client error: %s (%s)"),
                                            errstr, rd_kafka_err2name (orig)));
      return;
    }

  switch ((int)err)
    {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
      if (self->connection != CONNECTION_DOWN)
        {
          self->connection = CONNECTION_DOWN;
          self->probe_epoch++;
          self->callbacks->connected (self->user_data, FALSE);
          start_probing (self);

          if (!self->told_no_broker)
            g_warning (_("No Kafka broker answers at %s: the engine keeps trying, and has no "
                         "partitions meanwhile. To run without a Kafka cluster, use the "
                         "embedded one: bootstrap servers “mock://”."),
                       self->bootstrap_servers);
          else
            g_warning (_("No Kafka broker answers at %s again: the engine keeps trying"),
                       self->bootstrap_servers);
          self->told_no_broker = TRUE;
        }
      break;

    /* librdkafka logged these already. */
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
      break;

    default:
      if (_pb_rate_limit_allow (&self->warnings))
        g_warning ("Kafka: %s (%s)", reason, rd_kafka_err2name (err));
      break;
    }
}

static void
offset_commit_cb (rd_kafka_t                      *rk,
                  rd_kafka_resp_err_t              err,
                  rd_kafka_topic_partition_list_t *offsets,
                  void                            *opaque)
{
  PbConsumer *self = opaque;

  self->callbacks->committed (self->user_data, err, offsets);
}

typedef struct
{
  gint64 since;
  guint  count;
} LogRepeat;

static gboolean
repeat_is_old (gpointer key,
               gpointer value,
               gpointer user_data)
{
  const LogRepeat *repeat = value;

  return *(const gint64 *)user_data - repeat->since >= REPEAT_WINDOW_US;
}

/* librdkafka's warnings and errors, each distinct one once a minute at
 * most: the same failure (a broker that is down) comes back with every
 * retry, and the text differs only in its timing. The next time it is
 * logged, it says how many times it came in between. */
static void
log_line (PbConsumer *self,
          int         level,
          const char *facility,
          const char *buf)
{
  g_autofree char *text = NULL;
  g_autofree char *line = NULL;
  const char *timing;
  gint64 now = g_get_monotonic_time ();
  LogRepeat *repeat;

  if (level > 4)
    {
      _pb_kafka_log (self->rk, level, facility, buf);
      return;
    }

  timing = strstr (buf, " (after ");
  text = g_strdup_printf ("%s: %.*s", facility,
                          timing != NULL ? (int)(timing - buf) : (int)strlen (buf), buf);

  repeat = g_hash_table_lookup (self->repeats, text);
  if (repeat != NULL && now - repeat->since < REPEAT_WINDOW_US)
    {
      repeat->count++;
      return;
    }

  if (repeat != NULL && repeat->count > 0)
    line = g_strdup_printf ("%s (%u more times since it was last logged)", buf, repeat->count);

  if (repeat == NULL && g_hash_table_size (self->repeats) >= REPEATS_MAX)
    g_hash_table_foreach_remove (self->repeats, repeat_is_old, &now);

  repeat = g_new0 (LogRepeat, 1);
  repeat->since = now;
  g_hash_table_replace (self->repeats, g_steal_pointer (&text), repeat);

  _pb_kafka_log (self->rk, level, facility, line != NULL ? line : buf);
}

static void
log_cb (const rd_kafka_t *rk,
        int               level,
        const char       *facility,
        const char       *buf)
{
  PbConsumer *self = rk != NULL ? rd_kafka_opaque (rk) : NULL;

  /* Without a client (a configuration's log), nothing to fold. */
  if (self == NULL)
    _pb_kafka_log (rk, level, facility, buf);
  else
    log_line (self, level, facility, buf);
}

/* Polling */

static void
record_error (PbConsumer         *self,
              rd_kafka_message_t *rkm)
{
  const char *topic = rkm->rkt != NULL ? rd_kafka_topic_name (rkm->rkt) : NULL;

  switch ((int)rkm->err)
    {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      if (topic != NULL && self->callbacks->eof != NULL)
        self->callbacks->eof (self->user_data, topic, rkm->partition, rkm->offset);
      break;

    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      self->callbacks->failed (self->user_data,
                               g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                                            _("Topic “%s” cannot be consumed: %s"),
                                            topic != NULL ? topic : "?",
                                            rd_kafka_message_errstr (rkm)));
      break;

    /* With auto-offset-reset "error", a partition without a valid
     * offset stops being fetched: that is the end of the run. */
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      self->callbacks->failed (self->user_data,
                               g_error_new (PB_ERROR, PB_ERROR_KAFKA,
                                            _("Partition %d of topic “%s” has no offset to start from: %s"),
                                            (int)rkm->partition, topic != NULL ? topic : "?",
                                            rd_kafka_message_errstr (rkm)));
      break;

    default:
      if (_pb_rate_limit_allow (&self->warnings))
        g_warning ("Kafka consumer error%s%s: %s",
                   topic != NULL ? " on " : "", topic != NULL ? topic : "",
                   rd_kafka_message_errstr (rkm));
      break;
    }
}

/* The consumer queue's dispatch: polls batches of records (serving
 * rebalances, errors and logs on the way) and hands them up, until the
 * queue is empty or the run wants to yield. */
static gboolean
consumer_dispatch (gpointer user_data)
{
  PbConsumer *self = user_data;
  gboolean more = TRUE;

  while (more && !self->closing)
    {
      gboolean drained = FALSE;

      for (guint n = 0; n < POLL_BATCH; n++)
        {
          rd_kafka_message_t *rkm;

          rkm = rd_kafka_consumer_poll (self->rk, 0);

          if (rkm == NULL)
            {
              drained = TRUE;
              break;
            }

          if (G_UNLIKELY (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR))
            {
              record_error (self, rkm);
              rd_kafka_message_destroy (rkm);
              continue;
            }

          if (G_UNLIKELY (self->connection != CONNECTION_UP))
            heard_from_cluster (self);

          self->callbacks->record (self->user_data, rkm);
        }

      more = self->callbacks->batch_end (self->user_data, drained) && !drained;
    }

  return G_SOURCE_CONTINUE;
}

/* Closing */

/* While closing, librdkafka forwards everything to the close queue, whose
 * rd_kafka_queue_poll() returns rebalances, commits and logs as events
 * instead of calling the callbacks. */
static void
serve_close_event (PbConsumer       *self,
                   rd_kafka_event_t *event)
{
  const char *facility;
  const char *text;
  int level;

  switch (rd_kafka_event_type (event))
    {
    case RD_KAFKA_EVENT_LOG:
      if (rd_kafka_event_log (event, &facility, &text, &level) == 0)
        log_line (self, level, facility, text);
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

static void
report_closed (PbConsumer *self)
{
  if (self->closed)
    return;

  self->closed = TRUE;
  g_debug ("Consumer closed");
  self->callbacks->closed (self->user_data);
}

static gboolean
close_dispatch (gpointer user_data)
{
  PbConsumer *self = user_data;
  rd_kafka_event_t *event;

  while ((event = rd_kafka_queue_poll (self->close_queue, 0)) != NULL)
    {
      serve_close_event (self, event);
      rd_kafka_event_destroy (event);
    }

  if (rd_kafka_consumer_closed (self->rk))
    report_closed (self);

  return G_SOURCE_CONTINUE;
}

static void
begin_close (PbConsumer *self)
{
  g_autoptr(GError) error = NULL;
  rd_kafka_error_t *kerror;

  g_info ("Leaving the consumer group");

  self->closing = TRUE;
  _pb_clear_source (&self->first_assign_timeout);

  /* librdkafka forwards the consumer queue to the close queue. */
  _pb_kafka_source_release (self->source);

  self->close_queue = rd_kafka_queue_new (self->rk);
  self->close_source = _pb_kafka_source_new (self->close_queue, CLOSE_KEEPALIVE_MS, &error);
  if (self->close_source == NULL)
    {
      self->close_queue = NULL;
      g_warning ("Could not watch the consumer while it closes: %s", error->message);
      report_closed (self);
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
      report_closed (self);
    }
}

static gboolean
first_assign_timeout_cb (gpointer user_data)
{
  PbConsumer *self = user_data;

  g_clear_pointer (&self->first_assign_timeout, g_source_unref);
  begin_close (self);

  return G_SOURCE_REMOVE;
}

/* The consumer group's generation, or -1 while the group has not answered
 * this member's JoinGroup. librdkafka has no getter for it, but writes it,
 * after a magic string, in the serialized group metadata. */
static gint32
group_generation (PbConsumer *self)
{
  static const char magic[7] = "CGMDv2:";
  rd_kafka_consumer_group_metadata_t *metadata;
  rd_kafka_error_t *kerror;
  gint32 generation = G_MAXINT32;
  void *buffer = NULL;
  size_t size = 0;

  metadata = rd_kafka_consumer_group_metadata (self->rk);
  if (metadata == NULL)
    return G_MAXINT32;

  kerror = rd_kafka_consumer_group_metadata_write (metadata, &buffer, &size);
  if (kerror == NULL && size >= sizeof magic + sizeof generation &&
      memcmp (buffer, magic, sizeof magic) == 0)
    memcpy (&generation, (char *)buffer + sizeof magic, sizeof generation);

  g_clear_pointer (&kerror, rd_kafka_error_destroy);
  if (buffer != NULL)
    rd_kafka_mem_free (self->rk, buffer);
  rd_kafka_consumer_group_metadata_destroy (metadata);

  /* An unknown format counts as joined. */
  return generation;
}

/* librdkafka before 2.3.0 aborts when it frees a consumer with a sticky
 * assignor whose group answered a JoinGroup (which chooses the assignor)
 * before the first assignment (which creates the assignor's state):
 * librdkafka issue #4381. The generation goes back to -1 when a later
 * request fails, while the assignor stays: so the consumer watches for a
 * generation, from the subscription to its first assignment. */
static gboolean
needs_join_workaround (PbConsumer *self)
{
  return self->sticky && rd_kafka_version () < 0x020300ff;
}

/* Not after the consumer closed: its group metadata is gone then. */
static void
watch_join (PbConsumer *self)
{
  if (!self->joined_seen && group_generation (self) >= 0)
    {
      self->joined_seen = TRUE;
      _pb_clear_source (&self->join_watch);
    }
}

static gboolean
join_watch_cb (gpointer user_data)
{
  watch_join (user_data);

  return G_SOURCE_CONTINUE;
}

/* Whether freeing the client could abort the process. */
static gboolean
unsafe_to_destroy (PbConsumer *self)
{
  return needs_join_workaround (self) && !self->assigned_once && self->joined_seen;
}

/* A stop before the group answered closes at once: a closing consumer
 * ignores a JoinGroup answer that comes later. Once it answered, the
 * assignment follows in the same round trip: the stop waits for it, a
 * second at most. */
static gboolean
must_wait_for_first_assignment (PbConsumer *self)
{
  if (!needs_join_workaround (self) || self->assigned_once)
    return FALSE;

  watch_join (self);
  return self->joined_seen;
}

void
_pb_consumer_close (PbConsumer *self)
{
  if (self->close_requested)
    return;

  self->close_requested = TRUE;

  if (must_wait_for_first_assignment (self))
    {
      g_info ("Waiting up to %u ms for the group's first assignment before leaving it "
              "(librdkafka before 2.3.0 aborts otherwise)", FIRST_ASSIGNMENT_WAIT_MS);
      self->first_assign_timeout =
        _pb_timeout_source_new (self->context, FIRST_ASSIGNMENT_WAIT_MS,
                                G_PRIORITY_DEFAULT, "[paperboy] first assignment",
                                first_assign_timeout_cb, self, NULL);
      return;
    }

  begin_close (self);
}

/* Life cycle */

PbConsumer *
_pb_consumer_new (rd_kafka_conf_t            *conf,
                  GMainContext               *context,
                  int                         priority,
                  const PbConsumerCallbacks  *callbacks,
                  gpointer                    user_data,
                  GError                    **error)
{
  PbConsumer *self;
  rd_kafka_t *rk;
  guint keepalive_ms;
  char errstr[512];
  char buf[256];
  size_t size = sizeof buf;

  self = g_new0 (PbConsumer, 1);
  self->callbacks = callbacks;
  self->user_data = user_data;
  self->context = g_main_context_ref (context);
  self->priority = priority;
  self->topics = g_ptr_array_new_with_free_func ((GDestroyNotify) rd_kafka_topic_destroy);
  self->warnings.per_second = 10;
  self->repeats = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  size = 0;
  if (rd_kafka_conf_get (conf, "bootstrap.servers", NULL, &size) == RD_KAFKA_CONF_OK && size > 0)
    {
      self->bootstrap_servers = g_malloc (size);
      if (rd_kafka_conf_get (conf, "bootstrap.servers", self->bootstrap_servers, &size) !=
          RD_KAFKA_CONF_OK)
        g_clear_pointer (&self->bootstrap_servers, g_free);
    }
  size = sizeof buf;

  if (rd_kafka_conf_get (conf, "partition.assignment.strategy", buf, &size) == RD_KAFKA_CONF_OK)
    self->sticky = strstr (buf, "sticky") != NULL;
  /* Polled at least this often, idle or paused, to stay in the group. */
  keepalive_ms = MIN (conf_get_uint (conf, "max.poll.interval.ms", 300000) / 4, 1000);

  rd_kafka_conf_set_opaque (conf, self);
  rd_kafka_conf_set_log_cb (conf, log_cb);
  rd_kafka_conf_set_error_cb (conf, error_cb);
  rd_kafka_conf_set_rebalance_cb (conf, rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb (conf, offset_commit_cb);

  rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL)
    {
      rd_kafka_conf_destroy (conf);
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Invalid Kafka configuration: %s"), errstr);
      g_ptr_array_unref (self->topics);
      g_hash_table_unref (self->repeats);
      g_free (self->bootstrap_servers);
      g_main_context_unref (self->context);
      g_free (self);
      return NULL;
    }

  self->rk = rk;
  self->handle = _pb_kafka_handle_new (rk);

  /* Everything librdkafka has to say (rebalances, errors, logs) comes
   * through the consumer queue, served on the engine's thread. */
  rd_kafka_poll_set_consumer (rk);
  rd_kafka_set_log_queue (rk, NULL);

  self->source = _pb_kafka_source_new (rd_kafka_queue_get_consumer (rk), keepalive_ms, error);
  if (self->source == NULL)
    {
      _pb_consumer_free_async (self, NULL, NULL);
      return NULL;
    }

  g_source_set_priority (self->source, priority);
  g_source_set_callback (self->source, consumer_dispatch, self, NULL);
  g_source_attach (self->source, context);

  return self;
}

PbKafkaHandle *
_pb_consumer_get_handle (PbConsumer *self)
{
  return self->handle;
}

rd_kafka_topic_t *
_pb_consumer_topic_new (PbConsumer *self,
                        const char *topic)
{
  rd_kafka_topic_t *rkt = rd_kafka_topic_new (self->rk, topic, NULL);

  g_ptr_array_add (self->topics, rkt);

  return rkt;
}

gboolean
_pb_consumer_subscribe (PbConsumer          *self,
                        const char * const  *topics,
                        GError             **error)
{
  rd_kafka_topic_partition_list_t *subscription;
  rd_kafka_resp_err_t err;
  guint n = g_strv_length ((char **)topics);

  subscription = rd_kafka_topic_partition_list_new (n);
  for (guint i = 0; i < n; i++)
    rd_kafka_topic_partition_list_add (subscription, topics[i], RD_KAFKA_PARTITION_UA);

  err = rd_kafka_subscribe (self->rk, subscription);
  rd_kafka_topic_partition_list_destroy (subscription);

  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      _pb_kafka_set_error (error, err, _("Could not subscribe"));
      return FALSE;
    }

  /* Until a broker answers, the engine does not know it is connected. */
  start_probing (self);

  if (needs_join_workaround (self))
    self->join_watch = _pb_timeout_source_new (self->context, JOIN_WATCH_MS,
                                               G_PRIORITY_DEFAULT, "[paperboy] join watch",
                                               join_watch_cb, self, NULL);

  return TRUE;
}

gboolean
_pb_consumer_pending (PbConsumer *self)
{
  return !self->closing && _pb_kafka_source_pending (self->source);
}

void
_pb_consumer_set_paused (PbConsumer                            *self,
                         const rd_kafka_topic_partition_list_t *partitions,
                         gboolean                               paused)
{
  rd_kafka_topic_partition_list_t *list = (rd_kafka_topic_partition_list_t *)partitions;

  if (list->cnt == 0)
    return;

  if (paused)
    rd_kafka_pause_partitions (self->rk, list);
  else
    rd_kafka_resume_partitions (self->rk, list);
}

void
_pb_consumer_store (PbConsumer                      *self,
                    rd_kafka_topic_partition_list_t *offsets)
{
  rd_kafka_resp_err_t err = rd_kafka_offsets_store (self->rk, offsets);

  /* _STATE means the partition is no longer assigned: nothing to do. */
  for (int i = 0; err != RD_KAFKA_RESP_ERR_NO_ERROR && i < offsets->cnt; i++)
    if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR &&
        offsets->elems[i].err != RD_KAFKA_RESP_ERR__STATE &&
        _pb_rate_limit_allow (&self->warnings))
      g_warning ("Could not store the offset of %s[%d]: %s",
                 offsets->elems[i].topic, (int)offsets->elems[i].partition,
                 rd_kafka_err2str (offsets->elems[i].err));
}

void
_pb_consumer_commit (PbConsumer                            *self,
                     const rd_kafka_topic_partition_list_t *offsets)
{
  rd_kafka_resp_err_t err;

  err = rd_kafka_commit (self->rk, offsets, TRUE);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    g_debug ("Could not commit: %s", rd_kafka_err2str (err));
}

/* Clients that cannot be freed, kept where leak checkers see them. */
static void
keep_forever (PbKafkaHandle *handle)
{
  G_LOCK_DEFINE_STATIC (kept);
  static GPtrArray *kept = NULL;

  G_LOCK (kept);
  if (kept == NULL)
    kept = g_ptr_array_new ();
  g_ptr_array_add (kept, handle);
  G_UNLOCK (kept);
}

static void
handle_released_cb (GObject      *source_object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  GTask *task = user_data;

  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

void
_pb_consumer_free_async (PbConsumer          *self,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  GTask *task;

  /* The callbacks run on the consumer's context. */
  g_main_context_push_thread_default (self->context);
  task = g_task_new (NULL, NULL, callback, user_data);
  g_task_set_source_tag (task, _pb_consumer_free_async);

  if (self->source != NULL)
    _pb_kafka_source_release (self->source);
  if (self->close_source != NULL)
    _pb_kafka_source_release (self->close_source);
  self->close_queue = NULL;
  _pb_clear_source (&self->source);
  _pb_clear_source (&self->close_source);
  _pb_clear_source (&self->first_assign_timeout);
  _pb_clear_source (&self->join_watch);
  _pb_clear_source (&self->probe_timer);
  g_clear_pointer (&self->topics, g_ptr_array_unref);
  g_clear_pointer (&self->repeats, g_hash_table_unref);
  g_clear_pointer (&self->bootstrap_servers, g_free);

  if (self->probe != NULL)
    self->probe->orphaned = TRUE;

  /* rd_kafka_destroy() blocks: it runs in a worker thread, and without
   * closing the consumer, which was closed already or could not be. */
  if (unsafe_to_destroy (self))
    {
      g_warning ("The consumer left its group before the group assigned it partitions: "
                 "with librdkafka before 2.3.0, its client cannot be freed without "
                 "aborting the process (librdkafka issue #4381), and stays in memory");
      keep_forever (self->handle);
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
  else if (self->probe != NULL)
    {
      /* Released once the probe is done. */
      self->probe->consumer_handle = self->handle;
      self->probe->free_task = task;
    }
  else
    _pb_kafka_handle_unref_async (self->handle, handle_released_cb, task);

  g_main_context_pop_thread_default (self->context);
  g_main_context_unref (self->context);
  g_free (self);
}
