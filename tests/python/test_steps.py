# test_steps.py: Step mode from Python
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, Paperboy  # noqa: E402

from pbtest import CLUSTER, TestCase, iterate_until, make_engine, produce_many  # noqa: E402


class Logger(Paperboy.Handler):
    def __init__(self, topic, log):
        super().__init__(topic=topic)
        self.log = log

    def do_on_message(self, msg, ctx):
        self.log.append((msg.get_topic(), msg.get_offset()))


class StepTests(TestCase):
    def test_steps_in_order_then_single(self):
        log = []
        topics = [self.topic + suffix for suffix in ('-a', '-b', '-c')]
        for topic, n in zip(topics, (200, 100, 50)):
            CLUSTER.create_topic(topic, 1)
            produce_many(topic, 0, n)
        engine = make_engine(self.group)
        handlers = [Logger(topic, log) for topic in topics]
        for handler in handlers:
            engine.add_handler(handler)
        engine.add_step([handlers[0]])
        engine.add_step([handlers[1]])
        self.assertEqual(engine.get_n_steps(), 2)
        engine.connect('step-started', lambda e, step: log.append(('started', step)))
        engine.connect('step-finished', lambda e, step: log.append(('finished', step)))

        result = []
        engine.run_async(None, lambda source, res: result.append(res))
        iterate_until(lambda: result or (('finished', 1) in log and len(log) >= 354
                                         and engine.props.mode == Paperboy.EngineMode.SINGLE),
                      timeout=60)
        self.assertEqual(engine.props.current_step, -1)
        engine.stop()
        iterate_until(lambda: result)
        self.assertTrue(engine.run_finish(result[0]))

        def first(topic):
            return next(i for i, entry in enumerate(log) if entry[0] == topic)

        def last(topic):
            return max(i for i, entry in enumerate(log) if entry[0] == topic)

        self.assertEqual(log[0], ('started', 0))
        self.assertLess(last(topics[0]), log.index(('finished', 0)))
        self.assertGreater(first(topics[1]), log.index(('started', 1)))
        self.assertLess(last(topics[1]), log.index(('finished', 1)))
        self.assertGreater(first(topics[2]), log.index(('finished', 1)))
        self.assertEqual(sorted(o for t, o in log if t == topics[0]), list(range(200)))
        self.assertEqual(CLUSTER.get_committed_offset(self.group, topics[2], 0), 50)

    def test_bad_steps(self):
        engine = make_engine(self.group)
        added, stranger = Logger(self.topic, []), Logger(self.topic + '-x', [])
        engine.add_handler(added)
        for step in ([stranger], [added, added], []):
            with self.assertRaises(GLib.Error) as caught:
                engine.add_step(step)
            self.assertTrue(caught.exception.matches(Paperboy.error_quark(), Paperboy.Error.CONFIG))
        engine.add_step([added])
        self.assertEqual(engine.get_n_steps(), 1)


if __name__ == '__main__':
    unittest.main()
