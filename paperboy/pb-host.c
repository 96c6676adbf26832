/* pb-host.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "pb-error.h"
#include "pb-host-private.h"

#include "pb-gjs-private.h"

struct _PbHost
{
  GMainContext          *context;
  int                    priority;
  const PbHostCallbacks *callbacks;
  gpointer               user_data;

  GSource               *kick;
  guint                  depth;        /* handler code on the stack */
  gboolean               kick_missed;  /* reconcile once it returned */
  GPtrArray             *to_cancel;    /* GCancellable */
  GQueue                 events;       /* PbEvent */
  PbRateLimit            warnings;
  gboolean               exact_state;
  GPtrArray             *sources;      /* PbSource, active */
  const PbSource        *current;      /* whose handler is on the stack */
  const char            *last_topic;   /* the last topic name begun, and */
  const char            *last_interned;  /* its interned copy */
  guint                  next_serial;
};

/* The kick: a source made ready from any thread, whose dispatch runs the
 * reconciliation once however many times it was kicked. */

static gboolean
kick_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  PbHost *self = user_data;

  g_source_set_ready_time (source, -1);

  if (self->depth > 0)
    self->kick_missed = TRUE;
  else
    {
      self->kick_missed = FALSE;
      self->callbacks->reconcile (self->user_data);
    }

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs kick_funcs = {
  .dispatch = kick_dispatch,
};

static void
event_free (PbEvent *event)
{
  g_clear_pointer (&event->partitions, g_variant_unref);
  g_free (event);
}

PbHost *
_pb_host_new (GMainContext          *context,
              int                    priority,
              const PbHostCallbacks *callbacks,
              gpointer               user_data)
{
  PbHost *self = g_new0 (PbHost, 1);

  self->context = g_main_context_ref (context);
  self->priority = priority;
  self->callbacks = callbacks;
  self->user_data = user_data;
  self->to_cancel = g_ptr_array_new_with_free_func (g_object_unref);
  self->warnings.per_second = 10;
  self->sources = g_ptr_array_new ();

  self->kick = g_source_new (&kick_funcs, sizeof (GSource));
  g_source_set_priority (self->kick, priority);
  g_source_set_static_name (self->kick, "[paperboy] run");
  g_source_set_callback (self->kick, NULL, self, NULL);
  g_source_attach (self->kick, context);

  return self;
}

void
_pb_host_free (PbHost *self)
{
  if (self == NULL)
    return;

  _pb_clear_source (&self->kick);
  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  g_ptr_array_unref (self->to_cancel);
  g_ptr_array_unref (self->sources);
  g_main_context_unref (self->context);
  g_free (self);
}

GMainContext *
_pb_host_get_context (PbHost *self)
{
  return self->context;
}

int
_pb_host_get_priority (PbHost *self)
{
  return self->priority;
}

PbRateLimit *
_pb_host_get_warnings (PbHost *self)
{
  return &self->warnings;
}

void
_pb_host_kick (PbHost *self)
{
  /* g_source_set_ready_time() is thread-safe. */
  if (self->kick != NULL)
    g_source_set_ready_time (self->kick, 0);
}

void
_pb_host_fail (PbHost *self,
               GError *error)
{
  self->callbacks->fail (self->user_data, error);
}

void
_pb_host_enter (PbHost *self)
{
  self->depth++;
}

void
_pb_host_leave (PbHost *self)
{
  g_assert (self->depth > 0);

  if (--self->depth == 0 && self->kick_missed)
    _pb_host_kick (self);
}

void
_pb_host_set_exact_state (PbHost   *self,
                          gboolean  exact_state)
{
  self->exact_state = exact_state;
}

gboolean
_pb_host_is_exact_state (PbHost *self)
{
  return self->exact_state;
}

void
_pb_host_source_begin (PbHost         *self,
                       PbSource       *source,
                       const char     *topic,
                       int             partition,
                       gint64          offset,
                       const PbSource *same)
{
  g_assert (!source->active);

  /* Names stay while the run does: intern each only once in a while. */
  if (topic != self->last_topic)
    {
      self->last_topic = topic;
      self->last_interned = g_intern_string (topic);
    }

  source->topic = self->last_interned;
  source->partition = partition;
  source->offset = offset;
  source->serial = same != NULL ? same->serial : ++self->next_serial;
  source->active = TRUE;
  g_ptr_array_add (self->sources, source);

  /* An asynchronous handling goes on later, from the main loop. */
  if (same == NULL)
    {
      source->outer = self->current;
      self->current = source;
    }
}

void
_pb_host_source_end (PbHost   *self,
                     PbSource *source)
{
  if (!source->active)
    return;

  source->active = FALSE;
  g_ptr_array_remove_fast (self->sources, source);
  if (self->current == source)
    self->current = source->outer;
}

const PbSource *
_pb_host_source_of (PbHost  *self,
                    int      partition,
                    GError **error)
{
  const PbSource *found = NULL;

  /* Its changes would be taken for those of another record. */
  if (self->current != NULL && self->current->partition != partition)
    {
      g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                   _("A record of “%s” in partition %d writes a key of partition %d: with "
                     "the processing guarantee exact-state, a handler writes the keys of its "
                     "record’s partition"),
                   self->current->topic, self->current->partition, partition);
      return NULL;
    }

  for (guint i = 0; i < self->sources->len; i++)
    {
      const PbSource *source = g_ptr_array_index (self->sources, i);

      if (source->partition != partition)
        continue;

      /* A handling that goes on asynchronously is the same attempt. */
      if (found != NULL && (found->topic != source->topic || found->offset != source->offset))
        {
          g_set_error (error, PB_ERROR, PB_ERROR_FAILED,
                       _("Records of “%s” and “%s” are handled at once in partition %d: "
                         "with the processing guarantee exact-state, a table cannot "
                         "tell which of them wrote it"),
                       found->topic, source->topic, partition);
          return NULL;
        }
      found = source;
    }

  return found;
}

gboolean
_pb_host_defer (PbHost *self)
{
  if (self->depth == 0)
    return FALSE;

  self->kick_missed = TRUE;
  return TRUE;
}

void
_pb_host_cancel_later (PbHost       *self,
                       GCancellable *cancellable)
{
  g_ptr_array_add (self->to_cancel, g_object_ref (cancellable));
  _pb_host_kick (self);
}

void
_pb_host_emit (PbHost      *self,
               PbEventKind  kind,
               int          value,
               gboolean     flag,
               GVariant    *partitions)
{
  PbEvent *event = g_new0 (PbEvent, 1);

  event->kind = kind;
  event->value = value;
  event->flag = flag;
  event->partitions = partitions != NULL ? g_variant_ref_sink (partitions) : NULL;
  g_queue_push_tail (&self->events, event);
  _pb_host_kick (self);
}

/* Cancellation handlers and signal handlers are application code: they
 * may stop the engine, iterate the main context, even drop their last
 * reference to it, so the run (the callbacks' owner) must hold one. */
void
_pb_host_cancel_queued (PbHost *self)
{
  _pb_host_enter (self);

  while (self->to_cancel->len > 0)
    {
      g_autoptr(GPtrArray) to_cancel = g_steal_pointer (&self->to_cancel);

      self->to_cancel = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < to_cancel->len; i++)
        g_cancellable_cancel (g_ptr_array_index (to_cancel, i));
    }

  _pb_host_leave (self);
}

void
_pb_host_flush (PbHost *self)
{
  PbEvent *event;

  _pb_host_cancel_queued (self);
  _pb_host_enter (self);

  while ((event = g_queue_pop_head (&self->events)) != NULL)
    {
      _pb_gjs_before_call ();
      self->callbacks->event (self->user_data, event);
      event_free (event);
    }

  _pb_host_leave (self);
}

gboolean
_pb_host_has_events (PbHost *self)
{
  return self->events.length > 0;
}

/* Deadlines */

static gboolean
deadline_cb (gpointer user_data)
{
  PbDeadline *deadline = user_data;

  g_clear_pointer (&deadline->source, g_source_unref);
  deadline->passed = TRUE;
  _pb_host_kick (deadline->host);

  return G_SOURCE_REMOVE;
}

void
_pb_deadline_start (PbDeadline *deadline,
                    PbHost     *host,
                    guint       interval_ms,
                    const char *name)
{
  if (deadline->source != NULL)
    return;

  deadline->host = host;
  deadline->source = _pb_timeout_source_new (host->context, interval_ms, G_PRIORITY_DEFAULT,
                                             name, deadline_cb, deadline, NULL);
}

void
_pb_deadline_clear (PbDeadline *deadline)
{
  _pb_clear_source (&deadline->source);
  deadline->passed = FALSE;
}
