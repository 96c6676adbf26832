/* test-handlers.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <paperboy.h>

G_BEGIN_DECLS

/* Records what it handles; overrides on_message and on_tombstone only. */
#define TEST_TYPE_COUNTER (test_counter_get_type ())
G_DECLARE_FINAL_TYPE (TestCounter, test_counter, TEST, COUNTER, PbHandler)

struct _TestCounter
{
  PbHandler  parent_instance;
  GPtrArray *records;     /* "topic/partition/offset/value" */
  guint      n_handled;
  PbEngine  *stop_engine; /* stopped after stop_after records, if set */
  guint      stop_after;
};

TestCounter *test_counter_new      (const char  *topic);
gboolean     test_counter_has      (TestCounter *self,
                                    guint        n);

/* Overrides every synchronous vfunc and records each call in order. */
#define TEST_TYPE_RECORDER (test_recorder_get_type ())
G_DECLARE_FINAL_TYPE (TestRecorder, test_recorder, TEST, RECORDER, PbHandler)

struct _TestRecorder
{
  PbHandler      parent_instance;
  GPtrArray     *events;          /* "vfunc:offset[:detail]" */
  GPtrArray     *contexts;        /* every context created */
  GPtrArray     *errors;          /* copies of the errors on_error got */
  GPtrArray     *finished;        /* the messages on_finished_handling got */
  gint64         fail_at;         /* on_message fails at this offset */
  gboolean       fail_without_error;
  gint64         fail_finished_at;
  gint64         replace_at;      /* did_receive_message replaces it */
  gint64         skip_at;         /* did_receive_message skips it */
  PbErrorAction  action;
  gboolean       context_mismatch;
  guint          n_finished;
};

TestRecorder *test_recorder_new        (const char   *topic);
gboolean      test_recorder_finished   (TestRecorder *self,
                                        guint         n);
gboolean      test_recorder_has_event  (TestRecorder *self,
                                        const char   *event);

typedef enum
{
  TEST_ASYNC_COMPLETE,   /* return TRUE after a delay */
  TEST_ASYNC_FAIL,       /* return an error after a delay */
  TEST_ASYNC_DROP,       /* drop the task without returning it */
  TEST_ASYNC_NEVER,      /* keep the task and never return it */
  TEST_ASYNC_CANCELLABLE /* return when the task's cancellable fires */
} TestAsyncMode;

/* Overrides handle() and completes the task from a timeout. */
#define TEST_TYPE_ASYNC (test_async_get_type ())
G_DECLARE_FINAL_TYPE (TestAsync, test_async, TEST, ASYNC, PbHandler)

struct _TestAsync
{
  PbHandler      parent_instance;
  TestAsyncMode  mode;
  guint          base_delay_ms;   /* delay = base - (offset % 10) ms */
  GPtrArray     *started;         /* "partition/offset" */
  GPtrArray     *done;            /* "partition/offset" */
  GPtrArray     *kept_tasks;
  GPtrArray     *errors;
  guint          n_cancelled;
  gint64         fail_at;         /* TEST_ASYNC_COMPLETE fails there */
  PbErrorAction  action;
  guint          max_concurrent;
  guint          concurrent;
};

TestAsync *test_async_new  (const char   *topic,
                            TestAsyncMode mode);

/* Overrides the GIO pair handle_async()/handle_finish(). */
#define TEST_TYPE_GIO_ASYNC (test_gio_async_get_type ())
G_DECLARE_FINAL_TYPE (TestGioAsync, test_gio_async, TEST, GIO_ASYNC, PbHandler)

struct _TestGioAsync
{
  PbHandler  parent_instance;
  GPtrArray *done;
  gint64     fail_at;
  GPtrArray *errors;
};

/* Declares its topic in init, for registration by type. */
#define TEST_TYPE_TYPED (test_typed_get_type ())
G_DECLARE_FINAL_TYPE (TestTyped, test_typed, TEST, TYPED, PbHandler)

extern char *test_typed_topic;
extern guint test_typed_handled;

G_END_DECLS
