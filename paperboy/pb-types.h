/* pb-types.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_INSIDE) && !defined (PAPERBOY_COMPILATION)
# error "Only <paperboy.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

typedef struct _PbBulkHandler PbBulkHandler;
typedef struct _PbEngine      PbEngine;
typedef struct _PbHandler     PbHandler;
typedef struct _PbMessage     PbMessage;
typedef struct _PbMockCluster PbMockCluster;
typedef struct _PbTable       PbTable;

G_END_DECLS
