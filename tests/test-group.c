/* test-group.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <signal.h>
#include <stdlib.h>

#include "pb-test-util.h"
#include "test-handlers.h"

/* Several members of one group, each owning partitions other than 0. */

#define N_MEMBERS 3

typedef struct
{
  PbEngine    *engine;
  TestCounter *counter;
  PbTestRun   *run;
  GHashTable  *owned;      /* partition numbers */
} Member;

static void
owned_cb (PbEngine *engine,
          GVariant *partitions,
          Member   *member)
{
  GVariantIter iter;
  gint32 partition;

  g_variant_iter_init (&iter, partitions);
  while (g_variant_iter_next (&iter, "(&si)", NULL, &partition))
    g_hash_table_add (member->owned, GINT_TO_POINTER (partition));
}

static void
disowned_cb (PbEngine *engine,
             GVariant *partitions,
             gboolean  lost,
             Member   *member)
{
  GVariantIter iter;
  gint32 partition;

  g_variant_iter_init (&iter, partitions);
  while (g_variant_iter_next (&iter, "(&si)", NULL, &partition))
    g_hash_table_remove (member->owned, GINT_TO_POINTER (partition));
}

static gboolean
each_owns_one (gpointer user_data)
{
  Member *members = user_data;

  for (guint i = 0; i < N_MEMBERS; i++)
    if (g_hash_table_size (members[i].owned) != 1)
      return FALSE;

  return TRUE;
}

static void
test_stop_members (void)
{
  g_autofree char *topic = pb_test_unique ("members");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(GHashTable) handled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Member members[N_MEMBERS];
  gboolean owner_of_zero = FALSE;

  g_test_summary ("Three members of one group, each owning one partition of three, "
                  "stop gracefully; none handles a record another handled");

  pb_test_create_topic (topic, N_MEMBERS);
  for (int p = 0; p < N_MEMBERS; p++)
    pb_test_produce_many (topic, p, 20, "v");

  for (guint i = 0; i < N_MEMBERS; i++)
    {
      g_autoptr(GError) error = NULL;

      members[i].engine = pb_test_engine_new (group);
      members[i].counter = test_counter_new (topic);
      members[i].owned = g_hash_table_new (NULL, NULL);
      g_assert_true (pb_engine_add_handler (members[i].engine, PB_HANDLER (members[i].counter), &error));
      g_assert_no_error (error);
      g_signal_connect (members[i].engine, "partitions-assigned", G_CALLBACK (owned_cb), &members[i]);
      g_signal_connect (members[i].engine, "partitions-revoked", G_CALLBACK (disowned_cb), &members[i]);
      members[i].run = pb_test_start (members[i].engine);
    }

  pb_test_wait_until (each_owns_one, members, 90000);

  for (guint i = 0; i < N_MEMBERS; i++)
    owner_of_zero |= g_hash_table_contains (members[i].owned, GINT_TO_POINTER (0));
  g_assert_true (owner_of_zero);

  for (guint i = 0; i < N_MEMBERS; i++)
    pb_engine_stop (members[i].engine);

  for (guint i = 0; i < N_MEMBERS; i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (pb_test_finish (members[i].run, FALSE, &error));
      g_assert_no_error (error);
      g_assert_cmpint (pb_engine_get_state (members[i].engine), ==, PB_ENGINE_STATE_STOPPED);

      for (guint j = 0; j < members[i].counter->records->len; j++)
        g_assert_true (g_hash_table_add (handled, g_strdup (g_ptr_array_index (members[i].counter->records, j))));

      g_clear_object (&members[i].engine);
      g_clear_object (&members[i].counter);
      g_clear_pointer (&members[i].owned, g_hash_table_unref);
    }
}

/* Members in processes of their own, stopped with SIGTERM. */

#define N_PROCESSES   3
#define N_PARTITIONS 12

typedef struct
{
  PbTestProcess *process;
  GHashTable    *owned;
  gboolean       stopped;
} Process;

static void
line_cb (char     **words,
         gpointer   user_data)
{
  Process *process = user_data;

  if (g_strcmp0 (words[0], "assigned") == 0)
    g_hash_table_add (process->owned, GINT_TO_POINTER (atoi (words[2])));
  else if (g_strcmp0 (words[0], "revoked") == 0)
    g_hash_table_remove (process->owned, GINT_TO_POINTER (atoi (words[2])));
  else if (g_strcmp0 (words[0], "stopped") == 0)
    process->stopped = TRUE;
}

/* A member in a process of its own, with a session timeout of 6 s, or
 * with the default, 45 s, unless @fast: the group waits that long for a
 * member that was killed. */
static void
process_start (Process    *process,
               const char *group,
               const char *topic,
               gboolean    fast)
{
  process->owned = g_hash_table_new (NULL, NULL);
  process->stopped = FALSE;
  if (fast)
    process->process = pb_test_process_start (line_cb, process,
                                              "--bootstrap", pb_test_bootstrap (),
                                              "--group", group, "--topic", topic,
                                              PB_TEST_PROCESS_GROUP_ARGS, NULL);
  else
    process->process = pb_test_process_start (line_cb, process,
                                              "--bootstrap", pb_test_bootstrap (),
                                              "--group", group, "--topic", topic,
                                              "-X", "fetch.wait.max.ms=10", NULL);
}

static void
process_clear (Process *process)
{
  g_clear_pointer (&process->process, pb_test_process_free);
  g_clear_pointer (&process->owned, g_hash_table_unref);
}

static gboolean
each_process_owns_some (gpointer user_data)
{
  Process *processes = user_data;
  guint total = 0;

  for (guint i = 0; i < N_PROCESSES; i++)
    {
      if (g_hash_table_size (processes[i].owned) == 0)
        return FALSE;
      total += g_hash_table_size (processes[i].owned);
    }

  return total == N_PARTITIONS;
}


static void
test_sigterm_processes (void)
{
  g_autofree char *topic = pb_test_unique ("processes");
  g_autofree char *group = pb_test_unique ("group");
  const char *consumer = g_getenv ("PB_TEST_CONSUMER");
  Process processes[N_PROCESSES];

  g_test_summary ("Three engines in processes of their own share a 12-partition topic; "
                  "SIGTERM stops each gracefully, and each exits 0");

  if (consumer == NULL)
    {
      g_test_skip ("PB_TEST_CONSUMER is not set");
      return;
    }

  pb_test_create_topic (topic, N_PARTITIONS);
  for (int p = 0; p < N_PARTITIONS; p++)
    pb_test_produce_many (topic, p, 10, "v");

  for (guint i = 0; i < N_PROCESSES; i++)
    process_start (&processes[i], group, topic, TRUE);

  pb_test_wait_until (each_process_owns_some, processes, 90000);

  for (guint i = 0; i < N_PROCESSES; i++)
    pb_test_process_signal (processes[i].process, SIGTERM);

  for (guint i = 0; i < N_PROCESSES; i++)
    {
      g_assert_cmpint (pb_test_process_wait (processes[i].process, 60000), ==, 0);
      g_assert_true (processes[i].stopped);
      process_clear (&processes[i]);
    }
}

/* A stop while joining a group whose previous member was killed. */

static gboolean
process_owns_some (gpointer user_data)
{
  return g_hash_table_size (((Process *)user_data)->owned) > 0;
}

static gboolean
time_passed (gpointer user_data)
{
  return g_get_monotonic_time () >= *(gint64 *)user_data;
}

static void
test_stop_while_joining (void)
{
  g_autofree char *topic = pb_test_unique ("joining");
  g_autofree char *group = pb_test_unique ("group");
  const char *consumer = g_getenv ("PB_TEST_CONSUMER");
  Process killed, joiner;
  gint64 until;
  gint64 stopped_at;

  g_test_summary ("SIGTERM to a member joining a group whose previous member was killed "
                  "(the group waits 45 s for it) stops it at once, without an abort");

  if (consumer == NULL)
    {
      g_test_skip ("PB_TEST_CONSUMER is not set");
      return;
    }

  pb_test_create_topic (topic, 2);
  pb_test_produce_many (topic, 0, 3, "v");

  process_start (&killed, group, topic, FALSE);
  pb_test_wait_until (process_owns_some, &killed, 60000);
  pb_test_process_signal (killed.process, SIGKILL);
  g_assert_cmpint (pb_test_process_wait (killed.process, 30000), ==, -SIGKILL);

  process_start (&joiner, group, topic, FALSE);
  until = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  pb_test_wait_until (time_passed, &until, 10000);
  g_assert_false (process_owns_some (&joiner));

  stopped_at = g_get_monotonic_time ();
  pb_test_process_signal (joiner.process, SIGTERM);
  g_assert_cmpint (pb_test_process_wait (joiner.process, 60000), ==, 0);

  g_test_message ("stopped in %" G_GINT64_FORMAT " ms", (g_get_monotonic_time () - stopped_at) / 1000);
  g_assert_true (joiner.stopped);
  /* Generous: the group would have held it for 45 s. */
  g_assert_cmpint (g_get_monotonic_time () - stopped_at, <, 10 * G_USEC_PER_SEC);

  process_clear (&killed);
  process_clear (&joiner);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);

  g_test_add_func ("/Paperboy/Group/stop-members", test_stop_members);
  g_test_add_func ("/Paperboy/Group/sigterm-processes", test_sigterm_processes);
  g_test_add_func ("/Paperboy/Group/stop-while-joining", test_stop_while_joining);

  return g_test_run ();
}
