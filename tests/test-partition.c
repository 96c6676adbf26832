/* test-partition.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-barrier-private.h"
#include "pb-consumer-private.h"
#include "pb-offsets-private.h"
#include "pb-partition-private.h"
#include "pb-test-util.h"

/* The partition map, the offsets and the barrier of a run, with a
 * consumer that never reaches a broker: nothing here needs a cluster. */
typedef struct
{
  PbHost         *host;
  PbConsumer     *consumer;
  GPtrArray      *topics;
  PbPartitionMap *map;
  PbBarrier      *barrier;
  PbOffsets      *offsets;
  GPtrArray      *resumed;   /* PbPartition */
} Fixture;

static void
reconcile (gpointer user_data)
{
}

static void
fail (gpointer  user_data,
      GError   *error)
{
  g_error_free (error);
}

static void
event (gpointer       user_data,
       const PbEvent *event)
{
}

static const PbHostCallbacks host_callbacks = {
  .reconcile = reconcile,
  .fail = fail,
  .event = event,
};

static void
record (gpointer            user_data,
        rd_kafka_message_t *rkm)
{
  rd_kafka_message_destroy (rkm);
}

static gboolean
batch_end (gpointer user_data,
           gboolean drained)
{
  return FALSE;
}

static const PbConsumerCallbacks consumer_callbacks = {
  .record = record,
  .batch_end = batch_end,
};

static void
resumed_cb (PbPartition *p,
            gpointer     user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->resumed, p);
}

static void
setup (Fixture       *f,
       gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PbHandler) handler = g_object_new (PB_TYPE_HANDLER, NULL);
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();

  /* Nothing listens on port 1. */
  rd_kafka_conf_set (conf, "bootstrap.servers", "127.0.0.1:1", NULL, 0);
  rd_kafka_conf_set (conf, "group.id", "unit", NULL, 0);
  rd_kafka_conf_set (conf, "log_level", "0", NULL, 0);

  f->host = _pb_host_new (g_main_context_default (), G_PRIORITY_DEFAULT, &host_callbacks, f);
  f->consumer = _pb_consumer_new (conf, g_main_context_default (), G_PRIORITY_DEFAULT,
                                  &consumer_callbacks, f, &error);
  g_assert_no_error (error);
  f->topics = g_ptr_array_new_with_free_func ((GDestroyNotify) _pb_topic_free);
  g_ptr_array_add (f->topics, _pb_topic_new ("events", handler));
  g_ptr_array_add (f->topics, _pb_topic_new ("orders", handler));
  f->resumed = g_ptr_array_new ();
  f->map = _pb_partition_map_new (f->topics, f->consumer, f->host, resumed_cb, f);
  f->barrier = _pb_barrier_new ();
  f->offsets = _pb_offsets_new (f->barrier);
}

static void
freed_cb (GObject      *source_object,
          GAsyncResult *result,
          gpointer      user_data)
{
  *(gboolean *)user_data = TRUE;
}

static gboolean
is_true (gpointer user_data)
{
  return *(gboolean *)user_data;
}

static void
teardown (Fixture       *f,
          gconstpointer  user_data)
{
  gboolean freed = FALSE;

  g_clear_pointer (&f->offsets, _pb_offsets_free);
  g_clear_pointer (&f->barrier, _pb_barrier_free);
  g_clear_pointer (&f->map, _pb_partition_map_free);
  g_clear_pointer (&f->resumed, g_ptr_array_unref);
  g_clear_pointer (&f->topics, g_ptr_array_unref);
  g_clear_pointer (&f->host, _pb_host_free);

  /* The handle is destroyed in a worker thread. */
  _pb_consumer_free_async (g_steal_pointer (&f->consumer), freed_cb, &freed);
  pb_test_wait_until (is_true, &freed, 30000);
}

/* Distinct pointers that stand for records: never dereferenced. */
#define FAKE(i) ((rd_kafka_message_t *)GSIZE_TO_POINTER (0x1000 + (i) * 8))

static void
test_ring (void)
{
  PbRing ring = { NULL, };

  g_test_summary ("The ring keeps records in order across its growth and wrapping");

  g_assert_null (_pb_ring_peek (&ring));
  g_assert_null (_pb_ring_pop (&ring));

  /* Wrap around, then grow while wrapped. */
  for (guint i = 0; i < 50; i++)
    _pb_ring_push (&ring, FAKE (i));
  for (guint i = 0; i < 40; i++)
    g_assert_true (_pb_ring_pop (&ring) == FAKE (i));
  for (guint i = 50; i < 1000; i++)
    _pb_ring_push (&ring, FAKE (i));

  g_assert_cmpuint (ring.length, ==, 960);
  g_assert_cmpuint (ring.capacity, >=, 960);
  g_assert_true (_pb_ring_peek (&ring) == FAKE (40));
  for (guint i = 40; i < 1000; i++)
    g_assert_true (_pb_ring_pop (&ring) == FAKE (i));
  g_assert_null (_pb_ring_pop (&ring));

  _pb_ring_clear (&ring);
  g_assert_null (ring.items);
  g_assert_cmpuint (ring.capacity, ==, 0);
}

static void
test_map (Fixture       *f,
          gconstpointer  user_data)
{
  PbPartition *p;

  g_test_summary ("Partitions are made on first use, by topic and number, with holes; "
                  "a topic the run does not consume has none");

  g_assert_null (_pb_partition_map_find (f->map, "events", 3));
  p = _pb_partition_map_get (f->map, "events", 3);
  g_assert_nonnull (p);
  g_assert_true (_pb_partition_map_get (f->map, "events", 3) == p);
  g_assert_true (_pb_partition_map_find (f->map, "events", 3) == p);
  g_assert_null (_pb_partition_map_find (f->map, "events", 0));
  g_assert_null (_pb_partition_map_find (f->map, "orders", 3));
  g_assert_null (_pb_partition_map_get (f->map, "unknown", 0));
  g_assert_null (_pb_partition_map_get (f->map, "events", -1));
  g_assert_cmpint (p->id, ==, 3);
  g_assert_cmpstr (p->topic->name, ==, "events");
  g_assert_cmpint (p->state, ==, PB_PARTITION_UNASSIGNED);
  g_assert_cmpint (p->committable, ==, -1);
}

static void
test_reset (Fixture       *f,
            gconstpointer  user_data)
{
  PbPartition *p = _pb_partition_map_get (f->map, "orders", 5);
  g_autoptr(GCancellable) first = NULL;
  guint epoch;

  g_test_summary ("An assignment starts from nothing of the last one: offsets, step end, "
                  "EOF, preparation and transient pause reasons; a step's pause stays. "
                  "Giving the partition up cancels its cancellable");

  _pb_partition_assign (f->map, p);
  epoch = p->epoch;
  first = g_object_ref (p->cancellable);

  p->committable = 42;
  p->stored = 41;
  p->committed = 40;
  p->polled_from = 7;
  p->step_end = 100;
  p->eof = 99;
  p->prepared_at = 42;
  p->prepared = 3;
  p->capturing = TRUE;
  p->preparing = TRUE;
  p->prepare_error = g_error_new_literal (PB_ERROR, PB_ERROR_DESERIALIZE, "x");
  p->pause_reasons = PB_PAUSE_STEP | PB_PAUSE_BACKPRESSURE | PB_PAUSE_RETRY |
                     PB_PAUSE_DESERIALIZER | PB_PAUSE_USER;

  _pb_partition_unassign (f->map, p);
  g_assert_cmpint (p->state, ==, PB_PARTITION_UNASSIGNED);
  g_assert_cmpuint (p->epoch, ==, epoch + 1);
  g_assert_false (g_cancellable_is_cancelled (first));
  _pb_host_flush (f->host);
  g_assert_true (g_cancellable_is_cancelled (first));
  g_assert_false (g_cancellable_is_cancelled (p->cancellable));

  _pb_partition_assign (f->map, p);
  g_assert_cmpint (p->state, ==, PB_PARTITION_ASSIGNED);
  g_assert_cmpuint (p->epoch, ==, epoch + 2);
  g_assert_cmpint (p->committable, ==, -1);
  g_assert_cmpint (p->stored, ==, -1);
  g_assert_cmpint (p->committed, ==, -1);
  g_assert_cmpint (p->polled_from, ==, -1);
  g_assert_cmpint (p->step_end, ==, -1);
  g_assert_cmpint (p->eof, ==, -1);
  g_assert_cmpint (p->prepared_at, ==, -1);
  g_assert_cmpuint (p->prepared, ==, 0);
  g_assert_false (p->capturing);
  g_assert_false (p->preparing);
  g_assert_null (p->prepare_error);
  g_assert_cmpuint (p->pause_reasons, ==, PB_PAUSE_STEP | PB_PAUSE_USER);
  g_assert_nonnull (p->cancellable);
}

static void
test_hold (Fixture       *f,
           gconstpointer  user_data)
{
  PbPartition *p = _pb_partition_map_get (f->map, "events", 0);
  PbPartition *idle = _pb_partition_map_get (f->map, "events", 1);

  g_test_summary ("A partition held by a reason that holds records (a step, a "
                  "deserializer...) is said to go on once its last such reason ends and it "
                  "has records; back-pressure holds nothing");

  _pb_partition_assign (f->map, p);
  _pb_partition_assign (f->map, idle);
  _pb_ring_push (&p->fifo, FAKE (1));

  _pb_partition_pause (f->map, p, PB_PAUSE_BACKPRESSURE);
  g_assert_false (_pb_partition_is_held (p));
  _pb_partition_pause (f->map, p, PB_PAUSE_STEP);
  _pb_partition_pause (f->map, p, PB_PAUSE_DESERIALIZER);
  _pb_partition_pause (f->map, idle, PB_PAUSE_STEP);
  g_assert_true (_pb_partition_is_held (p));

  _pb_partition_resume (f->map, p, PB_PAUSE_STEP);
  _pb_partition_resume (f->map, p, PB_PAUSE_BACKPRESSURE);
  g_assert_cmpuint (f->resumed->len, ==, 0);
  _pb_partition_resume (f->map, p, PB_PAUSE_DESERIALIZER);
  _pb_partition_resume (f->map, idle, PB_PAUSE_STEP);
  g_assert_cmpuint (f->resumed->len, ==, 1);
  g_assert_true (g_ptr_array_index (f->resumed, 0) == p);
  g_assert_cmpuint (p->pause_reasons, ==, 0);

  /* Every partition to come, too. */
  _pb_partition_map_pause_all (f->map, PB_PAUSE_STOP);
  g_assert_true (_pb_partition_is_held (p));
  g_assert_true (_pb_partition_is_held (_pb_partition_map_get (f->map, "orders", 9)));

  g_assert_true (_pb_ring_pop (&p->fifo) == FAKE (1));
}

static void
test_librdkafka_pause (Fixture       *f,
                       gconstpointer  user_data)
{
  PbPartition *p = _pb_partition_map_get (f->map, "events", 0);
  PbPartition *q = _pb_partition_map_get (f->map, "events", 1);
  rd_kafka_topic_partition_list_t *list;

  g_test_summary ("librdkafka hears of a pause once the partition's first record came, "
                  "of a resume only when it has the partition paused, and a partition it "
                  "kept paused from an earlier assignment is resumed before the next one");

  _pb_partition_assign (f->map, p);
  _pb_partition_assign (f->map, q);

  /* Paused at assignment: its fetch has not started. */
  _pb_partition_pause (f->map, p, PB_PAUSE_RESTORE);
  g_assert_true (_pb_partition_is_held (p));
  g_assert_false (p->rk_paused);

  /* Its first record: the pause is issued. */
  p->polled_from = 0;
  _pb_partition_repause (f->map, p);
  g_assert_true (p->rk_paused);

  /* A resume that librdkafka needs, and one it does not. */
  _pb_partition_resume (f->map, p, PB_PAUSE_RESTORE);
  g_assert_false (p->rk_paused);
  _pb_partition_pause (f->map, q, PB_PAUSE_STEP);
  _pb_partition_resume (f->map, q, PB_PAUSE_STEP);
  g_assert_false (q->rk_paused);
  g_assert_cmpuint (q->pause_reasons, ==, 0);

  /* Revoked while paused in librdkafka, then assigned again. */
  p->polled_from = 0;
  _pb_partition_pause (f->map, p, PB_PAUSE_USER);
  g_assert_true (p->rk_paused);
  _pb_partition_unassign (f->map, p);
  list = rd_kafka_topic_partition_list_new (2);
  rd_kafka_topic_partition_list_add (list, "events", 0);
  rd_kafka_topic_partition_list_add (list, "events", 1);
  _pb_partition_map_unpause (f->map, list);
  rd_kafka_topic_partition_list_destroy (list);
  g_assert_false (p->rk_paused);
  _pb_partition_assign (f->map, p);
  g_assert_cmpint (p->polled_from, ==, -1);
  g_assert_true (_pb_partition_is_held (p));
  g_assert_false (p->rk_paused);
}

static void
test_offsets (Fixture       *f,
              gconstpointer  user_data)
{
  PbPartition *a = _pb_partition_map_get (f->map, "events", 0);
  PbPartition *b = _pb_partition_map_get (f->map, "events", 1);
  PbPartition *gone = _pb_partition_map_get (f->map, "orders", 2);
  rd_kafka_topic_partition_list_t *list;

  g_test_summary ("Handled records make their partitions' next offsets committable once; "
                  "partitions given up store nothing");

  _pb_partition_assign (f->map, a);
  _pb_partition_assign (f->map, b);
  _pb_partition_assign (f->map, gone);

  g_assert_null (_pb_offsets_collect (f->offsets));

  _pb_offsets_mark_handled (f->offsets, a, 10);
  _pb_offsets_mark_handled (f->offsets, a, 11);
  _pb_offsets_mark_handled (f->offsets, b, 0);
  _pb_offsets_mark_handled (f->offsets, gone, 5);
  _pb_partition_unassign (f->map, gone);

  list = _pb_offsets_collect (f->offsets);
  g_assert_nonnull (list);
  g_assert_cmpint (list->cnt, ==, 2);
  g_assert_cmpstr (list->elems[0].topic, ==, "events");
  g_assert_cmpint (list->elems[0].partition, ==, 0);
  g_assert_cmpint (list->elems[0].offset, ==, 12);
  g_assert_cmpint (list->elems[1].partition, ==, 1);
  g_assert_cmpint (list->elems[1].offset, ==, 1);
  rd_kafka_topic_partition_list_destroy (list);
  g_assert_cmpint (a->stored, ==, 12);

  /* Nothing moved. */
  g_assert_null (_pb_offsets_collect (f->offsets));

  /* A lost partition forgets what it handled. */
  _pb_offsets_mark_handled (f->offsets, a, 12);
  _pb_offsets_forget (f->offsets, a);
  g_assert_null (_pb_offsets_collect (f->offsets));
}

static void
test_barrier (Fixture       *f,
              gconstpointer  user_data)
{
  PbPartition *p = _pb_partition_map_get (f->map, "events", 0);
  PbPartition *q = _pb_partition_map_get (f->map, "events", 1);
  rd_kafka_topic_partition_list_t *list;
  guint64 first, second;

  g_test_summary ("A record handled while records it produced are not delivered waits for "
                  "them, whatever order they are delivered in; a partition given up "
                  "meanwhile gets nothing");

  _pb_partition_assign (f->map, p);
  _pb_partition_assign (f->map, q);

  first = _pb_barrier_issue (f->barrier);
  _pb_offsets_mark_handled (f->offsets, p, 0);
  second = _pb_barrier_issue (f->barrier);
  _pb_offsets_mark_handled (f->offsets, p, 1);
  _pb_offsets_mark_handled (f->offsets, q, 7);
  g_assert_cmpuint (p->barrier, ==, 2);
  g_assert_null (_pb_offsets_collect (f->offsets));

  /* The second delivery first: nothing is past the barrier yet. */
  _pb_barrier_mark (f->barrier, second);
  g_assert_false (_pb_offsets_release (f->offsets));
  g_assert_null (_pb_offsets_collect (f->offsets));

  /* q is given up before its record's delivery came. */
  _pb_partition_unassign (f->map, q);
  _pb_partition_assign (f->map, q);

  _pb_barrier_mark (f->barrier, first);
  g_assert_true (_pb_barrier_is_settled (f->barrier));
  g_assert_true (_pb_offsets_release (f->offsets));
  g_assert_cmpuint (p->barrier, ==, 0);
  g_assert_cmpuint (q->barrier, ==, 0);

  list = _pb_offsets_collect (f->offsets);
  g_assert_nonnull (list);
  g_assert_cmpint (list->cnt, ==, 1);
  g_assert_cmpint (list->elems[0].partition, ==, 0);
  g_assert_cmpint (list->elems[0].offset, ==, 2);
  rd_kafka_topic_partition_list_destroy (list);
}

static void
test_barrier_grows (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  PbBarrier *barrier = _pb_barrier_new ();
  g_autoptr(GArray) pending = g_array_new (FALSE, FALSE, sizeof (guint64));

  g_test_summary ("The barrier follows 100,000 deliveries out of order: delivered is always "
                  "the highest number with all below it delivered");

  for (guint i = 0; i < 100000; i++)
    {
      guint64 seq = _pb_barrier_issue (barrier);

      g_array_append_val (pending, seq);

      /* Deliver one of the pending at random, now and then. */
      while (pending->len > 0 && g_rand_int_range (rand, 0, 3) == 0)
        {
          guint k = g_rand_int_range (rand, 0, pending->len);
          guint64 done = g_array_index (pending, guint64, k);
          guint64 lowest = G_MAXUINT64;

          g_array_remove_index_fast (pending, k);
          _pb_barrier_mark (barrier, done);

          for (guint j = 0; j < pending->len; j++)
            lowest = MIN (lowest, g_array_index (pending, guint64, j));
          g_assert_cmpuint (barrier->delivered, ==,
                            pending->len > 0 ? lowest - 1 : barrier->issued);
        }
    }

  while (pending->len > 0)
    {
      _pb_barrier_mark (barrier, g_array_index (pending, guint64, pending->len - 1));
      g_array_set_size (pending, pending->len - 1);
    }
  g_assert_true (_pb_barrier_is_settled (barrier));
  g_assert_cmpuint (barrier->delivered, ==, 100000);

  _pb_barrier_free (barrier);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add ("/Paperboy/Partition/" path, Fixture, NULL, setup, func, teardown)

  g_test_add_func ("/Paperboy/Partition/ring", test_ring);
  ADD ("map", test_map);
  ADD ("reset", test_reset);
  ADD ("hold", test_hold);
  ADD ("librdkafka-pause", test_librdkafka_pause);
  ADD ("offsets", test_offsets);
  ADD ("barrier", test_barrier);
  g_test_add_func ("/Paperboy/Partition/barrier-grows", test_barrier_grows);

  return g_test_run ();
}
