/* The one implementation of priorsep's safetensors files, shared by model files
 * (model_file.c) and training checkpoints (checkpoint.c). Internal to the engine.
 *
 * A file holds one or more groups of tensors, each group every tensor of one WaveNet
 * (its parameter block) under the table's names with a prefix ("" for the parameters,
 * "adam.m." for a moment), all of one architecture. The header's __metadata__ holds the
 * format of the file (its kind), the architecture and the model's info; a kind adds its
 * own keys through a reader and a writer callback.
 *
 * Loading trusts nothing in the file: sizes, offsets, dtypes, shapes (against the
 * architecture, for every group), overlaps (across all groups), unknown and missing
 * tensors and values are checked, and every failure names the file and the field.
 * Saving is atomic: a temporary file next to the target, fsync, rename. */
#ifndef PRIORSEP_SAFETENSORS_IO_H
#define PRIORSEP_SAFETENSORS_IO_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "priorsep/error.h"
#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"

#define PS_ST_METADATA_KEY "__metadata__"

/* The kinds of file; each loader refuses the others' with a message naming what the
 * file is. */
typedef enum ps_st_kind {
    PS_ST_MODEL = 0,      /* "priorsep.wavenet": one group, the parameters */
    PS_ST_CHECKPOINT = 1  /* "priorsep.checkpoint": parameters and AdamW moments */
} ps_st_kind;

typedef struct ps_st_group {
    const char *prefix; /* prepended to every tensor name; "" for none */
    ps_wavenet *net;    /* loading: set on success; saving: the tensors written */
    /* Non-NULL: values must also be >= 0, and this names what they are in messages
     * ("an AdamW second moment"). */
    const char *nonnegative;
} ps_st_group;

/* The file being loaded, as the metadata reader callback sees it. */
typedef struct ps_st_reader {
    const char *name; /* the file, for messages */
    ps_error *err;
    const char *header;
    size_t header_size;
    const uint8_t *data; /* the data section, after the header */
    uint64_t data_size;
} ps_st_reader;

/* Sets "NAME: <message>" and returns -1. */
int ps_st_fail(const ps_st_reader *rd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An untrusted string made fit for a one-line message: at most 40 bytes are shown and
 * anything but printable ASCII becomes '?'. */
typedef struct ps_st_shown {
    char s[48];
} ps_st_shown;
ps_st_shown ps_st_show(const char *s);

bool ps_st_is_printable(unsigned char c);

/* Canonical decimal integers (no needless sign, no leading zeros, spaces, exponents):
 * 0, -1 (not a decimal integer) or -2 (outside min..max). */
int ps_st_parse_decimal(const char *s, int64_t min, int64_t max, int64_t *out);

/* The string value of a metadata key (every value was checked to be a string), or
 * NULL when absent. */
const char *ps_st_meta_value(json_t *meta, const char *key);
/* The same, failing with "__metadata__.KEY: missing" when absent. */
int ps_st_meta_required(const ps_st_reader *rd, json_t *meta, const char *key,
                        const char **out);

/* Kind-specific metadata: a reader is called after the common metadata was read and
 * before anything is allocated (returns 0, or -1 after ps_st_fail()); a writer adds its
 * keys to the metadata object (returns false when an allocation failed). */
typedef int (*ps_st_meta_reader)(const ps_st_reader *rd, json_t *meta, void *ctx);
typedef bool (*ps_st_meta_writer)(json_t *meta, const void *ctx);

/* Loads a file of `kind` from memory into n groups (prefixes and nonnegative set by the
 * caller). On success every groups[i].net is a new model, *info (may be NULL) is
 * filled and 0 is returned; on failure nothing is allocated or changed and -1 is
 * returned. */
int ps_st_load(const void *data, size_t size, const char *name, ps_st_kind kind,
               ps_st_group *groups, int n, ps_model_info *info,
               ps_st_meta_reader read_meta, void *ctx, ps_error *err);

/* Reads a whole regular file of at most PS_MODEL_FILE_MAX_BYTES (checked before the
 * allocation); *out is to be freed. */
int ps_st_read_file(const char *path, ps_st_kind kind, uint8_t **out, size_t *size,
                    ps_error *err);

/* Writes the n groups (all of one architecture: the caller checks) and the metadata
 * atomically to path. What a loader would refuse (info fields, non-finite or negative
 * values) is refused before anything is written. */
int ps_st_save(const char *path, ps_st_kind kind, const ps_st_group *groups, int n,
               const ps_model_info *info, ps_st_meta_writer write_meta, const void *ctx,
               ps_error *err);

#endif
