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
#include "corpus_files.h"

/* Saves a randomly initialized model of cfg as NAME and returns its bytes. */
static blob save_model(const char *name, ps_wavenet_config cfg, const char *source)
{
    ps_wavenet *net = random_net(cfg, 1, 0);
    ps_error err;
    ps_model_info info = {.sample_rate = 14700};
    snprintf(info.source, sizeof info.source, "%s", source);
    if (ps_model_save(path_of(name), net, &info, &err)) die(err.msg);
    ps_wavenet_destroy(net);
    return read_blob(path_of(name));
}

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

    blob b = copy_blob(good);
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
    corpus_start("make_corpus", argc, argv);
    free(save_model("categorical.safetensors", tiny_config(TINY_CATEGORICAL), "").p);
    blob mol = save_model("mol.safetensors", tiny_config(TINY_MOL), "bass");
    free(save_model("mol-cond.safetensors", tiny_config(TINY_MOL_COND), "voice").p);
    malformed_variants(mol);
    free(mol.p);
    return 0;
}
