/* pb-gjs.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-gjs-private.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Handlers written in JavaScript.
 *
 * Every message handed to a JavaScript handler gets a JavaScript wrapper,
 * which holds the message until the collector finalizes the wrapper. GJS
 * decides when to collect from the size of its own heap, where a wrapper
 * is small: the message behind it, and GJS's bookkeeping of wrappers, do
 * not count. At the rate the engine hands messages over, hundreds of
 * thousands of wrappers pile up between two collections (measured with
 * GJS 1.74: 300 MB after 300,000 records), and:
 *
 * - before GJS 1.86, making a wrapper takes time linear in the number of
 *   wrappers alive (a check GJS keeps in release builds), so the rate
 *   decays as they pile up (from 83,000 to 14,000 records a second);
 * - before GJS 1.82, an incremental collection that yields to the program
 *   in its sweeping phase leaves GJS refusing every call into JavaScript
 *   until the collection completes ("Attempting to run a JS callback
 *   during garbage collection", fixed by GJS commit 4e53510f), and the
 *   slices that would complete it never come while the engine keeps the
 *   main loop busy: every record then fails without an error, and a
 *   refused call returns whatever was in its return slot.
 *
 * So the engine runs a full collection from its scheduling point after
 * every COLLECT_EVERY messages handed to JavaScript, but never spends more
 * time collecting than it spent between two collections (a collection
 * took 4 ms a time with GJS 1.74 and a small heap: the handling rate went
 * up from 70,000 to 180,000 records a second, and peak memory down from
 * 170 to 55 MB); and with GJS older than 1.82 it finishes an incremental
 * collection in progress before it calls into JavaScript.
 *
 * GJS is reached through its public C API and two public JSAPI functions
 * of SpiderMonkey, looked up at run time: the library does not link to
 * GJS, and all of this is a no-op in a process without it. GJS 1.82 is
 * the first built on SpiderMonkey 128, which gjs_get_js_version() gives. */

#define COLLECT_EVERY   2000
#define MAX_GC_SHARE    2      /* collect at most 1/MAX_GC_SHARE of the time */
#define FIXED_GC_MOZJS  128

typedef struct
{
  gboolean      present;
  gboolean      finish_incremental;
  gpointer    (*get_current)       (void);
  gpointer    (*get_native)        (gpointer context);
  void        (*gc)                (gpointer context);
  bool        (*in_progress)       (gpointer cx);
  void        (*finish)            (gpointer cx,
                                    int      reason);
} Gjs;

static Gjs gjs;
static GQuark custom_type_quark;
static guint handed;
static gint64 next_collection;

static void
gjs_init (void)
{
  static gsize once;

  if (g_once_init_enter (&once))
    {
      const char *(*js_version) (void) = dlsym (RTLD_DEFAULT, "gjs_get_js_version");

      gjs.get_current = dlsym (RTLD_DEFAULT, "gjs_context_get_current");
      gjs.get_native = dlsym (RTLD_DEFAULT, "gjs_context_get_native_context");
      gjs.gc = dlsym (RTLD_DEFAULT, "gjs_context_gc");
      gjs.present = gjs.get_current != NULL && gjs.get_native != NULL && gjs.gc != NULL;

      /* JS::IsIncrementalGCInProgress (JSContext *) and
       * JS::FinishIncrementalGC (JSContext *, JS::GCReason) */
      gjs.in_progress = dlsym (RTLD_DEFAULT, "_ZN2JS25IsIncrementalGCInProgressEP9JSContext");
      gjs.finish = dlsym (RTLD_DEFAULT, "_ZN2JS19FinishIncrementalGCEP9JSContextNS_8GCReasonE");
      gjs.finish_incremental = gjs.present && gjs.in_progress != NULL && gjs.finish != NULL &&
                               js_version != NULL && atoi (js_version ()) < FIXED_GC_MOZJS;

      /* What GJS sets on the types it registers. */
      custom_type_quark = g_quark_from_static_string ("gjs::custom-type");

      g_once_init_leave (&once, 1);
    }
}

gboolean
_pb_gjs_is_javascript (GType type)
{
  gjs_init ();

  return gjs.present && g_type_get_qdata (type, custom_type_quark) != NULL;
}

/* GJS turns a value it cannot convert to the C return type into an error
 * "Expected … for Return value but got …", thrown like any other exception
 * of the function. */
gboolean
_pb_gjs_is_wrong_return (const GError *error)
{
  return error != NULL &&
         error->domain != 0 &&
         error->domain == g_quark_try_string ("gjs-js-error-quark") &&
         strstr (error->message, " for Return value ") != NULL;
}

void
_pb_gjs_before_call (void)
{
  gpointer context;
  gpointer cx;

  gjs_init ();

  if (!gjs.finish_incremental || (context = gjs.get_current ()) == NULL)
    return;

  cx = gjs.get_native (context);
  if (gjs.in_progress (cx))
    gjs.finish (cx, 0 /* JS::GCReason::API */);
}

void
_pb_gjs_handed (guint n)
{
  handed += n;
}

void
_pb_gjs_collect_if_due (void)
{
  gpointer context;
  gint64 start;
  gint64 end;

  if (handed < COLLECT_EVERY || !gjs.present || (context = gjs.get_current ()) == NULL)
    return;

  start = g_get_monotonic_time ();
  if (start < next_collection)
    return;

  handed = 0;
  gjs.gc (context);

  end = g_get_monotonic_time ();
  next_collection = end + (end - start) * (MAX_GC_SHARE - 1);
  g_debug ("Collected JavaScript garbage in %" G_GINT64_FORMAT " µs", end - start);
}
