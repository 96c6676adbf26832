# test_examples.py: the quick starts and the demo run and behave
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import textwrap
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


def without_licence(text, comment):
    """The file's text after its leading comment block (the licence)."""
    lines = text.split('\n')
    i = 0
    if comment == '/*':
        while not lines[i].rstrip().endswith('*/'):
            i += 1
        i += 1
    else:
        while i < len(lines) and (lines[i].startswith(comment) or lines[i].startswith('#!')):
            i += 1
    while lines[i] == '':
        i += 1
    return '\n'.join(lines[i:]).rstrip('\n') + '\n'


class ReadmeTests(unittest.TestCase):
    def test_quick_starts_are_the_examples(self):
        """The README's Quick Start shows the example files as they are."""
        with open(os.path.join(SOURCE_DIR, 'README.md')) as f:
            readme = f.read()
        quick_start = readme[readme.index('## Quick start'):readme.index('## Building')]
        blocks = re.findall(r'```(\w+)\n(.*?)```\n', quick_start, re.S)
        self.assertEqual([lang for lang, _ in blocks], ['c', 'python', 'js'])
        for (lang, code), (name, comment) in zip(blocks, [('quickstart.c', '/*'),
                                                          ('quickstart.py', '#'),
                                                          ('quickstart.js', '//')]):
            with open(os.path.join(SOURCE_DIR, 'examples', name)) as f:
                self.assertEqual(code, without_licence(f.read(), comment),
                                 '%s differs from its block in README.md' % name)


def run_quickstart(test, argv, env):
    # As the README says: without PAPERBOY_BOOTSTRAP_SERVERS, on an
    # embedded cluster.
    env = dict(env)
    env.pop('PAPERBOY_BOOTSTRAP_SERVERS', None)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        received = lambda lines: sum('Received message' in l for l in lines) >= 3
        lines = read_lines_until(proc, received)
        test.assertEqual(sorted(l for l in lines if 'Received message' in l),
                         ['Received message: [key-%d] hello %d' % (i, i) for i in range(3)])
        # Ctrl-C stops it gracefully (handle-signals).
        proc.send_signal(signal.SIGINT)
        test.assertEqual(proc.wait(timeout=30), 0, proc.stderr.read().decode())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


class QuickStartTests(unittest.TestCase):
    def check_quickstart(self, argv):
        run_quickstart(self, argv, os.environ)

    def test_c(self):
        self.check_quickstart([os.path.join(BUILD_DIR, 'examples', 'quickstart')])

    def test_python(self):
        self.check_quickstart(['/usr/bin/python3', os.path.join(SOURCE_DIR, 'examples', 'quickstart.py')])

    @unittest.skipUnless(os.path.exists('/usr/bin/gjs'), 'needs gjs')
    def test_javascript(self):
        self.check_quickstart(['gjs', '-m', os.path.join(SOURCE_DIR, 'examples', 'quickstart.js')])


class InstallTests(unittest.TestCase):
    """An install into a prefix of its own, found through the variables the
    README's Building section exports, and nothing else."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='paperboy-install-')
        self.addCleanup(shutil.rmtree, self.tmp)

    def readme_building(self):
        with open(os.path.join(SOURCE_DIR, 'README.md')) as f:
            readme = f.read()
        return readme[readme.index('## Building'):readme.index('## Tests')]

    def readme_exports(self):
        building = self.readme_building()
        block = [code for lang, code in re.findall(r'```(\w+)\n(.*?)```\n', building, re.S)
                 if 'export ' in code]
        self.assertEqual(len(block), 1, 'one block of exports in the README')
        return block[0]

    def test_prefix_install(self):
        prefix = os.path.join(self.tmp, 'prefix')
        build = os.path.join(self.tmp, 'build')
        env = {k: v for k, v in os.environ.items()
               if k not in ('GI_TYPELIB_PATH', 'LD_LIBRARY_PATH', 'PYTHONPATH', 'GJS_PATH',
                            'PKG_CONFIG_PATH', 'XDG_DATA_DIRS', 'PAPERBOY_BOOTSTRAP_SERVERS')}
        env['HOME'] = self.tmp
        # As the README says, with the library directory it gives.
        self.assertIn('meson setup build --prefix=$HOME/paperboy --libdir=lib',
                      ' '.join(self.readme_building().split()))
        subprocess.run(['meson', 'setup', build, SOURCE_DIR, '--prefix', prefix, '--libdir=lib',
                        '-Dtests=false', '-Dexamples=false', '-Ddocs=disabled',
                        '-Dvapi=disabled'], env=env, check=True, capture_output=True)
        subprocess.run(['meson', 'install', '-C', build, '--quiet'], env=env, check=True,
                       capture_output=True)

        # The README's block, with its prefix, then each check.
        exports = self.readme_exports().replace('P=$HOME/paperboy', 'P=' + prefix, 1)
        self.assertIn('P=' + prefix, exports)
        quickstart = os.path.join(self.tmp, 'quickstart')
        script = exports + textwrap.dedent("""
            set -e
            cc -o {out} {src} $(pkg-config --cflags --libs paperboy-1)
            /usr/bin/python3 -c 'import sys, gi; gi.require_version("Paperboy", "1")
            from gi.repository import Paperboy
            print("python:", sys.modules["gi.overrides.Paperboy"].__file__)'
            if command -v gjs >/dev/null; then
                gjs -c 'const {{Paperboy}} = imports.gi; print("gjs:", Object.hasOwn(Paperboy.Handler, "_classInit"))'
            fi
            """).format(out=quickstart, src=os.path.join(SOURCE_DIR, 'examples', 'quickstart.c'))
        done = subprocess.run(['bash', '-c', script], env=env, capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn('python: ' + prefix, done.stdout)
        if shutil.which('gjs'):
            self.assertIn('gjs: true', done.stdout)

        # The quick starts run from the prefix, with those variables only.
        variables = subprocess.run(['bash', '-c', exports + '\nenv -0'], env=env,
                                   capture_output=True, check=True).stdout
        installed = dict(item.split('=', 1) for item in variables.decode().split('\0') if '=' in item)
        programs = [[quickstart],
                    ['/usr/bin/python3', os.path.join(SOURCE_DIR, 'examples', 'quickstart.py')]]
        if shutil.which('gjs'):
            programs.append(['gjs', '-m', os.path.join(SOURCE_DIR, 'examples', 'quickstart.js')])
        for argv in programs:
            with self.subTest(program=argv[-1]):
                run_quickstart(self, argv, installed)


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
