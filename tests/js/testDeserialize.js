// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Deserializers from JavaScript.
//
// Run with `gjs -m testDeserialize.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import Soup from 'gi://Soup?version=3.0';

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

const SCHEMA = {
    type: 'record', name: 'Point',
    fields: [{name: 'name', type: 'string'}, {name: 'n', type: 'long'}],
};

function varint(n) {
    let z = n >= 0 ? n * 2 : -n * 2 - 1;   // zigzag, for small numbers
    const out = [];
    do {
        const byte = z % 128;
        z = Math.floor(z / 128);
        out.push(z > 0 ? byte | 0x80 : byte);
    } while (z > 0);
    return out;
}

// A Point in the Confluent wire format.
function avroPoint(id, name, n) {
    const text = [...new TextEncoder().encode(name)];
    return new Uint8Array([0, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff,
        ...varint(text.length), ...text, ...varint(n)]);
}

// A schema registry on loopback serving schema 1.
function startRegistry() {
    const registry = {requests: 0, server: new Soup.Server()};
    registry.server.add_handler(null, (server, msg, path) => {
        registry.requests++;
        const found = path === '/schemas/ids/1';
        const body = found ? JSON.stringify({schema: JSON.stringify(SCHEMA)}) : '{"error_code": 40403}';
        msg.set_status(found ? 200 : 404, null);
        msg.set_response('application/json', Soup.MemoryUse.COPY, new TextEncoder().encode(body));
    });
    registry.server.listen_local(0, Soup.ServerListenOptions.IPV4_ONLY);
    registry.url = registry.server.get_uris()[0].to_string().replace(/\/$/, '');
    return registry;
}

test('deserializers: Avro with a schema registry, fetched once; unknown ids reach on_error', ({topic, group}) => {
    const registry = startRegistry();
    cluster.create_topic(topic, 1);
    for (let i = 0; i < 20; i++)
        cluster.produce(topic, 0, bytes('k'), new GLib.Bytes(avroPoint(1, `p${i}`, i - 10)), null);
    cluster.produce(topic, 0, bytes('k'), new GLib.Bytes(avroPoint(7, 'unknown', 0)), null);
    const engine = newEngine(group);
    const handler = new Decoded({
        topic,
        value_deserializer: Paperboy.AvroDeserializer.new(registry.url),
    });
    engine.add_handler(handler);

    runEngineOk(engine, {until: () => handler.seen.length + handler.errors.length >= 21});
    assertEqual(handler.seen, [...Array(20).keys()].map(i => [i, null, {name: `p${i}`, n: i - 10}]),
        'decoded records');
    assertEqual(handler.errors.map(([offset, deserialize]) => [offset, deserialize]), [[20, true]], 'errors');
    assertIncludes(handler.errors[0][2], 'HTTP 404', 'error message');
    assertEqual(registry.requests, 2, 'requests to the registry');
    assertEqual(committed(group, topic, 0), 21, 'committed offset');
    registry.server.disconnect();
});

runTests();
