/* test-fairness.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-test-util.h"

/* Partitions with records take turns: a slow handler makes every one of
 * them advance. */

#define N_PARTITIONS   8
#define PER_PARTITION  500
#define HANDLING_MS    2

/* Every partition has had records handled this soon after the first. */
#define ALL_STARTED_US (2 * G_USEC_PER_SEC)
/* A partition with records waits at most this long between two. */
#define MAX_GAP_US     (1 * G_USEC_PER_SEC)
/* How long the test watches the engine work through its backlog. */
#define WATCH_US       (4 * G_USEC_PER_SEC)

#define TEST_TYPE_SLOW (test_slow_get_type ())
G_DECLARE_FINAL_TYPE (TestSlow, test_slow, TEST, SLOW, PbHandler)

struct _TestSlow
{
  PbHandler parent_instance;
  gint64    first;                       /* when the first record was handled */
  gint64    last[N_PARTITIONS];          /* when the last one of each was */
  gint64    started[N_PARTITIONS];       /* when the first one of each was */
  gint64    max_gap[N_PARTITIONS];
  gint64    next_offset[N_PARTITIONS];
  guint     n;
  gboolean  disorder;
};

G_DEFINE_FINAL_TYPE (TestSlow, test_slow, PB_TYPE_HANDLER)

static gboolean
test_slow_on_message (PbHandler  *handler,
                      PbMessage  *message,
                      GObject    *context,
                      GError    **error)
{
  TestSlow *self = TEST_SLOW (handler);
  int partition = pb_message_get_partition (message);
  gint64 now;

  g_usleep (HANDLING_MS * 1000);
  now = g_get_monotonic_time ();

  g_assert_cmpint (partition, <, N_PARTITIONS);

  if (self->first == 0)
    self->first = now;
  if (self->started[partition] == 0)
    self->started[partition] = now;
  else
    self->max_gap[partition] = MAX (self->max_gap[partition], now - self->last[partition]);

  if (pb_message_get_offset (message) != self->next_offset[partition])
    self->disorder = TRUE;
  self->next_offset[partition] = pb_message_get_offset (message) + 1;
  self->last[partition] = now;
  self->n++;

  return TRUE;
}

static void
test_slow_class_init (TestSlowClass *klass)
{
  PB_HANDLER_CLASS (klass)->on_message = test_slow_on_message;
}

static void
test_slow_init (TestSlow *self)
{
}

static gboolean
watched_long_enough (gpointer user_data)
{
  TestSlow *self = user_data;

  return self->first != 0 && g_get_monotonic_time () - self->first > WATCH_US;
}

static void
test_slow_handler (void)
{
  g_autofree char *topic = pb_test_unique ("fairness");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(PbEngine) engine = pb_test_engine_new (group);
  g_autoptr(TestSlow) handler = g_object_new (TEST_TYPE_SLOW, "topic", topic, NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("With a handler taking 2 ms a record and one record in flight, every "
                  "one of 8 partitions with a backlog has records handled within 2 s, and "
                  "none waits more than 1 s between two");

  /* One partition after the other: librdkafka fetches them in big
   * batches, one partition's after another's. */
  pb_test_create_topic (topic, N_PARTITIONS);
  for (int p = 0; p < N_PARTITIONS; p++)
    pb_test_produce_many (topic, p, PER_PARTITION, "v");

  pb_test_add_handler (engine, handler);
  g_assert_true (pb_test_run_until (engine, watched_long_enough, handler, 60000, &error));
  g_assert_no_error (error);

  g_assert_false (handler->disorder);
  /* The backlog outlasted the test: every partition still had records. */
  g_assert_cmpuint (handler->n, <, N_PARTITIONS * PER_PARTITION);

  for (int p = 0; p < N_PARTITIONS; p++)
    {
      g_test_message ("partition %d: first record after %" G_GINT64_FORMAT " ms, "
                      "longest wait %" G_GINT64_FORMAT " ms, %" G_GINT64_FORMAT " handled",
                      p, (handler->started[p] - handler->first) / 1000,
                      handler->max_gap[p] / 1000, handler->next_offset[p]);
      g_assert_cmpint (handler->started[p], !=, 0);
      g_assert_cmpint (handler->started[p] - handler->first, <=, ALL_STARTED_US);
      g_assert_cmpint (handler->max_gap[p], <=, MAX_GAP_US);
    }
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/Fairness/slow-handler", test_slow_handler);

  return g_test_run ();
}
