// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Configuration and bad input from JavaScript.
//
// Run with `gjs -m testConfig.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

import {
    assertEqual, assertError, assertIncludes, assertSame, assertThrows, cluster, newEngine,
    produce, recordStates, runEngine, runEngineOk, runTests, stateNames, test
} from './harness.js';
import {Counter} from './handlers.js';

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
    let nullGroup = null;
    try {
        Paperboy.Engine.new('mock://', null);
    } catch (e) {
        nullGroup = e;
    }
    assertIncludes(String(nullGroup), 'group_id may not be null', 'Engine.new() with a null group id');

    // An invalid value: one sentence naming the key once.
    const invalid = assertThrows(() => engine.set_config('session.timeout.ms', 'abc'), Paperboy.Error,
        Paperboy.Error.CONFIG, 'an invalid value');
    assertEqual(invalid.message.split('session.timeout.ms').length, 2, `the key once in “${invalid.message}”`);
    assertIncludes(invalid.message, 'abc', 'the invalid value');

    // Registration errors.
    const first = new Counter({topic});
    engine.add_handler(first);
    const duplicate = assertThrows(() => engine.add_handler(new Counter({topic})),
        Paperboy.Error, Paperboy.Error.CONFIG, 'a second handler for a topic');
    assertIncludes(duplicate.message, topic, 'the error names the topic');
    const noTopic = assertThrows(() => engine.add_handler(new Counter()), Paperboy.Error, Paperboy.Error.CONFIG,
        'a handler without a topic');
    assertIncludes(noTopic.message, 'has no topics', 'the error says what is missing');
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

test('config: set_config on a running engine throws FAILED and changes nothing', ({topic, group}) => {
    const engine = newEngine(group);
    const counter = new Counter({topic});
    const failures = [];

    cluster.create_topic(topic, 1);
    produce(topic, 0, 'k', 'v');
    engine.add_handler(counter);
    engine.connect('partitions-assigned', () => {
        try {
            engine.set_config('fetch.wait.max.ms', '100');
        } catch (e) {
            failures.push(e);
        }
    });
    runEngineOk(engine, {until: () => counter.records.length >= 1});

    assertEqual(failures.length, 1, 'set_config failures while running');
    assertError(failures[0], Paperboy.Error, Paperboy.Error.FAILED, 'set_config while running');
    assertEqual(engine.set_config('fetch.wait.max.ms', '100'), true, 'set_config once stopped');
});

System.exit(runTests());
