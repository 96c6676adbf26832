// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Running, stopping and restarting engines from JavaScript.
//
// Run with `gjs -m testEngine.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

import {
    Sources, assert, assertEqual, assertError, assertIncludes, assertThrows, cluster, committed,
    finishRun, newEngine, produce, produceMany, recordStates, runEngine, runEngineOk, runTests,
    stateNames, test, waitFor
} from './harness.js';
import {AsyncHandler, Counter} from './handlers.js';

/* Stopping and restarting */

test('stop: engine.stop() from a handler; what was handled is committed', ({topic, group}) => {
    const engine = newEngine(group);
    const counter = new Counter({topic});

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 20, 'v');
    counter.engine = engine;
    counter.stopAfter = 7;
    engine.add_handler(counter);

    runEngineOk(engine);
    assertEqual(counter.records.length, 7, 'records handled');
    assertEqual(engine.state, Paperboy.EngineState.STOPPED, 'state');
    assertEqual(committed(group, topic, 0), 7, 'committed offset');
});

test('stop: in-flight handling finishes, or is abandoned after stop_timeout_ms', ({topic, group}) => {
    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 5, 'v');

    // A stop while a handling is in flight waits for it.
    const engine = newEngine(group);
    const slow = new AsyncHandler({topic});
    slow.behaviour.set(0, 'slow');
    engine.add_handler(slow);
    runEngineOk(engine, {until: () => slow.started.length >= 1});
    assertEqual([slow.started, slow.done], [['0/0'], ['0/0']], 'started and finished records');
    assertEqual(committed(group, topic, 0), 1, 'committed offset after a finished handling');

    // One that does not finish in time is abandoned, cancelled and not committed.
    const group2 = `${group}-b`;
    const engine2 = newEngine(group2, {stop_timeout_ms: 300});
    const stuck = new AsyncHandler({topic});
    stuck.behaviour.set(0, 'never');
    engine2.add_handler(stuck);
    runEngineOk(engine2, {until: () => stuck.started.length >= 1});
    assertEqual([stuck.started, stuck.done, stuck.errors], [['0/0'], [], []], 'an abandoned handling');
    assert(stuck.cancellables[0].is_cancelled(), 'the abandoned task\'s cancellable is cancelled');
    assertEqual(committed(group2, topic, 0), -1, 'nothing committed');
    stuck.kept[0].return_boolean(true);   // too late: ignored

    // The next engine starts with the abandoned record.
    const engine3 = newEngine(group2);
    const counter = new Counter({topic});
    engine3.add_handler(counter);
    runEngineOk(engine3, {until: () => counter.records.length >= 5});
    assertEqual(counter.records[0], '0/0/v-0', 'first record after the abandoned one');
});

test('stop: SIGTERM stops an engine with handle_signals gracefully', ({topic, group}) => {
    const engine = newEngine(group, {handle_signals: true});
    const counter = new Counter({topic});
    const sources = new Sources();
    let killer = null;

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 3, 'v');
    engine.add_handler(counter);
    sources.timeout(10, () => {
        if (counter.records.length < 3)
            return true;
        killer = Gio.Subprocess.new(['/bin/sh', '-c', 'kill -TERM "$PPID"'], Gio.SubprocessFlags.NONE);
        return false;
    });
    try {
        runEngineOk(engine);
    } finally {
        sources.clear();
    }
    assert(killer !== null, 'the signal was sent');
    assertEqual(engine.state, Paperboy.EngineState.STOPPED, 'state');
    assertEqual(committed(group, topic, 0), 3, 'committed offset');
});

test('restart: a new engine of the group handles only the new records', ({topic, group}) => {
    const engine = newEngine(group);
    const counter = new Counter({topic});

    cluster.create_topic(topic, 2);
    produceMany(topic, 0, 10, 'a');
    produceMany(topic, 1, 10, 'b');
    engine.add_handler(counter);
    runEngineOk(engine, {until: () => counter.records.length >= 20});
    assertEqual(counter.records.length, 20, 'records handled by the first engine');
    assertEqual(new Set(counter.records).size, 20, 'no record handled twice by the first engine');

    produceMany(topic, 0, 3, 'c');
    produceMany(topic, 1, 2, 'd');

    const engine2 = newEngine(group);
    const counter2 = new Counter({topic});
    engine2.add_handler(counter2);
    runEngineOk(engine2, {until: () => counter2.records.length >= 5});

    assertEqual(counter2.records.filter(r => r.startsWith('0/')), ['0/10/c-0', '0/11/c-1', '0/12/c-2'],
        'partition 0 after the restart');
    assertEqual(counter2.records.filter(r => r.startsWith('1/')), ['1/10/d-0', '1/11/d-1'],
        'partition 1 after the restart');
    assertEqual(committed(group, topic, 0), 13, 'committed offset of partition 0');
    assertEqual(committed(group, topic, 1), 12, 'committed offset of partition 1');
});

test('run_async: promisified, stopped with engine.stop(); states and signals', async ({topic, group}) => {
    const engine = newEngine(group);
    const counter = new Counter({topic});
    const states = recordStates(engine);
    const assigned = [];
    const revoked = [];

    cluster.create_topic(topic, 2);
    produceMany(topic, 0, 2, 'a');
    produceMany(topic, 1, 2, 'b');
    engine.add_handler(counter);
    engine.connect('partitions-assigned', (self, partitions) => {
        assigned.push({
            type: partitions.get_type_string(),
            state: self.state,
            partitions: partitions.deepUnpack(),
        });
    });
    engine.connect('partitions-revoked', (self, partitions, lost) => {
        revoked.push({partitions: partitions.deepUnpack(), lost});
    });

    const connected = [];
    engine.connect('notify::connected', self => connected.push(self.connected));

    assertEqual(engine.state, Paperboy.EngineState.STOPPED, 'state before running');
    assertEqual(engine.connected, false, 'connected before running');
    const run = engine.run_async(null);
    assert(run instanceof Promise, 'the promisified run_async returns a promise');
    assertEqual(engine.state, Paperboy.EngineState.JOINING, 'state right after run_async');

    await waitFor(() => counter.records.length >= 4, '4 records');
    assertEqual(engine.connected, true, 'connected while handling');
    engine.stop();
    assertEqual(engine.state, Paperboy.EngineState.STOPPING, 'state right after stop()');
    assertEqual(await finishRun(engine, run), true, 'run_finish() result');

    assertEqual(stateNames(states), ['STARTING', 'JOINING', 'RUNNING', 'STOPPING', 'STOPPED'], 'states');
    assertEqual(connected, [true, false], 'notify::connected');
    assertEqual(engine.get_connected(), false, 'connected after the run');
    assertEqual(assigned.length, 1, 'partitions-assigned emissions');
    assertEqual(assigned[0].type, 'a(si)', 'partitions-assigned variant type');
    assertEqual(assigned[0].state, Paperboy.EngineState.RUNNING, 'state during partitions-assigned');
    assertEqual(assigned[0].partitions.sort(), [[topic, 0], [topic, 1]], 'assigned partitions');
    assertEqual(revoked.map(r => [r.partitions.sort(), r.lost]), [[[[topic, 0], [topic, 1]], false]],
        'partitions-revoked when leaving the group');
    assertEqual(counter.records.length, 4, 'records handled');
    assertEqual(committed(group, topic, 0), 2, 'committed offset of partition 0');
    assertEqual(committed(group, topic, 1), 2, 'committed offset of partition 1');
});

test('run_async: stopped with a Gio.Cancellable; running twice fails', async ({topic, group}) => {
    const engine = newEngine(group);
    const counter = new Counter({topic});
    const cancellable = new Gio.Cancellable();

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 3, 'v');
    engine.add_handler(counter);

    const run = engine.run_async(cancellable);
    let second = null;
    try {
        await engine.run_async(null);
    } catch (e) {
        second = e;
    }
    assertError(second, Paperboy.Error, Paperboy.Error.FAILED, 'run_async() while running');
    assertThrows(() => engine.add_handler(new Counter({topic: `${topic}-other`})),
        Paperboy.Error, Paperboy.Error.FAILED, 'add_handler() while running');

    await waitFor(() => counter.records.length >= 3, '3 records');
    cancellable.cancel();
    assertEqual(await finishRun(engine, run), true, 'a cancelled run ends gracefully');
    assertEqual(engine.state, Paperboy.EngineState.STOPPED, 'state');
    assertEqual(committed(group, topic, 0), 3, 'committed offset');

    // The engine runs again after it stopped, and resumes after what it committed.
    produceMany(topic, 0, 1, 'w');
    const again = engine.run_async(null);
    await waitFor(() => counter.records.length >= 4, 'a 4th record');
    engine.stop();
    assertEqual(await finishRun(engine, again), true, 'second run');
    assertEqual(counter.records, ['0/0/v-0', '0/1/v-1', '0/2/v-2', '0/3/w-0'], 'records of both runs');
});

const Disposer = GObject.registerClass({
    GTypeName: 'PbJsTestDisposer',
}, class Disposer extends Paperboy.Handler {
    vfunc_on_message(message) {
        this.records ??= [];
        this.records.push(message.get_offset());
        if (this.records.length === 3)
            this.engine.run_dispose();
        return true;
    }
});

test('stop: run_dispose() from a handler ends the run gracefully', ({topic, group}) => {
    const engine = newEngine(group);
    const disposer = new Disposer({topic});

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 10, 'v');
    disposer.engine = engine;
    engine.add_handler(disposer);
    runEngineOk(engine);

    assertEqual(disposer.records, [0, 1, 2], 'records handled');
    assertEqual(committed(group, topic, 0), 3, 'committed offset');
    // GJS refuses to read properties of a disposed object.
});

/* Settings and errors of a running engine */

const LiveFailer = GObject.registerClass({
    GTypeName: 'PbJsTestLiveFailer',
}, class LiveFailer extends Paperboy.Handler {
    vfunc_on_message(message) {
        const value = new TextDecoder().decode(message.get_value().toArray());

        this.seen ??= [];
        this.seen.push(value);
        if (value === 'turn-on') {
            this.engine.fail_on_exception = true;
            this.engine.handling_timeout_ms = 1000;
        }
        if (value.startsWith('bad'))
            throw new Error(value);
        return true;
    }
});

test('live settings: fail_on_exception turned on while running stops at the next failure', ({topic, group}) => {
    const engine = newEngine(group);
    const failer = new LiveFailer({topic});

    cluster.create_topic(topic, 1);
    for (const value of ['ok', 'bad-1', 'turn-on', 'ok', 'bad-2', 'never'])
        produce(topic, 0, 'k', value);
    failer.engine = engine;
    engine.add_handler(failer);

    const {error} = runEngine(engine);
    assert(error !== null, 'run() fails');
    assertIncludes(error.message, 'bad-2', 'the error');
    assertEqual(failer.seen, ['ok', 'bad-1', 'turn-on', 'ok', 'bad-2'], 'records seen');
    assertEqual(committed(group, topic, 0), 4, 'committed offset: before the failing record');
});

test('produce: a record produced while a stopping engine leaves its group fails with CANCELLED', ({topic, group}) => {
    const engine = newEngine(group);
    const counter = new Counter({topic});
    const errors = [];

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 1, 'v');
    engine.add_handler(counter);
    engine.connect('partitions-revoked', () => {
        try {
            engine.produce(`${topic}-elsewhere`, -1, null, null, null);
        } catch (e) {
            errors.push(e);
        }
    });
    runEngineOk(engine, {until: () => counter.records.length >= 1});

    assertEqual(errors.length, 1, 'failed produces');
    assertError(errors[0], Paperboy.error_quark(), Paperboy.Error.CANCELLED, 'the error');
});

test('commit_interval_ms: outside 1 to 86400000 it is refused when set; the maximum runs', ({topic, group}) => {
    const engine = newEngine(group);
    const counter = new Counter({topic});
    const before = engine.commit_interval_ms;

    // GObject refuses the value with a warning (the setter's critical
    // would be fatal under these tests' G_DEBUG).
    engine.commit_interval_ms = 86400001;
    assertEqual(engine.commit_interval_ms, before, 'the interval');

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 1, 'v');
    engine.commit_interval_ms = 86400000;
    engine.add_handler(counter);
    runEngineOk(engine, {until: () => counter.records.length >= 1});
    assertEqual(counter.records.length, 1, 'records handled');
});

System.exit(runTests());
