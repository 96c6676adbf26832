# test_async.py: asynchronous handlers written in Python
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import Paperboy  # noqa: E402

from pbtest import Async, CLUSTER, GioAsync, TestCase, make_engine, produce_many, run_until  # noqa: E402


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


if __name__ == '__main__':
    unittest.main(verbosity=2)
