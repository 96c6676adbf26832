// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The test harness of the JavaScript suites: a TAP runner, assertions, a
// mock cluster shared by the tests of one file, and helpers to run engines.
//
// Rules the suites follow, because GJS needs them:
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
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

Gio._promisify(Paperboy.Engine.prototype, 'run_async', 'run_finish');

export const RUN_TIMEOUT_MS = 30000;
export const WATCHDOG_MS = 150000;

/* Test runner */

export class AssertionError extends Error {
    constructor(message) {
        super(message);
        this.name = 'AssertionError';
    }
}

const tests = [];

export function test(name, func) {
    tests.push({name, func});
}

let uniqueCounter = 0;
const runId = `${GLib.random_int_range(0, 0x7fffffff).toString(36)}-${Date.now() % 1000000}`;

export function unique(prefix) {
    return `${prefix}-js-${runId}-${++uniqueCounter}`;
}

export function describe(value) {
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

export function fail(message) {
    throw new AssertionError(message);
}

export function assert(condition, what) {
    if (!condition)
        fail(`${what}: expected true, got ${describe(condition)}`);
}

export function assertEqual(got, expected, what) {
    const g = JSON.stringify(got);
    const e = JSON.stringify(expected);

    if (g !== e || (got === undefined) !== (expected === undefined))
        fail(`${what}:\n    expected ${describe(expected)}\n    got      ${describe(got)}`);
}

export function assertSame(got, expected, what) {
    if (got !== expected)
        fail(`${what}: expected the same object ${describe(expected)}, got ${describe(got)}`);
}

export function assertError(error, domain, code, what) {
    if (!(error instanceof GLib.Error) || !error.matches(domain, code)) {
        fail(`${what}: expected a GLib.Error[${GLib.quark_to_string(domain)}:${code}], ` +
             `got ${describe(error)}`);
    }
}

export function assertThrows(func, domain, code, what) {
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

export function assertIncludes(text, fragment, what) {
    if (typeof text !== 'string' || !text.includes(fragment))
        fail(`${what}: expected a string containing ${describe(fragment)}, got ${describe(text)}`);
}

/* Per-partition order: `ids` are "partition/offset" strings, each partition
 * must go 0, 1, 2, ... */
export function assertPartitionOrder(ids, nPartitions, nPerPartition, what) {
    const last = new Array(nPartitions).fill(-1);

    for (const id of ids) {
        const [partition, offset] = id.split('/').map(Number);
        if (offset !== last[partition] + 1)
            fail(`${what}: partition ${partition} went from offset ${last[partition]} to ${offset} in ${describe(ids)}`);
        last[partition] = offset;
    }
    assertEqual(last, new Array(nPartitions).fill(nPerPartition - 1), `${what}: last offset of each partition`);
}

export function runTests() {
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
export function waitForPromise(promise) {
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

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

export function bytes(text) {
    return text === null ? null : new GLib.Bytes(encoder.encode(text));
}

export function bytesToString(b) {
    return b === null ? null : decoder.decode(b.toArray());
}

export function headersVariant(list) {
    return new GLib.Variant('a(smay)',
        list.map(([name, value]) => [name, value === null ? null : encoder.encode(value)]));
}

export const cluster = Paperboy.MockCluster.new(1);

export function produce(topic, partition, key, value, headers = null) {
    return cluster.produce(topic, partition, bytes(key), bytes(value), headers);
}

export function produceMany(topic, partition, n, prefix) {
    for (let i = 0; i < n; i++)
        produce(topic, partition, `k-${i}`, `${prefix}-${i}`);
}

export function committed(group, topic, partition) {
    return cluster.get_committed_offset(group, topic, partition);
}

export function newEngine(group, props = {}) {
    const engine = new Paperboy.Engine({
        mock_cluster: cluster,
        commit_interval_ms: 200,
        ...group !== null ? {group_id: group} : {},
        ...props,
    });

    engine.set_config('session.timeout.ms', '6000');
    engine.set_config('heartbeat.interval.ms', '500');
    engine.set_config('fetch.wait.max.ms', '10');
    return engine;
}

export function recordStates(engine) {
    const states = [];

    engine.connect('notify::state', () => states.push(engine.state));
    return states;
}

export function stateNames(states) {
    return states.map(s => Object.keys(Paperboy.EngineState).find(k => Paperboy.EngineState[k] === s));
}

// Sources added by a run: each is removed unless it already removed itself.
export class Sources {
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
export function runEngine(engine, {until = null, timeoutMs = RUN_TIMEOUT_MS, cancellable = null} = {}) {
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
export function runEngineOk(engine, options) {
    const {ok, error} = runEngine(engine, options);

    if (error !== null)
        fail(`run() threw ${describe(error)}`);
    assertEqual(ok, true, 'run() result');
}

/* Resolves once @condition is true, polling it from the main loop; rejects
 * after @timeoutMs. */
export function waitFor(condition, what, timeoutMs = RUN_TIMEOUT_MS) {
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
export async function finishRun(engine, runPromise, timeoutMs = RUN_TIMEOUT_MS) {
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
