/* pb-store-uri.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-store-uri-private.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "pb-error.h"

gboolean
_pb_store_check_uri (const char  *uri,
                     GError     **error)
{
  if (g_strcmp0 (uri, PB_STORE_MEMORY_SCHEME) == 0 || g_strcmp0 (uri, PB_STORE_ROCKSDB_SCHEME) == 0)
    return TRUE;

  if (uri != NULL && g_str_has_prefix (uri, PB_STORE_ROCKSDB_SCHEME "/") &&
      uri[strlen (PB_STORE_ROCKSDB_SCHEME "/")] != '\0')
    return TRUE;

  g_set_error (error, PB_ERROR, PB_ERROR_CONFIG,
               _("Unknown table store “%s”: use memory://, rocksdb:// or rocksdb:///absolute/path"),
               uri != NULL ? uri : "");
  return FALSE;
}

PbStore *
_pb_store_new_for_uri (const char  *uri,
                       const char  *path,
                       GError     **error)
{
  if (!_pb_store_check_uri (uri, error))
    return NULL;

  if (g_str_equal (uri, PB_STORE_MEMORY_SCHEME))
    return pb_memory_store_new ();

  if (g_str_equal (uri, PB_STORE_ROCKSDB_SCHEME))
    return pb_rocksdb_store_new (path);

  return pb_rocksdb_store_new (uri + strlen (PB_STORE_ROCKSDB_SCHEME));
}
