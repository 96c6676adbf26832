/* pb-store.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_INSIDE) && !defined (PAPERBOY_COMPILATION)
# error "Only <paperboy.h> can be included directly."
#endif

#include <gio/gio.h>

#include "pb-version-macros.h"

G_BEGIN_DECLS

#define PB_TYPE_STORE_BATCH (pb_store_batch_get_type ())

typedef struct _PbStoreBatch PbStoreBatch;

PB_AVAILABLE_IN_ALL
GType         pb_store_batch_get_type      (void) G_GNUC_CONST;
PB_AVAILABLE_IN_ALL
PbStoreBatch *pb_store_batch_new           (void);
PB_AVAILABLE_IN_ALL
PbStoreBatch *pb_store_batch_ref           (PbStoreBatch  *self);
PB_AVAILABLE_IN_ALL
void          pb_store_batch_unref         (PbStoreBatch  *self);
PB_AVAILABLE_IN_ALL
void          pb_store_batch_put           (PbStoreBatch  *self,
                                            const char    *key,
                                            GVariant      *value);
PB_AVAILABLE_IN_ALL
void          pb_store_batch_set_offset    (PbStoreBatch  *self,
                                            int            partition,
                                            gint64         next_offset);
PB_AVAILABLE_IN_ALL
guint         pb_store_batch_get_n_changes (PbStoreBatch  *self);
PB_AVAILABLE_IN_ALL
const char   *pb_store_batch_get_change    (PbStoreBatch  *self,
                                            guint          index,
                                            GVariant     **value);
PB_AVAILABLE_IN_ALL
guint         pb_store_batch_get_n_offsets (PbStoreBatch  *self);
PB_AVAILABLE_IN_ALL
int           pb_store_batch_get_offset    (PbStoreBatch  *self,
                                            guint          index,
                                            gint64        *next_offset);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PbStoreBatch, pb_store_batch_unref)

/**
 * PbStoreForeachFunc:
 * @key: a key of the store
 * @value: its value
 * @user_data: the data given to [method@Paperboy.Store.foreach]
 *
 * Called for each entry of a store.
 *
 * Returns: %TRUE to go on, %FALSE to stop
 */
typedef gboolean (*PbStoreForeachFunc) (const char *key,
                                        GVariant   *value,
                                        gpointer    user_data);

#define PB_TYPE_STORE (pb_store_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_INTERFACE (PbStore, pb_store, PB, STORE, GObject)

struct _PbStoreInterface
{
  GTypeInterface g_iface;

  gboolean  (*open)        (PbStore             *self,
                            GError             **error);
  void      (*close)       (PbStore             *self);
  GVariant *(*lookup)      (PbStore             *self,
                            const char          *key,
                            GError             **error);
  gboolean  (*apply)       (PbStore             *self,
                            PbStoreBatch        *batch,
                            GError             **error);
  gboolean  (*foreach)     (PbStore             *self,
                            PbStoreForeachFunc   func,
                            gpointer             user_data,
                            GError             **error);
  GVariant *(*get_offsets) (PbStore             *self,
                            GError             **error);
  gboolean  (*wipe)        (PbStore             *self,
                            GError             **error);

  /*< private >*/
  gpointer _reserved[8];
};

PB_AVAILABLE_IN_ALL
gboolean  pb_store_open        (PbStore             *self,
                                GError             **error);
PB_AVAILABLE_IN_ALL
void      pb_store_close       (PbStore             *self);
PB_AVAILABLE_IN_ALL
GVariant *pb_store_lookup      (PbStore             *self,
                                const char          *key,
                                GError             **error) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
gboolean  pb_store_apply       (PbStore             *self,
                                PbStoreBatch        *batch,
                                GError             **error);
PB_AVAILABLE_IN_ALL
gboolean  pb_store_foreach     (PbStore             *self,
                                PbStoreForeachFunc   func,
                                gpointer             user_data,
                                GError             **error);
PB_AVAILABLE_IN_ALL
GVariant *pb_store_get_offsets (PbStore             *self,
                                GError             **error) G_GNUC_WARN_UNUSED_RESULT;
PB_AVAILABLE_IN_ALL
gboolean  pb_store_wipe        (PbStore             *self,
                                GError             **error);

#define PB_TYPE_MEMORY_STORE (pb_memory_store_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbMemoryStore, pb_memory_store, PB, MEMORY_STORE, GObject)

PB_AVAILABLE_IN_ALL
PbStore    *pb_memory_store_new           (void);

#define PB_TYPE_ROCKSDB_STORE (pb_rocksdb_store_get_type ())

PB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (PbRocksdbStore, pb_rocksdb_store, PB, ROCKSDB_STORE, GObject)

PB_AVAILABLE_IN_ALL
PbStore    *pb_rocksdb_store_new          (const char *path);
PB_AVAILABLE_IN_ALL
const char *pb_rocksdb_store_get_path     (PbRocksdbStore *self);
PB_AVAILABLE_IN_ALL
gboolean    pb_rocksdb_store_get_read_only (PbRocksdbStore *self);
PB_AVAILABLE_IN_ALL
void        pb_rocksdb_store_set_read_only (PbRocksdbStore *self,
                                            gboolean        read_only);

G_END_DECLS
