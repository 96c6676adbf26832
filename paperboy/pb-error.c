/* pb-error.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-error.h"

/**
 * pb_error_quark:
 *
 * Gets the quark of the %PB_ERROR domain.
 *
 * Returns: the quark of the Paperboy error domain
 */
G_DEFINE_QUARK (pb-error-quark, pb_error)
