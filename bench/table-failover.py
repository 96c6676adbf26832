#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Copyright 2026 The Paperboy authors

"""Restore times of a partitioned rocksdb:// table, with the members of
tests/group/views.c against `paperboy mock-broker`: the whole table into
an empty store, half of it (a second member joining with an empty store),
and the partitions that come back to a member after the other one was
killed (its store held them before: only what changed is read).

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
broker = MockBroker('--topic', 'views:6', '--topic', 'views-changelog:6')
b = broker.bootstrap_servers
root = tempfile.mkdtemp()
p = Producer({'bootstrap.servers': b, 'partitioner': 'murmur2_random', 'linger.ms': 20,
              'queue.buffering.max.messages': 1000000, 'log_level': 3})
for i in range(N):
    while True:
        try:
            p.produce('views', b'v', b'page-%d' % (i % 100000)); break
        except BufferError:
            p.poll(0.05)
p.flush(60)

class M:
    def __init__(self, name):
        self.p = subprocess.Popen([VIEWS, b, 'g', 'views', os.path.join(root, name)] + CONF,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.buf = ''
    def lines(self):
        try:
            chunk = self.p.stdout.read()
        except TypeError:
            chunk = None
        if chunk:
            self.buf += chunk
        *done, self.buf = self.buf.split('\n')
        return done
    def wait_restored(self, timeout=120):
        t = time.monotonic()
        while time.monotonic() - t < timeout:
            for l in self.lines():
                if l.startswith('restored'):
                    return l, time.monotonic() - t
            time.sleep(0.01)
        raise RuntimeError('no restore')

def committed():
    c = Consumer({'bootstrap.servers': b, 'group.id': 'g', 'log_level': 3})
    r = sum(max(tp.offset, 0) for tp in c.committed([TopicPartition('views', q) for q in range(6)], timeout=30))
    c.close(); return r

a = M('a')
line, secs = a.wait_restored()
print('first start, empty changelog:', line.split()[:2])
t = time.monotonic()
while True:
    c = committed()
    a.lines()
    if c >= N or time.monotonic() - t > 120:
        print('committed', c); break
    time.sleep(0.5)
a.p.send_signal(signal.SIGTERM); a.p.wait()
print('changelog filled by', N, 'records')
# Whole table into an empty store
shutil.rmtree(os.path.join(root, 'a'))
a = M('a'); line, secs = a.wait_restored()
print('whole table (6 partitions) into an empty store: restored after assignment in', line.split()[1], 'ms')
# Half the table into an empty store (second member)
bm = M('b'); line, secs = bm.wait_restored()
print('a member joining with an empty store (%d partitions): %s ms' % (len(line.split()) - 2, line.split()[1]))
time.sleep(3)
# Failover: SIGKILL b; a restores its partitions back (from its own store: delta) 
a.lines()
t0 = time.monotonic()
bm.p.send_signal(signal.SIGKILL); bm.p.wait()
line, secs = a.wait_restored()
print('after SIGKILL of the other member: partitions back after %.2f s (session timeout 3 s), their restore %s ms' % (time.monotonic() - t0, line.split()[1]))
a.p.send_signal(signal.SIGTERM); a.p.wait()
broker.close()
shutil.rmtree(root)
