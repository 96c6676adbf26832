#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A PbEngine (default mode) with a no-op Python handler: the Python
# counterpart of `pb-bench engine`. Run by bench/consume-bench with
# GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at the build's paperboy/.
#
#   bench_python.py --bootstrap B --group G [--topic T] [--count N] [-X key=value]...
#
# Prints one line "RESULT {json}" like pb-bench's consumer modes.

import argparse
import json
import os
import sys
import time

import gi

gi.require_version('Paperboy', '1')
from gi.repository import GLib, Paperboy  # noqa: E402

STALL_TIMEOUT_S = int(os.environ.get('PB_BENCH_STALL_TIMEOUT', 30))


class BenchHandler(Paperboy.Handler):
    def __init__(self, topic, target):
        super().__init__(topic=topic)
        self.target = target
        self.count = 0
        self.t_first = 0.0
        self.t_last = 0.0
        self.cpu_first = 0.0
        self.cpu_last = 0.0
        self.engine = None

    def do_on_message(self, message, context):
        self.count += 1
        if self.count == 1:
            self.t_first = time.monotonic()
            self.cpu_first = time.thread_time()
        if self.count == self.target:
            self.t_last = time.monotonic()
            self.cpu_last = time.thread_time()
            self.engine.stop()
        return True


class BenchBulkHandler(Paperboy.BulkHandler):
    """Reads every message's value, as a real handler would."""

    def __init__(self, topic, target):
        super().__init__(topic=topic)
        self.target = target
        self.count = 0
        self.size = 0
        self.t_first = 0.0
        self.t_last = 0.0
        self.cpu_first = 0.0
        self.cpu_last = 0.0
        self.engine = None

    def do_on_bulk(self, messages, context):
        if self.count == 0:
            self.t_first = time.monotonic()
            self.cpu_first = time.thread_time()
        for message in messages:
            self.size += len(message.value)
        self.count += len(messages)
        if self.count >= self.target and not self.t_last:
            self.t_last = time.monotonic()
            self.cpu_last = time.thread_time()
            self.engine.stop()
        return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--bootstrap', required=True)
    parser.add_argument('--group', required=True)
    parser.add_argument('--topic', default='bench')
    parser.add_argument('--count', type=int, default=1000000)
    parser.add_argument('-X', dest='config', action='append', default=[])
    parser.add_argument('--bulk', action='store_true',
                        help='Bulk mode, with a handler that reads every value')
    args = parser.parse_args()

    t_start = time.monotonic()

    engine = Paperboy.Engine.new(args.bootstrap, args.group)
    engine.set_auto_offset_reset('earliest')
    for entry in args.config:
        key, sep, value = entry.partition('=')
        if not sep:
            sys.exit(f'bad -X argument {entry!r}: expected key=value')
        engine.set_config(key, value)

    if args.bulk:
        engine.set_bulk_mode(True)
        handler = BenchBulkHandler(args.topic, args.count)
    else:
        handler = BenchHandler(args.topic, args.count)
    handler.engine = engine
    engine.add_handler(handler)

    stalled = False
    progress = {'count': -1, 'time': t_start}

    def watchdog():
        nonlocal stalled
        now = time.monotonic()
        if handler.count >= args.count:
            return GLib.SOURCE_REMOVE
        if handler.count != progress['count']:
            progress['count'] = handler.count
            progress['time'] = now
        elif now - progress['time'] > STALL_TIMEOUT_S:
            print(f'bench_python: engine stalled at {handler.count} records', file=sys.stderr)
            stalled = True
            engine.stop()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add_seconds(1, watchdog)

    engine.run(None)

    t_end = time.monotonic()

    ok = not stalled and handler.count >= args.count and handler.t_last > handler.t_first
    steady = handler.t_last - handler.t_first if ok else 0.0
    result = {
        'method': 'python-bulk' if args.bulk else 'python',
        'ok': ok,
        'count': handler.count,
        'errors': 0,
        'steady_s': steady,
        'rate': handler.count / steady if ok else 0.0,
        'join_s': handler.t_first - t_start if handler.count else 0.0,
        'wall_s': handler.t_last - t_start if ok else 0.0,
        'close_s': t_end - handler.t_last if ok else 0.0,
        'thread_cpu_s': handler.cpu_last - handler.cpu_first if ok else 0.0,
        # Whether Paperboy's PyGObject overrides wrapped do_on_message.
        'overrides': bool(getattr(type(handler).do_on_bulk if args.bulk else BenchHandler.do_on_message,
                                  '_paperboy_wrapped', False)),
    }
    print('RESULT ' + json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
