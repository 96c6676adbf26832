/* test-bulk.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <signal.h>
#include <string.h>

#include "pb-test-util.h"
#include "test-handlers.h"

/* Bulk mode: batches, their failures, the switch on lag, crashes and
 * groups. */

#define TEST_TYPE_BULK (test_bulk_get_type ())
G_DECLARE_FINAL_TYPE (TestBulk, test_bulk, TEST, BULK, PbBulkHandler)

struct _TestBulk
{
  PbBulkHandler  parent_instance;
  GArray        *batch_sizes;     /* guint, per batch on_bulk got */
  GPtrArray     *records;         /* "partition/offset", in the order handled */
  GArray        *last;            /* gint64 per partition: last offset handled */
  guint          n_handled;       /* by on_bulk or on_message */
  guint          n_single;        /* by on_message */
  guint          n_bulk_errors;
  guint          n_errors;        /* on_error */
  guint          n_finished;      /* records on_finished_handling got */
  gint64         fail_at;         /* a batch with this offset fails, as does on_message */
  gint64         failed_first;    /* the first offset of the failed batch */
  guint          failed_size;
  PbErrorAction  bulk_action;
  PbErrorAction  action;
  guint          bulk_delay_us;
  guint          single_delay_us;
  gboolean       async;           /* handle_bulk() completes from an idle */
};

G_DEFINE_FINAL_TYPE (TestBulk, test_bulk, PB_TYPE_BULK_HANDLER)

static void
record (TestBulk  *self,
        PbMessage *message)
{
  int partition = pb_message_get_partition (message);
  gint64 offset = pb_message_get_offset (message);

  if ((guint)partition >= self->last->len)
    {
      guint old = self->last->len;

      g_array_set_size (self->last, partition + 1);
      for (guint i = old; i < self->last->len; i++)
        g_array_index (self->last, gint64, i) = -1;
    }

  /* In order within each partition, across batches. */
  g_assert_cmpint (offset, >, g_array_index (self->last, gint64, partition));
  g_array_index (self->last, gint64, partition) = offset;
  g_ptr_array_add (self->records, g_strdup_printf ("%d/%" G_GINT64_FORMAT, partition, offset));
  self->n_handled++;
}

static gboolean
contains_poison (TestBulk  *self,
                 GPtrArray *messages)
{
  for (guint i = 0; i < messages->len; i++)
    if (pb_message_get_offset (g_ptr_array_index (messages, i)) == self->fail_at)
      return TRUE;

  return FALSE;
}

static gboolean
test_bulk_on_bulk (PbBulkHandler  *handler,
                   GPtrArray      *messages,
                   GObject        *context,
                   GError        **error)
{
  TestBulk *self = TEST_BULK (handler);

  g_assert_cmpuint (messages->len, >, 0);
  g_array_append_val (self->batch_sizes, messages->len);

  if (self->bulk_delay_us > 0)
    g_usleep (self->bulk_delay_us);

  if (contains_poison (self, messages))
    {
      self->failed_first = pb_message_get_offset (g_ptr_array_index (messages, 0));
      self->failed_size = messages->len;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "poison in the batch");
      return FALSE;
    }

  for (guint i = 0; i < messages->len; i++)
    record (self, g_ptr_array_index (messages, i));

  return TRUE;
}

static gboolean
complete_cb (gpointer user_data)
{
  GTask *task = user_data;
  TestBulk *self = g_task_get_source_object (task);
  GPtrArray *messages = g_task_get_task_data (task);
  GError *error = NULL;

  if (test_bulk_on_bulk (PB_BULK_HANDLER (self), messages, NULL, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);

  return G_SOURCE_REMOVE;
}

static gboolean
test_bulk_handle_bulk (PbBulkHandler  *handler,
                       GPtrArray      *messages,
                       GObject        *context,
                       GTask          *task,
                       GError        **error)
{
  TestBulk *self = TEST_BULK (handler);

  if (!self->async)
    return PB_BULK_HANDLER_CLASS (test_bulk_parent_class)->handle_bulk (handler, messages,
                                                                        context, task, error);

  /* The array is the engine's only for the call: keep a reference. */
  g_task_set_task_data (task, g_ptr_array_ref (messages), (GDestroyNotify) g_ptr_array_unref);
  g_timeout_add_full (G_PRIORITY_DEFAULT, 5, complete_cb, g_object_ref (task), g_object_unref);

  return TRUE;
}

static PbErrorAction
test_bulk_on_bulk_error (PbBulkHandler *handler,
                         const GError  *error,
                         GPtrArray     *messages,
                         GObject       *context)
{
  TestBulk *self = TEST_BULK (handler);

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  self->n_bulk_errors++;

  return self->bulk_action;
}

static gboolean
test_bulk_on_message (PbHandler  *handler,
                      PbMessage  *message,
                      GObject    *context,
                      GError    **error)
{
  TestBulk *self = TEST_BULK (handler);

  if (self->single_delay_us > 0)
    g_usleep (self->single_delay_us);

  if (pb_message_get_offset (message) == self->fail_at)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "poison");
      return FALSE;
    }

  record (self, message);
  self->n_single++;

  return TRUE;
}

static PbErrorAction
test_bulk_on_error (PbHandler    *handler,
                    const GError *error,
                    PbMessage    *message,
                    GObject      *context)
{
  TestBulk *self = TEST_BULK (handler);

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpint (pb_message_get_offset (message), ==, self->fail_at);
  self->n_errors++;

  return self->action;
}

static gboolean
test_bulk_on_finished_handling (PbHandler  *handler,
                                GPtrArray  *messages,
                                GObject    *context,
                                GError    **error)
{
  TEST_BULK (handler)->n_finished += messages->len;
  return TRUE;
}

static void
test_bulk_finalize (GObject *object)
{
  TestBulk *self = TEST_BULK (object);

  g_array_unref (self->batch_sizes);
  g_array_unref (self->last);
  g_ptr_array_unref (self->records);

  G_OBJECT_CLASS (test_bulk_parent_class)->finalize (object);
}

static void
test_bulk_class_init (TestBulkClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_bulk_finalize;
  PB_HANDLER_CLASS (klass)->on_message = test_bulk_on_message;
  PB_HANDLER_CLASS (klass)->on_tombstone = test_bulk_on_message;
  PB_HANDLER_CLASS (klass)->on_error = test_bulk_on_error;
  PB_HANDLER_CLASS (klass)->on_finished_handling = test_bulk_on_finished_handling;
  PB_BULK_HANDLER_CLASS (klass)->on_bulk = test_bulk_on_bulk;
  PB_BULK_HANDLER_CLASS (klass)->on_bulk_error = test_bulk_on_bulk_error;
  PB_BULK_HANDLER_CLASS (klass)->handle_bulk = test_bulk_handle_bulk;
}

static void
test_bulk_init (TestBulk *self)
{
  self->batch_sizes = g_array_new (FALSE, FALSE, sizeof (guint));
  self->last = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->records = g_ptr_array_new_with_free_func (g_free);
  self->fail_at = -1;
  self->failed_first = -1;
}

static TestBulk *
test_bulk_new (const char *topic)
{
  return g_object_new (TEST_TYPE_BULK, "topic", topic, NULL);
}

static gboolean
bulk_has_expected (gpointer user_data)
{
  TestBulk *self = user_data;

  return self->n_handled >= GPOINTER_TO_UINT (g_object_get_data (user_data, "expected"));
}

static void
expect (TestBulk *self,
        guint     n)
{
  g_object_set_data (G_OBJECT (self), "expected", GUINT_TO_POINTER (n));
}

/* Everything but the failed batch, or but its poison record once split. */
static gboolean
past_failure (gpointer user_data)
{
  TestBulk *self = user_data;

  if (self->failed_first < 0)
    return FALSE;
  if (self->bulk_action == PB_ERROR_ACTION_SPLIT)
    return self->n_handled == 49;

  return self->n_handled + self->failed_size == 50;
}

static PbEngine *
bulk_engine_new (const char *group,
                 guint       max_records)
{
  PbEngine *engine = pb_test_engine_new (group);

  g_object_set (engine,
                "bulk-mode", TRUE,
                "bulk-max-records", max_records,
                NULL);

  return engine;
}

/* Batches */

static void
test_batches (PbTestFixture *fixture,
              gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = bulk_engine_new (fixture->group, 100);
  g_autoptr(TestBulk) handler = test_bulk_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  guint total = 0, full = 0;

  g_test_summary ("A backlog is handed over in batches of at most bulk-max-records, "
                  "closed by count, in order within each partition, and committed");

  pb_test_create_topic (fixture->topic, 2);
  pb_test_produce_many (fixture->topic, 0, 1500, "a");
  pb_test_produce_many (fixture->topic, 1, 700, "b");

  pb_test_add_handler (engine, handler);
  expect (handler, 2200);
  g_assert_true (pb_test_run_until (engine, bulk_has_expected, handler, 30000, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < handler->batch_sizes->len; i++)
    {
      guint size = g_array_index (handler->batch_sizes, guint, i);

      g_assert_cmpuint (size, <=, 100);
      total += size;
      full += size == 100;
    }

  g_assert_cmpuint (total, ==, 2200);
  g_assert_cmpuint (handler->n_handled, ==, 2200);
  g_assert_cmpuint (handler->n_single, ==, 0);
  g_assert_cmpuint (full, >=, 10);
  g_assert_cmpuint (handler->n_finished, ==, 2200);
  g_assert_cmpint (pb_engine_get_mode (engine), ==, PB_ENGINE_MODE_BULK);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 1500);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 1), ==, 700);
}

static void
test_partial_batch (PbTestFixture *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = bulk_engine_new (fixture->group, 10000);
  g_autoptr(TestBulk) handler = test_bulk_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  PbTestRun *run;

  g_test_summary ("A batch smaller than bulk-max-records is handed over as soon as "
                  "nothing more is ready, without waiting for bulk-timeout-ms");

  pb_test_create_topic (fixture->topic, 1);
  g_object_set (engine, "bulk-timeout-ms", G_MAXINT32, NULL);
  pb_test_add_handler (engine, handler);
  run = pb_test_start (engine);
  pb_test_wait_assigned (engine, 30000);

  pb_test_produce_many (fixture->topic, 0, 5, "v");
  expect (handler, 5);
  pb_test_wait_until (bulk_has_expected, handler, 30000);

  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (handler->n_handled, ==, 5);
  for (guint i = 0; i < handler->batch_sizes->len; i++)
    g_assert_cmpuint (g_array_index (handler->batch_sizes, guint, i), <=, 5);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 5);
}

static void
test_plain_handler (PbTestFixture *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = bulk_engine_new (fixture->group, 50);
  g_autoptr(TestCounter) counter = test_counter_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("A plain PbHandler in Bulk mode gets each record of a batch through "
                  "on_message, in order");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 300, "v");

  pb_test_add_handler (engine, counter);
  pb_test_expect (counter, 300);
  g_assert_true (pb_test_run_until (engine, pb_test_counter_has_expected, counter, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (counter->records->len, ==, 300);
  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *value = g_strdup_printf ("v-%u", i);
      pb_test_assert_record (counter->records, i, fixture->topic, 0, i, value);
    }
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 300);
}

static void
test_async (PbTestFixture *fixture,
            gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = bulk_engine_new (fixture->group, 64);
  g_autoptr(TestBulk) handler = test_bulk_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("handle_bulk() completes its task later; the next batch waits for it");

  pb_test_create_topic (fixture->topic, 3);
  for (int p = 0; p < 3; p++)
    pb_test_produce_many (fixture->topic, p, 200, "v");

  handler->async = TRUE;
  pb_test_add_handler (engine, handler);
  expect (handler, 600);
  g_assert_true (pb_test_run_until (engine, bulk_has_expected, handler, 30000, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (handler->n_handled, ==, 600);
  for (int p = 0; p < 3; p++)
    g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, p), ==, 200);
}

/* Failures */

typedef struct
{
  gboolean      async;
  PbErrorAction bulk_action;
  PbErrorAction action;
} FailureCase;

static void
test_failure (PbTestFixture *fixture,
              gconstpointer  user_data)
{
  const FailureCase *failure = user_data;
  g_autoptr(PbEngine) engine = bulk_engine_new (fixture->group, 10);
  g_autoptr(TestBulk) handler = test_bulk_new (fixture->topic);
  g_autoptr(GError) error = NULL;
  gboolean stops;
  gboolean ok;

  g_test_summary ("A failed batch: STOP commits nothing of it, CONTINUE commits past it, "
                  "SPLIT hands its records over one by one to find the poison record");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 50, "v");

  handler->async = failure->async;
  handler->fail_at = 25;
  handler->bulk_action = failure->bulk_action;
  handler->action = failure->action;
  pb_engine_set_fail_on_exception (engine, TRUE);
  pb_test_add_handler (engine, handler);

  stops = failure->bulk_action == PB_ERROR_ACTION_STOP ||
          (failure->bulk_action == PB_ERROR_ACTION_SPLIT && failure->action == PB_ERROR_ACTION_STOP);
  ok = pb_test_run_until (engine, stops ? NULL : past_failure, handler, 30000, &error);

  g_assert_cmpuint (handler->n_bulk_errors, ==, 1);
  g_assert_cmpint (handler->failed_first, >=, 0);
  g_assert_cmpint (handler->failed_first, <=, 25);
  g_assert_cmpint (handler->failed_first + handler->failed_size, >, 25);

  if (failure->bulk_action == PB_ERROR_ACTION_STOP)
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_false (ok);
      /* Nothing of the failed batch. */
      g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, handler->failed_first);
      g_assert_cmpuint (handler->n_errors, ==, 0);
      g_assert_cmpuint (handler->n_handled, ==, handler->failed_first);
    }
  else if (failure->bulk_action == PB_ERROR_ACTION_CONTINUE)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 50);
      g_assert_cmpuint (handler->n_single, ==, 0);
      g_assert_cmpuint (handler->n_handled, ==, 50 - handler->failed_size);
    }
  else if (failure->action == PB_ERROR_ACTION_STOP)
    {
      /* Split: the records before the poison one are handled and
       * committed, the poison one stops the run. */
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_false (ok);
      g_assert_cmpuint (handler->n_errors, ==, 1);
      g_assert_cmpuint (handler->n_single, ==, 25 - handler->failed_first);
      g_assert_cmpuint (handler->n_handled, ==, 25);
      g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 25);
    }
  else
    {
      /* Split and go on past the poison record. */
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpuint (handler->n_errors, ==, 1);
      g_assert_cmpuint (handler->n_single, ==, handler->failed_size - 1);
      g_assert_cmpuint (handler->n_handled, ==, 49);
      g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 50);
    }
}

static void
test_split_single (PbTestFixture *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestBulk) handler = test_bulk_new (fixture->topic);
  g_autoptr(GError) error = NULL;

  g_test_summary ("SPLIT from on_error, for a single record, means STOP");

  pb_test_create_topic (fixture->topic, 1);
  pb_test_produce_many (fixture->topic, 0, 10, "v");

  handler->fail_at = 5;
  handler->action = PB_ERROR_ACTION_SPLIT;
  pb_engine_set_fail_on_exception (engine, TRUE);
  pb_test_add_handler (engine, handler);

  g_assert_false (pb_test_run_until (engine, NULL, NULL, 30000, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpuint (handler->n_errors, ==, 1);
  g_assert_cmpuint (handler->n_single, ==, 5);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 5);
}

/* The switch */

static void
mode_changed_cb (PbEngine     *engine,
                 PbEngineMode  mode,
                 gpointer      user_data)
{
  GArray *modes = user_data;

  g_assert_cmpint (pb_engine_get_mode (engine), ==, mode);
  g_array_append_val (modes, mode);
}

typedef struct
{
  GArray   *modes;
  guint     n;
  TestBulk *handler;
  guint     handled;
} ModeWait;

static gboolean
modes_reached (gpointer user_data)
{
  ModeWait *wait = user_data;

  return wait->modes->len >= wait->n && wait->handler->n_handled >= wait->handled;
}

static void
test_switch (PbTestFixture *fixture,
             gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestBulk) handler = test_bulk_new (fixture->topic);
  g_autoptr(GArray) modes = g_array_new (FALSE, FALSE, sizeof (PbEngineMode));
  g_autoptr(GError) error = NULL;
  ModeWait wait = { modes, 0, handler, 0 };
  PbTestRun *run;

  g_test_summary ("A backlog switches the engine to Bulk mode, draining it back to Single, "
                  "a second backlog to Bulk again; the engine stays in its group");

  pb_test_create_topic (fixture->topic, 2);
  g_object_set (engine,
                "bulk-lag-threshold", 2000,
                "single-lag-threshold", 100,
                "mode-switch-dwell-ms", 300,
                "bulk-max-records", 500,
                NULL);
  /* Slow one by one, fast in batches. */
  handler->single_delay_us = 200;
  g_signal_connect (engine, "mode-changed", G_CALLBACK (mode_changed_cb), modes);
  pb_test_add_handler (engine, handler);

  run = pb_test_start (engine);
  pb_test_wait_assigned (engine, 30000);
  g_assert_cmpint (pb_engine_get_mode (engine), ==, PB_ENGINE_MODE_SINGLE);

  for (guint round = 0; round < 2; round++)
    {
      pb_test_produce_many (fixture->topic, 0, 10000, "a");
      pb_test_produce_many (fixture->topic, 1, 10000, "b");

      /* Bulk while the backlog lasts, then Single again. */
      wait.n += 2;
      wait.handled += 20000;
      pb_test_wait_until (modes_reached, &wait, 60000);
      g_assert_cmpint (g_array_index (modes, PbEngineMode, wait.n - 2), ==, PB_ENGINE_MODE_BULK);
      g_assert_cmpint (g_array_index (modes, PbEngineMode, wait.n - 1), ==, PB_ENGINE_MODE_SINGLE);
    }

  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (modes->len, ==, 4);
  g_assert_cmpuint (handler->n_handled, ==, 40000);
  g_assert_cmpuint (handler->n_single, >, 0);
  g_assert_cmpuint (handler->batch_sizes->len, >, 0);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 0), ==, 20000);
  g_assert_cmpint (pb_test_committed (fixture->group, fixture->topic, 1), ==, 20000);
}

static void
test_lag (PbTestFixture *fixture,
          gconstpointer  user_data)
{
  g_autoptr(PbEngine) engine = pb_test_engine_new (fixture->group);
  g_autoptr(TestBulk) handler = test_bulk_new (fixture->topic);
  g_autoptr(GVariant) idle = NULL;
  g_autoptr(GError) error = NULL;
  PbTestRun *run;
  GVariantIter iter;
  const char *topic;
  gint32 partition;
  gint64 lag;
  guint n = 0;

  g_test_summary ("get_lag() gives each owned partition's lag, 0 once everything is handled");

  pb_test_create_topic (fixture->topic, 2);
  pb_test_produce_many (fixture->topic, 0, 30, "v");
  pb_test_produce_many (fixture->topic, 1, 30, "v");
  pb_test_add_handler (engine, handler);

  idle = pb_engine_get_lag (engine);
  g_assert_cmpuint (g_variant_n_children (idle), ==, 0);

  run = pb_test_start (engine);
  expect (handler, 60);
  pb_test_wait_until (bulk_has_expected, handler, 30000);

  {
    g_autoptr(GVariant) lags = pb_engine_get_lag (engine);

    g_variant_iter_init (&iter, lags);
    while (g_variant_iter_next (&iter, "(&six)", &topic, &partition, &lag))
      {
        g_assert_cmpstr (topic, ==, fixture->topic);
        g_assert_cmpint (lag, ==, 0);
        n++;
      }
  }
  g_assert_cmpuint (n, ==, 2);

  g_assert_true (pb_test_finish (run, TRUE, &error));
  g_assert_no_error (error);
}

/* Groups and crashes */

static gboolean
all_committed (gpointer user_data)
{
  const char **topic_group = user_data;

  for (int p = 0; p < 4; p++)
    if (pb_test_committed (topic_group[1], topic_group[0], p) != 600)
      return FALSE;

  return TRUE;
}

static void
test_two_members (void)
{
  g_autofree char *topic = pb_test_unique ("bulk-group");
  g_autofree char *group = pb_test_unique ("group");
  g_autoptr(GHashTable) handled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  PbEngine *engines[2];
  TestBulk *handlers[2];
  PbTestRun *runs[2];
  const char *topic_group[] = { topic, group };

  g_test_summary ("Two engines in Bulk mode share a topic: every record is handled once");

  pb_test_create_topic (topic, 4);
  for (int p = 0; p < 4; p++)
    pb_test_produce_many (topic, p, 500, "v");

  for (guint i = 0; i < 2; i++)
    {
      engines[i] = bulk_engine_new (group, 50);
      handlers[i] = test_bulk_new (topic);
      handlers[i]->bulk_delay_us = 2000;
      pb_test_add_handler (engines[i], handlers[i]);
      runs[i] = pb_test_start (engines[i]);
    }

  for (guint waited = 0; handlers[0]->n_handled + handlers[1]->n_handled < 2000; waited++)
    {
      g_assert_cmpuint (waited, <, 60000);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }

  /* Produced while both are members: each member gets some. */
  for (int p = 0; p < 4; p++)
    pb_test_produce_many (topic, p, 100, "w");
  for (guint waited = 0; handlers[0]->n_handled + handlers[1]->n_handled < 2400; waited++)
    {
      g_assert_cmpuint (waited, <, 60000);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }

  /* Committed before the stop: the mock refuses a member's final commit
   * while the other one leaves. */
  pb_test_wait_until (all_committed, topic_group, 60000);

  for (guint i = 0; i < 2; i++)
    pb_engine_stop (engines[i]);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (pb_test_finish (runs[i], FALSE, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (handlers[i]->n_handled, >, 0);

      for (guint j = 0; j < handlers[i]->records->len; j++)
        g_assert_true (g_hash_table_add (handled, g_strdup (g_ptr_array_index (handlers[i]->records, j))));

      g_object_unref (handlers[i]);
      g_object_unref (engines[i]);
    }

  g_assert_cmpuint (g_hash_table_size (handled), ==, 2400);
  for (int p = 0; p < 4; p++)
    g_assert_cmpint (pb_test_committed (group, topic, p), ==, 600);
}

typedef struct
{
  PbTestProcess *process;
  GHashTable    *handled;     /* "partition/offset" */
  gint64         batch_first; /* of the batch begun and not finished, or -1 */
  gint64         first;       /* the first offset handled, or -1 */
} Process;

static void
line_cb (char     **words,
         gpointer   user_data)
{
  Process *process = user_data;

  if (g_strcmp0 (words[0], "batch") == 0)
    process->batch_first = g_ascii_strtoll (words[2], NULL, 10);
  else if (g_strcmp0 (words[0], "handled") == 0)
    {
      gint64 offset = g_ascii_strtoll (words[2], NULL, 10);

      if (process->first < 0)
        process->first = offset;
      g_hash_table_add (process->handled, g_strdup_printf ("%s/%s", words[1], words[2]));
    }
  else if (g_strcmp0 (words[0], "finished") == 0)
    process->batch_first = -1;
}

static void
process_start (Process    *process,
               const char *topic,
               const char *group,
               const char *delay_ms)
{
  process->handled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  process->batch_first = -1;
  process->first = -1;
  process->process = pb_test_process_start (line_cb, process,
                                            "--bootstrap", pb_test_bootstrap (),
                                            "--group", group, "--topic", topic,
                                            "--bulk", "100", "--delay-ms", delay_ms,
                                            PB_TEST_PROCESS_GROUP_ARGS, NULL);
}

static void
process_clear (Process *process)
{
  g_clear_pointer (&process->process, pb_test_process_free);
  g_clear_pointer (&process->handled, g_hash_table_unref);
}

static gboolean
in_a_later_batch (gpointer user_data)
{
  Process *process = user_data;

  return g_hash_table_size (process->handled) >= 300 && process->batch_first >= 0;
}

static gboolean
handled_all (gpointer user_data)
{
  Process *process = user_data;

  return g_hash_table_contains (process->handled, "0/999") ||
         pb_test_process_is_done (process->process);
}

static void
test_crash (void)
{
  g_autofree char *topic = pb_test_unique ("bulk-crash");
  g_autofree char *group = pb_test_unique ("group");
  Process killed, next;
  gint64 committed;
  gint64 in_flight;

  g_test_summary ("A process killed in the middle of a batch: after a restart the "
                  "uncommitted batch is handled again and nothing is lost");

  if (g_getenv ("PB_TEST_CONSUMER") == NULL)
    {
      g_test_skip ("PB_TEST_CONSUMER is not set");
      return;
    }

  pb_test_create_topic (topic, 1);
  pb_test_produce_many (topic, 0, 1000, "v");

  process_start (&killed, topic, group, "150");
  pb_test_wait_until (in_a_later_batch, &killed, 60000);
  in_flight = killed.batch_first;
  pb_test_process_signal (killed.process, SIGKILL);
  g_assert_cmpint (pb_test_process_wait (killed.process, 30000), ==, -SIGKILL);

  /* The batch in flight was not committed. */
  committed = pb_test_committed (group, topic, 0);
  g_assert_cmpint (committed, <=, in_flight);
  g_assert_cmpint (committed, >=, 0);

  process_start (&next, topic, group, "0");
  pb_test_wait_until (handled_all, &next, 90000);
  g_assert_false (pb_test_process_is_done (next.process));
  pb_test_process_signal (next.process, SIGTERM);
  g_assert_cmpint (pb_test_process_wait (next.process, 30000), ==, 0);

  /* It resumed from the commit, so handled the killed batch again. */
  g_assert_cmpint (next.first, ==, committed);
  g_assert_cmpint (next.first, <=, in_flight);
  for (int offset = 0; offset < 1000; offset++)
    {
      g_autofree char *key = g_strdup_printf ("0/%d", offset);

      g_assert_true (g_hash_table_contains (killed.handled, key) ||
                     g_hash_table_contains (next.handled, key));
    }
  g_assert_cmpint (pb_test_committed (group, topic, 0), ==, 1000);

  process_clear (&killed);
  process_clear (&next);
}

int
main (int   argc,
      char *argv[])
{
  static const FailureCase stop = { FALSE, PB_ERROR_ACTION_STOP, PB_ERROR_ACTION_STOP };
  static const FailureCase go_on = { FALSE, PB_ERROR_ACTION_CONTINUE, PB_ERROR_ACTION_STOP };
  static const FailureCase split_stop = { FALSE, PB_ERROR_ACTION_SPLIT, PB_ERROR_ACTION_STOP };
  static const FailureCase split_go_on = { FALSE, PB_ERROR_ACTION_SPLIT, PB_ERROR_ACTION_CONTINUE };
  static const FailureCase async_stop = { TRUE, PB_ERROR_ACTION_STOP, PB_ERROR_ACTION_STOP };
  static const FailureCase async_split = { TRUE, PB_ERROR_ACTION_SPLIT, PB_ERROR_ACTION_CONTINUE };

  pb_test_init (&argc, &argv);

  PB_TEST_ADD ("Bulk/batches", test_batches, NULL);
  PB_TEST_ADD ("Bulk/partial-batch", test_partial_batch, NULL);
  PB_TEST_ADD ("Bulk/plain-handler", test_plain_handler, NULL);
  PB_TEST_ADD ("Bulk/async", test_async, NULL);
  PB_TEST_ADD ("Bulk/failure/stop", test_failure, &stop);
  PB_TEST_ADD ("Bulk/failure/continue", test_failure, &go_on);
  PB_TEST_ADD ("Bulk/failure/split-stop", test_failure, &split_stop);
  PB_TEST_ADD ("Bulk/failure/split-continue", test_failure, &split_go_on);
  PB_TEST_ADD ("Bulk/failure/async-stop", test_failure, &async_stop);
  PB_TEST_ADD ("Bulk/failure/async-split", test_failure, &async_split);
  PB_TEST_ADD ("Bulk/split-single", test_split_single, NULL);
  PB_TEST_ADD ("Bulk/switch", test_switch, NULL);
  PB_TEST_ADD ("Bulk/lag", test_lag, NULL);
  g_test_add_func ("/Paperboy/Engine/Bulk/two-members", test_two_members);
  g_test_add_func ("/Paperboy/Engine/Bulk/crash", test_crash);

  return g_test_run ();
}
