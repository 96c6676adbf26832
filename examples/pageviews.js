// pageviews.js: a table that counts page views (run with gjs -m)
//
// Copyright 2026 The Paperboy authors
//
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A handler of the "page-views" topic counts the views of each page (the
// record's key) in the table "metrics", kept in memory and in its changelog
// topic "metrics-changelog"; a tombstone resets a page's count. The engine
// restores the table from the changelog before the handler runs, so the
// counts survive a restart.
//
// Runs on the embedded mock:// cluster unless PAPERBOY_BOOTSTRAP_SERVERS
// names real brokers, and stops after N records (`gjs -m pageviews.js N`;
// by default as many as it produces on the embedded cluster).

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import System from 'system';
import Paperboy from 'gi://Paperboy?version=1';

const decoder = new TextDecoder();
const text = bytes => bytes === null ? '(null)' : decoder.decode(bytes.toArray());

const views = ['/home', '/about', '/home', '/blog', '/home', '/about'];
const maxRecords = Number(System.programArgs[0] ?? views.length + 1);

const engine = new Paperboy.Engine({
    bootstrap_servers: GLib.getenv('PAPERBOY_BOOTSTRAP_SERVERS') ?? 'mock://',
    group_id: 'pageviews-example',
    fail_on_exception: true,
    handle_signals: true,
});

const metrics = Paperboy.Table.new('metrics', 'memory://');
engine.register_table(metrics);

const PageViewHandler = GObject.registerClass(
class PageViewHandler extends Paperboy.Handler {
    _init(params) {
        super._init(params);
        this._seen = 0;
    }

    vfunc_on_message(msg, ctx) {
        const page = text(msg.get_key());
        const table = engine.get_table('metrics');

        // get() gives a GLib.Variant or null; getValue() unpacks it.
        table.set(page, table.getValue(page, 0) + 1);
        this._count();
        return true;
    }

    vfunc_on_tombstone(msg, ctx) {
        engine.get_table('metrics').delete(text(msg.get_key()));
        this._count();
        return true;
    }

    _count() {
        if (++this._seen === maxRecords)
            engine.stop();
    }
});
engine.add_handler(new PageViewHandler({topic: 'page-views'}));

metrics.connect('restored', table => print(`Restored ${table.restored_records} records`));
metrics.connect('changed', (table, page, oldValue, newValue) => {
    // newValue is null after a delete.
    const count = newValue?.unpack() ?? 0;
    print(`${page}: ${count} view${count === 1 ? '' : 's'}${newValue === null ? ' (reset)' : ''}`);
});

// On the embedded cluster, give the handler some page views, then a reset.
const cluster = engine.get_mock_cluster();
const encode = string => new GLib.Bytes(new TextEncoder().encode(string));
for (let i = 0; cluster !== null && i < views.length; i++)
    cluster.produce('page-views', -1, encode(views[i]), encode(`view ${i}`), null);
cluster?.produce('page-views', -1, encode('/blog'), null, null);

engine.run(null);

// What the table holds once the engine stopped.
metrics.foreach((page, count) => {
    print(`Total for ${page}: ${count.unpack()}`);
    return true;
});
