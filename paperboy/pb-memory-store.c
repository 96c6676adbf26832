/* pb-memory-store.c
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "pb-memory-store-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "pb-error.h"
#include "pb-store-private.h"

/**
 * PbMemoryStore:
 *
 * A [iface@Paperboy.Store] in memory: a hash table of values and the
 * changelog offsets. Nothing survives the process, so a table with this
 * store restores the whole changelog of the partitions it holds in each
 * new process.
 *
 * [method@Paperboy.Store.close] keeps the data; only finalizing the store
 * frees it.
 *
 * While an engine runs, its table writes a set to this store at once, before
 * the changelog has it, and moves the store's offsets as the changes are
 * delivered. When the run ends, or gives a partition up, a partition that
 * holds a change never delivered is dropped from the store.
 */

struct _PbMemoryStore
{
  GObject     parent_instance;

  GHashTable *values;   /* its key → Entry */
  GArray     *offsets;  /* gint64 by partition, -1 for none */
  GArray     *sources;  /* PbStoreSource: exact-state's */
};

/* A value and its key, which is the map's: a new value of the key takes
 * its place without a lookup more. */
typedef struct
{
  GVariant *value;
  char      key[];
} Entry;

static void pb_memory_store_iface_init (PbStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PbMemoryStore, pb_memory_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (PB_TYPE_STORE,
                                                      pb_memory_store_iface_init))

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  g_variant_unref (entry->value);
  g_free (entry);
}

static GVariant *
pb_memory_store_lookup (PbStore     *store,
                        const char  *key,
                        GError     **error)
{
  PbMemoryStore *self = PB_MEMORY_STORE (store);
  Entry *entry = g_hash_table_lookup (self->values, key);

  return entry != NULL ? g_variant_ref (entry->value) : NULL;
}

void
_pb_memory_store_put (PbMemoryStore *self,
                      const char    *key,
                      GVariant      *value)
{
  Entry *entry;
  gsize len;

  if (value == NULL)
    {
      g_hash_table_remove (self->values, key);
      return;
    }

  entry = g_hash_table_lookup (self->values, key);
  if (entry != NULL)
    {
      GVariant *old = entry->value;

      entry->value = g_variant_ref (value);
      g_variant_unref (old);
      return;
    }

  len = strlen (key);
  entry = g_malloc (sizeof (Entry) + len + 1);
  entry->value = g_variant_ref (value);
  memcpy (entry->key, key, len + 1);
  g_hash_table_insert (self->values, entry->key, entry);
}

void
_pb_memory_store_set_offset (PbMemoryStore *self,
                             int            partition,
                             gint64         next_offset)
{
  static const gint64 none = -1;

  while (self->offsets->len <= (guint)partition)
    g_array_append_val (self->offsets, none);

  g_array_index (self->offsets, gint64, partition) = next_offset;
}

static void
drop_sources (PbMemoryStore *self,
              int            partition)
{
  for (guint i = self->sources->len; i > 0; i--)
    if (g_array_index (self->sources, PbStoreSource, i - 1).partition == partition)
      g_array_remove_index_fast (self->sources, i - 1);
}

GArray *
_pb_memory_store_get_sources (PbMemoryStore *self,
                              int            partition)
{
  GArray *sources = _pb_store_sources_new ();

  for (guint i = 0; i < self->sources->len; i++)
    {
      PbStoreSource source = g_array_index (self->sources, PbStoreSource, i);

      if (source.partition != partition)
        continue;
      source.topic = g_strdup (source.topic);
      g_array_append_val (sources, source);
    }

  return sources;
}

static gboolean
pb_memory_store_apply (PbStore       *store,
                       PbStoreBatch  *batch,
                       GError       **error)
{
  PbMemoryStore *self = PB_MEMORY_STORE (store);
  guint n_changes = pb_store_batch_get_n_changes (batch);
  guint n_offsets = pb_store_batch_get_n_offsets (batch);
  GArray *sources;

  /* Nothing below can fail, so the batch applies whole. */
  for (guint i = 0; i < n_changes; i++)
    {
      GVariant *value;
      const char *key = pb_store_batch_get_change (batch, i, &value);

      _pb_memory_store_put (self, key, value);
    }

  for (guint i = 0; i < n_offsets; i++)
    {
      gint64 next_offset;
      int partition = pb_store_batch_get_offset (batch, i, &next_offset);

      _pb_memory_store_set_offset (self, partition, next_offset);
      if (next_offset < 0)
        drop_sources (self, partition);
    }

  sources = _pb_store_batch_get_sources (batch);
  for (guint i = 0; sources != NULL && i < sources->len; i++)
    {
      const PbStoreSource *source = &g_array_index (sources, PbStoreSource, i);

      _pb_store_sources_set (self->sources, source->partition, source->topic,
                             source->offset, source->seq);
    }

  return TRUE;
}

static gboolean
pb_memory_store_foreach (PbStore             *store,
                         PbStoreForeachFunc   func,
                         gpointer             user_data,
                         GError             **error)
{
  PbMemoryStore *self = PB_MEMORY_STORE (store);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->values);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      if (!func (key, ((Entry *)value)->value, user_data))
        break;
    }

  return TRUE;
}

static GVariant *
pb_memory_store_get_offsets (PbStore  *store,
                             GError  **error)
{
  PbMemoryStore *self = PB_MEMORY_STORE (store);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ix}"));
  for (guint i = 0; i < self->offsets->len; i++)
    {
      gint64 next_offset = g_array_index (self->offsets, gint64, i);

      if (next_offset >= 0)
        g_variant_builder_add (&builder, "{ix}", (gint32)i, next_offset);
    }

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static gboolean
pb_memory_store_wipe (PbStore  *store,
                      GError  **error)
{
  PbMemoryStore *self = PB_MEMORY_STORE (store);

  g_hash_table_remove_all (self->values);
  g_array_set_size (self->offsets, 0);
  g_array_set_size (self->sources, 0);

  return TRUE;
}

static void
pb_memory_store_iface_init (PbStoreInterface *iface)
{
  iface->lookup = pb_memory_store_lookup;
  iface->apply = pb_memory_store_apply;
  iface->foreach = pb_memory_store_foreach;
  iface->get_offsets = pb_memory_store_get_offsets;
  iface->wipe = pb_memory_store_wipe;
}

static void
pb_memory_store_finalize (GObject *object)
{
  PbMemoryStore *self = PB_MEMORY_STORE (object);

  g_clear_pointer (&self->values, g_hash_table_unref);
  g_clear_pointer (&self->offsets, g_array_unref);
  g_clear_pointer (&self->sources, g_array_unref);

  G_OBJECT_CLASS (pb_memory_store_parent_class)->finalize (object);
}

static void
pb_memory_store_class_init (PbMemoryStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pb_memory_store_finalize;
}

static void
pb_memory_store_init (PbMemoryStore *self)
{
  self->values = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, entry_free);
  self->offsets = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->sources = _pb_store_sources_new ();
}

/**
 * pb_memory_store_new:
 *
 * Creates an empty [class@Paperboy.MemoryStore].
 *
 * Returns: (transfer full): a new store
 */
PbStore *
pb_memory_store_new (void)
{
  return g_object_new (PB_TYPE_MEMORY_STORE, NULL);
}
