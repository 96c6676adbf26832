/* pb-kafka-source.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-kafka-source-private.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <glib-unix.h>

/* A GSource woken by librdkafka through a pipe: librdkafka writes one byte
 * when the queue goes from empty to non-empty. Because it signals only that
 * edge, prepare() and check() also look at the queue's length, so that what
 * a bounded dispatch left behind is dispatched on the next iteration.
 *
 * With a keep-alive interval, the source also dispatches when the queue was
 * silent that long: the consumer must be polled regularly even when idle or
 * paused, or the group evicts it after max.poll.interval.ms. */

typedef struct
{
  GSource           parent;
  rd_kafka_queue_t *queue;
  int               wake_read;
  int               wake_write;
  gpointer          wake_tag;
  gint64            keepalive_us;
  gint64            last_dispatch;
} PbKafkaSource;

static gboolean
pb_kafka_source_ready (PbKafkaSource *self,
                       gint64         now,
                       int           *timeout)
{
  gint64 remaining;

  if (self->queue == NULL)
    return FALSE;

  if (rd_kafka_queue_length (self->queue) > 0)
    return TRUE;

  if (self->keepalive_us == 0)
    return FALSE;

  remaining = self->last_dispatch + self->keepalive_us - now;
  if (remaining <= 0)
    return TRUE;

  if (timeout != NULL)
    *timeout = (int)((remaining + 999) / 1000);

  return FALSE;
}

static gboolean
pb_kafka_source_prepare (GSource *source,
                         int     *timeout)
{
  PbKafkaSource *self = (PbKafkaSource *)source;

  *timeout = -1;

  return pb_kafka_source_ready (self, g_source_get_time (source), timeout);
}

static gboolean
pb_kafka_source_check (GSource *source)
{
  PbKafkaSource *self = (PbKafkaSource *)source;

  if (self->queue == NULL)
    return FALSE;

  if (g_source_query_unix_fd (source, self->wake_tag) & G_IO_IN)
    return TRUE;

  return pb_kafka_source_ready (self, g_source_get_time (source), NULL);
}

static gboolean
pb_kafka_source_dispatch (GSource     *source,
                          GSourceFunc  callback,
                          gpointer     user_data)
{
  PbKafkaSource *self = (PbKafkaSource *)source;
  PbKafkaSourceFunc func = (PbKafkaSourceFunc)(void (*) (void))callback;
  char buf[64];

  if (self->queue == NULL)
    return G_SOURCE_CONTINUE;

  /* Drain first: a byte written while the callback polls re-arms us. */
  while (read (self->wake_read, buf, sizeof buf) > 0)
    ;

  self->last_dispatch = g_source_get_time (source);

  if (func == NULL)
    return G_SOURCE_REMOVE;

  return func (user_data);
}

gboolean
_pb_kafka_source_pending (GSource *source)
{
  PbKafkaSource *self = (PbKafkaSource *)source;

  return self->queue != NULL && rd_kafka_queue_length (self->queue) > 0;
}

void
_pb_kafka_source_release (GSource *source)
{
  PbKafkaSource *self = (PbKafkaSource *)source;

  if (self->queue != NULL)
    {
      rd_kafka_queue_io_event_enable (self->queue, -1, NULL, 0);
      g_clear_pointer (&self->queue, rd_kafka_queue_destroy);
    }

  if (self->wake_tag != NULL)
    {
      g_source_remove_unix_fd (source, self->wake_tag);
      self->wake_tag = NULL;
    }

  if (self->wake_read >= 0)
    {
      close (self->wake_read);
      self->wake_read = -1;
    }

  if (self->wake_write >= 0)
    {
      close (self->wake_write);
      self->wake_write = -1;
    }
}

static void
pb_kafka_source_finalize (GSource *source)
{
  _pb_kafka_source_release (source);
}

static GSourceFuncs pb_kafka_source_funcs = {
  .prepare = pb_kafka_source_prepare,
  .check = pb_kafka_source_check,
  .dispatch = pb_kafka_source_dispatch,
  .finalize = pb_kafka_source_finalize,
};

/* Takes ownership of @queue. */
GSource *
_pb_kafka_source_new (rd_kafka_queue_t  *queue,
                      guint              keepalive_ms,
                      GError           **error)
{
  static const char wake = 'k';
  g_autoptr(GSource) source = NULL;
  PbKafkaSource *self;
  int fds[2];

  source = g_source_new (&pb_kafka_source_funcs, sizeof (PbKafkaSource));
  g_source_set_static_name (source, "[paperboy] kafka queue");

  self = (PbKafkaSource *)source;
  self->queue = queue;
  self->wake_read = -1;
  self->wake_write = -1;
  self->keepalive_us = (gint64)keepalive_ms * 1000;
  self->last_dispatch = g_get_monotonic_time ();

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    return NULL;

  self->wake_read = fds[0];
  self->wake_write = fds[1];

  if (!g_unix_set_fd_nonblocking (fds[0], TRUE, error) ||
      !g_unix_set_fd_nonblocking (fds[1], TRUE, error))
    return NULL;

  self->wake_tag = g_source_add_unix_fd (source, self->wake_read, G_IO_IN);

  rd_kafka_queue_io_event_enable (queue, self->wake_write, &wake, sizeof wake);

  return g_steal_pointer (&source);
}
