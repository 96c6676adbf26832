# test_handler.py: the handler lifecycle and its failures, in Python
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, Gio, Paperboy  # noqa: E402

from pbtest import CLUSTER, Counter, Recorder, TestCase, make_engine, produce_many, run_until  # noqa: E402


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
        self.assertIsNone(recorder.finished[1].value)
        self.assertEqual(recorder.finished[1].key, b'k1')
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


class WrongReturnTests(TestCase):
    """A value of the wrong type from any virtual function is a failure that
    reaches on_error as Paperboy.Error.HANDLER naming the handler and the
    virtual function: never a silent skip nor a silent "no context"."""

    def run_wrong(self, vfunc, value):
        class Wrong(Recorder):
            __gtype_name__ = 'PyWrong_' + vfunc

            def do_define_context(self):
                context = super().do_define_context()
                return value if vfunc == 'define_context' else context

            def do_did_receive_message(self, msg, ctx):
                msg = super().do_did_receive_message(msg, ctx)
                return value if vfunc == 'did_receive_message' else msg

            def do_on_message(self, msg, ctx):
                super().do_on_message(msg, ctx)
                return value if vfunc == 'on_message' else True

            def do_on_finished_handling(self, msgs, ctx):
                super().do_on_finished_handling(msgs, ctx)
                return value if vfunc == 'on_finished_handling' else None

        recorder = Wrong(self.topic)
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 2)
        engine = make_engine(self.group)
        engine.add_handler(recorder)
        self.assertTrue(run_until(engine, lambda: len(recorder.errors) >= 2))
        for error in recorder.errors:
            self.assertTrue(error.matches(Paperboy.error_quark(), Paperboy.Error.HANDLER))
            self.assertIn('PyWrong_%s.%s() returned %s' % (vfunc, vfunc, type(value).__name__),
                          error.message)
        return recorder

    def test_define_context(self):
        self.run_wrong('define_context', 42)

    def test_did_receive_message(self):
        recorder = self.run_wrong('did_receive_message', 42)
        self.assertFalse([e for e in recorder.events if e.startswith('on_message')])

    def test_on_message(self):
        self.run_wrong('on_message', 'yes')

    def test_on_finished_handling(self):
        self.run_wrong('on_finished_handling', {})

    def test_on_error(self):
        class WrongOnError(Recorder):
            __gtype_name__ = 'PyWrongOnError'

            def do_on_error(self, error, msg, ctx):
                super().do_on_error(error, msg, ctx)
                return 'continue'

        recorder = WrongOnError(self.topic)
        recorder.fail_at = 1
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 3)
        engine = make_engine(self.group, fail_on_exception=True)
        engine.add_handler(recorder)
        # A wrong answer from on_error is a stop.
        with self.assertRaises(GLib.Error):
            run_until(engine)
        self.assertEqual(self.committed(), 1)


if __name__ == '__main__':
    unittest.main(verbosity=2)
