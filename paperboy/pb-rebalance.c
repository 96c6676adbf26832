/* pb-rebalance.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-rebalance-private.h"

#include "pb-dispatch-private.h"
#include "pb-handling-private.h"
#include "pb-steps-private.h"

/* A revoked partition's final commit is retried this often. */
#define REVOKE_COMMIT_INTERVAL_MS 200

void
_pb_rebalance_give_up (PbRun       *run,
                       PbPartition *p)
{
  run->dispatch->klass->release (run->dispatch, p, TRUE);
  _pb_partition_cancel (run, p);
  p->state = PB_PARTITION_UNASSIGNED;
  p->epoch++;
}

void
_pb_rebalance_assigned (PbRun                                 *run,
                        const rd_kafka_topic_partition_list_t *partitions)
{
  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_get (run->partitions, partitions->elems[i].topic,
                                              partitions->elems[i].partition);

      if (p == NULL)
        {
          g_warning ("Assigned %s[%d], which no handler handles",
                     partitions->elems[i].topic, (int)partitions->elems[i].partition);
          continue;
        }

      p->state = PB_PARTITION_ASSIGNED;
      p->epoch++;
      p->committable = -1;
      p->stored = -1;
      p->committed = -1;
      p->polled_from = -1;
      p->step_end = -1;
      p->eof = -1;
      p->capturing = FALSE;
      p->preparing = FALSE;
      p->prepared_at = -1;
      g_clear_error (&p->prepare_error);
      p->pause_reasons &= ~PB_PAUSE_TRANSIENT;
      if (p->cancellable == NULL)
        p->cancellable = g_cancellable_new ();
    }

  /* Partitions of later steps wait; those of the current one get their
   * end captured. */
  _pb_steps_assigned (run, partitions);

  /* librdkafka keeps a partition's pause flag across revocation and
   * re-assignment: set it explicitly either way. */
  _pb_partition_map_apply_pauses (run->partitions, partitions);

  if (run->state == PB_ENGINE_STATE_JOINING)
    _pb_run_set_state (run, PB_ENGINE_STATE_RUNNING);
  if (partitions->cnt > 0)
    _pb_run_emit_partitions (run, TRUE, partitions, FALSE);
}

void
_pb_rebalance_revoked (PbRun                                 *run,
                       const rd_kafka_topic_partition_list_t *partitions)
{
  PbRevocation *revocation = &run->revocation;

  if (revocation->revoking == NULL)
    revocation->revoking = rd_kafka_topic_partition_list_new (partitions->cnt);

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (run->partitions, partitions->elems[i].topic,
                                               partitions->elems[i].partition);

      rd_kafka_topic_partition_list_add (revocation->revoking,
                                         partitions->elems[i].topic,
                                         partitions->elems[i].partition);

      if (p == NULL || p->state != PB_PARTITION_ASSIGNED)
        continue;

      /* Records not started are dropped; the one in flight may finish. */
      p->state = PB_PARTITION_REVOKING;
      run->dispatch->klass->release (run->dispatch, p, FALSE);
      _pb_partition_cancel (run, p);
    }

  _pb_run_kick (run);
}

static void
clear_revocation (PbRevocation *revocation)
{
  g_clear_pointer (&revocation->revoking, rd_kafka_topic_partition_list_destroy);
  _pb_clear_source (&revocation->timeout);
  _pb_clear_source (&revocation->retry);
  revocation->timed_out = FALSE;
  revocation->refused = FALSE;
}

void
_pb_rebalance_clear (PbRun *run)
{
  clear_revocation (&run->revocation);
}

void
_pb_rebalance_lost (PbRun                                 *run,
                    const rd_kafka_topic_partition_list_t *partitions)
{
  g_message ("Lost %d partitions: their records will be handled again", partitions->cnt);

  /* A pending revocation is moot now. */
  clear_revocation (&run->revocation);

  for (int i = 0; i < partitions->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (run->partitions, partitions->elems[i].topic,
                                               partitions->elems[i].partition);

      if (p != NULL)
        {
          _pb_offsets_forget (&run->offsets, p);
          _pb_rebalance_give_up (run, p);
        }
    }

  /* Without partitions, the engine joins its group again. */
  if (run->state == PB_ENGINE_STATE_RUNNING)
    _pb_run_set_state (run, PB_ENGINE_STATE_JOINING);

  _pb_run_emit_partitions (run, FALSE, partitions, TRUE);
  _pb_run_kick (run);
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
_pb_rebalance_committed (PbRun                                 *run,
                         rd_kafka_resp_err_t                    err,
                         const rd_kafka_topic_partition_list_t *offsets)
{
  gboolean revoked_partitions = FALSE;
  gboolean refused = FALSE;

  _pb_offsets_committed (run->partitions, err, offsets);

  for (int i = 0; offsets != NULL && i < offsets->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (run->partitions, offsets->elems[i].topic,
                                               offsets->elems[i].partition);

      if (p == NULL || p->state != PB_PARTITION_REVOKING)
        continue;

      revoked_partitions = TRUE;
      if (commit_refused (err) || commit_refused (offsets->elems[i].err))
        refused = run->revocation.refused = TRUE;
    }

  /* Done once every revoked partition is committed. */
  if (revoked_partitions)
    _pb_run_kick (run);

  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
    return;

  /* A commit that fails is retried with the next one; during a rebalance
   * that is expected, and a refused revocation is reported when the
   * partitions are given up. */
  if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || refused)
    g_debug ("Could not commit offsets during a rebalance: %s", rd_kafka_err2str (err));
  else if (_pb_rate_limit_allow (&run->warnings))
    g_warning ("Could not commit offsets: %s", rd_kafka_err2str (err));
}

static gboolean
revoke_timeout_cb (gpointer user_data)
{
  PbRun *run = user_data;

  g_clear_pointer (&run->revocation.timeout, g_source_unref);
  run->revocation.timed_out = TRUE;
  _pb_run_kick (run);

  return G_SOURCE_REMOVE;
}

static gboolean
revoke_retry_cb (gpointer user_data)
{
  PbRun *run = user_data;

  g_clear_pointer (&run->revocation.retry, g_source_unref);
  _pb_run_kick (run);

  return G_SOURCE_REMOVE;
}

/* Commits the final offsets of the revoked partitions that are not
 * committed yet, and says whether some still are not. The partitions are
 * given up only once they are: the next owner then starts right after the
 * last record handled here. librdkafka's own commit on unassign is not
 * enough: a broker may refuse it while the group rebalances (the mock
 * does), and it is not retried. A commit goes out at most every
 * REVOKE_COMMIT_INTERVAL_MS, until revoke-timeout-ms. */
static gboolean
commit_revoked (PbRun *run)
{
  const rd_kafka_topic_partition_list_t *revoking = run->revocation.revoking;
  rd_kafka_topic_partition_list_t *offsets;
  gboolean uncommitted;

  offsets = rd_kafka_topic_partition_list_new (revoking->cnt);
  for (int i = 0; i < revoking->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (run->partitions, revoking->elems[i].topic,
                                               revoking->elems[i].partition);

      if (p != NULL && p->state == PB_PARTITION_REVOKING && p->committable > p->committed)
        rd_kafka_topic_partition_list_add (offsets, p->topic->name, p->id)->offset = p->committable;
    }

  uncommitted = offsets->cnt > 0;
  if (uncommitted && run->revocation.retry == NULL)
    {
      /* The result comes to _pb_rebalance_committed(). */
      _pb_consumer_commit (run->consumer, offsets);
      run->revocation.retry = _pb_timeout_source_new (run->context, REVOKE_COMMIT_INTERVAL_MS,
                                                      G_PRIORITY_DEFAULT,
                                                      "[paperboy] revoke commit",
                                                      revoke_retry_cb, run, NULL);
    }

  rd_kafka_topic_partition_list_destroy (offsets);

  return uncommitted;
}

void
_pb_rebalance_check (PbRun *run)
{
  PbRevocation *revocation = &run->revocation;
  rd_kafka_topic_partition_list_t *revoking = revocation->revoking;
  rd_kafka_topic_partition_list_t *handed_over;
  rd_kafka_topic_partition_list_t *uncommitted;
  gboolean busy = FALSE;

  if (revoking == NULL)
    return;

  for (int i = 0; i < revoking->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (run->partitions, revoking->elems[i].topic,
                                               revoking->elems[i].partition);

      if (p == NULL || (!run->dispatch->klass->busy (run->dispatch, p) && p->barrier == 0))
        continue;

      if (!revocation->timed_out)
        {
          busy = TRUE;
          break;
        }

      run->dispatch->klass->release (run->dispatch, p, TRUE);
    }

  if (!busy)
    {
      _pb_offsets_store (&run->offsets, run->consumer);
      busy = !revocation->timed_out && !revocation->refused && commit_revoked (run);
    }

  if (busy)
    {
      if (revocation->timeout == NULL)
        revocation->timeout = _pb_timeout_source_new (run->context,
                                                      run->settings.revoke_timeout_ms,
                                                      G_PRIORITY_DEFAULT,
                                                      "[paperboy] revoke timeout",
                                                      revoke_timeout_cb, run, NULL);
      return;
    }

  _pb_consumer_unassign (run->consumer, revoking);

  /* Those whose final commit the group refused are reported lost: their
   * next owner handles their last records again. */
  handed_over = rd_kafka_topic_partition_list_new (revoking->cnt);
  uncommitted = rd_kafka_topic_partition_list_new (0);
  for (int i = 0; i < revoking->cnt; i++)
    {
      PbPartition *p = _pb_partition_map_find (run->partitions, revoking->elems[i].topic,
                                               revoking->elems[i].partition);

      if (revocation->refused && p != NULL &&
          p->state == PB_PARTITION_REVOKING && p->committable > p->committed)
        rd_kafka_topic_partition_list_add (uncommitted, revoking->elems[i].topic,
                                           revoking->elems[i].partition);
      else
        rd_kafka_topic_partition_list_add (handed_over, revoking->elems[i].topic,
                                           revoking->elems[i].partition);

      if (p != NULL)
        _pb_rebalance_give_up (run, p);
    }

  if (uncommitted->cnt > 0)
    g_message ("The group refused the final commit of %d revoked partitions: "
               "their next owner will handle their last records again",
               uncommitted->cnt);

  if (handed_over->cnt > 0 || uncommitted->cnt == 0)
    _pb_run_emit_partitions (run, FALSE, handed_over, FALSE);
  if (uncommitted->cnt > 0)
    _pb_run_emit_partitions (run, FALSE, uncommitted, TRUE);

  rd_kafka_topic_partition_list_destroy (handed_over);
  rd_kafka_topic_partition_list_destroy (uncommitted);
  clear_revocation (revocation);
}
