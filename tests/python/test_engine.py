# test_engine.py: Paperboy from Python, on the mock cluster
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import asyncio
import itertools
import os
import threading
import time
import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, GObject, Gio, Paperboy  # noqa: E402

CLUSTER = Paperboy.MockCluster.new(1)
_names = itertools.count()


def unique(prefix):
    return '%s-%d-%d' % (prefix, os.getpid(), next(_names))


def make_engine(group, **props):
    engine = Paperboy.Engine(mock_cluster=CLUSTER, group_id=group,
                             commit_interval_ms=200, **props)
    for key, value in (('session.timeout.ms', '6000'),
                       ('heartbeat.interval.ms', '500'),
                       ('fetch.wait.max.ms', '10')):
        engine.set_config(key, value)
    return engine


def iterate_until(condition, timeout=30):
    context = GLib.MainContext.default()
    wake = GLib.timeout_add(20, lambda: True)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError('timed out after %d s' % timeout)
            context.iteration(True)
    finally:
        GLib.source_remove(wake)


def run_until(engine, condition=None, timeout=30, cancellable=None):
    """Runs the engine until condition() holds (or it stops by itself),
    stops it, and returns the run's result (raising its error)."""
    result = []
    engine.run_async(cancellable, lambda source, res: result.append(res))

    def done():
        if not result and condition is not None and condition():
            engine.stop()
        return bool(result)

    iterate_until(done, timeout)
    return engine.run_finish(result[0])


def produce_many(topic, partition, n, prefix='v'):
    return [CLUSTER.produce(topic, partition, 'k-%d' % i, '%s-%d' % (prefix, i))
            for i in range(n)]


class Recorder(Paperboy.Handler):
    """Overrides every synchronous vfunc and records the calls in order."""

    __gtype_name__ = 'PyRecorder'

    def __init__(self, topic):
        super().__init__(topic=topic)
        self.events = []
        self.contexts = []
        self.errors = []
        self.finished = []
        self.fail_at = None
        self.failure = ValueError('boom')
        self.replace_at = None
        self.skip_at = None
        self.action = Paperboy.ErrorAction.CONTINUE
        self.context_ok = True

    def _check(self, ctx):
        if not self.contexts or ctx is not self.contexts[-1]:
            self.context_ok = False

    def do_define_context(self):
        ctx = GObject.Object()
        self.contexts.append(ctx)
        self.events.append('define_context')
        return ctx

    def do_did_receive_message(self, msg, ctx):
        self._check(ctx)
        self.events.append('did_receive_message:%d' % msg.get_offset())
        if msg.get_offset() == self.skip_at:
            return None
        if msg.get_offset() == self.replace_at:
            return msg.with_value(GLib.Bytes.new(b'replaced'))
        return msg

    def do_on_message(self, msg, ctx):
        self._check(ctx)
        self.events.append('on_message:%d:%s' % (msg.get_offset(), msg.value.decode()))
        if msg.get_offset() == self.fail_at:
            raise self.failure

    def do_on_tombstone(self, msg, ctx):
        self._check(ctx)
        self.events.append('on_tombstone:%d' % msg.get_offset())

    def do_on_error(self, error, msg, ctx):
        self._check(ctx)
        self.events.append('on_error:%d' % msg.get_offset())
        self.errors.append(error)
        return self.action

    def do_on_finished_handling(self, msgs, ctx):
        self._check(ctx)
        self.events.extend('on_finished_handling:%d' % m.get_offset() for m in msgs)
        self.finished.extend(msgs)


class Counter(Paperboy.Handler):
    __gtype_name__ = 'PyCounter'

    def __init__(self, topic=None):
        super().__init__()
        if topic is not None:
            self.props.topic = topic
        self.records = []

    def do_on_message(self, msg, ctx):
        self.records.append((msg.get_partition(), msg.get_offset(), msg.value))


class Async(Paperboy.Handler):
    """Completes each record's task from a timeout, later records sooner."""

    __gtype_name__ = 'PyAsync'

    def __init__(self, topic):
        super().__init__(topic=topic)
        self.started = []
        self.done = []
        self.errors = []
        self.concurrent = 0
        self.max_concurrent = 0

    def do_handle(self, msg, ctx, task):
        record = (msg.get_partition(), msg.get_offset())
        self.started.append(record)
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)

        def complete():
            self.concurrent -= 1
            self.done.append(record)
            task.return_boolean(True)
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(20 - msg.get_offset() % 10, complete)
        return True

    def do_on_error(self, error, msg, ctx):
        self.errors.append(error)
        return Paperboy.ErrorAction.CONTINUE


class GioAsync(Paperboy.Handler):
    """Overrides the GIO pair handle_async()/handle_finish()."""

    __gtype_name__ = 'PyGioAsync'

    def __init__(self, topic):
        super().__init__(topic=topic)
        self.done = []
        self.errors = []

    def do_handle_async(self, msg, ctx, cancellable, callback, user_data):
        if msg.get_offset() == 1:
            raise RuntimeError('cannot even start')
        # The callback already carries its user data.
        task = Gio.Task.new(self, cancellable, callback)
        offset = msg.get_offset()

        def complete():
            self.done.append(offset)
            task.return_boolean(True)
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(5, complete)

    def do_handle_finish(self, result):
        return result.propagate_boolean()

    def do_on_error(self, error, msg, ctx):
        self.errors.append(error)
        return Paperboy.ErrorAction.CONTINUE


TYPED_TOPIC = unique('py-typed')


class Typed(Paperboy.Handler):
    """Registered by type: created by the engine with no arguments, it
    declares its topic as a class attribute, as in kafka-paperboy."""

    __gtype_name__ = 'PyTyped'
    topic = TYPED_TOPIC
    handled = []

    def do_on_message(self, msg, ctx):
        Typed.handled.append(msg.get_offset())


class TestCase(unittest.TestCase):
    def setUp(self):
        self.topic = unique('py-topic')
        self.group = unique('py-group')

    def committed(self, partition=0, group=None):
        return CLUSTER.get_committed_offset(group or self.group, self.topic, partition)


class LifecycleTests(TestCase):
    def test_order_and_contexts(self):
        CLUSTER.create_topic(self.topic, 1)
        CLUSTER.produce(self.topic, 0, 'k0', 'v0')
        CLUSTER.produce(self.topic, 0, 'k1', None)
        CLUSTER.produce(self.topic, 0, None, '')
        engine = make_engine(self.group)
        recorder = Recorder(self.topic)
        engine.add_handler(recorder)

        self.assertTrue(run_until(engine, lambda: len(recorder.finished) >= 3))

        self.assertEqual(recorder.events, [
            'define_context', 'did_receive_message:0', 'on_message:0:v0', 'on_finished_handling:0',
            'define_context', 'did_receive_message:1', 'on_tombstone:1', 'on_finished_handling:1',
            'define_context', 'did_receive_message:2', 'on_message:2:', 'on_finished_handling:2'])
        self.assertTrue(recorder.context_ok)
        self.assertEqual(len(set(map(id, recorder.contexts))), 3)
        self.assertEqual([m.get_offset() for m in recorder.finished], [0, 1, 2])
        self.assertEqual(recorder.finished[0].key, b'k0')
        self.assertIsNone(recorder.finished[2].key)
        self.assertEqual(recorder.finished[2].value, b'')
        self.assertTrue(recorder.finished[1].is_tombstone())
        self.assertEqual(self.committed(), 3)

    def test_replace_and_skip(self):
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 3)
        engine = make_engine(self.group)
        recorder = Recorder(self.topic)
        recorder.replace_at = 0
        recorder.skip_at = 1
        engine.add_handler(recorder)

        self.assertTrue(run_until(engine, lambda: len(recorder.finished) >= 3))

        self.assertIn('on_message:0:replaced', recorder.events)
        self.assertFalse(any(e.startswith('on_message:1') for e in recorder.events))
        self.assertIn('on_finished_handling:1', recorder.events)
        self.assertEqual(recorder.finished[0].value, b'replaced')
        self.assertEqual(recorder.finished[0].get_offset(), 0)
        self.assertEqual(self.committed(), 3)


class ErrorTests(TestCase):
    def run_recorder(self, recorder, n=4, expected=None, **props):
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, n)
        engine = make_engine(self.group, **props)
        engine.add_handler(recorder)
        return run_until(engine, lambda: len(recorder.finished) >= (expected or n))

    def test_python_exception_reaches_on_error(self):
        recorder = Recorder(self.topic)
        recorder.fail_at = 1
        self.assertTrue(self.run_recorder(recorder))

        self.assertEqual(len(recorder.errors), 1)
        error = recorder.errors[0]
        self.assertTrue(error.matches(Paperboy.error_quark(), Paperboy.Error.HANDLER))
        self.assertIn('PyRecorder.on_message()', error.message)
        self.assertIn('ValueError: boom', error.message)
        self.assertIn('Traceback', error.message)
        self.assertEqual(self.committed(), 4)

    def test_glib_error_is_passed_unchanged(self):
        recorder = Recorder(self.topic)
        recorder.fail_at = 2
        recorder.failure = GLib.Error.new_literal(Gio.io_error_quark(), 'no access',
                                                  Gio.IOErrorEnum.PERMISSION_DENIED)
        self.assertTrue(self.run_recorder(recorder))

        self.assertTrue(recorder.errors[0].matches(Gio.io_error_quark(),
                                                   Gio.IOErrorEnum.PERMISSION_DENIED))
        self.assertEqual(recorder.errors[0].message, 'no access')

    def test_fail_on_exception_stops(self):
        recorder = Recorder(self.topic)
        recorder.fail_at = 2
        recorder.action = Paperboy.ErrorAction.STOP
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 5)
        engine = make_engine(self.group, fail_on_exception=True)
        engine.add_handler(recorder)

        with self.assertRaises(GLib.Error) as caught:
            run_until(engine)
        self.assertTrue(caught.exception.matches(Paperboy.error_quark(), Paperboy.Error.HANDLER))
        self.assertIn('ValueError', caught.exception.message)
        self.assertEqual(engine.props.state, Paperboy.EngineState.FAILED)
        self.assertNotIn('on_message:3:v-3', recorder.events)
        self.assertEqual(self.committed(), 2)

        # A new member of the group handles the failed record again.
        counter = Counter(self.topic)
        engine2 = make_engine(self.group)
        engine2.add_handler(counter)
        self.assertTrue(run_until(engine2, lambda: len(counter.records) >= 3))
        self.assertEqual(counter.records[0], (0, 2, b'v-2'))

    def test_stop_without_fail_on_exception_goes_on(self):
        recorder = Recorder(self.topic)
        recorder.fail_at = 1
        recorder.action = Paperboy.ErrorAction.STOP
        self.assertTrue(self.run_recorder(recorder))
        self.assertIn('on_message:3:v-3', recorder.events)
        self.assertEqual(self.committed(), 4)

    def test_exception_in_on_error_means_stop(self):
        class Broken(Recorder):
            __gtype_name__ = 'PyBrokenOnError'

            def do_on_error(self, error, msg, ctx):
                raise KeyError('on_error is broken')

        recorder = Broken(self.topic)
        recorder.fail_at = 1
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 3)
        engine = make_engine(self.group, fail_on_exception=True)
        engine.add_handler(recorder)
        with self.assertRaises(GLib.Error):
            run_until(engine)
        self.assertEqual(self.committed(), 1)

    def test_exception_in_did_receive_message_is_not_a_skip(self):
        class Broken(Recorder):
            __gtype_name__ = 'PyBrokenDidReceive'

            def do_did_receive_message(self, msg, ctx):
                if msg.get_offset() == 0:
                    raise ZeroDivisionError('pre-processing failed')
                return msg

        recorder = Broken(self.topic)
        self.assertTrue(self.run_recorder(recorder, n=2))
        self.assertEqual(len(recorder.errors), 1)
        self.assertIn('PyBrokenDidReceive.did_receive_message()', recorder.errors[0].message)
        self.assertIn('ZeroDivisionError', recorder.errors[0].message)
        self.assertNotIn('on_message:0:v-0', recorder.events)

    def test_exception_in_finished_handling(self):
        class Broken(Recorder):
            __gtype_name__ = 'PyBrokenFinished'

            def do_on_finished_handling(self, msgs, ctx):
                super().do_on_finished_handling(msgs, ctx)
                if msgs[0].get_offset() == 1:
                    raise OSError('could not flush')

        recorder = Broken(self.topic)
        self.assertTrue(self.run_recorder(recorder, n=3))
        self.assertEqual(len(recorder.errors), 1)
        self.assertIn('on_finished_handling()', recorder.errors[0].message)
        self.assertEqual(recorder.events.count('on_finished_handling:1'), 1)


class AsyncTests(TestCase):
    def check_order(self, records):
        last = {}
        for partition, offset in records:
            self.assertEqual(offset, last.get(partition, -1) + 1)
            last[partition] = offset

    def test_handle_keeps_partition_order(self):
        for max_in_flight in (1, 3):
            with self.subTest(max_in_flight=max_in_flight):
                self.setUp()
                CLUSTER.create_topic(self.topic, 3)
                for p in range(3):
                    produce_many(self.topic, p, 10)
                engine = make_engine(self.group, max_in_flight=max_in_flight)
                handler = Async(self.topic)
                engine.add_handler(handler)

                self.assertTrue(run_until(engine, lambda: len(handler.done) >= 30))

                self.check_order(handler.started)
                self.check_order(handler.done)
                self.assertLessEqual(handler.max_concurrent, max_in_flight)
                self.assertEqual(handler.errors, [])
                for p in range(3):
                    self.assertEqual(self.committed(p), 10)

    def test_gio_pair(self):
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 3)
        engine = make_engine(self.group)
        handler = GioAsync(self.topic)
        engine.add_handler(handler)

        self.assertTrue(run_until(engine, lambda: len(handler.done) + len(handler.errors) >= 3))

        self.assertEqual(handler.done, [0, 2])
        self.assertIn('RuntimeError: cannot even start', handler.errors[0].message)

    def test_dropped_task(self):
        class Dropper(Async):
            __gtype_name__ = 'PyDropper'

            def do_handle(self, msg, ctx, task):
                return True

        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 2)
        engine = make_engine(self.group)
        handler = Dropper(self.topic)
        engine.add_handler(handler)

        self.assertTrue(run_until(engine, lambda: len(handler.errors) >= 2))
        self.assertTrue(handler.errors[0].matches(Paperboy.error_quark(), Paperboy.Error.HANDLER))
        self.assertIn('dropped', handler.errors[0].message)


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
        cancellable = Gio.Cancellable()

        def stop_when_done():
            if len(counter.records) >= 2:
                cancellable.cancel()
            return False

        self.assertTrue(run_until(engine, stop_when_done, cancellable=cancellable))
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


if __name__ == '__main__':
    unittest.main(verbosity=2)
