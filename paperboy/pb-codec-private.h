/* pb-codec-private.h
 *
 * Copyright 2026 The Paperboy authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined (PAPERBOY_COMPILATION)
# error "pb-codec-private.h is a private header of Paperboy."
#endif

#include <glib.h>
#include <librdkafka/rdkafka.h>

G_BEGIN_DECLS

/* A table's values in its changelog: a change is a record whose key is the
 * table's key, whose value is the GVariant as JSON (encoding json/1, what
 * json-glib writes) and whose headers give the GVariant type and the
 * encoding; a tombstone deletes. Nothing here knows of tables. */

#define PB_CODEC_TYPE_HEADER     "paperboy.type"
#define PB_CODEC_ENCODING_HEADER "paperboy.encoding"
#define PB_CODEC_ENCODING        "json/1"
/* Exact-state: the record a change comes from, "offset:seq:topic". */
#define PB_CODEC_SOURCE_HEADER   "paperboy.source"

/* The value as a table holds it, its JSON appended to @json: values whose type JSON
 * cannot carry exactly (a `v`, a maybe of a maybe, a dictionary) are
 * normalized through one JSON round trip, so that what is read back equals
 * what was written. Refuses doubles that are not finite and dictionaries
 * keyed by object paths or signatures. A floating @value is sunk; the
 * caller keeps any other reference. */
GVariant           *_pb_codec_encode        (GVariant                  *value,
                                             GString                   *json,
                                             GError                   **error);
/* The value of @json, of @type (NULL: the type JSON suggests). */
GVariant           *_pb_codec_decode        (const char                *json,
                                             gsize                      json_len,
                                             const char                *type,
                                             GError                   **error);

/* The headers of a change to @value (the encoded value, or NULL for a
 * tombstone, which has none), with room for the source header when
 * @with_source. NULL when there are none. */
rd_kafka_headers_t *_pb_codec_headers_new   (GVariant                  *value,
                                             gboolean                   with_source);
void                _pb_codec_add_source    (rd_kafka_headers_t        *headers,
                                             const char                *topic,
                                             gint64                     offset,
                                             guint                      seq);
/* The source of a changelog record: FALSE if it has none (or one that
 * cannot be read); @topic is then NULL. */
gboolean            _pb_codec_get_source    (const rd_kafka_message_t  *rkm,
                                             char                     **topic,
                                             gint64                    *offset,
                                             guint                     *seq);
/* A changelog record's value, from its headers and JSON; NULL with
 * @error (PB_ERROR_CHANGELOG) for a record that is not a change. Sets
 * @deleted for a tombstone. */
GVariant           *_pb_codec_decode_record (const rd_kafka_message_t  *rkm,
                                             gboolean                  *deleted,
                                             GError                   **error);

G_END_DECLS
