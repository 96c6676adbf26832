/* pb-outcome-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-outcome-private.h is a private header of Paperboy."
#endif

#include "pb-error.h"
#include "pb-util-private.h"

G_BEGIN_DECLS

/* What becomes of a record or a batch whose handling failed, once its
 * handler's on_error() or on_bulk_error() answered. The one place where
 * the actions map to what the engine does: a new action (RETRY,
 * DEAD_LETTER) is a new fate here and a new case where fates are acted
 * on. */
typedef enum
{
  PB_FATE_HANDLED,   /* it counts as handled: its offset may be committed */
  PB_FATE_SPLIT,     /* the batch is handled again, one record at a time */
  PB_FATE_FAIL,      /* the run ends with the error; nothing past it is committed */
} PbFate;

/* What failed: a record, or a batch of @n_records (0 for a record). */
typedef struct
{
  const char *topic;
  int         partition;  /* of the record, or of the batch's first */
  gint64      offset;
  guint       n_records;
  const char *handler;
} PbSubject;

/* The fate of @subject, which failed with @error and for which its
 * handler answered @action; logs it (warnings through @warnings). */
PbFate _pb_outcome_decide (const PbSubject *subject,
                           const GError    *error,
                           PbErrorAction    action,
                           gboolean         fail_on_exception,
                           PbRateLimit     *warnings);

G_END_DECLS
