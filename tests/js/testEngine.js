// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The Paperboy API from JavaScript, against an embedded mock cluster.
//
// Run with `gjs -m testEngine.js [FILTER...]`: every test whose name contains
// one of the FILTERs runs (all of them without a filter). The output is TAP;
// the exit code is 1 when a test failed.
//
// Rules this file follows, because GJS needs them:
// - `engine.run(null)` and nested main loops are only started from code that
//   does not itself run inside a promise continuation (after an `await`, or
//   in a `.then()` callback): with GJS 1.74 a main loop run from there
//   dispatches nothing, not even GLib timeouts, and the process hangs.
//   Synchronous tests call `engine.run(null)`; asynchronous tests use the
//   promisified `run_async` and only await.
// - Every run has a safety timeout that stops the engine and fails the test,
//   and every test has a watchdog that ends the process if it hangs anyway.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

Gio._promisify(Paperboy.Engine.prototype, 'run_async', 'run_finish');

const RUN_TIMEOUT_MS = 30000;
const WATCHDOG_MS = 150000;

/* Test runner */

class AssertionError extends Error {
    constructor(message) {
        super(message);
        this.name = 'AssertionError';
    }
}

const tests = [];

function test(name, func) {
    tests.push({name, func});
}

let uniqueCounter = 0;
const runId = `${GLib.random_int_range(0, 0x7fffffff).toString(36)}-${Date.now() % 1000000}`;

function unique(prefix) {
    return `${prefix}-js-${runId}-${++uniqueCounter}`;
}

function describe(value) {
    if (value instanceof GLib.Error)
        return `GLib.Error[${GLib.quark_to_string(value.domain)}:${value.code}] “${value.message}”`;
    if (value instanceof Error)
        return `${value.constructor.name} “${value.message}”`;
    if (value instanceof GLib.Bytes)
        return `GLib.Bytes(${JSON.stringify(bytesToString(value))})`;
    if (value instanceof GLib.Variant)
        return `GLib.Variant(${value.print(true)})`;
    if (value === undefined)
        return 'undefined';
    try {
        return JSON.stringify(value);
    } catch {
        return String(value);
    }
}

function fail(message) {
    throw new AssertionError(message);
}

function assert(condition, what) {
    if (!condition)
        fail(`${what}: expected true, got ${describe(condition)}`);
}

function assertEqual(got, expected, what) {
    const g = JSON.stringify(got);
    const e = JSON.stringify(expected);

    if (g !== e || (got === undefined) !== (expected === undefined))
        fail(`${what}:\n    expected ${describe(expected)}\n    got      ${describe(got)}`);
}

function assertSame(got, expected, what) {
    if (got !== expected)
        fail(`${what}: expected the same object ${describe(expected)}, got ${describe(got)}`);
}

function assertError(error, domain, code, what) {
    if (!(error instanceof GLib.Error) || !error.matches(domain, code)) {
        fail(`${what}: expected a GLib.Error[${GLib.quark_to_string(domain)}:${code}], ` +
             `got ${describe(error)}`);
    }
}

function assertThrows(func, domain, code, what) {
    let error = null;

    try {
        func();
    } catch (e) {
        error = e;
    }
    if (error === null)
        fail(`${what}: expected a GLib.Error[${GLib.quark_to_string(domain)}:${code}], nothing was thrown`);
    assertError(error, domain, code, what);
    return error;
}

function assertIncludes(text, fragment, what) {
    if (typeof text !== 'string' || !text.includes(fragment))
        fail(`${what}: expected a string containing ${describe(fragment)}, got ${describe(text)}`);
}

/* Per-partition order: `ids` are "partition/offset" strings, each partition
 * must go 0, 1, 2, ... */
function assertPartitionOrder(ids, nPartitions, nPerPartition, what) {
    const last = new Array(nPartitions).fill(-1);

    for (const id of ids) {
        const [partition, offset] = id.split('/').map(Number);
        if (offset !== last[partition] + 1)
            fail(`${what}: partition ${partition} went from offset ${last[partition]} to ${offset} in ${describe(ids)}`);
        last[partition] = offset;
    }
    assertEqual(last, new Array(nPartitions).fill(nPerPartition - 1), `${what}: last offset of each partition`);
}

function runTests() {
    const filters = System.programArgs.filter(a => !a.startsWith('-'));
    const selected = tests.filter(t => filters.length === 0 || filters.some(f => t.name.includes(f)));
    const failed = [];
    const start = GLib.get_monotonic_time();

    print('TAP version 13');
    print(`1..${selected.length}`);

    selected.forEach((t, i) => {
        const context = {topic: unique('topic'), group: unique('group')};
        const testStart = GLib.get_monotonic_time();
        const watchdog = GLib.timeout_add(GLib.PRIORITY_HIGH, WATCHDOG_MS, () => {
            print(`not ok ${i + 1} - ${t.name}`);
            print(`# hung: no result after ${WATCHDOG_MS} ms, giving up`);
            System.exit(1);
            return GLib.SOURCE_REMOVE;
        });
        let error = null;

        try {
            const result = t.func(context);
            if (result instanceof Promise)
                waitForPromise(result);
        } catch (e) {
            error = e;
        }

        GLib.source_remove(watchdog);

        const seconds = ((GLib.get_monotonic_time() - testStart) / 1e6).toFixed(1);
        if (error === null) {
            print(`ok ${i + 1} - ${t.name}`);
            print(`# ${t.name}: ${seconds} s`);
        } else {
            failed.push(t.name);
            print(`not ok ${i + 1} - ${t.name}`);
            const text = error instanceof AssertionError
                ? error.message
                : `unexpected exception: ${describe(error)}`;
            for (const line of text.split('\n'))
                print(`# ${line}`);
            if (!(error instanceof AssertionError) && error?.stack) {
                for (const line of error.stack.trim().split('\n'))
                    print(`#   at ${line}`);
            } else if (error?.stack) {
                const frame = error.stack.split('\n').find(l => l !== '' &&
                    !/^(fail|assert\w*|AssertionError)@/.test(l));
                if (frame)
                    print(`#   at ${frame}`);
            }
        }
    });

    const total = ((GLib.get_monotonic_time() - start) / 1e6).toFixed(1);
    print(`# ${selected.length - failed.length} of ${selected.length} tests passed in ${total} s`);
    if (failed.length > 0)
        print(`# failed: ${failed.join(', ')}`);

    return failed.length === 0 ? 0 : 1;
}

/* Spins the default main context until @promise settles, and returns its
 * value or throws its error. Only called from the top level. */
function waitForPromise(promise) {
    const loop = new GLib.MainLoop(null, false);
    let settled = false;
    let value, error;

    promise.then(v => {
        value = v;
    }, e => {
        error = e;
    }).finally(() => {
        settled = true;
        loop.quit();
    });

    if (!settled)
        loop.run();
    if (error !== undefined)
        throw error;
    return value;
}

/* Helpers */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text) {
    return text === null ? null : new GLib.Bytes(encoder.encode(text));
}

function bytesToString(b) {
    return b === null ? null : decoder.decode(b.toArray());
}

function headersVariant(list) {
    return new GLib.Variant('a(smay)',
        list.map(([name, value]) => [name, value === null ? null : encoder.encode(value)]));
}

const cluster = Paperboy.MockCluster.new(1);

function produce(topic, partition, key, value, headers = null) {
    return cluster.produce(topic, partition, bytes(key), bytes(value), headers);
}

function produceMany(topic, partition, n, prefix) {
    for (let i = 0; i < n; i++)
        produce(topic, partition, `k-${i}`, `${prefix}-${i}`);
}

function committed(group, topic, partition) {
    return cluster.get_committed_offset(group, topic, partition);
}

function newEngine(group, props = {}) {
    const engine = new Paperboy.Engine({
        mock_cluster: cluster,
        group_id: group,
        commit_interval_ms: 200,
        ...props,
    });

    engine.set_config('session.timeout.ms', '6000');
    engine.set_config('heartbeat.interval.ms', '500');
    engine.set_config('fetch.wait.max.ms', '10');
    return engine;
}

function recordStates(engine) {
    const states = [];

    engine.connect('notify::state', () => states.push(engine.state));
    return states;
}

function stateNames(states) {
    return states.map(s => Object.keys(Paperboy.EngineState).find(k => Paperboy.EngineState[k] === s));
}

// Sources added by a run: each is removed unless it already removed itself.
class Sources {
    constructor() {
        this._ids = new Set();
    }

    timeout(ms, func) {
        const id = GLib.timeout_add(GLib.PRIORITY_DEFAULT, ms, () => {
            const again = func();
            if (!again)
                this._ids.delete(id);
            return again ? GLib.SOURCE_CONTINUE : GLib.SOURCE_REMOVE;
        });
        this._ids.add(id);
        return id;
    }

    clear() {
        for (const id of this._ids)
            GLib.source_remove(id);
        this._ids.clear();
    }
}

/* Runs @engine with engine.run() until @until returns true (then stops it),
 * or until it stops by itself when @until is null. Returns
 * {ok, error}; fails the test when the safety timeout expired. */
function runEngine(engine, {until = null, timeoutMs = RUN_TIMEOUT_MS, cancellable = null} = {}) {
    const sources = new Sources();
    let timedOut = false;
    let ok = false;
    let error = null;

    if (until !== null) {
        sources.timeout(10, () => {
            if (!until())
                return true;
            engine.stop();
            return false;
        });
    }
    sources.timeout(timeoutMs, () => {
        timedOut = true;
        engine.stop();
        return false;
    });

    try {
        ok = engine.run(cancellable);
    } catch (e) {
        error = e;
    } finally {
        sources.clear();
    }

    if (timedOut)
        fail(`the engine did not get there within ${timeoutMs} ms (run ended with ${describe(error ?? ok)})`);
    return {ok, error};
}

/* runEngine() for a run that must succeed. */
function runEngineOk(engine, options) {
    const {ok, error} = runEngine(engine, options);

    if (error !== null)
        fail(`run() threw ${describe(error)}`);
    assertEqual(ok, true, 'run() result');
}

/* Resolves once @condition is true, polling it from the main loop; rejects
 * after @timeoutMs. */
function waitFor(condition, what, timeoutMs = RUN_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
        const deadline = GLib.get_monotonic_time() + timeoutMs * 1000;

        if (condition()) {
            resolve();
            return;
        }
        GLib.timeout_add(GLib.PRIORITY_DEFAULT, 10, () => {
            if (condition()) {
                resolve();
                return GLib.SOURCE_REMOVE;
            }
            if (GLib.get_monotonic_time() > deadline) {
                reject(new AssertionError(`timed out after ${timeoutMs} ms waiting for ${what}`));
                return GLib.SOURCE_REMOVE;
            }
            return GLib.SOURCE_CONTINUE;
        });
    });
}

/* Promise of the end of a promisified run_async, with a safety timeout that
 * stops the engine and fails. */
async function finishRun(engine, runPromise, timeoutMs = RUN_TIMEOUT_MS) {
    let timedOut = false;
    const sources = new Sources();

    sources.timeout(timeoutMs, () => {
        timedOut = true;
        engine.stop();
        return false;
    });
    try {
        return await runPromise;
    } finally {
        sources.clear();
        if (timedOut)
            fail(`the run did not end within ${timeoutMs} ms`);
    }
}

/* Handlers */

const CONTINUE = Paperboy.ErrorAction.CONTINUE;
const STOP = Paperboy.ErrorAction.STOP;

const Context = GObject.registerClass({
    GTypeName: 'PbJsTestContext',
}, class Context extends GObject.Object {});

/* Counts and records what on_message sees; stops the engine after
 * `stopAfter` records when set. */
const Counter = GObject.registerClass({
    GTypeName: 'PbJsTestCounter',
}, class Counter extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.records = [];
        this.engine = null;
        this.stopAfter = 0;
    }

    vfunc_on_message(message, context) {
        this.records.push(`${message.get_partition()}/${message.get_offset()}/${bytesToString(message.get_value())}`);
        if (this.stopAfter > 0 && this.records.length === this.stopAfter)
            this.engine.stop();
        return true;
    }

    vfunc_on_tombstone(message, context) {
        this.records.push(`${message.get_partition()}/${message.get_offset()}/(tombstone)`);
        return true;
    }
});

/* Overrides every synchronous vfunc and records the calls as strings like
 * the C test's recorder, checking that each record's vfuncs all get the one
 * context created for it. */
const Recorder = GObject.registerClass({
    GTypeName: 'PbJsTestRecorder',
}, class Recorder extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.events = [];
        this.contexts = [];
        this.nDefined = 0;
        this.contextOf = new Map();     // offset -> context
        this.problems = [];
        this.seen = new Map();          // offset -> what on_message/on_tombstone saw
        this.handled = new Map();       // offset -> the message handled
        this.finished = [];
        this.errors = [];
        this.errorMessages = [];
        this.replacements = new Map();  // offset -> (message) => message or null
        this.failures = new Map();      // offset -> how to fail
        this.failContextAt = -1;        // which define_context call throws
        this.action = CONTINUE;
    }

    _checkContext(context, message, vfunc) {
        const offset = message.get_offset();
        // A record whose define_context failed has no context.
        const expected = this.contextOf.has(offset) ? this.contextOf.get(offset) : null;

        if (context !== expected)
            this.problems.push(`${vfunc}:${offset} got context ${context?.serial} instead of ${expected?.serial}`);
        if (message.get_topic() !== this.topic)
            this.problems.push(`${vfunc}:${offset} got topic ${message.get_topic()}`);
        context?.trace.push(vfunc);
    }

    _maybeFail(message, context, vfunc) {
        const offset = message.get_offset();
        const how = this.failures.get(offset);

        switch (how) {
        case undefined:
        case 'did_receive_message':
        case 'on_finished_handling':
            return true;
        case 'throw':
            throw new Error(`planned failure at ${offset}`);
        case 'throw-type':
            throw new TypeError(`planned type error at ${offset}`);
        case 'throw-gerror':
            throw new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.INVALID_DATA, `planned failure at ${offset}`);
        case 'false':
            return false;
        case 'undefined':
            return undefined;
        default:
            throw new AssertionError(`unknown failure mode ${how}`);
        }
    }

    vfunc_define_context() {
        this.events.push('define_context');
        if (this.nDefined++ === this.failContextAt)
            throw new Error('planned failure in define_context');

        const context = new Context();

        context.serial = this.contexts.length;
        context.trace = ['define_context'];
        this.contexts.push(context);
        return context;
    }

    vfunc_did_receive_message(message, context) {
        const offset = message.get_offset();

        if (context !== this.contexts[this.contexts.length - 1])
            this.problems.push(`did_receive_message:${offset} did not get the context just defined`);
        this.contextOf.set(offset, context);
        this._checkContext(context, message, 'did_receive_message');
        this.events.push(`did_receive_message:${offset}`);
        if (this.failures.get(offset) === 'did_receive_message') {
            throw new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED,
                `planned failure in did_receive_message at ${offset}`);
        }

        const replace = this.replacements.get(offset);
        return replace ? replace(message) : message;
    }

    _handle(message, context, vfunc) {
        const offset = message.get_offset();

        this._checkContext(context, message, vfunc);
        this.handled.set(offset, message);
        this.seen.set(offset, {
            key: bytesToString(message.get_key()),
            value: bytesToString(message.get_value()),
            tombstone: message.is_tombstone,
        });
        this.events.push(vfunc === 'on_tombstone'
            ? `on_tombstone:${offset}`
            : `on_message:${offset}:${bytesToString(message.get_value())}`);
        return this._maybeFail(message, context, vfunc);
    }

    vfunc_on_message(message, context) {
        return this._handle(message, context, 'on_message');
    }

    vfunc_on_tombstone(message, context) {
        return this._handle(message, context, 'on_tombstone');
    }

    vfunc_on_error(error, message, context) {
        this._checkContext(context, message, 'on_error');
        this.errors.push(error);
        this.errorMessages.push(message);
        this.events.push(`on_error:${message.get_offset()}`);
        return this.action;
    }

    vfunc_on_finished_handling(messages, context) {
        if (!Array.isArray(messages) || messages.length !== 1) {
            this.problems.push(`on_finished_handling got ${describe(messages)}`);
            return true;
        }
        this._checkContext(context, messages[0], 'on_finished_handling');
        this.finished.push(messages[0]);
        this.events.push(`on_finished_handling:${messages[0].get_offset()}`);
        if (this.failures.get(messages[0].get_offset()) === 'on_finished_handling')
            throw new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.FAILED, 'planned failure in on_finished_handling');
        return true;
    }
});

/* Asynchronous handling through vfunc_handle: each task completes later,
 * from GLib.timeout_add(), setTimeout() or a promise, after a delay that
 * makes later records of a partition finish sooner if the engine did not
 * wait. */
const AsyncHandler = GObject.registerClass({
    GTypeName: 'PbJsTestAsync',
}, class AsyncHandler extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.started = [];
        this.done = [];
        this.errors = [];
        this.inFlight = 0;
        this.maxInFlight = 0;
        this.problems = [];
        this.behaviour = new Map();   // offset -> how to complete
        this.kept = [];               // tasks never completed
        this.cancellables = [];
    }

    _complete(task, id, how) {
        this.inFlight--;
        if (how === 'error') {
            task.return_error(new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.PERMISSION_DENIED,
                `asynchronous failure at ${id}`));
        } else {
            this.done.push(id);
            task.return_boolean(true);
        }
    }

    vfunc_handle(message, context, task) {
        const partition = message.get_partition();
        const offset = message.get_offset();
        const id = `${partition}/${offset}`;
        const how = this.behaviour.get(offset) ?? 'ok';

        if (context !== null)
            this.problems.push(`handle:${id} got a context without define_context`);
        if (!(task instanceof Gio.Task))
            this.problems.push(`handle:${id} got ${describe(task)} instead of a Gio.Task`);
        const cancellable = task.get_cancellable();
        if (!(cancellable instanceof Gio.Cancellable) || cancellable.is_cancelled())
            this.problems.push(`handle:${id} got cancellable ${describe(cancellable)}`);
        this.cancellables.push(cancellable);

        this.started.push(id);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);

        const delay = 2 + ((7 - offset % 4) * 3) + partition;
        switch (how) {
        case 'throw':
            this.inFlight--;
            throw new Error(`synchronous failure at ${id}`);
        case 'false':
            this.inFlight--;
            return false;
        case 'never':
            this.inFlight--;
            this.kept.push(task);
            return true;
        case 'drop':
            this.inFlight--;
            this._collectUntilReported(offset);
            return true;
        case 'slow':
            GLib.timeout_add(GLib.PRIORITY_DEFAULT, 500, () => {
                this._complete(task, id, how);
                return GLib.SOURCE_REMOVE;
            });
            return true;
        }

        switch (offset % 3) {
        case 0:
            GLib.timeout_add(GLib.PRIORITY_DEFAULT, delay, () => {
                this._complete(task, id, how);
                return GLib.SOURCE_REMOVE;
            });
            break;
        case 1:
            setTimeout(() => this._complete(task, id, how), delay);
            break;
        default:
            this._later(delay).then(() => this._complete(task, id, how));
            break;
        }
        return true;
    }

    // Nothing may keep a dropped task: not even a closure created in
    // vfunc_handle(), since the closures there share the scope holding
    // `task`. The task is then finalized by a garbage collection once GJS let
    // go of its wrapper, which takes a few main loop iterations.
    _collectUntilReported(offset) {
        let tries = 0;

        GLib.timeout_add(GLib.PRIORITY_DEFAULT, 20, () => {
            System.gc();
            const reported = this.errors.some(e => e.offset === offset);
            return !reported && ++tries < 100 ? GLib.SOURCE_CONTINUE : GLib.SOURCE_REMOVE;
        });
    }

    async _later(ms) {
        await new Promise(resolve => setTimeout(resolve, ms));
        await null;
    }

    vfunc_on_error(error, message, context) {
        this.errors.push({offset: message.get_offset(), error});
        return CONTINUE;
    }
});

/* Registered by type: the engine creates it with no arguments, so it takes
 * its topic from this module-level variable. */
let typedTopic = null;
const typedInstances = [];

const TypedHandler = GObject.registerClass({
    GTypeName: 'PbJsTestTyped',
}, class TypedHandler extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.topic = typedTopic;
        this.label = `typed-${typedInstances.length}`;
        this.records = [];
        typedInstances.push(this);
    }

    vfunc_on_message(message, context) {
        this.records.push(`${message.get_offset()}/${bytesToString(message.get_value())}`);
        return true;
    }
});

/* Message API */

test('message: new_full, headers, null versus empty, dup, with_key, with_value', () => {
    const headers = headersVariant([['h1', 'x'], ['h2', null], ['h1', 'y'], ['empty', '']]);
    const value = new GLib.Bytes(new Uint8Array(0));
    const message = Paperboy.Message.new_full('orders', 3, 42, 1700000000123, bytes('key'), value, headers);

    assertEqual(message.get_topic(), 'orders', 'get_topic()');
    assertEqual(message.get_partition(), 3, 'get_partition()');
    assertEqual(message.get_offset(), 42, 'get_offset()');
    assertEqual(message.get_timestamp(), 1700000000123, 'get_timestamp()');
    assertEqual(bytesToString(message.get_key()), 'key', 'get_key()');
    assert(message.get_value() !== null, 'an empty value is not null');
    assertEqual(message.get_value().get_size(), 0, 'empty value size');
    assertEqual(message.is_tombstone, false, 'is_tombstone of an empty value');
    assertEqual([message.topic, message.partition, message.offset, message.timestamp],
        ['orders', 3, 42, 1700000000123], 'properties');

    // The last header of a name wins; a null header and a missing one are null.
    assertEqual(bytesToString(message.get_header('h1')), 'y', 'get_header(h1)');
    assertEqual(message.get_header('h2'), null, 'get_header() of a null header');
    assertEqual(message.get_header('missing'), null, 'get_header() of a missing header');
    assertEqual(bytesToString(message.get_header('empty')), '', 'get_header() of an empty header');
    const all = message.get_headers();
    assertEqual(all.get_type_string(), 'a(smay)', 'get_headers() type');
    assertEqual(all.n_children(), 4, 'get_headers() keeps repeated headers');
    assertEqual(all.deepUnpack().map(([name, v]) => [name, v === null ? null : decoder.decode(v)]),
        [['h1', 'x'], ['h2', null], ['h1', 'y'], ['empty', '']], 'get_headers() contents');

    // Null key and value: a tombstone without headers.
    const tombstone = Paperboy.Message.new_full('orders', 0, 7, -1, null, null, null);
    assertEqual(tombstone.get_key(), null, 'null key');
    assertEqual(tombstone.get_value(), null, 'null value');
    assertEqual(tombstone.is_tombstone, true, 'is_tombstone of a null value');
    assertEqual(tombstone.get_timestamp(), -1, 'timestamp -1');
    assertEqual(tombstone.get_headers().n_children(), 0, 'no headers is an empty a(smay)');

    // dup keeps everything.
    const copy = message.dup();
    assert(copy !== message, 'dup() makes a new object');
    assertEqual([copy.get_topic(), copy.get_partition(), copy.get_offset(), copy.get_timestamp()],
        ['orders', 3, 42, 1700000000123], 'dup() provenance');
    assertEqual(bytesToString(copy.get_key()), 'key', 'dup() key');
    assertEqual(copy.get_value().get_size(), 0, 'dup() keeps an empty value empty');
    assert(copy.get_headers().equal(headers), 'dup() headers');

    // with_key and with_value change one thing only.
    const rekeyed = message.with_key(bytes('other'));
    assertEqual(bytesToString(rekeyed.get_key()), 'other', 'with_key() key');
    assertEqual([rekeyed.get_topic(), rekeyed.get_partition(), rekeyed.get_offset(), rekeyed.get_timestamp()],
        ['orders', 3, 42, 1700000000123], 'with_key() provenance');
    assert(rekeyed.get_headers().equal(headers), 'with_key() headers');
    assertEqual(bytesToString(message.get_key()), 'key', 'with_key() leaves the original alone');
    assertEqual(message.with_key(null).get_key(), null, 'with_key(null)');

    const revalued = message.with_value(bytes('v'));
    assertEqual(bytesToString(revalued.get_value()), 'v', 'with_value() value');
    assertEqual(bytesToString(revalued.get_key()), 'key', 'with_value() key');
    assertEqual(message.with_value(null).is_tombstone, true, 'with_value(null) is a tombstone');
});

/* Properties */

test('properties: engine and handler properties, defaults, setters and notify', () => {
    const engine = Paperboy.Engine.new(null, 'g1');
    const notified = [];

    engine.connect('notify', (self, pspec) => notified.push(pspec.get_name()));
    assertEqual({
        bootstrap_servers: engine.bootstrap_servers,
        group_id: engine.get_group_id(),
        client_id: engine.client_id,
        auto_offset_reset: engine.auto_offset_reset,
        commit_interval_ms: engine.commit_interval_ms,
        fail_on_exception: engine.fail_on_exception,
        handle_signals: engine.handle_signals,
        max_in_flight: engine.max_in_flight,
        handling_timeout_ms: engine.handling_timeout_ms,
        revoke_timeout_ms: engine.revoke_timeout_ms,
        stop_timeout_ms: engine.stop_timeout_ms,
        priority: engine.priority,
        state: engine.get_state(),
        mock_cluster: engine.get_mock_cluster(),
    }, {
        bootstrap_servers: 'localhost:9092',
        group_id: 'g1',
        client_id: 'paperboy',
        auto_offset_reset: 'earliest',
        commit_interval_ms: 5000,
        fail_on_exception: false,
        handle_signals: false,
        max_in_flight: 1,
        handling_timeout_ms: 0,
        revoke_timeout_ms: 10000,
        stop_timeout_ms: 30000,
        priority: GLib.PRIORITY_DEFAULT,
        state: Paperboy.EngineState.STOPPED,
        mock_cluster: null,
    }, 'defaults');

    engine.set_group_id('g2');
    engine.set_client_id('js-client');
    engine.set_auto_offset_reset('latest');
    engine.set_commit_interval_ms(250);
    engine.set_fail_on_exception(true);
    engine.set_handle_signals(true);
    engine.set_max_in_flight(4);
    engine.handling_timeout_ms = 100;
    engine.revoke_timeout_ms = 200;
    engine.stop_timeout_ms = 300;
    engine.priority = GLib.PRIORITY_LOW;
    assertEqual(notified, ['group-id', 'client-id', 'auto-offset-reset', 'commit-interval-ms',
        'fail-on-exception', 'handle-signals', 'max-in-flight', 'handling-timeout-ms',
        'revoke-timeout-ms', 'stop-timeout-ms', 'priority'], 'notifications');
    assertEqual([engine.group_id, engine.get_client_id(), engine.get_auto_offset_reset(),
        engine.get_commit_interval_ms(), engine.get_fail_on_exception(), engine.get_handle_signals(),
        engine.get_max_in_flight(), engine.handling_timeout_ms, engine.revoke_timeout_ms,
        engine.stop_timeout_ms, engine.priority],
    ['g2', 'js-client', 'latest', 250, true, true, 4, 100, 200, 300, GLib.PRIORITY_LOW], 'values set');

    // Setting a property to its value does not notify; null restores defaults.
    notified.length = 0;
    engine.max_in_flight = 4;
    engine.fail_on_exception = true;
    assertEqual(notified, [], 'notifications of unchanged values');
    engine.set_client_id(null);
    engine.set_auto_offset_reset(null);
    engine.set_group_id(null);
    assertEqual([engine.client_id, engine.auto_offset_reset, engine.get_group_id()],
        ['paperboy', 'earliest', null], 'values reset with null');

    // Handler topics: topic is the first of topics, and setting it replaces them.
    const handler = new Counter({topics: ['a', 'b']});
    assertEqual([handler.topic, handler.get_topic(), handler.get_topics(), handler.topics],
        ['a', 'a', ['a', 'b'], ['a', 'b']], 'topics');
    handler.set_topic('c');
    assertEqual([handler.topic, handler.get_topics()], ['c', ['c']], 'set_topic()');
    handler.set_topics(['d', 'e']);
    assertEqual(handler.topics, ['d', 'e'], 'set_topics()');
    handler.topic = null;
    assertEqual([handler.topic, handler.get_topics()], [null, null], 'no topic');
});

/* Mock cluster API */

test('mock cluster: create_topic, produce offsets, committed offsets, brokers', ({topic, group}) => {
    assert(cluster.bootstrap_servers.startsWith('127.0.0.1:'), 'bootstrap_servers');
    assertEqual(cluster.get_n_brokers(), 1, 'get_n_brokers()');

    assertEqual(cluster.create_topic(topic, 2), true, 'create_topic()');
    assertEqual(cluster.create_topic(topic, 2), true, 'create_topic() of an existing topic');
    assertThrows(() => cluster.create_topic(unique('bad'), 0),
        Paperboy.Error, Paperboy.Error.CONFIG, 'create_topic() with 0 partitions');

    assertEqual([0, 1, 2].map(i => produce(topic, 0, `k${i}`, `v${i}`)), [0, 1, 2], 'offsets in partition 0');
    assertEqual(produce(topic, 1, null, null), 0, 'first offset in partition 1');
    assertEqual(produce(topic, 1, null, 'v', headersVariant([['h', 'x']])), 1, 'produce with headers');

    assertEqual(committed(group, topic, 0), -1, 'committed offset of a group that committed nothing');

    // An engine may share the cluster, or make its own from mock://N.
    const shared = newEngine(group);
    assertSame(shared.mock_cluster, cluster, 'mock_cluster of an engine given the cluster');
    assertEqual(shared.bootstrap_servers, cluster.bootstrap_servers, 'bootstrap_servers of that engine');
    const own = new Paperboy.Engine({bootstrap_servers: 'mock://3', group_id: group});
    assert(own.get_mock_cluster() instanceof Paperboy.MockCluster, 'mock:// makes a cluster');
    assertEqual(own.get_mock_cluster().n_brokers, 3, 'mock://3 has 3 brokers');
    assertEqual(own.bootstrap_servers, own.mock_cluster.bootstrap_servers, 'mock:// engine bootstrap_servers');
    assertEqual(new Paperboy.Engine({bootstrap_servers: 'localhost:9092'}).mock_cluster, null,
        'a real cluster has no mock_cluster');

    // Broker ids are 1 to n_brokers; the others are configuration errors.
    const small = new Paperboy.MockCluster({n_brokers: 2});
    assertEqual(small.n_brokers, 2, 'new MockCluster({n_brokers: 2})');
    for (const id of [0, 3, -1]) {
        const error = assertThrows(() => small.set_broker_down(id), Paperboy.Error, Paperboy.Error.CONFIG,
            `set_broker_down(${id})`);
        assertIncludes(error.message, `${id}`, 'the error names the broker');
        assertThrows(() => small.set_broker_up(id), Paperboy.Error, Paperboy.Error.CONFIG, `set_broker_up(${id})`);
    }
    assertEqual(small.set_broker_down(2), true, 'set_broker_down(2)');
    assertEqual(small.set_broker_up(2), true, 'set_broker_up(2)');
    assertEqual(cluster.set_topic_error(unique('topic'), 0), true, 'set_topic_error(topic, 0)');
});

/* Configuration and bad input */

test('bad input: set_config errors, no handler, no group, bad registrations', ({topic, group}) => {
    const engine = newEngine(group);

    for (const [key, value] of [['no.such.key', '1'], ['session.timeout.ms', 'soon'],
        ['enable.auto.commit', 'false'], ['consumer.enable.auto.offset.store', 'true'],
        ['group.id', 'other'], ['bootstrap.servers', 'elsewhere:9092']]) {
        const error = assertThrows(() => engine.set_config(key, value), Paperboy.Error, Paperboy.Error.CONFIG,
            `set_config(${key}, ${value})`);
        assertIncludes(error.message, key.replace(/^consumer\./, ''), 'the error names the key');
    }
    assertEqual(engine.set_config('consumer.fetch.wait.max.ms', '20'), true, 'set_config() of a scoped key');
    assertEqual(engine.set_config('consumer.fetch.wait.max.ms', null), true, 'set_config(key, null) removes it');

    // Running without handlers fails at once; so does running without a group.
    const states = recordStates(engine);
    const noHandler = assertThrows(() => engine.run(null), Paperboy.Error, Paperboy.Error.NO_HANDLER,
        'run() without handlers');
    assertIncludes(noHandler.message, 'handler', 'NO_HANDLER message');
    assertEqual(engine.state, Paperboy.EngineState.FAILED, 'state after a failed start');
    assertEqual(stateNames(states), ['STARTING', 'FAILED'], 'states of a failed start');

    const noGroup = newEngine(null);
    noGroup.add_handler(new Counter({topic}));
    assertThrows(() => noGroup.run(null), Paperboy.Error, Paperboy.Error.CONFIG, 'run() without a group id');

    // Registration errors.
    const first = new Counter({topic});
    engine.add_handler(first);
    const duplicate = assertThrows(() => engine.add_handler(new Counter({topic})),
        Paperboy.Error, Paperboy.Error.CONFIG, 'a second handler for a topic');
    assertIncludes(duplicate.message, topic, 'the error names the topic');
    assertThrows(() => engine.add_handler(new Counter()), Paperboy.Error, Paperboy.Error.CONFIG,
        'a handler without a topic');
    assertThrows(() => engine.add_handler(new Counter({topic: '^pattern-.*'})), Paperboy.Error,
        Paperboy.Error.CONFIG, 'a topic pattern');
    assertThrows(() => engine.add_handler_type(GObject.Object), Paperboy.Error, Paperboy.Error.CONFIG,
        'add_handler_type(GObject.Object)');
    assertThrows(() => engine.add_handler_type(Paperboy.Handler), Paperboy.Error, Paperboy.Error.CONFIG,
        'add_handler_type(Paperboy.Handler), which has no topic');
    const handlers = engine.get_handlers();
    assertEqual(handlers.length, 1, 'rejected handlers are not kept');
    assertSame(handlers[0], first, 'get_handlers()[0]');
});

test('bad input: a missing topic makes run() throw KAFKA', ({topic, group}) => {
    const engine = newEngine(group);

    cluster.set_topic_error(topic, 3);   // UNKNOWN_TOPIC_OR_PARTITION
    try {
        engine.add_handler(new Counter({topic}));
        const {error} = runEngine(engine, {timeoutMs: 60000});
        assertError(error, Paperboy.Error, Paperboy.Error.KAFKA, 'run() on a missing topic');
        assertIncludes(error.message, topic, 'the error names the topic');
        assertEqual(engine.state, Paperboy.EngineState.FAILED, 'state');
    } finally {
        cluster.set_topic_error(topic, 0);
    }
});

/* Lifecycle */

test('lifecycle: every vfunc in order, one context per record, tombstones, contents', ({topic, group}) => {
    const engine = newEngine(group);
    const recorder = new Recorder({topic});
    const headers = headersVariant([['h1', 'x'], ['h2', null], ['h1', 'y']]);

    cluster.create_topic(topic, 1);
    produce(topic, 0, 'k0', 'v0', headers);
    produce(topic, 0, 'k1', null);
    produce(topic, 0, null, '');

    engine.add_handler(recorder);
    runEngineOk(engine, {until: () => recorder.finished.length >= 3});

    assertEqual(recorder.events, [
        'define_context', 'did_receive_message:0', 'on_message:0:v0', 'on_finished_handling:0',
        'define_context', 'did_receive_message:1', 'on_tombstone:1', 'on_finished_handling:1',
        'define_context', 'did_receive_message:2', 'on_message:2:', 'on_finished_handling:2',
    ], 'vfunc calls');
    assertEqual(recorder.problems, [], 'context and message checks');

    // One context per record, carrying its JavaScript state through every step.
    assertEqual(recorder.contexts.length, 3, 'contexts created');
    assertEqual(new Set(recorder.contexts).size, 3, 'distinct contexts');
    for (const context of recorder.contexts) {
        assert(context instanceof Context, 'the context is the object define_context returned');
        assertEqual(context.trace, ['define_context', 'did_receive_message',
            context.serial === 1 ? 'on_tombstone' : 'on_message', 'on_finished_handling'],
        `steps seen by context ${context.serial}`);
    }

    // What the handler saw: null and empty are different.
    assertEqual([0, 1, 2].map(o => recorder.seen.get(o)), [
        {key: 'k0', value: 'v0', tombstone: false},
        {key: 'k1', value: null, tombstone: true},
        {key: null, value: '', tombstone: false},
    ], 'keys and values');
    const first = recorder.handled.get(0);
    assertEqual(bytesToString(first.get_header('h1')), 'y', 'last h1 header wins');
    assertEqual(first.get_header('h2'), null, 'null header');
    assertEqual(first.get_headers().n_children(), 3, 'all headers kept');
    assert(first.get_timestamp() > 0, 'a produced record has a timestamp');
    assertEqual(recorder.finished.map(m => [m.get_topic(), m.get_partition(), m.get_offset()]),
        [[topic, 0, 0], [topic, 0, 1], [topic, 0, 2]], 'messages given to on_finished_handling');

    assertEqual(committed(group, topic, 0), 3, 'committed offset');
});

test('lifecycle: did_receive_message replaces or skips records', ({topic, group}) => {
    const engine = newEngine(group);
    const recorder = new Recorder({topic});
    const made = new Map();

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 5, 'v');

    recorder.replacements.set(0, m => {
        const replacement = Paperboy.Message.new_full(m.get_topic(), m.get_partition(), m.get_offset(),
            m.get_timestamp(), m.get_key(), bytes('replaced'), m.get_headers());
        made.set(0, replacement);
        return replacement;
    });
    recorder.replacements.set(1, () => null);
    recorder.replacements.set(2, m => {
        made.set(2, m.with_value(bytes('v-2+')));
        return made.get(2);
    });
    recorder.replacements.set(3, m => {
        made.set(3, m.with_key(bytes('new-key')));
        return made.get(3);
    });
    recorder.replacements.set(4, m => {
        made.set(4, m.with_value(null));
        return made.get(4);
    });

    engine.add_handler(recorder);
    runEngineOk(engine, {until: () => recorder.finished.length >= 5});

    assertEqual(recorder.events, [
        'define_context', 'did_receive_message:0', 'on_message:0:replaced', 'on_finished_handling:0',
        'define_context', 'did_receive_message:1', 'on_finished_handling:1',
        'define_context', 'did_receive_message:2', 'on_message:2:v-2+', 'on_finished_handling:2',
        'define_context', 'did_receive_message:3', 'on_message:3:v-3', 'on_finished_handling:3',
        'define_context', 'did_receive_message:4', 'on_tombstone:4', 'on_finished_handling:4',
    ], 'vfunc calls');
    assertEqual(recorder.problems, [], 'context and message checks');

    // The replacements are the objects handled and finished.
    for (const offset of [0, 2, 3, 4]) {
        assertSame(recorder.handled.get(offset), made.get(offset), `message handled at ${offset}`);
        assertSame(recorder.finished[offset], made.get(offset), `message finished at ${offset}`);
    }
    assertEqual(recorder.seen.get(3), {key: 'new-key', value: 'v-3', tombstone: false}, 'with_key() replacement');

    // The skipped record finishes with the original message, and is committed.
    assertEqual(bytesToString(recorder.finished[1].get_value()), 'v-1', 'skipped record in on_finished_handling');
    assertEqual(recorder.errors.length, 0, 'no on_error');
    assertEqual(committed(group, topic, 0), 5, 'committed offset');
});

/* Errors */

test('errors: JS throw and GLib.Error reach on_error; CONTINUE goes on', ({topic, group}) => {
    const engine = newEngine(group, {fail_on_exception: true});
    const recorder = new Recorder({topic});

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 5, 'v');
    recorder.failures.set(1, 'throw');
    recorder.failures.set(2, 'throw-type');
    recorder.failures.set(3, 'throw-gerror');
    recorder.action = CONTINUE;

    engine.add_handler(recorder);
    runEngineOk(engine, {until: () => recorder.finished.length >= 5});

    assertEqual(recorder.problems, [], 'context and message checks');
    assertEqual(recorder.events.filter(e => e.startsWith('on_message')),
        ['on_message:0:v-0', 'on_message:1:v-1', 'on_message:2:v-2', 'on_message:3:v-3', 'on_message:4:v-4'],
        'every record handled');
    assertEqual(recorder.errorMessages.map(m => m.get_offset()), [1, 2, 3], 'offsets given to on_error');

    // GJS carried the thrown JavaScript errors through C and back: an Error
    // of the same class with the same message, not a GLib.Error.
    const [jsError, typeError, gerror] = recorder.errors;
    assert(jsError instanceof Error && !(jsError instanceof GLib.Error), `a JS Error, got ${describe(jsError)}`);
    assertEqual(jsError.message, 'planned failure at 1', 'message of the thrown Error');
    assert(typeError instanceof TypeError, `a TypeError, got ${describe(typeError)}`);
    assertEqual(typeError.message, 'planned type error at 2', 'message of the thrown TypeError');
    assertError(gerror, Gio.IOErrorEnum, Gio.IOErrorEnum.INVALID_DATA, 'the thrown GLib.Error');
    assertEqual(gerror.message, 'planned failure at 3', 'message of the thrown GLib.Error');

    // on_error runs before on_finished_handling, once per failure.
    for (const offset of [1, 2, 3]) {
        const i = recorder.events.indexOf(`on_error:${offset}`);
        assert(i >= 0 && i + 1 === recorder.events.indexOf(`on_finished_handling:${offset}`),
            `on_error:${offset} right before on_finished_handling:${offset}`);
    }
    assertEqual(committed(group, topic, 0), 5, 'committed offset');
});

test('errors: STOP without fail_on_exception logs and goes on', ({topic, group}) => {
    const engine = newEngine(group);
    const recorder = new Recorder({topic});

    assertEqual(engine.fail_on_exception, false, 'fail_on_exception default');
    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 4, 'v');
    recorder.failures.set(1, 'throw');
    recorder.action = STOP;

    engine.add_handler(recorder);
    runEngineOk(engine, {until: () => recorder.finished.length >= 4});

    assertEqual(recorder.errors.length, 1, 'on_error calls');
    assert(recorder.events.includes('on_message:3:v-3'), 'the record after the failure is handled');
    assertEqual(committed(group, topic, 0), 4, 'committed offset');
});

test('errors: fail_on_exception stops with the JS error; a new engine resumes at it', ({topic, group}) => {
    const engine = newEngine(group, {fail_on_exception: true});
    const recorder = new Recorder({topic});
    const states = recordStates(engine);

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 5, 'v');
    recorder.failures.set(2, 'throw');
    recorder.action = STOP;
    engine.add_handler(recorder);

    // The engine stops by itself.
    const {ok, error} = runEngine(engine);
    assertEqual(ok, false, 'run() result');
    assert(error instanceof Error && !(error instanceof GLib.Error), `run() throws the JS error, got ${describe(error)}`);
    assertEqual(error.message, 'planned failure at 2', 'message of the error run() threw');
    assertEqual(engine.state, Paperboy.EngineState.FAILED, 'state');
    assertEqual(stateNames(states), ['STARTING', 'JOINING', 'RUNNING', 'STOPPING', 'FAILED'], 'states');
    assert(recorder.events.includes('on_finished_handling:2'), 'on_finished_handling ran for the failure');
    assert(!recorder.events.includes('on_message:3:v-3'), 'nothing handled after the failure');
    assertEqual(committed(group, topic, 0), 2, 'committed offset is the failing record');

    // The failed record is the first one the group reads again.
    const engine2 = newEngine(group);
    const counter = new Counter({topic});
    engine2.add_handler(counter);
    runEngineOk(engine2, {until: () => counter.records.length >= 3});
    assertEqual(counter.records, ['0/2/v-2', '0/3/v-3', '0/4/v-4'], 'records handled after the restart');
    assertEqual(committed(group, topic, 0), 5, 'committed offset after the restart');
});

test('errors: fail_on_exception with a GLib.Error from on_message', ({topic, group}) => {
    const engine = newEngine(group, {fail_on_exception: true});
    const recorder = new Recorder({topic});

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 3, 'v');
    recorder.failures.set(0, 'throw-gerror');
    recorder.action = STOP;
    engine.add_handler(recorder);

    const {error} = runEngine(engine);
    assertError(error, Gio.IOErrorEnum, Gio.IOErrorEnum.INVALID_DATA, 'run() throws the handler\'s GLib.Error');
    assertEqual(error.message, 'planned failure at 0', 'message');
    assertEqual(recorder.events.filter(e => e.startsWith('on_message')).length, 1, 'records handled');
    assertEqual(committed(group, topic, 0), -1, 'nothing committed');
});

test('errors: false or undefined without a throw is Paperboy.Error.HANDLER naming class and vfunc', ({topic, group}) => {
    const engine = newEngine(group);
    const recorder = new Recorder({topic});

    cluster.create_topic(topic, 1);
    produce(topic, 0, 'k0', 'v0');
    produce(topic, 0, 'k1', 'v1');
    produce(topic, 0, 'k2', null);
    recorder.failures.set(1, 'false');
    recorder.failures.set(2, 'undefined');
    engine.add_handler(recorder);
    runEngineOk(engine, {until: () => recorder.finished.length >= 3});

    assertEqual(recorder.errors.length, 2, 'on_error calls');
    const [fromFalse, fromUndefined] = recorder.errors;
    assertError(fromFalse, Paperboy.Error, Paperboy.Error.HANDLER, 'on_message returning false');
    assertIncludes(fromFalse.message, 'PbJsTestRecorder.on_message()', 'the error names class and vfunc');
    assertError(fromUndefined, Paperboy.Error, Paperboy.Error.HANDLER, 'on_tombstone returning undefined');
    assertIncludes(fromUndefined.message, 'PbJsTestRecorder.on_tombstone()', 'the error names class and vfunc');
    assertEqual(committed(group, topic, 0), 3, 'committed offset');
});

test('errors: failures in define_context, did_receive_message and on_finished_handling', ({topic, group}) => {
    const engine = newEngine(group);
    const recorder = new Recorder({topic});

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 4, 'v');
    recorder.failContextAt = 0;
    recorder.failures.set(1, 'did_receive_message');
    recorder.failures.set(2, 'on_finished_handling');
    engine.add_handler(recorder);
    runEngineOk(engine, {until: () => recorder.finished.length >= 4});

    assertEqual(recorder.events, [
        // define_context threw: no context, straight to on_error.
        'define_context', 'on_error:0', 'on_finished_handling:0',
        // did_receive_message threw: no handling.
        'define_context', 'did_receive_message:1', 'on_error:1', 'on_finished_handling:1',
        // on_finished_handling threw: on_error, and no second on_finished_handling.
        'define_context', 'did_receive_message:2', 'on_message:2:v-2', 'on_finished_handling:2', 'on_error:2',
        'define_context', 'did_receive_message:3', 'on_message:3:v-3', 'on_finished_handling:3',
    ], 'vfunc calls');
    assertEqual(recorder.problems, [], 'context and message checks');
    const [fromContext, fromReceive, fromFinished] = recorder.errors;
    assert(fromContext instanceof Error && !(fromContext instanceof GLib.Error),
        `define_context's JS error, got ${describe(fromContext)}`);
    assertEqual(fromContext.message, 'planned failure in define_context', 'define_context error message');
    assertError(fromReceive, Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED, 'did_receive_message error');
    assertError(fromFinished, Gio.IOErrorEnum, Gio.IOErrorEnum.FAILED, 'on_finished_handling error');
    assertEqual(bytesToString(recorder.finished[1].get_value()), 'v-1',
        'on_finished_handling gets the original message after did_receive_message failed');
    assertEqual(committed(group, topic, 0), 4, 'committed offset');
});

/* Asynchronous handling */

function asyncOrderTest(maxInFlight) {
    return ({topic, group}) => {
        const engine = newEngine(group, {max_in_flight: maxInFlight});
        const handler = new AsyncHandler({topic});

        assertEqual(engine.max_in_flight, maxInFlight, 'max_in_flight');
        cluster.create_topic(topic, 3);
        for (let p = 0; p < 3; p++)
            produceMany(topic, p, 8, 'v');

        engine.add_handler(handler);
        runEngineOk(engine, {until: () => handler.done.length >= 24});

        assertEqual(handler.problems, [], 'arguments of vfunc_handle');
        assertEqual(handler.errors, [], 'on_error calls');
        assertEqual(handler.done.length, 24, 'records completed');
        assertPartitionOrder(handler.started, 3, 8, 'start order');
        assertPartitionOrder(handler.done, 3, 8, 'completion order');
        assert(handler.maxInFlight <= maxInFlight,
            `at most ${maxInFlight} handlings at once, saw ${handler.maxInFlight}`);
        if (maxInFlight > 1)
            assert(handler.maxInFlight > 1, `several partitions in flight at once, saw ${handler.maxInFlight}`);
        for (let p = 0; p < 3; p++)
            assertEqual(committed(group, topic, p), 8, `committed offset of partition ${p}`);
    };
}

test('async: vfunc_handle completing later keeps partition order (max_in_flight 1)', asyncOrderTest(1));
test('async: vfunc_handle completing later keeps partition order (max_in_flight 3)', asyncOrderTest(3));

test('async: task errors, throws, false, timeouts and dropped tasks reach on_error', ({topic, group}) => {
    const engine = newEngine(group, {handling_timeout_ms: 1000});
    const handler = new AsyncHandler({topic});

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 6, 'v');
    handler.behaviour.set(0, 'error');
    handler.behaviour.set(1, 'throw');
    handler.behaviour.set(2, 'false');
    handler.behaviour.set(3, 'never');
    handler.behaviour.set(4, 'drop');

    engine.add_handler(handler);
    runEngineOk(engine, {until: () => handler.done.length + handler.errors.length >= 6});

    const errors = handler.errors;
    assertEqual(errors.map(e => e.offset), [0, 1, 2, 3, 4], 'offsets that failed');
    assertError(errors[0].error, Gio.IOErrorEnum, Gio.IOErrorEnum.PERMISSION_DENIED, 'task.return_error()');
    assertEqual(errors[0].error.message, 'asynchronous failure at 0/0', 'task error message');
    assert(errors[1].error instanceof Error && !(errors[1].error instanceof GLib.Error),
        `a throw in vfunc_handle, got ${describe(errors[1].error)}`);
    assertEqual(errors[1].error.message, 'synchronous failure at 0/1', 'thrown error message');
    assertError(errors[2].error, Paperboy.Error, Paperboy.Error.HANDLER, 'false from vfunc_handle');
    assertIncludes(errors[2].error.message, 'PbJsTestAsync.handle()', 'the error names class and vfunc');
    assertError(errors[3].error, Paperboy.Error, Paperboy.Error.HANDLER, 'a task that never returns');
    assertIncludes(errors[3].error.message, '1000 ms', 'the timeout error gives the limit');
    assert(handler.cancellables[3].is_cancelled(), 'the timed-out task\'s cancellable is cancelled');
    assertError(errors[4].error, Paperboy.Error, Paperboy.Error.HANDLER, 'a dropped task');
    assertIncludes(errors[4].error.message, 'dropped', 'the dropped-task error');
    assertEqual(handler.done, ['0/5'], 'the last record is handled');

    // A late result is ignored.
    handler.kept[0].return_boolean(true);
    assertEqual(committed(group, topic, 0), 6, 'committed offset');
});

/* Registration */

test('registration: add_handler_type with $gtype and with the class', ({topic, group}) => {
    const engine = newEngine(group);
    const topic2 = `${topic}-b`;

    cluster.create_topic(topic, 1);
    cluster.create_topic(topic2, 1);
    produceMany(topic, 0, 3, 'a');
    produceMany(topic2, 0, 2, 'b');

    typedInstances.length = 0;
    typedTopic = topic;
    assertEqual(engine.add_handler_type(TypedHandler.$gtype), true, 'add_handler_type($gtype)');
    typedTopic = topic2;
    assertEqual(engine.add_handler_type(TypedHandler), true, 'add_handler_type(class)');
    typedTopic = null;

    const handlers = engine.get_handlers();
    assertEqual(handlers.length, 2, 'get_handlers() length');
    assertEqual(typedInstances.length, 2, 'JS constructors that ran');
    for (let i = 0; i < 2; i++) {
        assert(handlers[i] instanceof TypedHandler, `handler ${i} is a TypedHandler`);
        assertSame(handlers[i], typedInstances[i], `handler ${i} is the object the constructor made`);
        assertEqual(handlers[i].label, `typed-${i}`, `JS state of handler ${i}`);
    }
    assertEqual(handlers.map(h => h.topic), [topic, topic2], 'topics set in the constructor');

    runEngineOk(engine, {until: () => handlers[0].records.length >= 3 && handlers[1].records.length >= 2});
    assertEqual(handlers[0].records, ['0/a-0', '1/a-1', '2/a-2'], 'records of the first handler');
    assertEqual(handlers[1].records, ['0/b-0', '1/b-1'], 'records of the second handler');
    assertEqual(committed(group, topic, 0), 3, 'committed offset of the first topic');
    assertEqual(committed(group, topic2, 0), 2, 'committed offset of the second topic');
});

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

    assertEqual(engine.state, Paperboy.EngineState.STOPPED, 'state before running');
    const run = engine.run_async(null);
    assert(run instanceof Promise, 'the promisified run_async returns a promise');
    assertEqual(engine.state, Paperboy.EngineState.JOINING, 'state right after run_async');

    await waitFor(() => counter.records.length >= 4, '4 records');
    engine.stop();
    assertEqual(engine.state, Paperboy.EngineState.STOPPING, 'state right after stop()');
    assertEqual(await finishRun(engine, run), true, 'run_finish() result');

    assertEqual(stateNames(states), ['STARTING', 'JOINING', 'RUNNING', 'STOPPING', 'STOPPED'], 'states');
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

System.exit(runTests());
