/* pb-host-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-host-private.h is a private header of Paperboy."
#endif

#include <gio/gio.h>

#include "pb-util-private.h"

G_BEGIN_DECLS

/* The scheduling point of a run, which its parts share and talk back
 * through. A part never calls the run: it records what happened in its
 * own state and kicks the host; the host's owner (the run) then
 * reconciles everything once, from one GSource, whatever kicked it.
 *
 * The host also says whether handler code is on the stack (enter/leave
 * around every call into a handler, a signal or a cancellable): a kick
 * then waits until that code returned, so nothing is handled while a
 * handler iterates the main context. What runs handler code besides the
 * records themselves (cancellations, the run's events) is queued here and
 * flushed from the reconciliation. */
typedef struct _PbHost PbHost;

/* What a run says to its application, from the reconciliation. */
typedef enum
{
  PB_EVENT_STATE,          /* value: a PbEngineState */
  PB_EVENT_CONNECTED,      /* flag */
  PB_EVENT_MODE,           /* value: a PbEngineMode */
  PB_EVENT_STEP,           /* value: the step; flag: started (else finished) */
  PB_EVENT_ASSIGNED,       /* partitions */
  PB_EVENT_REVOKED,        /* partitions; flag: lost */
} PbEventKind;

typedef struct
{
  PbEventKind  kind;
  int          value;
  gboolean     flag;
  GVariant    *partitions;   /* a(si), owned, nullable */
} PbEvent;

typedef struct
{
  /* The kick's dispatch: never while handler code is on the stack. */
  void (*reconcile) (gpointer       user_data);
  /* Something ends the run: @error is owned by the callee. */
  void (*fail)      (gpointer       user_data,
                     GError        *error);
  /* An event, from _pb_host_flush(): application code. */
  void (*event)     (gpointer       user_data,
                     const PbEvent *event);
} PbHostCallbacks;

PbHost       *_pb_host_new            (GMainContext          *context,
                                       int                    priority,
                                       const PbHostCallbacks *callbacks,
                                       gpointer               user_data);
/* Stops the kicks; queued cancellations and events are dropped. */
void          _pb_host_free           (PbHost                *self);

GMainContext *_pb_host_get_context    (PbHost                *self);
int           _pb_host_get_priority   (PbHost                *self);
/* Warnings about records, rate limited for the whole run. */
PbRateLimit  *_pb_host_get_warnings   (PbHost                *self);

/* Any thread: reconcile soon, once however many kicks came. */
void          _pb_host_kick           (PbHost                *self);
/* Ends the run with @error (owned), after a graceful stop. */
void          _pb_host_fail           (PbHost                *self,
                                       GError                *error);

/* Around every call into handler code. */
void          _pb_host_enter          (PbHost                *self);
void          _pb_host_leave          (PbHost                *self);
/* Whether handler code is on the stack: then the reconciliation waits
 * until it returned, and TRUE says so to a caller that must wait too. */
gboolean      _pb_host_defer          (PbHost                *self);

/* The record whose handling writes a table, under the processing
 * guarantee exact-state: its changes say where they came from. */
typedef struct _PbSource PbSource;
struct _PbSource
{
  const char     *topic;      /* interned */
  int             partition;
  gint64          offset;
  guint           serial;     /* the attempt: a record handled again has another */
  gboolean        active;
  const PbSource *outer;      /* the handler on the stack below this one's */
};

void            _pb_host_set_exact_state (PbHost         *self,
                                          gboolean        exact_state);
gboolean        _pb_host_is_exact_state  (PbHost         *self);
/* @source (the caller's) is being handled from now on: a new attempt, or,
 * with @same, the one @same is (an asynchronous handling goes on). */
void            _pb_host_source_begin    (PbHost         *self,
                                          PbSource       *source,
                                          const char     *topic,
                                          int             partition,
                                          gint64          offset,
                                          const PbSource *same);
void            _pb_host_source_end      (PbHost         *self,
                                          PbSource       *source);
/* The record being handled whose partition is @partition: NULL when
 * there is none, or with @error set when records of several topics are,
 * or when the handler on the stack handles a record of another
 * partition. */
const PbSource *_pb_host_source_of       (PbHost         *self,
                                          int             partition,
                                          GError        **error);

/* Cancels @cancellable (a reference is taken) from the next flush:
 * "cancelled" handlers are application code. */
void          _pb_host_cancel_later   (PbHost                *self,
                                       GCancellable          *cancellable);
/* Queues an event (@partitions, if any, is sunk). */
void          _pb_host_emit           (PbHost                *self,
                                       PbEventKind            kind,
                                       int                    value,
                                       gboolean               flag,
                                       GVariant              *partitions);
/* Runs the cancellations queued: application code, so only where none
 * is on the stack. */
void          _pb_host_cancel_queued  (PbHost                *self);
/* The same, then emits the events queued. */
void          _pb_host_flush          (PbHost                *self);
/* Whether events wait for the next flush. */
gboolean      _pb_host_has_events     (PbHost                *self);

/* A deadline: a timer that kicks the host when it passes, and remembers
 * that it did. */
typedef struct
{
  PbHost   *host;
  GSource  *source;
  gboolean  passed;
} PbDeadline;

/* Starts @deadline @interval_ms from now, unless it runs already. */
void          _pb_deadline_start      (PbDeadline            *deadline,
                                       PbHost                *host,
                                       guint                  interval_ms,
                                       const char            *name);
/* Stops @deadline and forgets that it passed. */
void          _pb_deadline_clear      (PbDeadline            *deadline);

static inline gboolean
_pb_deadline_running (const PbDeadline *deadline)
{
  return deadline->source != NULL;
}

G_END_DECLS
