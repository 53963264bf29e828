/* Training checkpoints (see checkpoint.h): three tensor groups and the trainer's state
 * in the metadata. The file itself is read, checked and written by safetensors_io.c,
 * the same code as model files; this file adds only the checkpoint's own keys. */
#include "priorsep/checkpoint.h"

#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_io.h"

#define STEP_KEY "step"
#define RNG_KEY "rng"
#define EXTRA_PREFIX "extra."
#define RNG_DIGITS 16

/* The groups of a checkpoint, in file order. */
static void init_groups(ps_st_group g[3], ps_wavenet *net, ps_wavenet *m, ps_wavenet *v)
{
    g[0] = (ps_st_group){.prefix = "", .net = net};
    g[1] = (ps_st_group){.prefix = "adam.m.", .net = m};
    g[2] = (ps_st_group){.prefix = "adam.v.", .net = v,
                         .nonnegative = "an AdamW second moment"};
}

/* ---- extras --------------------------------------------------------------------- */

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/* Why key (at most `cap` bytes are looked at) is not a valid extra key, or NULL. */
static const char *bad_key(const char *key, size_t cap, char *why, size_t why_size)
{
    size_t n = strnlen(key, cap);
    if (n == cap) return "not terminated";
    if (n == 0) return "empty";
    if (n >= PS_CHECKPOINT_KEY_SIZE) {
        snprintf(why, why_size, "%zu characters, more than the %d accepted", n,
                 PS_CHECKPOINT_KEY_SIZE - 1);
        return why;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_key_char(key[i])) {
            snprintf(why, why_size, "character %zu is not one of A-Z a-z 0-9 _ . -", i);
            return why;
        }
    }
    return NULL;
}

/* Why value (at most `cap` bytes are looked at) is not a valid extra value, or NULL. */
static const char *bad_value(const char *value, size_t cap, char *why, size_t why_size)
{
    size_t n = strnlen(value, cap);
    if (n == cap) return "not terminated";
    if (n >= PS_CHECKPOINT_VALUE_SIZE) {
        snprintf(why, why_size, "%zu bytes, more than the %d accepted", n,
                 PS_CHECKPOINT_VALUE_SIZE - 1);
        return why;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ps_st_is_printable((unsigned char)value[i])) {
            snprintf(why, why_size, "byte %zu is not printable ASCII", i);
            return why;
        }
    }
    return NULL;
}

static int n_extra_of(const ps_checkpoint *ck)
{
    if (ck->n_extra < 0) return 0;
    return ck->n_extra > PS_CHECKPOINT_MAX_EXTRA ? PS_CHECKPOINT_MAX_EXTRA : ck->n_extra;
}

static int find_extra(const ps_checkpoint *ck, const char *key)
{
    for (int i = 0; i < n_extra_of(ck); i++)
        if (strncmp(ck->extra_key[i], key, PS_CHECKPOINT_KEY_SIZE) == 0) return i;
    return -1;
}

const char *ps_checkpoint_extra(const ps_checkpoint *ck, const char *key)
{
    int i = find_extra(ck, key);
    return i < 0 ? NULL : ck->extra_value[i];
}

int ps_checkpoint_set_extra(ps_checkpoint *ck, const char *key, const char *value,
                            ps_error *err)
{
    char why[96];
    const char *bad = bad_key(key, strlen(key) + 1, why, sizeof why);
    if (bad)
        return ps_error_set(err, "checkpoint extra \"%s\": key: %s", ps_st_show(key).s, bad);
    bad = bad_value(value, strlen(value) + 1, why, sizeof why);
    if (bad) return ps_error_set(err, "checkpoint extra %s: value: %s", key, bad);
    int i = find_extra(ck, key);
    if (i < 0) {
        if (ck->n_extra < 0 || ck->n_extra >= PS_CHECKPOINT_MAX_EXTRA)
            return ps_error_set(err, "checkpoint extra %s: no room, a checkpoint keeps at "
                                "most %d extras", key, PS_CHECKPOINT_MAX_EXTRA);
        i = ck->n_extra++;
        memcpy(ck->extra_key[i], key, strlen(key) + 1);
    }
    memcpy(ck->extra_value[i], value, strlen(value) + 1);
    return 0;
}

/* ---- loading --------------------------------------------------------------------- */

static int read_step(const ps_st_reader *rd, json_t *meta, long *step)
{
    const char *s;
    if (ps_st_meta_required(rd, meta, STEP_KEY, &s)) return -1;
    int64_t v;
    switch (ps_st_parse_decimal(s, LONG_MIN, LONG_MAX, &v)) {
    case 0:
        break;
    case -2:
        return ps_st_fail(rd, PS_ST_METADATA_KEY "." STEP_KEY ": %s does not fit in a long",
                          ps_st_show(s).s);
    default:
        return ps_st_fail(rd, PS_ST_METADATA_KEY "." STEP_KEY ": \"%s\" is not a decimal "
                          "integer", ps_st_show(s).s);
    }
    if (v < 0)
        return ps_st_fail(rd, PS_ST_METADATA_KEY "." STEP_KEY ": %" PRId64 " is negative "
                          "(steps taken count from 0)", v);
    *step = (long)v;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Exactly RNG_DIGITS lowercase hex digits, ':', RNG_DIGITS more. */
static bool parse_rng(const char *s, uint64_t rng[2])
{
    if (strlen(s) != 2 * RNG_DIGITS + 1 || s[RNG_DIGITS] != ':') return false;
    for (int k = 0; k < 2; k++) {
        uint64_t v = 0;
        for (int i = 0; i < RNG_DIGITS; i++) {
            int d = hex_digit(s[k * (RNG_DIGITS + 1) + i]);
            if (d < 0) return false;
            v = (v << 4) | (uint64_t)d;
        }
        rng[k] = v;
    }
    return true;
}

static int read_rng(const ps_st_reader *rd, json_t *meta, uint64_t rng[2])
{
    const char *s;
    if (ps_st_meta_required(rd, meta, RNG_KEY, &s)) return -1;
    if (!parse_rng(s, rng))
        return ps_st_fail(rd, PS_ST_METADATA_KEY "." RNG_KEY ": \"%s\" is not two 16-digit "
                          "lowercase hex numbers joined by ':'", ps_st_show(s).s);
    if (rng[0] == 0 && rng[1] == 0)
        return ps_st_fail(rd, PS_ST_METADATA_KEY "." RNG_KEY ": the state is all zero, "
                          "which no seeded generator has");
    return 0;
}

/* Every "extra.<key>" of the metadata, in file order. */
static int read_extras(const ps_st_reader *rd, json_t *meta, ps_checkpoint *ck)
{
    const size_t plen = strlen(EXTRA_PREFIX);
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (strncmp(key, EXTRA_PREFIX, plen) != 0) continue;
        const char *name = key + plen, *text = json_string_value(value);
        char why[96];
        const char *bad = bad_key(name, strlen(name) + 1, why, sizeof why);
        if (bad)
            return ps_st_fail(rd, PS_ST_METADATA_KEY ".%s: extra key: %s",
                              ps_st_show(key).s, bad);
        bad = bad_value(text, strlen(text) + 1, why, sizeof why);
        if (bad) return ps_st_fail(rd, PS_ST_METADATA_KEY ".%s: %s", key, bad);
        if (ck->n_extra == PS_CHECKPOINT_MAX_EXTRA)
            return ps_st_fail(rd, PS_ST_METADATA_KEY ".%s: more than %d extras", key,
                              PS_CHECKPOINT_MAX_EXTRA);
        memcpy(ck->extra_key[ck->n_extra], name, strlen(name) + 1);
        memcpy(ck->extra_value[ck->n_extra], text, strlen(text) + 1);
        ck->n_extra++;
    }
    return 0;
}

static int read_checkpoint_meta(const ps_st_reader *rd, json_t *meta, void *ctx)
{
    ps_checkpoint *ck = ctx;
    return read_step(rd, meta, &ck->step) || read_rng(rd, meta, ck->rng) ||
                   read_extras(rd, meta, ck)
               ? -1
               : 0;
}

int ps_checkpoint_load_memory(const void *data, size_t size, const char *name,
                              ps_checkpoint *ck, ps_error *err)
{
    ps_checkpoint got = {0};
    ps_st_group groups[3];
    init_groups(groups, NULL, NULL, NULL);
    if (ps_st_load(data, size, name, PS_ST_CHECKPOINT, groups, 3, &got.info,
                   read_checkpoint_meta, &got, err))
        return -1;
    got.net = groups[0].net;
    got.adam_m = groups[1].net;
    got.adam_v = groups[2].net;
    *ck = got;
    return 0;
}

int ps_checkpoint_load(const char *path, ps_checkpoint *ck, ps_error *err)
{
    uint8_t *file = NULL;
    size_t size = 0;
    if (ps_st_read_file(path, PS_ST_CHECKPOINT, &file, &size, err)) return -1;
    int rc = ps_checkpoint_load_memory(file, size, path, ck, err);
    free(file);
    return rc;
}

void ps_checkpoint_free(ps_checkpoint *ck)
{
    ps_wavenet_destroy(ck->net);
    ps_wavenet_destroy(ck->adam_m);
    ps_wavenet_destroy(ck->adam_v);
    ck->net = ck->adam_m = ck->adam_v = NULL;
}

/* ---- saving ---------------------------------------------------------------------- */

static int check_nets(const char *path, const ps_checkpoint *ck, ps_error *err)
{
    if (!ck->net) return ps_error_set(err, "%s: the checkpoint has no model (net)", path);
    if (!ck->adam_m || !ck->adam_v)
        return ps_error_set(err, "%s: the checkpoint has no %s", path,
                            ck->adam_m ? "adam_v" : "adam_m");
    const ps_wavenet_config *c = ps_wavenet_config_of(ck->net);
    const char *differs = !ps_wavenet_config_equal(ps_wavenet_config_of(ck->adam_m), c)   ? "adam_m"
                          : !ps_wavenet_config_equal(ps_wavenet_config_of(ck->adam_v), c) ? "adam_v"
                                                                                     : NULL;
    if (differs)
        return ps_error_set(err, "%s: %s: its architecture differs from the model's", path,
                            differs);
    return 0;
}

/* What the loader would refuse in the checkpoint's own fields. */
static int check_state(const char *path, const ps_checkpoint *ck, ps_error *err)
{
    if (ck->step < 0)
        return ps_error_set(err, "%s: step: %ld is negative", path, ck->step);
    if (ck->rng[0] == 0 && ck->rng[1] == 0)
        return ps_error_set(err, "%s: rng: the state is all zero, which no seeded generator "
                            "has", path);
    if (ck->n_extra < 0 || ck->n_extra > PS_CHECKPOINT_MAX_EXTRA)
        return ps_error_set(err, "%s: n_extra: %d is outside 0..%d", path, ck->n_extra,
                            PS_CHECKPOINT_MAX_EXTRA);
    for (int i = 0; i < ck->n_extra; i++) {
        char why[96];
        const char *key = ck->extra_key[i];
        const char *bad = bad_key(key, sizeof ck->extra_key[i], why, sizeof why);
        if (bad) return ps_error_set(err, "%s: extra %d: key: %s", path, i, bad);
        bad = bad_value(ck->extra_value[i], sizeof ck->extra_value[i], why, sizeof why);
        if (bad) return ps_error_set(err, "%s: extra %s: value: %s", path, key, bad);
        for (int j = 0; j < i; j++)
            if (strcmp(ck->extra_key[j], key) == 0)
                return ps_error_set(err, "%s: extra %s: given twice (extras %d and %d)", path,
                                    key, j, i);
    }
    return 0;
}

static void put_string(json_t *meta, const char *key, const char *value, bool *ok)
{
    if (json_object_set_new(meta, key, json_string(value)) != 0) *ok = false;
}

static bool write_checkpoint_meta(json_t *meta, const void *ctx)
{
    const ps_checkpoint *ck = ctx;
    bool ok = true;
    char text[64];
    snprintf(text, sizeof text, "%ld", ck->step);
    put_string(meta, STEP_KEY, text, &ok);
    snprintf(text, sizeof text, "%016" PRIx64 ":%016" PRIx64, ck->rng[0], ck->rng[1]);
    put_string(meta, RNG_KEY, text, &ok);
    for (int i = 0; i < ck->n_extra; i++) {
        char key[sizeof EXTRA_PREFIX + PS_CHECKPOINT_KEY_SIZE];
        snprintf(key, sizeof key, EXTRA_PREFIX "%s", ck->extra_key[i]);
        put_string(meta, key, ck->extra_value[i], &ok);
    }
    return ok;
}

int ps_checkpoint_save(const char *path, const ps_checkpoint *ck, ps_error *err)
{
    if (check_nets(path, ck, err) || check_state(path, ck, err)) return -1;
    ps_st_group groups[3];
    init_groups(groups, ck->net, ck->adam_m, ck->adam_v);
    return ps_st_save(path, PS_ST_CHECKPOINT, groups, 3, &ck->info, write_checkpoint_meta,
                      ck, err);
}
