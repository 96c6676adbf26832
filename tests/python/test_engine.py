# test_engine.py: running, stopping and configuring engines from Python
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, Gio, Paperboy  # noqa: E402

from pbtest import CLUSTER, Counter, TYPED_TOPIC, TestCase, Typed, make_engine, produce_many, run_until, unique  # noqa: E402


class EngineTests(TestCase):
    def test_register_by_type_and_instance(self):
        self.topic = TYPED_TOPIC
        Typed.handled.clear()
        other = unique('py-other')
        CLUSTER.create_topic(self.topic, 1)
        CLUSTER.create_topic(other, 1)
        produce_many(self.topic, 0, 3)
        produce_many(other, 0, 2)
        engine = make_engine(self.group)
        engine.add_handler_type(Typed)
        counter = Counter(other)
        engine.add_handler(counter)
        self.assertEqual([type(h) for h in engine.get_handlers()], [Typed, Counter])

        self.assertTrue(run_until(engine, lambda: len(Typed.handled) >= 3 and len(counter.records) >= 2))
        self.assertEqual(Typed.handled, [0, 1, 2])

        with self.assertRaises(GLib.Error) as caught:
            engine.add_handler(Counter(self.topic))
        self.assertTrue(caught.exception.matches(Paperboy.error_quark(), Paperboy.Error.CONFIG))

    def test_restart_resumes(self):
        CLUSTER.create_topic(self.topic, 2)
        produce_many(self.topic, 0, 5, 'a')
        produce_many(self.topic, 1, 5, 'b')
        first = Counter(self.topic)
        engine = make_engine(self.group)
        engine.add_handler(first)
        self.assertTrue(run_until(engine, lambda: len(first.records) >= 10))

        produce_many(self.topic, 0, 2, 'c')
        second = Counter(self.topic)
        engine = make_engine(self.group)
        engine.add_handler(second)
        self.assertTrue(run_until(engine, lambda: len(second.records) >= 2))

        self.assertEqual(sorted(second.records), [(0, 5, b'c-0'), (0, 6, b'c-1')])
        self.assertEqual(self.committed(0), 7)
        self.assertEqual(self.committed(1), 5)

    def test_cancellable_states_and_signals(self):
        CLUSTER.create_topic(self.topic, 2)
        produce_many(self.topic, 0, 2)
        engine = make_engine(self.group)
        counter = Counter(self.topic)
        engine.add_handler(counter)
        states = []
        assigned = []
        engine.connect('notify::state', lambda e, p: states.append(e.props.state))
        revoked = []
        engine.connect('partitions-assigned', lambda e, parts: assigned.extend(parts.unpack()))
        engine.connect('partitions-revoked',
                       lambda e, parts, lost: revoked.append((sorted(parts.unpack()), lost)))
        connected = []
        engine.connect('notify::connected', lambda e, p: connected.append(e.props.connected))
        cancellable = Gio.Cancellable()
        connected_while_handling = []

        def stop_when_done():
            if len(counter.records) >= 2:
                connected_while_handling.append(engine.props.connected)
                cancellable.cancel()
            return False

        self.assertFalse(engine.props.connected)
        self.assertTrue(run_until(engine, stop_when_done, cancellable=cancellable))
        self.assertEqual(set(connected_while_handling), {True})
        self.assertEqual(connected, [True, False])
        self.assertFalse(engine.get_connected())
        self.assertEqual(states, [Paperboy.EngineState.STARTING, Paperboy.EngineState.JOINING,
                                  Paperboy.EngineState.RUNNING, Paperboy.EngineState.STOPPING,
                                  Paperboy.EngineState.STOPPED])
        self.assertEqual(sorted(assigned), [(self.topic, 0), (self.topic, 1)])
        self.assertEqual(revoked, [([(self.topic, 0), (self.topic, 1)], False)])

    def test_blocking_run_in_a_thread(self):
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 3)
        engine = make_engine(self.group)
        threads = []

        class ThreadCheck(Counter):
            __gtype_name__ = 'PyThreadCheck'

            def do_on_message(self, msg, ctx):
                threads.append(threading.get_ident())
                super().do_on_message(msg, ctx)
                if len(self.records) == 3:
                    engine.stop()

        engine.add_handler(ThreadCheck(self.topic))

        def run():
            context = GLib.MainContext.new()
            context.push_thread_default()
            try:
                return engine.run(None)
            finally:
                context.pop_thread_default()

        # asyncio.to_thread runs the blocking engine in a worker thread.
        self.assertTrue(asyncio.run(asyncio.to_thread(run)))
        self.assertEqual(len(threads), 3)
        self.assertNotEqual(threads[0], threading.get_ident())


class BadInputTests(TestCase):
    def test_config_errors(self):
        engine = make_engine(self.group)
        for key, value in (('no.such.key', '1'), ('session.timeout.ms', 'soon'),
                           ('enable.auto.commit', 'false'), ('group.id', 'x')):
            with self.subTest(key=key):
                with self.assertRaises(GLib.Error) as caught:
                    engine.set_config(key, value)
                self.assertTrue(caught.exception.matches(Paperboy.error_quark(),
                                                         Paperboy.Error.CONFIG))
                self.assertEqual(caught.exception.message.count(key), 1, caught.exception.message)

    def test_no_handlers(self):
        with self.assertRaises(GLib.Error) as caught:
            make_engine(self.group).run(None)
        self.assertTrue(caught.exception.matches(Paperboy.error_quark(), Paperboy.Error.NO_HANDLER))

    def test_missing_topic(self):
        CLUSTER.set_topic_error(self.topic, 3)
        try:
            engine = make_engine(self.group)
            engine.add_handler(Counter(self.topic))
            with self.assertRaises(GLib.Error) as caught:
                run_until(engine, timeout=60)
            self.assertTrue(caught.exception.matches(Paperboy.error_quark(), Paperboy.Error.KAFKA))
            self.assertIn(self.topic, caught.exception.message)
        finally:
            CLUSTER.set_topic_error(self.topic, 0)

    def test_group_id_required(self):
        with self.assertRaises(TypeError):
            Paperboy.Engine.new('mock://', None)

    def test_no_topics(self):
        engine = make_engine(self.group)
        with self.assertRaises(GLib.Error) as caught:
            engine.add_handler(Counter())
        self.assertTrue(caught.exception.matches(Paperboy.error_quark(), Paperboy.Error.CONFIG))
        self.assertIn('PyCounter has no topics', caught.exception.message)
        self.assertEqual(engine.get_handlers(), [])

    def test_missing_overrides_hint(self):
        # A class attribute `topic` needs Paperboy's overrides; without them
        # on PYTHONPATH the error says so.
        loaded = sys.modules['gi.overrides.Paperboy'].__file__
        overrides = os.path.dirname(os.path.dirname(os.path.dirname(loaded)))
        path = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
                if p and os.path.realpath(p) != os.path.realpath(overrides)]
        program = textwrap.dedent('''
            import sys
            import gi
            gi.require_version('Paperboy', '1')
            from gi.repository import GLib, Paperboy

            class Orders(Paperboy.Handler):
                topic = 'orders'

            if 'gi.overrides.Paperboy' in sys.modules:
                print('overrides installed in', sys.modules['gi.overrides.Paperboy'].__file__)
                sys.exit(0)
            try:
                Paperboy.Engine.new('mock://', 'group').add_handler(Orders())
            except GLib.Error as e:
                print(e.message)
            ''')
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        done = subprocess.run([sys.executable, '-c', program], env=env, capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        if done.stdout.startswith('overrides installed in'):
            self.skipTest(done.stdout.strip())
        self.assertIn('Orders has no topics', done.stdout)
        self.assertIn('overrides are not loaded', done.stdout)
        self.assertIn('PYTHONPATH', done.stdout)

    def test_bad_mock_cluster_arguments(self):
        with self.assertRaises(GLib.Error):
            Paperboy.MockCluster.new(0)
        with self.assertRaises(GLib.Error):
            CLUSTER.set_broker_down(7)


class MessageTests(unittest.TestCase):
    def test_new_full_and_headers(self):
        headers = GLib.Variant('a(smay)', [('h', b'1'), ('n', None), ('h', b'2')])
        msg = Paperboy.Message.new_full('t', 2, 9, 1234, GLib.Bytes.new(b'k'), None, headers)
        self.assertEqual(msg.get_topic(), 't')
        self.assertEqual(msg.props.partition, 2)
        self.assertEqual(msg.get_offset(), 9)
        self.assertEqual(msg.get_timestamp(), 1234)
        self.assertEqual(msg.key, b'k')
        self.assertIsNone(msg.value)
        self.assertTrue(msg.is_tombstone())
        self.assertEqual(msg.get_header('h').get_data(), b'2')
        self.assertIsNone(msg.get_header('n'))
        self.assertEqual(msg.headers, [('h', b'1'), ('n', None), ('h', b'2')])
        self.assertEqual(msg.get_headers().get_type_string(), 'a(smay)')

        copy = msg.with_value(GLib.Bytes.new(b'v'))
        self.assertEqual((copy.get_topic(), copy.get_offset(), copy.value), ('t', 9, b'v'))
        self.assertEqual(msg.dup().key, b'k')

    def test_produced_headers_round_trip(self):
        topic = unique('py-headers')
        CLUSTER.create_topic(topic, 1)
        offset = CLUSTER.produce(topic, 0, b'k', b'v', [('a', 'x'), ('b', None)])
        self.assertEqual(offset, 0)
        engine = make_engine(unique('py-group'))
        kept = []

        class Keeper(Paperboy.Handler):
            __gtype_name__ = 'PyKeeper'

            def do_on_message(self, msg, ctx):
                kept.append(msg)

        engine.add_handler(Keeper(topic=topic))
        self.assertTrue(run_until(engine, lambda: kept))
        del engine
        # Kept past the run: detached from librdkafka, still readable.
        self.assertEqual(kept[0].headers, [('a', b'x'), ('b', None)])
        self.assertEqual((kept[0].key, kept[0].value), (b'k', b'v'))


class RunningEngineTests(TestCase):
    def test_set_config_while_running(self):
        counter = Counter(self.topic)
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 3)
        engine = make_engine(self.group)
        engine.add_handler(counter)
        failures = []

        def on_assigned(engine, partitions):
            try:
                engine.set_config('fetch.wait.max.ms', '100')
            except GLib.Error as error:
                failures.append(error)

        engine.connect('partitions-assigned', on_assigned)
        self.assertTrue(run_until(engine, lambda: len(counter.records) >= 3))
        self.assertEqual(len(failures), 1)
        self.assertTrue(failures[0].matches(Paperboy.error_quark(), Paperboy.Error.FAILED))
        engine.set_config('fetch.wait.max.ms', '100')

    def test_live_settings(self):
        """fail-on-exception and handling-timeout-ms apply to a running
        engine: a failure after fail-on-exception was turned on stops it,
        after the offsets before the failing record were committed."""
        class Failer(Paperboy.Handler):
            __gtype_name__ = 'PyLiveFailer'

            def __init__(self, topic):
                super().__init__(topic=topic)
                self.engine = None
                self.seen = []

            def do_on_message(self, msg, ctx):
                value = msg.get_value().get_data().decode()
                self.seen.append(value)
                if value == 'turn-on':
                    self.engine.props.fail_on_exception = True
                    self.engine.props.handling_timeout_ms = 1000
                if value.startswith('bad'):
                    raise ValueError(value)

        CLUSTER.create_topic(self.topic, 1)
        for value in ('ok', 'bad-1', 'turn-on', 'ok', 'bad-2', 'never'):
            CLUSTER.produce(self.topic, 0, 'k', value)
        engine = make_engine(self.group)
        handler = Failer(self.topic)
        handler.engine = engine
        engine.add_handler(handler)

        with self.assertRaises(GLib.Error) as caught:
            run_until(engine)
        self.assertIn('bad-2', caught.exception.message)
        self.assertEqual(handler.seen, ['ok', 'bad-1', 'turn-on', 'ok', 'bad-2'])
        self.assertEqual(self.committed(), 4)

    def test_produce_while_leaving(self):
        """A record produced while a stopping engine leaves its group fails
        with Paperboy.Error.CANCELLED."""
        counter = Counter(self.topic)
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 1)
        engine = make_engine(self.group)
        engine.add_handler(counter)
        errors = []

        def on_revoked(engine, partitions, lost):
            try:
                engine.produce(unique('py-elsewhere'), -1, None, 'late', None)
            except GLib.Error as error:
                errors.append(error)

        engine.connect('partitions-revoked', on_revoked)
        self.assertTrue(run_until(engine, lambda: len(counter.records) >= 1))
        self.assertEqual(len(errors), 1)
        self.assertTrue(errors[0].matches(Paperboy.error_quark(), Paperboy.Error.CANCELLED))

    def test_commit_interval_range(self):
        """commit-interval-ms outside 1 to 86400000 is refused when set; the
        maximum runs."""
        engine = make_engine(self.group)
        before = engine.props.commit_interval_ms
        engine.props.commit_interval_ms = 86400001
        engine.set_commit_interval_ms(86400001)
        self.assertEqual(engine.props.commit_interval_ms, before)
        with self.assertRaises(OverflowError):
            engine.set_commit_interval_ms(2 ** 32)

        counter = Counter(self.topic)
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 1)
        engine.props.commit_interval_ms = 86400000
        engine.add_handler(counter)
        self.assertTrue(run_until(engine, lambda: len(counter.records) >= 1))

    def test_dispose_from_handler(self):
        """Disposing of a running engine from its own handler ends the run
        gracefully; what was handled is committed."""
        class Disposer(Paperboy.Handler):
            __gtype_name__ = 'PyDisposer'

            def __init__(self, topic):
                super().__init__(topic=topic)
                self.engine = None
                self.handled = 0

            def do_on_message(self, msg, ctx):
                self.handled += 1
                if self.handled == 3:
                    self.engine.run_dispose()

        handler = Disposer(self.topic)
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 10)
        engine = make_engine(self.group)
        engine.add_handler(handler)
        handler.engine = engine
        self.assertTrue(run_until(engine))
        self.assertEqual(handler.handled, 3)
        self.assertEqual(self.committed(), 3)
        self.assertEqual(engine.props.state, Paperboy.EngineState.STOPPED)


if __name__ == '__main__':
    unittest.main(verbosity=2)
