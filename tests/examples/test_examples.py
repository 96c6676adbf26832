# test_examples.py: the quick starts and the demo run and behave
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import selectors
import signal
import subprocess
import sys
import time
import unittest

SOURCE_DIR = os.environ['PAPERBOY_SOURCE_DIR']
BUILD_DIR = os.environ['PAPERBOY_BUILD_DIR']


def read_lines_until(proc, predicate, timeout=30):
    """Reads proc's stdout until predicate(lines) holds; returns the lines."""
    lines = []
    buffer = b''
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while not predicate(lines):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError('timed out; output so far: %r' % lines)
        if not selector.select(remaining):
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise AssertionError('exited early (%s); output: %r' % (proc.poll(), lines))
        buffer += chunk
        *complete, buffer = buffer.split(b'\n')
        lines.extend(line.decode() for line in complete)
    return lines


class QuickStartTests(unittest.TestCase):
    def check_quickstart(self, argv):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, PAPERBOY_BOOTSTRAP_SERVERS='mock://'))
        try:
            received = lambda lines: sum('Received message' in l for l in lines) >= 3
            lines = read_lines_until(proc, received)
            self.assertEqual(sorted(l for l in lines if 'Received message' in l),
                             ['Received message: [key-%d] hello %d' % (i, i) for i in range(3)])
            # Ctrl-C stops it gracefully (handle-signals).
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(timeout=30), 0, proc.stderr.read().decode())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def test_c(self):
        self.check_quickstart([os.path.join(BUILD_DIR, 'examples', 'quickstart')])

    def test_python(self):
        self.check_quickstart(['/usr/bin/python3', os.path.join(SOURCE_DIR, 'examples', 'quickstart.py')])

    @unittest.skipUnless(os.path.exists('/usr/bin/gjs'), 'needs gjs')
    def test_javascript(self):
        self.check_quickstart(['gjs', '-m', os.path.join(SOURCE_DIR, 'examples', 'quickstart.js')])


class DemoTests(unittest.TestCase):
    def test_demo_runs_to_the_end(self):
        demo = os.path.join(BUILD_DIR, 'examples', 'paperboy-demo')
        if not os.path.exists(demo):
            self.skipTest('the demo needs json-glib')
        result = subprocess.run([demo], capture_output=True, timeout=120)
        output = result.stdout.decode()
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertIn('skipped by did_receive_message()', output)
        self.assertIn('(a tombstone)', output)
        self.assertIn("on_error() says CONTINUE", output)
        self.assertIn('All 12 records handled: 9 page views, 1 deletion, 1 skipped, 1 failed.',
                      output)
        # Every partition's committed offset is past its last record.
        committed = output.strip().splitlines()[-1]
        self.assertTrue(committed.startswith('Committed offsets:'), committed)
        total = sum(int(part.split('=')[1]) for part in committed.split()[2:])
        self.assertEqual(total, 12)


if __name__ == '__main__':
    unittest.main(verbosity=2)
