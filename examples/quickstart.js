// quickstart.js: one handler for one topic (run with gjs -m)
//
// Copyright 2026 The Paperboy authors
//
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Runs on the embedded mock:// cluster unless PAPERBOY_BOOTSTRAP_SERVERS
// names real brokers; stop it with Ctrl-C.

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import Paperboy from 'gi://Paperboy?version=1';

const decoder = new TextDecoder();
const text = bytes => bytes === null ? '(null)' : decoder.decode(bytes.toArray());
const encode = string => new GLib.Bytes(new TextEncoder().encode(string));

const ExampleTopicHandler = GObject.registerClass(
class ExampleTopicHandler extends Paperboy.Handler {
    vfunc_on_message(msg, ctx) {
        print(`Received message: [${text(msg.get_key())}] ${text(msg.get_value())}`);
        return true;
    }
});

const engine = new Paperboy.Engine({
    bootstrap_servers: GLib.getenv('PAPERBOY_BOOTSTRAP_SERVERS') ?? 'mock://',
    group_id: 'example-group',
    fail_on_exception: true,
    handle_signals: true,
});
engine.add_handler(new ExampleTopicHandler({topic: 'example-topic'}));

// On the embedded cluster, give the handler something to read.
const cluster = engine.get_mock_cluster();
for (let i = 0; cluster !== null && i < 3; i++)
    cluster.produce('example-topic', -1, encode(`key-${i}`), encode(`hello ${i}`), null);

engine.run(null);
