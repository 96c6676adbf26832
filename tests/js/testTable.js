// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Tables from JavaScript: writes from handlers, the changed signal, value
// types, restores from the changelog (memory:// and rocksdb://), load() and
// close(), tables with a store of their own, the stores used directly, bad
// changelog records and strict tables, register errors, engine.produce()
// and the page-view example.
//
// Run with `gjs -m testTable.js [FILTER...]`: every test whose name contains one of
// the FILTERs runs (all of them without one). The output is TAP.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

import {
    assert, assertEqual, assertError, assertIncludes, assertSame, assertThrows, bytesToString,
    cluster, committed, decoder, encoder, fail, finishRun, headersVariant, newEngine, produce, runEngine,
    runEngineOk, runTests, test, unique, waitFor
} from './harness.js';

Gio._promisify(Gio.Subprocess.prototype, 'communicate_utf8_async', 'communicate_utf8_finish');

const {CHANGELOG, CONFIG, FAILED, STORE} = Paperboy.Error;

/* Runs `script(message, handler)` for each record it gets; the first throw
 * (a failed assertion included) stops the engine and is rethrown by
 * runScript(). */
const Scripted = GObject.registerClass({
    GTypeName: 'PbJsTestTableScripted',
}, class Scripted extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.script = null;
        this.engine = null;
        this.handled = 0;
        this.thrown = null;
    }

    _run(message) {
        try {
            this.script?.(message, this);
        } catch (e) {
            this.thrown ??= e;
            this.engine.stop();
        }
        this.handled++;
        return true;
    }

    vfunc_on_message(message) {
        return this._run(message);
    }

    vfunc_on_tombstone(message) {
        return this._run(message);
    }
});

/* Records what reaches its topic: key, value (null for a tombstone),
 * partition and headers as [name, string or null]. */
const Collector = GObject.registerClass({
    GTypeName: 'PbJsTestTableCollector',
}, class Collector extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.records = [];
    }

    vfunc_on_message(message) {
        this._collect(message);
        return true;
    }

    vfunc_on_tombstone(message) {
        this._collect(message);
        return true;
    }

    _collect(message) {
        this.records.push({
            key: bytesToString(message.get_key()),
            value: bytesToString(message.get_value()),
            partition: message.get_partition(),
            headers: message.get_headers().deepUnpack()
                .map(([name, value]) => [name, value === null ? null : decoder.decode(value)]),
        });
    }
});

/* A new engine of @group with @tables, whose Scripted handler runs @script
 * on the records of @topic until it handled @n of them. Returns the
 * engine, the handler and whether each table was restored before the
 * first record was handled. */
function runScript(group, topic, tables, n, script, props = {}) {
    const engine = newEngine(group, props);
    const handler = new Scripted({topic});
    const restoredFirst = tables.map(() => null);

    for (const table of tables)
        engine.register_table(table);
    tables.forEach((table, i) => table.connect('restored', () => {
        restoredFirst[i] = handler.handled === 0;
    }));
    handler.engine = engine;
    handler.script = script;
    engine.add_handler(handler);

    runEngineOk(engine, {until: () => handler.handled >= n});
    // The handler's reference would keep the engine (and its tables) alive.
    handler.engine = null;
    handler.script = null;
    if (handler.thrown !== null)
        throw handler.thrown;
    assertEqual(handler.handled, n, 'records handled');
    assertEqual(restoredFirst, tables.map(() => true), 'tables restored before the first record');
    return {engine, handler};
}

function produceRecords(topic, n, prefix = 'v') {
    cluster.create_topic(topic, 1);
    for (let i = 0; i < n; i++)
        produce(topic, 0, `k-${i}`, `${prefix}-${i}`);
}

const unpack = variant => variant === null ? null : variant.recursiveUnpack();

/* The [key, unpacked value] pairs of table.foreach() (or a
 * Paperboy.Store's), sorted by key. */
function entries(table) {
    const pairs = [];

    table.foreach((key, value) => {
        pairs.push([key, value.recursiveUnpack()]);
        return true;
    });
    return pairs.sort(([a], [b]) => a < b ? -1 : 1);
}

function removeTree(file) {
    const children = file.enumerate_children('standard::name,standard::type',
        Gio.FileQueryInfoFlags.NOFOLLOW_SYMLINKS, null);
    for (let info; (info = children.next_file(null)) !== null;) {
        const child = file.get_child(info.get_name());
        if (info.get_file_type() === Gio.FileType.DIRECTORY)
            removeTree(child);
        else
            child.delete(null);
    }
    file.delete(null);
}

/* Writes and signals */

test('set, get and delete from a handler; changed with and without a detail; a table with its own store', ({topic, group}) => {
    const name = unique('table');
    const table = Paperboy.Table.new(name, 'memory://');
    const all = [];
    const onlyA = [];
    const store = Paperboy.MemoryStore.new();
    const withStore = Paperboy.Table.new_with_store(unique('stored'), store);

    assertSame(withStore.store, store, 'the store of a table made with a store');
    assertEqual(withStore.store_uri, null, 'the store URI of a table made with a store');
    assertEqual(table.store, null, 'a memory:// table has no store before it is opened');

    assertEqual([table.name, table.store_uri, table.changelog_topic_name], [name, 'memory://', `${name}-changelog`],
        'name, store URI and default changelog topic');
    assertThrows(() => table.set('a', 'x'), Paperboy.Error, FAILED, 'set() before the engine runs');
    table.connect('changed', (self, key, oldValue, newValue) => {
        all.push([key, unpack(oldValue), unpack(newValue)]);
    });
    table.connect('changed::a', (self, key, oldValue, newValue) => {
        onlyA.push([key, unpack(oldValue), unpack(newValue)]);
    });

    produceRecords(topic, 1);
    const {engine} = runScript(group, topic, [table, withStore], 1, (message, handler) => {
        assertSame(handler.engine.get_table(name), table, 'get_table()');
        assertSame(handler.engine.get_table(withStore.name), withStore, 'get_table() of the table with a store');
        assertEqual(handler.engine.get_table(unique('missing')), null, 'get_table() of an unknown name');
        withStore.set('kept', {n: 1});
        withStore.set('gone', 'soon');
        withStore.delete('gone');
        assertEqual(table.get('a'), null, 'get() of a missing key');
        assertEqual(table.getValue('a', 'none'), 'none', 'getValue() default of a missing key');
        assertEqual(table.getValue('a'), null, 'getValue() of a missing key');

        assertEqual(table.set('a', 'one'), true, 'set() result');
        assert(table.get('a') instanceof GLib.Variant, 'get() gives a GLib.Variant');
        assertEqual(table.get('a').get_type_string(), 's', 'type of a string');
        assertEqual(table.getValue('a'), 'one', 'value read back at once');
        table.set('a', 'two');
        table.set('b', 2);
        assertEqual(table.getValue('a'), 'two', 'value after the second set()');

        assertEqual(entries(table), [['a', 'two'], ['b', 2]], 'foreach() before the delete');

        assertEqual(table.delete('a'), true, 'delete() result');
        assertEqual(table.get('a'), null, 'get() after delete()');
        assertEqual(table.getValue('a', 0), 0, 'getValue() default after delete()');
        table.delete('never-set');
        assertEqual(entries(table), [['b', 2]], 'foreach() after the delete');

        assertThrows(() => handler.engine.register_table(Paperboy.Table.new(unique('late'), 'memory://')),
            Paperboy.Error, FAILED, 'register_table() while running');
    });

    assertEqual(all, [['a', null, 'one'], ['a', 'one', 'two'], ['b', null, 2], ['a', 'two', null]],
        'changed (no detail); deleting a missing key emits nothing');
    assertEqual(onlyA, [['a', null, 'one'], ['a', 'one', 'two'], ['a', 'two', null]], 'changed::a');
    assertEqual(committed(group, topic, 0), 1, 'committed offset');
    assertEqual(table.getValue('b'), 2, 'the table is still readable after the run');
    assert(table.store instanceof Paperboy.MemoryStore, 'a memory:// table has a Paperboy.MemoryStore');
    assertSame(engine.get_table(withStore.name), withStore, 'get_table() after the run');

    // What the run wrote is in the store object, with the changelog offset
    // of its last record.
    assertEqual(unpack(store.lookup('kept')), {n: 1}, 'the store holds a value set');
    assertEqual(store.lookup('gone'), null, 'the store holds no value deleted');
    assertEqual(entries(store), [['kept', {n: 1}]], 'the entries of the store');
    assertEqual(store.get_offsets().deepUnpack(), {0: 3}, 'the offsets of the store');
    assertEqual(entries(withStore), [['kept', {n: 1}]], 'the entries of the table with a store');
    assertThrows(() => table.set('c', 3), Paperboy.Error, FAILED, 'set() after the engine stopped');
    assertThrows(() => table.delete('b'), Paperboy.Error, FAILED, 'delete() after the engine stopped');
    assertThrows(() => engine.produce(topic, -1, 'k', 'v'), Paperboy.Error, FAILED,
        'produce() after the engine stopped');
});

/* Values */

// key → [value to set, its type in the table, what getValue() gives]
const VALUES = {
    string: ['héllo wörld ✓', 's', 'héllo wörld ✓'],
    empty: ['', 's', ''],
    integer: [42, 'x', 42],
    negative: [-7, 'x', -7],
    zero: [0, 'x', 0],
    bigint: [2n ** 40n, 'x', 2 ** 40],
    float: [2.5, 'd', 2.5],
    huge: [1e300, 'd', 1e300],
    true: [true, 'b', true],
    false: [false, 'b', false],
    bytes: [new Uint8Array([0, 1, 255]), 'ay', new Uint8Array([0, 1, 255])],
    object: [{name: 'x', n: 1, ok: true, ratio: 0.25}, 'a{sv}', {name: 'x', n: 1, ok: true, ratio: 0.25}],
    array: [[1, 'two', 3.5, false], 'av', [1, 'two', 3.5, false]],
    nested: [
        {list: [{a: [1, [2, 'x']]}, []], meta: {deep: {deeper: 'y'}, none: {}}},
        'a{sv}',
        {list: [{a: [1, [2, 'x']]}, []], meta: {deep: {deeper: 'y'}, none: {}}},
    ],
    emptyArray: [[], 'av', []],
    tuple: [new GLib.Variant('(sib)', ['x', 3, true]), '(sib)', ['x', 3, true]],
    int32: [new GLib.Variant('i', -5), 'i', -5],
    strv: [new GLib.Variant('as', ['a', 'b']), 'as', ['a', 'b']],
    dict: [new GLib.Variant('a{si}', {one: 1, two: 2}), 'a{si}', {one: 1, two: 2}],
};

// An a{sv} of narrower integers: inside a `v`, integers become int64.
const NARROW = new GLib.Variant('a{sv}', {
    i: new GLib.Variant('i', 7),
    u: new GLib.Variant('u', 8),
    y: new GLib.Variant('y', 9),
    n: new GLib.Variant('n', -3),
    s: new GLib.Variant('s', 'text'),
});
const NARROW_NORMALIZED = "{'i': <int64 7>, 'n': <int64 -3>, 's': <'text'>, 'u': <int64 8>, 'y': <int64 9>}";

function checkValues(table, what) {
    for (const [key, [, type, expected]] of Object.entries(VALUES)) {
        const variant = table.get(key);
        assert(variant !== null, `${what}: ${key} has a value`);
        assertEqual(variant.get_type_string(), type, `${what}: type of ${key}`);
        assertEqual(table.getValue(key), expected, `${what}: value of ${key}`);
    }
    const normalized = table.get('narrow');
    assertEqual(normalized.get_type_string(), 'a{sv}', `${what}: type of the normalized a{sv}`);
    // GVariant dictionaries print in their order: compare sorted entries.
    const entries = normalized.print(true).slice(1, -1).split(', ').sort().join(', ');
    assertEqual(`{${entries}}`, NARROW_NORMALIZED, `${what}: the a{sv} of narrow integers holds int64s`);
    assertEqual(table.get('gone'), null, `${what}: a deleted key`);
}

test('values of every kind round trip, live and restored into a new table (memory://)', ({topic, group}) => {
    const name = unique('table');
    const table = Paperboy.Table.new(name, 'memory://');
    let writes = 0;

    produceRecords(topic, 1);
    runScript(group, topic, [table], 1, () => {
        for (const [key, [value]] of Object.entries(VALUES)) {
            table.set(key, value);
            writes++;
        }
        table.set('narrow', NARROW);
        table.set('gone', 'soon');
        table.delete('gone');
        writes += 3;
        checkValues(table, 'live');
    });
    assertEqual(table.restored_records, 0, 'restored records of the first run');

    // A new engine and table restore the whole changelog.
    produce(topic, 0, 'check', 'v');
    const again = Paperboy.Table.new(name, 'memory://');
    runScript(group, topic, [again], 1, () => checkValues(again, 'restored'));
    assertEqual(again.restored_records, writes, 'restored records: one per set() or delete()');
    assertEqual(again.bad_records, 0, 'bad records');
    checkValues(again, 'after the second run');

    // load() reads the same changelog without an engine...
    const servers = cluster.get_bootstrap_servers();
    const loaded = Paperboy.Table.new(name, 'memory://');
    assertEqual(loaded.load(servers, null), true, 'load()');
    assertEqual([loaded.restored_records, loaded.bad_records], [writes, 0], 'restored and bad records of load()');
    checkValues(loaded, 'loaded');
    assertEqual(entries(loaded), entries(table), 'the loaded table equals the written one');
    assertEqual(loaded.store.get_offsets().deepUnpack(), {0: writes}, 'the offsets of the loaded store');
    // ... and again reads only what came after the store's offsets.
    loaded.load(servers, null);
    assertEqual(loaded.restored_records, 0, 'restored records of a second load()');
    checkValues(loaded, 'loaded twice');

    // Another name, the same changelog topic, a store of its own.
    const store = Paperboy.MemoryStore.new();
    const other = new Paperboy.Table({name: unique('other'), store, changelog_topic_name: `${name}-changelog`});
    assertEqual(other.load(servers, null), true, 'load() of a table with the same changelog topic');
    assertEqual(other.restored_records, writes, 'restored records of the other table');
    assertEqual(entries(store), entries(table), 'the store holds the written table');

    for (const uri of ['rocksdb://', 'rocksdb://relative/path']) {
        assertThrows(() => Paperboy.Table.new(name, uri).load(servers, null), Paperboy.Error, CONFIG,
            `load() of a table with the store URI “${uri}”`);
    }
});

test('refused values: not finite doubles (Paperboy.Error.FAILED), null, undefined, others', ({topic, group}) => {
    const table = Paperboy.Table.new(unique('table'), 'memory://');
    const changes = [];

    table.connect('changed', (self, key) => changes.push(key));
    produceRecords(topic, 1);
    runScript(group, topic, [table], 1, () => {
        for (const [what, value] of [
            ['NaN', NaN],
            ['Infinity', Infinity],
            ['a GLib.Variant of -Infinity', new GLib.Variant('d', -Infinity)],
            ['NaN in an array of doubles', new GLib.Variant('ad', [1, NaN])],
            ['NaN in an object', {x: [1, NaN]}],
        ]) {
            let error = null;
            try {
                table.set('bad', value);
            } catch (e) {
                error = e;
            }
            if (error === null)
                fail(`${what}: set() did not throw`);
            assertError(error, Paperboy.Error, FAILED, what);
            // Inside a `v`, the value is refused by the JSON round trip
            // that normalizes it, with a parse error as the message.
            if (!what.includes('object'))
                assertIncludes(error.message, 'not finite', `${what}: message`);
        }
        for (const [what, value, type] of [
            ['null', null, TypeError],
            ['undefined', undefined, TypeError],
            ['a Map', new Map(), TypeError],
            ['a function', () => 1, TypeError],
            ['a Date in an array', [new Date()], TypeError],
            ['a BigInt past int64', 2n ** 63n, RangeError],
        ]) {
            let error = null;
            try {
                table.set('bad', value);
            } catch (e) {
                error = e;
            }
            assert(error instanceof type, `${what}: throws a ${type.name}, got ${error}`);
        }
        assertEqual(table.get('bad'), null, 'nothing was stored');
        table.set('good', 1);
        assertEqual(table.getValue('good'), 1, 'a set() after the refusals');
    });
    assertEqual(changes, ['good'], 'changed emissions');
});

/* RocksDB */

test('rocksdb:// and rocksdb:///path: a clean restart restores nothing and keeps the values', ({topic, group}) => {
    const stateDir = GLib.dir_make_tmp('paperboy-js-table-XXXXXX');
    const name = unique('table');
    const pathName = unique('table');
    const path = GLib.build_filenamev([stateDir, 'elsewhere', 'db']);
    const tables = () => [
        Paperboy.Table.new(name, 'rocksdb://'),
        Paperboy.Table.new(pathName, `rocksdb://${path}`),
    ];

    try {
        produceRecords(topic, 3);
        // In a function of its own: its engine and tables are garbage once
        // it returned.
        (() => {
            const first = tables();
            const {engine} = runScript(group, topic, first, 3, message => {
                for (const table of first) {
                    table.set('count', table.getValue('count', 0) + 1);
                    table.set(bytesToString(message.get_key()), {value: bytesToString(message.get_value())});
                }
            }, {state_dir: stateDir});
            assertEqual(engine.state_dir, stateDir, 'engine.state_dir');
        })();
        assert(GLib.file_test(GLib.build_filenamev([stateDir, name]), GLib.FileTest.IS_DIR),
            'rocksdb:// keeps its database in <state-dir>/<table name>');
        assert(GLib.file_test(path, GLib.FileTest.IS_DIR), 'rocksdb:///path keeps its database at the path');

        // The run closed the stores when it ended: the next tables open
        // the databases.

        produce(topic, 0, 'k-3', 'v-3');
        const second = tables();
        runScript(group, topic, second, 1, () => {
            for (const table of second) {
                assertEqual(table.restored_records, 0, `${table.name}: restored records`);
                assertEqual(table.getValue('count'), 3, `${table.name}: count after the restart`);
                assertEqual(table.getValue('k-1'), {value: 'v-1'}, `${table.name}: a value after the restart`);
                table.set('count', table.getValue('count') + 1);
            }
        }, {state_dir: stateDir});
        for (const table of second)
            assertEqual(table.getValue('count'), 4, `${table.name}: count after the second run`);

        // Reading them after the run opened the databases again: another
        // table cannot open one until close(), with no need to drop the
        // table and collect garbage.
        const servers = cluster.get_bootstrap_servers();
        for (const [table, dbPath] of [[second[0], GLib.build_filenamev([stateDir, name])], [second[1], path]]) {
            const expected = entries(table);
            const byPath = Paperboy.Table.new(table.name, `rocksdb://${dbPath}`);
            assertThrows(() => byPath.load(servers, null), Paperboy.Error, STORE,
                `${table.name}: load() of a database another table holds`);
            table.close();
            assertEqual(byPath.load(servers, null), true, `${table.name}: load() once the table was closed`);
            assertEqual(byPath.restored_records, 0, `${table.name}: restored records of load()`);
            assertEqual(entries(byPath), expected, `${table.name}: the loaded table`);
            assert(byPath.store instanceof Paperboy.RocksdbStore, `${table.name}: the store is a RocksdbStore`);
            assertEqual(byPath.store.path, dbPath, `${table.name}: the path of the store`);
            byPath.close();
            byPath.close();
            // Reading a closed table opens its store again.
            assertEqual(table.getValue('count'), 4, `${table.name}: count once closed`);
            table.close();
        }
    } finally {
        System.gc();
        removeTree(Gio.File.new_for_path(stateDir));
    }
});

/* Stores */

const B = new GLib.Variant('a{sv}', {n: new GLib.Variant('x', 2)});
const C = new GLib.Variant('ay', new Uint8Array([0, 255]));

function newBatch() {
    const batch = Paperboy.StoreBatch.new();

    batch.put('a', new GLib.Variant('s', 'one'));
    batch.put('b', B);
    batch.put('c', C);
    batch.put('a', null);
    batch.set_offset(0, 5);
    batch.set_offset(3, 9);
    batch.set_offset(0, 6);
    return batch;
}

const BATCH_ENTRIES = [['b', {n: 2}], ['c', new Uint8Array([0, 255])]];

/* Applies, reads, closes, reopens and wipes an empty store; leaves it
 * closed and empty. */
function checkStore(store, what) {
    assert(store instanceof Paperboy.Store, `${what}: a Paperboy.Store`);
    assertEqual(store.open(), true, `${what}: open()`);
    assertEqual(store.open(), true, `${what}: open() again`);
    const empty = store.get_offsets();
    assertEqual([empty.get_type_string(), empty.deepUnpack()], ['a{ix}', {}], `${what}: offsets of an empty store`);
    assertEqual(store.lookup('a'), null, `${what}: lookup() in an empty store`);
    assertEqual(entries(store), [], `${what}: entries of an empty store`);

    assertEqual(store.apply(newBatch()), true, `${what}: apply()`);
    assertEqual(store.lookup('a'), null, `${what}: a key put then deleted in one batch`);
    assert(store.lookup('b').equal(B), `${what}: lookup() of a{sv}`);
    assert(store.lookup('c').equal(C), `${what}: lookup() of ay`);
    assertEqual(entries(store), BATCH_ENTRIES, `${what}: entries`);
    const offsets = store.get_offsets();
    assertEqual([offsets.get_type_string(), offsets.deepUnpack()], ['a{ix}', {0: 6, 3: 9}], `${what}: offsets`);

    const seen = [];
    assertEqual(store.foreach(key => {
        seen.push(key);
        return false;
    }), true, `${what}: foreach() stopped early`);
    assertEqual(seen.length, 1, `${what}: foreach() stops when the function returns false`);

    const batch = Paperboy.StoreBatch.new();
    batch.put('b', null);
    batch.put('d', new GLib.Variant('(ib)', [1, true]));
    batch.set_offset(3, 10);
    store.apply(batch);
    assertEqual(entries(store), [['c', new Uint8Array([0, 255])], ['d', [1, true]]], `${what}: entries after a delete`);
    assertEqual(store.get_offsets().deepUnpack(), {0: 6, 3: 10}, `${what}: offsets after a second batch`);

    store.close();
    assertEqual(store.open(), true, `${what}: open() after close()`);
    assert(store.lookup('c').equal(C), `${what}: close() keeps the data`);
    assertEqual(store.get_offsets().deepUnpack(), {0: 6, 3: 10}, `${what}: close() keeps the offsets`);

    assertEqual(store.wipe(), true, `${what}: wipe()`);
    assertEqual(entries(store), [], `${what}: entries after wipe()`);
    assertEqual(store.lookup('c'), null, `${what}: lookup() after wipe()`);
    assertEqual(store.get_offsets().deepUnpack(), {}, `${what}: offsets after wipe()`);
    store.close();
    store.close();
}

test('Paperboy.StoreBatch, and MemoryStore and RocksdbStore used directly through Paperboy.Store', () => {
    const emptyBatch = Paperboy.StoreBatch.new();
    assertEqual([emptyBatch.get_n_changes(), emptyBatch.get_n_offsets()], [0, 0], 'an empty batch');
    const batch = newBatch();
    assertEqual(batch.get_n_changes(), 4, 'get_n_changes()');
    const changes = [0, 1, 2, 3].map(i => batch.get_change(i));
    assertEqual(changes.map(([key]) => key), ['a', 'b', 'c', 'a'], 'the keys of get_change()');
    assert(changes[1][1].equal(B) && changes[2][1].equal(C), 'the values of get_change()');
    assertEqual([unpack(changes[0][1]), changes[3][1]], ['one', null], 'a value, and a deletion');
    assertEqual(batch.get_n_offsets(), 2, 'get_n_offsets(): setting a partition again replaces it');
    assertEqual([0, 1].map(i => batch.get_offset(i)), [[0, 6], [3, 9]], 'get_offset()');

    const memory = Paperboy.MemoryStore.new();
    assert(memory instanceof Paperboy.MemoryStore, 'MemoryStore.new() gives a MemoryStore');
    checkStore(memory, 'memory');

    const tmp = GLib.dir_make_tmp('paperboy-js-store-XXXXXX');
    try {
        const path = GLib.build_filenamev([tmp, 'parent', 'db']);
        const store = Paperboy.RocksdbStore.new(path);
        assert(store instanceof Paperboy.RocksdbStore, 'RocksdbStore.new() gives a RocksdbStore');
        assertEqual([store.path, store.get_path(), store.read_only, store.get_read_only()], [path, path, false, false],
            'path and read-only');
        assertThrows(() => store.lookup('a'), Paperboy.Error, STORE, 'lookup() before open()');
        assertThrows(() => store.apply(newBatch()), Paperboy.Error, STORE, 'apply() before open()');
        assert(!GLib.file_test(path, GLib.FileTest.EXISTS), 'nothing created before open()');
        checkStore(store, 'rocksdb');
        assert(GLib.file_test(path, GLib.FileTest.IS_DIR), 'open() created the directory and its parents');

        store.open();
        store.apply(newBatch());
        const keys = [];
        store.foreach(key => keys.push(key) > 0);
        assertEqual(keys, ['b', 'c'], 'foreach() goes in the byte order of keys');

        // One writer at a time...
        const second = Paperboy.RocksdbStore.new(path);
        const inUse = assertThrows(() => second.open(), Paperboy.Error, STORE, 'a second store on an open database');
        assertIncludes(inUse.message, path, 'the message names the path');
        // ... but readers alongside it.
        const reader = new Paperboy.RocksdbStore({path, read_only: true});
        assertEqual(reader.read_only, true, 'read_only set at construction');
        assertEqual(reader.open(), true, 'a read-only store opens a database in use');
        assertEqual(entries(reader), BATCH_ENTRIES, 'the entries seen by a reader');
        assertEqual(reader.get_offsets().deepUnpack(), {0: 6, 3: 9}, 'the offsets seen by a reader');
        assertThrows(() => reader.apply(newBatch()), Paperboy.Error, STORE, 'apply() on a read-only store');
        assertThrows(() => reader.wipe(), Paperboy.Error, STORE, 'wipe() on a read-only store');
        reader.close();

        // Once the first one is closed, the second one opens the database.
        store.close();
        assertEqual(second.open(), true, 'open() once the first store was closed');
        assertEqual(entries(second), BATCH_ENTRIES, 'the entries seen by the second store');
        second.close();
        second.set_read_only(true);
        assertEqual(second.read_only, true, 'set_read_only()');

        assertThrows(() => Paperboy.RocksdbStore.new('').open(), Paperboy.Error, CONFIG, 'open() without a path');
    } finally {
        removeTree(Gio.File.new_for_path(tmp));
    }
});

/* Bad changelog records */

test('a changelog record that is not JSON: skipped and counted, or a strict table fails the run', ({topic}) => {
    const name = unique('bad');
    const changelog = `${name}-changelog`;
    const servers = cluster.get_bootstrap_servers();

    cluster.create_topic(changelog, 1);
    for (const [key, value, type] of [['a', '"good"', 's'], ['a', 'not json', 's'], ['n', '7', 'x']])
        produce(changelog, 0, key, value, headersVariant([['paperboy.type', type], ['paperboy.encoding', 'json/1']]));
    cluster.create_topic(topic, 1);

    const checkLenient = (table, what) => {
        assertEqual([table.restored_records, table.bad_records], [3, 1], `${what}: restored and bad records`);
        assertEqual([table.getValue('a'), table.getValue('n')], ['good', 7], `${what}: the bad record's key keeps its value`);
    };

    // Lenient (the default): the engine restores it, and runs.
    const lenient = Paperboy.Table.new(name, 'memory://');
    assertEqual([lenient.strict, lenient.get_strict()], [false, false], 'not strict by default');
    let restored = false;
    lenient.connect('restored', () => {
        restored = true;
    });
    const engine = newEngine(unique('group'));
    engine.add_handler(new Scripted({topic}));
    engine.register_table(lenient);
    runEngineOk(engine, {until: () => restored});
    checkLenient(lenient, 'engine');
    const loaded = Paperboy.Table.new(name, 'memory://');
    assertEqual(loaded.load(servers, null), true, 'load() of a lenient table');
    checkLenient(loaded, 'load()');

    // Strict: the run fails.
    const strict = Paperboy.Table.new(name, 'memory://');
    strict.strict = true;
    assertEqual(strict.get_strict(), true, 'strict');
    let strictRestored = false;
    strict.connect('restored', () => {
        strictRestored = true;
    });
    const strictEngine = newEngine(unique('group'));
    strictEngine.add_handler(new Scripted({topic}));
    strictEngine.register_table(strict);
    const {ok, error} = runEngine(strictEngine);
    assertEqual(ok, false, 'the run of a strict table');
    assertError(error, Paperboy.Error, CHANGELOG, 'the error of the run');
    assertIncludes(error.message, name, 'the message names the table');
    assertEqual(strictRestored, false, 'restored is not emitted');

    const strictLoaded = Paperboy.Table.new(name, 'memory://');
    strictLoaded.set_strict(true);
    assertThrows(() => strictLoaded.load(servers, null), Paperboy.Error, CHANGELOG, 'load() of a strict table');
});

/* Registering */

test('register_table: duplicate name or changelog, bad URI, a changelog consumed by a handler', ({group}) => {
    const engine = newEngine(group);
    const name = unique('table');
    const table = Paperboy.Table.new(name, 'memory://');

    assertEqual(engine.register_table(table), true, 'register_table()');
    assertSame(engine.get_table(name), table, 'get_table()');
    assertEqual(engine.get_table('no-such-table'), null, 'get_table() of an unknown name');

    assertThrows(() => engine.register_table(Paperboy.Table.new(name, 'memory://')),
        Paperboy.Error, CONFIG, 'a second table of the same name');
    const sameChangelog = new Paperboy.Table({
        name: unique('other'), store_uri: 'memory://', changelog_topic_name: `${name}-changelog`,
    });
    const error = assertThrows(() => engine.register_table(sameChangelog),
        Paperboy.Error, CONFIG, 'a second table with the same changelog');
    assertIncludes(error.message, name, 'the message names the first table');

    for (const uri of ['foo://', '', 'rocksdb:', 'rocksdb://relative/path', 'memory://x']) {
        const bad = Paperboy.Table.new(unique('bad'), uri);
        assertThrows(() => engine.register_table(bad), Paperboy.Error, CONFIG, `store URI “${uri}”`);
        assertEqual(engine.get_table(bad.name), null, `a table with the URI “${uri}” is not registered`);
    }

    // A handler of the changelog, added before or after the table.
    const consumer = newEngine(`${group}-b`);
    const changelog = unique('consumed');
    consumer.add_handler(new Scripted({topic: `${changelog}-changelog`}));
    const consumed = assertThrows(() => consumer.register_table(Paperboy.Table.new(changelog, 'memory://')),
        Paperboy.Error, CONFIG, 'a changelog consumed by a handler');
    assertIncludes(consumed.message, 'PbJsTestTableScripted', 'the message names the handler');
    assertThrows(() => engine.add_handler(new Scripted({topic: `${name}-changelog`})),
        Paperboy.Error, CONFIG, 'a handler of a registered table\'s changelog');
});

/* Producing */

test('engine.produce() from a handler: records with their headers, committed after delivery', ({topic, group}) => {
    const target = unique('target');
    const engine = newEngine(group);
    const source = new Scripted({topic});
    const collector = new Collector({topic: target});
    const n = 4;

    cluster.create_topic(target, 2);
    produceRecords(topic, n);
    source.engine = engine;
    let typeError = null;
    source.script = message => {
        switch (message.get_offset()) {
        case 0:   // strings, and headers as pairs
            engine.produce(target, -1, 'key-0', 'value-0',
                [['trace', 'trace-0'], ['empty', ''], ['none', null], ['bin', new Uint8Array([104, 105])]]);
            try {
                engine.produce(target, -1, 42, 'v');
            } catch (e) {
                typeError = e;
            }
            break;
        case 1:   // GLib.Bytes and a GLib.Variant of headers, on partition 1
            engine.produce(target, 1, new GLib.Bytes(encoder.encode('key-1')),
                new GLib.Bytes(encoder.encode('value-1')), headersVariant([['trace', 'trace-1']]));
            break;
        case 2:   // a tombstone without headers
            engine.produce(target, 0, 'key-2', null, null);
            break;
        default:  // a Uint8Array and no key
            engine.produce(target, -1, null, encoder.encode('value-3'));
        }
    };
    engine.add_handler(source);
    engine.add_handler(collector);

    runEngineOk(engine, {until: () => collector.records.length >= n && committed(group, topic, 0) === n});
    if (source.thrown !== null)
        throw source.thrown;
    assert(typeError instanceof TypeError, `a number as the key throws a TypeError, got ${typeError}`);

    const byKey = new Map(collector.records.map(r => [r.key, r]));
    assertEqual(collector.records.length, n, 'records in the target topic');
    assertEqual(byKey.get('key-0').value, 'value-0', 'value of a record');
    assertEqual(byKey.get('key-0').headers,
        [['trace', 'trace-0'], ['empty', ''], ['none', null], ['bin', 'hi']], 'headers given as pairs');
    assertEqual(byKey.get('key-1'), {key: 'key-1', value: 'value-1', partition: 1, headers: [['trace', 'trace-1']]},
        'a record produced to partition 1 with a GLib.Variant of headers');
    assertEqual(byKey.get('key-2'), {key: 'key-2', value: null, partition: 0, headers: []}, 'a tombstone');
    assertEqual(byKey.get(null).value, 'value-3', 'a record without a key');
    assertEqual(committed(group, topic, 0), n, 'committed offset of the source');
});

/* The page-view example */

/* Counts records by key into its table. */
const ViewCounter = GObject.registerClass({
    GTypeName: 'PbJsTestTableViewCounter',
}, class ViewCounter extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.table = null;
        this.errors = [];
    }

    vfunc_on_message(message) {
        const key = bytesToString(message.get_key());
        this.table.set(key, this.table.getValue(key, 0) + 1);
        this.handled = (this.handled ?? 0) + 1;
        return true;
    }

    vfunc_on_error(error) {
        this.errors.push(error.message);
        return Paperboy.ErrorAction.CONTINUE;
    }
});

/* A new group counts the records of @topic into a memory:// table named
 * @name; returns the counts. */
function countAgain(topic, name, guarantee, n) {
    const engine = newEngine(unique('js-exact'), {processing_guarantee: guarantee});
    const table = Paperboy.Table.new(name, 'memory://');
    engine.register_table(table);
    const handler = new ViewCounter({topic});
    handler.table = table;
    engine.add_handler(handler);
    runEngineOk(engine, {until: () => handler.handled >= n});
    assertEqual(handler.handled, n, 'records handled');
    assertEqual(handler.errors, [], 'no handler errors');
    return Object.fromEntries(entries(table));
}

for (const [guarantee, again] of [['EXACT_STATE', 30], ['AT_LEAST_ONCE', 60]]) {
    test(`${guarantee}: records handled again by a new group count ${again === 30 ? 'once' : 'twice'}`, () => {
        const topic = unique('js-exact-views');
        const name = unique('js-exact-table');
        cluster.create_topic(topic, 1);
        for (let i = 0; i < 300; i++)
            produce(topic, 0, `page-${i % 10}`, 'view');
        const expected = n => Object.fromEntries(Array.from({length: 10}, (_, i) => [`page-${i}`, n]));

        assertEqual(countAgain(topic, name, Paperboy.ProcessingGuarantee[guarantee], 300),
            expected(30), 'the first counts');
        // The memory:// table restores from the changelog, which says which
        // records its changes came from.
        assertEqual(countAgain(topic, name, Paperboy.ProcessingGuarantee[guarantee], 300),
            expected(again), 'the counts once the records were handled again');
    });
}

test('processing-guarantee is at-least-once unless set', () => {
    const engine = newEngine(unique('js-exact'));
    assertEqual(engine.processing_guarantee, Paperboy.ProcessingGuarantee.AT_LEAST_ONCE, 'default');
    engine.set_processing_guarantee(Paperboy.ProcessingGuarantee.EXACT_STATE);
    assertEqual(engine.get_processing_guarantee(), Paperboy.ProcessingGuarantee.EXACT_STATE, 'set');
});

const PARTITIONS = 4;
const keys = Array.from({length: 16}, (_, i) => `page-${i}`);

/* Two members counting two records of each key, the second one started
 * once the first one counted them. */
async function startMembers(topic, group, standbyReplicas = 0) {
    const name = unique('js-views');
    cluster.create_topic(topic, PARTITIONS);
    for (let round = 0; round < 2; round++) {
        for (const key of keys)
            produce(topic, -1, key, 'view');
    }
    const total = () => Array.from({length: PARTITIONS}, (_, p) => committed(group, topic, p))
        .reduce((a, b) => a + b, 0);

    const members = [];
    for (let i = 0; i < 2; i++) {
        const engine = newEngine(group);
        const table = Paperboy.Table.new(name, 'memory://');
        table.standby_replicas = standbyReplicas;
        engine.register_table(table);
        const handler = new ViewCounter({topic});
        handler.table = table;
        engine.add_handler(handler);
        members.push({engine, table, handler, run: engine.run_async(null)});
        // eslint-disable-next-line no-await-in-loop
        await waitFor(() => total() === 2 * keys.length, 'every record counted');
    }
    return members;
}

test('two members of a group share a partitioned table: each holds its partitions, NOT_OWNER for the others', async ({topic, group}) => {
    const members = await startMembers(topic, group);

    const held = () => members.map(m => m.table.get_partitions());
    await waitFor(() => members.every(m => m.engine.state === Paperboy.EngineState.RUNNING) &&
        held().every(h => h.length > 0) &&
        held().reduce((n, h) => n + h.length, 0) === PARTITIONS, 'two members holding partitions');

    const [first, second] = held();
    assertEqual([...first, ...second].sort(), [0, 1, 2, 3], 'the partitions, each held once');
    for (const key of keys) {
        members.forEach((m, i) => {
            const partition = m.table.get_partition_for_key(key);
            if (held()[i].includes(partition)) {
                assertEqual(m.table.getValue(key), 2, `${key} in its member`);
            } else {
                const e = assertThrows(() => m.table.get(key), Paperboy.Error, Paperboy.Error.NOT_OWNER,
                    `${key} in the other member`);
                assertIncludes(e.message, key, 'the error names the key');
            }
        });
    }
    members.forEach((m, i) => {
        for (const [key] of entries(m.table))
            assert(held()[i].includes(m.table.get_partition_for_key(key)), `foreach() gives ${key} of a partition held`);
    });

    for (const m of members)
        m.engine.stop();
    for (const m of members) {
        // eslint-disable-next-line no-await-in-loop
        assertEqual(await finishRun(m.engine, m.run), true, 'run_finish() result');
        assertEqual(m.handler.errors, [], 'no handler errors');
    }
});

test('standby replicas: a member follows the partitions it does not hold, and a failover reads nothing', async ({topic, group}) => {
    const members = await startMembers(topic, group, 1);
    const [first, second] = members;
    await waitFor(() => first.table.get_partitions().length > 0 && second.table.get_partitions().length > 0 &&
        first.table.get_partitions().length + second.table.get_partitions().length === PARTITIONS,
    'two members holding partitions');
    const others = keys.filter(key =>
        !second.table.get_partitions().includes(second.table.get_partition_for_key(key)));
    // Its own partitions restored from where its standby replica stood:
    // two changes of each key, read once.
    const read = () => second.table.restored_records + second.table.standby_records;
    await waitFor(() => read() >= 2 * keys.length, 'the standby caught up');
    assertEqual(read(), 2 * keys.length, 'two changes of each key read once');
    assert(second.table.standby_records > 0, 'the standby replica followed');
    assertThrows(() => second.table.get(others[0]), Paperboy.Error, Paperboy.Error.NOT_OWNER,
        'a followed key is out of reach');

    const restored = second.table.restored_records;
    first.engine.stop();
    assertEqual(await finishRun(first.engine, first.run), true, 'run_finish() result');
    await waitFor(() => second.table.get_partitions().length === PARTITIONS &&
        second.engine.state === Paperboy.EngineState.RUNNING, 'the second member holding everything');
    assertEqual(second.table.restored_records, restored, 'nothing read again');
    for (const key of keys)
        assertEqual(second.table.getValue(key), 2, `${key} counted`);

    second.engine.stop();
    assertEqual(await finishRun(second.engine, second.run), true, 'run_finish() result');
    for (const m of members)
        assertEqual(m.handler.errors, [], 'no handler errors');
});

test('a global table: restored in full, read-only for handlers, follows its changelog', async ({topic, group}) => {
    const changelog = unique('js-rates-changelog');
    cluster.create_topic(topic, 2);
    cluster.create_topic(changelog, 3);
    const typed = headersVariant([['paperboy.type', 's'], ['paperboy.encoding', 'json/1']]);
    produce(changelog, 0, 'usd', '"1.10"', typed);

    const table = Paperboy.Table.new(unique('js-rates'), 'memory://');
    table.global = true;
    table.changelog_topic_name = changelog;
    assertEqual(table.get_global(), true, 'get_global()');
    const changes = [];
    table.connect('changed', (t, key, old, now) => changes.push([key, old?.unpack(), now?.unpack()]));

    const handler = new Scripted({topic});
    const seen = [];
    handler.script = message => {
        seen.push(table.getValue(bytesToString(message.get_key()), 'none'));
        assertThrows(() => table.set('usd', '0'), Paperboy.Error, FAILED, 'set() of a global table');
    };
    const engine = newEngine(group);
    handler.engine = engine;
    engine.add_handler(handler);
    engine.register_table(table);
    const run = engine.run_async(null);
    await waitFor(() => engine.state === Paperboy.EngineState.RUNNING, 'running');
    assertEqual(table.getValue('usd'), '1.10', 'restored before the join');
    assertEqual(table.get_partitions(), [0, 1, 2], 'a global table holds every partition');

    produce(changelog, 2, 'usd', '"1.20"', typed);
    await waitFor(() => changes.length > 0, 'the change written elsewhere');
    assertEqual(changes, [['usd', '1.10', '1.20']], 'changed');
    produce(topic, 1, 'usd', 'x');
    await waitFor(() => seen.length > 0, 'a record read');
    engine.stop();
    assertEqual(await finishRun(engine, run), true, 'run_finish() result');
    if (handler.thrown)
        throw handler.thrown;
    assertEqual(seen, ['1.20'], 'what the handler read');
});

test('partitioner and wipe-damaged-store: the partition of a key, a damaged store wiped and restored', ({topic, group}) => {
    cluster.create_topic(topic, 4);
    produce(topic, 0, 'k', 'v');
    const tables = [Paperboy.TablePartitioner.MURMUR2, Paperboy.TablePartitioner.CONSISTENT].map(partitioner => {
        const table = Paperboy.Table.new(unique('js-partitioned'), 'memory://');
        assertEqual(table.get_partition_for_key('a'), -1, 'no partition before a run');
        table.partitioner = partitioner;
        const engine = newEngine(unique('group'));
        engine.add_handler(new Scripted({topic}));
        engine.register_table(table);
        runEngineOk(engine, {until: () => table.get_partitions().length === 4});
        return table;
    });
    // Kafka's and librdkafka's defaults spread keys differently.
    const keys = Array.from({length: 40}, (_, i) => `key-${i}`);
    const [murmur2, consistent] = tables.map(t => keys.map(k => t.get_partition_for_key(k)));
    assert(murmur2.every(p => p >= 0 && p < 4) && consistent.every(p => p >= 0 && p < 4), 'partitions in range');
    assert(murmur2.some((p, i) => p !== consistent[i]), 'the two partitioners differ');
    assertEqual(tables[0].partitioner, Paperboy.TablePartitioner.MURMUR2, 'the default partitioner');

    const stateDir = GLib.dir_make_tmp('pb-js-damaged-XXXXXX');
    try {
        const name = unique('js-damaged');
        const source = unique('js-damaged-src');
        produceRecords(source, 5);
        const runWith = wipe => {
            const table = Paperboy.Table.new(name, 'rocksdb://');
            assertEqual(table.wipe_damaged_store, true, 'wipe-damaged-store by default');
            table.wipe_damaged_store = wipe;
            const handler = new Scripted({topic: source});
            handler.script = message => table.set(bytesToString(message.get_key()), 1);
            const engine = newEngine(group, {state_dir: stateDir});
            handler.engine = engine;
            engine.add_handler(handler);
            engine.register_table(table);
            const result = runEngine(engine, {
                until: () => committed(group, source, 0) === 5 && engine.state === Paperboy.EngineState.RUNNING,
            });
            table.close();
            return [table, result];
        };
        runWith(true);
        GLib.file_set_contents(GLib.build_filenamev([stateDir, name, 'CURRENT']), 'garbage');
        const [, failed] = runWith(false);
        assertError(failed.error, Paperboy.Error, Paperboy.Error.STORE_CORRUPT, 'a damaged store, not wiped');
        const [table] = runWith(true);
        assertEqual(table.restored_records, 5, 'restored from the changelog');
    } finally {
        removeTree(Gio.File.new_for_path(stateDir));
    }
});

test('examples/pageviews.js counts page views and resets on a tombstone', async () => {
    const example = Gio.File.new_for_uri(import.meta.url).get_parent()
        .resolve_relative_path('../../examples/pageviews.js');
    const launcher = new Gio.SubprocessLauncher({
        flags: Gio.SubprocessFlags.STDOUT_PIPE | Gio.SubprocessFlags.STDERR_PIPE,
    });
    launcher.unsetenv('PAPERBOY_BOOTSTRAP_SERVERS');
    const gjs = GLib.find_program_in_path('gjs');
    assert(gjs !== null, 'gjs is in PATH');
    const process = launcher.spawnv([gjs, '-m', example.get_path()]);
    const timeout = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 30000, () => {
        process.force_exit();
        return GLib.SOURCE_REMOVE;
    });

    let stdout, stderr;
    try {
        [stdout, stderr] = await process.communicate_utf8_async(null, null);
    } finally {
        GLib.source_remove(timeout);
    }
    const lines = stdout.trim().split('\n');
    if (!process.get_if_exited() || process.get_exit_status() !== 0)
        fail(`the example failed:\n${stdout}\n${stderr}`);
    assertEqual(stderr.trim(), '', 'stderr');

    const ofPage = page => lines.filter(l => l.startsWith(`${page}: `));
    assertEqual(lines[0], 'Restored 0 records', 'first line');
    assertEqual(ofPage('/home'), ['/home: 1 view', '/home: 2 views', '/home: 3 views'], '/home');
    assertEqual(ofPage('/about'), ['/about: 1 view', '/about: 2 views'], '/about');
    assertEqual(ofPage('/blog'), ['/blog: 1 view', '/blog: 0 views (reset)'], '/blog');
    assertEqual(lines.filter(l => l.startsWith('Total')).sort(),
        ['Total for /about: 2', 'Total for /home: 3'], 'the table at the end');
});

System.exit(runTests());
