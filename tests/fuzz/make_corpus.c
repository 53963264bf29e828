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
#include "../safetensors_blob.h"

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
    if (blob_write(path_of(name), b)) die(path_of(name));
}

static blob read_blob(const char *path)
{
    blob b = blob_read(path);
    if (!b.p) die(path);
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

static json_t *header_of(blob b)
{
    json_t *h = st_header(b, NULL);
    if (!h) die("cannot parse a header it wrote");
    return h;
}

/* Writes header h followed by the data section of `like`. */
static void write_edited(const char *name, json_t *h, blob like)
{
    blob b = st_assemble(h, st_data(like));
    if (!b.p) die("cannot encode a header");
    write_blob(name, b);
    free(b.p);
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
    st_set_header_length(b, (uint64_t)1 << 63);
    write_blob("header-length-huge.safetensors", b);
    b.n = 8 + st_header_length(good) + 10;
    st_set_header_length(b, st_header_length(good));
    write_blob("truncated.safetensors", b);
    free(b.p);

    /* A bad escape quoting a newline into jansson's message (a past fuzzer finding). */
    const char *esc = "{\"__metadata__\":{\"a\":\"l\\\n\"}}";
    blob e = {malloc(8 + strlen(esc)), 8 + strlen(esc)};
    st_set_header_length(e, strlen(esc));
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
