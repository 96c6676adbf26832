# pbtest.py: what the Python test suites share
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import itertools
import os
import time
import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, GObject, Gio, Paperboy  # noqa: E402

CLUSTER = Paperboy.MockCluster.new(1)
_names = itertools.count()


def unique(prefix):
    return '%s-%d-%d' % (prefix, os.getpid(), next(_names))


def make_engine(group, **props):
    engine = Paperboy.Engine(mock_cluster=CLUSTER, group_id=group,
                             commit_interval_ms=200, **props)
    for key, value in (('session.timeout.ms', '6000'),
                       ('heartbeat.interval.ms', '500'),
                       ('fetch.wait.max.ms', '10')):
        engine.set_config(key, value)
    return engine


def iterate_until(condition, timeout=30):
    context = GLib.MainContext.default()
    wake = GLib.timeout_add(20, lambda: True)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError('timed out after %d s' % timeout)
            context.iteration(True)
    finally:
        GLib.source_remove(wake)


def run_until(engine, condition=None, timeout=30, cancellable=None):
    """Runs the engine until condition() holds (or it stops by itself),
    stops it, and returns the run's result (raising its error)."""
    result = []
    engine.run_async(cancellable, lambda source, res: result.append(res))

    def done():
        if not result and condition is not None and condition():
            engine.stop()
        return bool(result)

    iterate_until(done, timeout)
    return engine.run_finish(result[0])


def produce_many(topic, partition, n, prefix='v'):
    return [CLUSTER.produce(topic, partition, 'k-%d' % i, '%s-%d' % (prefix, i))
            for i in range(n)]


class Recorder(Paperboy.Handler):
    """Overrides every synchronous vfunc and records the calls in order."""

    __gtype_name__ = 'PyRecorder'

    def __init__(self, topic):
        super().__init__(topic=topic)
        self.events = []
        self.contexts = []
        self.errors = []
        self.finished = []
        self.fail_at = None
        self.failure = ValueError('boom')
        self.replace_at = None
        self.skip_at = None
        self.action = Paperboy.ErrorAction.CONTINUE
        self.context_ok = True

    def _check(self, ctx):
        if not self.contexts or ctx is not self.contexts[-1]:
            self.context_ok = False

    def do_define_context(self):
        ctx = GObject.Object()
        self.contexts.append(ctx)
        self.events.append('define_context')
        return ctx

    def do_did_receive_message(self, msg, ctx):
        self._check(ctx)
        self.events.append('did_receive_message:%d' % msg.get_offset())
        if msg.get_offset() == self.skip_at:
            return None
        if msg.get_offset() == self.replace_at:
            return msg.with_value(GLib.Bytes.new(b'replaced'))
        return msg

    def do_on_message(self, msg, ctx):
        self._check(ctx)
        self.events.append('on_message:%d:%s' % (msg.get_offset(), msg.value.decode()))
        if msg.get_offset() == self.fail_at:
            raise self.failure

    def do_on_tombstone(self, msg, ctx):
        self._check(ctx)
        self.events.append('on_tombstone:%d' % msg.get_offset())

    def do_on_error(self, error, msg, ctx):
        self._check(ctx)
        self.events.append('on_error:%d' % msg.get_offset())
        self.errors.append(error)
        return self.action

    def do_on_finished_handling(self, msgs, ctx):
        self._check(ctx)
        self.events.extend('on_finished_handling:%d' % m.get_offset() for m in msgs)
        self.finished.extend(msgs)


class Counter(Paperboy.Handler):
    __gtype_name__ = 'PyCounter'

    def __init__(self, topic=None):
        super().__init__()
        if topic is not None:
            self.props.topic = topic
        self.records = []

    def do_on_message(self, msg, ctx):
        self.records.append((msg.get_partition(), msg.get_offset(), msg.value))


class Async(Paperboy.Handler):
    """Completes each record's task from a timeout, later records sooner."""

    __gtype_name__ = 'PyAsync'

    def __init__(self, topic):
        super().__init__(topic=topic)
        self.started = []
        self.done = []
        self.errors = []
        self.concurrent = 0
        self.max_concurrent = 0

    def do_handle(self, msg, ctx, task):
        record = (msg.get_partition(), msg.get_offset())
        self.started.append(record)
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)

        def complete():
            self.concurrent -= 1
            self.done.append(record)
            task.return_boolean(True)
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(20 - msg.get_offset() % 10, complete)
        return True

    def do_on_error(self, error, msg, ctx):
        self.errors.append(error)
        return Paperboy.ErrorAction.CONTINUE


class GioAsync(Paperboy.Handler):
    """Overrides the GIO pair handle_async()/handle_finish()."""

    __gtype_name__ = 'PyGioAsync'

    def __init__(self, topic):
        super().__init__(topic=topic)
        self.done = []
        self.errors = []

    def do_handle_async(self, msg, ctx, cancellable, callback, user_data):
        if msg.get_offset() == 1:
            raise RuntimeError('cannot even start')
        # The callback already carries its user data.
        task = Gio.Task.new(self, cancellable, callback)
        offset = msg.get_offset()

        def complete():
            self.done.append(offset)
            task.return_boolean(True)
            return GLib.SOURCE_REMOVE

        GLib.timeout_add(5, complete)

    def do_handle_finish(self, result):
        return result.propagate_boolean()

    def do_on_error(self, error, msg, ctx):
        self.errors.append(error)
        return Paperboy.ErrorAction.CONTINUE


TYPED_TOPIC = unique('py-typed')


class Typed(Paperboy.Handler):
    """Registered by type: created by the engine with no arguments, it
    declares its topic as a class attribute, as in kafka-paperboy."""

    __gtype_name__ = 'PyTyped'
    topic = TYPED_TOPIC
    handled = []

    def do_on_message(self, msg, ctx):
        Typed.handled.append(msg.get_offset())


class TestCase(unittest.TestCase):
    def setUp(self):
        self.topic = unique('py-topic')
        self.group = unique('py-group')

    def committed(self, partition=0, group=None):
        return CLUSTER.get_committed_offset(group or self.group, self.topic, partition)
