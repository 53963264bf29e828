/* WaveNet model files: safetensors with the architecture in __metadata__.
 *
 * Layout: an 8-byte little-endian header length n, n bytes of JSON (padded with spaces),
 * then the data section holding the raw tensors. Nothing read from a file is trusted:
 * every size is checked before it is used in arithmetic or an allocation, and every
 * failure names the file and the field. */
#include "priorsep/model_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensors are copied between the file and the parameter block as they are. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "priorsep model files hold little-endian floats: little-endian hosts only"
#endif
_Static_assert(sizeof(float) == 4, "F32 tensors are copied into floats");

#define FORMAT_NAME "priorsep.wavenet"
#define FORMAT_VERSION "1"
#define METADATA_KEY "__metadata__"
#define MAX_HEADER_BYTES ((uint64_t)16 * 1000 * 1000)
/* The project's sample rate, written when ps_model_save() is given no info. */
#define DEFAULT_SAMPLE_RATE 14700
#define MIN_SAMPLE_RATE 1000
#define MAX_SAMPLE_RATE 768000
#define F32_EXPONENT_MASK UINT32_C(0x7f800000)
#define F32_MANTISSA_MASK UINT32_C(0x007fffff)

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

static bool is_printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

/* An untrusted string made fit for a one-line message: at most 40 bytes are shown and
 * anything but printable ASCII becomes '?'. */
typedef struct shown_text {
    char s[48];
} shown_text;

static shown_text shown(const char *s)
{
    shown_text t;
    size_t i = 0;
    for (; s[i] && i < 40; i++) t.s[i] = is_printable((unsigned char)s[i]) ? s[i] : '?';
    t.s[i] = '\0';
    if (s[i]) memcpy(t.s + i, "...", 4);
    return t;
}

/* Non-finite floats are found from their bits, so that no compiler flag (fast-math)
 * can turn the check off. Returns NULL for a finite value. */
static const char *non_finite_kind(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & F32_EXPONENT_MASK) != F32_EXPONENT_MASK) return NULL;
    return (bits & F32_MANTISSA_MASK) ? "NaN" : "Inf";
}

/* The first non-finite value of the model, as a message naming the tensor and index. */
static int find_non_finite(ps_wavenet *net, char *msg, size_t msg_size)
{
    for (int i = 0; i < ps_wavenet_num_tensors(net); i++) {
        ps_tensor_view v;
        ps_wavenet_tensor(net, i, &v);
        for (size_t j = 0; j < v.numel; j++) {
            const char *kind = non_finite_kind(v.data[j]);
            if (kind) {
                snprintf(msg, msg_size, "tensor %s: element %zu is %s", v.name, j, kind);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- loading: the file's frame ----------------------------------------------------- */

typedef struct loader {
    const char *name; /* the file, for messages */
    ps_error *err;
    const char *header;
    size_t header_size;
    const uint8_t *data; /* the data section, after the header */
    uint64_t data_size;
} loader;

/* Sets "NAME: <message>" and returns -1. */
static int fail(const loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const loader *ld, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ps_error_set(ld->err, "%s: %s", ld->name, what);
    return -1;
}

/* Splits the file into header and data section, checking the header length against
 * the file before anything else uses it. */
static int split_file(loader *ld, const uint8_t *file, size_t size)
{
    if (size < 8)
        return fail(ld, "file is %zu bytes, too short for the 8-byte header length", size);
    if (size > PS_MODEL_FILE_MAX_BYTES)
        return fail(ld, "file is %zu bytes, more than the %zu accepted", size,
                    PS_MODEL_FILE_MAX_BYTES);
    uint64_t n = read_u64_le(file);
    uint64_t rest = (uint64_t)size - 8;
    if (n < 2)
        return fail(ld, "header length: %" PRIu64 " bytes cannot hold a JSON object", n);
    if (n > rest)
        return fail(ld, "header length: %" PRIu64 " bytes, but only %" PRIu64
                    " bytes follow it (truncated or not a model file)", n, rest);
    if (n > MAX_HEADER_BYTES)
        return fail(ld, "header length: %" PRIu64 " bytes, more than the %" PRIu64
                    " accepted", n, MAX_HEADER_BYTES);
    ld->header = (const char *)file + 8;
    ld->header_size = (size_t)n;
    ld->data = file + 8 + n;
    ld->data_size = rest - n;
    return 0;
}

static json_t *parse_header(const loader *ld)
{
    json_error_t je;
    json_t *root = json_loadb(ld->header, ld->header_size, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        /* jansson quotes the offending input, which may hold a newline or worse. */
        for (char *c = je.text; *c; c++)
            if (!is_printable((unsigned char)*c)) *c = '?';
        fail(ld, "header: invalid JSON at line %d column %d (byte %d): %s", je.line,
             je.column, je.position, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        fail(ld, "header: not a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- loading: __metadata__ ------------------------------------------------------- */

/* Integers are written by ps_model_save() as canonical decimals; anything else (signs
 * that are not needed, leading zeros, spaces, exponents, overflow) is refused.
 * Returns 0, -1 (not a decimal integer) or -2 (does not fit in an int). */
static int parse_int(const char *s, int *out)
{
    bool negative = *s == '-';
    const char *p = negative ? s + 1 : s;
    if (*p < '0' || *p > '9') return -1;
    if (p[0] == '0' && (p[1] != '\0' || negative)) return -1; /* "007", "-0" */
    int64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
        if (v > (int64_t)INT_MAX + 1) return -2; /* stops before int64 could overflow */
    }
    if (negative) v = -v;
    if (v > INT_MAX || v < INT_MIN) return -2;
    *out = (int)v;
    return 0;
}

/* A metadata value (all are strings, checked earlier); NULL when absent. */
static const char *meta_value(json_t *meta, const char *key)
{
    return json_string_value(json_object_get(meta, key));
}

static int meta_required(const loader *ld, json_t *meta, const char *key, const char **out)
{
    *out = meta_value(meta, key);
    return *out ? 0 : fail(ld, METADATA_KEY ".%s: missing", key);
}

static int meta_int(const loader *ld, json_t *meta, const char *key, int *out)
{
    const char *s;
    if (meta_required(ld, meta, key, &s)) return -1;
    switch (parse_int(s, out)) {
    case 0:
        return 0;
    case -2:
        return fail(ld, METADATA_KEY ".%s: %s does not fit in an int", key, shown(s).s);
    default:
        return fail(ld, METADATA_KEY ".%s: \"%s\" is not a decimal integer", key,
                    shown(s).s);
    }
}

static int check_all_strings(const loader *ld, json_t *meta)
{
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return fail(ld, METADATA_KEY ".%s: not a string (safetensors metadata values "
                        "are strings)", shown(key).s);
    }
    return 0;
}

static int read_format(const loader *ld, json_t *meta)
{
    const char *format, *version;
    if (meta_required(ld, meta, "format", &format)) return -1;
    if (strcmp(format, FORMAT_NAME) != 0)
        return fail(ld, METADATA_KEY ".format: \"%s\" is not \"" FORMAT_NAME "\"",
                    shown(format).s);
    if (meta_required(ld, meta, "version", &version)) return -1;
    if (strcmp(version, FORMAT_VERSION) != 0)
        return fail(ld, METADATA_KEY ".version: \"%s\" is not supported (this build reads "
                    "version " FORMAT_VERSION ")", shown(version).s);
    return 0;
}

static int read_head(const loader *ld, json_t *meta, ps_wavenet_config *cfg)
{
    const char *head;
    if (meta_required(ld, meta, "head", &head)) return -1;
    if (strcmp(head, "categorical") == 0) {
        /* The count is meaningless here: any valid integer is accepted, 0 is kept. */
        cfg->head = PS_HEAD_CATEGORICAL;
        if (meta_value(meta, "mixtures") && meta_int(ld, meta, "mixtures", &cfg->mixtures))
            return -1;
        cfg->mixtures = 0;
        return 0;
    }
    if (strcmp(head, "mol") == 0) {
        cfg->head = PS_HEAD_MOL;
        return meta_int(ld, meta, "mixtures", &cfg->mixtures);
    }
    return fail(ld, METADATA_KEY ".head: \"%s\" is neither \"categorical\" nor \"mol\"",
                shown(head).s);
}

static int read_config(const loader *ld, json_t *meta, ps_wavenet_config *cfg)
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
        if (meta_int(ld, meta, fields[i].key, fields[i].value)) return -1;
    if (read_head(ld, meta, cfg)) return -1;
    ps_error why;
    if (ps_wavenet_config_check(cfg, &why)) return fail(ld, METADATA_KEY ".%s", why.msg);
    return 0;
}

static int read_info(const loader *ld, json_t *meta, ps_model_info *info)
{
    if (meta_int(ld, meta, "sample_rate", &info->sample_rate)) return -1;
    if (info->sample_rate < MIN_SAMPLE_RATE || info->sample_rate > MAX_SAMPLE_RATE)
        return fail(ld, METADATA_KEY ".sample_rate: %d Hz is outside %d..%d",
                    info->sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE);
    const char *source = meta_value(meta, "source");
    info->source[0] = '\0';
    if (!source) return 0;
    size_t n = strlen(source);
    if (n >= sizeof info->source)
        return fail(ld, METADATA_KEY ".source: %zu bytes, more than the %zu accepted", n,
                    sizeof info->source - 1);
    for (size_t i = 0; i < n; i++)
        if (!is_printable((unsigned char)source[i]))
            return fail(ld, METADATA_KEY ".source: byte %zu is not printable ASCII", i);
    memcpy(info->source, source, n + 1);
    return 0;
}

static int read_metadata(const loader *ld, json_t *root, ps_wavenet_config *cfg,
                         ps_model_info *info)
{
    json_t *meta = json_object_get(root, METADATA_KEY);
    if (!meta) return fail(ld, METADATA_KEY ": missing (not a priorsep model file)");
    if (!json_is_object(meta)) return fail(ld, METADATA_KEY ": not an object");
    if (check_all_strings(ld, meta) || read_format(ld, meta) || read_config(ld, meta, cfg) ||
        read_info(ld, meta, info))
        return -1;
    return 0;
}

/* ---- loading: the model and its tensors ---------------------------------------------- */

/* Refuses an architecture whose parameters cannot fit in the data section before the
 * model is allocated. */
static int create_model(const loader *ld, const ps_wavenet_config *cfg, ps_wavenet **net)
{
    uint64_t need = 4 * (uint64_t)ps_wavenet_config_num_params(cfg);
    if (need > ld->data_size)
        return fail(ld, "data: the architecture has %" PRIu64 " bytes of parameters, the "
                    "data section only %" PRIu64, need, ld->data_size);
    ps_error why;
    *net = ps_wavenet_create(cfg, &why);
    if (!*net) return fail(ld, "%s", why.msg);
    return 0;
}

typedef struct byte_range {
    uint64_t begin, end;
    int tensor;
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

static int check_dtype(const loader *ld, const ps_tensor_view *v, json_t *entry)
{
    const char *dtype = json_string_value(json_object_get(entry, "dtype"));
    if (!dtype) return fail(ld, "tensor %s: dtype missing or not a string", v->name);
    if (strcmp(dtype, "F32") != 0)
        return fail(ld, "tensor %s: dtype %s is not supported (only F32)", v->name,
                    shown(dtype).s);
    return 0;
}

static int check_shape(const loader *ld, const ps_tensor_view *v, json_t *entry)
{
    json_t *shape = json_object_get(entry, "shape");
    if (!json_is_array(shape))
        return fail(ld, "tensor %s: shape missing or not an array", v->name);
    size_t rank = json_array_size(shape);
    int64_t dims[9];
    bool same = rank == (size_t)v->rank;
    for (size_t k = 0; k < rank; k++) {
        json_t *d = json_array_get(shape, k);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return fail(ld, "tensor %s: shape element %zu is not a non-negative integer",
                        v->name, k);
        int64_t dim = json_integer_value(d);
        if (k < 9) dims[k] = dim; /* enough to show */
        if (same && dim != v->shape[k]) same = false;
    }
    if (same) return 0;
    char want[192], have[192]; /* 9 dimensions of up to 20 characters */
    format_dims(want, sizeof want, v->shape, (size_t)v->rank);
    format_dims(have, sizeof have, dims, rank < 9 ? rank : 9);
    return fail(ld, "tensor %s: shape %s expected, file has %s", v->name, want, have);
}

static int check_offsets(const loader *ld, const ps_tensor_view *v, json_t *entry,
                         byte_range *r)
{
    json_t *off = json_object_get(entry, "data_offsets");
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) ||
        !json_is_integer(e) || json_integer_value(b) < 0 || json_integer_value(e) < 0)
        return fail(ld, "tensor %s: data_offsets is not a pair [begin, end] of "
                    "non-negative integers", v->name);
    r->begin = (uint64_t)json_integer_value(b);
    r->end = (uint64_t)json_integer_value(e);
    if (r->begin > r->end)
        return fail(ld, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "]: begin is "
                    "after end", v->name, r->begin, r->end);
    if (r->end > ld->data_size)
        return fail(ld, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] run past the "
                    "end of the %" PRIu64 "-byte data section", v->name, r->begin, r->end,
                    ld->data_size);
    /* numel * 4 cannot overflow: create_model() bounded all parameters by the data. */
    uint64_t need = 4 * (uint64_t)v->numel;
    if (r->end - r->begin != need)
        return fail(ld, "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                    " bytes, the shape needs %" PRIu64, v->name, r->begin, r->end,
                    r->end - r->begin, need);
    return 0;
}

static int check_entry(const loader *ld, ps_wavenet *net, int i, json_t *root,
                       byte_range *r)
{
    ps_tensor_view v;
    ps_wavenet_tensor(net, i, &v);
    json_t *entry = json_object_get(root, v.name);
    if (!entry) return fail(ld, "tensor %s: missing", v.name);
    if (!json_is_object(entry)) return fail(ld, "tensor %s: not an object", v.name);
    r->tensor = i;
    return check_dtype(ld, &v, entry) || check_shape(ld, &v, entry) ||
                   check_offsets(ld, &v, entry, r)
               ? -1
               : 0;
}

static bool is_tensor_name(ps_wavenet *net, const char *name)
{
    for (int i = 0; i < ps_wavenet_num_tensors(net); i++) {
        ps_tensor_view v;
        ps_wavenet_tensor(net, i, &v);
        if (strcmp(v.name, name) == 0) return true;
    }
    return false;
}

/* Called once every expected tensor was found: any other key is one too many. Keys are
 * unique, so at most num_tensors + 1 keys are looked at. */
static int check_no_extra(const loader *ld, ps_wavenet *net, json_t *root)
{
    if (json_object_size(root) == (size_t)ps_wavenet_num_tensors(net) + 1) return 0;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, METADATA_KEY) != 0 && !is_tensor_name(net, key))
            return fail(ld, "tensor %s: not part of this architecture", shown(key).s);
    }
    return fail(ld, "header: unexpected entries"); /* not reached */
}

static int by_begin(const void *a, const void *b)
{
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorted by begin, ranges are disjoint iff each starts at or after the end of the one
 * before it. */
static int check_overlaps(const loader *ld, ps_wavenet *net, byte_range *r, int n)
{
    qsort(r, (size_t)n, sizeof *r, by_begin);
    for (int k = 1; k < n; k++) {
        if (r[k].begin < r[k - 1].end) {
            ps_tensor_view a, b;
            ps_wavenet_tensor(net, r[k - 1].tensor, &a);
            ps_wavenet_tensor(net, r[k].tensor, &b);
            return fail(ld, "tensor %s: data_offsets overlap those of tensor %s", b.name,
                        a.name);
        }
    }
    return 0;
}

static int copy_values(const loader *ld, ps_wavenet *net, const byte_range *r, int n)
{
    for (int k = 0; k < n; k++) {
        ps_tensor_view v;
        ps_wavenet_tensor(net, r[k].tensor, &v);
        memcpy(v.data, ld->data + r[k].begin, v.numel * sizeof(float));
    }
    char what[256];
    if (find_non_finite(net, what, sizeof what)) return fail(ld, "%s", what);
    return 0;
}

static int read_tensors(const loader *ld, json_t *root, ps_wavenet *net)
{
    int n = ps_wavenet_num_tensors(net);
    byte_range *ranges = calloc((size_t)n, sizeof *ranges);
    if (!ranges) return fail(ld, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = check_entry(ld, net, i, root, &ranges[i]);
    if (rc == 0) rc = check_no_extra(ld, net, root);
    if (rc == 0) rc = check_overlaps(ld, net, ranges, n);
    if (rc == 0) rc = copy_values(ld, net, ranges, n);
    free(ranges);
    return rc;
}

ps_wavenet *ps_model_load_memory(const void *data, size_t size, const char *name,
                                 ps_model_info *info, ps_error *err)
{
    loader ld = {.name = name ? name : "model", .err = err};
    if (!data) {
        fail(&ld, "no data");
        return NULL;
    }
    if (split_file(&ld, data, size)) return NULL;
    json_t *root = parse_header(&ld);
    if (!root) return NULL;
    ps_wavenet_config cfg = {0};
    ps_model_info found = {0};
    ps_wavenet *net = NULL;
    int rc = read_metadata(&ld, root, &cfg, &found);
    if (rc == 0) rc = create_model(&ld, &cfg, &net);
    if (rc == 0) rc = read_tensors(&ld, root, net);
    json_decref(root);
    if (rc) {
        ps_wavenet_destroy(net);
        return NULL;
    }
    if (info) *info = found;
    return net;
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
static int read_whole_file(const char *path, uint8_t **out, size_t *size, ps_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ps_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0)
        rc = ps_error_set(err, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = ps_error_set(err, "%s: is a directory, not a model file", path);
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

ps_wavenet *ps_model_load(const char *path, ps_model_info *info, ps_error *err)
{
    uint8_t *file = NULL;
    size_t size = 0;
    if (read_whole_file(path, &file, &size, err)) return NULL;
    ps_wavenet *net = ps_model_load_memory(file, size, path, info, err);
    free(file);
    return net;
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

static json_t *metadata_json(const ps_wavenet_config *c, const ps_model_info *info, bool *ok)
{
    json_t *meta = json_object();
    if (!meta) {
        *ok = false;
        return NULL;
    }
    put(meta, "format", json_string(FORMAT_NAME), ok);
    put(meta, "version", json_string(FORMAT_VERSION), ok);
    put_int(meta, "stacks", c->stacks, ok);
    put_int(meta, "layers", c->layers, ok);
    put_int(meta, "kernel", c->kernel, ok);
    put_int(meta, "input_kernel", c->input_kernel, ok);
    put_int(meta, "residual", c->residual, ok);
    put_int(meta, "skip", c->skip, ok);
    put_int(meta, "hidden", c->hidden, ok);
    put_int(meta, "cond", c->cond, ok);
    bool mol = c->head == PS_HEAD_MOL;
    put(meta, "head", json_string(mol ? "mol" : "categorical"), ok);
    put_int(meta, "mixtures", mol ? c->mixtures : 0, ok);
    put_int(meta, "sample_rate", info->sample_rate, ok);
    if (info->source[0]) put(meta, "source", json_string(info->source), ok);
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

/* The whole header: metadata first, then the tensors in table order, which is also the
 * order of their data. */
static json_t *header_json(ps_wavenet *net, const ps_model_info *info, bool *ok)
{
    json_t *root = json_object();
    if (!root) {
        *ok = false;
        return NULL;
    }
    put(root, METADATA_KEY, metadata_json(ps_wavenet_config_of(net), info, ok), ok);
    uint64_t offset = 0;
    for (int i = 0; i < ps_wavenet_num_tensors(net); i++) {
        ps_tensor_view v;
        ps_wavenet_tensor(net, i, &v);
        put(root, v.name, tensor_json(&v, offset, ok), ok);
        offset += 4 * (uint64_t)v.numel;
    }
    return root;
}

/* The bytes before the data: the length, then the JSON padded with spaces to a multiple
 * of 8 so that the tensors start aligned. */
static int encode_header(const char *path, ps_wavenet *net, const ps_model_info *info,
                         uint8_t **out, size_t *out_size, ps_error *err)
{
    bool ok = true;
    json_t *root = header_json(net, info, &ok);
    char *text = ok ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text) return ps_error_set(err, "%s: out of memory for the header", path);
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    uint8_t *buf = malloc(8 + padded);
    if (!buf) {
        free(text);
        return ps_error_set(err, "%s: out of memory for the header", path);
    }
    write_u64_le(buf, padded);
    memcpy(buf + 8, text, n);
    memset(buf + 8 + n, ' ', padded - n);
    free(text);
    *out = buf;
    *out_size = 8 + padded;
    return 0;
}

/* 0 or an errno value. A write that makes no progress counts as a full disk. */
static int write_all(int fd, const void *data, size_t size)
{
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t r = write(fd, p, size);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno;
        if (r == 0) return ENOSPC;
        p += r;
        size -= (size_t)r;
    }
    return 0;
}

static int write_contents(int fd, const char *path, ps_wavenet *net, const uint8_t *header,
                          size_t header_size, ps_error *err)
{
    int e = write_all(fd, header, header_size);
    for (int i = 0; i < ps_wavenet_num_tensors(net) && e == 0; i++) {
        ps_tensor_view v;
        ps_wavenet_tensor(net, i, &v);
        e = write_all(fd, v.data, v.numel * sizeof(float));
    }
    if (e) return ps_error_set(err, "%s: cannot write: %s", path, strerror(e));
    /* mkstemp() makes the file private; a model is an ordinary readable file. Failure
     * (a file system without modes) does not matter. */
    (void)fchmod(fd, 0644);
    if (fsync(fd) != 0) return ps_error_set(err, "%s: cannot sync: %s", path, strerror(errno));
    return 0;
}

/* Makes the rename durable; best effort, the model is already in place. */
static void sync_folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    int fd = open(dir ? dir : ".", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

static int write_atomically(const char *path, ps_wavenet *net, const uint8_t *header,
                            size_t header_size, ps_error *err)
{
    size_t tmp_size = strlen(path) + sizeof ".tmp-XXXXXX";
    char *tmp = malloc(tmp_size);
    if (!tmp) return ps_error_set(err, "%s: out of memory", path);
    snprintf(tmp, tmp_size, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ps_error_set(err, "%s: cannot create a temporary file next to it: %s", path,
                     strerror(errno));
        free(tmp);
        return -1;
    }
    int rc = write_contents(fd, path, net, header, header_size, err);
    if (close(fd) != 0 && rc == 0)
        rc = ps_error_set(err, "%s: cannot close: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ps_error_set(err, "%s: cannot replace it: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    else
        sync_folder_of(path);
    free(tmp);
    return rc;
}

/* What the loader would refuse is refused here, so a saved model always loads. */
static int check_savable(const char *path, ps_wavenet *net, const ps_model_info *info,
                         ps_error *err)
{
    if (info->sample_rate < MIN_SAMPLE_RATE || info->sample_rate > MAX_SAMPLE_RATE)
        return ps_error_set(err, "%s: sample_rate: %d Hz is outside %d..%d", path,
                            info->sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE);
    if (!memchr(info->source, '\0', sizeof info->source))
        return ps_error_set(err, "%s: source: not terminated", path);
    for (const char *s = info->source; *s; s++)
        if (!is_printable((unsigned char)*s))
            return ps_error_set(err, "%s: source: byte %td is not printable ASCII", path,
                                s - info->source);
    char what[256];
    if (find_non_finite(net, what, sizeof what))
        return ps_error_set(err, "%s: %s; such a model cannot be loaded", path, what);
    return 0;
}

/* info may be NULL: the model is then saved with the project's sample rate (14700 Hz)
 * and no source name. */
int ps_model_save(const char *path, ps_wavenet *net, const ps_model_info *info,
                  ps_error *err)
{
    const ps_model_info defaults = {.sample_rate = DEFAULT_SAMPLE_RATE};
    if (!info) info = &defaults;
    if (check_savable(path, net, info, err)) return -1;
    uint8_t *header = NULL;
    size_t header_size = 0;
    if (encode_header(path, net, info, &header, &header_size, err)) return -1;
    int rc;
    uint64_t total = header_size + 4 * (uint64_t)ps_wavenet_num_params(net);
    if (total > PS_MODEL_FILE_MAX_BYTES)
        rc = ps_error_set(err, "%s: the model needs %" PRIu64 " bytes, more than the %zu a "
                          "model file may have", path, total, PS_MODEL_FILE_MAX_BYTES);
    else
        rc = write_atomically(path, net, header, header_size, err);
    free(header);
    return rc;
}
