// SPDX-License-Identifier: LGPL-2.1-or-later
// SPDX-FileCopyrightText: 2026 The Paperboy authors
//
// GJS overrides for Paperboy, loaded by GJS when a program imports
// `gi://Paperboy` (from `gjs-1.0/overrides/` in its data directories, or
// from $GJS_PATH).
//
// Every `Paperboy.Handler` subclass registered with GObject.registerClass()
// gets its `vfunc_` methods wrapped so that:
// - a thrown value that is not a GLib.Error becomes a GLib.Error in the
//   Paperboy.Error domain, code HANDLER, whose message names the handler,
//   the virtual function, the thrown value's class and message, followed by
//   the JavaScript stack (a GLib.Error goes through unchanged);
// - a `vfunc_handle` or `vfunc_handle_bulk` that returns a promise (an
//   `async` method) which rejects fails its task with such an error,
//   instead of an unhandled rejection and a dropped task;
// - a throw in `vfunc_on_error` or `vfunc_on_bulk_error` is logged, naming
//   the handler, and counts as Paperboy.ErrorAction.STOP.
//
// `Paperboy.Table.prototype.set()` also takes plain JavaScript values (see
// _toVariant()), and `getValue()` reads a value unpacked. `Paperboy.Engine.
// prototype.produce()` also takes strings and Uint8Arrays for the key and
// the value, and an array of [name, value] pairs for the headers.

const {GLib, GObject} = imports.gi;

// The virtual functions that report a failure through a GError.
const THROWING = ['define_context', 'did_receive_message', 'on_message', 'on_tombstone',
    'on_finished_handling', 'handle', 'handle_finish',
    'did_receive_bulk_messages', 'on_bulk', 'handle_bulk'];
// The virtual functions that decide what a failure means.
const DECIDING = ['on_error', 'on_bulk_error'];

function _handlerName(handler) {
    return GObject.type_name(handler.constructor.$gtype);
}

// The thrown value's class, message and stack, without this file's frames.
function _describe(thrown) {
    if (thrown instanceof Error) {
        const frames = (thrown.stack ?? '').split('\n')
            .filter(frame => frame !== '' && !frame.includes('/overrides/Paperboy.js:'));
        const stack = frames.length > 0 ? `\n${frames.join('\n')}` : '';
        return `${thrown.constructor.name}: ${thrown.message}${stack}`;
    }
    return `${typeof thrown}: ${String(thrown)}`;
}

// A JavaScript value as a GLib.Variant for a table: boolean → b, integer
// Number → x (d past 2^53, where it is no longer exact), other Number → d,
// BigInt → x, string → s, Uint8Array → ay, Array → av and plain Object →
// a{sv}, their elements converted alike. A GLib.Variant passes through.
// null and undefined are refused: Table.delete() removes a key.
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function _toVariant(value, where = 'value') {
    if (value instanceof GLib.Variant)
        return value;

    switch (typeof value) {
    case 'boolean':
        return new GLib.Variant('b', value);
    case 'number':
        return new GLib.Variant(Number.isSafeInteger(value) ? 'x' : 'd', value);
    case 'bigint':
        if (value < INT64_MIN || value > INT64_MAX)
            throw new RangeError(`${where}: ${value} does not fit in an int64`);
        return new GLib.Variant('x', value);
    case 'string':
        return new GLib.Variant('s', value);
    }

    if (value instanceof Uint8Array)
        return new GLib.Variant('ay', value);
    if (Array.isArray(value))
        return new GLib.Variant('av', value.map((v, i) => _toVariant(v, `${where}[${i}]`)));
    if (value !== null && typeof value === 'object' &&
        [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
        const dict = {};
        for (const [k, v] of Object.entries(value))
            dict[k] = _toVariant(v, `${where}.${k}`);
        return new GLib.Variant('a{sv}', dict);
    }

    const what = value === null || value === undefined ? String(value)
        : value?.constructor?.name ?? typeof value;
    throw new TypeError(`${where}: cannot store ${what} in a table` +
        (value === null || value === undefined ? ' (use Table.delete() to remove a key)' : ''));
}

// Record bytes for Engine.produce(): GLib.Bytes and null pass through.
function _toBytes(value, what) {
    if (value === null || value === undefined || value instanceof GLib.Bytes)
        return value ?? null;
    if (typeof value === 'string')
        return new GLib.Bytes(new TextEncoder().encode(value));
    if (value instanceof Uint8Array)
        return new GLib.Bytes(value);
    throw new TypeError(`${what}: expected a string, a Uint8Array, a GLib.Bytes or null`);
}

// Record headers for Engine.produce(): [[name, string|Uint8Array|null], ...],
// or a GLib.Variant of type a(smay), or null.
function _toHeaders(headers) {
    if (headers === null || headers === undefined || headers instanceof GLib.Variant)
        return headers ?? null;
    if (!Array.isArray(headers))
        throw new TypeError('headers: expected an array of [name, value] pairs, a GLib.Variant or null');
    return new GLib.Variant('a(smay)', headers.map(([name, value]) => [name,
        typeof value === 'string' ? new TextEncoder().encode(value) : value ?? null]));
}

function _init() {
    const Paperboy = this;

    function handlerError(handler, vfunc, thrown) {
        if (thrown instanceof GLib.Error)
            return thrown;
        return new GLib.Error(Paperboy.Error, Paperboy.Error.HANDLER,
            `${_handlerName(handler)}.${vfunc}() threw ${_describe(thrown)}`);
    }

    // A task may complete in an idle of its context after it returned: the
    // check waits for that, so that a promise rejected after its handler
    // completed the task is logged, not returned a second time.
    function failTask(handler, vfunc, task, error) {
        const source = GLib.idle_source_new();

        source.set_priority(GLib.PRIORITY_DEFAULT_IDLE);
        source.set_callback(() => {
            if (task.get_completed())
                logError(error, `${_handlerName(handler)}.${vfunc}() failed after it completed its task`);
            else
                task.return_error(error);
            return GLib.SOURCE_REMOVE;
        });
        source.attach(task.get_context());
    }

    // The virtual functions take at most three arguments; named ones cost
    // less than a rest array, once per record.
    function wrapThrowing(vfunc, func) {
        if (vfunc === 'handle' || vfunc === 'handle_bulk') {
            return function (message, context, task) {
                let result;
                try {
                    result = func.call(this, message, context, task);
                } catch (e) {
                    throw handlerError(this, vfunc, e);
                }

                if (result instanceof Promise) {
                    result.catch(e => failTask(this, vfunc, task, handlerError(this, vfunc, e)));
                    return true;
                }
                return result;
            };
        }

        return function (a, b, c) {
            try {
                return func.call(this, a, b, c);
            } catch (e) {
                throw handlerError(this, vfunc, e);
            }
        };
    }

    function wrapOnError(vfunc, func) {
        return function (error, message, context) {
            try {
                return func.call(this, error, message, context);
            } catch (e) {
                logError(e, `${_handlerName(this)}.${vfunc}() threw: stopping`);
                return Paperboy.ErrorAction.STOP;
            }
        };
    }

    const baseClassInit = GObject.Object._classInit;

    // GObject's class init hooks the vfunc_ methods up as the class's
    // virtual functions: it hooks up the wrappers, and then the methods are
    // put back, so that JavaScript calling them (super.vfunc_handle(), a
    // test) gets what the class defined.
    Paperboy.Handler._classInit = function (klass) {
        const proto = klass.prototype;
        const originals = [];

        for (const name of Object.getOwnPropertyNames(proto)) {
            const descriptor = Object.getOwnPropertyDescriptor(proto, name);
            if (!name.startsWith('vfunc_') || typeof descriptor.value !== 'function')
                continue;

            const vfunc = name.slice('vfunc_'.length);
            let wrapper = null;
            if (THROWING.includes(vfunc))
                wrapper = wrapThrowing(vfunc, descriptor.value);
            else if (DECIDING.includes(vfunc))
                wrapper = wrapOnError(vfunc, descriptor.value);
            if (wrapper !== null) {
                originals.push([name, descriptor]);
                Object.defineProperty(proto, name, {...descriptor, value: wrapper});
            }
        }

        try {
            return baseClassInit.call(this, klass);
        } finally {
            for (const [name, descriptor] of originals)
                Object.defineProperty(proto, name, descriptor);
        }
    };

    // Tables and produce(): the JavaScript values converted, then the C
    // methods called.
    const tableSet = Paperboy.Table.prototype.set;
    Paperboy.Table.prototype.set = function (key, value) {
        return tableSet.call(this, key, _toVariant(value));
    };

    // The value of @key unpacked (GLib.Variant.recursiveUnpack()), or
    // @defaultValue when the key has none.
    Paperboy.Table.prototype.getValue = function (key, defaultValue = null) {
        const variant = this.get(key);
        return variant === null ? defaultValue : variant.recursiveUnpack();
    };

    const engineProduce = Paperboy.Engine.prototype.produce;
    Paperboy.Engine.prototype.produce = function (topic, partition, key, value, headers = null) {
        return engineProduce.call(this, topic, partition, _toBytes(key, 'key'),
            _toBytes(value, 'value'), _toHeaders(headers));
    };
}
