/* test-outcome.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "pb-outcome-private.h"
#include "pb-test-util.h"

typedef struct
{
  PbErrorAction action;
  gboolean      batch;
  gboolean      fail_on_exception;
  PbFate        fate;
  GLogLevelFlags level;   /* of what is logged */
} Case;

/* Every action answered for a record and a batch, with and without
 * fail-on-exception: the fate, and the level of its log line. */
static const Case cases[] = {
  { PB_ERROR_ACTION_CONTINUE, FALSE, FALSE, PB_FATE_HANDLED, G_LOG_LEVEL_DEBUG },
  { PB_ERROR_ACTION_CONTINUE, FALSE, TRUE,  PB_FATE_HANDLED, G_LOG_LEVEL_DEBUG },
  { PB_ERROR_ACTION_CONTINUE, TRUE,  FALSE, PB_FATE_HANDLED, G_LOG_LEVEL_DEBUG },
  { PB_ERROR_ACTION_CONTINUE, TRUE,  TRUE,  PB_FATE_HANDLED, G_LOG_LEVEL_DEBUG },
  { PB_ERROR_ACTION_STOP,     FALSE, FALSE, PB_FATE_HANDLED, G_LOG_LEVEL_WARNING },
  { PB_ERROR_ACTION_STOP,     FALSE, TRUE,  PB_FATE_FAIL,    G_LOG_LEVEL_MESSAGE },
  { PB_ERROR_ACTION_STOP,     TRUE,  FALSE, PB_FATE_HANDLED, G_LOG_LEVEL_WARNING },
  { PB_ERROR_ACTION_STOP,     TRUE,  TRUE,  PB_FATE_FAIL,    G_LOG_LEVEL_MESSAGE },
  /* Only a batch splits: for a record, SPLIT is STOP. */
  { PB_ERROR_ACTION_SPLIT,    FALSE, FALSE, PB_FATE_HANDLED, G_LOG_LEVEL_WARNING },
  { PB_ERROR_ACTION_SPLIT,    FALSE, TRUE,  PB_FATE_FAIL,    G_LOG_LEVEL_MESSAGE },
  { PB_ERROR_ACTION_SPLIT,    TRUE,  FALSE, PB_FATE_SPLIT,   G_LOG_LEVEL_DEBUG },
  { PB_ERROR_ACTION_SPLIT,    TRUE,  TRUE,  PB_FATE_SPLIT,   G_LOG_LEVEL_DEBUG },
  /* A value no action has (a binding's garbage) is STOP. */
  { 77,                       FALSE, FALSE, PB_FATE_HANDLED, G_LOG_LEVEL_WARNING },
  { 77,                       TRUE,  TRUE,  PB_FATE_FAIL,    G_LOG_LEVEL_MESSAGE },
};

typedef struct
{
  GLogLevelFlags level;
  char          *message;
  char          *offset;
  guint          count;
} Logged;

/* What is logged while a test captures it. */
static Logged *capture;

static GLogWriterOutput
writer (GLogLevelFlags   level,
        const GLogField *fields,
        gsize            n_fields,
        gpointer         user_data)
{
  Logged *logged = capture;

  if (logged == NULL)
    return g_log_writer_default (level, fields, n_fields, user_data);

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "MESSAGE"))
        {
          g_free (logged->message);
          logged->message = g_strdup (fields[i].value);
        }
      else if (g_str_equal (fields[i].key, "PAPERBOY_OFFSET"))
        {
          g_free (logged->offset);
          logged->offset = g_strdup (fields[i].value);
        }
    }

  logged->level = level & G_LOG_LEVEL_MASK;
  logged->count++;

  return G_LOG_WRITER_HANDLED;
}

static void
test_fates (void)
{
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "broken");

  g_test_summary ("Each action of on_error() and on_bulk_error() gives its fate, for records "
                  "and batches, with and without fail-on-exception, and logs it at its level "
                  "with the record's offset and the error");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *c = &cases[i];
      PbSubject subject = { "orders", 3, 1234, c->batch ? 50 : 0, "OrderHandler" };
      PbRateLimit warnings = { .per_second = 100 };
      Logged logged = { 0, };
      PbFate fate;

      capture = &logged;
      fate = _pb_outcome_decide (&subject, error, c->action, c->fail_on_exception, &warnings);
      capture = NULL;

      g_test_message ("case %u: action %d, %s, fail-on-exception %d: fate %d, “%s”",
                      i, c->action, c->batch ? "batch" : "record", c->fail_on_exception,
                      fate, logged.message);
      g_assert_cmpint (fate, ==, c->fate);
      g_assert_cmpuint (logged.count, ==, 1);
      g_assert_cmpint (logged.level, ==, c->level);
      g_assert_cmpstr (logged.offset, ==, "1234");
      g_assert_nonnull (strstr (logged.message, "orders[3]@1234"));
      g_assert_nonnull (strstr (logged.message, "broken"));
      if (c->batch)
        g_assert_nonnull (strstr (logged.message, "50 records"));

      g_free (logged.message);
      g_free (logged.offset);
    }
}

static void
test_warnings_limited (void)
{
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "nope");
  PbSubject subject = { "orders", 0, 0, 0, "OrderHandler" };
  PbRateLimit warnings = { .per_second = 3 };
  Logged logged = { 0, };

  g_test_summary ("A flood of failed records logs at most the rate limit of warnings a "
                  "second, and each still counts as handled");

  capture = &logged;
  for (int i = 0; i < 1000; i++)
    {
      subject.offset = i;
      g_assert_cmpint (_pb_outcome_decide (&subject, error, PB_ERROR_ACTION_STOP, FALSE,
                                           &warnings), ==, PB_FATE_HANDLED);
    }
  capture = NULL;

  /* Within one or two seconds of the clock: 3 a second, and the count of
   * those left out. */
  g_assert_cmpuint (logged.count, >=, 3);
  g_assert_cmpuint (logged.count, <=, 7);
  g_free (logged.message);
  g_free (logged.offset);
}

int
main (int   argc,
      char *argv[])
{
  pb_test_init (&argc, &argv);
  g_log_set_writer_func (writer, NULL, NULL);

  g_test_add_func ("/Paperboy/Outcome/fates", test_fates);
  g_test_add_func ("/Paperboy/Outcome/warnings-limited", test_warnings_limited);

  return g_test_run ();
}
