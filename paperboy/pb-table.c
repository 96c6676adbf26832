/* pb-table.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-table-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "pb-codec-private.h"
#include "pb-enum-types.h"
#include "pb-error.h"
#include "pb-kafka-config-private.h"
#include "pb-memory-store-private.h"
#include "pb-rocksdb-store-private.h"
#include "pb-store-private.h"
#include "pb-store-uri-private.h"

/**
 * PbTable:
 *
 * A key/value table kept by the engine, backed by a [iface@Paperboy.Store]
 * and by a compacted changelog topic in Kafka.
 *
 * Keys are UTF-8 strings and values are [struct@GLib.Variant]s. A table is
 * registered with [method@Paperboy.Engine.register_table]; when the engine
 * runs, it creates the changelog topic if it is missing, and restores the
 * partitions of the table that go with the input partitions the consumer
 * group assigns it before it handles their records, then emits
 * [signal@Paperboy.Table::restored].
 *
 * [method@Paperboy.Table.set] and [method@Paperboy.Table.delete] apply at
 * once to the table's pending changes, which [method@Paperboy.Table.get]
 * reads first, and write a record to the changelog. A change reaches the
 * store only once Kafka acknowledged its changelog record, and the engine
 * commits the offset of a source record only once every change its
 * handling made was acknowledged: a process killed at any moment leaves a
 * store that is the fold of a prefix of its changelog, and the records
 * whose changes are missing are consumed again.
 *
 * The changelog record of a change has the key as its key, the value as
 * JSON (readable by any Kafka tool) and two headers: `paperboy.type`, the
 * GVariant type string, and `paperboy.encoding`, `json/1`. A delete is a
 * tombstone. Values whose type JSON cannot carry exactly (any type holding
 * a `v`, a maybe of a maybe, or a dictionary with `d` keys) are normalized
 * through one JSON round trip before they are stored, so that the live
 * table and the restored one agree: inside a `v`, integers become `x`,
 * other numbers `d`, null `mv`, arrays `av` and objects `a{sv}`. Doubles
 * that are not finite are refused. `t` values above %G_MAXINT64 are kept
 * exactly but read as negative numbers in the JSON.
 *
 * [signal@Paperboy.Table::changed] supports details: connect to
 * `changed::some-key` to hear about a single key. A restore emits no
 * `changed`.
 *
 * The table's stores: `memory://` keeps the table in memory and restores
 * the partitions it holds from their whole changelog in each new process,
 * and again when they come back after a revocation; `rocksdb://` keeps it in a
 * RocksDB database under the engine's [property@Paperboy.Engine:state-dir],
 * and `rocksdb:///absolute/path` in the one at that path. A RocksDB store
 * keeps the changelog offsets it holds beside the data and restores only
 * what came after them. Any other store is given with
 * [ctor@Paperboy.Table.new_with_store].
 *
 * A table is partitioned like the engine's input topics: its changelog has
 * as many partitions, a key is in the partition that
 * [property@Paperboy.Table:partitioner] gives it, and the member of the
 * group that was assigned input partition p holds table partition p.
 * Reading or writing a key of a partition another member holds fails with
 * %PB_ERROR_NOT_OWNER. See the [Tables](tables.html) guide.
 *
 * Use a table from the engine's main context, the thread that runs it.
 */

/* Delivered changes wait for this many others before they go to the store
 * together, or for the engine's next flush, at most a few milliseconds
 * later. */
#define FLUSH_CHANGES 4096

/* A key's latest value until the store has it. The pending map holds a
 * reference, and so does each of its writes, which need no lookup when
 * they are delivered. */
typedef struct
{
  guint      ref_count;
  guint      pending;     /* undelivered writes of the key */
  gboolean   in_map;      /* FALSE once the map forgot it */
  guint64    batch;       /* the last delivered batch that has the key */
  GVariant  *value;       /* nullable: deleted */
  char       key[];
} PbPending;

typedef struct
{
  PbDelivery  delivery;
  PbTable    *table;
  PbPending  *pending;    /* NULL: written to a memory store at once */
  char       *key;
  GVariant   *value;      /* nullable: deleted */
  int         partition;
  const char *source;     /* exact-state: the record's topic (interned), or NULL */
  gint64      source_offset;
  guint       source_seq;
} PbWrite;

/* Exact-state: for a changelog partition and a topic of the engine, the
 * last change of a record the table holds, and the changes that the
 * record being handled made so far. */
typedef struct _PbMark PbMark;
struct _PbMark
{
  PbMark     *next;
  const char *topic;      /* interned */
  gint64      offset;     /* -1: none */
  guint       seq;
  guint       serial;     /* the handling of the record writing now */
  guint       next_seq;
};

struct _PbTable
{
  GObject      parent_instance;

  char        *name;
  char        *store_uri;
  char        *changelog_topic_name;
  int          num_partitions;
  int          replication_factor;
  gint64       segment_ms;
  double       min_cleanable_dirty_ratio;
  gint64       max_compaction_lag_ms;
  gboolean     strict;
  gboolean     wipe_damaged_store;
  gboolean     global;
  int          standby_replicas;
  PbTablePartitioner partitioner;

  PbStore     *store;
  gboolean     opened;
  GHashTable  *pending;   /* key → PbPending */
  PbProducer  *producer;  /* while a run owns the table */
  PbStoreBatch *delivered;
  guint64      delivered_batch;    /* the number of `delivered`, from 1 */
  GString     *json;      /* the value being written */
  GPtrArray   *settled;   /* PbPending whose writes all reached
                           * `delivered` */

  guint64      restored_records;
  guint64      bad_records;
  guint64      standby_records;
  int          n_partitions_seen;  /* the changelog's, once known */
  guint8      *owned;              /* by changelog partition while a run owns
                                    * the table, or NULL: all are readable */
  guint       *undelivered;        /* by changelog partition: the writes of
                                    * a memory store not delivered yet */
  guint        in_flight;          /* writes awaiting their report, which
                                    * hold one reference for them all */
  PbHost      *host;               /* exact-state: where the sources are */
  PbMark     **marks;              /* exact-state: by changelog partition */
  int          n_marks;
  guint64      replayed_writes;    /* exact-state: writes it had already */
  gboolean     restoring;          /* a worker thread has the store */
  gboolean     registered;
  gboolean     store_failed;       /* this run's writes stop at the store */
  int          write_failed;       /* atomic: the same, for the thread that
                                    * writes */
  guint        write_delay_ms;     /* tests: each store write waits first */
};

enum {
  PROP_0,
  PROP_NAME,
  PROP_STORE_URI,
  PROP_STORE,
  PROP_CHANGELOG_TOPIC_NAME,
  PROP_CHANGELOG_TOPIC_NUM_PARTITIONS,
  PROP_CHANGELOG_TOPIC_REPLICATION_FACTOR,
  PROP_CHANGELOG_TOPIC_SEGMENT_MS,
  PROP_CHANGELOG_TOPIC_MIN_CLEANABLE_DIRTY_RATIO,
  PROP_CHANGELOG_TOPIC_MAX_COMPACTION_LAG_MS,
  PROP_STRICT,
  PROP_PARTITIONER,
  PROP_WIPE_DAMAGED_STORE,
  PROP_GLOBAL,
  PROP_STANDBY_REPLICAS,
  PROP_RESTORED_RECORDS,
  PROP_BAD_RECORDS,
  PROP_STANDBY_RECORDS,
  N_PROPS
};

enum {
  CHANGED,
  RESTORED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (PbTable, pb_table, G_TYPE_OBJECT)

static PbPending *
pending_new (const char *key)
{
  gsize len = strlen (key);
  PbPending *pending = g_malloc (sizeof (PbPending) + len + 1);

  pending->ref_count = 1;
  pending->pending = 0;
  pending->in_map = TRUE;
  pending->batch = 0;
  pending->value = NULL;
  memcpy (pending->key, key, len + 1);

  return pending;
}

static PbPending *
pending_ref (PbPending *pending)
{
  pending->ref_count++;

  return pending;
}

static void
pending_unref (gpointer data)
{
  PbPending *pending = data;

  if (--pending->ref_count > 0)
    return;

  g_clear_pointer (&pending->value, g_variant_unref);
  g_free (pending);
}

/* The map's destroy function: its key is the entry's. */
static void
pending_forget (gpointer data)
{
  PbPending *pending = data;

  pending->in_map = FALSE;
  pending_unref (pending);
}

static void
pb_table_finalize (GObject *object)
{
  PbTable *self = (PbTable *)object;

  g_assert (self->producer == NULL);

  if (self->store != NULL && self->opened)
    pb_store_close (self->store);
  g_clear_object (&self->store);
  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->delivered, pb_store_batch_unref);
  g_clear_pointer (&self->settled, g_ptr_array_unref);
  g_string_free (self->json, TRUE);
  g_free (self->owned);
  g_free (self->undelivered);
  g_free (self->name);
  g_free (self->store_uri);
  g_free (self->changelog_topic_name);

  G_OBJECT_CLASS (pb_table_parent_class)->finalize (object);
}

static void
pb_table_constructed (GObject *object)
{
  PbTable *self = (PbTable *)object;

  G_OBJECT_CLASS (pb_table_parent_class)->constructed (object);

  if (self->changelog_topic_name == NULL && self->name != NULL)
    self->changelog_topic_name = g_strconcat (self->name, "-changelog", NULL);
}

static void
pb_table_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  PbTable *self = PB_TABLE (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;

    case PROP_STORE_URI:
      g_value_set_string (value, self->store_uri);
      break;

    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;

    case PROP_CHANGELOG_TOPIC_NAME:
      g_value_set_string (value, self->changelog_topic_name);
      break;

    case PROP_CHANGELOG_TOPIC_NUM_PARTITIONS:
      g_value_set_int (value, self->num_partitions);
      break;

    case PROP_CHANGELOG_TOPIC_REPLICATION_FACTOR:
      g_value_set_int (value, self->replication_factor);
      break;

    case PROP_CHANGELOG_TOPIC_SEGMENT_MS:
      g_value_set_int64 (value, self->segment_ms);
      break;

    case PROP_CHANGELOG_TOPIC_MIN_CLEANABLE_DIRTY_RATIO:
      g_value_set_double (value, self->min_cleanable_dirty_ratio);
      break;

    case PROP_CHANGELOG_TOPIC_MAX_COMPACTION_LAG_MS:
      g_value_set_int64 (value, self->max_compaction_lag_ms);
      break;

    case PROP_STRICT:
      g_value_set_boolean (value, self->strict);
      break;

    case PROP_PARTITIONER:
      g_value_set_enum (value, self->partitioner);
      break;

    case PROP_WIPE_DAMAGED_STORE:
      g_value_set_boolean (value, self->wipe_damaged_store);
      break;

    case PROP_GLOBAL:
      g_value_set_boolean (value, self->global);
      break;

    case PROP_STANDBY_REPLICAS:
      g_value_set_int (value, self->standby_replicas);
      break;

    case PROP_RESTORED_RECORDS:
      g_value_set_uint64 (value, self->restored_records);
      break;

    case PROP_BAD_RECORDS:
      g_value_set_uint64 (value, self->bad_records);
      break;

    case PROP_STANDBY_RECORDS:
      g_value_set_uint64 (value, self->standby_records);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_table_set_property (GObject      *object,
                       guint         prop_id,
                       const GValue *value,
                       GParamSpec   *pspec)
{
  PbTable *self = PB_TABLE (object);

  switch (prop_id)
    {
    case PROP_NAME:
      self->name = g_value_dup_string (value);
      break;

    case PROP_STORE_URI:
      self->store_uri = g_value_dup_string (value);
      break;

    case PROP_STORE:
      self->store = g_value_dup_object (value);
      break;

    case PROP_CHANGELOG_TOPIC_NAME:
      pb_table_set_changelog_topic_name (self, g_value_get_string (value));
      break;

    case PROP_CHANGELOG_TOPIC_NUM_PARTITIONS:
      pb_table_set_changelog_topic_num_partitions (self, g_value_get_int (value));
      break;

    case PROP_CHANGELOG_TOPIC_REPLICATION_FACTOR:
      pb_table_set_changelog_topic_replication_factor (self, g_value_get_int (value));
      break;

    case PROP_CHANGELOG_TOPIC_SEGMENT_MS:
      pb_table_set_changelog_topic_segment_ms (self, g_value_get_int64 (value));
      break;

    case PROP_CHANGELOG_TOPIC_MIN_CLEANABLE_DIRTY_RATIO:
      pb_table_set_changelog_topic_min_cleanable_dirty_ratio (self, g_value_get_double (value));
      break;

    case PROP_CHANGELOG_TOPIC_MAX_COMPACTION_LAG_MS:
      pb_table_set_changelog_topic_max_compaction_lag_ms (self, g_value_get_int64 (value));
      break;

    case PROP_STRICT:
      pb_table_set_strict (self, g_value_get_boolean (value));
      break;

    case PROP_PARTITIONER:
      pb_table_set_partitioner (self, g_value_get_enum (value));
      break;

    case PROP_WIPE_DAMAGED_STORE:
      pb_table_set_wipe_damaged_store (self, g_value_get_boolean (value));
      break;

    case PROP_GLOBAL:
      pb_table_set_global (self, g_value_get_boolean (value));
      break;

    case PROP_STANDBY_REPLICAS:
      pb_table_set_standby_replicas (self, g_value_get_int (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_table_class_init (PbTableClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = pb_table_constructed;
  object_class->finalize = pb_table_finalize;
  object_class->get_property = pb_table_get_property;
  object_class->set_property = pb_table_set_property;

  /**
   * PbTable:name:
   *
   * The table's name, unique in its engine.
   */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:store-uri:
   *
   * Where the table keeps its data: `memory://`, `rocksdb://` (a database
   * named after the table in the engine's state directory) or
   * `rocksdb:///absolute/path`. %NULL when the table was given a store.
   */
  properties[PROP_STORE_URI] =
    g_param_spec_string ("store-uri", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:store:
   *
   * The table's store: the one given at construction, or the one made
   * from [property@Paperboy.Table:store-uri] when the engine first ran.
   */
  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL,
                         PB_TYPE_STORE,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:changelog-topic-name:
   *
   * The changelog topic; by default the table's name followed by
   * `-changelog`.
   */
  properties[PROP_CHANGELOG_TOPIC_NAME] =
    g_param_spec_string ("changelog-topic-name", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:changelog-topic-num-partitions:
   *
   * The number of partitions the changelog topic is created with, or 0
   * for as many as the input topics of the engine have.
   *
   * A table's partitions go with those of its engine's input topics: the
   * changelog must have as many partitions as they do, and an engine
   * whose table's changelog has another number fails to start with
   * %PB_ERROR_CHANGELOG.
   */
  properties[PROP_CHANGELOG_TOPIC_NUM_PARTITIONS] =
    g_param_spec_int ("changelog-topic-num-partitions", NULL, NULL,
                      0, G_MAXINT32, 0,
                      (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:changelog-topic-replication-factor:
   *
   * The replication factor the changelog topic is created with.
   */
  properties[PROP_CHANGELOG_TOPIC_REPLICATION_FACTOR] =
    g_param_spec_int ("changelog-topic-replication-factor", NULL, NULL,
                      1, G_MAXINT16, 1,
                      (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:changelog-topic-segment-ms:
   *
   * The changelog topic's `segment.ms`.
   */
  properties[PROP_CHANGELOG_TOPIC_SEGMENT_MS] =
    g_param_spec_int64 ("changelog-topic-segment-ms", NULL, NULL,
                        1, G_MAXINT64, 43200000,
                        (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:changelog-topic-min-cleanable-dirty-ratio:
   *
   * The changelog topic's `min.cleanable.dirty.ratio`.
   */
  properties[PROP_CHANGELOG_TOPIC_MIN_CLEANABLE_DIRTY_RATIO] =
    g_param_spec_double ("changelog-topic-min-cleanable-dirty-ratio", NULL, NULL,
                         0.0, 1.0, 0.01,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:changelog-topic-max-compaction-lag-ms:
   *
   * The changelog topic's `max.compaction.lag.ms`.
   */
  properties[PROP_CHANGELOG_TOPIC_MAX_COMPACTION_LAG_MS] =
    g_param_spec_int64 ("changelog-topic-max-compaction-lag-ms", NULL, NULL,
                        1, G_MAXINT64, 86400000,
                        (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:strict:
   *
   * What a restore does with a changelog record that is not one of this
   * table's (a value that is not JSON, or not of the type its header
   * names, or a record without a key). By default the record is skipped
   * with a warning and counted in [property@Paperboy.Table:bad-records]:
   * its key keeps the value it had before. A strict table fails the restore
   * instead, and the engine's run ends with a %PB_ERROR_CHANGELOG error.
   */
  properties[PROP_STRICT] =
    g_param_spec_boolean ("strict", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:partitioner:
   *
   * How the table's keys are spread over its partitions: it must be the
   * partitioner that the producers of the engine's input topics use, when
   * their records are keyed by the table's keys. A member of the group
   * holds the table partitions of the input partitions it was assigned,
   * and a key of another partition is not its to read or write
   * (%PB_ERROR_NOT_OWNER).
   */
  properties[PROP_PARTITIONER] =
    g_param_spec_enum ("partitioner", NULL, NULL,
                       PB_TYPE_TABLE_PARTITIONER, PB_TABLE_PARTITIONER_MURMUR2,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:wipe-damaged-store:
   *
   * What to do with a RocksDB store whose data is damaged (a truncated or
   * garbled table file, `CURRENT` or `MANIFEST`: %PB_ERROR_STORE_CORRUPT):
   * with %TRUE, the table logs a warning naming the store and the damage,
   * wipes the store and restores it from its changelog, which is the
   * durable copy of the table; with %FALSE, the run fails with the error.
   *
   * A store is checked when it is opened: every block of its data is read
   * once and its checksum verified.
   */
  properties[PROP_WIPE_DAMAGED_STORE] =
    g_param_spec_boolean ("wipe-damaged-store", NULL, NULL,
                          TRUE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:global:
   *
   * Whether the table is global: reference data that every member of the
   * group holds in full and that handlers only read.
   *
   * A global table is restored in full before the engine joins its group,
   * whatever the number of partitions of its changelog, and then follows
   * its changelog while the engine runs: changes written elsewhere (by
   * another service, or by a tool) reach its store and emit
   * [signal@Paperboy.Table::changed] on every member. Setting or deleting
   * a key of a global table fails with %PB_ERROR_FAILED.
   */
  properties[PROP_GLOBAL] =
    g_param_spec_boolean ("global", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:standby-replicas:
   *
   * How many members of the group, besides the one holding a partition
   * of the table, keep a copy of it up to date: a standby replica
   * follows the partition's changelog while another member holds it, so
   * that when the group gives the partition to it (because its holder
   * left, or was killed), its restore reads only the last changes
   * instead of the whole partition.
   *
   * 0, the default, keeps no standby replica. The members of a group do
   * not learn each other's assignments from Kafka, so any number above 0
   * makes each member a standby replica of every partition of the table
   * that it does not hold: a partition has as many standby replicas as
   * the group has other members with the table. A standby replica costs
   * what the table's store holds (its memory for `memory://`, its disk
   * for `rocksdb://`) and one changelog consumer per member.
   *
   * A global table ignores it: every member holds all of it.
   */
  properties[PROP_STANDBY_REPLICAS] =
    g_param_spec_int ("standby-replicas", NULL, NULL,
                      0, G_MAXINT, 0,
                      (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:restored-records:
   *
   * The number of changelog records the restores of the engine's current
   * (or last) run read, for every partition of the table it restored.
   */
  properties[PROP_RESTORED_RECORDS] =
    g_param_spec_uint64 ("restored-records", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:bad-records:
   *
   * The number of changelog records the restores of the engine's current
   * (or last) run skipped.
   */
  properties[PROP_BAD_RECORDS] =
    g_param_spec_uint64 ("bad-records", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:standby-records:
   *
   * The number of changelog records the standby replicas of the engine's
   * current (or last) run applied, see
   * [property@Paperboy.Table:standby-replicas].
   */
  properties[PROP_STANDBY_RECORDS] =
    g_param_spec_uint64 ("standby-records", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * PbTable::changed:
   * @self: the table
   * @key: the key that changed
   * @old_value: (nullable): its value before
   * @new_value: (nullable): its value now, %NULL after a delete
   *
   * Emitted on the engine's main context when a set or a delete changes
   * the table, and, for a global table, when a change written elsewhere
   * reaches it through its changelog. Connect to `changed::KEY` to hear
   * about one key. The old value is looked up only when someone listens.
   */
  signals[CHANGED] =
    g_signal_new ("changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 3,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_VARIANT,
                  G_TYPE_VARIANT);

  /**
   * PbTable::restored:
   * @self: the table
   *
   * Emitted on the engine's main context each time partitions of the
   * table that the consumer group assigned to the engine were restored from
   * the changelog, before any record of those partitions is handled:
   * [method@Paperboy.Table.get_partitions] includes them from then on.
   */
  signals[RESTORED] =
    g_signal_new ("restored",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 0);
}

static void
pb_table_init (PbTable *self)
{
  self->num_partitions = 0;
  self->wipe_damaged_store = TRUE;
  self->replication_factor = 1;
  self->segment_ms = 43200000;
  self->min_cleanable_dirty_ratio = 0.01;
  self->max_compaction_lag_ms = 86400000;
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, pending_forget);
  self->settled = g_ptr_array_new_with_free_func (pending_unref);
  self->delivered_batch = 1;
  self->json = g_string_sized_new (256);
}

/**
 * pb_table_new:
 * @name: the table's name
 * @store_uri: where the table keeps its data: `memory://`, `rocksdb://` or
 *   `rocksdb:///absolute/path`
 *
 * Creates a table. A bad URI is reported by
 * [method@Paperboy.Engine.register_table].
 *
 * Returns: (transfer full): a new table
 */
PbTable *
pb_table_new (const char *name,
              const char *store_uri)
{
  g_return_val_if_fail (name != NULL && *name != '\0', NULL);
  g_return_val_if_fail (store_uri != NULL, NULL);

  return g_object_new (PB_TYPE_TABLE,
                       "name", name,
                       "store-uri", store_uri,
                       NULL);
}

/**
 * pb_table_new_with_store:
 * @name: the table's name
 * @store: the store that keeps the table's data
 *
 * Creates a table kept in a store of your own.
 *
 * Returns: (transfer full): a new table
 */
PbTable *
pb_table_new_with_store (const char *name,
                         PbStore    *store)
{
  g_return_val_if_fail (name != NULL && *name != '\0', NULL);
  g_return_val_if_fail (PB_IS_STORE (store), NULL);

  return g_object_new (PB_TYPE_TABLE,
                       "name", name,
                       "store", store,
                       NULL);
}

/* The store */

gboolean
_pb_table_open (PbTable     *self,
                const char  *state_dir,
                gboolean     restoring,
                GError     **error)
{
  g_autoptr(GError) local_error = NULL;

  if (self->store == NULL)
    {
      g_autofree char *path = g_build_filename (state_dir != NULL ? state_dir : "", self->name,
                                                NULL);

      self->store = _pb_store_new_for_uri (self->store_uri, path, error);
      if (self->store == NULL)
        return FALSE;
    }

  if (self->opened)
    return TRUE;

  if (!pb_store_open (self->store, &local_error))
    {
      /* The changelog is the durable copy. */
      if (!g_error_matches (local_error, PB_ERROR, PB_ERROR_STORE_CORRUPT) || !restoring ||
          !self->wipe_damaged_store || !PB_IS_ROCKSDB_STORE (self->store))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }

      g_warning ("Table “%s”: %s: wiping the store and restoring it from the changelog “%s”",
                 self->name, local_error->message, self->changelog_topic_name);
      if (!_pb_rocksdb_store_destroy (PB_ROCKSDB_STORE (self->store), error) ||
          !pb_store_open (self->store, error))
        return FALSE;
    }

  self->opened = TRUE;

  return TRUE;
}

PbStore *
_pb_table_peek_store (PbTable *self)
{
  return self->store;
}

/**
 * pb_table_close:
 * @self: a table
 *
 * Closes the table's store, which lets another table or process open it
 * (a RocksDB database has one user at a time). The engine closes the
 * stores of its tables when a run ends, too. Reading the table afterwards
 * opens its store again (and holds it until it is closed again).
 */
void
pb_table_close (PbTable *self)
{
  g_return_if_fail (PB_IS_TABLE (self));

  if (self->producer != NULL || self->restoring)
    {
      g_critical ("The table “%s” cannot be closed while its engine runs", self->name);
      return;
    }

  _pb_table_close_store (self);
}

void
_pb_table_close_store (PbTable *self)
{
  if (self->store != NULL && self->opened)
    pb_store_close (self->store);
  self->opened = FALSE;
}

/* Ownership */

static int
partition_for_key (PbTable    *self,
                   const char *key)
{
  /* Records keyed by the table's keys and the table's changes go to the
   * same partition numbers. */
  if (self->partitioner == PB_TABLE_PARTITIONER_CONSISTENT)
    return rd_kafka_msg_partitioner_consistent (NULL, key, strlen (key), self->n_partitions_seen,
                                                NULL, NULL);

  return rd_kafka_msg_partitioner_murmur2 (NULL, key, strlen (key), self->n_partitions_seen,
                                           NULL, NULL);
}

static gboolean
owns_key (PbTable    *self,
          const char *key)
{
  return self->owned == NULL || self->n_partitions_seen <= 0 ||
         self->owned[partition_for_key (self, key)];
}

static gboolean
check_owner (PbTable     *self,
             const char  *key,
             GError     **error)
{
  g_autofree char *valid = NULL;

  if (owns_key (self, key))
    return TRUE;

  valid = g_utf8_make_valid (key, -1);
  g_set_error (error, PB_ERROR, PB_ERROR_NOT_OWNER,
               _("The key “%s” of the table “%s” is in partition %d, which this member "
                 "of the group does not hold"),
               valid, self->name, partition_for_key (self, key));

  return FALSE;
}

/**
 * pb_table_get_partition_for_key:
 * @self: a table
 * @key: a key
 *
 * Gets the partition of the table's changelog that holds @key: the one
 * [property@Paperboy.Table:partitioner] gives a record keyed by @key. A service
 * whose members share a table routes a query for @key to the member that
 * owns that partition of its input topics.
 *
 * Returns: the partition, or -1 before the number of partitions of the
 *   changelog is known (before the table's engine first ran)
 */
int
pb_table_get_partition_for_key (PbTable    *self,
                                const char *key)
{
  g_return_val_if_fail (PB_IS_TABLE (self), -1);
  g_return_val_if_fail (key != NULL, -1);

  if (self->n_partitions_seen <= 0)
    return -1;

  return partition_for_key (self, key);
}

/**
 * pb_table_get_partitions:
 * @self: a table
 * @n_partitions: (out): return location for the number of partitions
 *
 * Gets the partitions of the table that this member holds: while its
 * engine runs, those whose input partitions the group assigned to it and
 * whose restore ended; otherwise every partition of its changelog, as
 * far as its store has them (a `memory://` store keeps those it held
 * when the engine stopped, a `rocksdb://` one also those it held
 * before).
 *
 * Returns: (array length=n_partitions) (transfer full) (nullable): the
 *   partitions, in increasing order
 */
int *
pb_table_get_partitions (PbTable *self,
                         gsize   *n_partitions)
{
  GArray *partitions = g_array_new (FALSE, FALSE, sizeof (int));

  g_return_val_if_fail (PB_IS_TABLE (self), NULL);
  g_return_val_if_fail (n_partitions != NULL, NULL);

  for (int i = 0; i < self->n_partitions_seen; i++)
    if (self->owned == NULL || self->owned[i])
      g_array_append_val (partitions, i);

  *n_partitions = partitions->len;

  return (int *)g_array_free (partitions, FALSE);
}

void
_pb_table_set_n_partitions (PbTable *self,
                            int      n_partitions)
{
  self->n_partitions_seen = n_partitions;
}

/* Whether someone listens to changes of @key: only then is its previous
 * value looked up. */
static gboolean
has_listener (PbTable    *self,
              const char *key)
{
  GQuark detail;

  /* Most tables have none, for any key: that is one look. */
  if (g_signal_handler_find (self, G_SIGNAL_MATCH_ID, signals[CHANGED], 0,
                             NULL, NULL, NULL) == 0)
    return FALSE;

  if (g_signal_has_handler_pending (self, signals[CHANGED], 0, FALSE))
    return TRUE;

  detail = g_quark_try_string (key);

  return detail != 0 && g_signal_has_handler_pending (self, signals[CHANGED], detail, FALSE);
}

static void
variant_unref0 (gpointer variant)
{
  if (variant != NULL)
    g_variant_unref (variant);
}

gboolean
_pb_table_apply_followed (PbTable       *self,
                          PbStoreBatch  *batch,
                          GError       **error)
{
  guint n = pb_store_batch_get_n_changes (batch);
  g_autoptr(GPtrArray) olds = g_ptr_array_new_with_free_func (variant_unref0);
  g_autoptr(GHashTable) latest = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                        variant_unref0);
  gboolean listened = FALSE;

  /* The values before, for those who listen: a key changed twice in the
   * batch had the first change's value before the second. */
  for (guint i = 0; i < n; i++)
    {
      GVariant *value = NULL;
      const char *key = pb_store_batch_get_change (batch, i, &value);
      GVariant *old = NULL;
      gpointer seen;

      if (has_listener (self, key))
        {
          if (g_hash_table_lookup_extended (latest, key, NULL, &seen))
            old = seen != NULL ? g_variant_ref (seen) : NULL;
          else
            old = pb_store_lookup (self->store, key, NULL);
          g_hash_table_insert (latest, (gpointer) key, value != NULL ? g_variant_ref (value) : NULL);
          listened = TRUE;
        }
      g_ptr_array_add (olds, old);
    }

  if (!pb_store_apply (self->store, batch, error))
    {
      g_prefix_error (error, _("Table “%s”: "), self->name);
      return FALSE;
    }

  for (guint i = 0; listened && i < n; i++)
    {
      GVariant *value = NULL;
      const char *key = pb_store_batch_get_change (batch, i, &value);
      GVariant *old = g_ptr_array_index (olds, i);

      if ((old != NULL || value != NULL) && has_listener (self, key))
        g_signal_emit (self, signals[CHANGED], g_quark_from_string (key), key, old, value);
    }

  return TRUE;
}

gboolean
_pb_table_is_global (PbTable *self)
{
  return self->global;
}

/* Exact-state */

static void
clear_marks (PbTable *self,
             int      partition)
{
  PbMark *mark = self->marks[partition];

  while (mark != NULL)
    {
      PbMark *next = mark->next;

      g_free (mark);
      mark = next;
    }
  self->marks[partition] = NULL;
}

static void
free_marks (PbTable *self)
{
  if (self->marks == NULL)
    return;

  for (int i = 0; i < self->n_marks; i++)
    clear_marks (self, i);
  g_clear_pointer (&self->marks, g_free);
}

static PbMark *
mark_of (PbTable    *self,
         int         partition,
         const char *topic)
{
  PbMark *mark;

  for (mark = self->marks[partition]; mark != NULL; mark = mark->next)
    if (mark->topic == topic)
      return mark;

  mark = g_new0 (PbMark, 1);
  mark->topic = topic;
  mark->offset = -1;
  mark->next = self->marks[partition];
  self->marks[partition] = mark;

  return mark;
}

/* What the store holds of @partition, once it holds it: where each topic's
 * changes stop. */
static void
load_marks (PbTable *self,
            int      partition)
{
  g_autoptr(GArray) sources = _pb_store_get_sources (self->store, partition);

  clear_marks (self, partition);
  for (guint i = 0; sources != NULL && i < sources->len; i++)
    {
      const PbStoreSource *source = &g_array_index (sources, PbStoreSource, i);
      PbMark *mark = mark_of (self, partition, g_intern_string (source->topic));

      mark->offset = source->offset;
      mark->seq = source->seq;
    }
}

/* Under exact-state, whether the change being made was made already: by
 * an earlier handling of the record, whose changes the table has up to
 * this one. Otherwise @source says where it comes from, if anywhere, and
 * @mark moves to it once the change is made. */
static gboolean
is_replayed (PbTable         *self,
             int              partition,
             const PbSource **source,
             guint           *seq,
             PbMark         **mark_out,
             GError         **error)
{
  GError *local_error = NULL;
  PbMark *mark;

  *source = _pb_host_source_of (self->host, partition, &local_error);
  if (local_error != NULL)
    {
      g_propagate_prefixed_error (error, local_error, _("Table “%s”: "), self->name);
      return FALSE;
    }

  /* Not from a record: a change like any other. */
  if (*source == NULL)
    return FALSE;

  mark = mark_of (self, partition, (*source)->topic);
  if (mark->serial != (*source)->serial)
    {
      mark->serial = (*source)->serial;
      mark->next_seq = 0;
    }
  *seq = mark->next_seq++;

  if ((*source)->offset < mark->offset ||
      ((*source)->offset == mark->offset && *seq <= mark->seq))
    return TRUE;

  *mark_out = mark;

  return FALSE;
}

void
_pb_table_set_owned (PbTable  *self,
                     int       partition,
                     gboolean  owned)
{
  g_return_if_fail (self->owned != NULL);
  g_return_if_fail (partition >= 0 && partition < self->n_partitions_seen);

  self->owned[partition] = owned;

  if (self->marks != NULL && partition < self->n_marks)
    {
      if (owned)
        load_marks (self, partition);
      else
        clear_marks (self, partition);
    }
}

typedef struct
{
  PbTable      *table;
  const int    *partitions;
  int           n_partitions;
  PbStoreBatch *batch;
} DropData;

static gboolean
is_dropped (DropData   *data,
            const char *key)
{
  int p = partition_for_key (data->table, key);

  for (int i = 0; i < data->n_partitions; i++)
    if (data->partitions[i] == p)
      return TRUE;

  return FALSE;
}

static gboolean
drop_cb (const char *key,
         GVariant   *value,
         gpointer    user_data)
{
  DropData *data = user_data;

  if (is_dropped (data, key))
    pb_store_batch_put (data->batch, key, NULL);

  return TRUE;
}

/* Deletes the keys of @partitions from the store, and its offsets of
 * them. */
static gboolean
drop_stored (PbTable    *self,
             const int  *partitions,
             int         n_partitions,
             GError    **error)
{
  g_autoptr(PbStoreBatch) batch = pb_store_batch_new ();
  DropData data = { self, partitions, n_partitions, batch };

  if (!pb_store_foreach (self->store, drop_cb, &data, error))
    return FALSE;

  for (int i = 0; i < n_partitions; i++)
    pb_store_batch_set_offset (batch, partitions[i], -1);

  return pb_store_apply (self->store, batch, error);
}

/* Drops the partitions of a memory store that hold values whose writes
 * were not delivered (yet, or ever): what the changelog lacks is not the
 * table's. Their counts go on: the deliveries still to come bring them
 * down. */
static void
drop_undelivered (PbTable   *self,
                  const int *partitions,
                  int        n_partitions)
{
  g_autoptr(GArray) dirty = g_array_new (FALSE, FALSE, sizeof (int));

  if (self->undelivered == NULL)
    return;

  for (int i = 0; i < n_partitions; i++)
    if (partitions[i] >= 0 && partitions[i] < self->n_partitions_seen &&
        self->undelivered[partitions[i]] > 0)
      g_array_append_val (dirty, partitions[i]);

  /* Nothing fails in memory. */
  if (dirty->len > 0)
    drop_stored (self, (const int *)dirty->data, dirty->len, NULL);
}

static void
forget_pending (PbTable   *self,
                const int *partitions,
                int        n_partitions)
{
  DropData data = { self, partitions, n_partitions, NULL };
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (is_dropped (&data, key))
      g_hash_table_iter_remove (&iter);
}

void
_pb_table_forget_pending (PbTable   *self,
                          const int *partitions,
                          int        n_partitions)
{
  if (n_partitions == 0 || self->n_partitions_seen <= 0)
    return;

  forget_pending (self, partitions, n_partitions);
  drop_undelivered (self, partitions, n_partitions);
}

gboolean
_pb_table_drop_partitions (PbTable    *self,
                           const int  *partitions,
                           int         n_partitions,
                           GError    **error)
{
  if (n_partitions == 0 || self->n_partitions_seen <= 0)
    return TRUE;

  forget_pending (self, partitions, n_partitions);

  if (self->store == NULL)
    return TRUE;

  return drop_stored (self, partitions, n_partitions, error);
}

gboolean
_pb_table_drops_revoked (PbTable *self)
{
  return PB_IS_MEMORY_STORE (self->store);
}

/**
 * pb_table_get:
 * @self: a table
 * @key: a key
 * @error: return location for a #GError
 *
 * Looks up the value of @key: the last one set, even if its changelog
 * record is not delivered yet. Never blocks on Kafka.
 *
 * While an engine runs the table, it holds only the partitions of the
 * table that belong to it (see [method@Paperboy.Table.get_partitions]):
 * looking up a key of another partition fails with
 * %PB_ERROR_NOT_OWNER, which names the partition.
 *
 * Returns: (transfer full) (nullable): the value, or %NULL when @key has
 *   none or with @error set
 */
GVariant *
pb_table_get (PbTable     *self,
              const char  *key,
              GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  PbPending *pending;
  GVariant *value;

  g_return_val_if_fail (PB_IS_TABLE (self), NULL);
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_owner (self, key, error))
    return NULL;

  pending = g_hash_table_lookup (self->pending, key);
  if (pending != NULL)
    return pending->value != NULL ? g_variant_ref (pending->value) : NULL;

  if (self->store == NULL || self->restoring)
    return NULL;

  /* A store closed when its engine stopped opens again to be read. */
  if (!_pb_table_open (self, NULL, FALSE, &local_error))
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  _("Table “%s”: "), self->name);
      return NULL;
    }

  value = pb_store_lookup (self->store, key, &local_error);
  if (local_error != NULL)
    g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                _("Table “%s”: "), self->name);

  return value;
}

typedef struct
{
  PbTable            *table;
  PbStoreForeachFunc  func;
  gpointer            user_data;
  gboolean            stopped;
} ForeachData;

static gboolean
foreach_stored_cb (const char *key,
                   GVariant   *value,
                   gpointer    user_data)
{
  ForeachData *data = user_data;

  if (g_hash_table_contains (data->table->pending, key) || !owns_key (data->table, key))
    return TRUE;

  if (!data->func (key, value, data->user_data))
    data->stopped = TRUE;

  return !data->stopped;
}

/**
 * pb_table_foreach:
 * @self: a table
 * @func: (scope call): called for each key and value
 * @user_data: data for @func
 * @error: return location for a #GError
 *
 * Calls @func for every key of the table that has a value, in no
 * particular order, until it returns %FALSE. @func must not change the
 * table. While an engine runs the table, only the keys of the partitions
 * this member holds are visited.
 *
 * Returns: %TRUE, or %FALSE with @error set when the store failed
 */
gboolean
pb_table_foreach (PbTable             *self,
                  PbStoreForeachFunc   func,
                  gpointer             user_data,
                  GError             **error)
{
  ForeachData data = { self, func, user_data, FALSE };
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (PB_IS_TABLE (self), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->restoring)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("The table “%s” is being restored"), self->name);
      return FALSE;
    }

  if (self->store != NULL)
    {
      if (!_pb_table_open (self, NULL, FALSE, error))
        {
          g_prefix_error (error, _("Table “%s”: "), self->name);
          return FALSE;
        }
      if (!pb_store_foreach (self->store, foreach_stored_cb, &data, error))
        return FALSE;
    }

  g_hash_table_iter_init (&iter, self->pending);
  while (!data.stopped && g_hash_table_iter_next (&iter, &key, &value))
    {
      PbPending *pending = value;

      if (pending->value != NULL && !func (key, pending->value, user_data))
        break;
    }

  return TRUE;
}

/* Writing */

static void
write_free (PbWrite *write)
{
  g_clear_pointer (&write->pending, pending_unref);
  g_clear_pointer (&write->value, g_variant_unref);
  g_free (write->key);
  g_free (write);
}

/* From the producer's dispatch, after librdkafka returned: the change
 * joins the next store batch with its changelog offset. */
static void
delivered_cb (PbDelivery          *delivery,
              rd_kafka_resp_err_t  err,
              int                  partition,
              gint64               offset)
{
  PbWrite *write = (PbWrite *)delivery;
  PbTable *self = write->table;

  /* A memory store has the value already: it moves to the record's
   * offset. A failed write stays undelivered, and its partition is
   * dropped when the run ends. */
  if (write->pending == NULL)
    {
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR && self->undelivered != NULL)
        {
          self->undelivered[write->partition]--;
          if (self->owned[write->partition])
            _pb_memory_store_set_offset (PB_MEMORY_STORE (self->store), write->partition,
                                         offset + 1);
        }
    }
  else if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      PbPending *pending = write->pending;
      gboolean settled = --pending->pending == 0 && pending->in_map;

      /* A partition given up before its changes were delivered (lost):
       * its next holder reads them from the changelog, and this store,
       * which may lack changes that came before them, does not claim
       * them. */
      if (self->owned == NULL || partition < 0 || partition >= self->n_partitions_seen ||
          self->owned[partition])
        {
          if (self->delivered == NULL)
            self->delivered = _pb_store_batch_new_sized (FLUSH_CHANGES);
          _pb_store_batch_take (self->delivered, g_steal_pointer (&write->key),
                                g_steal_pointer (&write->value));
          pb_store_batch_set_offset (self->delivered, partition, offset + 1);
          if (write->source != NULL)
            _pb_store_batch_set_source (self->delivered, partition, write->source,
                                        write->source_offset, write->source_seq);
          pending->batch = self->delivered_batch;

          /* Read from the store once the batch is there. */
          if (settled)
            g_ptr_array_add (self->settled, pending_ref (pending));
        }
      else if (settled)
        g_hash_table_remove (self->pending, pending->key);
    }

  write_free (write);
  if (--self->in_flight == 0)
    g_object_unref (self);
}

gboolean
_pb_table_has_delivered (PbTable *self)
{
  return self->delivered != NULL;
}

PbStoreBatch *
_pb_table_take_delivered (PbTable    *self,
                          gboolean    force,
                          GPtrArray **settled,
                          guint64    *number)
{
  *settled = NULL;
  *number = 0;

  if (self->delivered == NULL)
    return NULL;

  /* Stores write large batches best; the pending changes hold the values
   * meanwhile, and the changelog has them already. */
  if (!force && pb_store_batch_get_n_changes (self->delivered) < FLUSH_CHANGES)
    return NULL;

  /* After a failed write, nothing more: the store's offsets never pass a
   * change it lacks, and the next restore reads them again. */
  if (self->store_failed)
    {
      g_clear_pointer (&self->delivered, pb_store_batch_unref);
      g_ptr_array_set_size (self->settled, 0);
      return NULL;
    }

  *settled = g_steal_pointer (&self->settled);
  self->settled = g_ptr_array_new_with_free_func (pending_unref);
  *number = self->delivered_batch++;

  return g_steal_pointer (&self->delivered);
}

gboolean
_pb_table_write (PbTable       *self,
                 PbStoreBatch  *batch,
                 GError       **error)
{
  /* Written by a thread of its own, after a failure of which the engine
   * heard already. */
  if (g_atomic_int_get (&self->write_failed))
    return FALSE;

  if (self->write_delay_ms > 0)
    g_usleep (self->write_delay_ms * 1000);

  if (!pb_store_apply (self->store, batch, error))
    {
      g_atomic_int_set (&self->write_failed, TRUE);
      g_prefix_error (error, _("Table “%s”: "), self->name);
      return FALSE;
    }

  return TRUE;
}

void
_pb_table_written (PbTable   *self,
                   GPtrArray *settled,
                   guint64    number,
                   gboolean   written)
{
  if (!written)
    {
      self->store_failed = TRUE;
      return;
    }

  /* The store has them now: the keys that wait for nothing more, not
   * even a later batch still being written, are read from it. */
  for (guint i = 0; i < settled->len; i++)
    {
      PbPending *pending = g_ptr_array_index (settled, i);

      if (pending->pending == 0 && pending->in_map && pending->batch <= number)
        g_hash_table_remove (self->pending, pending->key);
    }
}

gboolean
_pb_table_writes_apart (PbTable *self)
{
  return PB_IS_ROCKSDB_STORE (self->store);
}

gboolean
_pb_table_flush (PbTable   *self,
                 gboolean   force,
                 GError   **error)
{
  g_autoptr(GPtrArray) settled = NULL;
  guint64 number;
  g_autoptr(PbStoreBatch) batch = _pb_table_take_delivered (self, force, &settled, &number);
  gboolean written;

  if (batch == NULL)
    return TRUE;

  written = _pb_table_write (self, batch, error);
  _pb_table_written (self, settled, number, written);

  return written;
}

void
_pb_table_attach (PbTable    *self,
                  PbProducer *producer,
                  PbHost     *exact_state)
{
  self->producer = producer;
  self->host = exact_state;
  self->replayed_writes = 0;
  self->store_failed = FALSE;
  self->write_failed = FALSE;
  /* Tests make the store slow, as a slow disk would. */
  self->write_delay_ms = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (self),
                                                              "pb-test-write-delay-ms"));
  self->restored_records = 0;
  self->bad_records = 0;
  self->standby_records = 0;

  /* Partitions are held once restored; a global table holds them all. */
  g_clear_pointer (&self->owned, g_free);
  g_clear_pointer (&self->undelivered, g_free);
  free_marks (self);
  if (!self->global)
    {
      self->owned = g_new0 (guint8, MAX (self->n_partitions_seen, 1));
      if (exact_state != NULL)
        {
          self->n_marks = MAX (self->n_partitions_seen, 1);
          self->marks = g_new0 (PbMark *, self->n_marks);
        }
      if (PB_IS_MEMORY_STORE (self->store))
        self->undelivered = g_new0 (guint, MAX (self->n_partitions_seen, 1));
    }
}

void
_pb_table_detach (PbTable *self)
{
  /* What was never delivered is not the table's: the records whose
   * handling wrote it were not committed, and come again. */
  if (self->undelivered != NULL)
    {
      g_autoptr(GArray) all = g_array_new (FALSE, FALSE, sizeof (int));

      for (int p = 0; p < self->n_partitions_seen; p++)
        g_array_append_val (all, p);
      drop_undelivered (self, (const int *)all->data, all->len);
    }

  self->producer = NULL;
  self->host = NULL;
  free_marks (self);
  g_clear_pointer (&self->owned, g_free);
  g_clear_pointer (&self->undelivered, g_free);
  g_hash_table_remove_all (self->pending);
  g_ptr_array_set_size (self->settled, 0);
  g_clear_pointer (&self->delivered, pb_store_batch_unref);
}

void
_pb_table_set_restoring (PbTable  *self,
                         gboolean  restoring)
{
  self->restoring = restoring;
}

void
_pb_table_set_registered (PbTable *self)
{
  self->registered = TRUE;
}

/* Writes a change of @key to @value (encoded, or NULL to delete): to the
 * pending changes at once, and to the changelog, in @partition (or where
 * the producer puts it, before the partitions are known). Reads nothing. */
static gboolean
write_change (PbTable         *self,
              const char      *key,
              int              partition,
              GVariant        *value,
              const char      *json,
              gsize            json_len,
              const PbSource  *source,
              guint            seq,
              GError         **error)
{
  gboolean direct = self->undelivered != NULL && partition >= 0;
  rd_kafka_headers_t *headers;
  PbPending *pending;
  PbWrite *write;

  write = g_new (PbWrite, 1);
  write->delivery.func = delivered_cb;
  write->table = self;
  write->pending = NULL;
  write->partition = partition;
  write->key = direct ? NULL : g_strdup (key);
  write->value = value != NULL && !direct ? g_variant_ref (value) : NULL;
  write->source = NULL;

  headers = _pb_codec_headers_new (value, source != NULL);
  if (source != NULL)
    {
      _pb_codec_add_source (headers, source->topic, source->offset, seq);
      write->source = source->topic;
      write->source_offset = source->offset;
      write->source_seq = seq;
    }

  /* A key always goes to its partition, whatever partitioner the
   * producer has: the order of a key's changes is the order of its
   * partition. Its report comes from a later dispatch. */
  if (_pb_producer_produce (self->producer, self->changelog_topic_name, partition,
                            key, strlen (key), json, json_len, headers,
                            &write->delivery, error) == 0)
    {
      g_prefix_error (error, _("Table “%s”: "), self->name);
      write_free (write);
      return FALSE;
    }

  /* One reference for the writes in flight, not one each. */
  if (self->in_flight++ == 0)
    g_object_ref (self);

  /* A memory store takes it at once; until its delivery, the partition
   * holds a value the changelog may lack. */
  if (direct)
    {
      self->undelivered[partition]++;
      _pb_memory_store_put (PB_MEMORY_STORE (self->store), key, value);
      return TRUE;
    }

  pending = g_hash_table_lookup (self->pending, key);
  if (pending == NULL)
    {
      pending = pending_new (key);
      g_hash_table_insert (self->pending, pending->key, pending);
    }
  g_clear_pointer (&pending->value, g_variant_unref);
  pending->value = value != NULL ? g_variant_ref (value) : NULL;
  pending->pending++;
  write->pending = pending_ref (pending);

  return TRUE;
}

/* Sets @key to @value (floating; NULL deletes): checked and encoded, its
 * previous value looked up for a listener, written, then announced. */
static gboolean
change (PbTable     *self,
        const char  *key,
        GVariant    *value,
        GError     **error)
{
  g_autoptr(GVariant) encoded = NULL;
  g_autoptr(GVariant) old = NULL;
  int partition = RD_KAFKA_PARTITION_UA;
  const PbSource *source = NULL;
  PbMark *mark = NULL;
  guint seq = 0;
  gboolean notify;

  if (!g_utf8_validate (key, -1, NULL))
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                           _("A table key must be valid UTF-8"));
      return FALSE;
    }

  if (value != NULL)
    {
      g_string_truncate (self->json, 0);
      encoded = _pb_codec_encode (value, self->json, error);
      if (encoded == NULL)
        return FALSE;
    }

  if (self->producer == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("The table “%s” can only be written while its engine runs"), self->name);
      return FALSE;
    }

  if (self->global)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("The table “%s” is global: its handlers only read it"), self->name);
      return FALSE;
    }

  if (self->n_partitions_seen > 0)
    {
      partition = partition_for_key (self, key);
      if (self->owned != NULL && !self->owned[partition])
        return check_owner (self, key, error);

      if (self->marks != NULL && partition < self->n_marks)
        {
          GError *local_error = NULL;

          /* The table has it already: nothing changes, nothing is said. */
          if (is_replayed (self, partition, &source, &seq, &mark, &local_error))
            {
              self->replayed_writes++;
              return TRUE;
            }
          if (local_error != NULL)
            {
              g_propagate_error (error, local_error);
              return FALSE;
            }
        }
    }

  notify = has_listener (self, key);
  if (notify)
    {
      old = pb_table_get (self, key, NULL);
      notify = encoded != NULL || old != NULL;
    }

  if (!write_change (self, key, partition, encoded,
                     encoded != NULL ? self->json->str : NULL,
                     encoded != NULL ? self->json->len : 0, source, seq, error))
    return FALSE;

  /* Made: a handling of the record again finds it. */
  if (mark != NULL)
    {
      mark->offset = source->offset;
      mark->seq = seq;
    }

  if (notify)
    g_signal_emit (self, signals[CHANGED], g_quark_from_string (key), key, old, encoded);

  return TRUE;
}

/**
 * pb_table_set:
 * @self: a table
 * @key: a UTF-8 key
 * @value: its new value; a floating reference is taken
 * @error: return location for a #GError
 *
 * Sets the value of @key. The table holds the value at once, and the
 * engine writes it to the changelog; the offset of the record being
 * handled is committed only once that write was acknowledged.
 *
 * A value holding a double that is not finite is refused; see
 * [class@Paperboy.Table] for the values that are normalized.
 *
 * Returns: %TRUE, or %FALSE with @error set when the value cannot be
 *   stored or written, or when the engine does not run
 */
gboolean
pb_table_set (PbTable     *self,
              const char  *key,
              GVariant    *value,
              GError     **error)
{
  g_autoptr(GVariant) owned = NULL;

  g_return_val_if_fail (PB_IS_TABLE (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  owned = g_variant_ref_sink (value);

  return change (self, key, owned, error);
}

/**
 * pb_table_delete:
 * @self: a table
 * @key: a UTF-8 key
 * @error: return location for a #GError
 *
 * Deletes @key from the table, with a tombstone in the changelog.
 *
 * Returns: %TRUE, or %FALSE with @error set when the engine does not run
 *   or the tombstone cannot be written
 */
gboolean
pb_table_delete (PbTable     *self,
                 const char  *key,
                 GError     **error)
{
  g_return_val_if_fail (PB_IS_TABLE (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return change (self, key, NULL, error);
}

static void
set_restore_result (PbTable               *self,
                    const PbRestoreResult *result)
{
  self->restored_records = result->records;
  self->bad_records = result->bad;
  self->n_partitions_seen = result->n_partitions;
}

void
_pb_table_restored (PbTable               *self,
                    const PbRestoreResult *result)
{
  self->restored_records += result->records;
  self->bad_records += result->bad;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RESTORED_RECORDS]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BAD_RECORDS]);
  g_signal_emit (self, signals[RESTORED], 0);
}

gboolean
_pb_table_apply_standby (PbTable       *self,
                         PbStoreBatch  *batch,
                         GError       **error)
{
  if (!pb_store_apply (self->store, batch, error))
    return FALSE;

  self->standby_records += pb_store_batch_get_n_changes (batch);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STANDBY_RECORDS]);

  return TRUE;
}

gboolean
_pb_table_has_standby (PbTable *self)
{
  return self->standby_replicas > 0 && !self->global;
}

/**
 * pb_table_load:
 * @self: a table
 * @bootstrap_servers: the Kafka cluster holding the table's changelog
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Opens the table's store and reads its changelog into it, as an engine
 * does before it runs, for tools that inspect a table. The table must not
 * be registered with an engine that runs. A `rocksdb://` store needs an
 * absolute path here. It blocks until the changelog was read.
 *
 * Returns: %TRUE if the table was loaded, %FALSE with @error set
 *   otherwise
 */
gboolean
pb_table_load (PbTable       *self,
               const char    *bootstrap_servers,
               GCancellable  *cancellable,
               GError       **error)
{
  g_autoptr(PbKafkaConfig) config = NULL;
  PbKafkaSettings settings = { .bootstrap_servers = bootstrap_servers };
  PbRestoreResult result = { 0, };
  PbRestoreTarget target;
  rd_kafka_conf_t *conf;

  g_return_val_if_fail (PB_IS_TABLE (self), FALSE);
  g_return_val_if_fail (bootstrap_servers != NULL, FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->producer != NULL || self->restoring)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("The table “%s” belongs to an engine that runs"), self->name);
      return FALSE;
    }

  if (self->store == NULL && g_strcmp0 (self->store_uri, PB_STORE_ROCKSDB_SCHEME) == 0)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("The table “%s” needs the absolute path of its RocksDB database"),
                   self->name);
      return FALSE;
    }

  if (!_pb_table_open (self, NULL, TRUE, error))
    return FALSE;

  config = _pb_kafka_config_new ();
  conf = _pb_kafka_config_build (config, PB_KAFKA_CLIENT_RESTORE, &settings, error);
  _pb_restore_target_init_store (&target, self->store);
  if (conf == NULL ||
      !_pb_restore (&target, self->changelog_topic_name, self->name, self->strict, NULL, 0,
                    conf, cancellable, &result, error))
    return FALSE;

  set_restore_result (self, &result);

  return TRUE;
}

/* Properties */

/**
 * pb_table_get_name:
 * @self: a table
 *
 * Gets the table's name.
 *
 * Returns: the name
 */
const char *
pb_table_get_name (PbTable *self)
{
  g_return_val_if_fail (PB_IS_TABLE (self), NULL);

  return self->name;
}

/**
 * pb_table_get_store_uri:
 * @self: a table
 *
 * Gets the URI of the table's store.
 *
 * Returns: (nullable): the URI, or %NULL for a table made with a store
 */
const char *
pb_table_get_store_uri (PbTable *self)
{
  g_return_val_if_fail (PB_IS_TABLE (self), NULL);

  return self->store_uri;
}

/**
 * pb_table_get_store:
 * @self: a table
 *
 * Gets the table's store.
 *
 * Returns: (transfer none) (nullable): the store, or %NULL while the
 *   table's URI was not opened yet
 */
PbStore *
pb_table_get_store (PbTable *self)
{
  g_return_val_if_fail (PB_IS_TABLE (self), NULL);

  return self->store;
}

/**
 * pb_table_get_changelog_topic_name:
 * @self: a table
 *
 * Gets the name of the table's changelog topic.
 *
 * Returns: the topic name
 */
const char *
pb_table_get_changelog_topic_name (PbTable *self)
{
  g_return_val_if_fail (PB_IS_TABLE (self), NULL);

  return self->changelog_topic_name;
}

/**
 * pb_table_set_changelog_topic_name:
 * @self: a table
 * @name: a topic name
 *
 * Sets the name of the table's changelog topic.
 */
void
pb_table_set_changelog_topic_name (PbTable    *self,
                                   const char *name)
{
  g_return_if_fail (PB_IS_TABLE (self));
  g_return_if_fail (!self->registered);

  if (name == NULL || g_strcmp0 (self->changelog_topic_name, name) == 0)
    return;

  g_free (self->changelog_topic_name);
  self->changelog_topic_name = g_strdup (name);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CHANGELOG_TOPIC_NAME]);
}

#define ACCESSORS(type, field, prop, getter, setter)                          \
type                                                                          \
getter (PbTable *self)                                                        \
{                                                                             \
  g_return_val_if_fail (PB_IS_TABLE (self), 0);                               \
                                                                              \
  return self->field;                                                         \
}                                                                             \
                                                                              \
void                                                                          \
setter (PbTable *self,                                                        \
        type     value)                                                       \
{                                                                             \
  g_return_if_fail (PB_IS_TABLE (self));                                      \
  g_return_if_fail (!self->registered || prop == PROP_STRICT ||                \
                    prop == PROP_WIPE_DAMAGED_STORE);                         \
                                                                              \
  if (self->field != value)                                                   \
    {                                                                         \
      self->field = value;                                                    \
      g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);           \
    }                                                                         \
}

/**
 * pb_table_get_changelog_topic_num_partitions:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:changelog-topic-num-partitions].
 *
 * Returns: the number of partitions
 */
/**
 * pb_table_set_changelog_topic_num_partitions:
 * @self: a table
 * @num_partitions: a number of partitions
 *
 * Sets [property@Paperboy.Table:changelog-topic-num-partitions].
 */
ACCESSORS (int, num_partitions, PROP_CHANGELOG_TOPIC_NUM_PARTITIONS,
           pb_table_get_changelog_topic_num_partitions,
           pb_table_set_changelog_topic_num_partitions)

/**
 * pb_table_get_changelog_topic_replication_factor:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:changelog-topic-replication-factor].
 *
 * Returns: the replication factor
 */
/**
 * pb_table_set_changelog_topic_replication_factor:
 * @self: a table
 * @replication_factor: a replication factor
 *
 * Sets [property@Paperboy.Table:changelog-topic-replication-factor].
 */
ACCESSORS (int, replication_factor, PROP_CHANGELOG_TOPIC_REPLICATION_FACTOR,
           pb_table_get_changelog_topic_replication_factor,
           pb_table_set_changelog_topic_replication_factor)

/**
 * pb_table_get_changelog_topic_segment_ms:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:changelog-topic-segment-ms].
 *
 * Returns: the segment time, in milliseconds
 */
/**
 * pb_table_set_changelog_topic_segment_ms:
 * @self: a table
 * @segment_ms: a time in milliseconds
 *
 * Sets [property@Paperboy.Table:changelog-topic-segment-ms].
 */
ACCESSORS (gint64, segment_ms, PROP_CHANGELOG_TOPIC_SEGMENT_MS,
           pb_table_get_changelog_topic_segment_ms,
           pb_table_set_changelog_topic_segment_ms)

/**
 * pb_table_get_changelog_topic_min_cleanable_dirty_ratio:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:changelog-topic-min-cleanable-dirty-ratio].
 *
 * Returns: the ratio
 */
/**
 * pb_table_set_changelog_topic_min_cleanable_dirty_ratio:
 * @self: a table
 * @ratio: a ratio between 0 and 1
 *
 * Sets [property@Paperboy.Table:changelog-topic-min-cleanable-dirty-ratio].
 */
ACCESSORS (double, min_cleanable_dirty_ratio, PROP_CHANGELOG_TOPIC_MIN_CLEANABLE_DIRTY_RATIO,
           pb_table_get_changelog_topic_min_cleanable_dirty_ratio,
           pb_table_set_changelog_topic_min_cleanable_dirty_ratio)

/**
 * pb_table_get_changelog_topic_max_compaction_lag_ms:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:changelog-topic-max-compaction-lag-ms].
 *
 * Returns: the lag, in milliseconds
 */
/**
 * pb_table_set_changelog_topic_max_compaction_lag_ms:
 * @self: a table
 * @lag_ms: a time in milliseconds
 *
 * Sets [property@Paperboy.Table:changelog-topic-max-compaction-lag-ms].
 */
ACCESSORS (gint64, max_compaction_lag_ms, PROP_CHANGELOG_TOPIC_MAX_COMPACTION_LAG_MS,
           pb_table_get_changelog_topic_max_compaction_lag_ms,
           pb_table_set_changelog_topic_max_compaction_lag_ms)

/**
 * pb_table_get_strict:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:strict].
 *
 * Returns: whether a bad changelog record fails the restore
 */
/**
 * pb_table_set_strict:
 * @self: a table
 * @strict: whether a bad changelog record fails the restore
 *
 * Sets [property@Paperboy.Table:strict].
 */
ACCESSORS (gboolean, strict, PROP_STRICT, pb_table_get_strict, pb_table_set_strict)

/**
 * pb_table_get_partitioner:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:partitioner].
 *
 * Returns: the partitioner
 */
/**
 * pb_table_set_partitioner:
 * @self: a table
 * @partitioner: a partitioner
 *
 * Sets [property@Paperboy.Table:partitioner].
 */
ACCESSORS (PbTablePartitioner, partitioner, PROP_PARTITIONER,
           pb_table_get_partitioner, pb_table_set_partitioner)

/**
 * pb_table_get_wipe_damaged_store:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:wipe-damaged-store].
 *
 * Returns: whether a damaged store is wiped and restored
 */
/**
 * pb_table_set_wipe_damaged_store:
 * @self: a table
 * @wipe: whether a damaged store is wiped and restored
 *
 * Sets [property@Paperboy.Table:wipe-damaged-store].
 */
ACCESSORS (gboolean, wipe_damaged_store, PROP_WIPE_DAMAGED_STORE,
           pb_table_get_wipe_damaged_store, pb_table_set_wipe_damaged_store)

/**
 * pb_table_get_global:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:global].
 *
 * Returns: whether the table is global
 */
/**
 * pb_table_set_global:
 * @self: a table
 * @global: whether the table is global
 *
 * Sets [property@Paperboy.Table:global], before the table is registered.
 */
ACCESSORS (gboolean, global, PROP_GLOBAL, pb_table_get_global, pb_table_set_global)

/**
 * pb_table_get_standby_replicas:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:standby-replicas].
 *
 * Returns: the number of standby replicas
 */
/**
 * pb_table_set_standby_replicas:
 * @self: a table
 * @standby_replicas: the number of standby replicas, 0 for none
 *
 * Sets [property@Paperboy.Table:standby-replicas], before the table is
 * registered.
 */
ACCESSORS (int, standby_replicas, PROP_STANDBY_REPLICAS,
           pb_table_get_standby_replicas, pb_table_set_standby_replicas)

/**
 * pb_table_get_restored_records:
 * @self: a table
 *
 * Gets the number of changelog records the last restore read.
 *
 * Returns: the number of records
 */
guint64
pb_table_get_restored_records (PbTable *self)
{
  g_return_val_if_fail (PB_IS_TABLE (self), 0);

  return self->restored_records;
}

/**
 * pb_table_get_bad_records:
 * @self: a table
 *
 * Gets the number of changelog records the last restore skipped, see
 * [property@Paperboy.Table:strict].
 *
 * Returns: the number of records
 */
guint64
pb_table_get_bad_records (PbTable *self)
{
  g_return_val_if_fail (PB_IS_TABLE (self), 0);

  return self->bad_records;
}

/**
 * pb_table_get_standby_records:
 * @self: a table
 *
 * Gets [property@Paperboy.Table:standby-records].
 *
 * Returns: the number of records
 */
guint64
pb_table_get_standby_records (PbTable *self)
{
  g_return_val_if_fail (PB_IS_TABLE (self), 0);

  return self->standby_records;
}
