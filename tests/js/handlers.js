// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The handlers the JavaScript suites share.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Paperboy from 'gi://Paperboy?version=1';

import {AssertionError, bytesToString, describe} from './harness.js';

/* Handlers */

export const CONTINUE = Paperboy.ErrorAction.CONTINUE;
export const STOP = Paperboy.ErrorAction.STOP;

export const Context = GObject.registerClass({
    GTypeName: 'PbJsTestContext',
}, class Context extends GObject.Object {});

/* Counts and records what on_message sees; stops the engine after
 * `stopAfter` records when set. */
export const Counter = GObject.registerClass({
    GTypeName: 'PbJsTestCounter',
}, class Counter extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.records = [];
        this.engine = null;
        this.stopAfter = 0;
    }

    vfunc_on_message(message, context) {
        this.records.push(`${message.get_partition()}/${message.get_offset()}/${bytesToString(message.get_value())}`);
        if (this.stopAfter > 0 && this.records.length === this.stopAfter)
            this.engine.stop();
        return true;
    }

    vfunc_on_tombstone(message, context) {
        this.records.push(`${message.get_partition()}/${message.get_offset()}/(tombstone)`);
        return true;
    }
});

/* Overrides every synchronous vfunc and records the calls as strings like
 * the C test's recorder, checking that each record's vfuncs all get the one
 * context created for it. */
export const Recorder = GObject.registerClass({
    GTypeName: 'PbJsTestRecorder',
}, class Recorder extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.events = [];
        this.contexts = [];
        this.nDefined = 0;
        this.contextOf = new Map();     // offset -> context
        this.problems = [];
        this.seen = new Map();          // offset -> what on_message/on_tombstone saw
        this.handled = new Map();       // offset -> the message handled
        this.finished = [];
        this.errors = [];
        this.errorMessages = [];
        this.replacements = new Map();  // offset -> (message) => message or null
        this.failures = new Map();      // offset -> how to fail
        this.failContextAt = -1;        // which define_context call throws
        this.action = CONTINUE;
    }

    _checkContext(context, message, vfunc) {
        const offset = message.get_offset();
        // A record whose define_context failed has no context.
        const expected = this.contextOf.has(offset) ? this.contextOf.get(offset) : null;

        if (context !== expected)
            this.problems.push(`${vfunc}:${offset} got context ${context?.serial} instead of ${expected?.serial}`);
        if (message.get_topic() !== this.topic)
            this.problems.push(`${vfunc}:${offset} got topic ${message.get_topic()}`);
        context?.trace.push(vfunc);
    }

    _maybeFail(message, context, vfunc) {
        const offset = message.get_offset();
        const how = this.failures.get(offset);

        switch (how) {
        case undefined:
        case 'did_receive_message':
        case 'on_finished_handling':
            return true;
        case 'throw':
            throw new Error(`planned failure at ${offset}`);
        case 'throw-type':
            throw new TypeError(`planned type error at ${offset}`);
        case 'throw-gerror':
            throw new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.INVALID_DATA, `planned failure at ${offset}`);
        case 'false':
            return false;
        case 'undefined':
            return undefined;
        default:
            throw new AssertionError(`unknown failure mode ${how}`);
        }
    }

    vfunc_define_context() {
        this.events.push('define_context');
        if (this.nDefined++ === this.failContextAt)
            throw new Error('planned failure in define_context');

        const context = new Context();

        context.serial = this.contexts.length;
        context.trace = ['define_context'];
        this.contexts.push(context);
        return context;
    }

    vfunc_did_receive_message(message, context) {
        const offset = message.get_offset();

        if (context !== this.contexts[this.contexts.length - 1])
            this.problems.push(`did_receive_message:${offset} did not get the context just defined`);
        this.contextOf.set(offset, context);
        this._checkContext(context, message, 'did_receive_message');
        this.events.push(`did_receive_message:${offset}`);
        if (this.failures.get(offset) === 'did_receive_message') {
            throw new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.NOT_SUPPORTED,
                `planned failure in did_receive_message at ${offset}`);
        }

        const replace = this.replacements.get(offset);
        return replace ? replace(message) : message;
    }

    _handle(message, context, vfunc) {
        const offset = message.get_offset();

        this._checkContext(context, message, vfunc);
        this.handled.set(offset, message);
        this.seen.set(offset, {
            key: bytesToString(message.get_key()),
            value: bytesToString(message.get_value()),
            tombstone: message.is_tombstone,
        });
        this.events.push(vfunc === 'on_tombstone'
            ? `on_tombstone:${offset}`
            : `on_message:${offset}:${bytesToString(message.get_value())}`);
        return this._maybeFail(message, context, vfunc);
    }

    vfunc_on_message(message, context) {
        return this._handle(message, context, 'on_message');
    }

    vfunc_on_tombstone(message, context) {
        return this._handle(message, context, 'on_tombstone');
    }

    vfunc_on_error(error, message, context) {
        this._checkContext(context, message, 'on_error');
        this.errors.push(error);
        this.errorMessages.push(message);
        this.events.push(`on_error:${message.get_offset()}`);
        return this.action;
    }

    vfunc_on_finished_handling(messages, context) {
        if (!Array.isArray(messages) || messages.length !== 1) {
            this.problems.push(`on_finished_handling got ${describe(messages)}`);
            return true;
        }
        this._checkContext(context, messages[0], 'on_finished_handling');
        this.finished.push(messages[0]);
        this.events.push(`on_finished_handling:${messages[0].get_offset()}`);
        if (this.failures.get(messages[0].get_offset()) === 'on_finished_handling')
            throw new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.FAILED, 'planned failure in on_finished_handling');
        return true;
    }
});

/* Asynchronous handling through vfunc_handle: each task completes later,
 * from GLib.timeout_add(), setTimeout() or a promise, after a delay that
 * makes later records of a partition finish sooner if the engine did not
 * wait. */
export const AsyncHandler = GObject.registerClass({
    GTypeName: 'PbJsTestAsync',
}, class AsyncHandler extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.started = [];
        this.done = [];
        this.errors = [];
        this.inFlight = 0;
        this.maxInFlight = 0;
        this.problems = [];
        this.behaviour = new Map();   // offset -> how to complete
        this.kept = [];               // tasks never completed
        this.cancellables = [];
    }

    _complete(task, id, how) {
        this.inFlight--;
        if (how === 'error') {
            task.return_error(new GLib.Error(Gio.IOErrorEnum, Gio.IOErrorEnum.PERMISSION_DENIED,
                `asynchronous failure at ${id}`));
        } else {
            this.done.push(id);
            task.return_boolean(true);
        }
    }

    vfunc_handle(message, context, task) {
        const partition = message.get_partition();
        const offset = message.get_offset();
        const id = `${partition}/${offset}`;
        const how = this.behaviour.get(offset) ?? 'ok';

        if (context !== null)
            this.problems.push(`handle:${id} got a context without define_context`);
        if (!(task instanceof Gio.Task))
            this.problems.push(`handle:${id} got ${describe(task)} instead of a Gio.Task`);
        const cancellable = task.get_cancellable();
        if (!(cancellable instanceof Gio.Cancellable) || cancellable.is_cancelled())
            this.problems.push(`handle:${id} got cancellable ${describe(cancellable)}`);
        this.cancellables.push(cancellable);

        this.started.push(id);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);

        const delay = 2 + ((7 - offset % 4) * 3) + partition;
        switch (how) {
        case 'throw':
            this.inFlight--;
            throw new Error(`synchronous failure at ${id}`);
        case 'false':
            this.inFlight--;
            return false;
        case 'never':
            this.inFlight--;
            this.kept.push(task);
            return true;
        case 'drop':
            this.inFlight--;
            this._collectUntilReported(offset);
            return true;
        case 'slow':
            GLib.timeout_add(GLib.PRIORITY_DEFAULT, 500, () => {
                this._complete(task, id, how);
                return GLib.SOURCE_REMOVE;
            });
            return true;
        }

        switch (offset % 3) {
        case 0:
            GLib.timeout_add(GLib.PRIORITY_DEFAULT, delay, () => {
                this._complete(task, id, how);
                return GLib.SOURCE_REMOVE;
            });
            break;
        case 1:
            setTimeout(() => this._complete(task, id, how), delay);
            break;
        default:
            this._later(delay).then(() => this._complete(task, id, how));
            break;
        }
        return true;
    }

    // Nothing may keep a dropped task: not even a closure created in
    // vfunc_handle(), since the closures there share the scope holding
    // `task`. The task is then finalized by a garbage collection once GJS let
    // go of its wrapper, which takes a few main loop iterations.
    _collectUntilReported(offset) {
        let tries = 0;

        GLib.timeout_add(GLib.PRIORITY_DEFAULT, 20, () => {
            System.gc();
            const reported = this.errors.some(e => e.offset === offset);
            return !reported && ++tries < 100 ? GLib.SOURCE_CONTINUE : GLib.SOURCE_REMOVE;
        });
    }

    async _later(ms) {
        await new Promise(resolve => setTimeout(resolve, ms));
        await null;
    }

    vfunc_on_error(error, message, context) {
        this.errors.push({offset: message.get_offset(), error});
        return CONTINUE;
    }
});

/* Registered by type: the engine creates it with no arguments, so it takes
 * its topic from this module-level variable. */
export const typed = {topic: null, instances: []};

export const TypedHandler = GObject.registerClass({
    GTypeName: 'PbJsTestTyped',
}, class TypedHandler extends Paperboy.Handler {
    constructor(params = {}) {
        super(params);
        this.topic = typed.topic;
        this.label = `typed-${typed.instances.length}`;
        this.records = [];
        typed.instances.push(this);
    }

    vfunc_on_message(message, context) {
        this.records.push(`${message.get_offset()}/${bytesToString(message.get_value())}`);
        return true;
    }
});
