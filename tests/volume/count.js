// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A JavaScript handler over a large backlog, for the volume suite:
//   gjs -m count.js BOOTSTRAP GROUP TOPIC TOTAL [KEEP_EVERY]
// Counts the records of TOPIC, checks that each partition's come once and
// in order, and stops after TOTAL. With KEEP_EVERY, it keeps every
// KEEP_EVERYth message in an array that it empties every 10,000 records.
// PB_VOLUME_CONFIG may hold librdkafka properties, as KEY=VALUE words; with
// PB_VOLUME_BULK set, the engine runs in Bulk mode and the handler is a bulk
// handler.
// Prints one line of JSON: what it saw, and when it handled the first record
// and every 10,000th.

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

const [bootstrap, group, topic, totalText, keepText] = ARGV;
const total = Number(totalText);
const keepEvery = Number(keepText ?? 0);
const next = new Map();
// When the first record, and every TICKth, was handled.
const TICK = 10000;
// A line on stderr every PROGRESSth record, which a test shows when the
// program does not finish.
const PROGRESS = 100000;
const ticks = [];
const kept = [];
let handled = 0, duplicates = 0, gaps = 0, failures = 0;

const Counter = GObject.registerClass({
    GTypeName: 'PbVolumeCounter',
}, class Counter extends Paperboy.BulkHandler {
    vfunc_on_bulk(messages) {
        for (const message of messages)
            this.vfunc_on_message(message);
        return true;
    }

    vfunc_on_message(message) {
        const partition = message.get_partition();
        const offset = message.get_offset();
        const expected = next.get(partition) ?? 0;

        if (offset < expected)
            duplicates++;
        else if (offset > expected)
            gaps++;
        next.set(partition, Math.max(expected, offset + 1));
        if (table !== null)
            table.set(decoder.decode(message.get_key().toArray()), new GLib.Variant('x', offset));

        handled++;
        if (keepEvery > 0 && handled % keepEvery === 0)
            kept.push(message);
        if (handled % 10000 === 0)
            kept.length = 0;
        if (handled === 1 || handled % TICK === 0)
            ticks.push(GLib.get_monotonic_time());
        if (handled % PROGRESS === 0)
            printerr(`progress ${handled}`);
        if (handled === total)
            engine.stop();
        return true;
    }

    vfunc_on_error(error) {
        failures++;
        printerr(`on_error: ${error.message}`);
        return Paperboy.ErrorAction.STOP;
    }
});

const engine = new Paperboy.Engine({bootstrap_servers: bootstrap, group_id: group});
engine.set_config('fetch.wait.max.ms', '10');
engine.bulk_mode = GLib.getenv('PB_VOLUME_BULK') !== null;
for (const pair of (GLib.getenv('PB_VOLUME_CONFIG') ?? '').split(/\s+/).filter(p => p))
    engine.set_config(...pair.split('=', 2));
engine.add_handler(new Counter({topic}));
// With PB_VOLUME_TABLE (a store URI), each record sets its key in a table.
const decoder = new TextDecoder();
let table = null;
if (GLib.getenv('PB_VOLUME_TABLE') !== null) {
    table = Paperboy.Table.new('volume-table', GLib.getenv('PB_VOLUME_TABLE'));
    engine.state_dir = GLib.getenv('PB_VOLUME_STATE_DIR');
    engine.register_table(table);
}

let ok = false;
try {
    ok = engine.run(null);
} catch (e) {
    printerr(`run failed: ${e.message}`);
}

print(JSON.stringify({
    language: 'javascript', ok, handled, duplicates, gaps, failures,
    next: Object.fromEntries(next), tick: TICK, ticks,
}));
System.exit(ok ? 0 : 1);
