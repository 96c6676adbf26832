/* pb-version-macros.h
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

#include "pb-version.h"

#if defined (PAPERBOY_COMPILATION) && defined (__GNUC__)
# define _PB_EXTERN __attribute__((visibility("default"))) extern
#else
# define _PB_EXTERN extern
#endif

#define PB_VERSION_1_0 (G_ENCODE_VERSION (1, 0))

#ifndef PB_VERSION_MIN_REQUIRED
# define PB_VERSION_MIN_REQUIRED (PB_VERSION_1_0)
#endif

/**
 * PB_AVAILABLE_IN_ALL:
 *
 * Marks a symbol that has been available since the first release.
 */
#define PB_AVAILABLE_IN_ALL _PB_EXTERN

/**
 * PB_AVAILABLE_IN_1_0:
 *
 * Marks a symbol that has been available since version 1.0.
 */
#define PB_AVAILABLE_IN_1_0 _PB_EXTERN
