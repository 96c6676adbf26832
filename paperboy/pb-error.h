/* pb-error.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_INSIDE) && !defined (PAPERBOY_COMPILATION)
# error "Only <paperboy.h> can be included directly."
#endif

#include <glib.h>

#include "pb-version-macros.h"

G_BEGIN_DECLS

/**
 * PB_ERROR:
 *
 * The error domain of Paperboy. Its codes are in [enum@Paperboy.Error].
 */
#define PB_ERROR (pb_error_quark ())

/**
 * PbError:
 * @PB_ERROR_FAILED: a failure that fits no other code
 * @PB_ERROR_CONFIG: a configuration key, value or combination was rejected
 * @PB_ERROR_KAFKA: Kafka or librdkafka reported an error (a missing topic,
 *   a fatal client error, a failed delivery)
 * @PB_ERROR_HANDLER: a handler failed without giving an error of its own
 *   (for example a Python exception that is not a `GLib.Error`), or its
 *   asynchronous handling timed out or was dropped
 * @PB_ERROR_DESERIALIZE: a record's key or value could not be decoded
 * @PB_ERROR_STORE: a table store could not be opened, read or written
 * @PB_ERROR_CHANGELOG: a table's changelog could not be read or written
 * @PB_ERROR_NO_HANDLER: a record, topic or operation has no handler
 * @PB_ERROR_CANCELLED: the engine stopped before the operation could be
 *   done (a record produced while a stopping engine leaves its group). An
 *   operation cancelled through a #GCancellable it was given fails with
 *   %G_IO_ERROR_CANCELLED instead, as in GIO
 * @PB_ERROR_NOT_OWNER: a table key belongs to a partition that another
 *   member of the consumer group owns, or that this one is still
 *   restoring
 * @PB_ERROR_STORE_CORRUPT: a table store's data is damaged; a table wipes
 *   such a store and restores it from its changelog (see
 *   [property@Paperboy.Table:wipe-damaged-store])
 *
 * Error codes in the %PB_ERROR domain.
 */
typedef enum
{
  PB_ERROR_FAILED,
  PB_ERROR_CONFIG,
  PB_ERROR_KAFKA,
  PB_ERROR_HANDLER,
  PB_ERROR_DESERIALIZE,
  PB_ERROR_STORE,
  PB_ERROR_CHANGELOG,
  PB_ERROR_NO_HANDLER,
  PB_ERROR_CANCELLED,
  PB_ERROR_NOT_OWNER,
  PB_ERROR_STORE_CORRUPT,
} PbError;

/**
 * PbErrorAction:
 * @PB_ERROR_ACTION_STOP: stop: with [property@Paperboy.Engine:fail-on-exception]
 *   the engine commits the offsets before the failing record and
 *   [method@Paperboy.Engine.run] ends with the error; without it the error
 *   is logged as a warning and the record counts as handled. This is the
 *   value 0, which bindings return when an `on_error` override throws.
 * @PB_ERROR_ACTION_CONTINUE: log the error at debug level and go on; the
 *   record counts as handled
 * @PB_ERROR_ACTION_SPLIT: only from
 *   [vfunc@Paperboy.BulkHandler.on_bulk_error]: handle the records of the
 *   failed batch again one by one, through the single-record lifecycle of
 *   [class@Paperboy.Handler], where [vfunc@Paperboy.Handler.on_error]
 *   decides for each record that fails. This narrows a failed batch down
 *   to its poison records. From [vfunc@Paperboy.Handler.on_error] it means
 *   %PB_ERROR_ACTION_STOP.
 *
 * What [vfunc@Paperboy.Handler.on_error] and
 * [vfunc@Paperboy.BulkHandler.on_bulk_error] ask the engine to do with a
 * failed record or batch.
 */
typedef enum
{
  PB_ERROR_ACTION_STOP = 0,
  PB_ERROR_ACTION_CONTINUE,
  PB_ERROR_ACTION_SPLIT,
} PbErrorAction;

PB_AVAILABLE_IN_ALL
GQuark pb_error_quark (void);

G_END_DECLS
