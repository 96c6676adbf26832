#!/usr/bin/python3
# pageviews.py: a table counts page views
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Table quick start: each record of page-views, keyed by page, adds
# one to that page's count in the metrics table, and a tombstone forgets
# the page. Runs on the embedded mock:// cluster, which it fills with a few
# page views, unless --bootstrap-servers or PAPERBOY_BOOTSTRAP_SERVERS
# names real brokers; it stops after --records records (by default all the
# ones it produced, or never on real brokers), or with Ctrl-C.

import argparse
import os

import gi
gi.require_version('Paperboy', '1')
from gi.repository import Paperboy  # noqa: E402

PAGE_VIEWS = ['home', 'about', 'home', 'pricing', 'home', 'about', 'pricing']
GONE = ['pricing']

parser = argparse.ArgumentParser(description='Counts page views in a table.')
parser.add_argument('--bootstrap-servers',
                    default=os.environ.get('PAPERBOY_BOOTSTRAP_SERVERS', 'mock://'))
parser.add_argument('--records', type=int, default=None,
                    help='stop after this many records (0: never)')
args = parser.parse_args()

metrics_table = Paperboy.Table.new('metrics', 'memory://')


class PageViewHandler(Paperboy.Handler):
    __gtype_name__ = 'PageViewHandler'
    topic = 'page-views'
    handled = 0

    def do_on_message(self, msg, ctx):
        page = msg.key.decode()
        metrics_table.set(page, metrics_table.get_value(page, 0) + 1)
        self.count_one()

    def do_on_tombstone(self, msg, ctx):
        metrics_table.delete(msg.key.decode())
        self.count_one()

    def count_one(self):
        PageViewHandler.handled += 1
        if PageViewHandler.handled == args.records:
            engine.stop()


def on_changed(table, page, old_value, new_value):
    if new_value is None:
        print(f'{page}: forgotten', flush=True)
    else:
        views = new_value.unpack()
        print(f'{page}: {views} view{"" if views == 1 else "s"}', flush=True)


metrics_table.connect('changed', on_changed)

engine = Paperboy.Engine(
    bootstrap_servers=args.bootstrap_servers,
    group_id='example-group',
    fail_on_exception=True,
    handle_signals=True,
)
engine.add_handler_type(PageViewHandler)
engine.register_table(metrics_table)

# On the embedded cluster, give the handler something to count.
cluster = engine.get_mock_cluster()
if cluster is not None:
    for page in PAGE_VIEWS:
        cluster.produce('page-views', key=page, value='{"user": "someone"}')
    for page in GONE:
        cluster.produce('page-views', key=page, value=None)
    if args.records is None:
        args.records = len(PAGE_VIEWS) + len(GONE)

engine.run(None)

totals = []
metrics_table.foreach(lambda page, views: totals.append(f'{page}={views.unpack()}') or True)
print('Page views:', ' '.join(sorted(totals)), flush=True)
