/* test-rebalance.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-mock-cluster-private.h"
#include "pb-test-util.h"
#include "test-handlers.h"

#define N_PARTITIONS 4
#define PER_PARTITION 150

typedef struct
{
  GHashTable *handled;      /* "partition/offset" → count */
  guint       n_duplicates;
  guint       n_repeated;   /* duplicates, lost partitions included */
  guint       n_revoked;
  guint       n_lost;
  guint       lost_mask;    /* partitions reported lost */
  guint       n_assigned;
} Tally;

/* Counts the records handled twice, apart from those of partitions
 * reported lost, whose last records are handled again by design. */
static void
tally_add (Tally     *tally,
           GPtrArray *ids,
           guint      lost_mask)
{
  for (guint i = 0; i < ids->len; i++)
    {
      const char *id = g_ptr_array_index (ids, i);
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (tally->handled, id));
      guint partition = (guint)g_ascii_strtoull (id, NULL, 10);

      if (count > 0)
        tally->n_repeated++;
      if (count > 0 && (lost_mask & (1u << partition)) == 0)
        tally->n_duplicates++;
      g_hash_table_insert (tally->handled, g_strdup (id), GUINT_TO_POINTER (count + 1));
    }
}

static void
revoked_cb (PbEngine *engine,
            GVariant *partitions,
            gboolean  lost,
            Tally    *tally)
{
  GVariantIter iter;
  gint32 partition;

  g_assert_true (g_variant_is_of_type (partitions, G_VARIANT_TYPE ("a(si)")));
  tally->n_revoked += g_variant_n_children (partitions);
  if (!lost)
    return;

  tally->n_lost += g_variant_n_children (partitions);
  g_variant_iter_init (&iter, partitions);
  while (g_variant_iter_next (&iter, "(&si)", NULL, &partition))
    tally->lost_mask |= 1u << partition;
}

static void
assigned_cb (PbEngine *engine,
             GVariant *partitions,
             Tally    *tally)
{
  tally->n_assigned += g_variant_n_children (partitions);
}

/* One member of a group: an engine with an asynchronous handler, and what
 * its signals reported. */
typedef struct
{
  PbEngine  *engine;
  TestAsync *handler;
  Tally      tally;
} Member;

static void
member_init (Member     *member,
             const char *group,
             const char *topic,
             guint       delay_ms,
             guint       max_in_flight)
{
  g_autoptr(GError) error = NULL;

  member->engine = pb_test_engine_new (group);
  member->handler = test_async_new (topic, TEST_ASYNC_COMPLETE);
  member->handler->base_delay_ms = delay_ms;
  member->tally = (Tally) { 0, };

  pb_engine_set_max_in_flight (member->engine, max_in_flight);
  g_assert_true (pb_engine_add_handler (member->engine, PB_HANDLER (member->handler), &error));
  g_assert_no_error (error);
  g_signal_connect (member->engine, "partitions-revoked", G_CALLBACK (revoked_cb), &member->tally);
  g_signal_connect (member->engine, "partitions-assigned", G_CALLBACK (assigned_cb), &member->tally);
}

static void
member_clear (Member *member)
{
  g_clear_object (&member->engine);
  g_clear_object (&member->handler);
}

/* Tallies what both members handled into @all, and checks that neither
 * handler failed. */
static void
tally_members (Tally  *all,
               Member *a,
               Member *b)
{
  guint lost_mask = a->tally.lost_mask | b->tally.lost_mask;

  all->handled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  tally_add (all, a->handler->done, lost_mask);
  tally_add (all, b->handler->done, lost_mask);
  g_assert_cmpuint (a->handler->errors->len + b->handler->errors->len, ==, 0);
}

typedef struct
{
  TestAsync *a;
  TestAsync *b;
  guint      n;
} Both;

static gboolean
both_done (gpointer user_data)
{
  Both *both = user_data;
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < both->a->done->len; i++)
    g_hash_table_add (seen, g_ptr_array_index (both->a->done, i));
  for (guint i = 0; i < both->b->done->len; i++)
    g_hash_table_add (seen, g_ptr_array_index (both->b->done, i));

  return g_hash_table_size (seen) >= both->n;
}

static gboolean
has_started (gpointer user_data)
{
  return TEST_ASYNC (user_data)->done->len >= 10;
}

static gboolean
a_has_everything_back (gpointer user_data)
{
  Tally *tally = user_data;

  return tally->n_assigned - tally->n_revoked == N_PARTITIONS;
}

static gboolean
time_has_come (gpointer user_data)
{
  return g_get_monotonic_time () >= *(gint64 *)user_data;
}

static gboolean
has_assignment (gpointer user_data)
{
  return ((Tally *)user_data)->n_assigned > 0;
}

static void
test_handover (void)
{
  g_autofree char *topic = pb_test_unique ("handover");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(GError) error = NULL;
  Member a;
  Member b;
  Tally all = { 0, };
  Both both;
  PbTestRun *run_a;
  PbTestRun *run_b;

  g_test_summary ("A second member joins while the first is handling asynchronously: "
                  "revoked partitions wait for in-flight work and commit, so no record "
                  "is lost or handled twice; when it leaves, the first takes them back");

  pb_test_create_topic (topic, N_PARTITIONS);
  for (int p = 0; p < N_PARTITIONS; p++)
    pb_test_produce_many (topic, p, PER_PARTITION, "v");

  /* Slow enough that A is still busy when B joins (a rebalance takes
   * about 5 s on the mock). */
  member_init (&a, group, topic, 80, N_PARTITIONS);
  member_init (&b, group, topic, 80, N_PARTITIONS);
  both = (Both) { a.handler, b.handler, N_PARTITIONS * PER_PARTITION };

  run_a = pb_test_start (a.engine);
  pb_test_wait_until (has_started, a.handler, 30000);
  g_assert_cmpuint (a.tally.n_assigned, ==, N_PARTITIONS);

  /* B joins: A gives up some partitions, B gets them. */
  run_b = pb_test_start (b.engine);
  pb_test_wait_until (has_assignment, &b.tally, 60000);
  g_assert_cmpuint (a.tally.n_revoked, >, 0);
  g_assert_cmpuint (b.tally.n_assigned, ==, a.tally.n_revoked);
  pb_test_wait_until (has_started, b.handler, 30000);

  /* B leaves before the end: A takes its partitions back. */
  g_assert_true (pb_test_finish (run_b, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (b.tally.n_revoked, ==, b.tally.n_assigned);
  pb_test_wait_until (a_has_everything_back, &a.tally, 60000);

  pb_test_wait_until (both_done, &both, 120000);
  g_assert_true (pb_test_finish (run_a, TRUE, &error));
  g_assert_no_error (error);

  /* The 2.0.2 mock answers a follower's SyncGroup that comes after the
   * leader's with INVALID_REQUEST; that member rejoins, and the mock then
   * refuses every commit until the revoking member rejoined too. The
   * engine reports such partitions lost rather than wait for a commit
   * that cannot succeed: only their records may come twice. */
  if (a.tally.n_lost + b.tally.n_lost > 0)
    g_test_message ("The group refused the final commit of %u revoked partitions",
                    a.tally.n_lost + b.tally.n_lost);

  tally_members (&all, &a, &b);
  g_assert_cmpuint (g_hash_table_size (all.handled), ==, N_PARTITIONS * PER_PARTITION);
  g_assert_cmpuint (all.n_duplicates, ==, 0);
  g_assert_cmpuint (b.handler->done->len, >, 0);

  for (int p = 0; p < N_PARTITIONS; p++)
    g_assert_cmpint (pb_test_committed (group, topic, p), ==, PER_PARTITION);

  g_hash_table_unref (all.handled);
  member_clear (&a);
  member_clear (&b);
}

static gboolean
has_revoked (gpointer user_data)
{
  return ((Tally *)user_data)->n_revoked > 0;
}

#define REFUSED_PER_PARTITION 300
#define API_KEY_OFFSET_COMMIT 8       /* in the Kafka protocol */

typedef struct
{
  const char *group;
  const char *topic;
} Committed;

/* Stopping one member rebalances the group, which refuses the other's
 * commits meanwhile: wait for the last commits first. */
static gboolean
all_committed (gpointer user_data)
{
  Committed *committed = user_data;

  for (int p = 0; p < 2; p++)
    if (pb_test_committed (committed->group, committed->topic, p) < REFUSED_PER_PARTITION)
      return FALSE;

  return TRUE;
}


static void
test_refused_commit (void)
{
  g_autofree char *topic = pb_test_unique ("refused");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(GError) error = NULL;
  rd_kafka_resp_err_t refusals[1000];
  rd_kafka_mock_cluster_t *mcluster;
  Member a;
  Member b;
  Tally all = { 0, };
  Both both;
  Committed committed = { group, topic };
  PbTestRun *run_a;
  PbTestRun *run_b;

  g_test_summary ("A revoked partition whose final commit the group refuses is given up "
                  "at once and reported lost: its next owner handles its last records "
                  "again, and no record is lost");

  if (pb_test_is_external ())
    {
      g_test_skip ("Refusing commits needs the embedded cluster");
      return;
    }

  mcluster = _pb_mock_cluster_get_mock (pb_test_mock_cluster ());
  for (guint i = 0; i < G_N_ELEMENTS (refusals); i++)
    refusals[i] = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;

  pb_test_create_topic (topic, 2);
  for (int p = 0; p < 2; p++)
    pb_test_produce_many (topic, p, REFUSED_PER_PARTITION, "v");

  member_init (&a, group, topic, 40, 2);
  member_init (&b, group, topic, 40, 2);
  both = (Both) { a.handler, b.handler, 2 * REFUSED_PER_PARTITION };

  run_a = pb_test_start (a.engine);
  pb_test_wait_until (has_started, a.handler, 30000);

  /* From now on the group refuses every commit, as the mock does while
   * members rejoin. B joins: A gives one partition up without waiting for
   * revoke-timeout-ms (whose 10 s would get it evicted here). */
  rd_kafka_mock_push_request_errors_array (mcluster, API_KEY_OFFSET_COMMIT,
                                           G_N_ELEMENTS (refusals), refusals);
  run_b = pb_test_start (b.engine);
  pb_test_wait_until (has_revoked, &a.tally, 60000);
  g_assert_cmpuint (a.tally.n_revoked, ==, 1);
  g_assert_cmpuint (a.tally.n_lost, ==, 1);

  /* The group takes commits again once B owns the partition. */
  pb_test_wait_until (has_assignment, &b.tally, 60000);
  rd_kafka_mock_clear_request_errors (mcluster, API_KEY_OFFSET_COMMIT);
  g_assert_cmpuint (b.tally.n_assigned, ==, 1);
  g_assert_cmpuint (a.tally.n_assigned - a.tally.n_revoked, ==, 1);

  pb_test_wait_until (both_done, &both, 120000);
  pb_test_wait_until (all_committed, &committed, 30000);
  g_assert_true (pb_test_finish (run_b, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (pb_test_finish (run_a, TRUE, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (b.tally.n_lost, ==, 0);
  tally_members (&all, &a, &b);
  g_assert_cmpuint (g_hash_table_size (all.handled), ==, 2 * REFUSED_PER_PARTITION);
  g_assert_cmpuint (all.n_duplicates, ==, 0);
  g_assert_cmpuint (all.n_repeated, >, 0);

  for (int p = 0; p < 2; p++)
    g_assert_cmpint (pb_test_committed (group, topic, p), ==, REFUSED_PER_PARTITION);

  g_hash_table_unref (all.handled);
  member_clear (&a);
  member_clear (&b);
}

/* A handler that blocks the main loop once, past max.poll.interval.ms, so
 * that the group moves on without its member. */
#define TEST_TYPE_SLEEPER (test_sleeper_get_type ())
G_DECLARE_FINAL_TYPE (TestSleeper, test_sleeper, TEST, SLEEPER, PbHandler)

struct _TestSleeper
{
  PbHandler  parent_instance;
  GPtrArray *handled;
  gboolean   slept;
};

G_DEFINE_FINAL_TYPE (TestSleeper, test_sleeper, PB_TYPE_HANDLER)

static gboolean
test_sleeper_on_message (PbHandler  *handler,
                         PbMessage  *message,
                         GObject    *context,
                         GError    **error)
{
  TestSleeper *self = TEST_SLEEPER (handler);

  if (!self->slept && pb_message_get_offset (message) == 5)
    {
      self->slept = TRUE;
      g_usleep (9 * G_USEC_PER_SEC);
    }

  g_ptr_array_add (self->handled, g_strdup_printf ("%d/%" G_GINT64_FORMAT,
                                                   pb_message_get_partition (message),
                                                   pb_message_get_offset (message)));
  return TRUE;
}

static void
test_sleeper_finalize (GObject *object)
{
  g_ptr_array_unref (TEST_SLEEPER (object)->handled);

  G_OBJECT_CLASS (test_sleeper_parent_class)->finalize (object);
}

static void
test_sleeper_class_init (TestSleeperClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_sleeper_finalize;
  PB_HANDLER_CLASS (klass)->on_message = test_sleeper_on_message;
}

static void
test_sleeper_init (TestSleeper *self)
{
  self->handled = g_ptr_array_new_with_free_func (g_free);
}

static gboolean
lost_something (gpointer user_data)
{
  return ((Tally *)user_data)->n_lost > 0;
}

static gboolean
everything_seen (gpointer user_data)
{
  TestSleeper *sleeper = user_data;
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < sleeper->handled->len; i++)
    g_hash_table_add (seen, g_ptr_array_index (sleeper->handled, i));

  return g_hash_table_size (seen) >= 20;
}

static void
test_lost_assignment (void)
{
  g_autofree char *topic = pb_test_unique ("lost");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(PbEngine) engine = pb_test_engine_new (group);
  g_autoptr(TestSleeper) sleeper = g_object_new (TEST_TYPE_SLEEPER, "topic", topic, NULL);
  g_autoptr(GError) error = NULL;
  Tally tally = { 0, };
  PbTestRun *run;

  g_test_summary ("A member evicted for exceeding max.poll.interval.ms loses its "
                  "partitions: it drops them at once, rejoins, and no record is lost");

  pb_test_create_topic (topic, 1);
  pb_test_produce_many (topic, 0, 20, "v");

  pb_engine_set_config (engine, "max.poll.interval.ms", "7000", &error);
  g_assert_no_error (error);
  g_assert_true (pb_engine_add_handler (engine, PB_HANDLER (sleeper), &error));
  g_signal_connect (engine, "partitions-revoked", G_CALLBACK (revoked_cb), &tally);
  g_signal_connect (engine, "partitions-assigned", G_CALLBACK (assigned_cb), &tally);

  run = pb_test_start (engine);
  pb_test_wait_until (lost_something, &tally, 90000);
  pb_test_wait_until (everything_seen, sleeper, 90000);

  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (tally.n_lost, ==, 1);
  g_assert_cmpuint (tally.n_assigned, ==, 2);
  g_assert_cmpint (pb_test_committed (group, topic, 0), ==, 20);
}

static gboolean
counter_has_one (gpointer user_data)
{
  return TEST_COUNTER (user_data)->n_handled >= 1;
}

static void
test_idle_keepalive (void)
{
  g_autofree char *topic = pb_test_unique ("idle");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(PbEngine) engine = pb_test_engine_new (group);
  g_autoptr(TestCounter) counter = test_counter_new (topic);
  g_autoptr(GError) error = NULL;
  Tally tally = { 0, };
  gint64 until;
  PbTestRun *run;

  g_test_summary ("An idle engine polls often enough to stay in its group past "
                  "max.poll.interval.ms, and still handles a record that comes later");

  pb_test_create_topic (topic, 1);
  pb_engine_set_config (engine, "max.poll.interval.ms", "7000", &error);
  g_assert_no_error (error);
  g_assert_true (pb_engine_add_handler (engine, PB_HANDLER (counter), &error));
  g_signal_connect (engine, "partitions-revoked", G_CALLBACK (revoked_cb), &tally);
  g_signal_connect (engine, "partitions-assigned", G_CALLBACK (assigned_cb), &tally);

  run = pb_test_start (engine);
  pb_test_wait_until (has_assignment, &tally, 30000);

  /* Well past max.poll.interval.ms with nothing to consume. */
  until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  pb_test_wait_until (time_has_come, &until, 30000);

  pb_test_produce (topic, 0, "k", "late");
  pb_test_wait_until (counter_has_one, counter, 30000);
  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (tally.n_assigned, ==, 1);
  g_assert_cmpuint (tally.n_revoked, ==, 1);   /* only at the stop */
  g_assert_cmpuint (tally.n_lost, ==, 0);
  g_assert_cmpint (pb_test_committed (group, topic, 0), ==, 1);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/Rebalance/handover", test_handover);
  g_test_add_func ("/Paperboy/Rebalance/refused-commit", test_refused_commit);
  g_test_add_func ("/Paperboy/Rebalance/lost", test_lost_assignment);
  g_test_add_func ("/Paperboy/Rebalance/idle-keepalive", test_idle_keepalive);

  return g_test_run ();
}
