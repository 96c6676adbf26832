#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Copyright 2026 The Paperboy authors

"""views.c in Python: a member of a group that counts page views by key
into a partitioned rocksdb:// table "views".

Usage: views.py BOOTSTRAP GROUP TOPIC STATE_DIR [KEY=VALUE...]

PB_VIEWS_STORE_URI, PB_VIEWS_STANDBY_REPLICAS, PB_VIEWS_GUARANTEE and
PB_VIEWS_QUIET as for views.c.
"""

import os
import signal
import sys
import time

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, Paperboy  # noqa: E402


# With PB_VIEWS_QUIET, a line "handled=N" a second (for long runs).
QUIET = 'PB_VIEWS_QUIET' in os.environ


class Views(Paperboy.Handler):
    def __init__(self, topic, table):
        super().__init__(topic=topic)
        self.table = table
        self.handled = 0

    def do_on_message(self, msg, ctx):
        key = msg.key.decode()
        count = self.table.get_value(key, 0)
        # Before the count changes: a kill between the two leaves a line.
        if QUIET:
            self.handled += 1
        else:
            print('handled %d %d' % (msg.get_partition(), msg.get_offset()), flush=True)
        self.table.set(key, count + 1)


def main(bootstrap, group, topic, state_dir, *config):
    engine = Paperboy.Engine.new(bootstrap, group)
    engine.props.handle_signals = True
    engine.props.commit_interval_ms = 200
    engine.props.state_dir = state_dir
    if os.environ.get('PB_VIEWS_GUARANTEE') == 'exact-state':
        engine.props.processing_guarantee = Paperboy.ProcessingGuarantee.EXACT_STATE
    for pair in config:
        engine.set_config(*pair.split('=', 1))
    table = Paperboy.Table.new('views', os.environ.get('PB_VIEWS_STORE_URI', 'rocksdb://'))
    table.props.standby_replicas = int(os.environ.get('PB_VIEWS_STANDBY_REPLICAS', '0'))
    engine.register_table(table)
    views = Views(topic, table)
    engine.add_handler(views)
    if QUIET:
        GLib.timeout_add_seconds(1, lambda: print('handled=%d' % views.handled, flush=True) or True)

    assigned = [0.0]

    def on_assigned(engine, parts):
        assigned[0] = time.monotonic()
        partitions('assigned')(engine, parts)

    def partitions(what):
        return lambda engine, parts, *lost: print('\n'.join(
            '%s %s %d' % ('revoked-lost' if lost and lost[0] else what, t, p) for t, p in parts),
            flush=True)

    engine.connect('partitions-assigned', on_assigned)
    engine.connect('partitions-revoked', partitions('revoked'))
    table.connect('restored', lambda t: print(
        ' '.join(['restored', '%d' % (1000 * (time.monotonic() - assigned[0]))] +
                 [str(p) for p in t.get_partitions()]), flush=True))

    def dump():
        def line(key, value):
            print('shard %d %s %d' % (table.get_partition_for_key(key), key, value.unpack()))
            return True
        print(' '.join(['holds'] + [str(p) for p in table.get_partitions()]))
        table.foreach(line)
        print('dumped', flush=True)
        return GLib.SOURCE_CONTINUE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, dump)
    print('ready', flush=True)
    engine.run()
    print('stopped', flush=True)


if __name__ == '__main__':
    if len(sys.argv) < 5:
        sys.exit('Usage: views.py BOOTSTRAP GROUP TOPIC STATE_DIR [KEY=VALUE...]')
    try:
        main(*sys.argv[1:])
    except GLib.Error as error:
        print(error.message, file=sys.stderr)
        sys.exit(1)
