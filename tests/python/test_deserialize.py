# test_deserialize.py: deserializers from Python
#
# Copyright 2026 The Paperboy authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import http.server
import json
import struct
import threading
import unittest

import gi
gi.require_version('Paperboy', '1')
from gi.repository import GLib, GObject, Paperboy  # noqa: E402

from pbtest import CLUSTER, TestCase, make_engine, run_until  # noqa: E402


class Reversed(GObject.Object, Paperboy.Deserializer):
    """A deserializer written in Python."""

    def do_deserialize(self, data):
        text = data.get_data().decode()
        if text == 'bad':
            raise ValueError('not this one')
        return GLib.Variant('s', text[::-1])


SCHEMA = {'type': 'record', 'name': 'Point',
          'fields': [{'name': 'name', 'type': 'string'}, {'name': 'n', 'type': 'long'}]}


def _varint(n):
    n = (n << 1) ^ (n >> 63)     # zigzag
    out = bytearray()
    while True:
        byte = n & 0x7f
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def avro_point(schema_id, name, n):
    """A Point in the Confluent wire format."""
    text = name.encode()
    return b'\0' + struct.pack('>I', schema_id) + _varint(len(text)) + text + _varint(n)


class Registry:
    """A schema registry on loopback serving schema 1."""

    def __init__(self):
        registry = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                registry.requests += 1
                if self.path == '/schemas/ids/1':
                    body = json.dumps({'schema': json.dumps(SCHEMA)}).encode()
                    self.send_response(200)
                else:
                    body = b'{"error_code": 40403}'
                    self.send_response(404)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Decoded(Paperboy.Handler):
    def __init__(self, topic, action=Paperboy.ErrorAction.CONTINUE, **kwargs):
        super().__init__(topic=topic, **kwargs)
        self.seen = []
        self.errors = []
        self.action = action

    def do_on_message(self, msg, ctx):
        key, value = msg.get_decoded_key(), msg.get_decoded_value()
        self.seen.append((msg.get_offset(), key.unpack() if key else None,
                          value.unpack() if value else None))

    def do_on_error(self, error, msg, ctx):
        self.errors.append((msg.get_offset(), msg.value, error.code, error.message))
        return self.action


class DeserializerTests(TestCase):
    def test_built_in(self):
        CLUSTER.create_topic(self.topic, 1)
        CLUSTER.produce(self.topic, 0, 'k0', '{"a": [1, 2.5, true, null], "b": "x"}')
        CLUSTER.produce(self.topic, 0, b'\xff', '1')
        CLUSTER.produce(self.topic, 0, 'k2', '{"a": ')
        engine = make_engine(self.group)
        handler = Decoded(self.topic, key_deserializer=Paperboy.StringDeserializer(),
                          value_deserializer=Paperboy.JsonDeserializer())
        engine.add_handler(handler)
        self.assertTrue(run_until(engine, lambda: len(handler.seen) + len(handler.errors) >= 3))

        self.assertEqual(handler.seen, [(0, 'k0', {'a': [1, 2.5, True, None], 'b': 'x'})])
        self.assertEqual([e[:3] for e in handler.errors],
                         [(1, b'1', Paperboy.Error.DESERIALIZE), (2, b'{"a": ', Paperboy.Error.DESERIALIZE)])
        self.assertIn('Cannot decode the key', handler.errors[0][3])
        self.assertIn('Not valid JSON', handler.errors[1][3])
        self.assertEqual(self.committed(0), 3)

    def test_python_deserializer(self):
        CLUSTER.create_topic(self.topic, 1)
        for value in ('olleh', 'bad', 'dlrow'):
            CLUSTER.produce(self.topic, 0, None, value)
        engine = make_engine(self.group, fail_on_exception=True)
        handler = Decoded(self.topic, action=Paperboy.ErrorAction.STOP,
                          value_deserializer=Reversed())
        engine.add_handler(handler)
        with self.assertRaises(GLib.Error) as caught:
            run_until(engine)
        self.assertTrue(caught.exception.matches(Paperboy.error_quark(), Paperboy.Error.DESERIALIZE))
        self.assertIn('deserialize() raised ValueError: not this one', caught.exception.message)
        self.assertEqual(handler.seen, [(0, None, 'hello')])
        self.assertEqual(self.committed(0), 1)

    def test_avro(self):
        registry = Registry()
        self.addCleanup(registry.stop)
        CLUSTER.create_topic(self.topic, 1)
        for i in range(20):
            CLUSTER.produce(self.topic, 0, 'k', avro_point(1, 'p%d' % i, i - 10))
        CLUSTER.produce(self.topic, 0, 'k', avro_point(7, 'unknown', 0))
        CLUSTER.produce(self.topic, 0, 'k', avro_point(1, 'cut', 1)[:-3])
        engine = make_engine(self.group)
        handler = Decoded(self.topic, key_deserializer=Paperboy.StringDeserializer(),
                          value_deserializer=Paperboy.AvroDeserializer.new(registry.url))
        engine.add_handler(handler)
        self.assertTrue(run_until(engine, lambda: len(handler.seen) + len(handler.errors) >= 22))

        self.assertEqual(handler.seen, [(i, 'k', {'name': 'p%d' % i, 'n': i - 10}) for i in range(20)])
        self.assertEqual([(e[0], e[2]) for e in handler.errors],
                         [(20, Paperboy.Error.DESERIALIZE), (21, Paperboy.Error.DESERIALIZE)])
        self.assertIn('HTTP 404', handler.errors[0][3])
        self.assertEqual(registry.requests, 2)
        self.assertEqual(self.committed(0), 22)


if __name__ == '__main__':
    unittest.main()
