# test_bulk.py: Bulk mode and PbBulkHandler from Python
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, Paperboy  # noqa: E402

from pbtest import CLUSTER, TestCase, iterate_until, make_engine, produce_many, run_until  # noqa: E402


class Bulk(Paperboy.BulkHandler):
    def __init__(self, topic, poison=None, bulk_action=Paperboy.ErrorAction.STOP,
                 action=Paperboy.ErrorAction.STOP):
        super().__init__(topic=topic)
        self.batches = []
        self.values = []
        self.singles = []
        self.bulk_errors = []
        self.errors = []
        self.finished = 0
        self.poison = poison
        self.bulk_action = bulk_action
        self.action = action

    def do_did_receive_bulk_messages(self, msgs, ctx):
        # Drops tombstones: the batch handed to do_on_bulk is this list.
        return [m for m in msgs if m.value is not None]

    def do_on_bulk(self, msgs, ctx):
        self.batches.append([(m.get_partition(), m.get_offset()) for m in msgs])
        if any(m.get_offset() == self.poison for m in msgs):
            raise ValueError('poison in the batch')
        self.values.extend(m.value for m in msgs)

    def do_on_bulk_error(self, error, msgs, ctx):
        self.bulk_errors.append(error.message)
        return self.bulk_action

    def do_on_message(self, msg, ctx):
        if msg.get_offset() == self.poison:
            raise ValueError('poison')
        self.singles.append(msg.value)
        self.values.append(msg.value)

    def do_on_error(self, error, msg, ctx):
        self.errors.append(msg.get_offset())
        return self.action

    def do_on_finished_handling(self, msgs, ctx):
        self.finished += len(msgs)


class SlowBulk(Bulk):
    """Slow one record at a time, fast in batches."""

    def do_on_message(self, msg, ctx):
        GLib.usleep(300)
        self.singles.append(msg.value)
        self.values.append(msg.value)


class AsyncBulk(Paperboy.BulkHandler):
    def __init__(self, topic):
        super().__init__(topic=topic)
        self.values = []

    def do_handle_bulk(self, msgs, ctx, task):
        values = [m.value for m in msgs]

        def complete():
            self.values.extend(values)
            task.return_boolean(True)
            return GLib.SOURCE_REMOVE
        GLib.timeout_add(5, complete)


class BulkTests(TestCase):
    def test_batches(self):
        CLUSTER.create_topic(self.topic, 2)
        produce_many(self.topic, 0, 300, 'a')
        produce_many(self.topic, 1, 200, 'b')
        CLUSTER.produce(self.topic, 0, 'gone', None)
        engine = make_engine(self.group, bulk_mode=True, bulk_max_records=64)
        handler = Bulk(self.topic)
        engine.add_handler(handler)
        # The tombstone may come in a batch of its own, after the values.
        self.assertTrue(run_until(engine, lambda: len(handler.values) >= 500
                                  and self.committed(0) == 301 and self.committed(1) == 200))

        self.assertEqual(engine.get_mode(), Paperboy.EngineMode.BULK)
        self.assertTrue(all(0 < len(b) <= 64 for b in handler.batches))
        self.assertEqual(sum(len(b) for b in handler.batches), 500)
        for partition, prefix, n in ((0, b'a', 300), (1, b'b', 200)):
            offsets = [o for b in handler.batches for p, o in b if p == partition]
            self.assertEqual(offsets, list(range(n)))
        self.assertEqual(sorted(handler.values),
                         sorted([b'a-%d' % i for i in range(300)] + [b'b-%d' % i for i in range(200)]))
        self.assertEqual(handler.singles, [])
        self.assertEqual(self.committed(0), 301)
        self.assertEqual(self.committed(1), 200)

    def test_exception_stops_and_commits_nothing_of_the_batch(self):
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 40)
        engine = make_engine(self.group, bulk_mode=True, bulk_max_records=10, fail_on_exception=True)
        handler = Bulk(self.topic, poison=17)
        engine.add_handler(handler)
        with self.assertRaises(GLib.Error) as caught:
            run_until(engine)
        self.assertTrue(caught.exception.matches(Paperboy.error_quark(), Paperboy.Error.HANDLER))
        self.assertIn('Bulk.on_bulk() raised ValueError: poison in the batch', caught.exception.message)
        failed = handler.batches[-1]
        self.assertEqual(len(handler.bulk_errors), 1)
        self.assertEqual(self.committed(0), failed[0][1])

    def test_split_finds_the_poison_record(self):
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 40)
        engine = make_engine(self.group, bulk_mode=True, bulk_max_records=10, fail_on_exception=True)
        handler = Bulk(self.topic, poison=17, bulk_action=Paperboy.ErrorAction.SPLIT,
                       action=Paperboy.ErrorAction.CONTINUE)
        engine.add_handler(handler)
        self.assertTrue(run_until(engine, lambda: len(handler.values) >= 39))
        self.assertEqual(handler.errors, [17])
        failed = next(b for b in handler.batches if any(o == 17 for p, o in b))
        self.assertEqual(len(handler.singles), len(failed) - 1)
        self.assertNotIn(b'v-17', handler.values)
        self.assertEqual(self.committed(0), 40)

    def test_async_bulk(self):
        CLUSTER.create_topic(self.topic, 1)
        produce_many(self.topic, 0, 100)
        engine = make_engine(self.group, bulk_mode=True, bulk_max_records=16)
        handler = AsyncBulk(self.topic)
        engine.add_handler(handler)
        self.assertTrue(run_until(engine, lambda: len(handler.values) >= 100))
        self.assertEqual(handler.values, [b'v-%d' % i for i in range(100)])
        self.assertEqual(self.committed(0), 100)

    def test_switch_both_ways(self):
        CLUSTER.create_topic(self.topic, 1)
        engine = make_engine(self.group, bulk_lag_threshold=1000, single_lag_threshold=50,
                             mode_switch_dwell_ms=200)
        handler = SlowBulk(self.topic)
        engine.add_handler(handler)
        modes = []
        engine.connect('mode-changed', lambda e, mode: modes.append(mode))
        result = []
        engine.run_async(None, lambda source, res: result.append(res))
        iterate_until(lambda: result or engine.get_state() == Paperboy.EngineState.RUNNING)
        if result:
            engine.run_finish(result[0])
        for round in range(2):
            produce_many(self.topic, 0, 8000, 'r%d' % round)
            iterate_until(lambda: len(modes) >= 2 * (round + 1)
                          and len(handler.values) >= 8000 * (round + 1), timeout=60)
        engine.stop()
        iterate_until(lambda: result)
        self.assertTrue(engine.run_finish(result[0]))
        self.assertEqual(modes, [Paperboy.EngineMode.BULK, Paperboy.EngineMode.SINGLE] * 2)
        self.assertEqual(len(handler.values), 16000)
        self.assertEqual(self.committed(0), 16000)


if __name__ == '__main__':
    unittest.main()
