/* pb-test-util.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <paperboy.h>
#include <librdkafka/rdkafka.h>

G_BEGIN_DECLS

/* g_test_init() plus what every Paperboy test needs: warnings are not
 * fatal (fault tests expect them), criticals are. */
void           pb_test_init           (int          *argc,
                                       char       ***argv);

/* The cluster the tests run against: a mock cluster shared by the test
 * binary, or the one PAPERBOY_TEST_BOOTSTRAP names. */
const char    *pb_test_bootstrap      (void);
/* NULL when running against an external cluster. */
PbMockCluster *pb_test_mock_cluster   (void);
gboolean       pb_test_is_external    (void);

/* A name no other test of this run uses. */
char          *pb_test_unique         (const char   *prefix);

void           pb_test_create_topic   (const char   *topic,
                                       int           partitions);
/* Produces and waits for the acknowledgement. @key or @value NULL
 * produces a null one. Returns the offset. */
gint64         pb_test_produce        (const char   *topic,
                                       int           partition,
                                       const char   *key,
                                       const char   *value);
/* Produces a record with @headers (owned), which librdkafka's API lets a
 * test build byte by byte. Returns the offset. */
gint64         pb_test_produce_with_headers (const char          *topic,
                                             int                  partition,
                                             const char          *value,
                                             rd_kafka_headers_t  *headers);
/* Produces @n records "<prefix>-<i>" with keys "k-<i>". */
/* Takes @headers (nullable); a NULL @value is a tombstone. */
gint64         pb_test_produce_full   (const char          *topic,
                                       int                  partition,
                                       const char          *key,
                                       const char          *value,
                                       rd_kafka_headers_t  *headers);
void           pb_test_produce_many   (const char   *topic,
                                       int           partition,
                                       guint         n,
                                       const char   *prefix);
/* The committed offset of @group, or -1. */
gint64         pb_test_committed      (const char   *group,
                                       const char   *topic,
                                       int           partition);

/* An engine on the test cluster with settings that keep group tests
 * fast (session.timeout.ms 6000, fetch.wait.max.ms 10...). */
PbEngine      *pb_test_engine_new     (const char   *group_id);

typedef gboolean (*PbTestCondition) (gpointer user_data);

/* Iterates the thread-default main context until @condition holds;
 * fails the test after @timeout_ms. */
void           pb_test_wait_until     (PbTestCondition  condition,
                                       gpointer         user_data,
                                       guint            timeout_ms);

/* Runs @engine until @condition holds (NULL: until it stops by itself),
 * then stops it and waits for the run to end. Returns the run's result. */
gboolean       pb_test_run_until      (PbEngine        *engine,
                                       PbTestCondition  condition,
                                       gpointer         user_data,
                                       guint            timeout_ms,
                                       GError         **error);

/* Starts @engine; pb_test_finish() stops it and returns the result. */
typedef struct _PbTestRun PbTestRun;
PbTestRun     *pb_test_start          (PbEngine        *engine);
gboolean       pb_test_run_is_done    (PbTestRun       *run);
gboolean       pb_test_finish         (PbTestRun       *run,
                                       gboolean         stop,
                                       GError         **error);

/* Waits until @engine has partitions assigned. */
void           pb_test_wait_assigned  (PbEngine        *engine,
                                       guint            timeout_ms);

/* Every state @engine goes through from now on (PbEngineState), until the
 * returned array's last reference is dropped and the engine finalized. */
GArray        *pb_test_record_states  (PbEngine        *engine);

/* A topic and a group of their own, for a test case. */
typedef struct
{
  char *topic;
  char *group;
} PbTestFixture;

void           pb_test_fixture_set_up       (PbTestFixture      *fixture,
                                             gconstpointer       user_data);
void           pb_test_fixture_tear_down    (PbTestFixture      *fixture,
                                             gconstpointer       user_data);

/* A test case under /Paperboy/Engine/ with a PbTestFixture. */
#define PB_TEST_ADD(path, func, data) \
  g_test_add ("/Paperboy/Engine/" path, PbTestFixture, data, \
              pb_test_fixture_set_up, func, pb_test_fixture_tear_down)

void           pb_test_add_handler          (PbEngine           *engine,
                                             gpointer            handler);
/* The same, dropping the caller's reference. */
void           pb_test_add_new_handler      (PbEngine           *engine,
                                             gpointer            handler);

/* records[i] is "topic/partition/offset/value". */
void           pb_test_assert_record        (GPtrArray          *records,
                                             guint               i,
                                             const char         *topic,
                                             int                 partition,
                                             gint64              offset,
                                             const char         *value);
void           pb_test_assert_events        (GPtrArray          *events,
                                             const char * const *expected);
GError        *pb_test_error_at             (GPtrArray          *errors,
                                             guint               i);

/* How many records a test handler is expected to see, and conditions for
 * pb_test_wait_until() that it did. */
void           pb_test_expect               (gpointer            handler,
                                             guint               n);
gboolean       pb_test_counter_has_expected (gpointer            counter);
gboolean       pb_test_recorder_has_expected (gpointer           recorder);
gboolean       pb_test_async_has_expected   (gpointer            handler);

/* A pb-test-consumer process (PB_TEST_CONSUMER), given the arguments
 * after its name: each line it prints reaches @func as words, from the
 * thread-default main context, while the test waits. */
typedef struct _PbTestProcess PbTestProcess;

/* The arguments that keep a process's group quick, as
 * pb_test_engine_new() does for an engine of the test. */
#define PB_TEST_PROCESS_GROUP_ARGS \
  "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "-X", "fetch.wait.max.ms=10"

typedef void (*PbTestLineFunc) (char     **words,
                                gpointer   user_data);

PbTestProcess *pb_test_process_start   (PbTestLineFunc  func,
                                        gpointer        user_data,
                                        const char     *first_arg,
                                        ...) G_GNUC_NULL_TERMINATED;
/* Whether it closed its output (it ended, or is ending): a condition for
 * pb_test_wait_until(). */
gboolean       pb_test_process_is_done (gpointer        process);
void           pb_test_process_signal  (PbTestProcess  *process,
                                        int             signum);
/* Waits for its end: its exit status, or minus the signal that ended it. */
int            pb_test_process_wait    (PbTestProcess  *process,
                                        guint           timeout_ms);
/* Kills it first when it still runs. */
void           pb_test_process_free    (PbTestProcess  *process);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PbTestProcess, pb_test_process_free)

char          *pb_test_bytes_to_string (GBytes         *bytes);
/* Removes a file or a directory and all it holds, if it exists. */
void           pb_test_remove_tree     (const char     *path);

G_END_DECLS
