# test_table.py: PbTable, PbStore and PbEngine.produce() from Python
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, Paperboy  # noqa: E402

from pbtest import (CLUSTER, Counter, iterate_until, make_engine, run_until,  # noqa: E402
                    unique)

try:
    import confluent_kafka
except ImportError:
    confluent_kafka = None

PAGEVIEWS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         '..', '..', 'examples', 'pageviews.py')
PB_ERROR_DOMAIN = GLib.quark_to_string(Paperboy.error_quark())

# Plain Python values, each set from a handler, and what reading it back
# gives (the same value unless given here).
VALUES = {
    'str': 'héllo wörld',
    'int': -2 ** 40,
    'float': 2.5,
    'bool': True,
    'bytes': b'\x00\x01bin',
    'dict': {'a': 1, 'b': 'two', 'c': 3.5, 'd': False},
    'list': [1, 'two', 3.0, True],
    'tuple': (1, 'two'),
    'nested': {'list': [1, {'deep': ['x', 2, [True]]}], 'map': {'k': 'v', 'n': -7},
               'empty': {}},
}
READ_BACK = {'tuple': [1, 'two']}
# Their changelog type.
TYPES = {'str': 's', 'int': 'x', 'float': 'd', 'bool': 'b', 'bytes': 'ay', 'dict': 'a{sv}',
         'list': 'av', 'tuple': 'av', 'nested': 'a{sv}'}


def int32_dict():
    return GLib.Variant('a{sv}', {'n': GLib.Variant('i', 5), 'u': GLib.Variant('q', 6)})


def contents(table):
    """The table (or a Paperboy.Store) as a dict of key to GLib.Variant."""
    items = {}

    def add(key, value):
        items[key] = value
        return True

    table.foreach(add)
    return items


def assertPbError(test, code, func, *args):
    """func(*args) raises a Paperboy GLib.Error of code; returns its message."""
    with test.assertRaises(GLib.Error) as cm:
        func(*args)
    test.assertEqual(cm.exception.domain, PB_ERROR_DOMAIN)
    test.assertTrue(cm.exception.matches(Paperboy.error_quark(), code),
                    '%s: %s' % (cm.exception.code, cm.exception.message))
    return cm.exception.message


def read_topic(topic, count, timeout=15):
    """Reads partition 0 of topic from the start with an independent client
    until it got count records; returns (key, value, headers dict)."""
    consumer = confluent_kafka.Consumer({
        'bootstrap.servers': CLUSTER.get_bootstrap_servers(),
        'group.id': unique('py-reader'),
        'enable.auto.commit': False,
        'fetch.wait.max.ms': 10,
    })
    records = []
    try:
        consumer.assign([confluent_kafka.TopicPartition(topic, 0,
                                                        confluent_kafka.OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise AssertionError('reading %s: %s' % (topic, msg.error()))
            records.append((msg.key().decode(), msg.value(), dict(msg.headers() or [])))
        # Nothing more than expected.
        extra = consumer.poll(0.3)
        if extra is not None and not extra.error():
            records.append((extra.key().decode(), extra.value(), dict(extra.headers() or [])))
    finally:
        consumer.close()
    return records


class Scripted(Paperboy.Handler):
    """Record number i runs script[i] (name, callable) and keeps what it
    returned, or the GLib.Error it raised, under that name."""

    def __init__(self, topic, script):
        super().__init__(topic=topic)
        self.script = script
        self.results = {}

    def do_on_message(self, msg, ctx):
        name, step = self.script[msg.get_offset()]
        try:
            self.results[name] = step()
        except GLib.Error as error:
            self.results[name] = error

    def done(self):
        return len(self.results) == len(self.script)


def run_script(engine, table, script):
    """Runs engine with table and a Scripted handler over a new topic of one
    record per step; returns the handler and the topic."""
    topic = unique('py-table-src')
    CLUSTER.create_topic(topic, 1)
    for i in range(len(script)):
        CLUSTER.produce(topic, 0, 'k-%d' % i, 'v-%d' % i)
    handler = Scripted(topic, script)
    engine.add_handler(handler)
    engine.register_table(table)
    run_until(engine, handler.done)
    return handler, topic


def restore(table, topic, group, **props):
    """Runs a new engine with table (and a handler on topic, whose records
    the group already handled) until the table was restored."""
    restored = []
    table.connect('restored', lambda t: restored.append(t.props.restored_records))
    engine = make_engine(group, **props)
    engine.add_handler(Counter(topic))
    engine.register_table(table)
    run_until(engine, lambda: restored)
    return restored


class LiveTableTests(unittest.TestCase):
    """One engine run writes a memory:// table from its handler."""

    @classmethod
    def setUpClass(cls):
        cls.name = unique('py-table')
        cls.group = unique('py-group')
        cls.target = unique('py-produced')
        CLUSTER.create_topic(cls.target, 1)
        table = cls.table = Paperboy.Table.new(cls.name, 'memory://')
        cls.changes = []
        cls.greeting_changes = []

        def unpack(variant):
            return None if variant is None else variant.unpack()

        table.connect('changed', lambda t, key, old, new:
                      cls.changes.append((key, unpack(old), unpack(new))))
        table.connect('changed::greeting', lambda t, key, old, new:
                      cls.greeting_changes.append((key, unpack(old), unpack(new))))

        def set_and_get(key, value):
            table.set(key, value)
            return table.get(key)

        engine = cls.engine = make_engine(cls.group)

        # A second table, kept in a store given to it, in the same run.
        cls.store = Paperboy.MemoryStore.new()
        cls.store_name = unique('py-store-table')
        store_table = cls.store_table = Paperboy.Table.new_with_store(cls.store_name, cls.store)
        engine.register_table(store_table)

        def write_store_table():
            store_table.set('kept', {'n': 1})
            store_table.set('gone', 'soon')
            return store_table.delete('gone')

        def produce():
            engine.produce(cls.target, -1, 'str-key', 'str-value',
                               [('h1', b'one'), ('h2', None), ('h3', 'three')])
            engine.produce(cls.target, 0, b'bytes-key', b'bytes-value', {'only': b'1'})
            engine.produce(cls.target, -1, GLib.Bytes.new(b'gi-key'), None,
                               GLib.Variant('a(smay)', [('gi', b'x')]))

        script = [
            ('set_greeting', lambda: set_and_get('greeting', 'hello')),
            ('get_greeting', lambda: table.get_value('greeting')),
            ('overwrite', lambda: set_and_get('greeting', 'bonjour')),
            ('other_key', lambda: table.set('other', 1)),
            ('delete', lambda: table.delete('greeting')),
            ('get_deleted', lambda: (table.get('greeting'), table.get_value('greeting', 'gone'))),
            ('delete_missing', lambda: table.delete('never-set')),
        ]
        script += [('type_' + key, lambda key=key, value=value: set_and_get(key, value))
                   for key, value in VALUES.items()]
        script += [
            ('variant', lambda: set_and_get('variant', GLib.Variant('(uay)', (7, b'ab')))),
            ('int32_in_dict', lambda: set_and_get('int32_in_dict', int32_dict())),
            ('nan', lambda: table.set('bad', float('nan'))),
            ('inf_in_dict', lambda: table.set('bad', {'x': [1, float('-inf')]})),
            ('inf_variant', lambda: table.set('bad', GLib.Variant('ad', [1.0, math.inf]))),
            ('produce', produce),
            ('store_table', write_store_table),
        ]
        cls.handler, cls.topic = run_script(engine, table, script)
        cls.results = cls.handler.results

    def test_set_get_delete(self):
        self.assertEqual(self.results['set_greeting'], GLib.Variant('s', 'hello'))
        self.assertEqual(self.results['get_greeting'], 'hello')
        self.assertEqual(self.results['overwrite'].unpack(), 'bonjour')
        self.assertEqual(self.results['get_deleted'], (None, 'gone'))
        self.assertIs(self.results['delete_missing'], True)
        # After the run too.
        self.assertIsNone(self.table.get('greeting'))
        self.assertEqual(self.table.get('other'), GLib.Variant('x', 1))
        self.assertEqual(self.table.get_value('other'), 1)
        self.assertIsNone(self.table.get_value('never-set'))
        # The source offsets were committed.
        self.assertEqual(CLUSTER.get_committed_offset(self.group, self.topic, 0),
                         len(self.handler.script))

    def test_changed_signal(self):
        self.assertEqual(self.greeting_changes, [('greeting', None, 'hello'),
                                                 ('greeting', 'hello', 'bonjour'),
                                                 ('greeting', 'bonjour', None)])
        self.assertEqual(self.changes[:4], self.greeting_changes[:2] + [('other', None, 1)]
                         + self.greeting_changes[2:])
        self.assertEqual([c[0] for c in self.changes[4:]],
                         list(VALUES) + ['variant', 'int32_in_dict'])
        # Refused values change nothing.
        self.assertNotIn('bad', [c[0] for c in self.changes])

    def test_value_types(self):
        for key, value in VALUES.items():
            with self.subTest(key=key):
                expected = READ_BACK.get(key, value)
                variant = self.results['type_' + key]
                self.assertEqual(variant.get_type_string(), TYPES[key])
                self.assertEqual(self.table.get_value(key), expected)
                self.assertEqual(type(self.table.get_value(key)), type(expected))
        self.assertEqual(self.table.get_value('variant'), (7, [97, 98]))
        self.assertEqual(self.table.get('variant').get_type_string(), '(uay)')

    def test_int32_in_dict_is_normalized(self):
        live = self.results['int32_in_dict']
        self.assertEqual(live.get_type_string(), 'a{sv}')
        self.assertEqual(live.lookup_value('n', None), GLib.Variant('x', 5))
        self.assertEqual(live.lookup_value('u', None), GLib.Variant('x', 6))
        self.assertEqual(self.table.get_value('int32_in_dict'), {'n': 5, 'u': 6})

    def test_non_finite_refused(self):
        for step in ('nan', 'inf_in_dict', 'inf_variant'):
            with self.subTest(step=step):
                error = self.results[step]
                self.assertIsInstance(error, GLib.Error)
                self.assertEqual(error.domain, PB_ERROR_DOMAIN)
                self.assertTrue(error.matches(Paperboy.error_quark(), Paperboy.Error.FAILED))
        self.assertIsNone(self.table.get('bad'))

    @unittest.skipIf(confluent_kafka is None, 'needs confluent_kafka')
    def test_engine_produce(self):
        self.assertIs(self.results['produce'], None)
        records = read_topic(self.target, 3)
        self.assertEqual(records, [
            ('str-key', b'str-value', {'h1': b'one', 'h2': None, 'h3': b'three'}),
            ('bytes-key', b'bytes-value', {'only': b'1'}),
            ('gi-key', None, {'gi': b'x'}),
        ])

    @unittest.skipIf(confluent_kafka is None, 'needs confluent_kafka')
    def test_changelog_seen_by_another_client(self):
        topic = self.table.props.changelog_topic_name
        self.assertEqual(topic, self.name + '-changelog')
        # One record per change, and the tombstone of never-set.
        records = read_topic(topic, len(self.changes) + 1)
        self.assertEqual(len(records), len(self.changes) + 1)
        by_key = {}
        for key, value, headers in records:
            by_key.setdefault(key, []).append((value, headers))
        # Greeting: two values then a tombstone.
        greeting = by_key['greeting']
        self.assertEqual([json.loads(v) if v is not None else None for v, _ in greeting],
                         ['hello', 'bonjour', None])
        self.assertEqual(greeting[0][1], {'paperboy.type': b's', 'paperboy.encoding': b'json/1'})
        self.assertEqual(by_key['never-set'][0][0], None)
        for key, value in VALUES.items():
            with self.subTest(key=key):
                (data, headers), = by_key[key]
                self.assertEqual(headers['paperboy.type'], TYPES[key].encode())
                self.assertEqual(headers['paperboy.encoding'], b'json/1')
                if key == 'bytes':
                    self.assertEqual(json.loads(data), list(value))
                elif key != 'tuple':
                    self.assertEqual(json.loads(data), value)
        (data, headers), = by_key['int32_in_dict']
        self.assertEqual(json.loads(data), {'n': 5, 'u': 6})
        self.assertEqual(headers['paperboy.type'], b'a{sv}')

    def test_table_with_store(self):
        self.assertIs(self.results['store_table'], True)
        self.assertIs(self.engine.get_table(self.store_name), self.store_table)
        self.assertIs(self.engine.get_table(self.name), self.table)
        self.assertIsNone(self.engine.get_table(unique('py-missing')))
        self.assertIs(self.store_table.props.store, self.store)
        self.assertIs(self.store_table.get_store(), self.store)
        self.assertIsNone(self.store_table.props.store_uri)
        self.assertEqual(self.store_table.props.changelog_topic_name,
                         self.store_name + '-changelog')
        # What the run wrote is in the store object, with the changelog
        # offset of its last record.
        kept = GLib.Variant('a{sv}', {'n': GLib.Variant('x', 1)})
        self.assertEqual(self.store.lookup('kept'), kept)
        self.assertIsNone(self.store.lookup('gone'))
        self.assertEqual(contents(self.store), {'kept': kept})
        self.assertEqual(self.store.get_offsets().unpack(), {0: 3})
        self.assertEqual(contents(self.store_table), {'kept': kept})

    def test_load(self):
        n_records = len(self.changes) + 1  # + the delete of never-set
        servers = CLUSTER.get_bootstrap_servers()
        loaded = Paperboy.Table.new(self.name, 'memory://')
        self.assertIsNone(loaded.props.store)
        self.assertIs(loaded.load(servers, None), True)
        self.assertIsInstance(loaded.props.store, Paperboy.MemoryStore)
        self.assertEqual(loaded.props.restored_records, n_records)
        self.assertEqual(loaded.props.bad_records, 0)
        self.assertEqual(contents(loaded), contents(self.table))
        self.assertEqual(loaded.get_value('nested'), VALUES['nested'])
        self.assertEqual(loaded.props.store.get_offsets().unpack(), {0: n_records})
        # Loading again only reads what came after the store's offsets.
        loaded.load(servers, None)
        self.assertEqual(loaded.props.restored_records, 0)
        self.assertEqual(contents(loaded), contents(self.table))

        # Another name, the same changelog topic, a store of its own.
        store = Paperboy.MemoryStore.new()
        other = Paperboy.Table.new_with_store(unique('py-table'), store)
        other.props.changelog_topic_name = self.table.props.changelog_topic_name
        self.assertIs(other.load(servers, None), True)
        self.assertEqual(other.props.restored_records, n_records)
        self.assertEqual(contents(store), contents(self.table))
        self.assertEqual(store.get_offsets().unpack(), {0: n_records})

    def test_load_needs_an_absolute_rocksdb_path(self):
        servers = CLUSTER.get_bootstrap_servers()
        for uri in ('rocksdb://', 'rocksdb://relative/path', 'foo://'):
            with self.subTest(uri=uri):
                table = Paperboy.Table.new(self.name, uri)
                message = assertPbError(self, Paperboy.Error.CONFIG, table.load, servers, None)
                self.assertIn(self.name if uri == 'rocksdb://' else uri, message)

    def test_restart_restores_memory_table(self):
        n_records = len(self.changes) + 1  # + the delete of never-set
        again = Paperboy.Table.new(self.name, 'memory://')
        restored = restore(again, self.topic, self.group)
        self.assertEqual(restored, [n_records])
        self.assertEqual(again.props.restored_records, n_records)
        self.assertEqual(again.props.bad_records, 0)
        self.assertEqual(contents(again), contents(self.table))
        self.assertEqual(set(contents(again)),
                         set(VALUES) | {'other', 'variant', 'int32_in_dict'})
        self.assertEqual(again.get('int32_in_dict').lookup_value('n', None),
                         GLib.Variant('x', 5))
        self.assertEqual(again.get_value('nested'), VALUES['nested'])
        self.assertEqual(again.get_value('bytes'), VALUES['bytes'])


class RocksdbTableTests(unittest.TestCase):
    def first_run(self, name, group, state_dir):
        """Writes a rocksdb:// table in one run; returns its contents and the
        source topic. The run closed the table's store when it ended, so the
        next tables can open the database."""
        table = Paperboy.Table.new(name, 'rocksdb://')
        script = [('set_%d' % i, lambda i=i: table.set('key-%d' % (i % 3), {'n': i}))
                  for i in range(6)]
        script.append(('delete', lambda: table.delete('key-0')))
        engine = make_engine(group, state_dir=state_dir)
        self.assertEqual(engine.props.state_dir, state_dir)
        handler, topic = run_script(engine, table, script)
        self.assertEqual(list(handler.results.values()), [True] * len(script))
        self.assertTrue(os.path.isdir(os.path.join(state_dir, name)))
        return contents(table), topic

    def test_clean_restart(self):
        name = unique('py-rocks')
        group = unique('py-group')
        with tempfile.TemporaryDirectory() as state_dir:
            before, topic = self.first_run(name, group, state_dir)
            gc.collect()
            self.assertEqual({k: v.unpack() for k, v in before.items()},
                             {'key-1': {'n': 4}, 'key-2': {'n': 5}})

            again = Paperboy.Table.new(name, 'rocksdb://')
            restored = restore(again, topic, group, state_dir=state_dir)
            self.assertEqual(restored, [0])
            self.assertEqual(again.props.restored_records, 0)
            self.assertEqual(again.props.bad_records, 0)
            self.assertEqual(contents(again), before)
            self.assertEqual(again.get('key-1').lookup_value('n', None), GLib.Variant('x', 4))

            # Reading it after the run opened the database again: another
            # table cannot open it...
            path = os.path.join(state_dir, name)
            servers = CLUSTER.get_bootstrap_servers()
            by_path = Paperboy.Table.new(name, 'rocksdb://' + path)
            assertPbError(self, Paperboy.Error.STORE, by_path.load, servers, None)
            # ... until it is closed, with no need to drop the table.
            again.close()
            self.assertIs(by_path.load(servers, None), True)
            self.assertEqual(by_path.props.restored_records, 0)
            self.assertEqual(contents(by_path), before)
            store = by_path.props.store
            self.assertIsInstance(store, Paperboy.RocksdbStore)
            self.assertEqual(store.props.path, path)
            self.assertEqual(store.get_offsets().unpack(), {0: 7})
            by_path.close()
            by_path.close()
            # Reading a closed table opens its store again.
            self.assertEqual(again.get('key-2').lookup_value('n', None), GLib.Variant('x', 5))
            self.assertEqual(contents(again), before)
            again.close()


class StoreTests(unittest.TestCase):
    """The stores used directly, through the Paperboy.Store interface."""

    B = GLib.Variant('a{sv}', {'n': GLib.Variant('x', 2)})
    C = GLib.Variant('ay', b'\x00\xff')

    def make_batch(self):
        batch = Paperboy.StoreBatch.new()
        batch.put('a', GLib.Variant('s', 'one'))
        batch.put('b', self.B)
        batch.put('c', self.C)
        batch.put('a', None)
        batch.set_offset(0, 5)
        batch.set_offset(3, 9)
        batch.set_offset(0, 6)
        return batch

    def test_batch(self):
        empty = Paperboy.StoreBatch.new()
        self.assertEqual((empty.get_n_changes(), empty.get_n_offsets()), (0, 0))

        batch = self.make_batch()
        self.assertEqual(batch.get_n_changes(), 4)
        self.assertEqual([tuple(batch.get_change(i)) for i in range(4)],
                         [('a', GLib.Variant('s', 'one')), ('b', self.B), ('c', self.C),
                          ('a', None)])
        # Setting a partition again replaces its offset.
        self.assertEqual(batch.get_n_offsets(), 2)
        self.assertEqual([tuple(batch.get_offset(i)) for i in range(2)], [(0, 6), (3, 9)])

    def check_store(self, store):
        """Applies, reads, closes, reopens and wipes an empty store; leaves it
        closed and empty."""
        self.assertIsInstance(store, Paperboy.Store)
        self.assertIs(store.open(), True)
        self.assertIs(store.open(), True)
        offsets = store.get_offsets()
        self.assertEqual(offsets.get_type_string(), 'a{ix}')
        self.assertEqual(offsets.unpack(), {})
        self.assertIsNone(store.lookup('a'))
        self.assertEqual(contents(store), {})

        self.assertIs(store.apply(self.make_batch()), True)
        # A key put then deleted in one batch: the later change wins.
        self.assertIsNone(store.lookup('a'))
        self.assertEqual(store.lookup('b'), self.B)
        self.assertEqual(store.lookup('c'), self.C)
        self.assertEqual(contents(store), {'b': self.B, 'c': self.C})
        offsets = store.get_offsets()
        self.assertEqual(offsets.get_type_string(), 'a{ix}')
        self.assertEqual(offsets.unpack(), {0: 6, 3: 9})

        # foreach() stops when the function returns False.
        seen = []
        self.assertIs(store.foreach(lambda key, value: seen.append(key) or False), True)
        self.assertEqual(len(seen), 1)

        batch = Paperboy.StoreBatch.new()
        batch.put('b', None)
        batch.put('d', GLib.Variant('(ib)', (1, True)))
        batch.set_offset(3, 10)
        self.assertIs(store.apply(batch), True)
        self.assertEqual(contents(store), {'c': self.C, 'd': GLib.Variant('(ib)', (1, True))})
        self.assertEqual(store.get_offsets().unpack(), {0: 6, 3: 10})

        # Closing keeps the data.
        store.close()
        self.assertIs(store.open(), True)
        self.assertEqual(store.lookup('c'), self.C)
        self.assertEqual(store.get_offsets().unpack(), {0: 6, 3: 10})

        self.assertIs(store.wipe(), True)
        self.assertEqual(contents(store), {})
        self.assertIsNone(store.lookup('c'))
        self.assertEqual(store.get_offsets().unpack(), {})
        store.close()
        store.close()

    def test_memory_store(self):
        store = Paperboy.MemoryStore.new()
        self.assertIsInstance(store, Paperboy.MemoryStore)
        self.check_store(store)

    def test_rocksdb_store(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'parent', 'db')
            store = Paperboy.RocksdbStore.new(path)
            self.assertIsInstance(store, Paperboy.RocksdbStore)
            self.assertEqual((store.props.path, store.get_path()), (path, path))
            self.assertEqual((store.props.read_only, store.get_read_only()), (False, False))
            # Not open yet.
            assertPbError(self, Paperboy.Error.STORE, store.lookup, 'a')
            assertPbError(self, Paperboy.Error.STORE, store.apply, self.make_batch())
            self.assertFalse(os.path.exists(path))
            self.check_store(store)
            self.assertTrue(os.path.isdir(path))

            store.open()
            store.apply(self.make_batch())
            # Keys in their byte order.
            self.assertEqual(list(contents(store)), ['b', 'c'])

            # One writer at a time...
            second = Paperboy.RocksdbStore.new(path)
            message = assertPbError(self, Paperboy.Error.STORE, second.open)
            self.assertIn(path, message)
            # ... but readers alongside it.
            reader = Paperboy.RocksdbStore(path=path, read_only=True)
            self.assertIs(reader.props.read_only, True)
            self.assertIs(reader.open(), True)
            self.assertEqual(contents(reader), {'b': self.B, 'c': self.C})
            self.assertEqual(reader.lookup('b'), self.B)
            self.assertEqual(reader.get_offsets().unpack(), {0: 6, 3: 9})
            assertPbError(self, Paperboy.Error.STORE, reader.apply, self.make_batch())
            assertPbError(self, Paperboy.Error.STORE, reader.wipe)
            reader.close()

            # Once the first one is closed, the second one opens it.
            store.close()
            second.open()
            self.assertEqual(contents(second), {'b': self.B, 'c': self.C})
            second.close()
            second.set_read_only(True)
            self.assertIs(second.props.read_only, True)

            empty = Paperboy.RocksdbStore.new('')
            assertPbError(self, Paperboy.Error.CONFIG, empty.open)


class BadRecordTests(unittest.TestCase):
    """A changelog record that is not JSON, produced by another client: the
    restore skips it (and its key keeps its value) unless the table is
    strict."""

    @classmethod
    def setUpClass(cls):
        cls.name = unique('py-bad')
        changelog = cls.name + '-changelog'
        CLUSTER.create_topic(changelog, 1)
        for key, value, value_type in (('a', '"good"', 's'), ('a', 'not json', 's'),
                                       ('n', '7', 'x')):
            CLUSTER.produce(changelog, 0, key, value,
                            {'paperboy.type': value_type, 'paperboy.encoding': 'json/1'})
        cls.topic = unique('py-bad-src')
        CLUSTER.create_topic(cls.topic, 1)

    def check_lenient(self, table):
        self.assertEqual(table.props.restored_records, 3)
        self.assertEqual(table.props.bad_records, 1)
        self.assertEqual(table.get_value('a'), 'good')
        self.assertEqual(table.get_value('n'), 7)

    def test_lenient(self):
        # Each skipped record is a warning: kept instead of printed.
        warnings = []
        handler = GLib.log_set_handler('Paperboy', GLib.LogLevelFlags.LEVEL_WARNING,
                                       lambda domain, level, message, data:
                                       warnings.append(message), None)
        try:
            table = Paperboy.Table.new(self.name, 'memory://')
            self.assertIs(table.props.strict, False)
            self.assertIs(table.get_strict(), False)
            self.assertEqual(restore(table, self.topic, unique('py-group')), [3])
            self.check_lenient(table)

            loaded = Paperboy.Table.new(self.name, 'memory://')
            self.assertIs(loaded.load(CLUSTER.get_bootstrap_servers(), None), True)
            self.check_lenient(loaded)
        finally:
            GLib.log_remove_handler('Paperboy', handler)
        self.assertEqual(len(warnings), 2, warnings)
        for message in warnings:
            self.assertIn('skipped a bad changelog record', message)
            self.assertIn(self.name + '-changelog[0]@1', message)

    def test_strict(self):
        table = Paperboy.Table.new(self.name, 'memory://')
        table.props.strict = True
        self.assertIs(table.get_strict(), True)
        restored = []
        table.connect('restored', lambda t: restored.append(True))
        engine = make_engine(unique('py-group'))
        engine.add_handler(Counter(self.topic))
        engine.register_table(table)
        message = assertPbError(self, Paperboy.Error.CHANGELOG, run_until, engine)
        self.assertIn(self.name, message)
        self.assertEqual(restored, [])

        loaded = Paperboy.Table.new(self.name, 'memory://')
        loaded.set_strict(True)
        assertPbError(self, Paperboy.Error.CHANGELOG, loaded.load,
                      CLUSTER.get_bootstrap_servers(), None)


class RegisterTableTests(unittest.TestCase):
    def assertConfigError(self, engine, table):
        with self.assertRaises(GLib.Error) as cm:
            engine.register_table(table)
        self.assertEqual(cm.exception.domain, PB_ERROR_DOMAIN)
        self.assertTrue(cm.exception.matches(Paperboy.error_quark(), Paperboy.Error.CONFIG),
                        cm.exception.message)
        return cm.exception.message

    def test_errors(self):
        engine = make_engine(unique('py-group'))
        name = unique('py-table')
        first = Paperboy.Table.new(name, 'memory://')
        engine.register_table(first)
        self.assertIs(engine.get_table(name), first)
        self.assertIsNone(engine.get_table(unique('py-missing')))

        message = self.assertConfigError(engine, Paperboy.Table.new(name, 'memory://'))
        self.assertIn(name, message)

        same_changelog = Paperboy.Table.new(unique('py-table'), 'memory://')
        same_changelog.props.changelog_topic_name = first.props.changelog_topic_name
        self.assertConfigError(engine, same_changelog)

        message = self.assertConfigError(engine, Paperboy.Table.new(unique('py-table'),
                                                                    'foo://'))
        self.assertIn('foo://', message)

        consumed = unique('py-table')
        engine.add_handler(Counter(consumed + '-changelog'))
        message = self.assertConfigError(engine, Paperboy.Table.new(consumed, 'memory://'))
        self.assertIn(consumed + '-changelog', message)

    def test_python_values(self):
        table = Paperboy.Table.new(unique('py-table'), 'memory://')
        self.assertEqual(table.props.changelog_topic_name, table.props.name + '-changelog')
        for bad in (None, object(), {1: 'x'}, [1, None], {'k': {2, 3}}):
            with self.subTest(value=bad):
                with self.assertRaises(TypeError):
                    table.set('key', bad)
        # Writes need a running engine.
        for write in (lambda: table.set('key', 1), lambda: table.delete('key')):
            with self.assertRaises(GLib.Error) as cm:
                write()
            self.assertEqual(cm.exception.domain, PB_ERROR_DOMAIN)
        self.assertIsNone(table.get('key'))
        self.assertEqual(table.get_value('key', 42), 42)

    def test_produce_needs_a_run(self):
        engine = make_engine(unique('py-group'))
        with self.assertRaises(GLib.Error) as cm:
            engine.produce(unique('py-topic'), -1, 'k', 'v', {'h': 'x'})
        self.assertEqual(cm.exception.domain, PB_ERROR_DOMAIN)


class ViewCounter(Paperboy.Handler):
    """Counts records by key into a table."""
    __gtype_name__ = 'PyViewCounter'

    def __init__(self, topic, table):
        super().__init__(topic=topic)
        self.table = table
        self.errors = []

    def do_on_message(self, msg, ctx):
        key = msg.key.decode()
        self.table.set(key, self.table.get_value(key, 0) + 1)

    def do_on_error(self, error, msg, ctx):
        self.errors.append(error.message)
        return Paperboy.ErrorAction.CONTINUE


class GroupTableTests(unittest.TestCase):
    """Two members of a group share a partitioned table."""

    PARTITIONS = 4
    KEYS = ['page-%d' % i for i in range(16)]

    def start_members(self, prefix, standby_replicas=0):
        """Two members counting two records of each key, the second one
        started once the first one counted them: (engine, table, handler,
        result) each."""
        topic = unique('%s-views' % prefix)
        group = unique(prefix)
        name = unique('%s-views' % prefix)
        CLUSTER.create_topic(topic, self.PARTITIONS)
        for _ in range(2):
            for key in self.KEYS:
                CLUSTER.produce(topic, -1, key, 'view')

        members = []
        for _ in range(2):
            engine = make_engine(group)
            table = Paperboy.Table.new(name, 'memory://')
            table.props.standby_replicas = standby_replicas
            engine.register_table(table)
            handler = ViewCounter(topic, table)
            engine.add_handler(handler)
            result = []
            engine.run_async(None, lambda source, res, result=result: result.append(res))
            members.append((engine, table, handler, result))
            iterate_until(lambda: sum(CLUSTER.get_committed_offset(group, topic, p)
                                      for p in range(self.PARTITIONS)) == 2 * len(self.KEYS))
        return members

    def test_two_members(self):
        members = self.start_members('py-group')

        def settled():
            return (all(engine.props.state == Paperboy.EngineState.RUNNING and
                        len(table.get_partitions()) > 0
                        for engine, table, _, _ in members) and
                    sum(len(table.get_partitions()) for _, table, _, _ in members)
                    == self.PARTITIONS)

        iterate_until(settled)
        held = [set(table.get_partitions()) for _, table, _, _ in members]
        self.assertFalse(held[0] & held[1])
        self.assertEqual(held[0] | held[1], set(range(self.PARTITIONS)))

        for key in self.KEYS:
            for (_, table, _, _), mine in zip(members, held):
                partition = table.get_partition_for_key(key)
                self.assertIn(partition, held[0] | held[1])
                if partition in mine:
                    self.assertEqual(table.get_value(key), 2)
                else:
                    message = assertPbError(self, Paperboy.Error.NOT_OWNER, table.get, key)
                    self.assertIn(key, message)
                    self.assertIn(str(partition), message)
        for (_, table, _, _), mine in zip(members, held):
            self.assertEqual({table.get_partition_for_key(key) for key in contents(table)}
                             <= mine, True)

        for engine, _, _, result in members:
            engine.stop()
        iterate_until(lambda: all(result for _, _, _, result in members))
        for engine, _, handler, result in members:
            engine.run_finish(result[0])
            self.assertEqual(handler.errors, [])

    def test_standby_failover(self):
        members = self.start_members('py-standby', standby_replicas=1)

        first, second = members[0][1], members[1][1]
        iterate_until(lambda: len(first.get_partitions()) > 0 and
                      len(second.get_partitions()) > 0 and
                      len(first.get_partitions()) + len(second.get_partitions())
                      == self.PARTITIONS)
        # The second one follows the first one's partitions, and restored
        # its own from where its standby replica stood: two changes of each
        # key, read once; it shows those of its partitions only.
        others = [key for key in self.KEYS
                  if second.get_partition_for_key(key) not in second.get_partitions()]

        def read():
            return second.props.restored_records + second.props.standby_records
        iterate_until(lambda: read() >= 2 * len(self.KEYS))
        self.assertEqual(read(), 2 * len(self.KEYS))
        self.assertGreater(second.props.standby_records, 0)
        assertPbError(self, Paperboy.Error.NOT_OWNER, second.get, others[0])

        # The first one leaves; the second one's restore of its partitions
        # reads nothing, and has every count.
        restored = second.props.restored_records
        members[0][0].stop()
        iterate_until(lambda: members[0][3])
        members[0][0].run_finish(members[0][3][0])
        iterate_until(lambda: len(second.get_partitions()) == self.PARTITIONS and
                      members[1][0].props.state == Paperboy.EngineState.RUNNING)
        self.assertEqual(second.props.restored_records, restored)
        for key in self.KEYS:
            self.assertEqual(second.get_value(key), 2)

        members[1][0].stop()
        iterate_until(lambda: members[1][3])
        members[1][0].run_finish(members[1][3][0])
        for _, _, handler, _ in members:
            self.assertEqual(handler.errors, [])


def murmur2(data):
    """Kafka's murmur2 of bytes, as its default partitioner uses it."""
    m, r = 0x5bd1e995, 24
    length = len(data)
    h = (0x9747b28c ^ length) & 0xffffffff
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], 'little')
        k = (k * m) & 0xffffffff
        k ^= k >> r
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rest = length % 4
    tail = data[length - rest:]
    if rest == 3:
        h ^= tail[2] << 16
    if rest >= 2:
        h ^= tail[1] << 8
    if rest >= 1:
        h ^= tail[0]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


class PartitionerTests(unittest.TestCase):
    """Which partition of a table holds a key."""

    def test_partitioners(self):
        import zlib
        topic = unique('py-partitioner')
        CLUSTER.create_topic(topic, 4)
        CLUSTER.produce(topic, 0, 'k', 'v')
        tables = {}
        for partitioner in (None, Paperboy.TablePartitioner.CONSISTENT):
            table = Paperboy.Table.new(unique('py-partitioned'), 'memory://')
            self.assertEqual(table.get_partition_for_key('x'), -1)
            if partitioner is not None:
                table.props.partitioner = partitioner
            engine = make_engine(unique('py-group'))
            engine.add_handler(Counter(topic))
            engine.register_table(table)
            run_until(engine, lambda: len(table.get_partitions()) == 4)
            tables[partitioner] = table
        self.assertEqual(tables[None].props.partitioner, Paperboy.TablePartitioner.MURMUR2)
        for key in ('a', 'page-1', 'héllo', 'longer key of the table'):
            data = key.encode()
            self.assertEqual(tables[None].get_partition_for_key(key),
                             (murmur2(data) & 0x7fffffff) % 4, key)
            self.assertEqual(tables[Paperboy.TablePartitioner.CONSISTENT].get_partition_for_key(key),
                             zlib.crc32(data) % 4, key)


class GlobalTableTests(unittest.TestCase):
    """A global table: restored in full, read-only, following its changelog."""

    def test_global(self):
        topic = unique('py-global-src')
        changelog = unique('py-rates-changelog')
        CLUSTER.create_topic(topic, 2)
        CLUSTER.create_topic(changelog, 3)
        headers = [('paperboy.type', b's'), ('paperboy.encoding', b'json/1')]
        CLUSTER.produce(changelog, 0, 'usd', '"1.10"', headers)

        table = Paperboy.Table.new(unique('py-rates'), 'memory://')
        table.set_global(True)
        table.props.changelog_topic_name = changelog
        self.assertTrue(table.get_global())
        changes = []
        table.connect('changed', lambda t, key, old, new: changes.append(
            (key, old and old.unpack(), new and new.unpack())))

        class Reader(Paperboy.Handler):
            def __init__(self):
                super().__init__(topic=topic)
                self.seen = []
                self.refused = []

            def do_on_message(self, msg, ctx):
                self.seen.append(table.get_value(msg.key.decode(), 'none'))
                try:
                    table.set('usd', '0')
                except GLib.Error as error:
                    self.refused.append(error.code)

        reader = Reader()
        engine = make_engine(unique('py-group'))
        engine.add_handler(reader)
        engine.register_table(table)
        result = []
        engine.run_async(None, lambda source, res: result.append(res))
        iterate_until(lambda: engine.props.state == Paperboy.EngineState.RUNNING)
        self.assertEqual(table.get_value('usd'), '1.10')
        self.assertEqual(sorted(table.get_partitions()), [0, 1, 2])

        CLUSTER.produce(changelog, 2, 'usd', '"1.20"', headers)
        iterate_until(lambda: changes)
        self.assertEqual(changes, [('usd', '1.10', '1.20')])
        CLUSTER.produce(topic, 1, 'usd', 'x')
        iterate_until(lambda: reader.seen)
        engine.stop()
        iterate_until(lambda: result)
        engine.run_finish(result[0])
        self.assertEqual(reader.seen, ['1.20'])
        self.assertEqual(reader.refused, [Paperboy.Error.FAILED])


class DamagedStoreTests(unittest.TestCase):
    def test_wipe_damaged_store(self):
        with tempfile.TemporaryDirectory() as state_dir:
            topic = unique('py-damaged-src')
            group = unique('py-group')
            name = unique('py-damaged')
            CLUSTER.create_topic(topic, 1)
            for i in range(20):
                CLUSTER.produce(topic, 0, 'k%d' % i, 'v')

            class Writer(Paperboy.Handler):
                def do_on_message(self, msg, ctx):
                    self.table.set(msg.key.decode(), 1)

            def run(wipe=True):
                table = Paperboy.Table.new(name, 'rocksdb://')
                self.assertTrue(table.props.wipe_damaged_store)
                table.props.wipe_damaged_store = wipe
                writer = Writer(topic=topic)
                writer.table = table
                engine = make_engine(group, state_dir=state_dir)
                engine.add_handler(writer)
                engine.register_table(table)
                run_until(engine, lambda: (CLUSTER.get_committed_offset(group, topic, 0) == 20 and
                                           engine.props.state == Paperboy.EngineState.RUNNING))
                return table

            table = run()
            table.close()
            with open(os.path.join(state_dir, name, 'CURRENT'), 'wb') as current:
                current.write(b'garbage')
            message = assertPbError(self, Paperboy.Error.STORE_CORRUPT, run, False)
            self.assertIn('CURRENT', message)
            table = run()
            self.assertEqual(table.props.restored_records, 20)
            self.assertEqual(table.get_value('k7'), 1)


class ExactCounter(Paperboy.Handler):
    """Counts the records of each key into a table; with asynchronous,
    from a timeout after the record came, as an asynchronous handler does
    once what it awaited is there."""

    def __init__(self, topic, table, asynchronous=False):
        super().__init__(topic=topic)
        self.table = table
        self.asynchronous = asynchronous
        self.handled = 0

    def count(self, msg):
        key = msg.key.decode()
        self.table.set(key, (self.table.get_value(key) or 0) + 1)
        self.handled += 1

    def do_on_message(self, msg, ctx):
        self.count(msg)
        return True

    def do_handle(self, msg, ctx, task):
        if not self.asynchronous:
            return Paperboy.Handler.do_handle(self, msg, ctx, task)

        def later():
            self.count(msg)
            task.return_boolean(True)
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(1, later)
        return True


class ExactStateTests(unittest.TestCase):
    def run_counter(self, topic, table_name, guarantee, state_dir, asynchronous, n):
        """A new group (which starts from the first record) counts the n
        records of topic; returns the table."""
        engine = make_engine(unique('py-exact'), state_dir=state_dir,
                             processing_guarantee=guarantee)
        table = Paperboy.Table.new(table_name, 'rocksdb://')
        engine.register_table(table)
        counter = ExactCounter(topic, table, asynchronous)
        engine.add_handler(counter)
        run_until(engine, lambda: counter.handled >= n, timeout=60)
        self.assertEqual(counter.handled, n)
        return table

    def check(self, guarantee, asynchronous):
        topic = unique('py-exact-views')
        name = unique('py-exact-table')
        CLUSTER.create_topic(topic, 1)
        for i in range(300):
            CLUSTER.produce(topic, 0, 'page-%d' % (i % 10), 'view')
        with tempfile.TemporaryDirectory() as state_dir:
            table = self.run_counter(topic, name, guarantee, state_dir, asynchronous, 300)
            self.assertEqual({k: v.unpack() for k, v in contents(table).items()},
                             {'page-%d' % i: 30 for i in range(10)})
            # Its store is free for the next table once it is gone.
            del table
            gc.collect()
            # The same records again.
            table = self.run_counter(topic, name, guarantee, state_dir, asynchronous, 300)
            counts = {k: v.unpack() for k, v in contents(table).items()}
            del table
            gc.collect()
            return counts

    def test_default(self):
        engine = make_engine(unique('py-exact'))
        self.assertEqual(engine.props.processing_guarantee,
                         Paperboy.ProcessingGuarantee.AT_LEAST_ONCE)
        engine.set_processing_guarantee(Paperboy.ProcessingGuarantee.EXACT_STATE)
        self.assertEqual(engine.get_processing_guarantee(),
                         Paperboy.ProcessingGuarantee.EXACT_STATE)

    def test_replayed_records_count_once(self):
        for asynchronous in (False, True):
            with self.subTest(asynchronous=asynchronous):
                counts = self.check(Paperboy.ProcessingGuarantee.EXACT_STATE, asynchronous)
                self.assertEqual(counts, {'page-%d' % i: 30 for i in range(10)})

    def test_at_least_once_counts_them_again(self):
        counts = self.check(Paperboy.ProcessingGuarantee.AT_LEAST_ONCE, False)
        self.assertEqual(counts, {'page-%d' % i: 60 for i in range(10)})


class PageViewsExampleTests(unittest.TestCase):
    def test_counts(self):
        env = dict(os.environ)
        env.pop('PAPERBOY_BOOTSTRAP_SERVERS', None)
        proc = subprocess.run([sys.executable, PAGEVIEWS], env=env, capture_output=True,
                              text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual([line for line in lines if line.startswith('home:')],
                         ['home: 1 view', 'home: 2 views', 'home: 3 views'])
        self.assertEqual([line for line in lines if line.startswith('pricing:')],
                         ['pricing: 1 view', 'pricing: 2 views', 'pricing: forgotten'])
        self.assertEqual(lines[-1], 'Page views: about=2 home=3')


if __name__ == '__main__':
    unittest.main(verbosity=2)
