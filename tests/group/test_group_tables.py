#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Copyright 2026 The Paperboy authors

"""Three members of one group count page views into a partitioned
rocksdb:// table, in C, Python and JavaScript (views.c, views.py,
views.js), against a broker in its own process (`paperboy mock-broker`),
while records keep coming and members join, leave and are killed.

At the end, each member says which table partitions it holds and what is
in them. The test checks that every partition is held by one member, that
no key is in two members' shards, that every count is at least the number
of records of its key and at most the number of times they were handled
(the duplicates at-least-once allows), and that no record of a newly
assigned partition was handled before its partition of the table was
restored. The C member runs it again with standby replicas, with a
rocksdb:// and with a memory:// table.

Under the processing guarantee exact-state, C and Python members are
killed more than 20 times, at random moments of their consumption and of
their restores, some with their state directories deleted, one member or
three: every count must then equal the number of records of its key.

Usage: test_group_tables.py [unittest arguments], with PAPERBOY_TOOL,
PB_VIEWS, GJS and PYTHON set.
"""

import collections
import itertools
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tool'))

from test_tool import MockBroker  # noqa: E402

TOPIC = 'views'
CHANGELOG = 'views-changelog'
PARTITIONS = 6
KEYS = ['page-%d' % i for i in range(60)]
RATE = 1500           # records a second
SECONDS = 30          # of producing
EVENTS = 8            # kills, leaves and joins while it produces
KILLS = 22            # under exact-state: kills only, over a longer run
TIMEOUT = 120
# The lowest session timeout the mock takes: a killed member is soon
# forgotten.
GROUP_CONF = ['session.timeout.ms=3000', 'heartbeat.interval.ms=500', 'fetch.wait.max.ms=10']


def command(language):
    if language == 'c':
        return [os.environ['PB_VIEWS']]
    if language == 'python':
        return [os.environ.get('PYTHON', '/usr/bin/python3'), os.path.join(HERE, 'views.py')]
    return [os.environ.get('GJS', 'gjs'), '-m', os.path.join(HERE, 'views.js')]


class Life:
    """One process of a member: its lines, read as they come."""

    def __init__(self, argv, env=None):
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE,
                                        env=dict(os.environ, **(env or {})))
        self.lines = []
        self.consuming = False   # it handled a record
        self.stderr = b''
        self.ended = False
        self._partial = b''
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def read(self, seconds=0.0):
        """Reads what comes within @seconds; False once the output closed."""
        deadline = time.monotonic() + seconds
        while True:
            events = self._selector.select(max(0.0, deadline - time.monotonic()))
            if not events:
                return True
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            if not chunk:
                return False
            *complete, self._partial = (self._partial + chunk).split(b'\n')
            lines = [line.decode().split() for line in complete]
            self.consuming = self.consuming or any(w and w[0] == 'handled' for w in lines)
            self.lines.extend(lines)

    def wait_for(self, word, seconds=TIMEOUT, start=0):
        """Reads until a line starting with @word, from line @start on;
        returns its index."""
        seen = start
        deadline = time.monotonic() + seconds
        while True:
            for i in range(seen, len(self.lines)):
                if self.lines[i] and self.lines[i][0] == word:
                    return i
            seen = len(self.lines)
            if time.monotonic() > deadline:
                raise AssertionError('no "%s" line within %d s' % (word, seconds))
            if not self.read(0.1) and self.process.poll() is not None:
                raise AssertionError('the member exited with %s before "%s": %s' % (
                    self.process.returncode, word, self.process.stderr.read().decode()))

    def end(self, signum):
        self.process.send_signal(signum)
        while self.read(1.0):
            pass
        self.stderr = self.process.stderr.read()
        status = self.process.wait(TIMEOUT)
        self._selector.close()
        self.process.stdout.close()
        self.process.stderr.close()
        self.ended = True
        return status


class Member:
    def __init__(self, argv, state_dir, env=None):
        self.argv = argv
        self.state_dir = state_dir
        self.env = env
        self.lives = []

    @property
    def life(self):
        return self.lives[-1] if self.lives and not self.lives[-1].ended else None

    def start(self):
        self.lives.append(Life(self.argv + [self.state_dir] + GROUP_CONF, self.env))

    def read(self):
        for life in self.lives:
            if not life.ended:
                life.read()

    def kill(self):
        """Ends what still runs, as a failed test leaves it."""
        if self.life is not None:
            self.life.end(signal.SIGKILL)


class GroupTableTests(unittest.TestCase):

    def run_group(self, language, env=None, n_members=3, wipe=False):
        exact = (env or {}).get('PB_VIEWS_GUARANTEE') == 'exact-state'
        rate, seconds = (1000, 20) if exact else (RATE, SECONDS)
        broker = MockBroker('--topic', '%s:%d' % (TOPIC, PARTITIONS),
                            '--topic', '%s:%d' % (CHANGELOG, PARTITIONS))
        self.addCleanup(broker.close)
        bootstrap = broker.bootstrap_servers
        group = 'views-%s' % language
        name = ' '.join([language] + ['%s=%s' % item for item in sorted((env or {}).items())] +
                        (['members=%d' % n_members] if n_members != 3 else []) +
                        (['wipe'] if wipe else []))
        root = tempfile.mkdtemp(prefix='pb-group-tables-')
        self.addCleanup(shutil.rmtree, root, True)
        argv = command(language) + [bootstrap, group, TOPIC]
        members = [Member(argv, os.path.join(root, 'member-%d' % i), env)
                   for i in range(n_members)]
        for m in members:
            self.addCleanup(m.kill)
        rng = random.Random(os.environ.get('PB_TEST_SEED', name))

        # The records, and which key each (partition, offset) has.
        records = {}
        sent = collections.Counter()
        errors = []

        def delivered(err, msg):
            if err is not None:
                errors.append(err)
            else:
                records[(msg.partition(), msg.offset())] = msg.key().decode()

        killed = threading.Event()

        def produce():
            producer = Producer({'bootstrap.servers': bootstrap, 'partitioner': 'murmur2_random',
                                 'linger.ms': 5, 'log_level': 3})
            # Under exact-state, until the last kill.
            for i in itertools.count():
                if i >= rate * seconds and (not exact or killed.is_set()):
                    break
                key = rng.choice(KEYS)
                producer.produce(TOPIC, b'view', key.encode(), on_delivery=delivered)
                sent[key] += 1
                if i % (rate // 10) == 0:
                    producer.poll(0)
                    time.sleep(0.1)
            producer.flush(TIMEOUT)

        # All members but one first; the last joins while records come.
        for m in members[:-1] or members:
            m.start()
        producer = threading.Thread(target=produce)
        producer.start()
        events = []
        joined = n_members == 1

        def restart(m, i):
            if wipe and rng.random() < 0.3:
                # The changelog alone has the member's partitions.
                shutil.rmtree(m.state_dir, True)
                events[-1] += ' wiped'
            m.start()

        def kill(m, what):
            m.life.end(signal.SIGKILL)
            events.append('%s %d' % (what, members.index(m)))
            time.sleep(rng.uniform(0, 1))
            restart(m, members.index(m))

        while exact and len([e for e in events if e.startswith('kill')]) < KILLS:
            time.sleep(0.1)
            for m in members:
                m.read()
            if not joined:
                time.sleep(rng.uniform(1, 3))
                members[-1].start()
                joined = True
                events.append('join %d' % (n_members - 1))
                continue
            # A member that consumes, at a random moment; then, at times,
            # again while it restores and joins.
            consuming = [m for m in members if m.life is not None and m.life.consuming]
            if not consuming:
                continue
            m = rng.choice(consuming)
            time.sleep(rng.uniform(0, 1.5))
            kill(m, 'kill')
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.05, 1.0))
                kill(m, 'kill-starting')
        killed.set()

        for _ in range(0 if exact else EVENTS):
            time.sleep(rng.uniform(1.5, seconds / EVENTS))
            for m in members:
                m.read()
            if not joined:
                members[-1].start()
                joined = True
                events.append('join %d' % (n_members - 1))
                continue
            m = rng.choice([m for m in members if m.life is not None])
            i = members.index(m)
            if rng.random() < 0.75:
                m.life.end(signal.SIGKILL)
                events.append('kill %d' % i)
            else:
                self.assertEqual(m.life.end(signal.SIGTERM), 0, m.lives[-1].stderr)
                events.append('leave %d' % i)
            time.sleep(rng.uniform(0, 2))
            m.start()
        producer.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(records), sum(sent.values()))
        print('%s: %s' % (name, ', '.join(events)), file=sys.stderr)

        # Everything handled and committed, every partition held.
        consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': group, 'log_level': 3})
        self.addCleanup(consumer.close)
        ends = {p: 1 + max(o for (q, o) in records if q == p) for p in range(PARTITIONS)}
        deadline = time.monotonic() + TIMEOUT
        while True:
            for m in members:
                m.read()
            committed = {tp.partition: tp.offset for tp in consumer.committed(
                [TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)}
            if committed == ends:
                break
            self.assertLess(time.monotonic(), deadline, 'committed %s of %s' % (committed, ends))
            time.sleep(0.5)

        # Each member says what it holds, until they agree.
        deadline = time.monotonic() + TIMEOUT
        while True:
            dumps = []
            for m in members:
                # SIGUSR1 kills a member that does not answer it yet.
                m.life.wait_for('ready')
                start = len(m.life.lines)
                m.life.process.send_signal(signal.SIGUSR1)
                end = m.life.wait_for('dumped', start=start)
                lines = m.life.lines[start:end]
                holds = next(w for w in lines if w and w[0] == 'holds')
                dumps.append(([int(p) for p in holds[1:]],
                              {w[2]: (int(w[1]), int(w[3])) for w in lines if w and w[0] == 'shard'}))
            held = [p for partitions, _ in dumps for p in partitions]
            if sorted(held) == list(range(PARTITIONS)):
                break
            self.assertLess(time.monotonic(), deadline, 'held: %s' % held)
            time.sleep(0.5)

        # No key in two shards; each in a partition its member holds.
        counts = {}
        for partitions, shard in dumps:
            for key, (partition, count) in shard.items():
                self.assertIn(partition, partitions)
                self.assertNotIn(key, counts)
                counts[key] = count

        # Every record counted, at most as often as it was handled.
        handled = collections.Counter()
        for m in members:
            for life in m.lives:
                for words in life.lines:
                    if words and words[0] == 'handled':
                        handled[records[(int(words[1]), int(words[2]))]] += 1
        self.assertEqual(set(counts), set(sent))
        for key in sent:
            self.assertGreaterEqual(counts[key], sent[key], key)
            self.assertLessEqual(counts[key], handled[key], key)
        extra = sum(counts.values()) - sum(sent.values())
        if exact:
            # Records handled again, and no count they moved.
            self.assertGreater(sum(handled.values()), sum(sent.values()))
            self.assertEqual({k: counts[k] - sent[k] for k in sent if counts[k] != sent[k]}, {})
        print('%s: %d records, %d handled, %d counted beyond them' % (
            name, sum(sent.values()), sum(handled.values()), extra), file=sys.stderr)

        # No record of a partition before its table partition was restored;
        # how long from an assignment to the restore of its partitions.
        waits = []
        for m in members:
            for life in m.lives:
                ready = set()
                for words in life.lines:
                    if not words:
                        continue
                    if words[0] == 'assigned':
                        ready.discard(int(words[2]))
                    elif words[0] == 'restored':
                        new = {int(p) for p in words[2:]} - ready
                        waits.append(int(words[1]))
                        ready.update(new)
                    elif words[0] == 'handled':
                        self.assertIn(int(words[1]), ready, words)
        waits.sort()
        print('%s: %d restores, %d ms (median) and %d ms (max) after their assignment' % (
            name, len(waits), waits[len(waits) // 2], waits[-1]), file=sys.stderr)

        for m in members:
            self.assertEqual(m.life.end(signal.SIGTERM), 0, m.lives[-1].stderr)

        # Nothing went wrong inside a member, killed or not.
        for m in members:
            for life in m.lives:
                text = life.stderr.decode('utf-8', 'replace')
                for bad in ('CRITICAL', 'Traceback', 'JS ERROR', 'failed'):
                    self.assertNotIn(bad, text)

    def test_c(self):
        self.run_group('c')

    def test_c_standby(self):
        # Standby replicas follow what the others hold, on disk and in
        # memory, through the same kills.
        self.run_group('c', {'PB_VIEWS_STANDBY_REPLICAS': '1'})

    def test_c_standby_memory(self):
        self.run_group('c', {'PB_VIEWS_STANDBY_REPLICAS': '1', 'PB_VIEWS_STORE_URI': 'memory://'})

    def test_python(self):
        self.run_group('python')

    def test_c_exact(self):
        # Some restarts with an empty state directory.
        self.run_group('c', {'PB_VIEWS_GUARANTEE': 'exact-state'},
                       wipe=True)

    def test_c_exact_memory_one_member(self):
        self.run_group('c', {'PB_VIEWS_GUARANTEE': 'exact-state',
                             'PB_VIEWS_STORE_URI': 'memory://'}, n_members=1)

    def test_python_exact(self):
        self.run_group('python', {'PB_VIEWS_GUARANTEE': 'exact-state'})

    def test_javascript(self):
        self.run_group('javascript')


if __name__ == '__main__':
    unittest.main(verbosity=2)
