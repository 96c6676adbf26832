/* pb-table.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-table-private.h"

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "pb-error.h"
#include "pb-kafka-private.h"

/**
 * PbTable:
 *
 * A key/value table kept by the engine, backed by a [iface@Paperboy.Store]
 * and by a compacted changelog topic in Kafka.
 *
 * Keys are UTF-8 strings and values are [struct@GLib.Variant]s. A table is
 * registered with [method@Paperboy.Engine.register_table]; when the engine
 * runs, it creates the changelog topic if it is missing and restores the
 * table from it before any handler runs, then emits
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
 * it from the whole changelog at every start; `rocksdb://` keeps it in a
 * RocksDB database under the engine's [property@Paperboy.Engine:state-dir],
 * and `rocksdb:///absolute/path` in the one at that path. A RocksDB store
 * keeps the changelog offsets it holds beside the data and restores only
 * what came after them. Any other store is given with
 * [ctor@Paperboy.Table.new_with_store].
 *
 * A table assumes that a single engine writes it: a table written by
 * several engines of one group is not supported yet.
 *
 * Use a table from the engine's main context, the thread that runs it.
 */

/* Delivered changes wait for this many others before they go to the store
 * together, or for the engine's next flush, at most a few milliseconds
 * later. */
#define FLUSH_CHANGES 4096

typedef struct
{
  GVariant *value;        /* nullable: deleted */
  guint     pending;      /* undelivered writes of the key */
} PbPending;

typedef struct
{
  PbTable  *table;
  char     *key;
  GVariant *value;        /* nullable: deleted */
} PbWrite;

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

  PbStore     *store;
  gboolean     opened;
  GHashTable  *pending;   /* key → PbPending */
  PbProducer  *producer;  /* while a run owns the table */
  PbStoreBatch *delivered;
  GPtrArray   *settled;   /* keys whose writes all reached `delivered` */

  guint64      restored_records;
  guint64      bad_records;
  int          n_partitions_seen;  /* the changelog's, at the last restore */
  gboolean     restoring;          /* a worker thread has the store */
  gboolean     registered;
  gboolean     store_failed;       /* this run's writes stop at the store */
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
  PROP_RESTORED_RECORDS,
  PROP_BAD_RECORDS,
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

static void
pending_free (gpointer data)
{
  PbPending *pending = data;

  g_clear_pointer (&pending->value, g_variant_unref);
  g_free (pending);
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

    case PROP_RESTORED_RECORDS:
      g_value_set_uint64 (value, self->restored_records);
      break;

    case PROP_BAD_RECORDS:
      g_value_set_uint64 (value, self->bad_records);
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
   * The number of partitions the changelog topic is created with.
   */
  properties[PROP_CHANGELOG_TOPIC_NUM_PARTITIONS] =
    g_param_spec_int ("changelog-topic-num-partitions", NULL, NULL,
                      1, G_MAXINT32, 1,
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
   * PbTable:restored-records:
   *
   * The number of changelog records the last restore read.
   */
  properties[PROP_RESTORED_RECORDS] =
    g_param_spec_uint64 ("restored-records", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * PbTable:bad-records:
   *
   * The number of changelog records the last restore skipped.
   */
  properties[PROP_BAD_RECORDS] =
    g_param_spec_uint64 ("bad-records", NULL, NULL,
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
   * the table. Connect to `changed::KEY` to hear about one key. The old
   * value is looked up only when someone listens.
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
   * Emitted once per run of the engine, when the table was restored from
   * its changelog, before any handler runs.
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
  self->num_partitions = 1;
  self->replication_factor = 1;
  self->segment_ms = 43200000;
  self->min_cleanable_dirty_ratio = 0.01;
  self->max_compaction_lag_ms = 86400000;
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, pending_free);
  self->settled = g_ptr_array_new_with_free_func (g_free);
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

/* Stores */

#define ROCKSDB_SCHEME "rocksdb://"
#define MEMORY_SCHEME  "memory://"

gboolean
_pb_table_check_uri (const char  *uri,
                     GError     **error)
{
  if (g_strcmp0 (uri, MEMORY_SCHEME) == 0 || g_strcmp0 (uri, ROCKSDB_SCHEME) == 0)
    return TRUE;

  if (uri != NULL && g_str_has_prefix (uri, ROCKSDB_SCHEME "/") &&
      uri[strlen (ROCKSDB_SCHEME "/")] != '\0')
    return TRUE;

  g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
               _("Unknown table store “%s”: use memory://, rocksdb:// or rocksdb:///absolute/path"),
               uri != NULL ? uri : "");
  return FALSE;
}

gboolean
_pb_table_open (PbTable     *self,
                const char  *state_dir,
                GError     **error)
{
  if (self->store == NULL)
    {
      if (!_pb_table_check_uri (self->store_uri, error))
        return FALSE;

      if (g_str_equal (self->store_uri, MEMORY_SCHEME))
        self->store = pb_memory_store_new ();
      else if (g_str_equal (self->store_uri, ROCKSDB_SCHEME))
        {
          g_autofree char *path = g_build_filename (state_dir, self->name, NULL);

          self->store = pb_rocksdb_store_new (path);
        }
      else
        self->store = pb_rocksdb_store_new (self->store_uri + strlen (ROCKSDB_SCHEME));
    }

  if (self->opened)
    return TRUE;

  if (!pb_store_open (self->store, error))
    return FALSE;

  self->opened = TRUE;

  return TRUE;
}

PbStore *
_pb_table_peek_store (PbTable *self)
{
  return self->store;
}

/* Values */

/* Whether json-glib carries values of @type exactly, given the type. */
static gboolean
type_is_json_exact (const char *type)
{
  for (const char *c = type; *c != '\0'; c++)
    {
      if (*c == 'v')
        return FALSE;
      if (c[0] == 'm' && c[1] == 'm')
        return FALSE;
      /* json-glib keeps the last of duplicate keys: a round trip makes
       * them one. */
      if (c[0] == '{')
        return FALSE;
    }

  return TRUE;
}

static gboolean
is_finite (GVariant *value)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
    return isfinite (g_variant_get_double (value));

  if (g_variant_is_container (value))
    {
      gsize n = g_variant_n_children (value);

      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) child = g_variant_get_child_value (value, i);

          if (!is_finite (child))
            return FALSE;
        }
    }

  return TRUE;
}

/* JSON for the common types, as json-glib writes it and reads it back with
 * the type, without building a JsonNode tree; FALSE for the others. */
static gboolean
append_json (GString  *json,
             GVariant *value)
{
  const char *type = g_variant_get_type_string (value);

  switch (type[0])
    {
    case 'b':
      g_string_append (json, g_variant_get_boolean (value) ? "true" : "false");
      return TRUE;
    case 'y':
      g_string_append_printf (json, "%u", (guint)g_variant_get_byte (value));
      return TRUE;
    case 'n':
      g_string_append_printf (json, "%d", (int)g_variant_get_int16 (value));
      return TRUE;
    case 'q':
      g_string_append_printf (json, "%u", (guint)g_variant_get_uint16 (value));
      return TRUE;
    case 'i':
      g_string_append_printf (json, "%d", (int)g_variant_get_int32 (value));
      return TRUE;
    case 'u':
      g_string_append_printf (json, "%u", (guint)g_variant_get_uint32 (value));
      return TRUE;
    case 'x':
      g_string_append_printf (json, "%" G_GINT64_FORMAT, g_variant_get_int64 (value));
      return TRUE;
    case 't':
      /* As json-glib: the bits of an int64. */
      g_string_append_printf (json, "%" G_GINT64_FORMAT, (gint64)g_variant_get_uint64 (value));
      return TRUE;
    case 'd':
      {
        char buffer[G_ASCII_DTOSTR_BUF_SIZE];
        double d = g_variant_get_double (value);

        g_ascii_formatd (buffer, sizeof buffer, "%.17g", d);
        g_string_append (json, buffer);
        /* A number JSON readers take for a double. */
        if (strpbrk (buffer, ".eEn") == NULL)
          g_string_append (json, ".0");
        return TRUE;
      }
    case 's':
    case 'o':
    case 'g':
      {
        const char *text = g_variant_get_string (value, NULL);

        g_string_append_c (json, '"');
        for (const guchar *c = (const guchar *)text; *c != '\0'; c++)
          {
            if (*c == '"' || *c == '\\')
              {
                g_string_append_c (json, '\\');
                g_string_append_c (json, *c);
              }
            else if (*c < 0x20)
              g_string_append_printf (json, "\\u%04x", *c);
            else
              g_string_append_c (json, *c);
          }
        g_string_append_c (json, '"');
        return TRUE;
      }
    case '(':
    case 'a':
      {
        gsize n = g_variant_n_children (value);
        gboolean object = type[0] == 'a' && type[1] == '{';

        /* Only string keys, and no unit tuple. */
        if ((object && type[2] != 's') || g_str_equal (type, "()"))
          return FALSE;

        g_string_append_c (json, object ? '{' : '[');
        for (gsize i = 0; i < n; i++)
          {
            g_autoptr(GVariant) child = g_variant_get_child_value (value, i);

            if (i > 0)
              g_string_append_c (json, ',');

            if (object)
              {
                g_autoptr(GVariant) key = g_variant_get_child_value (child, 0);
                g_autoptr(GVariant) item = g_variant_get_child_value (child, 1);

                if (!append_json (json, key))
                  return FALSE;
                g_string_append_c (json, ':');
                if (!append_json (json, item))
                  return FALSE;
              }
            else if (!append_json (json, child))
              return FALSE;
          }
        g_string_append_c (json, object ? '}' : ']');
        return TRUE;
      }
    case 'm':
      {
        g_autoptr(GVariant) inner = g_variant_get_maybe (value);

        if (inner == NULL)
          {
            g_string_append (json, "null");
            return TRUE;
          }
        return append_json (json, inner);
      }
    default:
      return FALSE;
    }
}

static char *
serialize (GVariant *value,
           gsize    *length)
{
  GString *json = g_string_sized_new (64);

  if (!append_json (json, value))
    {
      g_string_free (json, TRUE);
      return json_gvariant_serialize_data (value, length);
    }

  *length = json->len;

  return g_string_free (json, FALSE);
}

/* The value as it is stored and written, and its JSON. */
static GVariant *
normalize (GVariant  *value,
           char     **json,
           gsize     *json_len,
           GError   **error)
{
  const char *type = g_variant_get_type_string (value);
  g_autoptr(GVariant) normal = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *text = NULL;

  /* json-glib writes them, but cannot read them back. */
  if (strstr (type, "{o") != NULL || strstr (type, "{g") != NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("A table cannot hold a dictionary keyed by object paths or signatures (%s)"),
                   type);
      return NULL;
    }

  if (strpbrk (type, "dv") != NULL && !is_finite (value))
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                           _("A table cannot hold a number that is not finite (NaN or an infinity)"));
      return NULL;
    }

  if (type_is_json_exact (type))
    {
      *json = serialize (value, json_len);
      return g_variant_ref_sink (value);
    }

  text = json_gvariant_serialize_data (value, json_len);
  normal = json_gvariant_deserialize_data (text, -1, type, &local_error);
  if (normal == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("Cannot store a value of type “%s”: %s"), type,
                   local_error != NULL ? local_error->message : "");
      return NULL;
    }

  g_variant_ref_sink (normal);
  *json = json_gvariant_serialize_data (normal, json_len);

  return g_steal_pointer (&normal);
}

GVariant *
_pb_table_decode_record (const rd_kafka_message_t  *rkm,
                         gboolean                  *deleted,
                         GError                   **error)
{
  rd_kafka_headers_t *headers = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *type = NULL;
  const void *header;
  size_t header_size;
  GVariant *value;

  *deleted = FALSE;

  if (rkm->key == NULL || !g_utf8_validate_len (rkm->key, rkm->key_len, NULL) ||
      memchr (rkm->key, '\0', rkm->key_len) != NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                   _("Changelog record %s[%d]@%lld has no UTF-8 key"),
                   rd_kafka_topic_name (rkm->rkt), (int)rkm->partition, (long long)rkm->offset);
      return NULL;
    }

  if (rkm->payload == NULL)
    {
      *deleted = TRUE;
      return NULL;
    }

  if (rd_kafka_message_headers (rkm, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      if (rd_kafka_header_get_last (headers, PB_TABLE_ENCODING_HEADER, &header,
                                    &header_size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          (header_size != strlen (PB_TABLE_ENCODING) ||
           memcmp (header, PB_TABLE_ENCODING, header_size) != 0))
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                       _("Changelog record %s[%d]@%lld has an unknown encoding"),
                       rd_kafka_topic_name (rkm->rkt), (int)rkm->partition,
                       (long long)rkm->offset);
          return NULL;
        }

      if (rd_kafka_header_get_last (headers, PB_TABLE_TYPE_HEADER, &header,
                                    &header_size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          header != NULL)
        {
          type = g_strndup (header, header_size);
          if (!g_variant_type_string_is_valid (type) ||
              !g_variant_type_is_definite (G_VARIANT_TYPE (type)))
            {
              g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                           _("Changelog record %s[%d]@%lld has an invalid type “%s”"),
                           rd_kafka_topic_name (rkm->rkt), (int)rkm->partition,
                           (long long)rkm->offset, type);
              return NULL;
            }
        }
    }

  value = json_gvariant_deserialize_data (rkm->payload, rkm->len, type, &local_error);
  if (value == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                   _("Changelog record %s[%d]@%lld is not a value of type “%s”: %s"),
                   rd_kafka_topic_name (rkm->rkt), (int)rkm->partition, (long long)rkm->offset,
                   type != NULL ? type : "?", local_error->message);
      return NULL;
    }

  return g_variant_ref_sink (value);
}

/* Reading */

/* A store closed when its engine stopped opens again to be read. */
static gboolean
reopen (PbTable  *self,
        GError  **error)
{
  if (self->opened)
    return TRUE;

  if (!pb_store_open (self->store, error))
    {
      g_prefix_error (error, _("Table “%s”: "), self->name);
      return FALSE;
    }

  self->opened = TRUE;

  return TRUE;
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

/**
 * pb_table_get:
 * @self: a table
 * @key: a key
 *
 * Looks up the value of @key: the last one set, even if its changelog
 * record is not delivered yet. Never blocks on Kafka.
 *
 * Returns: (transfer full) (nullable): the value, or %NULL when @key has
 *   none
 */
GVariant *
pb_table_get (PbTable    *self,
              const char *key)
{
  g_autoptr(GError) error = NULL;
  PbPending *pending;
  GVariant *value;

  g_return_val_if_fail (PB_IS_TABLE (self), NULL);
  g_return_val_if_fail (key != NULL, NULL);

  pending = g_hash_table_lookup (self->pending, key);
  if (pending != NULL)
    return pending->value != NULL ? g_variant_ref (pending->value) : NULL;

  if (self->store == NULL || self->restoring)
    return NULL;

  if (!reopen (self, &error))
    {
      g_warning ("%s", error->message);
      return NULL;
    }

  value = pb_store_lookup (self->store, key, &error);
  if (error != NULL)
    g_warning ("Table “%s”: %s", self->name, error->message);

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

  if (g_hash_table_contains (data->table->pending, key))
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
 * table.
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

  if (self->store != NULL &&
      (!reopen (self, error) ||
       !pb_store_foreach (self->store, foreach_stored_cb, &data, error)))
    return FALSE;

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
  g_clear_pointer (&write->value, g_variant_unref);
  g_free (write->key);
  g_free (write);
}

static void
delivered_cb (gpointer             data,
              rd_kafka_resp_err_t  err,
              int                  partition,
              gint64               offset)
{
  PbWrite *write = data;
  PbTable *self = write->table;

  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      PbPending *pending = g_hash_table_lookup (self->pending, write->key);

      if (self->delivered == NULL)
        self->delivered = pb_store_batch_new ();
      pb_store_batch_put (self->delivered, write->key, write->value);
      pb_store_batch_set_offset (self->delivered, partition, offset + 1);

      if (pending != NULL && --pending->pending == 0)
        g_ptr_array_add (self->settled, g_steal_pointer (&write->key));
    }

  write_free (write);
  g_object_unref (self);
}

gboolean
_pb_table_has_delivered (PbTable *self)
{
  return self->delivered != NULL;
}

gboolean
_pb_table_flush (PbTable   *self,
                 gboolean   force,
                 GError   **error)
{
  g_autoptr(PbStoreBatch) batch = NULL;

  if (self->delivered == NULL)
    return TRUE;

  /* Stores write large batches best; the pending changes hold the values
   * meanwhile, and the changelog has them already. */
  if (!force && pb_store_batch_get_n_changes (self->delivered) < FLUSH_CHANGES)
    return TRUE;

  batch = g_steal_pointer (&self->delivered);

  /* After a failed write, nothing more: the store's offsets never pass a
   * change it lacks, and the next restore reads them again. */
  if (self->store_failed)
    return TRUE;

  if (!pb_store_apply (self->store, batch, error))
    {
      self->store_failed = TRUE;
      g_prefix_error (error, _("Table “%s”: "), self->name);
      return FALSE;
    }

  /* The store has them now: the keys that wait for nothing more are read
   * from it. */
  for (guint i = 0; i < self->settled->len; i++)
    {
      const char *key = g_ptr_array_index (self->settled, i);
      PbPending *pending = g_hash_table_lookup (self->pending, key);

      if (pending != NULL && pending->pending == 0)
        g_hash_table_remove (self->pending, key);
    }
  g_ptr_array_set_size (self->settled, 0);

  return TRUE;
}

void
_pb_table_attach (PbTable    *self,
                  PbProducer *producer)
{
  self->producer = producer;
  self->store_failed = FALSE;
}

void
_pb_table_detach (PbTable *self)
{
  self->producer = NULL;

  /* What was never delivered is not the table's: the records whose
   * handling wrote it were not committed, and come again. */
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

void
_pb_table_set_n_partitions (PbTable *self,
                            int      n_partitions)
{
  self->n_partitions_seen = n_partitions;
}

static gboolean
write_change (PbTable     *self,
              const char  *key,
              GVariant    *value,
              GError     **error)
{
  g_autoptr(GVariant) normal = NULL;
  g_autoptr(GVariant) old = NULL;
  g_autofree char *json = NULL;
  rd_kafka_headers_t *headers = NULL;
  gsize json_len = 0;
  PbPending *pending;
  PbWrite *write;
  GQuark detail;
  gboolean notify;

  if (!g_utf8_validate (key, -1, NULL))
    {
      g_set_error_literal (error, PB_ERROR, PB_ERROR_FAILED,
                           _("A table key must be valid UTF-8"));
      return FALSE;
    }

  if (value != NULL)
    {
      normal = normalize (value, &json, &json_len, error);
      if (normal == NULL)
        return FALSE;
    }

  if (self->producer == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("The table “%s” can only be written while its engine runs"), self->name);
      return FALSE;
    }

  /* Only computed for someone who listens: for RocksDB it is a read. */
  detail = g_quark_try_string (key);
  notify = g_signal_has_handler_pending (self, signals[CHANGED], 0, FALSE) ||
           (detail != 0 && g_signal_has_handler_pending (self, signals[CHANGED], detail, FALSE));
  if (notify)
    {
      old = pb_table_get (self, key);
      if (normal == NULL && old == NULL)
        notify = FALSE;
    }

  if (normal != NULL)
    {
      headers = rd_kafka_headers_new (2);
      rd_kafka_header_add (headers, PB_TABLE_TYPE_HEADER, -1,
                           g_variant_get_type_string (normal), -1);
      rd_kafka_header_add (headers, PB_TABLE_ENCODING_HEADER, -1, PB_TABLE_ENCODING, -1);
    }

  write = g_new (PbWrite, 1);
  write->table = g_object_ref (self);
  write->key = g_strdup (key);
  write->value = normal != NULL ? g_variant_ref (normal) : NULL;

  /* A key always goes to the same partition, whatever partitioner the
   * producer has: the order of a key's changes is the order of its
   * partition. The same as Kafka's Java clients. */
  if (_pb_producer_produce (self->producer, self->changelog_topic_name,
                            self->n_partitions_seen > 0
                              ? rd_kafka_msg_partitioner_murmur2 (NULL, key, strlen (key),
                                                                  self->n_partitions_seen,
                                                                  NULL, NULL)
                              : RD_KAFKA_PARTITION_UA,
                            key, strlen (key), json, json_len, headers,
                            delivered_cb, write, error) == 0)
    {
      g_prefix_error (error, _("Table “%s”: "), self->name);
      g_object_unref (write->table);
      write_free (write);
      return FALSE;
    }

  pending = g_hash_table_lookup (self->pending, key);
  if (pending == NULL)
    {
      pending = g_new0 (PbPending, 1);
      g_hash_table_insert (self->pending, g_strdup (key), pending);
    }
  g_clear_pointer (&pending->value, g_variant_unref);
  pending->value = g_steal_pointer (&normal);
  pending->pending++;

  if (notify)
    g_signal_emit (self, signals[CHANGED], g_quark_from_string (key), key, old, pending->value);

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

  return write_change (self, key, owned, error);
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

  return write_change (self, key, NULL, error);
}

void
_pb_table_count_restored (PbTable *self,
                          guint64  records,
                          guint64  bad)
{
  self->restored_records = records;
  self->bad_records = bad;
}

void
_pb_table_restored (PbTable *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RESTORED_RECORDS]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BAD_RECORDS]);
  g_signal_emit (self, signals[RESTORED], 0);
}

/* The changelog topic */

static gboolean
topic_exists (rd_kafka_t  *rk,
              const char  *topic,
              int         *partitions,
              GError     **error)
{
  const struct rd_kafka_metadata *metadata = NULL;
  rd_kafka_resp_err_t err;

  /* All topics: asking for one would create it where brokers do so. */
  err = rd_kafka_metadata (rk, 1, NULL, &metadata, 10000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      _pb_kafka_set_error (error, err, _("Could not list the topics"));
      return FALSE;
    }

  *partitions = 0;
  for (int i = 0; i < metadata->topic_cnt; i++)
    if (g_str_equal (metadata->topics[i].topic, topic) &&
        metadata->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      *partitions = metadata->topics[i].partition_cnt;

  rd_kafka_metadata_destroy (metadata);

  return TRUE;
}

static gboolean
create_topic (PbTable     *self,
              rd_kafka_t  *rk,
              GError     **error)
{
  char errstr[512];
  g_autofree char *segment_ms = g_strdup_printf ("%" G_GINT64_FORMAT, self->segment_ms);
  g_autofree char *lag_ms = g_strdup_printf ("%" G_GINT64_FORMAT, self->max_compaction_lag_ms);
  char ratio[G_ASCII_DTOSTR_BUF_SIZE];
  rd_kafka_NewTopic_t *topic;
  rd_kafka_AdminOptions_t *options;
  rd_kafka_queue_t *queue;
  rd_kafka_event_t *event;
  const rd_kafka_CreateTopics_result_t *result;
  const rd_kafka_topic_result_t **results;
  size_t n_results = 0;
  rd_kafka_resp_err_t err;
  gboolean ok = FALSE;

  g_ascii_dtostr (ratio, sizeof ratio, self->min_cleanable_dirty_ratio);

  topic = rd_kafka_NewTopic_new (self->changelog_topic_name, self->num_partitions,
                                 self->replication_factor, errstr, sizeof errstr);
  if (topic == NULL)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                   _("Cannot create the changelog topic “%s”: %s"),
                   self->changelog_topic_name, errstr);
      return FALSE;
    }

  rd_kafka_NewTopic_set_config (topic, "cleanup.policy", "compact");
  rd_kafka_NewTopic_set_config (topic, "segment.ms", segment_ms);
  rd_kafka_NewTopic_set_config (topic, "min.cleanable.dirty.ratio", ratio);
  rd_kafka_NewTopic_set_config (topic, "max.compaction.lag.ms", lag_ms);

  options = rd_kafka_AdminOptions_new (rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout (options, 10000, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_operation_timeout (options, 10000, errstr, sizeof errstr);

  queue = rd_kafka_queue_new (rk);
  rd_kafka_CreateTopics (rk, &topic, 1, options, queue);
  event = rd_kafka_queue_poll (queue, 15000);

  if (event == NULL)
    err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  else if ((err = rd_kafka_event_error (event)) == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      result = rd_kafka_event_CreateTopics_result (event);
      results = rd_kafka_CreateTopics_result_topics (result, &n_results);
      if (n_results > 0)
        err = rd_kafka_topic_result_error (results[0]);
    }

  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    ok = TRUE;
  else
    g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                 _("Could not create the changelog topic “%s”: %s"),
                 self->changelog_topic_name, rd_kafka_err2str (err));

  if (event != NULL)
    rd_kafka_event_destroy (event);
  rd_kafka_queue_destroy (queue);
  rd_kafka_AdminOptions_destroy (options);
  rd_kafka_NewTopic_destroy (topic);

  return ok;
}

gboolean
_pb_table_create_changelog (PbTable          *self,
                            rd_kafka_conf_t  *admin_conf,
                            PbMockCluster    *mock_cluster,
                            GError          **error)
{
  char errstr[512];
  rd_kafka_t *rk;
  int partitions = 0;
  gboolean ok;

  if (mock_cluster != NULL)
    {
      rd_kafka_conf_destroy (admin_conf);
      if (!pb_mock_cluster_create_topic (mock_cluster, self->changelog_topic_name,
                                         self->num_partitions, error))
        {
          g_prefix_error (error, _("Table “%s”: "), self->name);
          return FALSE;
        }
      return TRUE;
    }

  rd_kafka_conf_set (admin_conf, "log.queue", "false", NULL, 0);
  rd_kafka_conf_set_log_cb (admin_conf, _pb_kafka_log);
  rk = rd_kafka_new (RD_KAFKA_PRODUCER, admin_conf, errstr, sizeof errstr);
  if (rk == NULL)
    {
      rd_kafka_conf_destroy (admin_conf);
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Invalid Kafka configuration: %s"), errstr);
      return FALSE;
    }

  ok = topic_exists (rk, self->changelog_topic_name, &partitions, error);
  if (ok && partitions == 0)
    ok = create_topic (self, rk, error);

  rd_kafka_destroy (rk);

  return ok;
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

  if (self->store == NULL && g_strcmp0 (self->store_uri, ROCKSDB_SCHEME) == 0)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("The table “%s” needs the absolute path of its RocksDB database"),
                   self->name);
      return FALSE;
    }

  if (!_pb_table_open (self, NULL, error))
    return FALSE;

  conf = rd_kafka_conf_new ();
  if (!_pb_kafka_conf_set (conf, "bootstrap.servers", bootstrap_servers, error) ||
      !_pb_kafka_conf_set (conf, "enable.partition.eof", "true", error) ||
      !_pb_kafka_conf_set (conf, "enable.auto.commit", "false", error) ||
      !_pb_kafka_conf_set (conf, "fetch.wait.max.ms", "50", error))
    {
      rd_kafka_conf_destroy (conf);
      return FALSE;
    }

  return _pb_table_restore (self, conf, cancellable, error);
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

#define INT_ACCESSORS(type, field, prop, getter, setter)                       \
type                                                                           \
getter (PbTable *self)                                                         \
{                                                                              \
  g_return_val_if_fail (PB_IS_TABLE (self), 0);                                \
                                                                               \
  return self->field;                                                          \
}                                                                              \
                                                                               \
void                                                                           \
setter (PbTable *self,                                                         \
        type     value)                                                        \
{                                                                              \
  g_return_if_fail (PB_IS_TABLE (self));                                       \
  g_return_if_fail (!self->registered || prop == PROP_STRICT);                 \
                                                                               \
  if (self->field != value)                                                    \
    {                                                                          \
      self->field = value;                                                     \
      g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);            \
    }                                                                          \
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
INT_ACCESSORS (int, num_partitions, PROP_CHANGELOG_TOPIC_NUM_PARTITIONS,
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
INT_ACCESSORS (int, replication_factor, PROP_CHANGELOG_TOPIC_REPLICATION_FACTOR,
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
INT_ACCESSORS (gint64, segment_ms, PROP_CHANGELOG_TOPIC_SEGMENT_MS,
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
INT_ACCESSORS (double, min_cleanable_dirty_ratio, PROP_CHANGELOG_TOPIC_MIN_CLEANABLE_DIRTY_RATIO,
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
INT_ACCESSORS (gint64, max_compaction_lag_ms, PROP_CHANGELOG_TOPIC_MAX_COMPACTION_LAG_MS,
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
INT_ACCESSORS (gboolean, strict, PROP_STRICT, pb_table_get_strict, pb_table_set_strict)

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
