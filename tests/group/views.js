// SPDX-License-Identifier: LGPL-2.1-or-later
//
// views.c in JavaScript: a member of a group that counts page views by key
// into a partitioned rocksdb:// table "views".
//
// Usage: gjs -m views.js BOOTSTRAP GROUP TOPIC STATE_DIR [KEY=VALUE...]
//
// PB_VIEWS_STORE_URI, PB_VIEWS_STANDBY_REPLICAS, PB_VIEWS_GUARANTEE and
// PB_VIEWS_QUIET as for views.c.

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

const SIGUSR1 = 10;
const decoder = new TextDecoder();

// With PB_VIEWS_QUIET, a line "handled=N" a second (for long runs).
const quiet = GLib.getenv('PB_VIEWS_QUIET') !== null;

const Views = GObject.registerClass({
    GTypeName: 'PbViews',
}, class Views extends Paperboy.Handler {
    vfunc_on_message(message) {
        const key = decoder.decode(message.get_key().toArray());
        const count = this.table.getValue(key, 0);
        // Before the count changes: a kill between the two leaves a line.
        if (quiet)
            this.handled = (this.handled ?? 0) + 1;
        else
            print(`handled ${message.get_partition()} ${message.get_offset()}`);
        this.table.set(key, count + 1);
        return true;
    }
});

const [bootstrap, group, topic, stateDir, ...config] = ARGV;
if (stateDir === undefined) {
    printerr('Usage: gjs -m views.js BOOTSTRAP GROUP TOPIC STATE_DIR [KEY=VALUE...]');
    System.exit(2);
}

const engine = Paperboy.Engine.new(bootstrap, group);
engine.handle_signals = true;
engine.commit_interval_ms = 200;
engine.state_dir = stateDir;
if (GLib.getenv('PB_VIEWS_GUARANTEE') === 'exact-state')
    engine.processing_guarantee = Paperboy.ProcessingGuarantee.EXACT_STATE;
for (const pair of config) {
    const at = pair.indexOf('=');
    engine.set_config(pair.slice(0, at), pair.slice(at + 1));
}
const table = Paperboy.Table.new('views', GLib.getenv('PB_VIEWS_STORE_URI') ?? 'rocksdb://');
table.standby_replicas = Number(GLib.getenv('PB_VIEWS_STANDBY_REPLICAS') ?? '0');
engine.register_table(table);
const views = new Views({topic});
views.table = table;
engine.add_handler(views);
if (quiet) {
    GLib.timeout_add_seconds(GLib.PRIORITY_DEFAULT, 1, () => {
        print(`handled=${views.handled ?? 0}`);
        return GLib.SOURCE_CONTINUE;
    });
}

let lastAssigned = 0;
const printPartitions = what => (e, partitions, lost) => {
    if (what === 'assigned')
        lastAssigned = GLib.get_monotonic_time();
    for (const [t, p] of partitions.recursiveUnpack())
        print(`${lost ? 'revoked-lost' : what} ${t} ${p}`);
};
engine.connect('partitions-assigned', printPartitions('assigned'));
engine.connect('partitions-revoked', printPartitions('revoked'));
table.connect('restored', t => print(['restored', Math.round((GLib.get_monotonic_time() - lastAssigned) / 1000),
    ...t.get_partitions()].join(' ')));

GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, SIGUSR1, () => {
    print(['holds', ...table.get_partitions()].join(' '));
    table.foreach((key, value) => {
        print(`shard ${table.get_partition_for_key(key)} ${key} ${value.unpack()}`);
        return true;
    });
    print('dumped');
    return GLib.SOURCE_CONTINUE;
});
print('ready');

try {
    engine.run(null);
} catch (e) {
    printerr(e.message);
    System.exit(1);
}
print('stopped');
