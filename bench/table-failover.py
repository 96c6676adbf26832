#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Copyright 2026 The Paperboy authors

"""Restore times of a partitioned rocksdb:// table, with the members of
tests/group/views.c against `paperboy mock-broker`.

First, with one broker: the whole table into an empty store, half of it
(a second member joining with an empty store), and the partitions that
come back to a member after the other one was killed (its store held them
before: only what changed is read).

Then a failover, once without and once with a standby replica, each on a
broker of its own: member A counts the backlog alone, member B joins with
an empty store and takes half of the partitions, A is killed, and B takes
A's partitions over. Without a standby, B reads A's half of the changelog;
with one, it followed it meanwhile and reads only what it lacks.

Usage (from the source tree, after `ninja -C build`):
  PAPERBOY_TOOL=build/tools/paperboy PB_VIEWS=build/tests/group/pb-views \\
    /usr/bin/python3 bench/table-failover.py [RECORDS]
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'tool'))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from test_tool import MockBroker  # noqa: E402

VIEWS = os.environ.get('PB_VIEWS', 'build/tests/group/pb-views')
CONF = ['session.timeout.ms=3000', 'heartbeat.interval.ms=500', 'fetch.wait.max.ms=10']
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
TICKS = os.sysconf('SC_CLK_TCK')


def start_broker():
    broker = MockBroker('--topic', 'views:6', '--topic', 'views-changelog:6')
    p = Producer({'bootstrap.servers': broker.bootstrap_servers, 'partitioner': 'murmur2_random',
                  'linger.ms': 20, 'queue.buffering.max.messages': 1000000, 'log_level': 3})
    for i in range(N):
        while True:
            try:
                p.produce('views', b'v', b'page-%d' % (i % 100000))
                break
            except BufferError:
                p.poll(0.05)
    p.flush(60)
    return broker


class Member:
    def __init__(self, broker, root, name, standby=0):
        env = dict(os.environ, PB_VIEWS_STANDBY_REPLICAS=str(standby))
        self.p = subprocess.Popen([VIEWS, broker.bootstrap_servers, 'g', 'views',
                                   os.path.join(root, name)] + CONF,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env=env)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.buf = ''
        self.read = (0, 0)

    def lines(self):
        try:
            chunk = self.p.stdout.read()
        except TypeError:
            chunk = None
        if chunk:
            self.buf += chunk
        *done, self.buf = self.buf.split('\n')
        for line in done:
            if line.startswith('read '):
                self.read = tuple(int(w) for w in line.split()[1:3])
        return done

    def wait_restored(self, timeout=120):
        """The next 'restored' line, and its 'read' line."""
        t = time.monotonic()
        found = None
        while time.monotonic() - t < timeout:
            for line in self.lines():
                if line.startswith('restored'):
                    found = line.split()
                elif found is not None and line.startswith('read '):
                    return found
            time.sleep(0.01)
        raise RuntimeError('no restore')

    def cpu(self):
        """Its user and system CPU time, in seconds."""
        with open('/proc/%d/stat' % self.p.pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        self.p.wait()


def committed(broker):
    c = Consumer({'bootstrap.servers': broker.bootstrap_servers, 'group.id': 'g', 'log_level': 3})
    r = sum(max(tp.offset, 0)
            for tp in c.committed([TopicPartition('views', q) for q in range(6)], timeout=30))
    c.close()
    return r


def count_all(broker, member):
    t = time.monotonic()
    while True:
        c = committed(broker)
        member.lines()
        if c >= N or time.monotonic() - t > 120:
            return c
        time.sleep(0.5)


def restores():
    broker = start_broker()
    root = tempfile.mkdtemp()
    a = Member(broker, root, 'a')
    a.wait_restored()
    print('committed', count_all(broker, a))
    a.stop()
    print('changelog filled by', N, 'records')

    shutil.rmtree(os.path.join(root, 'a'))
    a = Member(broker, root, 'a')
    words = a.wait_restored()
    print('whole table (6 partitions) into an empty store: restored after assignment in %s ms, '
          '%d records read' % (words[1], a.read[0]))
    b = Member(broker, root, 'b')
    words = b.wait_restored()
    print('a member joining with an empty store (%d partitions): %s ms, %d records read'
          % (len(words) - 2, words[1], b.read[0]))
    time.sleep(3)

    a.lines()
    before = a.read[0]
    t0 = time.monotonic()
    b.stop(signal.SIGKILL)
    words = a.wait_restored()
    print('after SIGKILL of the other member: partitions back after %.2f s (session timeout 3 s), '
          'their restore %s ms, %d records read (its store held them before)'
          % (time.monotonic() - t0, words[1], a.read[0] - before))
    a.stop()
    broker.close()
    shutil.rmtree(root)


def failover(standby):
    broker = start_broker()
    root = tempfile.mkdtemp()
    a = Member(broker, root, 'a', standby)
    a.wait_restored()
    count_all(broker, a)
    b = Member(broker, root, 'b', standby)
    words = b.wait_restored()
    # The standby replica follows A's half meanwhile.
    time.sleep(10)
    b.lines()
    before = b.read[0]
    cpu = b.cpu()
    t0 = time.monotonic()
    a.stop(signal.SIGKILL)
    words = b.wait_restored()
    back = time.monotonic() - t0
    result = {
        'back': back,
        'ms': int(words[1]),
        'records': b.read[0] - before,
        'standby': b.read[1],
        'cpu': b.cpu() - cpu,
    }
    b.stop()
    broker.close()
    shutil.rmtree(root)
    return result


if __name__ == '__main__':
    restores()

    without = failover(0)
    with_standby = failover(1)
    for name, r in (('without a standby', without), ('with a standby', with_standby)):
        print('failover %s: partitions back after %.2f s (session timeout 3 s), their restore %d ms, '
              '%d records read, %d applied before by the standby; the survivor used %.2f s of CPU '
              'from the kill to the restore' % (name, r['back'], r['ms'], r['records'], r['standby'],
                                                r['cpu']))
    print('failover restore with a standby / without: %.3f of the time, %.3f of the records read'
          % (with_standby['ms'] / max(without['ms'], 1),
             with_standby['records'] / max(without['records'], 1)))
