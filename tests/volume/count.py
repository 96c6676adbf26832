# count.py: a Python handler over a large backlog, for the volume suite
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""/usr/bin/python3 count.py BOOTSTRAP GROUP TOPIC TOTAL

Counts the records of TOPIC, checks that each partition's come once and
in order, and stops after TOTAL. Prints one line of JSON: what it saw,
and when it handled the first record and every 10,000th. PB_VOLUME_CONFIG may hold librdkafka
properties, as KEY=VALUE words; with PB_VOLUME_BULK set, the engine runs in Bulk mode and
the handler is a bulk handler."""

import json
import os
import sys

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, Paperboy  # noqa: E402

bootstrap, group, topic, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
state = {'handled': 0, 'duplicates': 0, 'gaps': 0, 'failures': 0}
next_offsets = {}
# When the first record, and every TICKth, was handled.
TICK = 10000
ticks = []
# A line on stderr every PROGRESSth record, which a test shows when the
# program does not finish.
PROGRESS = 100000


class Counter(Paperboy.BulkHandler):
    __gtype_name__ = 'PbVolumeCounter'

    def do_on_bulk(self, messages, context):
        for message in messages:
            self.do_on_message(message, context)

    def do_on_message(self, message, context):
        partition, offset = message.get_partition(), message.get_offset()
        expected = next_offsets.get(partition, 0)
        if offset < expected:
            state['duplicates'] += 1
        elif offset > expected:
            state['gaps'] += 1
        next_offsets[partition] = max(expected, offset + 1)
        if table is not None:
            table.set(bytes(message.get_key().get_data()).decode(), GLib.Variant('x', offset))

        state['handled'] += 1
        handled = state['handled']
        if handled == 1 or handled % TICK == 0:
            ticks.append(GLib.get_monotonic_time())
        if handled % PROGRESS == 0:
            print('progress', handled, file=sys.stderr, flush=True)
        if handled == total:
            engine.stop()

    def do_on_error(self, error, message, context):
        state['failures'] += 1
        print('on_error:', error.message, file=sys.stderr)
        return Paperboy.ErrorAction.STOP


engine = Paperboy.Engine(bootstrap_servers=bootstrap, group_id=group)
engine.set_config('fetch.wait.max.ms', '10')
for pair in os.environ.get('PB_VOLUME_CONFIG', '').split():
    engine.set_config(*pair.split('=', 1))
engine.set_bulk_mode('PB_VOLUME_BULK' in os.environ)
engine.add_handler(Counter(topic=topic))
# With PB_VOLUME_TABLE (a store URI), each record sets its key in a table.
table = None
if 'PB_VOLUME_TABLE' in os.environ:
    table = Paperboy.Table.new('volume-table', os.environ['PB_VOLUME_TABLE'])
    engine.props.state_dir = os.environ.get('PB_VOLUME_STATE_DIR')
    engine.register_table(table)
try:
    ok = engine.run(None)
except GLib.Error as error:
    print('run failed:', error.message, file=sys.stderr)
    ok = False

print(json.dumps(dict(language='python', ok=ok, next=next_offsets, tick=TICK, ticks=ticks,
                      **state)))
sys.exit(0 if ok else 1)
