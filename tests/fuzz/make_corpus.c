/* Writes the seed corpus of the model-file fuzzer into a folder: tiny valid models (both
 * heads, with and without conditioning) and malformed variants of one of them, each a
 * few kilobytes.
 *
 *   build/tests/make_corpus tests/fuzz/corpus
 *
 * Built with the tests so that it follows the file format; rerun it when the format
 * changes. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

static const char *folder;

static void die(const char *what)
{
    fprintf(stderr, "make_corpus: %s\n", what);
    exit(1);
}

static const char *path_of(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", folder, name);
    return buf;
}

static void write_blob(const char *name, blob b)
{
    FILE *f = fopen(path_of(name), "wb");
    if (!f || fwrite(b.p, 1, b.n, f) != b.n || fclose(f) != 0) die(path_of(name));
}

static blob read_blob(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) die(path);
    long n = ftell(f);
    rewind(f);
    blob b = {malloc((size_t)n), (size_t)n};
    if (!b.p || fread(b.p, 1, b.n, f) != b.n) die(path);
    fclose(f);
    return b;
}

/* Saves a randomly initialized model of cfg as NAME and returns its bytes. */
static blob save_model(const char *name, ps_wavenet_config cfg, const char *source)
{
    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&cfg, &err);
    if (!net) die(err.msg);
    ps_wavenet_init_random(net, 1);
    ps_model_info info = {.sample_rate = 14700};
    snprintf(info.source, sizeof info.source, "%s", source);
    if (ps_model_save(path_of(name), net, &info, &err)) die(err.msg);
    ps_wavenet_destroy(net);
    return read_blob(path_of(name));
}

static uint64_t header_length(blob b)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b.p[i];
    return n;
}

static void set_header_length(blob b, uint64_t n)
{
    for (int i = 0; i < 8; i++) b.p[i] = (uint8_t)(n >> (8 * i));
}

static json_t *header_of(blob b)
{
    json_t *h = json_loadb((const char *)b.p + 8, header_length(b), 0, NULL);
    if (!h) die("cannot parse a header it wrote");
    return h;
}

/* Writes header h (padded to 8 bytes) followed by the data section of `like`. */
static void write_edited(const char *name, json_t *h, blob like)
{
    char *text = json_dumps(h, JSON_COMPACT);
    uint64_t hl = header_length(like);
    const uint8_t *data = like.p + 8 + hl;
    size_t data_n = like.n - 8 - hl;
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    blob b = {malloc(8 + padded + data_n), 8 + padded + data_n};
    set_header_length(b, padded);
    memcpy(b.p + 8, text, n);
    memset(b.p + 8 + n, ' ', padded - n);
    memcpy(b.p + 8 + padded, data, data_n);
    write_blob(name, b);
    free(b.p);
    free(text);
    json_decref(h);
}

static json_t *meta(json_t *h) { return json_object_get(h, "__metadata__"); }

static void malformed_variants(blob good)
{
    json_t *h = header_of(good);
    json_object_set_new(json_object_get(h, "layers.0.conv.w"), "dtype", json_string("F16"));
    write_edited("bad-dtype.safetensors", h, good);

    h = header_of(good);
    json_object_set_new(json_object_get(h, "head.w1"), "shape", json_pack("[ii]", 2, 3));
    write_edited("bad-shape.safetensors", h, good);

    h = header_of(good);
    json_t *first = json_object_get(json_object_get(h, "layers.0.conv.b"), "data_offsets");
    json_object_set_new(json_object_get(h, "layers.1.conv.b"), "data_offsets",
                        json_deep_copy(first));
    write_edited("overlap.safetensors", h, good);

    h = header_of(good);
    json_object_del(h, "head.b2");
    write_edited("missing-tensor.safetensors", h, good);

    h = header_of(good);
    json_object_set_new(meta(h), "residual", json_string("1e9"));
    write_edited("bad-int.safetensors", h, good);

    h = header_of(good);
    json_object_set_new(meta(h), "stacks", json_string("16"));
    json_object_set_new(meta(h), "residual", json_string("1024"));
    write_edited("huge-architecture.safetensors", h, good);

    h = header_of(good);
    json_object_del(h, "__metadata__");
    write_edited("no-metadata.safetensors", h, good);

    blob b = {malloc(good.n), good.n};
    memcpy(b.p, good.p, good.n);
    memcpy(b.p + good.n - 4, &(uint32_t){0x7fc00000}, 4);
    write_blob("nan.safetensors", b);
    set_header_length(b, (uint64_t)1 << 63);
    write_blob("header-length-huge.safetensors", b);
    b.n = 8 + header_length(good) + 10;
    set_header_length(b, header_length(good));
    write_blob("truncated.safetensors", b);
    free(b.p);

    /* A bad escape quoting a newline into jansson's message (a past fuzzer finding). */
    const char *esc = "{\"__metadata__\":{\"a\":\"l\\\n\"}}";
    blob e = {malloc(8 + strlen(esc)), 8 + strlen(esc)};
    set_header_length(e, strlen(esc));
    memcpy(e.p + 8, esc, strlen(esc));
    write_blob("bad-escape.safetensors", e);
    free(e.p);
}

int main(int argc, char **argv)
{
    if (argc != 2) die("usage: make_corpus FOLDER");
    folder = argv[1];
    ps_wavenet_config tiny = {.stacks = 1, .layers = 2, .kernel = 2, .input_kernel = 2,
                              .residual = 2, .skip = 2, .hidden = 2, .cond = 0,
                              .head = PS_HEAD_CATEGORICAL, .mixtures = 0};
    free(save_model("categorical.safetensors", tiny, "").p);
    tiny.head = PS_HEAD_MOL;
    tiny.mixtures = 2;
    blob mol = save_model("mol.safetensors", tiny, "bass");
    tiny.stacks = 2;
    tiny.kernel = 3;
    tiny.cond = 2;
    free(save_model("mol-cond.safetensors", tiny, "voice").p);
    malformed_variants(mol);
    free(mol.p);
    return 0;
}
