#!/usr/bin/python3
# quickstart.py: one handler for one topic
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs on the embedded mock:// cluster unless PAPERBOY_BOOTSTRAP_SERVERS
# names real brokers; stop it with Ctrl-C.

import os

import gi
gi.require_version('Paperboy', '1')
from gi.repository import Paperboy  # noqa: E402


class ExampleTopicHandler(Paperboy.Handler):
    __gtype_name__ = 'ExampleTopicHandler'
    topic = 'example-topic'

    def do_on_message(self, msg, ctx):
        print(f'Received message: [{msg.key.decode()}] {msg.value.decode()}', flush=True)


engine = Paperboy.Engine(
    bootstrap_servers=os.environ.get('PAPERBOY_BOOTSTRAP_SERVERS', 'mock://'),
    group_id='example-group',
    fail_on_exception=True,
    handle_signals=True,
)
engine.add_handler_type(ExampleTopicHandler)

# On the embedded cluster, give the handler something to read.
cluster = engine.get_mock_cluster()
if cluster is not None:
    for i in range(3):
        cluster.produce('example-topic', key=f'key-{i}', value=f'hello {i}')

engine.run(None)
