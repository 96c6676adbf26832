/* pb-restore.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-restore-private.h"

#include <glib/gi18n-lib.h>

#include "pb-codec-private.h"
#include "pb-error.h"
#include "pb-kafka-private.h"
#include "pb-store-private.h"

/* A restore reads a table's changelog from where its store stopped (or
 * from the beginning) to the ends captured when it starts, with a
 * consumer of its own that belongs to no group and commits nothing. It
 * writes the store in batches, each with the changelog offsets it reached,
 * so that a restore cut short goes on from there next time. */

#define BATCH_RECORDS 10000
#define METADATA_TIMEOUT_MS 10000
#define POLL_TIMEOUT_MS 200

typedef struct
{
  const PbRestoreTarget *target;
  const char       *topic;
  const char       *name;
  gboolean          strict;
  const int        *only;       /* the partitions to read, or NULL: all */
  int               n_only;
  GCancellable     *cancellable;
  rd_kafka_t       *rk;
  rd_kafka_queue_t *queue;
  int               n_partitions;
  gint64           *low;
  gint64           *high;
  gint64           *start;      /* the next offset to read, or -1 */
  gboolean         *reading;    /* not at its end yet */
  gboolean         *consuming;  /* consume_start()ed */
  int               remaining;  /* partitions not at their end yet */
  PbStoreBatch     *batch;      /* what was read and not applied */
  guint             n_changes;  /* in batch */
  gboolean          wipe;       /* start again from nothing */
  gboolean          out_of_range;
  guint64           records;
  guint64           bad;
} Restore;

static gboolean
count_partitions (Restore  *restore,
                  GError  **error)
{
  rd_kafka_topic_t *rkt = rd_kafka_topic_new (restore->rk, restore->topic, NULL);
  const struct rd_kafka_metadata *metadata = NULL;
  rd_kafka_resp_err_t err;

  err = rd_kafka_metadata (restore->rk, 0, rkt, &metadata, METADATA_TIMEOUT_MS);
  rd_kafka_topic_destroy (rkt);

  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1)
    {
      err = metadata->topics[0].err;
      restore->n_partitions = metadata->topics[0].partition_cnt;
    }

  if (metadata != NULL)
    rd_kafka_metadata_destroy (metadata);

  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || restore->n_partitions <= 0)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                   _("Cannot read the changelog topic “%s”: %s"), restore->topic,
                   err != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str (err)
                                                     : _("it has no partitions"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
is_wanted (Restore *restore,
           int      partition)
{
  if (restore->only == NULL)
    return TRUE;

  for (int i = 0; i < restore->n_only; i++)
    if (restore->only[i] == partition)
      return TRUE;

  return FALSE;
}

/* Where to start each partition: after what the target holds, unless that
 * is not in the log any more (a re-created topic), in which case those
 * partitions start again from nothing. */
static gboolean
plan (Restore  *restore,
      GError  **error)
{
  const PbRestoreTarget *target = restore->target;
  g_autoptr(GVariant) offsets = NULL;
  GVariantIter iter;
  gboolean wipe = restore->wipe;
  gint64 offset;
  int partition;

  restore->low = g_new0 (gint64, restore->n_partitions);
  restore->high = g_new0 (gint64, restore->n_partitions);
  restore->start = g_new0 (gint64, restore->n_partitions);
  restore->reading = g_new0 (gboolean, restore->n_partitions);
  restore->consuming = g_new0 (gboolean, restore->n_partitions);

  for (int i = 0; i < restore->n_partitions; i++)
    {
      rd_kafka_resp_err_t err;

      restore->start[i] = -1;
      if (!is_wanted (restore, i))
        continue;

      /* Each query may wait for a broker: a stop does not. */
      if (g_cancellable_set_error_if_cancelled (restore->cancellable, error))
        return FALSE;

      err = rd_kafka_query_watermark_offsets (restore->rk, restore->topic, i,
                                              &restore->low[i], &restore->high[i],
                                              METADATA_TIMEOUT_MS);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                       _("Cannot read the ends of the changelog %s[%d]: %s"),
                       restore->topic, i, rd_kafka_err2str (err));
          return FALSE;
        }
    }

  for (int i = 0; restore->only != NULL && i < restore->n_only; i++)
    if (restore->only[i] < 0 || restore->only[i] >= restore->n_partitions)
      {
        g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                     _("The changelog topic “%s” has no partition %d"),
                     restore->topic, restore->only[i]);
        return FALSE;
      }

  offsets = target->get_offsets (target->data, error);
  if (offsets == NULL)
    return FALSE;

  g_variant_iter_init (&iter, offsets);
  while (!wipe && g_variant_iter_next (&iter, "{ix}", &partition, &offset))
    {
      if (partition >= 0 && partition < restore->n_partitions && !is_wanted (restore, partition))
        continue;

      if (partition < 0 || partition >= restore->n_partitions ||
          offset < restore->low[partition] || offset > restore->high[partition])
        {
          g_message ("Table “%s”: the store holds %s[%d] up to offset %lld, which the "
                     "changelog does not have: restoring it from the start",
                     restore->name, restore->topic, partition,
                     (long long)offset);
          wipe = TRUE;
          break;
        }
      restore->start[partition] = offset;
    }

  if (wipe)
    {
      if (!target->wipe (target->data, restore->only, restore->n_only, error))
        return FALSE;
      for (int i = 0; i < restore->n_partitions; i++)
        restore->start[i] = -1;
    }

  return TRUE;
}

/* Writes what was read, with the offsets it reached. */
static gboolean
apply (Restore  *restore,
       GError  **error)
{
  g_autoptr(PbStoreBatch) batch = g_steal_pointer (&restore->batch);

  restore->n_changes = 0;
  if (batch == NULL)
    return TRUE;

  return restore->target->apply (restore->target->data, batch, error);
}

static void
reached_end (Restore *restore,
             int      p)
{
  if (restore->reading[p])
    {
      restore->reading[p] = FALSE;
      restore->remaining--;
    }
}

/* Takes one message of the changelog (a change or an event): FALSE with
 * @error when the restore fails. */
static gboolean
take (Restore                   *restore,
      const rd_kafka_message_t  *rkm,
      GError                   **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autofree char *source = NULL;
  gint64 source_offset;
  guint source_seq;
  int p = rkm->partition;
  gboolean deleted;

  if (p < 0 || p >= restore->n_partitions)
    return TRUE;

  if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
    {
      if (rkm->offset >= restore->high[p])
        reached_end (restore, p);
      return TRUE;
    }

  if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      /* The log start passed the offset to read from. */
      restore->out_of_range |= rkm->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
                               rkm->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET;

      if (restore->out_of_range || rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                       _("Cannot read the changelog %s[%d]: %s"), restore->topic, p,
                       rd_kafka_message_errstr (rkm));
          return FALSE;
        }

      g_debug ("Restoring %s[%d]: %s", restore->topic, p, rd_kafka_message_errstr (rkm));
      return TRUE;
    }

  restore->records++;
  value = _pb_codec_decode_record (rkm, &deleted, &local_error);

  if (value == NULL && !deleted)
    {
      if (restore->strict)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                      _("Table “%s”: "), restore->name);
          return FALSE;
        }

      restore->bad++;
      g_warning ("Table “%s”: skipped a bad changelog record: %s",
                 restore->name, local_error->message);
    }

  if (restore->batch == NULL)
    restore->batch = pb_store_batch_new ();

  if (value != NULL || deleted)
    {
      g_autofree char *key = g_strndup (rkm->key, rkm->key_len);

      pb_store_batch_put (restore->batch, key, value);
      restore->n_changes++;
    }

  pb_store_batch_set_offset (restore->batch, p, rkm->offset + 1);

  /* Exact-state: the store says which records' changes it holds. */
  if (_pb_codec_get_source (rkm, &source, &source_offset, &source_seq))
    _pb_store_batch_set_source (restore->batch, p, source, source_offset, source_seq);

  if (rkm->offset + 1 >= restore->high[p])
    reached_end (restore, p);

  return TRUE;
}

static gboolean
read_changelog (Restore       *restore,
                GCancellable  *cancellable,
                GError       **error)
{
  g_autofree rd_kafka_message_t **messages = g_new (rd_kafka_message_t *, BATCH_RECORDS);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new (restore->rk, restore->topic, NULL);
  gboolean ok = TRUE;

  restore->queue = rd_kafka_queue_new (restore->rk);

  for (int i = 0; i < restore->n_partitions && ok; i++)
    {
      gint64 from = restore->start[i] >= 0 ? restore->start[i] : restore->low[i];

      if (!is_wanted (restore, i) || (from >= restore->high[i] && !restore->target->follow))
        continue;

      if (rd_kafka_consume_start_queue (rkt, i, restore->start[i] >= 0 ? restore->start[i]
                                                                        : RD_KAFKA_OFFSET_BEGINNING,
                                        restore->queue) == -1)
        {
          g_set_error (error, PB_ERROR, PB_ERROR_CHANGELOG,
                       _("Cannot read the changelog %s[%d]: %s"), restore->topic, i,
                       rd_kafka_err2str (rd_kafka_last_error ()));
          ok = FALSE;
          break;
        }
      restore->consuming[i] = TRUE;
      if (from < restore->high[i])
        {
          restore->reading[i] = TRUE;
          restore->remaining++;
        }
    }

  while (ok && (restore->remaining > 0 || restore->target->follow))
    {
      ssize_t n;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          ok = FALSE;
          break;
        }

      /* What is there, or else the next one to come: a batch call would
       * wait for a whole batch. */
      n = rd_kafka_consume_batch_queue (restore->queue, 0, messages, BATCH_RECORDS);
      if (n == 0 && (messages[0] = rd_kafka_consume_queue (restore->queue, POLL_TIMEOUT_MS)) != NULL)
        n = 1;

      for (ssize_t j = 0; j < n; j++)
        {
          ok = ok && take (restore, messages[j], error);
          rd_kafka_message_destroy (messages[j]);
        }

      /* A follower passes on what came as soon as it has read it all. */
      if (ok && (restore->n_changes >= BATCH_RECORDS || restore->remaining == 0 ||
                 (restore->target->follow && restore->batch != NULL && n < BATCH_RECORDS)))
        ok = apply (restore, error);
    }

  if (ok)
    ok = apply (restore, error);

  for (int i = 0; i < restore->n_partitions; i++)
    if (restore->consuming[i])
      rd_kafka_consume_stop (rkt, i);
  rd_kafka_topic_destroy (rkt);

  return ok;
}

static void
restore_reset (Restore *restore)
{
  g_clear_pointer (&restore->batch, pb_store_batch_unref);
  g_clear_pointer (&restore->queue, rd_kafka_queue_destroy);
  g_clear_pointer (&restore->low, g_free);
  g_clear_pointer (&restore->high, g_free);
  g_clear_pointer (&restore->start, g_free);
  g_clear_pointer (&restore->reading, g_free);
  g_clear_pointer (&restore->consuming, g_free);
  restore->n_partitions = 0;
  restore->remaining = 0;
  restore->n_changes = 0;
  restore->records = restore->bad = 0;
  restore->out_of_range = FALSE;
}

/* librdkafka before 2.3 stops fetching for about a second whenever its
 * queue holds queued.min.messages (measured with 2.0.2): a restore, which
 * reads as fast as it can, asks for more, unless told otherwise. */
static void
raise_prefetch (rd_kafka_conf_t *conf)
{
  char value[64];
  size_t size = sizeof value;

  if (rd_kafka_version () >= 0x02030000)
    return;

  if (rd_kafka_conf_get (conf, "queued.min.messages", value, &size) == RD_KAFKA_CONF_OK &&
      g_str_equal (value, "100000"))
    rd_kafka_conf_set (conf, "queued.min.messages", "500000", NULL, 0);
}

static GVariant *
store_get_offsets (gpointer   data,
                   GError   **error)
{
  return pb_store_get_offsets (data, error);
}

static gboolean
store_wipe (gpointer    data,
            const int  *partitions,
            int         n_partitions,
            GError    **error)
{
  /* A store holds whole changelogs. */
  g_assert (partitions == NULL);

  return pb_store_wipe (data, error);
}

static gboolean
store_apply (gpointer       data,
             PbStoreBatch  *batch,
             GError       **error)
{
  return pb_store_apply (data, batch, error);
}

void
_pb_restore_target_init_store (PbRestoreTarget *target,
                               PbStore         *store)
{
  target->follow = FALSE;
  target->get_offsets = store_get_offsets;
  target->wipe = store_wipe;
  target->apply = store_apply;
  target->data = store;
}

gboolean
_pb_restore (const PbRestoreTarget *target,
             const char       *topic,
             const char       *name,
             gboolean          strict,
             const int        *partitions,
             int               n_partitions,
             rd_kafka_conf_t  *conf,
             GCancellable     *cancellable,
             PbRestoreResult  *result,
             GError          **error)
{
  Restore restore = { target, topic, name, strict, partitions, n_partitions, cancellable, NULL };
  char errstr[512];
  gint64 began = g_get_monotonic_time ();
  gboolean ok;

  /* No one polls this client for its logs: they come from its threads. */
  rd_kafka_conf_set (conf, "log.queue", "false", NULL, 0);
  /* A start offset out of range is an error, not a jump to the end. */
  rd_kafka_conf_set (conf, "auto.offset.reset", "error", NULL, 0);
  raise_prefetch (conf);
  rd_kafka_conf_set_log_cb (conf, _pb_kafka_log);
  restore.rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (restore.rk == NULL)
    {
      rd_kafka_conf_destroy (conf);
      g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
                   _("Invalid Kafka configuration: %s"), errstr);
      return FALSE;
    }

  /* An offset out of range (the log start moved past it) means starting
   * again from nothing, once. */
  for (int attempt = 0; ; attempt++)
    {
      g_autoptr(GError) local_error = NULL;

      ok = count_partitions (&restore, &local_error) &&
           plan (&restore, &local_error) &&
           read_changelog (&restore, cancellable, &local_error);

      if (ok || !restore.out_of_range || attempt > 0)
        {
          if (!ok)
            g_propagate_error (error, g_steal_pointer (&local_error));
          break;
        }

      g_message ("Table “%s”: %s: restoring from the start", name, local_error->message);
      restore_reset (&restore);
      restore.wipe = TRUE;
    }

  if (ok)
    {
      result->records = restore.records;
      result->bad = restore.bad;
      result->n_partitions = restore.n_partitions;
      g_info ("Table “%s”: restored %" G_GUINT64_FORMAT " changelog records in %.3f s",
              name, restore.records,
              (g_get_monotonic_time () - began) / (double)G_USEC_PER_SEC);
    }

  restore_reset (&restore);
  rd_kafka_destroy (restore.rk);

  return ok;
}
