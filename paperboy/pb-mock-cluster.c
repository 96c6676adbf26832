/* pb-mock-cluster.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-mock-cluster.h"

#include <glib/gi18n-lib.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "pb-error.h"
#include "pb-kafka-private.h"
#include "pb-mock-cluster-private.h"

/**
 * PbMockCluster:
 *
 * A Kafka cluster inside the process, for demos and tests.
 *
 * It is librdkafka's mock cluster: brokers that speak the Kafka protocol on
 * loopback TCP ports, so any Kafka client (another engine, kcat,
 * confluent-kafka-python) can use it through
 * [property@Paperboy.MockCluster:bootstrap-servers]. It keeps everything
 * in memory, auto-creates topics with 4 partitions on first use, has no log
 * compaction and keeps about 5 MiB per partition.
 *
 * An engine whose [property@Paperboy.Engine:bootstrap-servers] is
 * `mock://` (or `mock://N` for N brokers) creates one of its own; to share
 * one between engines, give it to each through
 * [property@Paperboy.Engine:mock-cluster].
 *
 * Creating a cluster can fail: [ctor@Paperboy.MockCluster.new] reports the
 * error, and so does [method@Gio.Initable.init] for an object created with
 * [ctor@GObject.Object.new].
 */

#define OPERATION_TIMEOUT_MS 30000
#define MAX_BROKERS          64

struct _PbMockCluster
{
  GObject                  parent_instance;

  guint                    n_brokers;
  rd_kafka_t              *host;
  rd_kafka_mock_cluster_t *mcluster;
  char                    *bootstrap_servers;
  GError                  *init_error;

  GMutex                   producer_lock;
  rd_kafka_t              *producer;
};

enum {
  PROP_0,
  PROP_N_BROKERS,
  PROP_BOOTSTRAP_SERVERS,
  N_PROPS
};

static void pb_mock_cluster_initable_iface_init (GInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PbMockCluster, pb_mock_cluster, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      pb_mock_cluster_initable_iface_init))

static GParamSpec *properties[N_PROPS];

typedef struct
{
  gboolean            done;
  rd_kafka_resp_err_t err;
  gint64              offset;
} DeliveryResult;

static void
log_cb (const rd_kafka_t *rk,
        int               level,
        const char       *facility,
        const char       *buf)
{
  _pb_kafka_log (rk, level, facility, buf);
}

static void
delivery_cb (rd_kafka_t               *rk,
             const rd_kafka_message_t *rkmessage,
             void                     *opaque)
{
  DeliveryResult *result = rkmessage->_private;

  result->err = rkmessage->err;
  result->offset = rkmessage->offset;
  result->done = TRUE;
}

/* The clients that talk to the cluster keep their logs on their main
 * queue, which the calls below serve on the calling thread: they never log
 * from a librdkafka thread. The host handle of the cluster itself logs
 * warnings only. */
static rd_kafka_conf_t *
client_conf_new (PbMockCluster *self)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();

  rd_kafka_conf_set_log_cb (conf, log_cb);
  if (self->bootstrap_servers != NULL)
    {
      _pb_kafka_conf_set (conf, "bootstrap.servers", self->bootstrap_servers, NULL);
      _pb_kafka_conf_set (conf, "log.queue", "true", NULL);
    }
  _pb_kafka_conf_set (conf, "client.id", "paperboy-mock-cluster", NULL);

  return conf;
}

static rd_kafka_t *
client_new (rd_kafka_type_t   type,
            rd_kafka_conf_t  *conf,
            GError          **error)
{
  char errstr[512];
  rd_kafka_t *rk = rd_kafka_new (type, conf, errstr, sizeof errstr);

  if (rk == NULL)
    {
      rd_kafka_conf_destroy (conf);
      g_set_error (error, PB_ERROR, PB_ERROR_KAFKA,
                   _("Could not create a Kafka client: %s"), errstr);
      return NULL;
    }

  rd_kafka_set_log_queue (rk, NULL);

  return rk;
}

static gboolean
check_ready (PbMockCluster  *self,
             GError        **error)
{
  if (self->mcluster != NULL)
    return TRUE;

  if (self->init_error != NULL)
    g_propagate_error (error, g_error_copy (self->init_error));
  else
    g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                         _("The mock cluster is not running"));

  return FALSE;
}

static void
pb_mock_cluster_constructed (GObject *object)
{
  PbMockCluster *self = (PbMockCluster *)object;
  rd_kafka_conf_t *conf;
  char errstr[512];

  G_OBJECT_CLASS (pb_mock_cluster_parent_class)->constructed (object);

  /* The mock needs a handle to live in; a producer that never connects. */
  conf = client_conf_new (self);
  _pb_kafka_conf_set (conf, "log_level", "4", NULL);
  self->host = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (self->host == NULL)
    {
      rd_kafka_conf_destroy (conf);
      g_set_error (&self->init_error, PB_ERROR, PB_ERROR_KAFKA,
                   _("Could not create the mock cluster: %s"), errstr);
      return;
    }

  self->mcluster = rd_kafka_mock_cluster_new (self->host, (int)self->n_brokers);
  if (self->mcluster == NULL)
    {
      g_set_error_literal (&self->init_error, PB_ERROR, PB_ERROR_KAFKA,
                           _("Could not create the mock cluster"));
      return;
    }

  self->bootstrap_servers = g_strdup (rd_kafka_mock_cluster_bootstraps (self->mcluster));
}

static void
pb_mock_cluster_finalize (GObject *object)
{
  PbMockCluster *self = (PbMockCluster *)object;

  g_clear_pointer (&self->producer, rd_kafka_destroy);
  /* The cluster goes before the handle it lives in. */
  g_clear_pointer (&self->mcluster, rd_kafka_mock_cluster_destroy);
  g_clear_pointer (&self->host, rd_kafka_destroy);
  g_clear_pointer (&self->bootstrap_servers, g_free);
  g_clear_error (&self->init_error);
  g_mutex_clear (&self->producer_lock);

  G_OBJECT_CLASS (pb_mock_cluster_parent_class)->finalize (object);
}

static void
pb_mock_cluster_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  PbMockCluster *self = PB_MOCK_CLUSTER (object);

  switch (prop_id)
    {
    case PROP_N_BROKERS:
      g_value_set_uint (value, self->n_brokers);
      break;

    case PROP_BOOTSTRAP_SERVERS:
      g_value_set_string (value, self->bootstrap_servers);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_mock_cluster_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  PbMockCluster *self = PB_MOCK_CLUSTER (object);

  switch (prop_id)
    {
    case PROP_N_BROKERS:
      self->n_brokers = g_value_get_uint (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_mock_cluster_class_init (PbMockClusterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = pb_mock_cluster_constructed;
  object_class->finalize = pb_mock_cluster_finalize;
  object_class->get_property = pb_mock_cluster_get_property;
  object_class->set_property = pb_mock_cluster_set_property;

  /**
   * PbMockCluster:n-brokers:
   *
   * The number of brokers, whose ids are 1 to n-brokers.
   */
  properties[PROP_N_BROKERS] =
    g_param_spec_uint ("n-brokers", NULL, NULL,
                       1, MAX_BROKERS, 1,
                       (G_PARAM_READWRITE |
                        G_PARAM_CONSTRUCT_ONLY |
                        G_PARAM_STATIC_STRINGS));

  /**
   * PbMockCluster:bootstrap-servers:
   *
   * The `host:port` addresses of the brokers, separated by commas, for a
   * Kafka client's `bootstrap.servers`.
   */
  properties[PROP_BOOTSTRAP_SERVERS] =
    g_param_spec_string ("bootstrap-servers", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
pb_mock_cluster_init (PbMockCluster *self)
{
  self->n_brokers = 1;
  g_mutex_init (&self->producer_lock);
}

static gboolean
pb_mock_cluster_initable_init (GInitable     *initable,
                               GCancellable  *cancellable,
                               GError       **error)
{
  return check_ready (PB_MOCK_CLUSTER (initable), error);
}

static void
pb_mock_cluster_initable_iface_init (GInitableIface *iface)
{
  iface->init = pb_mock_cluster_initable_init;
}

/**
 * pb_mock_cluster_new: (constructor)
 * @n_brokers: the number of brokers, from 1 to 64
 * @error: return location for a #GError
 *
 * Starts a mock Kafka cluster of @n_brokers brokers.
 *
 * Returns: (transfer full) (nullable): a new cluster, or %NULL with @error
 *   set
 */
PbMockCluster *
pb_mock_cluster_new (guint    n_brokers,
                     GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (n_brokers < 1 || n_brokers > MAX_BROKERS)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("A mock cluster has 1 to %d brokers, not %u"), MAX_BROKERS, n_brokers);
      return NULL;
    }

  return g_initable_new (PB_TYPE_MOCK_CLUSTER, NULL, error,
                         "n-brokers", n_brokers,
                         NULL);
}

/**
 * pb_mock_cluster_get_bootstrap_servers:
 * @self: a [class@Paperboy.MockCluster]
 *
 * Gets [property@Paperboy.MockCluster:bootstrap-servers].
 *
 * Returns: (nullable): the bootstrap servers, or %NULL if the cluster
 *   could not start
 */
const char *
pb_mock_cluster_get_bootstrap_servers (PbMockCluster *self)
{
  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), NULL);

  return self->bootstrap_servers;
}

rd_kafka_mock_cluster_t *
_pb_mock_cluster_get_mock (PbMockCluster *self)
{
  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), NULL);

  return self->mcluster;
}

/**
 * pb_mock_cluster_get_n_brokers:
 * @self: a [class@Paperboy.MockCluster]
 *
 * Gets [property@Paperboy.MockCluster:n-brokers].
 *
 * Returns: the number of brokers
 */
guint
pb_mock_cluster_get_n_brokers (PbMockCluster *self)
{
  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), 0);

  return self->n_brokers;
}

/**
 * pb_mock_cluster_create_topic:
 * @self: a [class@Paperboy.MockCluster]
 * @topic: the topic name
 * @partitions: the number of partitions, at least 1
 * @error: return location for a #GError
 *
 * Creates @topic with @partitions partitions, replicated on up to three
 * brokers. Creating a topic that exists changes nothing. The mock cluster
 * cannot set topic configurations.
 *
 * Returns: %TRUE on success, %FALSE with @error set otherwise
 */
gboolean
pb_mock_cluster_create_topic (PbMockCluster  *self,
                              const char     *topic,
                              int             partitions,
                              GError        **error)
{
  rd_kafka_resp_err_t err;

  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), FALSE);
  g_return_val_if_fail (topic != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_ready (self, error))
    return FALSE;

  if (partitions < 1 || *topic == '\0')
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Cannot create topic “%s” with %d partitions"), topic, partitions);
      return FALSE;
    }

  err = rd_kafka_mock_topic_create (self->mcluster, topic, partitions,
                                    (int)MIN (self->n_brokers, 3));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    {
      _pb_kafka_set_error (error, err, _("Could not create the topic"));
      return FALSE;
    }

  return TRUE;
}

/**
 * pb_mock_cluster_produce:
 * @self: a [class@Paperboy.MockCluster]
 * @topic: the topic
 * @partition: the partition, or -1 to let the key decide, as Kafka's
 *   default partitioner (murmur2) does
 * @key: (nullable): the key, or %NULL for a null key
 * @value: (nullable): the value, or %NULL for a tombstone
 * @headers: (nullable): headers as a `a(smay)` variant
 * @error: return location for a #GError
 *
 * Produces one record and waits until the cluster acknowledged it. This
 * blocks the calling thread for a network round trip: it is meant for
 * demos and tests. A floating @headers is consumed.
 *
 * Returns: the record's offset, or -1 with @error set on failure
 */
gint64
pb_mock_cluster_produce (PbMockCluster  *self,
                         const char     *topic,
                         int             partition,
                         GBytes         *key,
                         GBytes         *value,
                         GVariant       *headers,
                         GError        **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(GVariant) owned_headers = NULL;
  DeliveryResult result = { FALSE, RD_KAFKA_RESP_ERR_NO_ERROR, -1 };
  rd_kafka_headers_t *hdrs;
  rd_kafka_resp_err_t err;
  gconstpointer key_data = NULL;
  gconstpointer value_data = NULL;
  gsize key_len = 0;
  gsize value_len = 0;

  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), -1);
  g_return_val_if_fail (topic != NULL, -1);
  g_return_val_if_fail (partition >= -1, -1);
  g_return_val_if_fail (headers == NULL ||
                        g_variant_is_of_type (headers, G_VARIANT_TYPE ("a(smay)")), -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (headers != NULL)
    owned_headers = g_variant_ref_sink (headers);

  if (!check_ready (self, error))
    return -1;

  locker = g_mutex_locker_new (&self->producer_lock);

  if (self->producer == NULL)
    {
      rd_kafka_conf_t *conf = client_conf_new (self);

      _pb_kafka_conf_set (conf, "linger.ms", "0", NULL);
      _pb_kafka_conf_set (conf, "message.timeout.ms", G_STRINGIFY (OPERATION_TIMEOUT_MS), NULL);
      /* Kafka's default, as the engine's producer. */
      _pb_kafka_conf_set (conf, "partitioner", "murmur2_random", NULL);
      rd_kafka_conf_set_dr_msg_cb (conf, delivery_cb);

      self->producer = client_new (RD_KAFKA_PRODUCER, conf, error);
      if (self->producer == NULL)
        return -1;
    }

  if (key != NULL)
    {
      key_data = g_bytes_get_data (key, &key_len);
      if (key_data == NULL)
        key_data = "";
    }
  if (value != NULL)
    {
      value_data = g_bytes_get_data (value, &value_len);
      if (value_data == NULL)
        value_data = "";
    }

  hdrs = _pb_kafka_headers_from_variant (owned_headers);
  err = rd_kafka_producev (self->producer,
                           RD_KAFKA_V_TOPIC (topic),
                           RD_KAFKA_V_PARTITION (partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
                           RD_KAFKA_V_KEY (key_data, key_len),
                           RD_KAFKA_V_VALUE ((void *)value_data, value_len),
                           RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_HEADERS (hdrs),
                           RD_KAFKA_V_OPAQUE (&result),
                           RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      g_clear_pointer (&hdrs, rd_kafka_headers_destroy);
      _pb_kafka_set_error (error, err, _("Could not produce a record"));
      return -1;
    }

  while (!result.done)
    rd_kafka_poll (self->producer, 100);

  if (result.err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      _pb_kafka_set_error (error, result.err, _("Could not produce a record"));
      return -1;
    }

  return result.offset;
}

/**
 * pb_mock_cluster_get_committed_offset:
 * @self: a [class@Paperboy.MockCluster]
 * @group_id: a consumer group
 * @topic: a topic
 * @partition: a partition of @topic
 * @error: return location for a #GError
 *
 * Asks the cluster which offset @group_id committed for @partition of
 * @topic, that is the offset of the next record the group will read. This
 * blocks the calling thread for a network round trip.
 *
 * Returns: the committed offset, -1 if the group committed none, or -1
 *   with @error set on failure
 */
gint64
pb_mock_cluster_get_committed_offset (PbMockCluster  *self,
                                      const char     *group_id,
                                      const char     *topic,
                                      int             partition,
                                      GError        **error)
{
  rd_kafka_topic_partition_list_t *list;
  rd_kafka_conf_t *conf;
  rd_kafka_resp_err_t err;
  rd_kafka_t *consumer;
  gint64 offset = -1;

  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), -1);
  g_return_val_if_fail (group_id != NULL, -1);
  g_return_val_if_fail (topic != NULL, -1);
  g_return_val_if_fail (partition >= 0, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (!check_ready (self, error))
    return -1;

  conf = client_conf_new (self);
  _pb_kafka_conf_set (conf, "group.id", group_id, NULL);
  _pb_kafka_conf_set (conf, "enable.auto.commit", "false", NULL);
  consumer = client_new (RD_KAFKA_CONSUMER, conf, error);
  if (consumer == NULL)
    return -1;

  list = rd_kafka_topic_partition_list_new (1);
  rd_kafka_topic_partition_list_add (list, topic, partition);

  err = rd_kafka_committed (consumer, list, OPERATION_TIMEOUT_MS);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    err = list->elems[0].err;

  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    _pb_kafka_set_error (error, err, _("Could not read the committed offset"));
  else if (list->elems[0].offset >= 0)
    offset = list->elems[0].offset;

  rd_kafka_topic_partition_list_destroy (list);
  rd_kafka_consumer_close (consumer);
  rd_kafka_destroy (consumer);

  return offset;
}

static gboolean
check_broker (PbMockCluster  *self,
              int             broker_id,
              GError        **error)
{
  if (!check_ready (self, error))
    return FALSE;

  if (broker_id < 1 || (guint)broker_id > self->n_brokers)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("There is no broker %d: broker ids are 1 to %u"),
                   broker_id, self->n_brokers);
      return FALSE;
    }

  return TRUE;
}

/**
 * pb_mock_cluster_set_broker_down:
 * @self: a [class@Paperboy.MockCluster]
 * @broker_id: a broker id, from 1 to [property@Paperboy.MockCluster:n-brokers]
 * @error: return location for a #GError
 *
 * Takes a broker down: it closes its connections and refuses new ones
 * until [method@Paperboy.MockCluster.set_broker_up].
 *
 * Returns: %TRUE on success, %FALSE with @error set otherwise
 */
gboolean
pb_mock_cluster_set_broker_down (PbMockCluster  *self,
                                 int             broker_id,
                                 GError        **error)
{
  rd_kafka_resp_err_t err;

  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_broker (self, broker_id, error))
    return FALSE;

  err = rd_kafka_mock_broker_set_down (self->mcluster, broker_id);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      _pb_kafka_set_error (error, err, _("Could not take the broker down"));
      return FALSE;
    }

  return TRUE;
}

/**
 * pb_mock_cluster_set_broker_up:
 * @self: a [class@Paperboy.MockCluster]
 * @broker_id: a broker id, from 1 to [property@Paperboy.MockCluster:n-brokers]
 * @error: return location for a #GError
 *
 * Brings a broker that [method@Paperboy.MockCluster.set_broker_down] took
 * down back up.
 *
 * Returns: %TRUE on success, %FALSE with @error set otherwise
 */
gboolean
pb_mock_cluster_set_broker_up (PbMockCluster  *self,
                               int             broker_id,
                               GError        **error)
{
  rd_kafka_resp_err_t err;

  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_broker (self, broker_id, error))
    return FALSE;

  err = rd_kafka_mock_broker_set_up (self->mcluster, broker_id);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      _pb_kafka_set_error (error, err, _("Could not bring the broker up"));
      return FALSE;
    }

  return TRUE;
}

/**
 * pb_mock_cluster_set_topic_error:
 * @self: a [class@Paperboy.MockCluster]
 * @topic: a topic
 * @error_code: a Kafka protocol error code, or 0 to clear it
 * @error: return location for a #GError
 *
 * Makes the cluster answer every metadata request about @topic with
 * @error_code, for example 3 (`UNKNOWN_TOPIC_OR_PARTITION`) to act as if
 * @topic did not exist: the mock cluster cannot delete topics, and creates
 * missing ones on first use.
 *
 * Returns: %TRUE on success, %FALSE with @error set otherwise
 */
gboolean
pb_mock_cluster_set_topic_error (PbMockCluster  *self,
                                 const char     *topic,
                                 int             error_code,
                                 GError        **error)
{
  g_return_val_if_fail (PB_IS_MOCK_CLUSTER (self), FALSE);
  g_return_val_if_fail (topic != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_ready (self, error))
    return FALSE;

  rd_kafka_mock_topic_set_error (self->mcluster, topic, (rd_kafka_resp_err_t)error_code);

  return TRUE;
}
