#!/usr/bin/python3
# test_volume.py: a million records through handlers of every language
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""A broker in its own process (`paperboy mock-broker`) with a backlog of
1,000,000 records of 100 bytes on 32 partitions, and engines in processes
of their own handling all of them.

  test_volume.py [unittest arguments]     the suite: JavaScript handlers
  test_volume.py report [LANGUAGE...]     rates, memory and CPU time of the
                                          C, Python and JavaScript handlers

The suite checks that every record is handled exactly once, that nothing
is logged at warning level or above, and that the committed offsets are
the ends of the partitions. The report gives, for each handler, the rate
over the first and the last 10 % of the records, the pauses of the
fetcher, the peak RSS and the CPU time per record; it checks nothing
(timing goals belong in benchmarks).

The environment names the programs: PAPERBOY_TOOL, PB_VOLUME_C (the C
consumer), GJS (gjs) and PYTHON (/usr/bin/python3 by default);
PB_VOLUME_RECORDS and PB_VOLUME_PARTITIONS change the backlog, and
PB_VOLUME_CONFIG gives the consumers librdkafka properties (KEY=VALUE
words)."""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.environ.get('PAPERBOY_TOOL', 'paperboy')
GJS = os.environ.get('GJS', 'gjs')
PYTHON = os.environ.get('PYTHON', '/usr/bin/python3')
C_CONSUMER = os.environ.get('PB_VOLUME_C')
RECORDS = int(os.environ.get('PB_VOLUME_RECORDS', 1000000))
PARTITIONS = int(os.environ.get('PB_VOLUME_PARTITIONS', 32))
TOPIC = 'volume'
# The changelog of the table the table tests write, with as many partitions
# as the topic: the mock broker has no Admin API to create it.
CHANGELOG = 'volume-table-changelog'
RUN_TIMEOUT = 600
BAD_LINE = re.compile(r'CRITICAL|WARNING|ERROR|Attempting to run a JS callback')


class Broker:
    """`paperboy mock-broker` with the backlog."""

    def __init__(self):
        self.process = subprocess.Popen([TOOL, 'mock-broker', '--topic', '%s:%d' % (TOPIC, PARTITIONS),
                                         '--topic', '%s:%d' % (CHANGELOG, PARTITIONS)],
                                        stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.process.stdout.readline().strip()
        if not self.bootstrap:
            raise RuntimeError('paperboy mock-broker did not start')
        self.produce()

    def produce(self):
        producer = Producer({'bootstrap.servers': self.bootstrap, 'linger.ms': 50,
                             'queue.buffering.max.messages': 2000000, 'log_level': 3})
        value = b'v' * 100
        for i in range(RECORDS):
            while True:
                try:
                    producer.produce(TOPIC, value, b'k%d' % i, partition=i % PARTITIONS)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 10000 == 0:
                producer.poll(0)
        if producer.flush(120) != 0:
            raise RuntimeError('could not produce the backlog')
        self.ends = self.offsets()
        # The mock keeps about 5 MiB a partition: nothing may be dropped.
        assert sum(self.ends.values()) == RECORDS, self.ends

    def offsets(self, group=None):
        consumer = Consumer({'bootstrap.servers': self.bootstrap,
                             'group.id': group or 'volume-probe', 'log_level': 3})
        try:
            partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
            if group is None:
                return {p.partition: consumer.get_watermark_offsets(p, timeout=30)[1]
                        for p in partitions}
            return {p.partition: p.offset for p in consumer.committed(partitions, timeout=30)}
        finally:
            consumer.close()

    def stop(self):
        self.process.terminate()
        self.process.wait(30)


def consumer_command(language, broker, group, keep_every=0):
    args = [broker.bootstrap, group, TOPIC, str(RECORDS)]
    if language == 'c':
        return [C_CONSUMER] + args
    if language == 'python':
        return [PYTHON, os.path.join(HERE, 'count.py')] + args
    return [GJS, '-m', os.path.join(HERE, 'count.js')] + args + ([str(keep_every)] if keep_every else [])


def run_consumer(command, bulk=False, env=None):
    """Runs a consumer to its end; returns its JSON line, its other output,
    its peak RSS in kB and its CPU time in seconds. With @bulk, in Bulk mode;
    @env adds to the environment."""
    env = dict(os.environ, **(env or {}))
    if bulk:
        env['PB_VOLUME_BULK'] = '1'
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    output = {'stdout': [], 'stderr': []}
    readers = [threading.Thread(target=lambda s=stream, k=key: output[k].extend(s), daemon=True)
               for key, stream in (('stdout', process.stdout), ('stderr', process.stderr))]
    for reader in readers:
        reader.start()

    peak, cpu = 0, 0.0
    tick = os.sysconf('SC_CLK_TCK')
    deadline = time.monotonic() + RUN_TIMEOUT
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            for reader in readers:
                reader.join(10)
            raise AssertionError('%s did not finish within %d s; the end of its output:\n%s'
                                 % (command[0], RUN_TIMEOUT,
                                    ''.join((output['stdout'] + output['stderr'])[-30:])))
        try:
            with open('/proc/%d/status' % process.pid) as f:
                peak = max(peak, int(f.read().split('VmRSS:')[1].split()[0]))
            with open('/proc/%d/stat' % process.pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.2)
    for reader in readers:
        reader.join(10)

    results = [json.loads(line) for line in output['stdout'] if line.startswith('{')]
    other = [line.rstrip() for line in output['stdout'] + output['stderr'] if not line.startswith('{')]
    if process.returncode != 0 or not results:
        raise AssertionError('%s exited with %s:\n%s' % (command[0], process.returncode, '\n'.join(other)))
    return results[0], other, peak, cpu


broker = None


def setUpModule():
    global broker
    broker = Broker()


def tearDownModule():
    if broker is not None:
        broker.stop()


class JavaScriptVolumeTests(unittest.TestCase):
    def check(self, keep_every):
        group = 'volume-%s' % uuid.uuid4().hex
        result, lines, peak, cpu = run_consumer(consumer_command('javascript', broker, group, keep_every))

        self.assertTrue(result['ok'])
        self.assertEqual(result['handled'], RECORDS)
        self.assertEqual((result['duplicates'], result['gaps'], result['failures']), (0, 0, 0))
        self.assertEqual({int(p): n for p, n in result['next'].items()}, broker.ends)
        self.assertEqual([line for line in lines if BAD_LINE.search(line)], [])
        self.assertEqual(broker.offsets(group), broker.ends)

    def test_counting_handler(self):
        """Every record handled exactly once, nothing logged, committed
        offsets at the ends."""
        self.check(0)

    def test_handler_keeping_messages(self):
        """The same with a handler that keeps every hundredth message in an
        array it empties every 10,000 records."""
        self.check(100)


class BulkVolumeTests(unittest.TestCase):
    """A bulk handler in Bulk mode, in every language."""

    def check(self, language):
        group = 'volume-bulk-%s' % uuid.uuid4().hex
        result, lines, peak, cpu = run_consumer(consumer_command(language, broker, group), bulk=True)

        self.assertTrue(result['ok'])
        self.assertEqual(result['handled'], RECORDS)
        self.assertEqual((result['duplicates'], result['gaps'], result['failures']), (0, 0, 0))
        self.assertEqual({int(p): n for p, n in result['next'].items()}, broker.ends)
        self.assertEqual([line for line in lines if BAD_LINE.search(line)], [])
        self.assertEqual(broker.offsets(group), broker.ends)

    def test_c(self):
        self.check('c')

    def test_python(self):
        self.check('python')

    def test_javascript(self):
        self.check('javascript')


class TableVolumeTests(unittest.TestCase):
    """A handler that sets a key of a table for each record, in every
    language: every record handled once and committed only after its
    changelog record was delivered. Each run first restores what the runs
    before it wrote."""

    def check(self, language, store):
        group = 'volume-table-%s' % uuid.uuid4().hex
        with tempfile.TemporaryDirectory() as state_dir:
            env = {'PB_VOLUME_TABLE': store, 'PB_VOLUME_STATE_DIR': state_dir}
            result, lines, peak, cpu = run_consumer(consumer_command(language, broker, group),
                                                    env=env)

        self.assertTrue(result['ok'])
        self.assertEqual(result['handled'], RECORDS)
        self.assertEqual((result['duplicates'], result['gaps'], result['failures']), (0, 0, 0))
        self.assertEqual({int(p): n for p, n in result['next'].items()}, broker.ends)
        self.assertEqual([line for line in lines if BAD_LINE.search(line)], [])
        self.assertEqual(broker.offsets(group), broker.ends)

    def test_c(self):
        self.check('c', 'rocksdb://')

    def test_python(self):
        self.check('python', 'memory://')

    def test_javascript(self):
        self.check('javascript', 'memory://')


def rates(result):
    """The rates of the first and the last tenth of the records: over the
    whole tenth, and the median of its blocks of `tick` records, which a
    pause of the fetcher does not move (librdkafka before 2.3 stops
    fetching for about a second whenever its queue holds
    queued.min.messages); and how many blocks went at a quarter of the
    median or less."""
    tick, ticks = result['tick'], result['ticks']
    blocks = [tick / ((b - a) / 1e6) for a, b in zip(ticks, ticks[1:])]
    n = len(blocks) // 10
    median = statistics.median(blocks)

    def tenth(part):
        return (len(part) * tick / (sum(tick / r for r in part)), statistics.median(part))
    return tenth(blocks[:n]), tenth(blocks[-n:]), sum(1 for r in blocks if r < median / 4)


def report(languages):
    global broker
    broker = Broker()
    try:
        print('%d records of 100 B on %d partitions, broker in its own process; rates in '
              'records a second, whole tenth and median of 10,000-record blocks'
              % (RECORDS, PARTITIONS))
        print('%-15s %19s %19s %11s %7s %9s %11s' % (
            'handler', 'first 10 %', 'last 10 %', 'last/first', 'pauses', 'peak RSS',
            'CPU µs/rec'))
        for language in languages:
            group = 'volume-%s' % uuid.uuid4().hex
            bulk = language.endswith('-bulk')
            command = consumer_command(language[:-len('-bulk')] if bulk else language, broker, group)
            result, lines, peak, cpu = run_consumer(command, bulk=bulk)
            (first, first_median), (last, last_median), pauses = rates(result)
            bad = sum(1 for line in lines if BAD_LINE.search(line))
            print('%-15s %9.0f %9.0f %9.0f %9.0f %10.0f %% %7d %6.0f MB %11.2f%s' % (
                language, first, first_median, last, last_median,
                100 * last_median / first_median, pauses, peak / 1024, cpu * 1e6 / RECORDS,
                '' if result['handled'] == RECORDS and bad == 0 else '  (!) %d handled, %d bad lines'
                % (result['handled'], bad)))
    finally:
        broker.stop()


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'report':
        report(sys.argv[2:] or ['c', 'python', 'javascript', 'c-bulk', 'python-bulk',
                                'javascript-bulk'])
    else:
        unittest.main(verbosity=2)
