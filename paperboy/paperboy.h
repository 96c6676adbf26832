/* paperboy.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#define PAPERBOY_INSIDE
# include "pb-version.h"
# include "pb-version-macros.h"
# include "pb-types.h"
# include "pb-enum-types.h"
# include "pb-error.h"
# include "pb-deserializer.h"
# include "pb-message.h"
# include "pb-handler.h"
# include "pb-bulk-handler.h"
# include "pb-engine.h"
# include "pb-mock-cluster.h"
# include "pb-store.h"
# include "pb-table.h"
#undef PAPERBOY_INSIDE
