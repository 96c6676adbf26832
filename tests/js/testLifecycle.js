// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The handler lifecycle and its failures, with handlers written in JavaScript.
//
// Run with `gjs -m testLifecycle.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

import {
    assert, assertEqual, assertError, assertIncludes, assertSame, bytes, bytesToString,
    cluster, committed, headersVariant, newEngine, produce, produceMany,
    recordStates, runEngine, runEngineOk, runTests, stateNames, test
} from './harness.js';
import {CONTINUE, Context, Counter, Recorder, STOP} from './handlers.js';

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

    // Paperboy's GJS overrides turned the thrown JavaScript errors into
    // Paperboy.Error.HANDLER errors naming the handler, the virtual
    // function, the error's class and message, with the stack; a GLib.Error
    // came through unchanged.
    const [jsError, typeError, gerror] = recorder.errors;
    assertError(jsError, Paperboy.Error, Paperboy.Error.HANDLER, 'a thrown Error');
    assertIncludes(jsError.message, 'PbJsTestRecorder.on_message() threw Error: planned failure at 1',
        'handler, vfunc, class and message of the thrown Error');
    assertIncludes(jsError.message, '_maybeFail@', 'the JavaScript stack of the thrown Error');
    assertError(typeError, Paperboy.Error, Paperboy.Error.HANDLER, 'a thrown TypeError');
    assertIncludes(typeError.message, 'threw TypeError: planned type error at 2', 'the thrown TypeError');
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
    assertError(error, Paperboy.Error, Paperboy.Error.HANDLER, 'run() throws the handler\'s failure');
    assertIncludes(error.message, 'PbJsTestRecorder.on_message() threw Error: planned failure at 2',
        'the error run() threw names handler, vfunc and the JS error');
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
    assertError(fromContext, Paperboy.Error, Paperboy.Error.HANDLER, 'define_context\'s JS error');
    assertIncludes(fromContext.message, 'define_context() threw Error: planned failure in define_context',
        'define_context error message');
    assertError(fromReceive, Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED, 'did_receive_message error');
    assertError(fromFinished, Gio.IOErrorEnum, Gio.IOErrorEnum.FAILED, 'on_finished_handling error');
    assertEqual(bytesToString(recorder.finished[1].get_value()), 'v-1',
        'on_finished_handling gets the original message after did_receive_message failed');
    assertEqual(committed(group, topic, 0), 4, 'committed offset');
});

// GJS reads a truthy value as success for a boolean, but cannot turn 42
// into an object: that failure names the handler and the virtual function.
const WrongReturns = GObject.registerClass({
    GTypeName: 'PbJsTestWrongReturns',
}, class WrongReturns extends Recorder {
    vfunc_define_context() {
        const context = super.vfunc_define_context();
        return this.wrongAt === 'define_context' ? 42 : context;
    }

    vfunc_did_receive_message(message, context) {
        const result = super.vfunc_did_receive_message(message, context);
        return this.wrongAt === 'did_receive_message' ? 'not a message' : result;
    }
});

test('errors: a value of the wrong type from define_context or did_receive_message is Paperboy.Error.HANDLER', ({topic, group}) => {
    cluster.create_topic(topic, 1);
    produceMany(topic, 0, 4, 'v');

    for (const vfunc of ['define_context', 'did_receive_message']) {
        const engine = newEngine(`${group}-${vfunc}`);
        const handler = new WrongReturns({topic});

        handler.wrongAt = vfunc;
        engine.add_handler(handler);
        runEngineOk(engine, {until: () => handler.errors.length >= 4});

        assertEqual(handler.events.filter(e => e.startsWith('on_message')), [], `${vfunc}: no record handled`);
        for (const error of handler.errors) {
            assertError(error, Paperboy.Error, Paperboy.Error.HANDLER, `${vfunc}: the error`);
            assertIncludes(error.message, `PbJsTestWrongReturns.${vfunc}() returned a value of the wrong type`,
                `${vfunc}: the error names class and vfunc`);
        }
        assertEqual(committed(`${group}-${vfunc}`, topic, 0), 4, `${vfunc}: committed (CONTINUE)`);
    }
});

System.exit(runTests());
