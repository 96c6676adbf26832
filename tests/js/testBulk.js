// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Bulk mode and Paperboy.BulkHandler from JavaScript.
//
// Run with `gjs -m testBulk.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';

import Paperboy from 'gi://Paperboy?version=1';

import {
    assert, assertEqual, assertIncludes, bytesToString, cluster, committed, finishRun, newEngine,
    produce, produceMany, runEngine, runEngineOk, runTests, test, waitFor
} from './harness.js';

const Bulk = GObject.registerClass({
    GTypeName: 'PbJsTestBulk',
}, class Bulk extends Paperboy.BulkHandler {
    constructor(params = {}) {
        super(params);
        this.batches = [];
        this.values = [];
        this.singles = [];
        this.bulkErrors = [];
        this.errors = [];
        this.poison = -1;
        this.bulkAction = Paperboy.ErrorAction.STOP;
        this.action = Paperboy.ErrorAction.STOP;
        this.singleDelayUs = 0;
    }

    vfunc_did_receive_bulk_messages(messages, context) {
        // Drops tombstones: what on_bulk gets is this array.
        return messages.filter(m => !m.is_tombstone);
    }

    vfunc_on_bulk(messages, context) {
        this.batches.push(messages.map(m => [m.get_partition(), m.get_offset()]));
        if (messages.some(m => m.get_offset() === this.poison))
            throw new RangeError('poison in the batch');
        for (const m of messages)
            this.values.push(bytesToString(m.get_value()));
        return true;
    }

    vfunc_on_bulk_error(error, messages, context) {
        this.bulkErrors.push(error.message);
        return this.bulkAction;
    }

    vfunc_on_message(message, context) {
        if (this.singleDelayUs > 0)
            GLib.usleep(this.singleDelayUs);
        if (message.get_offset() === this.poison)
            throw new RangeError('poison');
        const value = bytesToString(message.get_value());
        this.singles.push(value);
        this.values.push(value);
        return true;
    }

    vfunc_on_error(error, message, context) {
        this.errors.push(message.get_offset());
        return this.action;
    }
});

const AsyncBulk = GObject.registerClass({
    GTypeName: 'PbJsTestAsyncBulk',
}, class AsyncBulk extends Paperboy.BulkHandler {
    constructor(params = {}) {
        super(params);
        this.values = [];
    }

    async vfunc_handle_bulk(messages, context, task) {
        const values = messages.map(m => bytesToString(m.get_value()));
        await new Promise(resolve => GLib.timeout_add(GLib.PRIORITY_DEFAULT, 5, () => {
            resolve();
            return GLib.SOURCE_REMOVE;
        }));
        this.values.push(...values);
        task.return_boolean(true);
    }
});

test('bulk: batches of at most bulk_max_records, in order, committed', ({topic, group}) => {
    cluster.create_topic(topic, 2);
    produceMany(topic, 0, 300, 'a');
    produceMany(topic, 1, 200, 'b');
    produce(topic, 0, 'gone', null);
    const engine = newEngine(group, {bulk_mode: true, bulk_max_records: 64});
    const handler = new Bulk({topic});
    engine.add_handler(handler);

    // The tombstone may come in a batch of its own, after the values.
    runEngineOk(engine, {
        until: () => handler.values.length >= 500 &&
            committed(group, topic, 0) === 301 && committed(group, topic, 1) === 200,
    });

    assertEqual(engine.mode, Paperboy.EngineMode.BULK, 'mode');
    assert(handler.batches.every(b => b.length > 0 && b.length <= 64), 'batch sizes');
    assertEqual(handler.batches.reduce((n, b) => n + b.length, 0), 500, 'records in batches');
    for (const [partition, n] of [[0, 300], [1, 200]]) {
        const offsets = handler.batches.flat().filter(([p]) => p === partition).map(([, o]) => o);
        assertEqual(offsets, [...Array(n).keys()], `offsets of partition ${partition}`);
    }
    assertEqual(handler.singles, [], 'records handled one by one');
    assertEqual(committed(group, topic, 0), 301, 'committed offset of partition 0');
    assertEqual(committed(group, topic, 1), 200, 'committed offset of partition 1');
});

test('bulk: a throw stops the engine and commits nothing of the batch', ({topic, group}) => {
    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 40, 'v');
    const engine = newEngine(group, {bulk_mode: true, bulk_max_records: 10, fail_on_exception: true});
    const handler = new Bulk({topic});
    handler.poison = 17;
    engine.add_handler(handler);

    const {ok, error} = runEngine(engine);
    assertEqual(ok, false, 'run() result');
    assert(error instanceof GLib.Error && error.matches(Paperboy.Error, Paperboy.Error.HANDLER), 'a HANDLER error');
    assertIncludes(error.message, 'PbJsTestBulk.on_bulk() threw RangeError: poison in the batch', 'error message');
    assertEqual(handler.bulkErrors.length, 1, 'on_bulk_error calls');
    const failed = handler.batches[handler.batches.length - 1];
    assertEqual(committed(group, topic, 0), failed[0][1], 'committed offset: the failed batch start');
});

test('bulk: SPLIT hands the failed batch over one by one to find the poison record', ({topic, group}) => {
    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 40, 'v');
    const engine = newEngine(group, {bulk_mode: true, bulk_max_records: 10, fail_on_exception: true});
    const handler = new Bulk({topic});
    handler.poison = 17;
    handler.bulkAction = Paperboy.ErrorAction.SPLIT;
    handler.action = Paperboy.ErrorAction.CONTINUE;
    engine.add_handler(handler);

    runEngineOk(engine, {until: () => handler.values.length >= 39});
    assertEqual(handler.errors, [17], 'on_error calls');
    const failed = handler.batches.find(b => b.some(([, o]) => o === 17));
    assertEqual(handler.singles.length, failed.length - 1, 'records handled one by one');
    assert(!handler.values.includes('v-17'), 'the poison record is not handled');
    assertEqual(committed(group, topic, 0), 40, 'committed offset');
});

test('bulk: an async vfunc_handle_bulk', ({topic, group}) => {
    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 100, 'v');
    const engine = newEngine(group, {bulk_mode: true, bulk_max_records: 16});
    const handler = new AsyncBulk({topic});
    engine.add_handler(handler);

    runEngineOk(engine, {until: () => handler.values.length >= 100});
    assertEqual(handler.values, [...Array(100).keys()].map(i => `v-${i}`), 'values');
    assertEqual(committed(group, topic, 0), 100, 'committed offset');
});

test('bulk: a backlog switches to Bulk and back, twice, with mode-changed', async ({topic, group}) => {
    cluster.create_topic(topic, 1);
    const engine = newEngine(group, {
        bulk_lag_threshold: 1000, single_lag_threshold: 50, mode_switch_dwell_ms: 200,
    });
    const handler = new Bulk({topic});
    handler.singleDelayUs = 300;
    engine.add_handler(handler);
    const modes = [];
    engine.connect('mode-changed', (e, mode) => modes.push(mode));

    const run = engine.run_async(null);
    await waitFor(() => engine.state === Paperboy.EngineState.RUNNING, 'running');
    for (let round = 0; round < 2; round++) {
        produceMany(topic, 0, 8000, `r${round}`);
        // eslint-disable-next-line no-await-in-loop
        await waitFor(() => modes.length >= 2 * (round + 1) && handler.values.length >= 8000 * (round + 1),
            `round ${round}`, 60000);
    }
    engine.stop();
    assertEqual(await finishRun(engine, run), true, 'run_finish() result');
    const {BULK, SINGLE} = Paperboy.EngineMode;
    assertEqual(modes, [BULK, SINGLE, BULK, SINGLE], 'modes');
    assertEqual(handler.values.length, 16000, 'records handled');
    assertEqual(committed(group, topic, 0), 16000, 'committed offset');
});

runTests();
