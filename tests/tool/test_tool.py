#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Copyright 2026 The Paperboy authors

"""Tests of the `paperboy` command-line tool.

Usage: test_tool.py PATH-TO-PAPERBOY [unittest arguments]
(or set PAPERBOY_TOOL). `paperboy mock-broker` runs as a child process and
independent Kafka clients (kcat, confluent-kafka-python) talk to it over
loopback TCP.
"""

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

TOOL = os.environ.get('PAPERBOY_TOOL')
EXPECTED_VERSION = os.environ.get('PAPERBOY_EXPECTED_VERSION')
KCAT = shutil.which('kcat')

# Upper bound, in seconds, for anything a child process or a client does.
TIMEOUT = 30

# Client settings that keep the mock cluster fast and nothing hanging.
CLIENT_CONF = {
    'socket.timeout.ms': 10000,
    'socket.connection.setup.timeout.ms': 10000,
    'reconnect.backoff.max.ms': 1000,
}
PRODUCER_CONF = {
    **CLIENT_CONF,
    'linger.ms': 0,
    'message.timeout.ms': 10000,
}
CONSUMER_CONF = {
    **CLIENT_CONF,
    'auto.offset.reset': 'earliest',
    'session.timeout.ms': 6000,
    'heartbeat.interval.ms': 500,
    'fetch.wait.max.ms': 10,
    'enable.partition.eof': True,
}


def tool_env():
    env = dict(os.environ)
    # Messages are checked in English.
    env['LC_ALL'] = 'C.UTF-8'
    env.pop('LANGUAGE', None)
    return env


def run_tool(*args):
    return subprocess.run([TOOL, *args], env=tool_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT)


class MockBroker:
    """A running `paperboy mock-broker`, with the address it printed."""

    def __init__(self, *args):
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen([TOOL, 'mock-broker', *args],
                                        env=tool_env(),
                                        stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE,
                                        stderr=self.stderr)
        try:
            self.bootstrap_servers = self._read_first_line()
        except BaseException:
            self.close()
            raise

    def _read_first_line(self):
        """Reads the first line as it arrives, while the child keeps running:
        it must have flushed it."""
        fd = self.process.stdout.fileno()
        data = b''
        deadline = time.monotonic() + TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b'\n' not in data:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError('mock-broker printed no line in %d s' % TIMEOUT)
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError('mock-broker exited with status %s before printing '
                                         'its address; stderr:\n%s'
                                         % (self.process.wait(TIMEOUT), self.read_stderr()))
                data += chunk
        return data.split(b'\n', 1)[0].decode('ascii')

    def read_stderr(self):
        self.stderr.seek(0)
        return self.stderr.read().decode('utf-8', 'replace')

    def stop(self, signum=signal.SIGTERM):
        """Sends @signum and returns the exit status."""
        self.process.send_signal(signum)
        return self.process.wait(TIMEOUT)

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self.process.stdout.close()
        self.stderr.close()


def check_address(testcase, address):
    host, _, port = address.rpartition(':')
    testcase.assertTrue(host, address)
    testcase.assertTrue(port.isdigit() and 0 < int(port) < 65536, address)
    # Something listens there.
    with socket.create_connection((host, int(port)), timeout=TIMEOUT):
        pass


class BrokerTestCase(unittest.TestCase):
    """Runs `paperboy mock-broker --topic t1:3` around each test."""

    broker_args = ('--topic', 't1:3')

    def setUp(self):
        self.broker = MockBroker(*self.broker_args)
        self.addCleanup(self.broker.close)
        self.bootstrap_servers = self.broker.bootstrap_servers

    def tearDown(self):
        if self.broker.process.poll() is None:
            self.assertEqual(self.broker.stop(), 0)
        stderr = self.broker.read_stderr()
        self.assertNotIn('CRITICAL', stderr)
        self.assertNotIn('ERROR', stderr)

    def kcat(self, *args, input=None):
        result = subprocess.run([KCAT, '-b', self.bootstrap_servers, *args],
                                input=input, capture_output=True, text=True,
                                timeout=TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def producer(self, **conf):
        return Producer({'bootstrap.servers': self.bootstrap_servers, **PRODUCER_CONF, **conf})

    def produce(self, topic, records):
        """Produces (key, value) string pairs and waits for their delivery."""
        producer = self.producer()
        errors = []

        def on_delivery(error, message):
            if error is not None:
                errors.append(error)

        for key, value in records:
            producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        self.assertEqual(producer.flush(TIMEOUT), 0, 'records left undelivered')
        self.assertEqual(errors, [])

    def consume_group(self, topic, group_id, n_records):
        """Reads @n_records records of @topic in consumer group @group_id, commits
        them, and returns them as (partition, key, value) tuples with the committed
        offsets."""
        consumer = Consumer({'bootstrap.servers': self.bootstrap_servers,
                             'group.id': group_id,
                             'enable.auto.commit': False,
                             **CONSUMER_CONF})
        try:
            consumer.subscribe([topic])
            records = []
            deadline = time.monotonic() + TIMEOUT
            while len(records) < n_records and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error() is not None:
                    self.assertEqual(message.error().code(), KafkaError._PARTITION_EOF,
                                     message.error())
                    continue
                records.append((message.partition(),
                                message.key().decode(), message.value().decode()))
            self.assertEqual(len(records), n_records, 'timed out reading the records')
            self.assertEqual(sorted(tp.partition for tp in consumer.assignment()), [0, 1, 2])

            consumer.commit(asynchronous=False)
            committed = consumer.committed([TopicPartition(topic, p) for p in range(3)],
                                           timeout=TIMEOUT)
            return records, {tp.partition: tp.offset for tp in committed}
        finally:
            consumer.close()


class TestKcat(BrokerTestCase):

    @unittest.skipIf(KCAT is None, 'kcat is not installed')
    def test_produce_consume(self):
        records = ['k%d:value %d' % (i, i) for i in range(30)]
        self.kcat('-P', '-t', 't1', '-K:', '-X', 'message.timeout.ms=10000',
                  input=''.join(r + '\n' for r in records))

        output = self.kcat('-C', '-t', 't1', '-e', '-o', 'beginning', '-q',
                           '-f', '%p %k:%s\n')
        consumed = [line.split(' ', 1) for line in output.splitlines()]
        self.assertEqual(sorted(record for _, record in consumed), sorted(records))
        partitions = {int(p) for p, _ in consumed}
        self.assertLessEqual(partitions, {0, 1, 2})
        self.assertGreater(len(partitions), 1, 'keys should spread over partitions')

    @unittest.skipIf(KCAT is None, 'kcat is not installed')
    def test_metadata(self):
        metadata = json.loads(self.kcat('-L', '-J', '-t', 't1'))
        topics = {t['topic']: t for t in metadata['topics']}
        self.assertEqual(len(topics['t1']['partitions']), 3)
        self.assertEqual(len(metadata['brokers']), 1)

    @unittest.skipIf(KCAT is None, 'kcat is not installed')
    def test_kcat_to_confluent(self):
        self.kcat('-P', '-t', 't1', '-K:', '-X', 'message.timeout.ms=10000',
                  input='a:1\nb:2\nc:3\n')
        records, _ = self.consume_group('t1', 'kcat-' + uuid.uuid4().hex, 3)
        self.assertEqual(sorted((k, v) for _, k, v in records),
                         [('a', '1'), ('b', '2'), ('c', '3')])


class TestConfluent(BrokerTestCase):

    def test_produce_consume_group(self):
        expected = [('key-%d' % i, 'value %d' % i) for i in range(100)]
        self.produce('t1', expected)

        records, committed = self.consume_group('t1', 'group-' + uuid.uuid4().hex,
                                                len(expected))
        self.assertEqual(sorted((k, v) for _, k, v in records), sorted(expected))
        # The committed offset of each partition is the count of its records.
        counts = {}
        for partition, _, _ in records:
            counts[partition] = counts.get(partition, 0) + 1
        self.assertGreater(len(counts), 1, 'keys should spread over partitions')
        self.assertEqual({p: o for p, o in committed.items() if o >= 0}, counts)

    def test_metadata(self):
        producer = self.producer()
        metadata = producer.list_topics('t1', timeout=TIMEOUT)
        self.assertIsNone(metadata.topics['t1'].error)
        self.assertEqual(sorted(metadata.topics['t1'].partitions), [0, 1, 2])
        self.assertEqual(len(metadata.brokers), 1)

    def test_sigterm_with_connected_client(self):
        # Quiet: the producer complains when the broker goes away.
        producer = self.producer(log_level=0)
        producer.produce('t1', value=b'x')
        self.assertEqual(producer.flush(TIMEOUT), 0)

        self.assertEqual(self.broker.stop(signal.SIGTERM), 0)
        del producer


class TestBrokers(BrokerTestCase):

    broker_args = ('--brokers', '3', '--topic', 'a:1', '--topic', 'b.c_d-e:5')

    def test_three_brokers(self):
        addresses = self.bootstrap_servers.split(',')
        self.assertEqual(len(addresses), 3)
        self.assertEqual(len(set(addresses)), 3)
        for address in addresses:
            check_address(self, address)

        metadata = self.producer().list_topics(timeout=TIMEOUT)
        self.assertEqual(sorted(metadata.brokers), [1, 2, 3])
        self.assertEqual(len(metadata.topics['a'].partitions), 1)
        self.assertEqual(len(metadata.topics['b.c_d-e'].partitions), 5)


class TestSignals(unittest.TestCase):

    def check_signal(self, signum, *args):
        broker = MockBroker(*args)
        self.addCleanup(broker.close)
        for address in broker.bootstrap_servers.split(','):
            check_address(self, address)
        self.assertEqual(broker.stop(signum), 0)
        self.assertEqual(broker.process.stdout.read(), b'', 'only one line on stdout')
        self.assertNotIn('CRITICAL', broker.read_stderr())

    def test_sigterm(self):
        self.check_signal(signal.SIGTERM)

    def test_sigint(self):
        self.check_signal(signal.SIGINT, '--brokers', '2', '--topic', 't1:3')

    def test_signal_right_away(self):
        # A signal sent as soon as the address is read is not lost.
        broker = MockBroker('-t', 't1:3')
        self.addCleanup(broker.close)
        self.assertEqual(broker.stop(signal.SIGTERM), 0)


class TestCommandLine(unittest.TestCase):

    def check_usage_error(self, args, message):
        result = run_tool(*args)
        self.assertEqual(result.returncode, 1, result)
        self.assertEqual(result.stdout, '')
        self.assertIn(message, result.stderr)
        self.assertIn('Usage:', result.stderr)

    def test_bad_arguments(self):
        cases = [
            ([], 'No command given'),
            (['--bogus'], 'Unknown option --bogus'),
            (['bogus'], 'Unknown command “bogus”'),
            (['help', 'bogus'], 'Unknown command “bogus”'),
            (['help', 'mock-broker', 'extra'], 'Too many arguments'),
            (['mock-broker', '--bogus'], 'Unknown option --bogus'),
            (['mock-broker', 'extra'], 'Unexpected argument “extra”'),
            (['mock-broker', '--brokers', '0'], 'Invalid number of brokers 0'),
            (['mock-broker', '--brokers', '-3'], 'Invalid number of brokers -3'),
            (['mock-broker', '--brokers', '65'], 'Invalid number of brokers 65'),
            (['mock-broker', '--brokers', 'two'], '“two”'),
            (['mock-broker', '--brokers'], 'Missing argument for --brokers'),
            (['mock-broker', '--topic', 't1'], 'Invalid topic “t1”: expected NAME:PARTITIONS'),
            (['mock-broker', '--topic', 't1:'], 'Invalid number of partitions “”'),
            (['mock-broker', '--topic', 't1:0'], 'Invalid number of partitions “0”'),
            (['mock-broker', '--topic', 't1:-1'], 'Invalid number of partitions “-1”'),
            (['mock-broker', '--topic', 't1:x'], 'Invalid number of partitions “x”'),
            (['mock-broker', '--topic', 't1:3x'], 'Invalid number of partitions “3x”'),
            (['mock-broker', '--topic', ':3'], 'Invalid topic name “”'),
            (['mock-broker', '--topic', 'a b:3'], 'Invalid topic name “a b”'),
            (['mock-broker', '--topic', '..:3'], 'Invalid topic name “..”'),
            (['mock-broker', '--topic', 'x' * 250 + ':3'], 'Invalid topic name'),
            (['mock-broker', '-t', 't1:3', '-t', 't1:4'], 'Topic “t1” is given more than once'),
            (['--version', 'mock-broker'], '--version takes no command'),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                self.check_usage_error(args, message)

    def test_version(self):
        result = run_tool('--version')
        self.assertEqual(result.returncode, 0, result)
        self.assertEqual(result.stderr, '')
        self.assertRegex(result.stdout, r'\Apaperboy \d+\.\d+\.\d+\n\Z')
        if EXPECTED_VERSION:
            self.assertEqual(result.stdout, 'paperboy %s\n' % EXPECTED_VERSION)

    def test_help(self):
        for args in (['--help'], ['-h'], ['help']):
            with self.subTest(args=args):
                result = run_tool(*args)
                self.assertEqual(result.returncode, 0, result)
                self.assertEqual(result.stderr, '')
                self.assertIn('Usage:\n  paperboy [OPTION…] COMMAND', result.stdout)
                self.assertRegex(result.stdout, r'(?m)^  help +\S')
                self.assertRegex(result.stdout, r'(?m)^  mock-broker +\S')
                self.assertIn('--version', result.stdout)

    def test_command_help(self):
        outputs = []
        for args in (['mock-broker', '--help'], ['help', 'mock-broker']):
            with self.subTest(args=args):
                result = run_tool(*args)
                self.assertEqual(result.returncode, 0, result)
                self.assertEqual(result.stderr, '')
                self.assertIn('Usage:\n  paperboy mock-broker [OPTION…]', result.stdout)
                self.assertIn('--brokers=N', result.stdout)
                self.assertIn('--topic=NAME:PARTITIONS', result.stdout)
                self.assertIn('SIGTERM', result.stdout)
                outputs.append(result.stdout)
        self.assertEqual(outputs[0], outputs[1])

    def test_help_help(self):
        result = run_tool('help', '--help')
        self.assertEqual(result.returncode, 0, result)
        self.assertIn('paperboy help [OPTION…] [COMMAND]', result.stdout)


def main():
    global TOOL

    if len(sys.argv) > 1 and os.sep in sys.argv[1]:
        TOOL = sys.argv.pop(1)
    if not TOOL:
        sys.exit('usage: %s PATH-TO-PAPERBOY [unittest arguments]' % sys.argv[0])
    if not os.access(TOOL, os.X_OK):
        sys.exit('%s: not an executable' % TOOL)

    unittest.main(verbosity=2)


if __name__ == '__main__':
    main()
