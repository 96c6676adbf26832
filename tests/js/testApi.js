// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Messages, properties and the mock cluster from JavaScript.
//
// Run with `gjs -m testApi.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import GLib from 'gi://GLib';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

import {
    assert, assertEqual, assertIncludes, assertSame, assertThrows, bytes, bytesToString,
    cluster, committed, decoder, fail, headersVariant, newEngine, produce, runTests, test, unique
} from './harness.js';
import {Counter} from './handlers.js';

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
    // Bindings turn NULL into an empty array: is_tombstone tells them apart.
    assertEqual(tombstone.peek_value().length, 0, 'peek_value() of a null value');
    assertEqual(message.peek_value().length, 0, 'peek_value() of an empty value');
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
    assertEqual([engine.client_id, engine.auto_offset_reset], ['paperboy', 'earliest'],
        'values reset with null');
    // A group id has no default to go back to.
    let nullGroup = null;
    try {
        engine.set_group_id(null);
    } catch (e) {
        nullGroup = e;
    }
    assertIncludes(String(nullGroup), 'group_id may not be null', 'set_group_id(null)');
    assertEqual(engine.group_id, 'g2', 'group id after set_group_id(null)');

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

System.exit(runTests());
