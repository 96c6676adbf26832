#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Copyright 2026 The Paperboy authors

"""Engines killed and restarted in one consumer group, against a broker in
its own process (`paperboy mock-broker`).

Usage: test_restarts.py PATH-TO-PAPERBOY [unittest arguments]
with PB_TEST_CONSUMER set to tests/pb-test-consumer, an engine in a process
of its own that prints what it handles.
"""

import os
import random
import selectors
import signal
import subprocess
import sys
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition

import test_tool
from test_tool import MockBroker, PRODUCER_CONF, TIMEOUT

CONSUMER = os.environ.get('PB_TEST_CONSUMER')

# The group's settings: the lowest session timeout the mock cluster takes,
# so that the group soon forgets a member that was killed.
GROUP_CONF = [
    '-X', 'session.timeout.ms=3000',
    '-X', 'heartbeat.interval.ms=500',
    '-X', 'fetch.wait.max.ms=10',
]


class Run:
    """One pb-test-consumer process; its lines, with the time each came."""

    def __init__(self, *args):
        self.started = time.monotonic()
        self.process = subprocess.Popen([CONSUMER, *args], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines = []
        self._partial = b''
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def read(self, seconds):
        """Reads what comes for up to @seconds; FALSE once the output closed."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if not self._selector.select(remaining):
                continue
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                return False
            *complete, self._partial = (self._partial + chunk).split(b'\n')
            now = time.monotonic() - self.started
            self.lines.extend((now, line.decode().split()) for line in complete)

    def wait_for(self, predicate, seconds):
        """Reads until @predicate holds for a line; returns whether it did."""
        deadline = time.monotonic() + seconds
        seen = 0
        while True:
            for _, words in self.lines[seen:]:
                if predicate(words):
                    return True
            seen = len(self.lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.read(min(remaining, 0.05)):
                return any(predicate(words) for _, words in self.lines[seen:])

    def kill(self, signum=signal.SIGKILL):
        self.process.send_signal(signum)
        while self.read(TIMEOUT):
            pass
        status = self.process.wait(TIMEOUT)
        self._selector.close()
        self.process.stdout.close()
        return status

    def handled(self):
        """(topic, partition, offset) of the records handled, in order."""
        return [(words[3], int(words[1]), int(words[2]))
                for _, words in self.lines if words[0] == 'handled']


def handled_topic(topic):
    return lambda words: words[0] == 'handled' and words[3] == topic


def said(*expected):
    return lambda words: words == list(expected)


class StepsRestartTests(unittest.TestCase):
    """Steps [[a], [b]], then both topics live."""

    PARTITIONS = 8
    RECORDS = 100         # a partition, a run
    RESTARTS = 30
    # Where a run is killed: joining, then at every phase of its steps.
    PHASES = [
        ('joining', None),
        ('in step 0', handled_topic('a')),
        ('at the end of step 0', said('step', '0', 'finished')),
        ('in step 1', handled_topic('b')),
        ('at the end of step 1', said('step', '1', 'finished')),
        ('live', said('step', '1', 'finished')),
    ]

    def setUp(self):
        self.broker = MockBroker('--topic', 'a:%d' % self.PARTITIONS,
                                 '--topic', 'b:%d' % self.PARTITIONS)
        self.producer = Producer({**PRODUCER_CONF,
                                  'bootstrap.servers': self.broker.bootstrap_servers})
        self.watermarks = Consumer({'bootstrap.servers': self.broker.bootstrap_servers,
                                    'group.id': 'watermarks'})
        self.rand = random.Random(int(os.environ.get('PB_TEST_SEED', '16')))

    def tearDown(self):
        self.watermarks.close()
        self.broker.close()

    def produce(self):
        for topic in ('a', 'b'):
            for i in range(self.RECORDS * self.PARTITIONS):
                self.producer.produce(topic, value=b'%s-%d' % (topic.encode(), i),
                                      partition=i % self.PARTITIONS)
        self.assertEqual(self.producer.flush(TIMEOUT), 0)

    def ends(self, topic):
        return [self.watermarks.get_watermark_offsets(TopicPartition(topic, p),
                                                      timeout=TIMEOUT)[1]
                for p in range(self.PARTITIONS)]

    def start(self):
        return Run('--bootstrap', self.broker.bootstrap_servers, '--group', 'steps',
                   '--topic', 'a,b', '--steps', '--delay-ms', '1', *GROUP_CONF)

    def check_order(self, run, a_ends, name):
        """Every record of a present when the run began comes before any
        record of b."""
        first_b = None
        for i, (topic, partition, offset) in enumerate(run.handled()):
            if topic == 'b' and first_b is None:
                first_b = (partition, offset)
            elif topic == 'a' and first_b is not None and offset < a_ends[partition]:
                self.fail('%s: a[%d]@%d, of the backlog at the start, was handled after '
                          'b[%d]@%d' % (name, partition, offset, *first_b))

    def test_kills_at_every_phase(self):
        handled = set()

        for restart in range(self.RESTARTS):
            phase, trigger = self.PHASES[restart % len(self.PHASES)]
            self.produce()
            a_ends = self.ends('a')

            run = self.start()
            if trigger is None:
                run.read(self.rand.uniform(0.2, 3.0))
            elif not run.wait_for(trigger, 60):
                self.fail('run %d never got %s' % (restart, phase))
            else:
                run.read(self.rand.uniform(0, 0.3) + (0.8 if phase == 'live' else 0))
            self.assertEqual(run.kill(), -signal.SIGKILL)

            name = 'run %d, killed %s' % (restart, phase)
            self.check_order(run, a_ends, name)
            records = run.handled()
            handled.update(records)
            print('%s: %d records of a and %d of b handled'
                  % (name, sum(1 for r in records if r[0] == 'a'),
                     sum(1 for r in records if r[0] == 'b')), flush=True)

        # A last run, to the end of everything, stopped gracefully.
        a_ends = self.ends('a')
        b_ends = self.ends('b')
        run = self.start()
        self.assertTrue(run.wait_for(said('step', '1', 'finished'), 120))
        left = {(topic, p) for topic in 'ab' for p in range(self.PARTITIONS)}
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            run.read(0.2)
            done = handled | set(run.handled())
            left = {(t, p) for t, p in left
                    if (t, p, (a_ends if t == 'a' else b_ends)[p] - 1) not in done}
        self.assertEqual(run.kill(signal.SIGTERM), 0)
        self.check_order(run, a_ends, 'the last run')
        handled.update(run.handled())

        # Nothing was lost across the kills.
        for topic, ends in (('a', a_ends), ('b', b_ends)):
            for partition in range(self.PARTITIONS):
                missing = [o for o in range(ends[partition])
                           if (topic, partition, o) not in handled]
                self.assertEqual(missing, [], '%s[%d]' % (topic, partition))


def main():
    if len(sys.argv) > 1 and os.sep in sys.argv[1]:
        test_tool.TOOL = sys.argv.pop(1)
    if not test_tool.TOOL or not CONSUMER:
        sys.exit('usage: PB_TEST_CONSUMER=... %s PATH-TO-PAPERBOY [unittest arguments]'
                 % sys.argv[0])

    unittest.main(verbosity=2)


if __name__ == '__main__':
    main()
