/* priorsep's safetensors files: reading, validation and atomic writing, shared by model
 * files and training checkpoints (see safetensors_io.h).
 *
 * Layout: an 8-byte little-endian header length n, n bytes of JSON (padded with spaces),
 * then the data section holding the raw tensors. Nothing read from a file is trusted:
 * every size is checked before it is used in arithmetic or an allocation, and every
 * failure names the file and the field. */
#include "safetensors_io.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"

/* Tensors are copied between the file and the parameter block as they are. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "priorsep model files hold little-endian floats: little-endian hosts only"
#endif
_Static_assert(sizeof(float) == 4, "F32 tensors are copied into floats");

#define METADATA_KEY PS_ST_METADATA_KEY
#define MAX_HEADER_BYTES ((uint64_t)16 * 1000 * 1000)
#define MAX_GROUPS 4
/* The project's sample rate, written when ps_model_save() is given no info. */
#define DEFAULT_SAMPLE_RATE 14700
#define MIN_SAMPLE_RATE 1000
#define MAX_SAMPLE_RATE 768000
#define F32_SIGN_MASK UINT32_C(0x80000000)
#define F32_EXPONENT_MASK UINT32_C(0x7f800000)
#define F32_MANTISSA_MASK UINT32_C(0x007fffff)

/* What each kind of file is called; the loader of one names the other in its refusal. */
static const struct kind_desc {
    const char *format, *version;
    const char *noun;  /* "not a model file" */
    const char *what;  /* "is a training checkpoint, not a model file" */
    const char *thing; /* "such a model cannot be loaded"; the name of a nameless file */
} kinds[] = {
    [PS_ST_MODEL] = {"priorsep.wavenet", "1", "model file", "a model file", "model"},
    [PS_ST_CHECKPOINT] = {"priorsep.checkpoint", "1", "checkpoint", "a training checkpoint",
                          "checkpoint"},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

/* ---- small helpers --------------------------------------------------------------- */

static uint64_t read_u64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void write_u64_le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

bool ps_st_is_printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

ps_st_shown ps_st_show(const char *s)
{
    ps_st_shown t;
    size_t i = 0;
    for (; s[i] && i < 40; i++) t.s[i] = ps_st_is_printable((unsigned char)s[i]) ? s[i] : '?';
    t.s[i] = '\0';
    if (s[i]) memcpy(t.s + i, "...", 4);
    return t;
}

/* A tensor of a group: the table's view and its name in the file. */
typedef struct named_view {
    ps_tensor_view v;
    char name[64];
} named_view;

static void group_tensor(const ps_st_group *g, int i, named_view *nv)
{
    ps_wavenet_tensor(g->net, i, &nv->v);
    snprintf(nv->name, sizeof nv->name, "%s%s", g->prefix, nv->v.name);
}

/* Non-finite and negative floats are found from their bits, so that no compiler flag
 * (fast-math) can turn the check off. Returns NULL for an acceptable value. */
static const char *bad_value_kind(float f, bool nonnegative)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & F32_EXPONENT_MASK) == F32_EXPONENT_MASK)
        return (bits & F32_MANTISSA_MASK) ? "NaN" : "Inf";
    if (nonnegative && (bits & F32_SIGN_MASK) && (bits & ~F32_SIGN_MASK)) return "negative";
    return NULL;
}

/* The first value a loader refuses (non-finite anywhere, negative in a nonnegative
 * group), as a message naming the tensor and index. */
static int find_bad_value(const ps_st_group *groups, int n, char *msg, size_t msg_size)
{
    for (int g = 0; g < n; g++) {
        for (int i = 0; i < ps_wavenet_num_tensors(groups[g].net); i++) {
            named_view t;
            group_tensor(&groups[g], i, &t);
            for (size_t j = 0; j < t.v.numel; j++) {
                const char *kind = bad_value_kind(t.v.data[j], groups[g].nonnegative != NULL);
                if (!kind) continue;
                if (strcmp(kind, "negative") == 0)
                    snprintf(msg, msg_size, "tensor %s: element %zu is %g, but %s is never "
                             "negative", t.name, j, (double)t.v.data[j],
                             groups[g].nonnegative);
                else
                    snprintf(msg, msg_size, "tensor %s: element %zu is %s", t.name, j, kind);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- loading: the file's frame ----------------------------------------------------- */

int ps_st_fail(const ps_st_reader *rd, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ps_error_set(rd->err, "%s: %s", rd->name, what);
    return -1;
}
#define fail ps_st_fail

/* Splits the file into header and data section, checking the header length against
 * the file before anything else uses it. */
static int split_file(ps_st_reader *rd, ps_st_kind kind, const uint8_t *file, size_t size)
{
    if (size < 8)
        return fail(rd, "file is %zu bytes, too short for the 8-byte header length", size);
    if (size > PS_MODEL_FILE_MAX_BYTES)
        return fail(rd, "file is %zu bytes, more than the %zu accepted", size,
                    PS_MODEL_FILE_MAX_BYTES);
    uint64_t n = read_u64_le(file);
    uint64_t rest = (uint64_t)size - 8;
    if (n < 2)
        return fail(rd, "header length: %" PRIu64 " bytes cannot hold a JSON object", n);
    if (n > rest)
        return fail(rd, "header length: %" PRIu64 " bytes, but only %" PRIu64
                    " bytes follow it (truncated or not a %s)", n, rest, kinds[kind].noun);
    if (n > MAX_HEADER_BYTES)
        return fail(rd, "header length: %" PRIu64 " bytes, more than the %" PRIu64
                    " accepted", n, MAX_HEADER_BYTES);
    rd->header = (const char *)file + 8;
    rd->header_size = (size_t)n;
    rd->data = file + 8 + n;
    rd->data_size = rest - n;
    return 0;
}

static json_t *parse_header(const ps_st_reader *rd)
{
    json_error_t je;
    json_t *root = json_loadb(rd->header, rd->header_size, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        /* jansson quotes the offending input, which may hold a newline or worse. */
        for (char *c = je.text; *c; c++)
            if (!ps_st_is_printable((unsigned char)*c)) *c = '?';
        fail(rd, "header: invalid JSON at line %d column %d (byte %d): %s", je.line,
             je.column, je.position, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        fail(rd, "header: not a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- loading: __metadata__ ------------------------------------------------------- */

int ps_st_parse_decimal(const char *s, int64_t min, int64_t max, int64_t *out)
{
    bool negative = *s == '-';
    const char *p = negative ? s + 1 : s;
    if (*p < '0' || *p > '9') return -1;
    if (p[0] == '0' && (p[1] != '\0' || negative)) return -1; /* "007", "-0" */
    /* The magnitude, stopped before it could pass 2^63 (the magnitude of INT64_MIN). */
    const uint64_t limit = (uint64_t)INT64_MAX + 1;
    uint64_t v = 0;
    bool too_big = false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10) too_big = true; /* keeps scanning: "9...9x" is -1 */
        if (!too_big) v = v * 10 + d;
    }
    if (too_big) return -2;
    int64_t value;
    if (negative)
        value = v == limit ? INT64_MIN : -(int64_t)v;
    else if (v == limit)
        return -2;
    else
        value = (int64_t)v;
    if (value < min || value > max) return -2;
    *out = value;
    return 0;
}

const char *ps_st_meta_value(json_t *meta, const char *key)
{
    return json_string_value(json_object_get(meta, key));
}

int ps_st_meta_required(const ps_st_reader *rd, json_t *meta, const char *key,
                        const char **out)
{
    *out = ps_st_meta_value(meta, key);
    return *out ? 0 : fail(rd, METADATA_KEY ".%s: missing", key);
}

static int meta_int(const ps_st_reader *rd, json_t *meta, const char *key, int *out)
{
    const char *s;
    if (ps_st_meta_required(rd, meta, key, &s)) return -1;
    int64_t v;
    switch (ps_st_parse_decimal(s, INT_MIN, INT_MAX, &v)) {
    case 0:
        *out = (int)v;
        return 0;
    case -2:
        return fail(rd, METADATA_KEY ".%s: %s does not fit in an int", key, ps_st_show(s).s);
    default:
        return fail(rd, METADATA_KEY ".%s: \"%s\" is not a decimal integer", key,
                    ps_st_show(s).s);
    }
}

static int check_all_strings(const ps_st_reader *rd, json_t *meta)
{
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return fail(rd, METADATA_KEY ".%s: not a string (safetensors metadata values "
                        "are strings)", ps_st_show(key).s);
    }
    return 0;
}

static int read_format(const ps_st_reader *rd, ps_st_kind kind, json_t *meta)
{
    const struct kind_desc *k = &kinds[kind];
    const char *format, *version;
    if (ps_st_meta_required(rd, meta, "format", &format)) return -1;
    if (strcmp(format, k->format) != 0) {
        for (size_t o = 0; o < N_KINDS; o++)
            if (strcmp(format, kinds[o].format) == 0)
                return fail(rd, METADATA_KEY ".format: \"%s\" is %s, not %s", format,
                            kinds[o].what, k->what);
        return fail(rd, METADATA_KEY ".format: \"%s\" is not \"%s\"", ps_st_show(format).s,
                    k->format);
    }
    if (ps_st_meta_required(rd, meta, "version", &version)) return -1;
    if (strcmp(version, k->version) != 0)
        return fail(rd, METADATA_KEY ".version: \"%s\" is not supported (this build reads "
                    "version %s)", ps_st_show(version).s, k->version);
    return 0;
}

static int read_head(const ps_st_reader *rd, json_t *meta, ps_wavenet_config *cfg)
{
    const char *head;
    if (ps_st_meta_required(rd, meta, "head", &head)) return -1;
    if (strcmp(head, "categorical") == 0) {
        /* The count is meaningless here: any valid integer is accepted, 0 is kept. */
        cfg->head = PS_HEAD_CATEGORICAL;
        if (ps_st_meta_value(meta, "mixtures") &&
            meta_int(rd, meta, "mixtures", &cfg->mixtures))
            return -1;
        cfg->mixtures = 0;
        return 0;
    }
    if (strcmp(head, "mol") == 0 || strcmp(head, "gaussian") == 0) {
        cfg->head = head[0] == 'm' ? PS_HEAD_MOL : PS_HEAD_GAUSSIAN;
        return meta_int(rd, meta, "mixtures", &cfg->mixtures);
    }
    return fail(rd, METADATA_KEY ".head: \"%s\" is not \"categorical\", \"mol\" or "
                "\"gaussian\"", ps_st_show(head).s);
}

static int read_config(const ps_st_reader *rd, json_t *meta, ps_wavenet_config *cfg)
{
    const struct {
        const char *key;
        int *value;
    } fields[] = {
        {"stacks", &cfg->stacks},     {"layers", &cfg->layers},
        {"kernel", &cfg->kernel},     {"input_kernel", &cfg->input_kernel},
        {"residual", &cfg->residual}, {"skip", &cfg->skip},
        {"hidden", &cfg->hidden},     {"cond", &cfg->cond},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (meta_int(rd, meta, fields[i].key, fields[i].value)) return -1;
    if (read_head(rd, meta, cfg)) return -1;
    ps_error why;
    if (ps_wavenet_config_check(cfg, &why)) return fail(rd, METADATA_KEY ".%s", why.msg);
    return 0;
}

/* An optional text field: printable ASCII that fits dst (empty when absent). */
static int read_text(const ps_st_reader *rd, json_t *meta, const char *key, char *dst,
                     size_t cap)
{
    const char *text = ps_st_meta_value(meta, key);
    dst[0] = '\0';
    if (!text) return 0;
    size_t n = strlen(text);
    if (n >= cap)
        return fail(rd, METADATA_KEY ".%s: %zu bytes, more than the %zu accepted", key, n,
                    cap - 1);
    for (size_t i = 0; i < n; i++)
        if (!ps_st_is_printable((unsigned char)text[i]))
            return fail(rd, METADATA_KEY ".%s: byte %zu is not printable ASCII", key, i);
    memcpy(dst, text, n + 1);
    return 0;
}

/* The noise ladder's conditions, shared by the loader and the saver. */
static const char *noise_ladder_problem(const ps_model_info *info)
{
    if (info->noise_levels < 0 || info->noise_levels > PS_MODEL_MAX_NOISE_LEVELS)
        return "noise_levels: outside 0..100";
    if (info->noise_levels == 0) return NULL;
    if (!(info->sigma_min > 0.0f && info->sigma_min <= info->sigma_max &&
          info->sigma_max <= PS_MODEL_MAX_SIGMA))
        return "sigma_min, sigma_max: need 0 < sigma_min <= sigma_max <= 100";
    return NULL;
}

static int meta_float(const ps_st_reader *rd, json_t *meta, const char *key, float *out)
{
    const char *s;
    if (ps_st_meta_required(rd, meta, key, &s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return fail(rd, METADATA_KEY ".%s: \"%s\" is not a finite decimal number", key, ps_st_show(s).s);
    *out = (float)v;
    return 0;
}

static int read_noise_ladder(const ps_st_reader *rd, json_t *meta, ps_model_info *info)
{
    info->noise_levels = 0, info->sigma_max = info->sigma_min = 0.0f;
    if (!ps_st_meta_value(meta, "noise_levels")) return 0;
    if (meta_int(rd, meta, "noise_levels", &info->noise_levels) ||
        meta_float(rd, meta, "sigma_max", &info->sigma_max) ||
        meta_float(rd, meta, "sigma_min", &info->sigma_min))
        return -1;
    const char *problem = noise_ladder_problem(info);
    return problem ? fail(rd, METADATA_KEY ".%s", problem) : 0;
}

/* A separator's facts against its head, shared by the loader and the saver: NULL when
 * fine, else the problem (in buf). */
static const char *separator_problem(const ps_wavenet_config *cfg, const ps_model_info *info,
                                     char *buf, size_t size)
{
    int separator = cfg->head == PS_HEAD_GAUSSIAN;
    if (!separator) {
        if (info->n_sources != 0) return "sources: only a separator (Gaussian head) has them";
        return NULL;
    }
    if (info->n_sources != cfg->mixtures) {
        snprintf(buf, size, "sources: %d names for a head of %d outputs", info->n_sources,
                 cfg->mixtures);
        return buf;
    }
    for (int k = 0; k < info->n_sources; k++) {
        const char *name = info->sources[k];
        size_t n = strnlen(name, sizeof info->sources[k]);
        if (n == 0 || n == sizeof info->sources[k]) {
            snprintf(buf, size, "sources: name %d is empty or longer than %zu bytes", k + 1,
                     sizeof info->sources[k] - 1);
            return buf;
        }
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-') {
                snprintf(buf, size, "sources: name %d has a character other than letters, "
                         "digits, '_' and '-'", k + 1);
                return buf;
            }
        for (int j = 0; j < k; j++)
            if (strcmp(info->sources[j], name) == 0) {
                snprintf(buf, size, "sources: %s is named twice", name);
                return buf;
            }
        if (!(info->weights[k] > 0.0f && info->weights[k] <= PS_MAX_WEIGHT)) {
            snprintf(buf, size, "weights: the weight of %s is not in (0, %g]", name,
                     (double)PS_MAX_WEIGHT);
            return buf;
        }
    }
    if (info->lookahead < 0 || info->lookahead > PS_MAX_LOOKAHEAD) {
        snprintf(buf, size, "lookahead: %d is outside 0..%d", info->lookahead, PS_MAX_LOOKAHEAD);
        return buf;
    }
    return NULL;
}

/* "a,b,c" into at most max items of item_size bytes (NUL-terminated); -1 if more. */
static int split_list(const char *s, char *items, size_t item_size, int max)
{
    int n = 0;
    for (const char *p = s;; n++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == max) return -1;
        snprintf(items + (size_t)n * item_size, item_size, "%.*s", (int)(len < item_size ? len : item_size), p);
        if (len >= item_size) items[(size_t)n * item_size] = '\0'; /* refused as too long */
        if (!end) return n + 1;
        p = end + 1;
    }
}

static int read_separator(const ps_st_reader *rd, json_t *meta, const ps_wavenet_config *cfg,
                          ps_model_info *info)
{
    info->n_sources = 0, info->lookahead = 0;
    if (cfg->head != PS_HEAD_GAUSSIAN) {
        /* absent for a prior: the saver refuses to write them, the loader to read them */
        static const char *const keys[] = {"sources", "weights", "lookahead"};
        for (int i = 0; i < 3; i++)
            if (ps_st_meta_value(meta, keys[i]))
                return fail(rd, METADATA_KEY ".%s: only a separator (Gaussian head) has them",
                            keys[i]);
        return 0;
    }
    const char *names, *weights;
    if (ps_st_meta_required(rd, meta, "sources", &names) ||
        ps_st_meta_required(rd, meta, "weights", &weights) ||
        meta_int(rd, meta, "lookahead", &info->lookahead))
        return -1;
    info->n_sources = split_list(names, &info->sources[0][0], sizeof info->sources[0], PS_MAX_SOURCES);
    if (info->n_sources < 0)
        return fail(rd, METADATA_KEY ".sources: more than %d names", PS_MAX_SOURCES);
    char text[PS_MAX_SOURCES][32];
    int n_weights = split_list(weights, &text[0][0], sizeof text[0], PS_MAX_SOURCES);
    if (n_weights != info->n_sources)
        return fail(rd, METADATA_KEY ".weights: not %d comma-separated numbers, one per source",
                    info->n_sources);
    for (int k = 0; k < n_weights; k++) {
        char *end;
        double w = strtod(text[k], &end);
        if (end == text[k] || *end != '\0' || !isfinite(w))
            return fail(rd, METADATA_KEY ".weights: \"%s\" is not a decimal number", ps_st_show(text[k]).s);
        info->weights[k] = (float)w;
    }
    char buf[160];
    const char *problem = separator_problem(cfg, info, buf, sizeof buf);
    return problem ? fail(rd, METADATA_KEY ".%s", problem) : 0;
}

static int read_info(const ps_st_reader *rd, json_t *meta, const ps_wavenet_config *cfg,
                     ps_model_info *info)
{
    if (read_noise_ladder(rd, meta, info) || read_separator(rd, meta, cfg, info)) return -1;
    if (meta_int(rd, meta, "sample_rate", &info->sample_rate)) return -1;
    if (info->sample_rate < MIN_SAMPLE_RATE || info->sample_rate > MAX_SAMPLE_RATE)
        return fail(rd, METADATA_KEY ".sample_rate: %d Hz is outside %d..%d",
                    info->sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE);
    if (read_text(rd, meta, "source", info->source, sizeof info->source)) return -1;
    return read_text(rd, meta, "recipe", info->recipe, sizeof info->recipe);
}

static int read_metadata(const ps_st_reader *rd, ps_st_kind kind, json_t *root,
                         ps_wavenet_config *cfg, ps_model_info *info, json_t **meta_out)
{
    json_t *meta = json_object_get(root, METADATA_KEY);
    if (!meta)
        return fail(rd, METADATA_KEY ": missing (not a priorsep %s)", kinds[kind].noun);
    if (!json_is_object(meta)) return fail(rd, METADATA_KEY ": not an object");
    if (check_all_strings(rd, meta) || read_format(rd, kind, meta) ||
        read_config(rd, meta, cfg) || read_info(rd, meta, cfg, info))
        return -1;
    *meta_out = meta;
    return 0;
}

/* ---- loading: the models and their tensors ------------------------------------------- */

/* Refuses an architecture whose parameters (n times: one block per group) cannot fit
 * in the data section before any model is allocated. */
static int create_models(const ps_st_reader *rd, const ps_wavenet_config *cfg,
                         ps_st_group *groups, int n)
{
    uint64_t one = 4 * (uint64_t)ps_wavenet_config_num_params(cfg), need = one * (uint64_t)n;
    if (need > rd->data_size) {
        if (n == 1)
            return fail(rd, "data: the architecture has %" PRIu64 " bytes of parameters, "
                        "the data section only %" PRIu64, one, rd->data_size);
        return fail(rd, "data: the architecture has %" PRIu64 " bytes of parameters, its %d "
                    "tensor groups need %" PRIu64 ", the data section only has %" PRIu64,
                    one, n, need, rd->data_size);
    }
    for (int g = 0; g < n; g++) {
        ps_error why;
        groups[g].net = ps_wavenet_create(cfg, &why);
        if (!groups[g].net) {
            while (g-- > 0) {
                ps_wavenet_destroy(groups[g].net);
                groups[g].net = NULL;
            }
            return fail(rd, "%s", why.msg);
        }
    }
    return 0;
}

typedef struct byte_range {
    uint64_t begin, end;
    int group, tensor;
} byte_range;

/* "[2,64,32]", shortened past 8 dimensions. */
static void format_dims(char *buf, size_t size, const int64_t *dims, size_t rank)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (size_t k = 0; k < rank && used < size; k++) {
        if (k == 8) {
            snprintf(buf + used, size - used, ",...");
            used += 4;
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, k ? "," : "",
                                 dims[k]);
    }
    if (used < size) snprintf(buf + used, size - used, "]");
}

static int check_dtype(const ps_st_reader *rd, const named_view *t, json_t *entry)
{
    const char *dtype = json_string_value(json_object_get(entry, "dtype"));
    if (!dtype) return fail(rd, "tensor %s: dtype missing or not a string", t->name);
    if (strcmp(dtype, "F32") != 0)
        return fail(rd, "tensor %s: dtype %s is not supported (only F32)", t->name,
                    ps_st_show(dtype).s);
    return 0;
}

static int check_shape(const ps_st_reader *rd, const named_view *t, json_t *entry)
{
    json_t *shape = json_object_get(entry, "shape");
    if (!json_is_array(shape))
        return fail(rd, "tensor %s: shape missing or not an array", t->name);
    size_t rank = json_array_size(shape);
    int64_t dims[9];
    bool same = rank == (size_t)t->v.rank;
    for (size_t k = 0; k < rank; k++) {
        json_t *d = json_array_get(shape, k);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return fail(rd, "tensor %s: shape element %zu is not a non-negative integer",
                        t->name, k);
        int64_t dim = json_integer_value(d);
        if (k < 9) dims[k] = dim; /* enough to show */
        if (same && dim != t->v.shape[k]) same = false;
    }
    if (same) return 0;
    char want[192], have[192]; /* 9 dimensions of up to 20 characters */
    format_dims(want, sizeof want, t->v.shape, (size_t)t->v.rank);
    format_dims(have, sizeof have, dims, rank < 9 ? rank : 9);
    return fail(rd, "tensor %s: shape %s expected, file has %s", t->name, want, have);
}

static int check_offsets(const ps_st_reader *rd, const named_view *t, json_t *entry,
                         byte_range *r)
{
    json_t *off = json_object_get(entry, "data_offsets");
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) ||
        !json_is_integer(e) || json_integer_value(b) < 0 || json_integer_value(e) < 0)
        return fail(rd, "tensor %s: data_offsets is not a pair [begin, end] of "
                    "non-negative integers", t->name);
    r->begin = (uint64_t)json_integer_value(b);
    r->end = (uint64_t)json_integer_value(e);
    if (r->begin > r->end)
        return fail(rd, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "]: begin is "
                    "after end", t->name, r->begin, r->end);
    if (r->end > rd->data_size)
        return fail(rd, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] run past the "
                    "end of the %" PRIu64 "-byte data section", t->name, r->begin, r->end,
                    rd->data_size);
    /* numel * 4 cannot overflow: create_models() bounded all parameters by the data. */
    uint64_t need = 4 * (uint64_t)t->v.numel;
    if (r->end - r->begin != need)
        return fail(rd, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                    " bytes, the shape needs %" PRIu64, t->name, r->begin, r->end,
                    r->end - r->begin, need);
    return 0;
}

static int check_entry(const ps_st_reader *rd, const ps_st_group *groups, int g, int i,
                       json_t *root, byte_range *r)
{
    named_view t;
    group_tensor(&groups[g], i, &t);
    json_t *entry = json_object_get(root, t.name);
    if (!entry) return fail(rd, "tensor %s: missing", t.name);
    if (!json_is_object(entry)) return fail(rd, "tensor %s: not an object", t.name);
    r->group = g;
    r->tensor = i;
    return check_dtype(rd, &t, entry) || check_shape(rd, &t, entry) ||
                   check_offsets(rd, &t, entry, r)
               ? -1
               : 0;
}

/* Called once every expected tensor was found: any other key is one too many. To name
 * it, the expected names go into a hash set (a JSON object), so that finding it takes
 * time linear in the number of tensors. */
static int check_no_extra(const ps_st_reader *rd, const ps_st_group *groups, int n,
                          size_t total, json_t *root)
{
    if (json_object_size(root) == total + 1) return 0;
    json_t *expected = json_object();
    bool ok = expected != NULL;
    for (int g = 0; g < n && ok; g++) {
        for (int i = 0; i < ps_wavenet_num_tensors(groups[g].net) && ok; i++) {
            named_view t;
            group_tensor(&groups[g], i, &t);
            ok = json_object_set_new(expected, t.name, json_true()) == 0;
        }
    }
    if (!ok) {
        json_decref(expected);
        return fail(rd, "out of memory");
    }
    const char *key, *unknown = NULL;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, METADATA_KEY) != 0 && !json_object_get(expected, key)) {
            unknown = key;
            break;
        }
    }
    if (unknown)
        fail(rd, "tensor %s: not part of this architecture", ps_st_show(unknown).s);
    else
        fail(rd, "header: unexpected entries"); /* not reached */
    json_decref(expected);
    return -1;
}

static int by_begin(const void *a, const void *b)
{
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorted by begin, ranges are disjoint iff each starts at or after the end of the one
 * before it. */
static int check_overlaps(const ps_st_reader *rd, const ps_st_group *groups, byte_range *r,
                          size_t n)
{
    qsort(r, n, sizeof *r, by_begin);
    for (size_t k = 1; k < n; k++) {
        if (r[k].begin < r[k - 1].end) {
            named_view a, b;
            group_tensor(&groups[r[k - 1].group], r[k - 1].tensor, &a);
            group_tensor(&groups[r[k].group], r[k].tensor, &b);
            return fail(rd, "tensor %s: data_offsets overlap those of tensor %s", b.name,
                        a.name);
        }
    }
    return 0;
}

static int copy_values(const ps_st_reader *rd, const ps_st_group *groups, int n,
                       const byte_range *r, size_t total)
{
    for (size_t k = 0; k < total; k++) {
        ps_tensor_view v;
        ps_wavenet_tensor(groups[r[k].group].net, r[k].tensor, &v);
        memcpy(v.data, rd->data + r[k].begin, v.numel * sizeof(float));
    }
    char what[256];
    if (find_bad_value(groups, n, what, sizeof what)) return fail(rd, "%s", what);
    return 0;
}

static int read_tensors(const ps_st_reader *rd, json_t *root, const ps_st_group *groups,
                        int n)
{
    size_t per_group = (size_t)ps_wavenet_num_tensors(groups[0].net);
    size_t total = per_group * (size_t)n;
    byte_range *ranges = calloc(total, sizeof *ranges);
    if (!ranges) return fail(rd, "out of memory");
    int rc = 0;
    for (int g = 0; g < n && rc == 0; g++)
        for (size_t i = 0; i < per_group && rc == 0; i++)
            rc = check_entry(rd, groups, g, (int)i, root, &ranges[(size_t)g * per_group + i]);
    if (rc == 0) rc = check_no_extra(rd, groups, n, total, root);
    if (rc == 0) rc = check_overlaps(rd, groups, ranges, total);
    if (rc == 0) rc = copy_values(rd, groups, n, ranges, total);
    free(ranges);
    return rc;
}

int ps_st_load(const void *data, size_t size, const char *name, ps_st_kind kind,
               ps_st_group *groups, int n, ps_model_info *info,
               ps_st_meta_reader read_meta, void *ctx, ps_error *err)
{
    ps_st_reader rd = {.name = name ? name : kinds[kind].thing, .err = err};
    if (n < 1 || n > MAX_GROUPS) return fail(&rd, "%d tensor groups (internal error)", n);
    if (!data) return fail(&rd, "no data");
    if (split_file(&rd, kind, data, size)) return -1;
    json_t *root = parse_header(&rd);
    if (!root) return -1;
    ps_st_group local[MAX_GROUPS];
    for (int g = 0; g < n; g++) local[g] = (ps_st_group){groups[g].prefix, NULL,
                                                         groups[g].nonnegative};
    ps_wavenet_config cfg = {0};
    ps_model_info found = {0};
    json_t *meta = NULL;
    int rc = read_metadata(&rd, kind, root, &cfg, &found, &meta);
    if (rc == 0 && read_meta) rc = read_meta(&rd, meta, ctx);
    if (rc == 0) rc = create_models(&rd, &cfg, local, n);
    if (rc == 0) rc = read_tensors(&rd, root, local, n);
    json_decref(root);
    if (rc) {
        for (int g = 0; g < n; g++) ps_wavenet_destroy(local[g].net);
        return -1;
    }
    for (int g = 0; g < n; g++) groups[g].net = local[g].net;
    if (info) *info = found;
    return 0;
}

/* ---- loading from a file ----------------------------------------------------------- */

static int read_all(int fd, uint8_t *buf, size_t size, const char *path, ps_error *err)
{
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return ps_error_set(err, "%s: cannot read: %s", path, strerror(errno));
        if (r == 0) return ps_error_set(err, "%s: file shrank while being read", path);
        got += (size_t)r;
    }
    return 0;
}

/* The file's size is checked (fstat) before its contents are allocated. */
int ps_st_read_file(const char *path, ps_st_kind kind, uint8_t **out, size_t *size,
                    ps_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ps_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0)
        rc = ps_error_set(err, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = ps_error_set(err, "%s: is a directory, not a %s", path, kinds[kind].noun);
    else if (!S_ISREG(st.st_mode))
        rc = ps_error_set(err, "%s: not a regular file", path);
    else if (st.st_size < 0 || (uint64_t)st.st_size > PS_MODEL_FILE_MAX_BYTES)
        rc = ps_error_set(err, "%s: file is %lld bytes, more than the %zu accepted", path,
                          (long long)st.st_size, PS_MODEL_FILE_MAX_BYTES);
    else if (!(buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)))
        rc = ps_error_set(err, "%s: out of memory for %lld bytes", path,
                          (long long)st.st_size);
    else
        rc = read_all(fd, buf, (size_t)st.st_size, path, err);
    close(fd);
    if (rc) {
        free(buf);
        return -1;
    }
    *out = buf;
    *size = (size_t)st.st_size;
    return 0;
}

/* ---- saving -------------------------------------------------------------------------- */

/* json_object_set_new() and json_array_append_new() take NULL values (failed
 * allocations) and then fail, so one flag catches any allocation failure. */
static void put(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (json_object_set_new(obj, key, value) != 0) *ok = false;
}

static void append(json_t *array, json_t *value, bool *ok)
{
    if (json_array_append_new(array, value) != 0) *ok = false;
}

static void put_int(json_t *meta, const char *key, int value, bool *ok)
{
    char text[16];
    snprintf(text, sizeof text, "%d", value);
    put(meta, key, json_string(text), ok);
}

static json_t *metadata_json(ps_st_kind kind, const ps_wavenet_config *c,
                             const ps_model_info *info, ps_st_meta_writer write_meta,
                             const void *ctx, bool *ok)
{
    json_t *meta = json_object();
    if (!meta) {
        *ok = false;
        return NULL;
    }
    put(meta, "format", json_string(kinds[kind].format), ok);
    put(meta, "version", json_string(kinds[kind].version), ok);
    put_int(meta, "stacks", c->stacks, ok);
    put_int(meta, "layers", c->layers, ok);
    put_int(meta, "kernel", c->kernel, ok);
    put_int(meta, "input_kernel", c->input_kernel, ok);
    put_int(meta, "residual", c->residual, ok);
    put_int(meta, "skip", c->skip, ok);
    put_int(meta, "hidden", c->hidden, ok);
    put_int(meta, "cond", c->cond, ok);
    static const char *const head_names[] = {"categorical", "mol", "gaussian"};
    put(meta, "head", json_string(head_names[c->head]), ok);
    put_int(meta, "mixtures", c->head == PS_HEAD_CATEGORICAL ? 0 : c->mixtures, ok);
    put_int(meta, "sample_rate", info->sample_rate, ok);
    if (info->source[0]) put(meta, "source", json_string(info->source), ok);
    if (info->recipe[0]) put(meta, "recipe", json_string(info->recipe), ok);
    if (info->noise_levels > 0) {
        char text[32];
        put_int(meta, "noise_levels", info->noise_levels, ok);
        snprintf(text, sizeof text, "%.9g", info->sigma_max); /* exact for a float */
        put(meta, "sigma_max", json_string(text), ok);
        snprintf(text, sizeof text, "%.9g", info->sigma_min);
        put(meta, "sigma_min", json_string(text), ok);
    }
    if (info->n_sources > 0) {
        char list[PS_MAX_SOURCES * 34] = "", weights[PS_MAX_SOURCES * 20] = "";
        for (int k = 0; k < info->n_sources; k++) {
            size_t a = strlen(list), b = strlen(weights);
            snprintf(list + a, sizeof list - a, "%s%s", k ? "," : "", info->sources[k]);
            snprintf(weights + b, sizeof weights - b, "%s%.9g", k ? "," : "", (double)info->weights[k]);
        }
        put(meta, "sources", json_string(list), ok);
        put(meta, "weights", json_string(weights), ok);
        put_int(meta, "lookahead", info->lookahead, ok);
    }
    if (write_meta && !write_meta(meta, ctx)) *ok = false;
    return meta;
}

static json_t *tensor_json(const ps_tensor_view *v, uint64_t begin, bool *ok)
{
    json_t *entry = json_object(), *shape = json_array(), *offsets = json_array();
    for (int k = 0; k < v->rank && shape; k++) append(shape, json_integer(v->shape[k]), ok);
    if (offsets) {
        append(offsets, json_integer((json_int_t)begin), ok);
        append(offsets, json_integer((json_int_t)(begin + 4 * (uint64_t)v->numel)), ok);
    }
    if (!entry) {
        json_decref(shape);
        json_decref(offsets);
        *ok = false;
        return NULL;
    }
    put(entry, "dtype", json_string("F32"), ok);
    put(entry, "shape", shape, ok);
    put(entry, "data_offsets", offsets, ok);
    return entry;
}

/* The whole header: metadata first, then the groups' tensors, each group in table
 * order, which is also the order of their data. */
static json_t *header_json(ps_st_kind kind, const ps_st_group *groups, int n,
                           const ps_model_info *info, ps_st_meta_writer write_meta,
                           const void *ctx, bool *ok)
{
    json_t *root = json_object();
    if (!root) {
        *ok = false;
        return NULL;
    }
    put(root, METADATA_KEY,
        metadata_json(kind, ps_wavenet_config_of(groups[0].net), info, write_meta, ctx, ok),
        ok);
    uint64_t offset = 0;
    for (int g = 0; g < n; g++) {
        for (int i = 0; i < ps_wavenet_num_tensors(groups[g].net); i++) {
            named_view t;
            group_tensor(&groups[g], i, &t);
            put(root, t.name, tensor_json(&t.v, offset, ok), ok);
            offset += 4 * (uint64_t)t.v.numel;
        }
    }
    return root;
}

/* The bytes before the data: the length, then the JSON padded with spaces to a multiple
 * of 8 so that the tensors start aligned. */
static int encode_header(const char *path, ps_st_kind kind, const ps_st_group *groups,
                         int n, const ps_model_info *info, ps_st_meta_writer write_meta,
                         const void *ctx, uint8_t **out, size_t *out_size, ps_error *err)
{
    bool ok = true;
    json_t *root = header_json(kind, groups, n, info, write_meta, ctx, &ok);
    char *text = ok ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text) return ps_error_set(err, "%s: out of memory for the header", path);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    uint8_t *buf = malloc(8 + padded);
    if (!buf) {
        free(text);
        return ps_error_set(err, "%s: out of memory for the header", path);
    }
    write_u64_le(buf, padded);
    memcpy(buf + 8, text, len);
    memset(buf + 8 + len, ' ', padded - len);
    free(text);
    *out = buf;
    *out_size = 8 + padded;
    return 0;
}

/* What one model file holds, for the writer below. */
typedef struct file_contents {
    const ps_st_group *groups;
    int n;
    const uint8_t *header;
    size_t header_size;
} file_contents;

static int write_contents(int fd, void *ctx)
{
    const file_contents *c = ctx;
    int e = ps_write_all(fd, c->header, c->header_size);
    for (int g = 0; g < c->n && e == 0; g++) {
        for (int i = 0; i < ps_wavenet_num_tensors(c->groups[g].net) && e == 0; i++) {
            ps_tensor_view v;
            ps_wavenet_tensor(c->groups[g].net, i, &v);
            e = ps_write_all(fd, v.data, v.numel * sizeof(float));
        }
    }
    return e;
}

static int check_text(const char *path, const char *key, const char *text, size_t cap,
                      ps_error *err)
{
    if (!memchr(text, '\0', cap))
        return ps_error_set(err, "%s: %s: not terminated", path, key);
    for (const char *s = text; *s; s++)
        if (!ps_st_is_printable((unsigned char)*s))
            return ps_error_set(err, "%s: %s: byte %td is not printable ASCII", path, key,
                                s - text);
    return 0;
}

/* What the loader would refuse is refused here, so a saved file always loads. */
static int check_savable(const char *path, ps_st_kind kind, const ps_st_group *groups,
                         int n, const ps_model_info *info, ps_error *err)
{
    if (info->sample_rate < MIN_SAMPLE_RATE || info->sample_rate > MAX_SAMPLE_RATE)
        return ps_error_set(err, "%s: sample_rate: %d Hz is outside %d..%d", path,
                            info->sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE);
    if (check_text(path, "source", info->source, sizeof info->source, err) ||
        check_text(path, "recipe", info->recipe, sizeof info->recipe, err))
        return -1;
    char buf[160];
    const char *problem = noise_ladder_problem(info);
    if (!problem) problem = separator_problem(ps_wavenet_config_of(groups[0].net), info, buf, sizeof buf);
    if (problem) return ps_error_set(err, "%s: %s", path, problem);
    char what[256];
    if (find_bad_value(groups, n, what, sizeof what))
        return ps_error_set(err, "%s: %s; such a %s cannot be loaded", path, what,
                            kinds[kind].thing);
    return 0;
}

int ps_st_save(const char *path, ps_st_kind kind, const ps_st_group *groups, int n,
               const ps_model_info *info, ps_st_meta_writer write_meta, const void *ctx,
               ps_error *err)
{
    if (n < 1 || n > MAX_GROUPS)
        return ps_error_set(err, "%s: %d tensor groups (internal error)", path, n);
    const ps_model_info defaults = {.sample_rate = DEFAULT_SAMPLE_RATE};
    if (!info) info = &defaults;
    if (check_savable(path, kind, groups, n, info, err)) return -1;
    uint8_t *header = NULL;
    size_t header_size = 0;
    if (encode_header(path, kind, groups, n, info, write_meta, ctx, &header, &header_size,
                      err))
        return -1;
    int rc;
    uint64_t total = header_size;
    for (int g = 0; g < n; g++) total += 4 * (uint64_t)ps_wavenet_num_params(groups[g].net);
    if (total > PS_MODEL_FILE_MAX_BYTES)
        rc = ps_error_set(err, "%s: the %s needs %" PRIu64 " bytes, more than the %zu a "
                          "%s may have", path, kinds[kind].thing, total,
                          PS_MODEL_FILE_MAX_BYTES, kinds[kind].noun);
    else
        rc = ps_write_file_atomically(
            path, write_contents,
            &(file_contents){.groups = groups, .n = n, .header = header, .header_size = header_size},
            err);
    free(header);
    return rc;
}
