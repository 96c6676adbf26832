// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Step mode from JavaScript.
//
// Run with `gjs -m testSteps.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import GObject from 'gi://GObject';

import Paperboy from 'gi://Paperboy?version=1';

import {
    assert, assertEqual, assertThrows, cluster, committed, finishRun, newEngine, produceMany,
    runTests, test, waitFor
} from './harness.js';

const Logger = GObject.registerClass({
    GTypeName: 'PbJsTestStepLogger',
}, class Logger extends Paperboy.Handler {
    constructor(params = {}, log = []) {
        super(params);
        this.log = log;
    }

    vfunc_on_message(message, context) {
        this.log.push([message.get_topic(), message.get_offset()]);
        return true;
    }
});

test('steps: in order, then Single mode on every topic', async ({topic, group}) => {
    const log = [];
    const topics = ['a', 'b', 'c'].map(s => `${topic}-${s}`);
    topics.forEach((t, i) => {
        cluster.create_topic(t, 1);
        produceMany(t, 0, [200, 100, 50][i], 'v');
    });
    const engine = newEngine(group);
    const handlers = topics.map(t => new Logger({topic: t}, log));
    handlers.forEach(h => engine.add_handler(h));
    engine.add_step([handlers[0]]);
    engine.add_step([handlers[1]]);
    assertEqual(engine.get_n_steps(), 2, 'steps');
    engine.connect('step-started', (e, step) => log.push(['started', step]));
    engine.connect('step-finished', (e, step) => log.push(['finished', step]));

    const run = engine.run_async(null);
    await waitFor(() => log.length >= 354 && engine.mode === Paperboy.EngineMode.SINGLE,
        'every record and Single mode', 60000);
    assertEqual(engine.current_step, -1, 'current_step after the steps');
    engine.stop();
    assertEqual(await finishRun(engine, run), true, 'run_finish() result');

    const at = (kind, step) => log.findIndex(([k, s]) => k === kind && s === step);
    const first = t => log.findIndex(([k]) => k === t);
    const last = t => log.map(([k]) => k).lastIndexOf(t);
    assertEqual(log[0], ['started', 0], 'the first step starts first');
    assert(last(topics[0]) < at('finished', 0), 'step 0 records before it finished');
    assert(first(topics[1]) > at('started', 1), 'step 1 records after it started');
    assert(last(topics[1]) < at('finished', 1), 'step 1 records before it finished');
    assert(first(topics[2]) > at('finished', 1), 'records of no step after the steps');
    assertEqual(committed(group, topics[2], 0), 50, 'committed offset of the last topic');
});

test('steps: a handler not added, twice in a step, or no handler is a CONFIG error', ({topic, group}) => {
    const engine = newEngine(group);
    const added = new Logger({topic});
    const stranger = new Logger({topic: `${topic}-x`});
    engine.add_handler(added);
    for (const step of [[stranger], [added, added], []])
        assertThrows(() => engine.add_step(step), Paperboy.Error, Paperboy.Error.CONFIG, `step ${step.length}`);
    engine.add_step([added]);
    assertEqual(engine.get_n_steps(), 1, 'steps');
});

runTests();
