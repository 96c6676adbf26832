/* pb-outcome.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-outcome-private.h"

/* Logs what becomes of @subject. */
static void
log_fate (const PbSubject *subject,
          GLogLevelFlags   level,
          PbFate           fate,
          const GError    *error,
          PbRateLimit     *warnings)
{
  const char *topic = subject->topic;
  int partition = subject->partition;
  gint64 offset = subject->offset;

  if (subject->n_records == 0)
    _pb_log_record (warnings, level, topic, partition, offset, subject->handler,
                    "%s %s[%d]@%" G_GINT64_FORMAT " failed: %s",
                    fate == PB_FATE_FAIL ? "Stopping: handling" : "Handling",
                    topic, partition, offset, error->message);
  else
    _pb_log_record (warnings, level, topic, partition, offset, subject->handler,
                    "%s a batch of %u records of %s from %s[%d]@%" G_GINT64_FORMAT ": %s",
                    fate == PB_FATE_FAIL ? "Stopping: failed to handle"
                    : fate == PB_FATE_SPLIT ? "Handling one by one" : "Failed to handle",
                    subject->n_records, topic, topic, partition, offset, error->message);
}

PbFate
_pb_outcome_decide (const PbSubject *subject,
                    const GError    *error,
                    PbErrorAction    action,
                    gboolean         fail_on_exception,
                    PbRateLimit     *warnings)
{
  gboolean batch = subject->n_records > 0;

  g_return_val_if_fail (error != NULL, PB_FATE_HANDLED);

  switch ((int)action)
    {
    case PB_ERROR_ACTION_CONTINUE:
      log_fate (subject, G_LOG_LEVEL_DEBUG, PB_FATE_HANDLED, error, warnings);
      return PB_FATE_HANDLED;

    case PB_ERROR_ACTION_SPLIT:
      if (batch)
        {
          log_fate (subject, G_LOG_LEVEL_DEBUG, PB_FATE_SPLIT, error, warnings);
          return PB_FATE_SPLIT;
        }
      /* Only a batch can be split: for a record, SPLIT is STOP. */
      G_GNUC_FALLTHROUGH;

    case PB_ERROR_ACTION_STOP:
    default:
      /* Anything else a binding returned: stopping is the safe answer. */
      if (fail_on_exception)
        {
          log_fate (subject, G_LOG_LEVEL_MESSAGE, PB_FATE_FAIL, error, warnings);
          return PB_FATE_FAIL;
        }
      log_fate (subject, G_LOG_LEVEL_WARNING, PB_FATE_HANDLED, error, warnings);
      return PB_FATE_HANDLED;
    }
}
