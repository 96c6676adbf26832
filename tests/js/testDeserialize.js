// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Deserializers from JavaScript.
//
// Run with `gjs -m testDeserialize.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';

import Paperboy from 'gi://Paperboy?version=1';

import {
    assertEqual, assertError, assertIncludes, bytes, cluster, committed, newEngine, produce,
    runEngine, runEngineOk, runTests, test
} from './harness.js';

const Reversed = GObject.registerClass({
    GTypeName: 'PbJsTestReversed',
    Implements: [Paperboy.Deserializer],
}, class Reversed extends GObject.Object {
    vfunc_deserialize(data) {
        const text = new TextDecoder().decode(data.toArray());
        if (text === 'bad')
            throw new RangeError('not this one');
        return new GLib.Variant('s', [...text].reverse().join(''));
    }
});

const Decoded = GObject.registerClass({
    GTypeName: 'PbJsTestDecoded',
}, class Decoded extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.seen = [];
        this.errors = [];
        this.action = Paperboy.ErrorAction.CONTINUE;
    }

    vfunc_on_message(message, context) {
        const key = message.get_decoded_key();
        const value = message.get_decoded_value();
        this.seen.push([message.get_offset(), key?.recursiveUnpack() ?? null,
            value?.recursiveUnpack() ?? null]);
        return true;
    }

    vfunc_on_error(error, message, context) {
        // The error is only valid during the call.
        this.errors.push([message.get_offset(), error.matches(Paperboy.Error, Paperboy.Error.DESERIALIZE),
            error.message]);
        return this.action;
    }
});

test('deserializers: string and JSON built-ins; errors reach on_error', ({topic, group}) => {
    cluster.create_topic(topic, 1);
    produce(topic, 0, 'k0', '{"a": [1, 2.5, true], "b": "x"}');
    produce(topic, 0, 'k1', '[1, ');
    produce(topic, 0, null, '"ok"');
    const engine = newEngine(group);
    const handler = new Decoded({
        topic,
        key_deserializer: new Paperboy.StringDeserializer(),
        value_deserializer: new Paperboy.JsonDeserializer(),
    });
    engine.add_handler(handler);

    runEngineOk(engine, {until: () => handler.seen.length + handler.errors.length >= 3});
    assertEqual(handler.seen, [[0, 'k0', {a: [1, 2.5, true], b: 'x'}], [2, null, 'ok']], 'decoded records');
    assertEqual(handler.errors.length, 1, 'errors');
    assertEqual(handler.errors[0][0], 1, 'offset of the bad record');
    assertEqual(handler.errors[0][1], true, 'a DESERIALIZE error');
    assertIncludes(handler.errors[0][2], 'Not valid JSON', 'error message');
    assertEqual(committed(group, topic, 0), 3, 'committed offset');
});

test('deserializers: one in JavaScript; a throw with STOP stops before the record', ({topic, group}) => {
    cluster.create_topic(topic, 1);
    for (const value of ['olleh', 'bad', 'dlrow'])
        produce(topic, 0, null, value);
    const engine = newEngine(group, {fail_on_exception: true});
    const handler = new Decoded({topic, value_deserializer: new Reversed()});
    handler.action = Paperboy.ErrorAction.STOP;
    engine.add_handler(handler);

    const {ok, error} = runEngine(engine);
    assertEqual(ok, false, 'run() result');
    assertError(error, Paperboy.Error, Paperboy.Error.DESERIALIZE, 'run() error');
    assertIncludes(error.message, 'not this one', 'error message');
    assertEqual(handler.seen, [[0, null, 'hello']], 'decoded records');
    assertEqual(committed(group, topic, 0), 1, 'committed offset');
});

runTests();
