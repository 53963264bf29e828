/* Writes the seed corpus of the checkpoint fuzzer into a folder: tiny valid checkpoints
 * (both heads, with and without conditioning, extras and recipe) and malformed variants
 * of one of them, each a few kilobytes.
 *
 *   build/tests/make_checkpoint_corpus tests/fuzz/corpus-checkpoint
 *
 * Built with the tests so that it follows the file format; rerun it when the format
 * changes. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/checkpoint.h"
#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"
#include "../safetensors_blob.h"
#include "corpus_files.h"

/* Saves a random checkpoint of cfg as NAME and returns its bytes. */
static blob save_checkpoint(const char *name, ps_wavenet_config cfg, long step, int extras)
{
    ps_checkpoint ck = {
        .net = random_net(cfg, 1, 0),
        .adam_m = random_net(cfg, 2, 0),
        .adam_v = random_net(cfg, 3, 1),
        .info = {.sample_rate = 14700},
        .step = step,
        .rng = {UINT64_C(0x0123456789abcdef), 1},
    };
    ps_error err;
    if (extras) {
        snprintf(ck.info.source, sizeof ck.info.source, "bass");
        snprintf(ck.info.recipe, sizeof ck.info.recipe, "priorsep train --steps 100");
        if (ps_checkpoint_set_extra(&ck, "lr", "0.001", &err) ||
            ps_checkpoint_set_extra(&ck, "batch", "4", &err))
            die(err.msg);
    }
    if (ps_checkpoint_save(path_of(name), &ck, &err)) die(err.msg);
    ps_checkpoint_free(&ck);
    return read_blob(path_of(name));
}

static void set_meta(json_t *h, const char *key, const char *value)
{
    json_object_set_new(meta(h), key, json_string(value));
}

/* A copy of `good` with the float bits at the start of tensor `name`. */
static void write_with_value(const char *file, blob good, const char *name, uint32_t bits)
{
    json_t *h = header_of(good);
    json_int_t at = json_integer_value(
        json_array_get(json_object_get(json_object_get(h, name), "data_offsets"), 0));
    json_decref(h);
    blob b = copy_blob(good);
    memcpy(st_data(b).p + at, &bits, 4);
    write_blob(file, b);
    free(b.p);
}

static void malformed_variants(blob good)
{
    json_t *h = header_of(good);
    set_meta(h, "format", "priorsep.wavenet");
    write_edited("model-format.ckpt", h, good);

    h = header_of(good);
    json_object_del(h, "adam.m.head.b2");
    write_edited("missing-moment.ckpt", h, good);

    h = header_of(good);
    json_object_set_new(json_object_get(h, "adam.v.head.w1"), "shape",
                        json_pack("[ii]", 2, 3));
    write_edited("bad-moment-shape.ckpt", h, good);

    h = header_of(good);
    json_object_set(json_object_get(h, "adam.m.input.b"), "data_offsets",
                    json_object_get(json_object_get(h, "input.b"), "data_offsets"));
    write_edited("overlap-groups.ckpt", h, good);

    h = header_of(good);
    set_meta(h, "step", "-1");
    write_edited("bad-step.ckpt", h, good);

    h = header_of(good);
    set_meta(h, "rng", "0123456789ABCDEF:0000000000000001");
    write_edited("bad-rng.ckpt", h, good);

    h = header_of(good);
    set_meta(h, "extra.a b", "x");
    write_edited("bad-extra.ckpt", h, good);

    write_with_value("nan-moment.ckpt", good, "adam.m.head.w2", 0x7fc00000);
    write_with_value("negative-moment.ckpt", good, "adam.v.input.w", 0xbf800000);

    blob b = copy_blob(good);
    b.n = 8 + st_header_length(good) + st_data(good).n / 2;
    write_blob("truncated.ckpt", b);
    free(b.p);
}

int main(int argc, char **argv)
{
    corpus_start("make_checkpoint_corpus", argc, argv);
    free(save_checkpoint("categorical.ckpt", tiny_config(TINY_CATEGORICAL), 0, 0).p);
    blob mol = save_checkpoint("mol.ckpt", tiny_config(TINY_MOL), 1234, 1);
    free(save_checkpoint("mol-cond.ckpt", tiny_config(TINY_MOL_COND), 99, 1).p);
    malformed_variants(mol);
    free(mol.p);
    return 0;
}
