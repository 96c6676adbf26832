// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Asynchronous handlers and registration by type, in JavaScript.
//
// Run with `gjs -m testAsync.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

import {
    assert, assertEqual, assertError, assertIncludes, assertPartitionOrder, assertSame,
    cluster, committed, newEngine, produceMany, runEngine, runEngineOk, runTests, test
} from './harness.js';
import {AsyncHandler, TypedHandler, typed} from './handlers.js';

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
    assertError(errors[1].error, Paperboy.Error, Paperboy.Error.HANDLER, 'a throw in vfunc_handle');
    assertIncludes(errors[1].error.message, 'PbJsTestAsync.handle() threw Error: synchronous failure at 0/1',
        'handler, vfunc, class and message of the thrown error');
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

// An `async vfunc_handle()` returns a promise: Paperboy's GJS overrides fail
// the task when it rejects, and turn a throw in vfunc_on_error into STOP.
const PromiseHandler = GObject.registerClass({
    GTypeName: 'PbJsTestPromise',
}, class PromiseHandler extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.done = [];
        this.errors = [];
    }

    async vfunc_handle(message, context, task) {
        const offset = message.get_offset();

        await new Promise(resolve => setTimeout(resolve, 5));
        if (offset === 1)
            throw new RangeError(`rejected at ${offset}`);
        if (offset === 3)
            throw new Error(`rejected again at ${offset}`);
        this.done.push(offset);
        task.return_boolean(true);
        if (offset === 2)
            throw new Error(`rejected after completing the task at ${offset}`);
    }

    vfunc_on_error(error, message, context) {
        const offset = message.get_offset();

        this.lastMessage = message;
        this.errors.push({offset, error});
        if (offset === 3)
            throw new Error(`on_error fails at ${offset}`);
        return Paperboy.ErrorAction.CONTINUE;
    }
});

test('async: a rejected promise fails the task; a throw in on_error stops', ({topic, group}) => {
    const engine = newEngine(group, {fail_on_exception: true});
    const handler = new PromiseHandler({topic});

    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 5, 'v');
    engine.add_handler(handler);
    const {ok, error} = runEngine(engine);

    // A rejection after the task completed is only logged.
    assertEqual(handler.done, [0, 2], 'records handled');
    assertEqual(handler.errors.map(e => e.offset), [1, 3], 'offsets given to on_error');
    assertError(handler.errors[0].error, Paperboy.Error, Paperboy.Error.HANDLER, 'the rejection');
    assertIncludes(handler.errors[0].error.message, 'PbJsTestPromise.handle() threw RangeError: rejected at 1',
        'handler, vfunc, class and message of the rejection');
    assertEqual(ok, false, 'run() result after on_error threw');
    assertError(error, Paperboy.Error, Paperboy.Error.HANDLER, 'the error run() throws');
    assertIncludes(error.message, 'rejected again at 3', 'run() throws the failure on_error saw');
    assertEqual(engine.state, Paperboy.EngineState.FAILED, 'state');
    assertEqual(committed(group, topic, 0), 3, 'committed offset is the record that stopped the engine');

    // JavaScript calling the methods gets them as the class defined them.
    let thrown = null;
    try {
        handler.vfunc_on_error(null, handler.lastMessage, null);
    } catch (e) {
        thrown = e;
    }
    assert(thrown instanceof Error && thrown.message === 'on_error fails at 3',
        `a direct call of vfunc_on_error throws the class's own error, got ${thrown}`);
    const promise = handler.vfunc_handle(handler.lastMessage, null, Gio.Task.new(null, null, null));
    assert(promise instanceof Promise, 'a direct call of the async vfunc_handle returns its promise');
    promise.catch(() => {});
});

/* Registration */

test('registration: add_handler_type with $gtype and with the class', ({topic, group}) => {
    const engine = newEngine(group);
    const topic2 = `${topic}-b`;

    cluster.create_topic(topic, 1);
    cluster.create_topic(topic2, 1);
    produceMany(topic, 0, 3, 'a');
    produceMany(topic2, 0, 2, 'b');

    typed.instances.length = 0;
    typed.topic = topic;
    assertEqual(engine.add_handler_type(TypedHandler.$gtype), true, 'add_handler_type($gtype)');
    typed.topic = topic2;
    assertEqual(engine.add_handler_type(TypedHandler), true, 'add_handler_type(class)');
    typed.topic = null;

    const handlers = engine.get_handlers();
    assertEqual(handlers.length, 2, 'get_handlers() length');
    assertEqual(typed.instances.length, 2, 'JS constructors that ran');
    for (let i = 0; i < 2; i++) {
        assert(handlers[i] instanceof TypedHandler, `handler ${i} is a TypedHandler`);
        assertSame(handlers[i], typed.instances[i], `handler ${i} is the object the constructor made`);
        assertEqual(handlers[i].label, `typed-${i}`, `JS state of handler ${i}`);
    }
    assertEqual(handlers.map(h => h.topic), [topic, topic2], 'topics set in the constructor');

    runEngineOk(engine, {until: () => handlers[0].records.length >= 3 && handlers[1].records.length >= 2});
    assertEqual(handlers[0].records, ['0/a-0', '1/a-1', '2/a-2'], 'records of the first handler');
    assertEqual(handlers[1].records, ['0/b-0', '1/b-1'], 'records of the second handler');
    assertEqual(committed(group, topic, 0), 3, 'committed offset of the first topic');
    assertEqual(committed(group, topic2, 0), 2, 'committed offset of the second topic');
});

System.exit(runTests());
