/* pb-message.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-message-private.h"

#include <string.h>

/**
 * PbMessage:
 *
 * One Kafka record, as a handler sees it.
 *
 * A message is immutable. Its key, value and headers are created on first
 * access and point into the record librdkafka fetched, without a copy. A
 * null key or value (%NULL) is not the same as an empty one (a #GBytes of
 * length 0): a record whose value is null is a *tombstone*.
 *
 * The engine may reuse a message object once its handling ended and no one
 * else holds a reference, so do not attach data or weak references to it.
 *
 * A handler may keep a message (take a reference) for as long as it likes,
 * and what its getters returned stays valid as long as the message lives,
 * from any thread. When its handling ends, a message someone still holds
 * is detached from librdkafka: its fields are copied, so that it pins no
 * fetched data, except a key or value already handed out, whose bytes keep
 * the fetched record (and librdkafka's handle) alive until they are
 * released. To keep records for long, keep the copies
 * [method@Paperboy.Message.dup] returns.
 *
 * Header names are UTF-8 in Kafka. A name that is not is given with each
 * byte that is not valid UTF-8 written as `\xNN` (two hexadecimal digits)
 * and each backslash doubled; valid names are given as they are. A name
 * with a NUL byte in it ends at that byte: librdkafka gives header names
 * as C strings.
 *
 * Messages are made by the engine, or by [ctor@Paperboy.Message.new_full]
 * for tests and for a handler's [vfunc@Paperboy.Handler.did_receive_message]
 * that replaces a record.
 */

typedef struct
{
  gatomicrefcount     ref_count;
  rd_kafka_message_t *rkm;
  PbKafkaHandle      *handle;
} PbRecord;

/* Bits of PbMessage.cached: which lazy fields are filled in. */
enum {
  CACHED_KEY     = 1 << 0,
  CACHED_VALUE   = 1 << 1,
  CACHED_HEADERS = 1 << 2,
};

/* Bit of PbMessage.lock, held while a lazy field is filled in or the
 * message is detached: getters may be called from any thread. */
#define LOCK_BIT 0

struct _PbMessage
{
  GObject             parent_instance;

  /* The fetched record: owned by the message itself, or through @record
   * once zero-copy bytes were handed out. NULL for a detached message. */
  rd_kafka_message_t *rkm;
  PbRecord           *record;
  PbKafkaHandle      *handle;    /* borrowed while @rkm is set */

  /* Whether the engine's toggle reference is the only one (see
   * _pb_message_pool_return()). */
  int                 exclusive;

  const char         *topic;     /* interned */
  int                 partition;
  gint64              offset;
  gint64              timestamp;

  GBytes             *key;
  GBytes             *value;
  GVariant           *headers;

  /* Set by the engine before the handling, from the main context. */
  GVariant           *decoded_key;
  GVariant           *decoded_value;

  int                 cached;
  int                 lock;
};

struct _PbMessagePool
{
  PbKafkaHandle  *handle;
  PbMessage     **spares;
  guint           n_spares;
  guint           capacity;
};

enum {
  PROP_0,
  PROP_TOPIC,
  PROP_PARTITION,
  PROP_OFFSET,
  PROP_TIMESTAMP,
  PROP_KEY,
  PROP_VALUE,
  PROP_HEADERS,
  PROP_IS_TOMBSTONE,
  N_PROPS
};

G_DEFINE_FINAL_TYPE (PbMessage, pb_message, G_TYPE_OBJECT)

static GParamSpec *properties[N_PROPS];

static PbRecord *
pb_record_ref (PbRecord *record)
{
  g_atomic_ref_count_inc (&record->ref_count);
  return record;
}

static void
pb_record_unref (PbRecord *record)
{
  if (g_atomic_ref_count_dec (&record->ref_count))
    {
      rd_kafka_message_destroy (record->rkm);
      _pb_kafka_handle_unref (record->handle);
      g_free (record);
    }
}

static PbRecord *
pb_message_ensure_record (PbMessage *self)
{
  if (self->record == NULL)
    {
      self->record = g_new (PbRecord, 1);
      g_atomic_ref_count_init (&self->record->ref_count);
      self->record->rkm = self->rkm;
      self->record->handle = _pb_kafka_handle_ref (self->handle);
    }

  return self->record;
}

static GBytes *
pb_message_wrap (PbMessage  *self,
                 const void *data,
                 gsize       len)
{
  if (data == NULL)
    return NULL;

  if (len == 0)
    return g_bytes_new (NULL, 0);

  return g_bytes_new_with_free_func (data, len,
                                     (GDestroyNotify) pb_record_unref,
                                     pb_record_ref (pb_message_ensure_record (self)));
}

/* A header name that is not valid UTF-8, as a valid one: bytes that are
 * not valid UTF-8 as \xNN, backslashes doubled. */
static char *
escape_name (const char *name)
{
  GString *escaped = g_string_new (NULL);
  const char *p = name;

  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar)-1 || c == (gunichar)-2)
        {
          g_string_append_printf (escaped, "\\x%02X", (guchar)*p);
          p++;
        }
      else
        {
          if (c == '\\')
            g_string_append_c (escaped, '\\');
          g_string_append_unichar (escaped, c);
          p = g_utf8_next_char (p);
        }
    }

  return g_string_free (escaped, FALSE);
}

static GVariant *
empty_headers (void)
{
  static gsize empty;

  if (g_once_init_enter (&empty))
    g_once_init_leave (&empty, (gsize)g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(smay)"), NULL, 0)));

  return g_variant_ref ((GVariant *)empty);
}

static GVariant *
pb_message_headers_from_record (rd_kafka_message_t *rkm)
{
  rd_kafka_headers_t *hdrs = NULL;
  GVariantBuilder builder;

  if (rd_kafka_message_headers (rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_cnt (hdrs) == 0)
    return empty_headers ();

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(smay)"));

    {
      const char *name;
      const void *value;
      size_t size;

      for (size_t i = 0;
           rd_kafka_header_get_all (hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           i++)
        {
          g_autofree char *escaped = NULL;
          GVariant *bytes = NULL;

          if (!g_utf8_validate (name, -1, NULL))
            name = escaped = escape_name (name);

          if (value != NULL)
            bytes = g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, value, size, 1);

          g_variant_builder_add (&builder, "(s@may)", name,
                                 g_variant_new_maybe (G_VARIANT_TYPE_BYTESTRING, bytes));
        }
    }

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
pb_message_clear_cache (PbMessage *self)
{
  g_clear_pointer (&self->key, g_bytes_unref);
  g_clear_pointer (&self->value, g_bytes_unref);
  g_clear_pointer (&self->headers, g_variant_unref);
  g_clear_pointer (&self->decoded_key, g_variant_unref);
  g_clear_pointer (&self->decoded_value, g_variant_unref);
  self->cached = 0;
}

static inline gboolean
is_cached (PbMessage *self,
           int        bit)
{
  return (g_atomic_int_get (&self->cached) & bit) != 0;
}

/* Fills in one lazy field from the fetched record, once. */
static void
pb_message_fill (PbMessage *self,
                 int        bit)
{
  g_bit_lock (&self->lock, LOCK_BIT);

  if (!(self->cached & bit))
    {
      if (bit == CACHED_KEY)
        self->key = pb_message_wrap (self, self->rkm->key, self->rkm->key_len);
      else if (bit == CACHED_VALUE)
        self->value = pb_message_wrap (self, self->rkm->payload, self->rkm->len);
      else
        self->headers = pb_message_headers_from_record (self->rkm);

      g_atomic_int_or (&self->cached, bit);
    }

  g_bit_unlock (&self->lock, LOCK_BIT);
}

static void
pb_message_release_record (PbMessage *self)
{
  if (self->record != NULL)
    g_clear_pointer (&self->record, pb_record_unref);
  else if (self->rkm != NULL)
    rd_kafka_message_destroy (self->rkm);

  self->rkm = NULL;
  self->handle = NULL;
}

static GBytes *
copy_bytes (GBytes *bytes)
{
  gsize len;
  gconstpointer data;

  if (bytes == NULL)
    return NULL;

  data = g_bytes_get_data (bytes, &len);

  return g_bytes_new (data, len);
}

static GBytes *
copy_buffer (const void *data,
             gsize       len)
{
  return data != NULL ? g_bytes_new (data, len) : NULL;
}

/* Fills in every field and lets the record go: copies, unless zero-copy
 * bytes were handed out, which keep the record alive anyway and which the
 * other fields then share. */
static void
pb_message_detach (PbMessage *self)
{
  g_bit_lock (&self->lock, LOCK_BIT);

  if (self->rkm != NULL)
    {
      self->timestamp = MAX (rd_kafka_message_timestamp (self->rkm, NULL), -1);

      if (self->record != NULL)
        {
          if (!(self->cached & CACHED_KEY))
            self->key = pb_message_wrap (self, self->rkm->key, self->rkm->key_len);
          if (!(self->cached & CACHED_VALUE))
            self->value = pb_message_wrap (self, self->rkm->payload, self->rkm->len);
        }
      else
        {
          if (!(self->cached & CACHED_KEY))
            self->key = copy_buffer (self->rkm->key, self->rkm->key_len);
          if (!(self->cached & CACHED_VALUE))
            self->value = copy_buffer (self->rkm->payload, self->rkm->len);
        }

      if (!(self->cached & CACHED_HEADERS))
        self->headers = pb_message_headers_from_record (self->rkm);
      g_atomic_int_or (&self->cached, CACHED_KEY | CACHED_VALUE | CACHED_HEADERS);

      pb_message_release_record (self);
    }

  g_bit_unlock (&self->lock, LOCK_BIT);
}

static void
pb_message_finalize (GObject *object)
{
  PbMessage *self = (PbMessage *)object;

  pb_message_release_record (self);
  pb_message_clear_cache (self);

  G_OBJECT_CLASS (pb_message_parent_class)->finalize (object);
}

static void
pb_message_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  PbMessage *self = PB_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_TOPIC:
      g_value_set_string (value, pb_message_get_topic (self));
      break;

    case PROP_PARTITION:
      g_value_set_int (value, pb_message_get_partition (self));
      break;

    case PROP_OFFSET:
      g_value_set_int64 (value, pb_message_get_offset (self));
      break;

    case PROP_TIMESTAMP:
      g_value_set_int64 (value, pb_message_get_timestamp (self));
      break;

    case PROP_KEY:
      g_value_set_boxed (value, pb_message_get_key (self));
      break;

    case PROP_VALUE:
      g_value_set_boxed (value, pb_message_get_value (self));
      break;

    case PROP_HEADERS:
      g_value_set_variant (value, pb_message_get_headers (self));
      break;

    case PROP_IS_TOMBSTONE:
      g_value_set_boolean (value, pb_message_is_tombstone (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pb_message_class_init (PbMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pb_message_finalize;
  object_class->get_property = pb_message_get_property;

  /**
   * PbMessage:topic:
   *
   * The topic the record was read from.
   */
  properties[PROP_TOPIC] =
    g_param_spec_string ("topic", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * PbMessage:partition:
   *
   * The partition the record was read from.
   */
  properties[PROP_PARTITION] =
    g_param_spec_int ("partition", NULL, NULL,
                      -1, G_MAXINT, -1,
                      (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * PbMessage:offset:
   *
   * The record's offset in its partition.
   */
  properties[PROP_OFFSET] =
    g_param_spec_int64 ("offset", NULL, NULL,
                        -1, G_MAXINT64, -1,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * PbMessage:timestamp:
   *
   * The record's timestamp in milliseconds since the Unix epoch, or -1 when
   * it has none.
   */
  properties[PROP_TIMESTAMP] =
    g_param_spec_int64 ("timestamp", NULL, NULL,
                        -1, G_MAXINT64, -1,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * PbMessage:key:
   *
   * The record's key, or %NULL when the key is null.
   */
  properties[PROP_KEY] =
    g_param_spec_boxed ("key", NULL, NULL,
                        G_TYPE_BYTES,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * PbMessage:value:
   *
   * The record's value, or %NULL for a tombstone.
   */
  properties[PROP_VALUE] =
    g_param_spec_boxed ("value", NULL, NULL,
                        G_TYPE_BYTES,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * PbMessage:headers:
   *
   * The record's headers in order, as a `a(smay)` variant: each header's
   * name and its value, `nothing` for a null value.
   */
  properties[PROP_HEADERS] =
    g_param_spec_variant ("headers", NULL, NULL,
                          G_VARIANT_TYPE ("a(smay)"),
                          NULL,
                          (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * PbMessage:is-tombstone:
   *
   * Whether the record's value is null.
   */
  properties[PROP_IS_TOMBSTONE] =
    g_param_spec_boolean ("is-tombstone", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
pb_message_init (PbMessage *self)
{
  self->partition = -1;
  self->offset = -1;
  self->timestamp = -1;
}

/**
 * pb_message_new_full: (constructor)
 * @topic: the topic
 * @partition: the partition, or -1
 * @offset: the offset, or -1
 * @timestamp: the timestamp in milliseconds since the Unix epoch, or -1
 * @key: (nullable): the key, or %NULL for a null key
 * @value: (nullable): the value, or %NULL for a tombstone
 * @headers: (nullable): the headers as a `a(smay)` variant, or %NULL for none
 *
 * Creates a message that is not backed by a fetched record: for tests, and
 * for a [vfunc@Paperboy.Handler.did_receive_message] that replaces a record.
 *
 * A floating @headers is consumed.
 *
 * Returns: (transfer full): a new message
 */
PbMessage *
pb_message_new_full (const char *topic,
                     int         partition,
                     gint64      offset,
                     gint64      timestamp,
                     GBytes     *key,
                     GBytes     *value,
                     GVariant   *headers)
{
  PbMessage *self;

  g_return_val_if_fail (topic != NULL, NULL);
  g_return_val_if_fail (partition >= -1, NULL);
  g_return_val_if_fail (offset >= -1, NULL);
  g_return_val_if_fail (headers == NULL ||
                        g_variant_is_of_type (headers, G_VARIANT_TYPE ("a(smay)")), NULL);

  self = g_object_new (PB_TYPE_MESSAGE, NULL);
  self->topic = g_intern_string (topic);
  self->partition = partition;
  self->offset = offset;
  self->timestamp = MAX (timestamp, -1);
  self->key = key != NULL ? g_bytes_ref (key) : NULL;
  self->value = value != NULL ? g_bytes_ref (value) : NULL;
  if (headers != NULL)
    self->headers = g_variant_ref_sink (headers);
  else
    self->headers = empty_headers ();
  self->cached = CACHED_KEY | CACHED_VALUE | CACHED_HEADERS;

  return self;
}

static PbMessage *
pb_message_copy_with (PbMessage *self,
                      GBytes    *key,
                      GBytes    *value,
                      GVariant  *decoded_key,
                      GVariant  *decoded_value)
{
  PbMessage *copy = pb_message_new_full (pb_message_get_topic (self),
                                         self->partition,
                                         self->offset,
                                         pb_message_get_timestamp (self),
                                         key,
                                         value,
                                         pb_message_get_headers (self));

  _pb_message_set_decoded (copy,
                           decoded_key != NULL ? g_variant_ref (decoded_key) : NULL,
                           decoded_value != NULL ? g_variant_ref (decoded_value) : NULL);

  return copy;
}

void
_pb_message_set_decoded (PbMessage *self,
                         GVariant  *key,
                         GVariant  *value)
{
  g_clear_pointer (&self->decoded_key, g_variant_unref);
  g_clear_pointer (&self->decoded_value, g_variant_unref);
  self->decoded_key = key;
  self->decoded_value = value;
}

/**
 * pb_message_get_decoded_key:
 * @self: a [class@Paperboy.Message]
 *
 * Gets the key as the handler's
 * [property@Paperboy.Handler:key-deserializer] decoded it, before
 * [vfunc@Paperboy.Handler.did_receive_message].
 *
 * Returns: (transfer none) (nullable): the decoded key, or %NULL when the
 *   key is null or the handler has no key deserializer
 */
GVariant *
pb_message_get_decoded_key (PbMessage *self)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  return self->decoded_key;
}

/**
 * pb_message_get_decoded_value:
 * @self: a [class@Paperboy.Message]
 *
 * Gets the value as the handler's
 * [property@Paperboy.Handler:value-deserializer] decoded it, before
 * [vfunc@Paperboy.Handler.did_receive_message].
 *
 * Returns: (transfer none) (nullable): the decoded value, or %NULL for a
 *   tombstone or when the handler has no value deserializer
 */
GVariant *
pb_message_get_decoded_value (PbMessage *self)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  return self->decoded_value;
}

/**
 * pb_message_with_key:
 * @self: a [class@Paperboy.Message]
 * @key: (nullable): the new key, or %NULL for a null key
 *
 * Creates a message like @self (same topic, partition, offset, timestamp,
 * value, decoded value and headers) with another key, and no decoded key.
 *
 * Returns: (transfer full): a new message
 */
PbMessage *
pb_message_with_key (PbMessage *self,
                     GBytes    *key)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  return pb_message_copy_with (self, key, pb_message_get_value (self), NULL, self->decoded_value);
}

/**
 * pb_message_with_value:
 * @self: a [class@Paperboy.Message]
 * @value: (nullable): the new value, or %NULL for a tombstone
 *
 * Creates a message like @self (same topic, partition, offset, timestamp,
 * key, decoded key and headers) with another value, and no decoded value.
 *
 * Returns: (transfer full): a new message
 */
PbMessage *
pb_message_with_value (PbMessage *self,
                       GBytes    *value)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  return pb_message_copy_with (self, pb_message_get_key (self), value, self->decoded_key, NULL);
}

/**
 * pb_message_dup:
 * @self: a [class@Paperboy.Message]
 *
 * Copies @self into a message that no longer refers to librdkafka's fetch
 * buffers, to keep beyond the engine's run.
 *
 * Returns: (transfer full): a detached copy of @self
 */
PbMessage *
pb_message_dup (PbMessage *self)
{
  g_autoptr(GBytes) key = NULL;
  g_autoptr(GBytes) value = NULL;

  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  key = copy_bytes (pb_message_get_key (self));
  value = copy_bytes (pb_message_get_value (self));

  return pb_message_copy_with (self, key, value, self->decoded_key, self->decoded_value);
}

/**
 * pb_message_get_topic:
 * @self: a [class@Paperboy.Message]
 *
 * Gets [property@Paperboy.Message:topic].
 *
 * Returns: the topic of the record
 */
const char *
pb_message_get_topic (PbMessage *self)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  return self->topic;
}

/**
 * pb_message_get_partition:
 * @self: a [class@Paperboy.Message]
 *
 * Gets [property@Paperboy.Message:partition].
 *
 * Returns: the partition of the record
 */
int
pb_message_get_partition (PbMessage *self)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), -1);

  return self->partition;
}

/**
 * pb_message_get_offset:
 * @self: a [class@Paperboy.Message]
 *
 * Gets [property@Paperboy.Message:offset].
 *
 * Returns: the offset of the record in its partition
 */
gint64
pb_message_get_offset (PbMessage *self)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), -1);

  return self->offset;
}

/**
 * pb_message_get_timestamp:
 * @self: a [class@Paperboy.Message]
 *
 * Gets [property@Paperboy.Message:timestamp].
 *
 * Returns: the timestamp in milliseconds since the Unix epoch, or -1
 */
gint64
pb_message_get_timestamp (PbMessage *self)
{
  gint64 timestamp;

  g_return_val_if_fail (PB_IS_MESSAGE (self), -1);

  g_bit_lock (&self->lock, LOCK_BIT);
  if (self->rkm != NULL)
    timestamp = MAX (rd_kafka_message_timestamp (self->rkm, NULL), -1);
  else
    timestamp = self->timestamp;
  g_bit_unlock (&self->lock, LOCK_BIT);

  return timestamp;
}

/**
 * pb_message_get_key:
 * @self: a [class@Paperboy.Message]
 *
 * Gets [property@Paperboy.Message:key].
 *
 * Returns: (transfer none) (nullable): the key, or %NULL when it is null
 */
GBytes *
pb_message_get_key (PbMessage *self)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  if (!is_cached (self, CACHED_KEY))
    pb_message_fill (self, CACHED_KEY);

  return self->key;
}

/**
 * pb_message_get_value:
 * @self: a [class@Paperboy.Message]
 *
 * Gets [property@Paperboy.Message:value].
 *
 * Returns: (transfer none) (nullable): the value, or %NULL for a tombstone
 */
GBytes *
pb_message_get_value (PbMessage *self)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  if (!is_cached (self, CACHED_VALUE))
    pb_message_fill (self, CACHED_VALUE);

  return self->value;
}

/**
 * pb_message_peek_key:
 * @self: a [class@Paperboy.Message]
 * @size: (out): return location for the key's size
 *
 * Gets the bytes of [property@Paperboy.Message:key] without a
 * [struct@GLib.Bytes]: in Python, one call that gives `bytes`. Python and
 * JavaScript give an empty array for %NULL, like for an empty key.
 *
 * Returns: (transfer none) (nullable) (array length=size) (element-type guint8):
 *   the key, valid as long as @self, or %NULL when it is null
 */
const guint8 *
pb_message_peek_key (PbMessage *self,
                     gsize     *size)
{
  GBytes *key;

  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);
  g_return_val_if_fail (size != NULL, NULL);

  key = pb_message_get_key (self);
  *size = 0;

  return key != NULL ? g_bytes_get_data (key, size) : NULL;
}

/**
 * pb_message_peek_value:
 * @self: a [class@Paperboy.Message]
 * @size: (out): return location for the value's size
 *
 * Gets the bytes of [property@Paperboy.Message:value] without a
 * [struct@GLib.Bytes]: in Python, one call that gives `bytes`. Python and
 * JavaScript give an empty array for %NULL:
 * [method@Paperboy.Message.is_tombstone] tells a null value from an empty
 * one.
 *
 * Returns: (transfer none) (nullable) (array length=size) (element-type guint8):
 *   the value, valid as long as @self, or %NULL for a tombstone
 */
const guint8 *
pb_message_peek_value (PbMessage *self,
                       gsize     *size)
{
  GBytes *value;

  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);
  g_return_val_if_fail (size != NULL, NULL);

  value = pb_message_get_value (self);
  *size = 0;

  return value != NULL ? g_bytes_get_data (value, size) : NULL;
}

/**
 * pb_message_is_tombstone:
 * @self: a [class@Paperboy.Message]
 *
 * Gets [property@Paperboy.Message:is-tombstone].
 *
 * Returns: %TRUE if the value of the record is null
 */
gboolean
pb_message_is_tombstone (PbMessage *self)
{
  gboolean tombstone;

  g_return_val_if_fail (PB_IS_MESSAGE (self), FALSE);

  if (is_cached (self, CACHED_VALUE))
    return self->value == NULL;

  g_bit_lock (&self->lock, LOCK_BIT);
  tombstone = self->rkm != NULL ? self->rkm->payload == NULL : self->value == NULL;
  g_bit_unlock (&self->lock, LOCK_BIT);

  return tombstone;
}

/**
 * pb_message_get_headers:
 * @self: a [class@Paperboy.Message]
 *
 * Gets [property@Paperboy.Message:headers].
 *
 * Returns: (transfer none): the headers, as a `a(smay)` variant
 */
GVariant *
pb_message_get_headers (PbMessage *self)
{
  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);

  if (!is_cached (self, CACHED_HEADERS))
    pb_message_fill (self, CACHED_HEADERS);

  return self->headers;
}

/**
 * pb_message_get_header:
 * @self: a [class@Paperboy.Message]
 * @name: a header name
 *
 * Looks up the last header named @name. Use
 * [method@Paperboy.Message.get_headers] to see repeated headers, or to tell
 * a missing header from one with a null value.
 *
 * Returns: (transfer full) (nullable): the value of the last header named
 *   @name, or %NULL when there is none or its value is null
 */
GBytes *
pb_message_get_header (PbMessage  *self,
                       const char *name)
{
  GVariant *headers;
  GBytes *found = NULL;
  GVariantIter iter;
  const char *header_name;
  GVariant *value;

  g_return_val_if_fail (PB_IS_MESSAGE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  headers = pb_message_get_headers (self);

  g_variant_iter_init (&iter, headers);
  while (g_variant_iter_next (&iter, "(&s@may)", &header_name, &value))
    {
      if (strcmp (header_name, name) == 0)
        {
          g_autoptr(GVariant) bytes = g_variant_get_maybe (value);

          g_clear_pointer (&found, g_bytes_unref);
          if (bytes != NULL)
            found = g_variant_get_data_as_bytes (bytes);
        }

      g_variant_unref (value);
    }

  return found;
}

/* Pool
 *
 * The engine holds its messages through a toggle reference: GObject then
 * says, from whatever thread takes or drops a reference, whether the
 * engine's is the only one. A message no one else holds when its handling
 * ends is reused for the next record; any other is detached and let go.
 * (A binding that holds a toggle reference of its own, as GJS does,
 * silences the notifications while both exist; the message then never
 * counts as the engine's alone, which is right.) */

static void
toggle_notify (gpointer  data,
               GObject  *object,
               gboolean  is_last_ref)
{
  g_atomic_int_set (&PB_MESSAGE (object)->exclusive, is_last_ref);
}

static void
pool_release (PbMessage *message)
{
  g_object_remove_toggle_ref (G_OBJECT (message), toggle_notify, NULL);
}

PbMessagePool *
_pb_message_pool_new (PbKafkaHandle *handle)
{
  PbMessagePool *pool = g_new0 (PbMessagePool, 1);

  pool->handle = handle;
  _pb_message_pool_set_capacity (pool, 1);

  return pool;
}

void
_pb_message_pool_set_capacity (PbMessagePool *pool,
                               guint          capacity)
{
  capacity = CLAMP (capacity, 1, 1 << 16);

  while (pool->n_spares > capacity)
    pool_release (pool->spares[--pool->n_spares]);

  pool->spares = g_renew (PbMessage *, pool->spares, capacity);
  pool->capacity = capacity;
}

void
_pb_message_pool_free (PbMessagePool *pool)
{
  if (pool == NULL)
    return;

  while (pool->n_spares > 0)
    pool_release (pool->spares[--pool->n_spares]);

  g_free (pool->spares);
  g_free (pool);
}

PbMessage *
_pb_message_pool_take (PbMessagePool      *pool,
                       rd_kafka_message_t *rkm,
                       const char         *topic)
{
  PbMessage *message = pool->n_spares > 0 ? pool->spares[--pool->n_spares] : NULL;

  if (message == NULL)
    {
      message = g_object_new (PB_TYPE_MESSAGE, NULL);
      g_object_add_toggle_ref (G_OBJECT (message), toggle_notify, NULL);
      g_object_unref (message);
    }

  message->rkm = rkm;
  message->topic = topic;
  message->handle = pool->handle;
  message->partition = rkm->partition;
  message->offset = rkm->offset;

  return message;
}

void
_pb_message_pool_return (PbMessagePool *pool,
                         PbMessage     *message)
{
  if (g_atomic_int_get (&message->exclusive))
    {
      pb_message_release_record (message);
      if (message->cached != 0 || message->decoded_key != NULL || message->decoded_value != NULL)
        pb_message_clear_cache (message);

      if (pool->n_spares < pool->capacity)
        pool->spares[pool->n_spares++] = message;
      else
        pool_release (message);

      return;
    }

  /* Someone keeps it: it must not pin librdkafka's memory. */
  pb_message_detach (message);
  pool_release (message);
}
