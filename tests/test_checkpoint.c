/* Training checkpoints: a saved checkpoint loads back bit for bit (parameters, both
 * moments, step, PRNG state, extras, info), models and checkpoints are never taken for
 * one another, every malformed checkpoint is refused with one line naming the file and
 * the field, and saving never leaves a half-written checkpoint behind. Malformed files
 * are made from a valid one by editing its bytes or its parsed header. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "priorsep/checkpoint.h"
#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"
#include "safetensors_blob.h"
#include "test_files.h"

#define BAD_NAME "bad.ckpt"
#define RECIPE "priorsep train --source piano --steps 1000 --lr 0.001 --seed 7"

static void make_tmpdir(void) { tmpdir_create("/tmp/ps-test-checkpoint.XXXXXX"); }

/* ---- checkpoints and files --------------------------------------------------------- */

/* A second moment: never negative, and small as AdamW's are. */
static ps_wavenet *make_moment(ps_wavenet_config cfg, uint64_t seed)
{
    ps_wavenet *net = make_net(cfg, seed);
    float *p = ps_wavenet_params(net);
    for (size_t i = 0; i < ps_wavenet_num_params(net); i++) p[i] = fabsf(p[i]) * 1e-3f;
    return net;
}

/* A checkpoint as a trainer would keep it mid-run. */
static ps_checkpoint make_ck(ps_wavenet_config cfg, uint64_t seed)
{
    ps_checkpoint ck = {
        .net = make_net(cfg, seed),
        .adam_m = make_net(cfg, seed + 1),
        .adam_v = make_moment(cfg, seed + 2),
        .info = {.sample_rate = 14700, .source = "piano", .recipe = RECIPE},
        .step = 1234,
        .rng = {UINT64_C(0x0123456789abcdef), UINT64_C(0xfedcba9876543210)},
    };
    ps_error err;
    ck_assert_msg(ps_checkpoint_set_extra(&ck, "lr", "0.001", &err) == 0, "%s", err.msg);
    ck_assert_msg(ps_checkpoint_set_extra(&ck, "batch", "8", &err) == 0, "%s", err.msg);
    ck_assert_msg(ps_checkpoint_set_extra(&ck, "data", "/data/piano set/", &err) == 0, "%s",
                  err.msg);
    return ck;
}

static void save_ok(const char *path, const ps_checkpoint *ck)
{
    ps_error err;
    ck_assert_msg(ps_checkpoint_save(path, ck, &err) == 0, "%s", err.msg);
}

/* The bytes of a saved checkpoint of the small config. */
static blob valid_file(void)
{
    ps_checkpoint ck = make_ck(small_config(), 7);
    const char *path = tmp_path("valid.ckpt");
    save_ok(path, &ck);
    ps_checkpoint_free(&ck);
    blob b = read_file(path);
    unlink(path);
    return b;
}

/* Loads b from memory and expects a one-line refusal that names the file and contains
 * the `want` strings (NULL for none), with *ck untouched; frees b. */
static void expect_refused(blob b, const char *want1, const char *want2)
{
    ps_error err = {{0}};
    static ps_checkpoint ck, before; /* 10 KB each */
    memset(&ck, 0xa5, sizeof ck);
    memcpy(&before, &ck, sizeof ck);
    int rc = ps_checkpoint_load_memory(b.p, b.n, BAD_NAME, &ck, &err);
    ck_assert_msg(rc == -1, "a malformed checkpoint was accepted (want \"%s\")", want1);
    assert_refusal_message(err.msg, BAD_NAME ": ", want1, want2);
    ck_assert_int_eq(memcmp(&ck, &before, sizeof ck), 0);
    free(b.p);
}

static void load_ok(blob b, ps_checkpoint *ck)
{
    ps_error err;
    ck_assert_msg(ps_checkpoint_load_memory(b.p, b.n, "good.ckpt", ck, &err) == 0, "%s",
                  err.msg);
}

/* ---- round trips -------------------------------------------------------------------- */

static void assert_same_params(ps_wavenet *a, ps_wavenet *b)
{
    ck_assert_uint_eq(ps_wavenet_num_params(a), ps_wavenet_num_params(b));
    ck_assert_int_eq(memcmp(ps_wavenet_params(a), ps_wavenet_params(b),
                            ps_wavenet_num_params(a) * sizeof(float)),
                     0);
}

static void assert_same_config(const ps_wavenet_config *a, const ps_wavenet_config *b)
{
    assert_same_architecture(a, b);
    if (a->head == PS_HEAD_MOL) ck_assert_int_eq(a->mixtures, b->mixtures);
}

static void assert_same_ck(const ps_checkpoint *a, const ps_checkpoint *b)
{
    assert_same_config(ps_wavenet_config_of(a->net), ps_wavenet_config_of(b->net));
    assert_same_config(ps_wavenet_config_of(a->adam_m), ps_wavenet_config_of(b->net));
    assert_same_config(ps_wavenet_config_of(a->adam_v), ps_wavenet_config_of(b->net));
    assert_same_params(a->net, b->net);
    assert_same_params(a->adam_m, b->adam_m);
    assert_same_params(a->adam_v, b->adam_v);
    ck_assert_int_eq(a->step, b->step);
    ck_assert_uint_eq(a->rng[0], b->rng[0]);
    ck_assert_uint_eq(a->rng[1], b->rng[1]);
    ck_assert_int_eq(a->info.sample_rate, b->info.sample_rate);
    ck_assert_str_eq(a->info.source, b->info.source);
    ck_assert_str_eq(a->info.recipe, b->info.recipe);
    ck_assert_int_eq(a->n_extra, b->n_extra);
    for (int i = 0; i < a->n_extra; i++) { /* in the same order */
        ck_assert_str_eq(a->extra_key[i], b->extra_key[i]);
        ck_assert_str_eq(a->extra_value[i], b->extra_value[i]);
    }
}

/* Save, load from the file and from memory: the same checkpoint, bit for bit. */
static void round_trip(const ps_checkpoint *ck)
{
    const char *path = tmp_path("round-trip.ckpt");
    save_ok(path, ck);
    ps_error err;
    ps_checkpoint back;
    ck_assert_msg(ps_checkpoint_load(path, &back, &err) == 0, "%s", err.msg);
    assert_same_ck(&back, ck);

    blob b = read_file(path);
    ck_assert_uint_eq(st_header_length(b) % 8, 0);
    ck_assert_uint_eq(st_data(b).n, 3 * ps_wavenet_num_params(ck->net) * sizeof(float));
    ps_checkpoint mem;
    load_ok(b, &mem);
    assert_same_ck(&mem, ck);
    free(b.p);
    ps_checkpoint_free(&mem);
    ps_checkpoint_free(&back);
    ck_assert_ptr_null(back.net);
    ck_assert_ptr_null(back.adam_m);
    ck_assert_ptr_null(back.adam_v);
    unlink(path);
}

START_TEST(round_trip_mid_run)
{
    ps_checkpoint ck = make_ck(small_config(), 42);
    /* Second moments may be exactly zero (unused parameters), -0 included. */
    ps_wavenet_params(ck.adam_v)[0] = 0.0f;
    ps_wavenet_params(ck.adam_v)[1] = -0.0f;
    round_trip(&ck);
    ps_checkpoint_free(&ck);
}
END_TEST

START_TEST(round_trip_first_step_categorical)
{
    ps_wavenet_config cfg = {.stacks = 1, .layers = 4, .kernel = 3, .input_kernel = 1,
                             .residual = 6, .skip = 5, .hidden = 7, .cond = 0,
                             .head = PS_HEAD_CATEGORICAL, .mixtures = 0};
    ps_checkpoint ck = {
        .net = make_net(cfg, 1),
        .adam_m = make_net(cfg, 2),
        .adam_v = make_moment(cfg, 3),
        .info = {.sample_rate = 16000},
        .step = 0,
        .rng = {0, 1},
    };
    memset(ps_wavenet_params(ck.adam_m), 0, ps_wavenet_num_params(ck.adam_m) * sizeof(float));
    round_trip(&ck);
    ps_checkpoint_free(&ck);
}
END_TEST

/* The limits: step LONG_MAX, an all-ones state, 32 extras of the longest key and value,
 * the longest recipe, the reference architecture. */
START_TEST(round_trip_limits)
{
    ps_checkpoint ck = make_ck(ps_wavenet_config_reference(), 5);
    ck.step = LONG_MAX;
    ck.rng[0] = ck.rng[1] = UINT64_MAX;
    memset(ck.info.recipe, 'r', sizeof ck.info.recipe - 1);
    ck.info.recipe[sizeof ck.info.recipe - 1] = '\0';
    ps_error err;
    for (int i = ck.n_extra; i < PS_CHECKPOINT_MAX_EXTRA; i++) {
        char key[PS_CHECKPOINT_KEY_SIZE], value[PS_CHECKPOINT_VALUE_SIZE];
        memset(key, 'k', sizeof key - 3);
        key[sizeof key - 3] = (char)('0' + i / 10);
        key[sizeof key - 2] = (char)('0' + i % 10);
        key[sizeof key - 1] = '\0';
        memset(value, ' ' + i, sizeof value - 1);
        value[sizeof value - 1] = '\0';
        ck_assert_msg(ps_checkpoint_set_extra(&ck, key, value, &err) == 0, "%s", err.msg);
    }
    ck_assert_int_eq(ck.n_extra, PS_CHECKPOINT_MAX_EXTRA);
    round_trip(&ck);
    ps_checkpoint_free(&ck);
}
END_TEST

/* Data: the parameters, then adam.m, then adam.v, each in table order; the keys. */
START_TEST(layout)
{
    blob b = valid_file();
    json_t *h = header_of(b);
    ps_checkpoint ck = make_ck(small_config(), 1);
    const char *prefix[] = {"", "adam.m.", "adam.v."};
    uint64_t at = 0;
    for (int g = 0; g < 3; g++) {
        for (int i = 0; i < ps_wavenet_num_tensors(ck.net); i++) {
            ps_tensor_view v;
            ps_wavenet_tensor(ck.net, i, &v);
            char name[64];
            snprintf(name, sizeof name, "%s%s", prefix[g], v.name);
            ck_assert_uint_eq(offset_of(h, name, 0), at);
            at += 4 * v.numel;
            ck_assert_uint_eq(offset_of(h, name, 1), at);
        }
    }
    json_t *meta = json_object_get(h, "__metadata__");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "format")),
                     "priorsep.checkpoint");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "step")), "1234");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "rng")),
                     "0123456789abcdef:fedcba9876543210");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "extra.lr")), "0.001");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "recipe")), RECIPE);
    ck_assert_uint_eq(json_object_size(h), 3 * (size_t)ps_wavenet_num_tensors(ck.net) + 1);
    ps_checkpoint_free(&ck);
    json_decref(h);
    free(b.p);
}
END_TEST

/* Unknown metadata keys are ignored, as in model files. */
START_TEST(accepts_unknown_metadata)
{
    blob b = with_meta("comment", "resumed twice");
    ps_checkpoint ck;
    load_ok(b, &ck);
    ck_assert_int_eq(ck.n_extra, 3);
    ps_checkpoint_free(&ck);
    free(b.p);
}
END_TEST

/* ---- a model is not a checkpoint, a checkpoint is not a model ------------------------ */

START_TEST(model_and_checkpoint_refuse_each_other)
{
    ps_checkpoint ck = make_ck(small_config(), 3);
    const char *ck_path = tmp_path("run.ckpt"), *model_path = tmp_path("run.safetensors");
    save_ok(ck_path, &ck);
    ps_error err;
    ck_assert_msg(ps_model_save(model_path, ck.net, &ck.info, &err) == 0, "%s", err.msg);

    ps_model_info info;
    ck_assert_ptr_null(ps_model_load(ck_path, &info, &err));
    ck_assert_msg(strstr(err.msg, ck_path) == err.msg &&
                      strstr(err.msg, "__metadata__.format: \"priorsep.checkpoint\" is a "
                                      "training checkpoint, not a model file"),
                  "%s", err.msg);

    ps_checkpoint back;
    ck_assert_int_eq(ps_checkpoint_load(model_path, &back, &err), -1);
    ck_assert_msg(strstr(err.msg, model_path) == err.msg &&
                      strstr(err.msg, "__metadata__.format: \"priorsep.wavenet\" is a model "
                                      "file, not a training checkpoint"),
                  "%s", err.msg);

    /* Other formats keep the plain message. */
    expect_refused(with_meta("format", "other.thing"), "__metadata__.format",
                   "\"other.thing\" is not \"priorsep.checkpoint\"");
    expect_refused(with_meta("version", "2"), "__metadata__.version", "\"2\"");
    unlink(ck_path);
    unlink(model_path);
    ps_checkpoint_free(&ck);
}
END_TEST

/* ---- malformed checkpoints ------------------------------------------------------------ */

START_TEST(truncated_checkpoints)
{
    blob good = valid_file();
    uint64_t hl = st_header_length(good);
    size_t data = good.n - 8 - hl;
    size_t cuts[] = {0, 7, 8, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 4,
                     8 + hl + data / 3, 8 + hl + data / 3 + 4, 8 + hl + 2 * data / 3,
                     good.n - 4, good.n - 1};
    expect_cuts_refused(good, cuts, sizeof cuts / sizeof cuts[0], expect_refused);
    /* A third of the data gone: the three groups cannot fit. */
    blob b = {malloc(good.n), good.n - data / 3 - 4};
    memcpy(b.p, good.p, b.n);
    expect_refused(b, "data: the architecture has", "3 tensor groups need");

    const char *path = tmp_path("truncated.ckpt");
    write_file(path, (blob){good.p, good.n - 1});
    ps_error err;
    ps_checkpoint ck;
    ck_assert_int_eq(ps_checkpoint_load(path, &ck, &err), -1);
    ck_assert_msg(strstr(err.msg, path) == err.msg && strstr(err.msg, "data"), "%s",
                  err.msg);
    unlink(path);
    free(good.p);
}
END_TEST

START_TEST(non_finite_and_negative_moments)
{
    expect_refused(with_value("adam.m.head.w2", 2, 0x7fc00000), "tensor adam.m.head.w2",
                   "element 2 is NaN");
    expect_refused(with_value("adam.v.layers.1.skip.w", 0, 0x7f800000),
                   "tensor adam.v.layers.1.skip.w", "element 0 is Inf");
    expect_refused(with_value("input.w", 1, 0xff800000), "tensor input.w", "element 1 is Inf");
    expect_refused(with_value("adam.v.head.b2", 4, 0xbf000000), "tensor adam.v.head.b2",
                   "element 4 is -0.5, but an AdamW second moment is never negative");
    /* A negative first moment and a -0 second moment are fine. */
    blob b = with_value("adam.m.head.b2", 4, 0xbf000000);
    memcpy(st_data(b).p + st_data(b).n - 4, &(uint32_t){0x80000000}, 4);
    ps_checkpoint ck;
    load_ok(b, &ck);
    ck_assert(signbit(ps_wavenet_params(ck.adam_v)[ps_wavenet_num_params(ck.adam_v) - 1]));
    ps_checkpoint_free(&ck);
    free(b.p);
}
END_TEST

static void adam_shape_dim(json_t *h)
{
    json_object_set_new(tensor(h, "adam.v.layers.1.conv.w"), "shape",
                        json_pack("[iii]", 2, 4, 7));
}
static void adam_shape_rank(json_t *h)
{
    json_object_set_new(tensor(h, "adam.m.head.w2"), "shape", json_pack("[i]", 45));
}
static void adam_dtype(json_t *h)
{
    json_object_set_new(tensor(h, "adam.m.input.b"), "dtype", json_string("F16"));
}
static void adam_missing(json_t *h) { json_object_del(h, "adam.m.head.b2"); }
static void adam_v_missing(json_t *h) { json_object_del(h, "adam.v.layers.0.cond.w"); }
static void adam_unknown_group(json_t *h)
{
    json_object_set(h, "adam.x.input.b", tensor(h, "adam.m.input.b"));
}
static void adam_unknown_tensor(json_t *h)
{
    json_object_set(h, "adam.m.layers.9.conv.w", tensor(h, "adam.m.layers.1.conv.w"));
}
/* adam.m.input.b on top of the model's input.b. */
static void adam_overlap(json_t *h)
{
    json_object_set(tensor(h, "adam.m.input.b"), "data_offsets",
                    json_object_get(tensor(h, "input.b"), "data_offsets"));
}
static void adam_offsets(json_t *h)
{
    uint64_t b = offset_of(h, "adam.v.head.b2", 0);
    set_offsets(h, "adam.v.head.b2", (json_int_t)b, (json_int_t)b + 8);
}

START_TEST(bad_moment_tensors)
{
    expect_refused(edited(adam_shape_dim), "tensor adam.v.layers.1.conv.w",
                   "shape [2,4,8] expected, file has [2,4,7]");
    expect_refused(edited(adam_shape_rank), "tensor adam.m.head.w2",
                   "shape [5,9] expected, file has [45]");
    expect_refused(edited(adam_dtype), "tensor adam.m.input.b", "dtype F16");
    expect_refused(edited(adam_missing), "tensor adam.m.head.b2", "missing");
    expect_refused(edited(adam_v_missing), "tensor adam.v.layers.0.cond.w", "missing");
    expect_refused(edited(adam_unknown_group), "tensor adam.x.input.b", "not part");
    expect_refused(edited(adam_unknown_tensor), "tensor adam.m.layers.9.conv.w", "not part");
    expect_refused(edited(adam_overlap), "input.b", "overlap");
    expect_refused(edited(adam_offsets), "tensor adam.v.head.b2", "the shape needs 36");
}
END_TEST

START_TEST(bad_step)
{
    const char *bad[] = {"", "one", "1.5", "+1", "01", "-0", " 1", "1e3", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(with_meta("step", bad[i]), "__metadata__.step",
                       "not a decimal integer");
    expect_refused(with_meta("step", "-1"), "__metadata__.step", "-1 is negative");
    expect_refused(with_meta("step", "-9223372036854775808"), "__metadata__.step",
                   "negative");
    expect_refused(with_meta("step", "9223372036854775808"), "__metadata__.step",
                   "does not fit");
    expect_refused(with_meta("step", "99999999999999999999999"), "__metadata__.step",
                   "does not fit");
    expect_refused(with_meta("step", NULL), "__metadata__.step", "missing");

    blob b = with_meta("step", "9223372036854775807");
    ps_checkpoint ck;
    load_ok(b, &ck);
    ck_assert_int_eq(ck.step, LONG_MAX);
    ps_checkpoint_free(&ck);
    free(b.p);
}
END_TEST

START_TEST(bad_rng)
{
    const char *bad[] = {
        "",
        "0123456789abcdef",
        "0123456789abcdef:",
        "0123456789ABCDEF:fedcba9876543210",
        "0123456789abcdef-fedcba9876543210",
        "0123456789abcdef:fedcba987654321",
        "0123456789abcdef:fedcba98765432100",
        "123456789abcdef:0fedcba9876543210",
        "0123456789abcdeg:fedcba9876543210",
        " 123456789abcdef:fedcba9876543210",
        "0x23456789abcdef:fedcba9876543210",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(with_meta("rng", bad[i]), "__metadata__.rng",
                       "not two 16-digit lowercase hex numbers");
    expect_refused(with_meta("rng", "0000000000000000:0000000000000000"), "__metadata__.rng",
                   "all zero");
    expect_refused(with_meta("rng", NULL), "__metadata__.rng", "missing");
}
END_TEST

START_TEST(bad_extras)
{
    expect_refused(with_meta("extra.a b", "x"), "__metadata__.extra.a b", "character 1");
    expect_refused(with_meta("extra.", "x"), "__metadata__.extra.", "empty");
    expect_refused(with_meta("extra.abcdefghijklmnopqrstuvwxyz012345", "x"),
                   "extra key", "32 characters, more than the 31 accepted");
    expect_refused(with_meta("extra.lr", "0.001\n"), "__metadata__.extra.lr",
                   "byte 5 is not printable");
    char value[300];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    expect_refused(with_meta("extra.lr", value), "__metadata__.extra.lr",
                   "299 bytes, more than the 255 accepted");

    /* 33 extras. */
    blob good = valid_file();
    json_t *h = header_of(good);
    for (int i = 0; i < 30; i++) {
        char key[32];
        snprintf(key, sizeof key, "extra.k%d", i);
        set_meta(h, key, "v");
    }
    blob b = assemble(h, st_data(good));
    json_decref(h);
    free(good.p);
    expect_refused(b, "__metadata__.extra.k29", "more than 32 extras");
}
END_TEST

START_TEST(bad_info)
{
    expect_refused(with_meta("recipe", "train\tfast"), "__metadata__.recipe",
                   "byte 5 is not printable ASCII");
    expect_refused(with_meta("sample_rate", "99"), "__metadata__.sample_rate", "outside");
    expect_refused(with_meta("residual", "x"), "__metadata__.residual",
                   "not a decimal integer");
    expect_refused(with_meta("head", NULL), "__metadata__.head", "missing");
}
END_TEST

START_TEST(paths_that_are_not_checkpoints)
{
    ps_error err;
    ps_checkpoint ck;
    const char *missing = tmp_path("no-such.ckpt");
    ck_assert_int_eq(ps_checkpoint_load(missing, &ck, &err), -1);
    ck_assert_msg(strstr(err.msg, missing) && strstr(err.msg, strerror(ENOENT)), "%s",
                  err.msg);
    ck_assert_int_eq(ps_checkpoint_load(tmpdir, &ck, &err), -1);
    ck_assert_msg(strstr(err.msg, "is a directory, not a checkpoint"), "%s", err.msg);
    ck_assert_int_eq(ps_checkpoint_load_memory(NULL, 0, NULL, &ck, &err), -1);
    ck_assert_str_eq(err.msg, "checkpoint: no data");
}
END_TEST

/* ---- saving -------------------------------------------------------------------------- */

static void expect_save_refused(const ps_checkpoint *ck, const char *want1, const char *want2)
{
    const char *path = tmp_path("refused.ckpt");
    ps_error err;
    ck_assert_int_eq(ps_checkpoint_save(path, ck, &err), -1);
    ck_assert_msg(strstr(err.msg, path) == err.msg, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, want1), "\"%s\" not in: %s", want1, err.msg);
    ck_assert_msg(!want2 || strstr(err.msg, want2), "\"%s\" not in: %s", want2, err.msg);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(count_temporaries(), 0);
}

START_TEST(save_refuses_unloadable_checkpoints)
{
    ps_checkpoint ck = make_ck(small_config(), 9);

    ps_wavenet *v = ck.adam_v;
    ck.adam_v = NULL;
    expect_save_refused(&ck, "no adam_v", NULL);
    ps_wavenet_config other = small_config();
    other.hidden = 6;
    ck.adam_v = make_moment(other, 1);
    expect_save_refused(&ck, "adam_v", "architecture differs");
    ps_wavenet_destroy(ck.adam_v);
    ck.adam_v = v;

    ck.step = -5;
    expect_save_refused(&ck, "step", "-5 is negative");
    ck.step = 3;
    ck.rng[0] = ck.rng[1] = 0;
    expect_save_refused(&ck, "rng", "all zero");
    ck.rng[1] = 1;

    ck.info.recipe[4] = '\n';
    expect_save_refused(&ck, "recipe", "byte 4 is not printable");
    memset(ck.info.recipe, 'x', sizeof ck.info.recipe);
    expect_save_refused(&ck, "recipe", "not terminated");
    snprintf(ck.info.recipe, sizeof ck.info.recipe, "%s", RECIPE);

    snprintf(ck.extra_key[1], sizeof ck.extra_key[1], "lr");
    expect_save_refused(&ck, "extra lr", "given twice");
    snprintf(ck.extra_key[1], sizeof ck.extra_key[1], "bad key");
    expect_save_refused(&ck, "extra 1", "character 3");
    snprintf(ck.extra_key[1], sizeof ck.extra_key[1], "batch");
    ck.extra_value[2][0] = '\x7f';
    expect_save_refused(&ck, "extra data", "byte 0 is not printable");
    ck.extra_value[2][0] = '/';
    ck.n_extra = 33;
    expect_save_refused(&ck, "n_extra", "outside 0..32");
    ck.n_extra = 3;

    float *m = ps_wavenet_params(ck.adam_m);
    m[5] = NAN;
    expect_save_refused(&ck, "tensor adam.m.", "element 5 is NaN; such a checkpoint cannot");
    m[5] = 0.0f;
    ps_wavenet_params(ck.adam_v)[2] = -1.0f;
    expect_save_refused(&ck, "tensor adam.v.", "is -1, but an AdamW second moment");
    ps_wavenet_params(ck.adam_v)[2] = 1.0f;

    round_trip(&ck); /* and with everything put back, it saves */
    ps_checkpoint_free(&ck);
}
END_TEST

static void assert_file_holds(const char *path, const ps_checkpoint *ck)
{
    ps_error err;
    ps_checkpoint back;
    ck_assert_msg(ps_checkpoint_load(path, &back, &err) == 0, "%s", err.msg);
    assert_same_ck(&back, ck);
    ps_checkpoint_free(&back);
}

/* A failed write (a full disk, simulated with a file size limit: write() then fails with
 * EFBIG, the same path as ENOSPC) leaves the previous checkpoint as it was and no
 * temporary file. */
START_TEST(failed_save_keeps_previous_checkpoint)
{
    ps_checkpoint a = make_ck(small_config(), 1), b = make_ck(small_config(), 2);
    b.step = 2000;
    const char *path = tmp_path("keep.ckpt");
    save_ok(path, &a);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    rlim_t size = (rlim_t)st.st_size;

    /* In the header, in the parameters, in each moment, at the last byte. */
    rlim_t limits[] = {0, 100, size / 4, size / 2, size - 100, size - 1};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        limit_file_size(limits[i]);
        ps_error err;
        int rc = ps_checkpoint_save(path, &b, &err);
        unlimit_file_size();
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "cannot write"), "%s",
                      err.msg);
        assert_file_holds(path, &a);
        ck_assert_int_eq(count_temporaries(), 0);
    }

    save_ok(path, &b); /* and without the limit it replaces the file */
    assert_file_holds(path, &b);
    ck_assert_int_eq(count_temporaries(), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    unlink(path);
    ps_checkpoint_free(&a);
    ps_checkpoint_free(&b);
}
END_TEST

START_TEST(save_into_missing_folder)
{
    ps_checkpoint ck = make_ck(small_config(), 3);
    ps_error err;
    const char *path = tmp_path("missing-folder/run.ckpt");
    ck_assert_int_eq(ps_checkpoint_save(path, &ck, &err), -1);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, strerror(ENOENT)), "%s", err.msg);
    ps_checkpoint_free(&ck);
}
END_TEST

/* ---- extras ---------------------------------------------------------------------------- */

START_TEST(extras_api)
{
    ps_checkpoint ck = {0};
    ps_error err;
    ck_assert_ptr_null(ps_checkpoint_extra(&ck, "lr"));
    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "lr", "0.1", &err), 0);
    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "lr", "0.2", &err), 0);
    ck_assert_int_eq(ck.n_extra, 1);
    ck_assert_str_eq(ps_checkpoint_extra(&ck, "lr"), "0.2");
    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "empty", "", &err), 0);
    ck_assert_str_eq(ps_checkpoint_extra(&ck, "empty"), "");

    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "", "x", &err), -1);
    ck_assert_msg(strstr(err.msg, "empty"), "%s", err.msg);
    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "a=b", "x", &err), -1);
    ck_assert_msg(strstr(err.msg, "character 1"), "%s", err.msg);
    ck_assert_int_eq(
        ps_checkpoint_set_extra(&ck, "a-key-of-thirty-two-characters-x", "x", &err), -1);
    ck_assert_msg(strstr(err.msg, "32 characters"), "%s", err.msg);
    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "k", "caf\xc3\xa9", &err), -1);
    ck_assert_msg(strstr(err.msg, "byte 3 is not printable"), "%s", err.msg);
    char long_value[PS_CHECKPOINT_VALUE_SIZE + 1];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "k", long_value, &err), -1);
    ck_assert_msg(strstr(err.msg, "256 bytes"), "%s", err.msg);
    ck_assert_int_eq(ck.n_extra, 2);

    for (int i = 2; i < PS_CHECKPOINT_MAX_EXTRA; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(ps_checkpoint_set_extra(&ck, key, "v", &err), 0);
    }
    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "one-more", "v", &err), -1);
    ck_assert_msg(strstr(err.msg, "at most 32"), "%s", err.msg);
    ck_assert_int_eq(ps_checkpoint_set_extra(&ck, "lr", "0.3", &err), 0); /* replacing */
    ck_assert_str_eq(ps_checkpoint_extra(&ck, "lr"), "0.3");
    ps_checkpoint_free(&ck); /* no models: fine */
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_mid_run);
    tcase_add_test(tc, round_trip_first_step_categorical);
    tcase_add_test(tc, round_trip_limits);
    tcase_add_test(tc, layout);
    tcase_add_test(tc, accepts_unknown_metadata);
    tcase_add_test(tc, model_and_checkpoint_refuse_each_other);
    tcase_add_test(tc, truncated_checkpoints);
    tcase_add_test(tc, non_finite_and_negative_moments);
    tcase_add_test(tc, bad_moment_tensors);
    tcase_add_test(tc, bad_step);
    tcase_add_test(tc, bad_rng);
    tcase_add_test(tc, bad_extras);
    tcase_add_test(tc, bad_info);
    tcase_add_test(tc, paths_that_are_not_checkpoints);
    tcase_add_test(tc, save_refuses_unloadable_checkpoints);
    tcase_add_test(tc, failed_save_keeps_previous_checkpoint);
    tcase_add_test(tc, save_into_missing_folder);
    tcase_add_test(tc, extras_api);
    suite_add_tcase(s, tc);
    return s;
}
