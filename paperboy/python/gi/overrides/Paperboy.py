# Paperboy.py: PyGObject overrides for Paperboy
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Python conveniences for Paperboy.

PyGObject turns only ``GLib.Error`` exceptions raised in a virtual function
into a ``GError``; any other exception is printed and the function returns
``False`` (or ``None``) without an error, so the engine cannot tell a
skipped record from a crash. These overrides wrap the ``do_*`` methods of
every ``Paperboy.Handler`` subclass so that:

* any exception becomes a ``GLib.Error`` in the ``Paperboy.Error`` domain,
  code ``HANDLER``, whose message names the handler, the virtual function,
  the exception type and message, followed by the traceback;
* ``do_on_message``, ``do_on_tombstone``, ``do_on_finished_handling`` and
  ``do_handle`` may return ``None`` for success, like the original
  kafka-paperboy handlers;
* a value of the wrong type (``42`` from ``do_did_receive_message``, a
  ``dict`` from ``do_on_message``) is a failure, reported like an
  exception, instead of being read as "skip" or "no context" (PyGObject
  would print a ``TypeError`` and go on); a wrong value from ``do_on_error``
  is logged and stops;
* an exception in ``do_handle_async`` completes the operation with that
  error instead of leaving the engine waiting forever.

A ``Paperboy.Deserializer`` implementation's ``do_deserialize`` turns an
exception, or a return value that is not a ``GLib.Variant``, into a
``Paperboy.Error.DESERIALIZE`` error.

The same holds for ``Paperboy.BulkHandler`` subclasses and their
``do_on_bulk``, ``do_handle_bulk``, ``do_did_receive_bulk_messages`` (which
returns a list of messages or ``None``) and ``do_on_bulk_error``; their
messages arrive as a list.

A ``Paperboy.Handler`` subclass may declare its topics as a class
attribute (``topic = 'name'`` or ``topics = [...]``).

``Paperboy.Message`` gains ``key``, ``value`` (``bytes`` or ``None``) and
``headers`` (a list of ``(name, bytes or None)``) attributes, and
``Paperboy.MockCluster.produce`` and ``Paperboy.Engine.produce`` accept
``str`` and ``bytes`` keys and values and headers as a list of
``(name, value)`` pairs or a ``dict``.

``Paperboy.Table.set`` accepts plain Python values as well as a
``GLib.Variant``, and ``Paperboy.Table.get_value`` returns the unpacked
value; ``Paperboy.Table.get`` still returns a ``GLib.Variant``.
"""

import functools
import traceback

from gi.repository import Gio, GLib, GObject

from ..module import get_introspection_module
from ..overrides import override

Paperboy = get_introspection_module('Paperboy')

__all__ = []

# Virtual functions that report failure through a GError and return a
# boolean: None means success.
_BOOLEAN_VFUNCS = ('on_message', 'on_tombstone', 'on_finished_handling',
                   'handle', 'handle_finish', 'on_bulk', 'handle_bulk')
# Virtual functions that report failure through a GError and return an
# object (of the type given here): None keeps its meaning (no context, skip
# the record).
_OBJECT_VFUNCS = {'define_context': (GObject.Object, 'GObject.Object'),
                  'did_receive_message': (Paperboy.Message, 'Paperboy.Message')}


class _WrongReturn(TypeError):
    """A virtual function returned a value of the wrong type."""


def _handler_error(handler, vfunc, exc):
    if isinstance(exc, _WrongReturn):
        message = '%s.%s() %s' % (handler.__gtype__.name, vfunc, exc)
    else:
        text = ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        message = '%s.%s() raised %s: %s\n%s' % (handler.__gtype__.name, vfunc,
                                                 type(exc).__name__, exc, text.rstrip())
    return GLib.Error.new_literal(Paperboy.error_quark(), message,
                                  Paperboy.Error.HANDLER)


def _check_result(result, expected):
    if expected is list:
        if result is None:
            return None
        if isinstance(result, (list, tuple)) and all(isinstance(m, Paperboy.Message)
                                                     for m in result):
            return list(result)
        raise _WrongReturn('returned %s, expected a list of Paperboy.Message or None'
                           % type(result).__name__)
    if expected is bool:
        if result is None:
            return True
        if isinstance(result, bool):
            return result
        raise _WrongReturn('returned %s, expected bool or None' % type(result).__name__)
    cls, name = expected
    if result is None or isinstance(result, cls):
        return result
    raise _WrongReturn('returned %s, expected %s or None' % (type(result).__name__, name))


def _wrap_throwing(vfunc, func, expected):
    @functools.wraps(func)
    def wrapper(self, *args):
        try:
            return _check_result(func(self, *args), expected)
        except GLib.Error:
            raise
        except Exception as exc:
            raise _handler_error(self, vfunc, exc) from exc
    wrapper._paperboy_wrapped = True
    return wrapper


def _wrap_on_error(vfunc, func):
    @functools.wraps(func)
    def wrapper(self, error, message, context):
        try:
            action = func(self, error, message, context)
            if not isinstance(action, Paperboy.ErrorAction):
                raise _WrongReturn('returned %s, expected Paperboy.ErrorAction: stopping'
                                   % type(action).__name__)
            return action
        except Exception as exc:
            GLib.log_default_handler(
                'Paperboy', GLib.LogLevelFlags.LEVEL_WARNING,
                str(_handler_error(self, vfunc, exc).message), None)
            return Paperboy.ErrorAction.STOP
    wrapper._paperboy_wrapped = True
    return wrapper


def _wrap_handle_async(func):
    # PyGObject passes (message, context, cancellable, callback, user_data);
    # the callback already carries its user_data.
    @functools.wraps(func)
    def wrapper(self, message, context, cancellable, callback, *user_data):
        try:
            return func(self, message, context, cancellable, callback, *user_data)
        except Exception as exc:
            task = Gio.Task.new(self, cancellable, callback)
            task.return_error(_handler_error(self, 'handle_async', exc))
    wrapper._paperboy_wrapped = True
    return wrapper


class Handler(Paperboy.Handler):
    """Subclass it and override ``do_on_message()`` and the other ``do_*``
    methods. Like kafka-paperboy, a subclass may declare its topics as a
    class attribute, ``topic = 'name'`` or ``topics = ['a', 'b']``: this
    also works for handlers the engine creates by type, whose ``__init__``
    gets no arguments.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        topics = getattr(type(self), '_paperboy_topics', None)
        if topics and not self.get_topics():
            self.set_topics(topics)

    def __init_subclass__(cls, **kwargs):
        # Runs before PyGObject hooks the do_* methods up as vfuncs.
        super().__init_subclass__(**kwargs)
        topic = vars(cls).get('topic')
        topics = vars(cls).get('topics')
        if isinstance(topic, str):
            cls._paperboy_topics = [topic]
        elif isinstance(topics, (list, tuple)):
            cls._paperboy_topics = list(topics)
        for name, func in list(vars(cls).items()):
            if not name.startswith('do_') or getattr(func, '_paperboy_wrapped', False):
                continue
            vfunc = name[3:]
            if vfunc in _BOOLEAN_VFUNCS:
                setattr(cls, name, _wrap_throwing(vfunc, func, bool))
            elif vfunc in _OBJECT_VFUNCS:
                setattr(cls, name, _wrap_throwing(vfunc, func, _OBJECT_VFUNCS[vfunc]))
            elif vfunc == 'did_receive_bulk_messages':
                setattr(cls, name, _wrap_throwing(vfunc, func, list))
            elif vfunc in ('on_error', 'on_bulk_error'):
                setattr(cls, name, _wrap_on_error(vfunc, func))
            elif vfunc == 'handle_async':
                setattr(cls, name, _wrap_handle_async(func))


Handler = override(Handler)
__all__.append('Handler')


class BulkHandler(Paperboy.BulkHandler, Handler):
    """Subclass it and override ``do_on_bulk()`` (a list of messages) and
    ``do_on_message()``, for the engine may switch to Single mode."""


BulkHandler = override(BulkHandler)
__all__.append('BulkHandler')


def _wrap_deserialize(func):
    @functools.wraps(func)
    def wrapper(self, data):
        try:
            result = func(self, data)
        except GLib.Error:
            raise
        except Exception as exc:
            text = ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            raise GLib.Error.new_literal(
                Paperboy.error_quark(),
                '%s.deserialize() raised %s: %s\n%s' % (self.__gtype__.name, type(exc).__name__,
                                                        exc, text.rstrip()),
                Paperboy.Error.DESERIALIZE) from exc
        if not isinstance(result, GLib.Variant):
            raise GLib.Error.new_literal(
                Paperboy.error_quark(),
                '%s.deserialize() returned %s, expected GLib.Variant'
                % (self.__gtype__.name, type(result).__name__),
                Paperboy.Error.DESERIALIZE)
        return result
    wrapper._paperboy_wrapped = True
    return wrapper


class Deserializer(Paperboy.Deserializer):
    """Implement it with ``class D(GObject.Object, Paperboy.Deserializer)``
    and ``do_deserialize(self, data)``, which gets a ``GLib.Bytes`` and
    returns a ``GLib.Variant``: an exception, or a value of another type,
    becomes a ``Paperboy.Error.DESERIALIZE`` error naming the class."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        func = vars(cls).get('do_deserialize')
        if func is not None and not getattr(func, '_paperboy_wrapped', False):
            cls.do_deserialize = _wrap_deserialize(func)


Deserializer = override(Deserializer)
__all__.append('Deserializer')


class Message(Paperboy.Message):
    # peek_*() is one call that gives bytes, but b'' for null too.
    @property
    def key(self):
        """The key as ``bytes``, or ``None`` when it is null."""
        data = self.peek_key()
        return data if data or self.get_key() is not None else None

    @property
    def value(self):
        """The value as ``bytes``, or ``None`` for a tombstone."""
        data = self.peek_value()
        return data if data or not self.is_tombstone() else None

    @property
    def headers(self):
        """The headers as a list of ``(name, bytes or None)`` pairs."""
        return [(name, None if value is None else bytes(value))
                for name, value in self.get_headers().unpack()]


Message = override(Message)
__all__.append('Message')


def _to_bytes(data):
    if data is None or isinstance(data, GLib.Bytes):
        return data
    if isinstance(data, str):
        data = data.encode('utf-8')
    return GLib.Bytes.new(bytes(data))


def _to_headers(headers):
    if headers is None or isinstance(headers, GLib.Variant):
        return headers
    if isinstance(headers, dict):
        headers = headers.items()
    pairs = []
    for name, value in headers:
        if isinstance(value, str):
            value = value.encode('utf-8')
        pairs.append((name, None if value is None else bytes(value)))
    return GLib.Variant('a(smay)', pairs)


class MockCluster(Paperboy.MockCluster):
    def produce(self, topic, partition=-1, key=None, value=None, headers=None):
        """Produces one record and returns its offset.

        ``key`` and ``value`` may be ``str``, ``bytes``, ``GLib.Bytes`` or
        ``None``; ``headers`` a list of ``(name, value)`` pairs, a ``dict``
        or a ``a(smay)`` ``GLib.Variant``.
        """
        return Paperboy.MockCluster.produce(self, topic, partition, _to_bytes(key),
                                            _to_bytes(value), _to_headers(headers))


MockCluster = override(MockCluster)
__all__.append('MockCluster')


class Engine(Paperboy.Engine):
    def produce(self, topic, partition=-1, key=None, value=None, headers=None):
        """Produces one record through the engine, from a handler, and
        raises ``GLib.Error`` when it cannot be queued.

        ``key`` and ``value`` may be ``str``, ``bytes``, ``GLib.Bytes`` or
        ``None`` (a ``None`` value is a tombstone); ``headers`` a list of
        ``(name, value)`` pairs, a ``dict`` or a ``a(smay)``
        ``GLib.Variant``.
        """
        return Paperboy.Engine.produce(self, topic, partition, _to_bytes(key),
                                       _to_bytes(value), _to_headers(headers))


Engine = override(Engine)
__all__.append('Engine')


def _to_variant(value):
    # bool before int: True is an int too.
    if isinstance(value, GLib.Variant):
        return value
    if isinstance(value, bool):
        return GLib.Variant('b', value)
    if isinstance(value, int):
        return GLib.Variant('x', value)
    if isinstance(value, float):
        return GLib.Variant('d', value)
    if isinstance(value, str):
        return GLib.Variant('s', value)
    if isinstance(value, (bytes, bytearray)):
        return GLib.Variant('ay', bytes(value))
    if isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                raise TypeError('a table value cannot have a %s dictionary key'
                                % type(name).__name__)
        return GLib.Variant('a{sv}', {name: _to_variant(item) for name, item in value.items()})
    if isinstance(value, (list, tuple)):
        return GLib.Variant('av', [_to_variant(item) for item in value])
    raise TypeError('a table cannot hold a %s value' % type(value).__name__)


class Table(Paperboy.Table):
    """A key/value table, see ``Paperboy.Table.new()`` and
    ``Paperboy.Engine.register_table()``.

    ``set()`` takes a ``GLib.Variant`` or a plain Python value: ``bool``
    (``b``), ``int`` (``x``), ``float`` (``d``), ``str`` (``s``), ``bytes``
    (``ay``), a ``dict`` with ``str`` keys (``a{sv}``) or a ``list`` or
    ``tuple`` (``av``), their items converted the same way. ``get()``
    returns the ``GLib.Variant`` (or ``None``), ``get_value()`` the Python
    value. The table normalizes values inside a variant (``v``) as JSON
    does: an ``int`` stays an ``int`` but ``bytes`` inside a ``dict`` or a
    ``list`` come back as a list of ``int``, and a ``tuple`` as a ``list``.
    """

    def set(self, key, value):
        """Sets the value of ``key``; raises ``GLib.Error`` when the table
        refuses the value (a ``float`` that is not finite) or when the engine
        does not run, and ``TypeError`` for a value it cannot convert. To
        remove a key, use ``delete()``: ``None`` is not a value."""
        if value is None:
            raise TypeError('None is not a table value: use Table.delete()')
        return Paperboy.Table.set(self, key, _to_variant(value))

    def get_value(self, key, default=None):
        """The value of ``key`` as a Python value (``GLib.Variant.unpack()``,
        but ``bytes`` for a value of type ``ay``), or ``default`` when the
        key has none. Like ``get()``, raises ``GLib.Error``
        (``Paperboy.Error.NOT_OWNER``) for a key of a partition that another
        member of the group holds."""
        variant = self.get(key)
        if variant is None:
            return default
        if variant.get_type_string() == 'ay':
            return variant.get_data_as_bytes().get_data()
        return variant.unpack()


Table = override(Table)
__all__.append('Table')
