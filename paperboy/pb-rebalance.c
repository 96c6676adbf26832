/* pb-rebalance.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-rebalance-private.h"

/* A revoked partition's final commit is retried this often. */
#define REVOKE_COMMIT_INTERVAL_MS 200

struct _PbRebalance
{
  PbHost                          *host;
  PbConsumer                      *consumer;
  PbPartitionMap                  *partitions;
  PbOffsets                       *offsets;
  guint                            revoke_timeout_ms;
  const PbRebalanceCallbacks      *callbacks;
  gpointer                         user_data;

  /* The revocation held: partitions revoked and not yet given up. */
  rd_kafka_topic_partition_list_t *revoking;
  PbDeadline                       timeout;
  PbDeadline                       retry;
  gboolean                         refused;
};

PbRebalance *
_pb_rebalance_new (PbHost                     *host,
                   PbConsumer                 *consumer,
                   PbPartitionMap             *partitions,
                   PbOffsets                  *offsets,
                   guint                       revoke_timeout_ms,
                   const PbRebalanceCallbacks *callbacks,
                   gpointer                    user_data)
{
  PbRebalance *self = g_new0 (PbRebalance, 1);

  self->host = host;
  self->consumer = consumer;
  self->partitions = partitions;
  self->offsets = offsets;
  self->revoke_timeout_ms = revoke_timeout_ms;
  self->callbacks = callbacks;
  self->user_data = user_data;

  return self;
}

static void
clear_revocation (PbRebalance *self)
{
  g_clear_pointer (&self->revoking, rd_kafka_topic_partition_list_destroy);
  _pb_deadline_clear (&self->timeout);
  _pb_deadline_clear (&self->retry);
  self->refused = FALSE;
}

void
_pb_rebalance_free (PbRebalance *self)
{
  if (self == NULL)
    return;

  clear_revocation (self);
  g_free (self);
}

gboolean
_pb_rebalance_is_revoking (PbRebalance *self)
{
  return self->revoking != NULL;
}

/* Gives @p up at once: its queued records are dropped, its handling in
 * flight abandoned, its cancellable cancelled. */
static void
give_up (PbRebalance *self,
         PbPartition *p)
{
  self->callbacks->release (self->user_data, p, TRUE);
  _pb_partition_unassign (self->partitions, p);
  self->callbacks->gone (self->user_data, p);
}

void
_pb_rebalance_revoked (PbRebalance                           *self,
                       const rd_kafka_topic_partition_list_t *partitions)
{
  if (self->revoking == NULL)
    self->revoking = rd_kafka_topic_partition_list_new (partitions->cnt);

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self->partitions, partitions->elems[i].topic,
                                               partitions->elems[i].partition);

      rd_kafka_topic_partition_list_add (self->revoking,
                                         partitions->elems[i].topic,
                                         partitions->elems[i].partition);

      if (p == NULL || p->state != PB_PARTITION_ASSIGNED)
        continue;

      /* Records not started are dropped; the one in flight may finish. */
      p->state = PB_PARTITION_REVOKING;
      self->callbacks->release (self->user_data, p, FALSE);
      _pb_partition_cancel (self->partitions, p);
    }

  _pb_host_kick (self->host);
}

void
_pb_rebalance_lost (PbRebalance                           *self,
                    const rd_kafka_topic_partition_list_t *partitions)
{
  g_message ("Lost %d partitions: their records will be handled again", partitions->cnt);

  /* A pending revocation is moot now. */
  clear_revocation (self);

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self->partitions, partitions->elems[i].topic,
                                               partitions->elems[i].partition);

      if (p != NULL)
        {
          _pb_offsets_forget (self->offsets, p);
          give_up (self, p);
        }
    }

  _pb_host_emit (self->host, PB_EVENT_REVOKED, 0, TRUE,
                 _pb_kafka_partitions_to_variant (partitions));
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

void
_pb_rebalance_committed (PbRebalance                           *self,
                         rd_kafka_resp_err_t                    err,
                         const rd_kafka_topic_partition_list_t *offsets)
{
  gboolean revoked_partitions = FALSE;
  gboolean refused = FALSE;

  _pb_offsets_committed (self->partitions, err, offsets);

  for (int i = 0; offsets != NULL && i < offsets->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self->partitions, offsets->elems[i].topic,
                                               offsets->elems[i].partition);

      if (p == NULL || p->state != PB_PARTITION_REVOKING)
        continue;

      revoked_partitions = TRUE;
      if (commit_refused (err) || commit_refused (offsets->elems[i].err))
        refused = self->refused = TRUE;
    }

  /* Done once every revoked partition is committed. */
  if (revoked_partitions)
    _pb_host_kick (self->host);

  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
    return;

  /* A commit that fails is retried with the next one; during a rebalance
   * that is expected, and a refused revocation is reported when the
   * partitions are given up. */
  if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || refused)
    g_debug ("Could not commit offsets during a rebalance: %s", rd_kafka_err2str (err));
  else if (_pb_rate_limit_allow (_pb_host_get_warnings (self->host)))
    g_warning ("Could not commit offsets: %s", rd_kafka_err2str (err));
}

/* Commits the final offsets of the revoked partitions that are not
 * committed yet, and says whether some still are not. The partitions are
 * given up only once they are: the next owner then starts right after the
 * last record handled here. librdkafka's own commit on unassign is not
 * enough: a broker may refuse it while the group rebalances (the mock
 * does), and it is not retried. A commit goes out at most every
 * REVOKE_COMMIT_INTERVAL_MS, until revoke-timeout-ms. */
static gboolean
commit_revoked (PbRebalance *self)
{
  const rd_kafka_topic_partition_list_t *revoking = self->revoking;
  rd_kafka_topic_partition_list_t *offsets;
  gboolean uncommitted;

  offsets = rd_kafka_topic_partition_list_new (revoking->cnt);
  for (int i = 0; i < revoking->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self->partitions, revoking->elems[i].topic,
                                               revoking->elems[i].partition);

      if (p != NULL && p->state == PB_PARTITION_REVOKING && p->committable > p->committed)
        rd_kafka_topic_partition_list_add (offsets, p->topic->name, p->id)->offset = p->committable;
    }

  uncommitted = offsets->cnt > 0;
  if (uncommitted && !_pb_deadline_running (&self->retry))
    {
      /* The result comes to _pb_rebalance_committed(). */
      _pb_consumer_commit (self->consumer, offsets);
      _pb_deadline_start (&self->retry, self->host, REVOKE_COMMIT_INTERVAL_MS,
                          "[paperboy] revoke commit");
    }

  rd_kafka_topic_partition_list_destroy (offsets);

  return uncommitted;
}

void
_pb_rebalance_check (PbRebalance *self)
{
  rd_kafka_topic_partition_list_t *revoking = self->revoking;
  rd_kafka_topic_partition_list_t *handed_over;
  rd_kafka_topic_partition_list_t *uncommitted;
  gboolean timed_out = self->timeout.passed;
  gboolean busy = FALSE;

  if (revoking == NULL)
    return;

  for (int i = 0; i < revoking->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self->partitions, revoking->elems[i].topic,
                                               revoking->elems[i].partition);

      if (p == NULL || (!self->callbacks->busy (self->user_data, p) && p->barrier == 0))
        continue;

      if (!timed_out)
        {
          busy = TRUE;
          break;
        }

      self->callbacks->release (self->user_data, p, TRUE);
    }

  if (!busy)
    {
      _pb_offsets_store (self->offsets, self->consumer);
      busy = !timed_out && !self->refused && commit_revoked (self);
    }

  if (busy)
    {
      _pb_deadline_start (&self->timeout, self->host, self->revoke_timeout_ms,
                          "[paperboy] revoke timeout");
      return;
    }

  _pb_consumer_unassign (self->consumer, revoking);

  /* Those whose final commit the group refused are reported lost: their
   * next owner handles their last records again. */
  handed_over = rd_kafka_topic_partition_list_new (revoking->cnt);
  uncommitted = rd_kafka_topic_partition_list_new (0);
  for (int i = 0; i < revoking->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (self->partitions, revoking->elems[i].topic,
                                               revoking->elems[i].partition);

      if (self->refused && p != NULL &&
          p->state == PB_PARTITION_REVOKING && p->committable > p->committed)
        rd_kafka_topic_partition_list_add (uncommitted, revoking->elems[i].topic,
                                           revoking->elems[i].partition);
      else
        rd_kafka_topic_partition_list_add (handed_over, revoking->elems[i].topic,
                                           revoking->elems[i].partition);

      if (p != NULL)
        give_up (self, p);
    }

  if (uncommitted->cnt > 0)
    g_message ("The group refused the final commit of %d revoked partitions: "
               "their next owner will handle their last records again",
               uncommitted->cnt);

  if (handed_over->cnt > 0 || uncommitted->cnt == 0)
    _pb_host_emit (self->host, PB_EVENT_REVOKED, 0, FALSE,
                   _pb_kafka_partitions_to_variant (handed_over));
  if (uncommitted->cnt > 0)
    _pb_host_emit (self->host, PB_EVENT_REVOKED, 0, TRUE,
                   _pb_kafka_partitions_to_variant (uncommitted));

  rd_kafka_topic_partition_list_destroy (handed_over);
  rd_kafka_topic_partition_list_destroy (uncommitted);
  clear_revocation (self);
}
