#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What a Python user would write instead of a Paperboy bulk handler:
# confluent-kafka-python consuming in batches with Consumer.consume() and
# calling a Python function per record that reads its value. Committing
# like Paperboy: offsets stored after each batch, committed in the
# background. Prints one line "RESULT {json}" like pb-bench.

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError

BATCH = 10000


def handle(message, totals):
    totals[0] += len(message.value())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--bootstrap', required=True)
    parser.add_argument('--group', required=True)
    parser.add_argument('--topic', default='bench')
    parser.add_argument('--count', type=int, default=1000000)
    parser.add_argument('-X', dest='config', action='append', default=[])
    args = parser.parse_args()

    t_start = time.monotonic()
    config = {
        'bootstrap.servers': args.bootstrap,
        'group.id': args.group,
        'auto.offset.reset': 'earliest',
        'enable.auto.offset.store': False,
        'auto.commit.interval.ms': 5000,
    }
    for entry in args.config:
        key, sep, value = entry.partition('=')
        if not sep:
            sys.exit(f'bad -X argument {entry!r}: expected key=value')
        config[key] = value

    consumer = Consumer(config)
    consumer.subscribe([args.topic])

    totals = [0]
    count = errors = 0
    t_first = t_last = cpu_first = cpu_last = 0.0
    progress = time.monotonic()
    stalled = False
    while count < args.count:
        messages = consumer.consume(num_messages=BATCH, timeout=1.0)
        now = time.monotonic()
        if not messages:
            if now - progress > 30:
                stalled = True
                break
            continue
        progress = now
        if count == 0:
            t_first = now
            cpu_first = time.thread_time()
        last = {}
        for message in messages:
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    errors += 1
                continue
            handle(message, totals)
            count += 1
            last[message.partition()] = message
        for message in last.values():
            consumer.store_offsets(message=message)
    t_last = time.monotonic()
    cpu_last = time.thread_time()
    consumer.close()
    t_end = time.monotonic()

    ok = not stalled and count >= args.count and t_last > t_first
    steady = t_last - t_first if ok else 0.0
    print('RESULT ' + json.dumps({
        'method': 'confluent',
        'ok': ok,
        'count': count,
        'errors': errors,
        'steady_s': steady,
        'rate': count / steady if ok else 0.0,
        'join_s': t_first - t_start if count else 0.0,
        'wall_s': t_last - t_start if ok else 0.0,
        'close_s': t_end - t_last if ok else 0.0,
        'thread_cpu_s': cpu_last - cpu_first if ok else 0.0,
    }), flush=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
