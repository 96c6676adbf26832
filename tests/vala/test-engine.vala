/* test-engine.vala
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The Paperboy API through its generated VAPI: handlers overriding
 * on_message, on_error and an async handle_async, a handler registered with
 * typeof (), an engine on an embedded mock:// cluster, and commits.
 */

const uint RUN_TIMEOUT_MS = 30000;

static int unique_counter = 0;
static uint32 run_id = 0;

static string unique (string prefix) {
    if (run_id == 0)
        run_id = Random.next_int () | 1;
    return "%s-vala-%08x-%u-%d".printf (prefix, run_id, (uint) (get_real_time () % 100000), ++unique_counter);
}

static Bytes bytes (string text) {
    return new Bytes (text.data);
}

static string bytes_to_string (Bytes? value) {
    if (value == null)
        return "(null)";

    unowned uint8[]? data = value.get_data ();
    if (data == null || data.length == 0)
        return "";

    var builder = new StringBuilder.sized (data.length + 1);
    builder.append_len ((string) data, data.length);
    return builder.str;
}

static string join (GenericArray<string> items) {
    var builder = new StringBuilder ();

    for (uint i = 0; i < items.length; i++) {
        if (i > 0)
            builder.append_c (' ');
        builder.append (items[i]);
    }
    return builder.str;
}

static string describe_error (GLib.Error error) {
    return "%s:%d:%s".printf (error.domain.to_string (), error.code, error.message);
}

/* Checks that each partition's ids ("partition/offset") go 0, 1, 2, ... */
static void assert_partition_order (GenericArray<string> ids, int n_partitions, int per_partition) {
    var last = new int[n_partitions];

    for (int p = 0; p < n_partitions; p++)
        last[p] = -1;

    for (uint i = 0; i < ids.length; i++) {
        var parts = ids[i].split ("/");
        int partition = int.parse (parts[0]);
        int offset = int.parse (parts[1]);

        if (offset != last[partition] + 1)
            GLib.error ("partition %d went from offset %d to %d in: %s",
                        partition, last[partition], offset, join (ids));
        last[partition] = offset;
    }

    for (int p = 0; p < n_partitions; p++)
        assert_cmpint (last[p], CompareOperator.EQ, per_partition - 1);
}

/* A synchronous handler: records what it handles, fails at one offset. */
public class ValaTestRecorder : Pb.Handler {
    public GenericArray<string> handled = new GenericArray<string> ();
    public GenericArray<string> errors = new GenericArray<string> ();
    public int64 fail_at = -1;
    public Pb.ErrorAction action = Pb.ErrorAction.CONTINUE;

    public ValaTestRecorder (string topic) {
        Object (topic: topic);
    }

    public override bool on_message (Pb.Message message, Object? context) throws GLib.Error {
        assert_null (context);
        assert_cmpstr (message.get_topic (), CompareOperator.EQ, topic);

        handled.add ("%d/%s/%s".printf (message.get_partition (), message.get_offset ().to_string (),
                                        bytes_to_string (message.get_value ())));

        if (message.get_offset () == fail_at)
            throw new IOError.INVALID_DATA ("planned failure at %s", message.get_offset ().to_string ());
        return true;
    }

    public override Pb.ErrorAction on_error (GLib.Error error, Pb.Message message, Object? context) {
        errors.add ("%s@%s".printf (describe_error (error), message.get_offset ().to_string ()));
        return action;
    }
}

/* An asynchronous handler: an async override of handle_async that yields
 * to the main loop, with shorter delays for later records so that the
 * engine's per-partition ordering is what keeps them in order. */
public class ValaTestAsync : Pb.Handler {
    public GenericArray<string> started = new GenericArray<string> ();
    public GenericArray<string> done = new GenericArray<string> ();
    public GenericArray<string> errors = new GenericArray<string> ();
    public int fail_partition = -1;
    public int64 fail_offset = -1;
    public int in_flight = 0;
    public int max_in_flight = 0;

    public ValaTestAsync (string topic) {
        Object (topic: topic);
    }

    public override async bool handle_async (Pb.Message message, Object? context,
                                             Cancellable? cancellable) throws GLib.Error {
        var id = "%d/%s".printf (message.get_partition (), message.get_offset ().to_string ());
        uint delay = 2 + (uint) ((7 - message.get_offset () % 4) * 3) + message.get_partition ();

        assert_nonnull (cancellable);
        started.add (id);
        in_flight++;
        max_in_flight = int.max (max_in_flight, in_flight);

        Timeout.add (delay, handle_async.callback);
        yield;

        in_flight--;
        if (message.get_partition () == fail_partition && message.get_offset () == fail_offset)
            throw new IOError.PERMISSION_DENIED ("asynchronous failure at %s", id);

        done.add (id);
        return true;
    }

    public override Pb.ErrorAction on_error (GLib.Error error, Pb.Message message, Object? context) {
        errors.add ("%s@%d/%s".printf (describe_error (error), message.get_partition (),
                                       message.get_offset ().to_string ()));
        return Pb.ErrorAction.CONTINUE;
    }
}

/* Registered with typeof (): the engine creates it with no properties, so
 * it takes its topic from a static variable in its construct block. */
static string? typed_topic = null;

public class ValaTestTyped : Pb.Handler {
    public static int n_instances = 0;
    public GenericArray<string> handled = new GenericArray<string> ();

    construct {
        topic = typed_topic;
        n_instances++;
    }

    public override bool on_message (Pb.Message message, Object? context) throws GLib.Error {
        handled.add ("%s/%s".printf (message.get_offset ().to_string (), bytes_to_string (message.get_value ())));
        return true;
    }
}

delegate bool Condition ();

/* Runs @engine with run () until @condition holds, then stops it; or until
 * it stops by itself when @condition is null. A run that does not get there
 * within RUN_TIMEOUT_MS fails the test. */
static bool run_until (Pb.Engine engine, Condition? condition) throws GLib.Error {
    bool timed_out = false;
    uint poll_id = 0;
    uint safety_id = 0;
    bool ok = false;
    GLib.Error? run_error = null;

    if (condition != null) {
        poll_id = Timeout.add (10, () => {
            if (!condition ())
                return Source.CONTINUE;
            poll_id = 0;
            engine.stop ();
            return Source.REMOVE;
        });
    }
    safety_id = Timeout.add (RUN_TIMEOUT_MS, () => {
        safety_id = 0;
        timed_out = true;
        engine.stop ();
        return Source.REMOVE;
    });

    try {
        ok = engine.run ();
    } catch (GLib.Error e) {
        run_error = e.copy ();
    }

    if (poll_id != 0)
        Source.remove (poll_id);
    if (safety_id != 0)
        Source.remove (safety_id);
    if (timed_out)
        GLib.error ("the engine did not get there within %u ms", RUN_TIMEOUT_MS);
    if (run_error != null)
        throw run_error;
    return ok;
}

static void configure (Pb.Engine engine) throws GLib.Error {
    engine.commit_interval_ms = 200;
    engine.set_config ("session.timeout.ms", "6000");
    engine.set_config ("heartbeat.interval.ms", "500");
    engine.set_config ("fetch.wait.max.ms", "10");
}

static void produce_many (Pb.MockCluster cluster, string topic, int partition, int n, string prefix) throws GLib.Error {
    for (int i = 0; i < n; i++) {
        int64 offset = cluster.produce (topic, partition, bytes ("k-%d".printf (i)),
                                        bytes ("%s-%d".printf (prefix, i)), null);
        assert_cmpint ((int) offset, CompareOperator.EQ, i);
    }
}

/* Three handlers on one engine: synchronous, asynchronous and by type. */
static void test_handlers () {
    var group = unique ("group");
    var sync_topic = unique ("sync");
    var async_topic = unique ("async");
    var typed = unique ("typed");
    var engine = new Pb.Engine ("mock://", group);
    var recorder = new ValaTestRecorder (sync_topic);
    var async_handler = new ValaTestAsync (async_topic);

    try {
        unowned Pb.MockCluster? cluster = engine.mock_cluster;
        assert_nonnull (cluster);
        assert_cmpstr (engine.bootstrap_servers, CompareOperator.EQ, cluster.bootstrap_servers);

        configure (engine);
        engine.max_in_flight = 2;

        cluster.create_topic (sync_topic, 1);
        cluster.create_topic (async_topic, 2);
        cluster.create_topic (typed, 1);
        produce_many (cluster, sync_topic, 0, 6, "v");
        produce_many (cluster, async_topic, 0, 6, "a");
        produce_many (cluster, async_topic, 1, 6, "b");
        produce_many (cluster, typed, 0, 3, "t");

        recorder.fail_at = 2;
        async_handler.fail_partition = 1;
        async_handler.fail_offset = 3;

        engine.add_handler (recorder);
        engine.add_handler (async_handler);
        typed_topic = typed;
        ValaTestTyped.n_instances = 0;
        engine.add_handler_type (typeof (ValaTestTyped));
        typed_topic = null;

        var handlers = engine.get_handlers ();
        assert_cmpuint (handlers.length, CompareOperator.EQ, 3);
        assert_true (handlers[0] == recorder);
        assert_true (handlers[1] == async_handler);
        assert_true (handlers[2] is ValaTestTyped);
        assert_cmpint (ValaTestTyped.n_instances, CompareOperator.EQ, 1);
        var typed_handler = (ValaTestTyped) handlers[2];
        assert_cmpstr (typed_handler.topic, CompareOperator.EQ, typed);

        assert_true (run_until (engine, () => {
            return recorder.handled.length >= 6 &&
                   async_handler.done.length + async_handler.errors.length >= 12 &&
                   typed_handler.handled.length >= 3;
        }));
        assert_true (engine.state == Pb.EngineState.STOPPED);

        /* In order, with the error of record 2 in on_error, and the rest handled. */
        assert_cmpstr (join (recorder.handled), CompareOperator.EQ,
                       "0/0/v-0 0/1/v-1 0/2/v-2 0/3/v-3 0/4/v-4 0/5/v-5");
        assert_cmpstr (join (recorder.errors), CompareOperator.EQ,
                       "g-io-error-quark:%d:planned failure at 2@2".printf (IOError.INVALID_DATA));

        /* Asynchronous: per-partition order, at most max_in_flight at once. */
        assert_partition_order (async_handler.started, 2, 6);
        assert_cmpuint (async_handler.done.length, CompareOperator.EQ, 11);
        assert_cmpint (async_handler.max_in_flight, CompareOperator.LE, 2);
        assert_cmpstr (join (async_handler.errors), CompareOperator.EQ,
                       "g-io-error-quark:%d:asynchronous failure at 1/3@1/3".printf (IOError.PERMISSION_DENIED));

        assert_cmpstr (join (typed_handler.handled), CompareOperator.EQ, "0/t-0 1/t-1 2/t-2");

        /* Everything counts as handled (on_error said CONTINUE): all committed. */
        assert_cmpint ((int) cluster.get_committed_offset (group, sync_topic, 0), CompareOperator.EQ, 6);
        assert_cmpint ((int) cluster.get_committed_offset (group, async_topic, 0), CompareOperator.EQ, 6);
        assert_cmpint ((int) cluster.get_committed_offset (group, async_topic, 1), CompareOperator.EQ, 6);
        assert_cmpint ((int) cluster.get_committed_offset (group, typed, 0), CompareOperator.EQ, 3);
    } catch (GLib.Error e) {
        GLib.error ("unexpected error: %s", describe_error (e));
    }
}

/* fail_on_exception with STOP, through run_async: the run ends with the
 * handler's error, and the failing record is the first one not committed. */
static void test_fail_on_exception () {
    var group = unique ("group");
    var topic = unique ("topic");
    Pb.MockCluster cluster;
    Pb.Engine engine;
    var recorder = new ValaTestRecorder (topic);
    var states = new GenericArray<string> ();
    var loop = new MainLoop ();
    bool finished = false;
    bool ok = true;
    GLib.Error? run_error = null;

    try {
        /* A cluster of its own, shared with the engines through mock-cluster. */
        cluster = new Pb.MockCluster (1);
        engine = (Pb.Engine) Object.new (typeof (Pb.Engine),
                                         "mock-cluster", cluster,
                                         "group-id", group,
                                         "fail-on-exception", true);
        assert_true (engine.mock_cluster == cluster);
        assert_cmpstr (engine.bootstrap_servers, CompareOperator.EQ, cluster.bootstrap_servers);
        configure (engine);
        cluster.create_topic (topic, 1);
        produce_many (cluster, topic, 0, 5, "v");

        /* Bad configuration is an error in the Pb.Error domain. */
        try {
            engine.set_config ("no.such.key", "1");
            assert_not_reached ();
        } catch (GLib.Error e) {
            assert_error (e, Pb.Error.quark (), Pb.Error.CONFIG);
        }

        recorder.fail_at = 2;
        recorder.action = Pb.ErrorAction.STOP;
        engine.add_handler (recorder);
        engine.notify["state"].connect (() => {
            states.add (engine.state.to_string ());
        });

        bool timed_out = false;
        var safety_id = Timeout.add (RUN_TIMEOUT_MS, () => {
            timed_out = true;
            loop.quit ();
            return Source.REMOVE;
        });
        engine.run_async.begin (null, (obj, res) => {
            try {
                ok = engine.run_async.end (res);
            } catch (GLib.Error e) {
                ok = false;
                run_error = e.copy ();
            }
            finished = true;
            loop.quit ();
        });
        if (!finished)
            loop.run ();
        if (timed_out)
            GLib.error ("the run did not end within %u ms", RUN_TIMEOUT_MS);
        Source.remove (safety_id);

        assert_false (ok);
        assert_error (run_error, IOError.quark (), IOError.INVALID_DATA);
        assert_cmpstr (run_error.message, CompareOperator.EQ, "planned failure at 2");
        assert_cmpstr (join (recorder.handled), CompareOperator.EQ, "0/0/v-0 0/1/v-1 0/2/v-2");
        assert_cmpuint (recorder.errors.length, CompareOperator.EQ, 1);
        assert_cmpstr (join (states), CompareOperator.EQ,
                       "PB_ENGINE_STATE_STARTING PB_ENGINE_STATE_JOINING PB_ENGINE_STATE_RUNNING " +
                       "PB_ENGINE_STATE_STOPPING PB_ENGINE_STATE_FAILED");
        assert_cmpint ((int) cluster.get_committed_offset (group, topic, 0), CompareOperator.EQ, 2);

        /* A new engine of the group starts with the failed record. */
        var engine2 = new Pb.Engine (cluster.bootstrap_servers, group);
        var recorder2 = new ValaTestRecorder (topic);
        configure (engine2);
        engine2.add_handler (recorder2);
        assert_true (run_until (engine2, () => recorder2.handled.length >= 3));
        assert_cmpstr (join (recorder2.handled), CompareOperator.EQ, "0/2/v-2 0/3/v-3 0/4/v-4");
        assert_cmpint ((int) cluster.get_committed_offset (group, topic, 0), CompareOperator.EQ, 5);
    } catch (GLib.Error e) {
        GLib.error ("unexpected error: %s", describe_error (e));
    }
}

int main (string[] args) {
    Test.init (ref args);

    Test.add_func ("/Paperboy/Vala/handlers", test_handlers);
    Test.add_func ("/Paperboy/Vala/fail-on-exception", test_fail_on_exception);

    return Test.run ();
}
