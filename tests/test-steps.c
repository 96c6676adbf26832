/* test-steps.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-test-util.h"

/* Steps: topics handled in order before the engine goes live. */

#define TEST_TYPE_LOGGER (test_logger_get_type ())
G_DECLARE_FINAL_TYPE (TestLogger, test_logger, TEST, LOGGER, PbHandler)

/* Appends "topic/partition/offset" to a log it shares with others. */
struct _TestLogger
{
  PbHandler  parent_instance;
  GPtrArray *log;
  guint      delay_us;
  PbEngine  *stop_engine;   /* stopped once the log holds stop_after lines */
  guint      stop_after;
};

G_DEFINE_FINAL_TYPE (TestLogger, test_logger, PB_TYPE_HANDLER)

static gboolean
test_logger_on_message (PbHandler  *handler,
                        PbMessage  *message,
                        GObject    *context,
                        GError    **error)
{
  TestLogger *self = TEST_LOGGER (handler);

  if (self->delay_us > 0)
    g_usleep (self->delay_us);

  g_ptr_array_add (self->log, g_strdup_printf ("%s/%d/%" G_GINT64_FORMAT,
                                               pb_message_get_topic (message),
                                               pb_message_get_partition (message),
                                               pb_message_get_offset (message)));

  if (self->stop_engine != NULL && self->log->len == self->stop_after)
    pb_engine_stop (self->stop_engine);

  return TRUE;
}

static void
test_logger_finalize (GObject *object)
{
  g_ptr_array_unref (TEST_LOGGER (object)->log);

  G_OBJECT_CLASS (test_logger_parent_class)->finalize (object);
}

static void
test_logger_class_init (TestLoggerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_logger_finalize;
  PB_HANDLER_CLASS (klass)->on_message = test_logger_on_message;
}

static void
test_logger_init (TestLogger *self)
{
}

static TestLogger *
test_logger_new (const char *topic,
                 GPtrArray  *log)
{
  TestLogger *self = g_object_new (TEST_TYPE_LOGGER, "topic", topic, NULL);

  self->log = g_ptr_array_ref (log);

  return self;
}

static void
started_cb (PbEngine *engine,
            guint     step,
            gpointer  user_data)
{
  g_assert_cmpint (pb_engine_get_current_step (engine), ==, step);
  g_ptr_array_add (user_data, g_strdup_printf ("started:%u", step));
}

static void
finished_cb (PbEngine *engine,
             guint     step,
             gpointer  user_data)
{
  g_ptr_array_add (user_data, g_strdup_printf ("finished:%u", step));
}

static void
watch_steps (PbEngine  *engine,
             GPtrArray *log)
{
  g_signal_connect (engine, "step-started", G_CALLBACK (started_cb), log);
  g_signal_connect (engine, "step-finished", G_CALLBACK (finished_cb), log);
}

/* The index in @log of the first (or last) line starting with @prefix, or
 * -1. */
static int
find_line (GPtrArray  *log,
           const char *prefix,
           gboolean    last)
{
  int found = -1;

  for (guint i = 0; i < log->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (log, i), prefix))
      {
        found = i;
        if (!last)
          break;
      }

  return found;
}

static guint
count_lines (GPtrArray  *log,
             const char *prefix)
{
  guint n = 0;

  for (guint i = 0; i < log->len; i++)
    n += g_str_has_prefix (g_ptr_array_index (log, i), prefix);

  return n;
}

typedef struct
{
  GPtrArray  *log;
  const char *line;
  guint       n;
} LogWait;

static gboolean
log_has (gpointer user_data)
{
  LogWait *wait = user_data;

  return (wait->line == NULL || find_line (wait->log, wait->line, FALSE) >= 0) &&
         wait->log->len >= wait->n;
}

static gboolean
is_single (gpointer user_data)
{
  return pb_engine_get_mode (user_data) == PB_ENGINE_MODE_SINGLE;
}

static void
add_step (PbEngine   *engine,
          TestLogger *a,
          TestLogger *b)
{
  PbHandler *handlers[] = { PB_HANDLER (a), PB_HANDLER (b) };
  g_autoptr(GError) error = NULL;

  g_assert_true (pb_engine_add_step (engine, handlers, b != NULL ? 2 : 1, &error));
  g_assert_no_error (error);
}

static char *
topic_name (const char *base,
            const char *which)
{
  return g_strdup_printf ("%s-%s", base, which);
}

static void
test_three_steps (PbTestFixture *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *a = topic_name (fixture->topic, "a");
  g_autofree char *b = topic_name (fixture->topic, "b");
  g_autofree char *c = topic_name (fixture->topic, "c");
  g_autofree char *d = topic_name (fixture->topic, "d");
  g_autofree char *e = topic_name (fixture->topic, "e");
  g_autoptr(TestLogger) ha = test_logger_new (a, log);
  g_autoptr(TestLogger) hb = test_logger_new (b, log);
  g_autoptr(TestLogger) hc = test_logger_new (c, log);
  g_autoptr(TestLogger) hd = test_logger_new (d, log);
  g_autoptr(TestLogger) he = test_logger_new (e, log);
  g_autoptr(GError) error = NULL;
  g_autofree char *a_prefix = g_strdup_printf ("%s/", a);
  g_autofree char *b_prefix = g_strdup_printf ("%s/", b);
  g_autofree char *d_prefix = g_strdup_printf ("%s/", d);
  g_autofree char *e_prefix = g_strdup_printf ("%s/", e);
  LogWait wait = { log, "finished:2", 0 };
  PbTestRun *run;
  int last_a, last_b, last_d;

  g_test_summary ("Three steps over topics with backlogs (one empty): each step's records "
                  "come before any of a later step's, then Single mode on all topics");

  pb_test_create_topic (a, 2);
  pb_test_create_topic (b, 1);
  pb_test_create_topic (c, 1);
  pb_test_create_topic (d, 1);
  pb_test_create_topic (e, 1);
  pb_test_produce_many (a, 0, 300, "a");
  pb_test_produce_many (a, 1, 300, "a");
  pb_test_produce_many (b, 0, 200, "b");
  pb_test_produce_many (d, 0, 100, "d");
  pb_test_produce_many (e, 0, 50, "e");

  for (guint i = 0; i < 5; i++)
    pb_test_add_handler (engine, (gpointer[]) { ha, hb, hc, hd, he }[i]);
  add_step (engine, ha, NULL);
  add_step (engine, hb, hc);
  add_step (engine, hd, NULL);
  g_assert_cmpuint (pb_engine_get_n_steps (engine), ==, 3);
  g_assert_cmpint (pb_engine_get_current_step (engine), ==, -1);
  watch_steps (engine, log);

  run = pb_test_start (engine);
  wait.n = 950 + 6;
  pb_test_wait_until (log_has, &wait, 60000);
  /* Live: Single mode, on every topic. */
  pb_test_wait_until (is_single, engine, 30000);
  pb_test_produce_many (a, 0, 5, "late");
  pb_test_produce_many (e, 0, 5, "late");
  wait.n += 10;
  pb_test_wait_until (log_has, &wait, 30000);
  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (count_lines (log, a_prefix), ==, 605);
  g_assert_cmpuint (count_lines (log, b_prefix), ==, 200);
  g_assert_cmpuint (count_lines (log, d_prefix), ==, 100);
  g_assert_cmpuint (count_lines (log, e_prefix), ==, 55);

  /* The order of steps. */
  last_a = find_line (log, "finished:0", FALSE);
  g_assert_cmpint (find_line (log, "started:0", FALSE), ==, 0);
  g_assert_cmpint (find_line (log, b_prefix, FALSE), >, last_a);
  g_assert_cmpint (find_line (log, d_prefix, FALSE), >, last_a);
  g_assert_cmpint (find_line (log, e_prefix, FALSE), >, last_a);
  last_b = find_line (log, "finished:1", FALSE);
  g_assert_cmpint (find_line (log, b_prefix, TRUE), <, last_b);
  g_assert_cmpint (find_line (log, d_prefix, FALSE), >, last_b);
  g_assert_cmpint (find_line (log, e_prefix, FALSE), >, last_b);
  last_d = find_line (log, "finished:2", FALSE);
  g_assert_cmpint (find_line (log, d_prefix, TRUE), <, last_d);
  g_assert_cmpint (find_line (log, e_prefix, FALSE), >, last_d);
  /* Every record of the first step before it finished. */
  g_assert_cmpuint (count_lines (log, a_prefix), ==, 605);
  for (int i = 0; i < last_a; i++)
    g_assert_false (g_str_has_prefix (g_ptr_array_index (log, i), b_prefix));
  g_assert_cmpint (find_line (log, "started:1", FALSE), ==, last_a + 1);

  g_assert_cmpint (pb_engine_get_current_step (engine), ==, -1);
  g_assert_cmpint (pb_test_committed (fixture->group, a, 0), ==, 305);
  g_assert_cmpint (pb_test_committed (fixture->group, a, 1), ==, 300);
  g_assert_cmpint (pb_test_committed (fixture->group, e, 0), ==, 55);
}

/* Two members, the second joining in the middle of the first step. */

typedef struct
{
  PbEngine   *engine;
  GPtrArray  *log;
  TestLogger *a;
  TestLogger *b;
  PbTestRun  *run;
  GHashTable *lost;   /* "topic/partition/" of partitions reported lost */
} Member;

/* The 2.0.2 mock refuses commits while the group rebalances: a member
 * that goes on handling then cannot commit, and the engine reports the
 * partitions it revokes lost. Only their records may come twice. */
static void
revoked_cb (PbEngine *engine,
            GVariant *partitions,
            gboolean  lost,
            Member   *m)
{
  GVariantIter iter;
  const char *topic;
  gint32 partition;

  if (!lost)
    return;

  g_variant_iter_init (&iter, partitions);
  while (g_variant_iter_next (&iter, "(&si)", &topic, &partition))
    g_hash_table_add (m->lost, g_strdup_printf ("%s/%d/", topic, partition));
}

static gboolean
reported_lost (Member     *members,
               guint       n,
               const char *line)
{
  g_autofree char *prefix = g_strndup (line, strrchr (line, '/') + 1 - line);

  for (guint i = 0; i < n; i++)
    if (g_hash_table_contains (members[i].lost, prefix))
      return TRUE;

  return FALSE;
}

static void
member_start (Member     *m,
              const char *group,
              const char *a,
              const char *b)
{
  m->engine = pb_test_engine_new (group);
  m->log = g_ptr_array_new_with_free_func (g_free);
  m->lost = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  m->a = test_logger_new (a, m->log);
  m->b = test_logger_new (b, m->log);
  m->a->delay_us = 1000;
  pb_test_add_handler (m->engine, m->a);
  pb_test_add_handler (m->engine, m->b);
  add_step (m->engine, m->a, NULL);
  add_step (m->engine, m->b, NULL);
  watch_steps (m->engine, m->log);
  g_signal_connect (m->engine, "partitions-revoked", G_CALLBACK (revoked_cb), m);
  m->run = pb_test_start (m->engine);
}

static void
member_clear (Member *m)
{
  g_clear_object (&m->a);
  g_clear_object (&m->b);
  g_clear_object (&m->engine);
  g_clear_pointer (&m->log, g_ptr_array_unref);
  g_clear_pointer (&m->lost, g_hash_table_unref);
}

static guint
records_of (Member *members,
            guint   n)
{
  guint total = 0;

  for (guint i = 0; i < n; i++)
    total += members[i].log->len - count_lines (members[i].log, "started:") -
             count_lines (members[i].log, "finished:");

  return total;
}

typedef struct
{
  Member *members;
  guint   n_records;
} GroupWait;

static gboolean
group_done (gpointer user_data)
{
  GroupWait *wait = user_data;

  for (guint i = 0; i < 2; i++)
    if (find_line (wait->members[i].log, "finished:1", FALSE) < 0 ||
        pb_engine_get_mode (wait->members[i].engine) != PB_ENGINE_MODE_SINGLE)
      return FALSE;

  return records_of (wait->members, 2) >= wait->n_records;
}

typedef struct
{
  const char *group;
  const char *a;
  const char *b;
  gint64      a_end;
  gint64      b_end;
} Commits;

static gboolean
all_committed (gpointer user_data)
{
  Commits *commits = user_data;

  for (int p = 0; p < 4; p++)
    if (pb_test_committed (commits->group, commits->a, p) != commits->a_end ||
        pb_test_committed (commits->group, commits->b, p) != commits->b_end)
      return FALSE;

  return TRUE;
}

static gboolean
some_handled (gpointer user_data)
{
  return ((Member *)user_data)->log->len >= 101;
}

static void
test_two_members (void)
{
  g_autofree char *base = pb_test_unique ("steps-group");
  g_autofree char *group = pb_test_unique ("group");
  g_autofree char *a = topic_name (base, "a");
  g_autofree char *b = topic_name (base, "b");
  g_autoptr(GHashTable) handled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Member members[2];
  GroupWait wait = { members, 1200 };
  Commits commits = { group, a, b, 200, 100 };

  g_test_summary ("Two members run the same steps; the second joins in the middle of the "
                  "first step: every record is handled once (or again, in a partition "
                  "reported lost), both go through every step and end in Single mode");

  pb_test_create_topic (a, 4);
  pb_test_create_topic (b, 4);
  for (int p = 0; p < 4; p++)
    {
      pb_test_produce_many (a, p, 200, "a");
      pb_test_produce_many (b, p, 100, "b");
    }

  member_start (&members[0], group, a, b);
  pb_test_wait_until (some_handled, &members[0], 60000);
  g_assert_cmpint (pb_engine_get_current_step (members[0].engine), ==, 0);
  member_start (&members[1], group, a, b);

  pb_test_wait_until (group_done, &wait, 120000);

  /* Committed before the stop: the mock refuses a member's final commit
   * while the other one leaves. */
  pb_test_wait_until (all_committed, &commits, 60000);

  for (guint i = 0; i < 2; i++)
    pb_engine_stop (members[i].engine);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *b_prefix = g_strdup_printf ("%s/", b);

      g_assert_true (pb_test_finish (members[i].run, FALSE, &error));
      g_assert_no_error (error);

      /* Each member's step order. */
      g_assert_cmpint (find_line (members[i].log, "started:0", FALSE), ==, 0);
      g_assert_cmpint (find_line (members[i].log, "finished:0", FALSE), <,
                       find_line (members[i].log, "started:1", FALSE));
      /* (The group may have given a member partitions of one topic only.) */
      if (find_line (members[i].log, b_prefix, FALSE) >= 0)
        g_assert_cmpint (find_line (members[i].log, b_prefix, FALSE), >,
                         find_line (members[i].log, "finished:0", FALSE));

      for (guint j = 0; j < members[i].log->len; j++)
        {
          const char *line = g_ptr_array_index (members[i].log, j);

          if (!g_str_has_prefix (line, "started:") && !g_str_has_prefix (line, "finished:") &&
              !g_hash_table_add (handled, g_strdup (line)))
            g_assert_true (reported_lost (members, 2, line));
        }
    }

  g_assert_cmpuint (g_hash_table_size (handled), ==, 1200);
  for (int p = 0; p < 4; p++)
    {
      g_assert_cmpint (pb_test_committed (group, a, p), ==, 200);
      g_assert_cmpint (pb_test_committed (group, b, p), ==, 100);
    }

  for (guint i = 0; i < 2; i++)
    member_clear (&members[i]);
}

static void
test_restart (PbTestFixture *fixture,
              gconstpointer  user_data)
{
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) relog = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *a = topic_name (fixture->topic, "a");
  g_autofree char *b = topic_name (fixture->topic, "b");
  g_autofree char *a_prefix = g_strdup_printf ("%s/", a);
  g_autofree char *b_prefix = g_strdup_printf ("%s/", b);
  g_autofree char *first_a = g_strdup_printf ("%s/0/200", a);
  g_autoptr(GError) error = NULL;
  LogWait wait = { relog, "finished:1", 0 };

  g_test_summary ("A restart in the middle of a step resumes from the committed offsets "
                  "and captures fresh ends");

  pb_test_create_topic (a, 1);
  pb_test_create_topic (b, 1);
  pb_test_produce_many (a, 0, 500, "a");
  pb_test_produce_many (b, 0, 50, "b");

  {
    g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
    g_autoptr(TestLogger) ha = test_logger_new (a, log);
    g_autoptr(TestLogger) hb = test_logger_new (b, log);

    pb_test_add_handler (engine, ha);
    pb_test_add_handler (engine, hb);
    add_step (engine, ha, NULL);
    add_step (engine, hb, NULL);
    watch_steps (engine, log);
    ha->stop_engine = engine;
    ha->stop_after = 201;     /* "started:0" and 200 records */

    g_assert_true (pb_test_run_until (engine, NULL, NULL, 60000, &error));
    g_assert_no_error (error);
    g_assert_cmpint (find_line (log, "finished:0", FALSE), <, 0);
    g_assert_cmpint (find_line (log, b_prefix, FALSE), <, 0);
    g_assert_cmpint (pb_test_committed (fixture->group, a, 0), ==, 200);
  }

  /* Produced between the runs: in the restarted step's captured ends. */
  pb_test_produce_many (a, 0, 20, "more");

  {
    g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
    g_autoptr(TestLogger) ha = test_logger_new (a, relog);
    g_autoptr(TestLogger) hb = test_logger_new (b, relog);
    PbTestRun *run;

    pb_test_add_handler (engine, ha);
    pb_test_add_handler (engine, hb);
    add_step (engine, ha, NULL);
    add_step (engine, hb, NULL);
    watch_steps (engine, relog);

    run = pb_test_start (engine);
    wait.n = 320 + 50 + 4;
    pb_test_wait_until (log_has, &wait, 60000);
    g_assert_true (pb_test_finish (run, TRUE, &error));
    g_assert_no_error (error);
  }

  g_assert_cmpint (find_line (relog, "started:0", FALSE), ==, 0);
  g_assert_cmpstr (g_ptr_array_index (relog, 1), ==, first_a);
  g_assert_cmpuint (count_lines (relog, a_prefix), ==, 320);
  g_assert_cmpint (find_line (relog, a_prefix, TRUE), <, find_line (relog, "finished:0", FALSE));
  g_assert_cmpint (find_line (relog, b_prefix, FALSE), >, find_line (relog, "finished:0", FALSE));
  g_assert_cmpuint (count_lines (relog, b_prefix), ==, 50);
}

static void
test_missing_topic (PbTestFixture *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *a = topic_name (fixture->topic, "a");
  g_autofree char *missing = topic_name (fixture->topic, "missing");
  g_autoptr(TestLogger) ha = test_logger_new (a, log);
  g_autoptr(TestLogger) hm = test_logger_new (missing, log);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A step topic the cluster does not have ends the run with "
                  "PB_ERROR_KAFKA naming it, as any topic does");

  if (pb_test_mock_cluster () == NULL)
    {
      g_test_skip ("needs the mock cluster to fake a missing topic");
      return;
    }

  pb_test_create_topic (a, 1);
  pb_test_produce_many (a, 0, 10, "a");
  g_assert_true (pb_mock_cluster_set_topic_error (pb_test_mock_cluster (), missing,
                                                  3 /* UNKNOWN_TOPIC_OR_PARTITION */, &error));
  g_assert_no_error (error);

  pb_test_add_handler (engine, ha);
  pb_test_add_handler (engine, hm);
  add_step (engine, ha, NULL);
  add_step (engine, hm, NULL);

  g_assert_false (pb_test_run_until (engine, NULL, NULL, 60000, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_KAFKA);
  g_assert_nonnull (strstr (error->message, missing));
  g_assert_cmpuint (count_lines (log, missing), ==, 0);

  pb_mock_cluster_set_topic_error (pb_test_mock_cluster (), missing, 0, NULL);
}

static void
test_bad_steps (void)
{
  g_autoptr(PbEngine) engine = pb_engine_new ("mock://", "group");
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(TestLogger) added = test_logger_new ("a", log);
  g_autoptr(TestLogger) stranger = test_logger_new ("b", log);
  PbHandler *one[] = { PB_HANDLER (added) };
  PbHandler *other[] = { PB_HANDLER (stranger) };
  PbHandler *twice[] = { PB_HANDLER (added), PB_HANDLER (added) };
  g_autoptr(GError) error = NULL;

  g_test_summary ("A step with a handler not added to the engine, or already in a step, "
                  "or with no handler, is a PB_ERROR_CONFIG error");

  pb_test_add_handler (engine, added);

  g_assert_false (pb_engine_add_step (engine, other, 1, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_false (pb_engine_add_step (engine, twice, 2, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_false (pb_engine_add_step (engine, NULL, 0, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_true (pb_engine_add_step (engine, one, 1, &error));
  g_assert_no_error (error);
  g_assert_false (pb_engine_add_step (engine, one, 1, &error));
  g_assert_error (error, PB_ERROR, PB_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_cmpuint (pb_engine_get_n_steps (engine), ==, 1);
  pb_engine_clear_steps (engine);
  g_assert_cmpuint (pb_engine_get_n_steps (engine), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  PB_TEST_ADD ("Steps/three-steps", test_three_steps, NULL);
  PB_TEST_ADD ("Steps/restart", test_restart, NULL);
  PB_TEST_ADD ("Steps/missing-topic", test_missing_topic, NULL);
  g_test_add_func ("/Paperboy/Engine/Steps/two-members", test_two_members);
  g_test_add_func ("/Paperboy/Engine/Steps/bad-steps", test_bad_steps);

  return g_test_run ();
}
