# test_group.py: several members of one group, from Python
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import Paperboy  # noqa: E402

from pbtest import CLUSTER, TestCase, iterate_until, make_engine, produce_many  # noqa: E402


class Counter(Paperboy.Handler):
    __gtype_name__ = 'PbPyGroupCounter'

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.handled = []

    def do_on_message(self, msg, ctx):
        self.handled.append((msg.get_partition(), msg.get_offset()))


class Member:
    def __init__(self, group, topic):
        self.engine = make_engine(group)
        self.handler = Counter(topic=topic)
        self.engine.add_handler(self.handler)
        self.owned = set()
        self.results = []
        self.engine.connect('partitions-assigned', self.assigned)
        self.engine.connect('partitions-revoked', self.revoked)
        self.engine.run_async(None, lambda engine, result: self.results.append(result))

    def assigned(self, engine, partitions):
        self.owned.update(p for _, p in partitions.unpack())

    def revoked(self, engine, partitions, lost):
        self.owned.difference_update(p for _, p in partitions.unpack())


class GroupTests(TestCase):
    def test_members_stop_each_owning_one_partition(self):
        """Three members of one group, each owning one partition of three,
        stop gracefully: none owning partition 0 crashes, and no record is
        handled twice."""
        CLUSTER.create_topic(self.topic, 3)
        for partition in range(3):
            produce_many(self.topic, partition, 20)

        members = [Member(self.group, self.topic) for _ in range(3)]
        iterate_until(lambda: all(len(m.owned) == 1 for m in members), timeout=90)
        self.assertEqual(set().union(*(m.owned for m in members)), {0, 1, 2})

        for member in members:
            member.engine.stop()
        iterate_until(lambda: all(m.results for m in members), timeout=60)

        handled = []
        for member in members:
            self.assertTrue(member.engine.run_finish(member.results[0]))
            self.assertEqual(member.engine.props.state, Paperboy.EngineState.STOPPED)
            handled += member.handler.handled
        self.assertEqual(len(handled), len(set(handled)))


if __name__ == '__main__':
    unittest.main(verbosity=2)
