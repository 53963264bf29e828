/* Model files: a saved model loads back bit for bit, every malformed file is refused
 * with one line naming the file and the field, and saving never leaves a half-written
 * model behind. Malformed files are made from a valid one, either by editing its bytes
 * or by editing its parsed header and assembling header and data again. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"
#include "safetensors_blob.h"
#include "test_files.h"

#define BAD_NAME "bad.safetensors"

static void make_tmpdir(void) { tmpdir_create("/tmp/ps-test-model-file.XXXXXX"); }

/* ---- models and files ------------------------------------------------------------ */

static void save_ok(const char *path, ps_wavenet *net, const ps_model_info *info)
{
    ps_error err;
    ck_assert_msg(ps_model_save(path, net, info, &err) == 0, "%s", err.msg);
}

/* The bytes of a saved model of cfg. */
static blob valid_file_of(ps_wavenet_config cfg)
{
    ps_wavenet *net = make_net(cfg, 7);
    ps_model_info info = {.sample_rate = 14700, .source = "piano"};
    const char *path = tmp_path("valid.safetensors");
    save_ok(path, net, &info);
    ps_wavenet_destroy(net);
    blob b = read_file(path);
    unlink(path);
    return b;
}

static blob valid_file(void) { return valid_file_of(small_config()); }

/* Loads b from memory, expects a refusal naming the file and containing the `want`
 * strings (up to two; NULL for fewer), then frees b. */
static void expect_refused(blob b, const char *want1, const char *want2)
{
    ps_error err = {{0}};
    ps_model_info info = {.sample_rate = -1};
    ps_wavenet *net = ps_model_load_memory(b.p, b.n, BAD_NAME, &info, &err);
    ck_assert_msg(net == NULL, "a malformed file was accepted (want \"%s\")", want1);
    assert_refusal_message(err.msg, BAD_NAME ": ", want1, want2);
    ck_assert_int_eq(info.sample_rate, -1); /* info untouched on failure */
    free(b.p);
}

static ps_wavenet *load_ok(blob b, ps_model_info *info)
{
    ps_error err;
    ps_wavenet *net = ps_model_load_memory(b.p, b.n, "good.safetensors", info, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    return net;
}

/* ---- round trips -------------------------------------------------------------------- */

static void assert_same_config(const ps_wavenet_config *a, const ps_wavenet_config *b)
{
    assert_same_architecture(a, b);
    ck_assert_int_eq(a->mixtures, b->mixtures);
}

/* Save, load from the file and from memory: same config, info and parameter bits. */
static void round_trip(ps_wavenet_config cfg, const ps_model_info *info)
{
    ps_wavenet *net = make_net(cfg, 42);
    const char *path = tmp_path("round-trip.safetensors");
    save_ok(path, net, info);

    ps_error err;
    ps_model_info got;
    ps_wavenet *back = ps_model_load(path, &got, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    assert_same_config(ps_wavenet_config_of(back), &cfg);
    ck_assert_uint_eq(ps_wavenet_num_params(back), ps_wavenet_num_params(net));
    ck_assert_int_eq(memcmp(ps_wavenet_params(back), ps_wavenet_params(net),
                            ps_wavenet_num_params(net) * sizeof(float)),
                     0);
    ck_assert_int_eq(got.sample_rate, info ? info->sample_rate : 14700);
    ck_assert_str_eq(got.source, info ? info->source : "");

    blob b = read_file(path);
    ck_assert_uint_eq(st_header_length(b) % 8, 0);
    ck_assert_uint_eq(st_data(b).n, ps_wavenet_num_params(net) * sizeof(float));
    ps_wavenet *mem = load_ok(b, NULL);
    ck_assert_int_eq(memcmp(ps_wavenet_params(mem), ps_wavenet_params(net),
                            ps_wavenet_num_params(net) * sizeof(float)),
                     0);
    free(b.p);
    ps_wavenet_destroy(mem);
    ps_wavenet_destroy(back);
    ps_wavenet_destroy(net);
    unlink(path);
}

START_TEST(round_trip_categorical)
{
    ps_wavenet_config cfg = {.stacks = 1, .layers = 4, .kernel = 3, .input_kernel = 1,
                             .residual = 6, .skip = 5, .hidden = 7, .cond = 0,
                             .head = PS_HEAD_CATEGORICAL, .mixtures = 0};
    ps_model_info info = {.sample_rate = 16000, .source = "drums"};
    round_trip(cfg, &info);
}
END_TEST

START_TEST(round_trip_mol)
{
    ps_wavenet_config cfg = small_config();
    cfg.cond = 0;
    ps_model_info info = {.sample_rate = 14700, .source = "bass"};
    round_trip(cfg, &info);
}
END_TEST

START_TEST(round_trip_cond)
{
    ps_model_info info = {.sample_rate = 768000, .source = "voice, noise-conditioned"};
    round_trip(small_config(), &info);
}
END_TEST

START_TEST(round_trip_reference_without_info)
{
    round_trip(ps_wavenet_config_reference(), NULL);
}
END_TEST

/* Tensor data follows the table order, header padded with spaces. */
START_TEST(layout_follows_table)
{
    blob b = valid_file();
    json_t *h = header_of(b);
    ps_wavenet_config cfg = small_config();
    ps_wavenet *net = make_net(cfg, 1);
    uint64_t at = 0;
    for (int i = 0; i < ps_wavenet_num_tensors(net); i++) {
        ps_tensor_view v;
        ps_wavenet_tensor(net, i, &v);
        ck_assert_uint_eq(offset_of(h, v.name, 0), at);
        at += 4 * v.numel;
        ck_assert_uint_eq(offset_of(h, v.name, 1), at);
    }
    /* After the JSON's closing brace, only padding spaces. */
    uint64_t hl = st_header_length(b), end = hl;
    while (end > 0 && b.p[8 + end - 1] == ' ') end--;
    ck_assert_uint_gt(end, 0);
    ck_assert_int_eq(b.p[8 + end - 1], '}');
    ck_assert_uint_lt(hl - end, 8);
    ps_wavenet_destroy(net);
    json_decref(h);
    free(b.p);
}
END_TEST

/* Metadata keys the loader does not know (a note of another tool) are fine. */
static void add_unknown_key(json_t *h) { set_meta(h, "trainer_note", "train.py --steps 1000"); }

/* A categorical model may say any valid integer for mixtures; it is kept as 0. */
static void categorical_with_mixtures(json_t *h)
{
    set_meta(h, "head", "categorical");
    set_meta(h, "mixtures", "7");
}

START_TEST(accepts_unknown_metadata_and_categorical_mixtures)
{
    blob b = edited(add_unknown_key);
    ps_wavenet *net = load_ok(b, NULL);
    ps_wavenet_destroy(net);
    free(b.p);

    ps_wavenet_config cfg = small_config();
    cfg.head = PS_HEAD_CATEGORICAL;
    cfg.mixtures = 0;
    blob c = valid_file_of(cfg);
    json_t *h = header_of(c);
    categorical_with_mixtures(h);
    blob d = assemble(h, st_data(c));
    net = load_ok(d, NULL);
    ck_assert_int_eq(ps_wavenet_config_of(net)->mixtures, 0);
    ps_wavenet_destroy(net);
    json_decref(h);
    free(c.p);
    free(d.p);
}
END_TEST

/* ---- the frame: size and header length ------------------------------------------------ */

START_TEST(truncated_files)
{
    blob good = valid_file();
    uint64_t hl = st_header_length(good);
    size_t cuts[] = {0, 1, 7, 8, 12, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 1,
                     8 + hl + 100, good.n - 4, good.n - 1};
    expect_cuts_refused(good, cuts, sizeof cuts / sizeof cuts[0], expect_refused);
    /* The same through a file on disk: the message names the path. */
    const char *path = tmp_path("truncated.safetensors");
    write_file(path, (blob){good.p, good.n - 1});
    ps_error err;
    ck_assert_ptr_null(ps_model_load(path, NULL, &err));
    ck_assert_msg(strstr(err.msg, path) == err.msg, "%s", err.msg);
    unlink(path);
    free(good.p);
}
END_TEST

static blob with_header_length(uint64_t n)
{
    blob b = valid_file();
    st_set_header_length(b, n);
    return b;
}

START_TEST(bad_header_lengths)
{
    blob good = valid_file();
    size_t size = good.n;
    free(good.p);
    expect_refused(with_header_length(0), "header length", "0 bytes");
    expect_refused(with_header_length(1), "header length", NULL);
    expect_refused(with_header_length(size - 8 + 1), "header length", NULL);
    expect_refused(with_header_length((uint64_t)1 << 40), "header length", NULL);
    expect_refused(with_header_length((uint64_t)1 << 63), "header length",
                   "9223372036854775808");
    expect_refused(with_header_length(UINT64_MAX), "header length", NULL);
    /* A length that fits the file but ends inside the JSON. */
    expect_refused(with_header_length(16), "header", "JSON");
}
END_TEST

START_TEST(more_than_100_mb_of_header)
{
    /* The file holds 100 MB + 8 bytes of spaces, so only the header limit can refuse. */
    size_t n = 100u * 1000 * 1000 + 8;
    blob b = {malloc(8 + n), 8 + n};
    memset(b.p + 8, ' ', n);
    st_set_header_length(b, n);
    expect_refused(b, "header length", "accepted");
}
END_TEST

/* ---- the header ------------------------------------------------------------------------ */

START_TEST(bad_json)
{
    blob b = valid_file();
    b.p[8] = '#';
    expect_refused(b, "header: invalid JSON", "line 1");

    json_t *arr = json_pack("[i]", 1);
    expect_refused(assemble(arr, (blob){NULL, 0}), "header: not a JSON object", NULL);
    json_decref(arr);

    /* A duplicate key, which a naive parser would resolve silently. */
    const char *dup = "{\"__metadata__\":{},\"__metadata__\":{}}";
    size_t n = strlen(dup);
    blob d = {malloc(8 + n), 8 + n};
    st_set_header_length(d, n);
    memcpy(d.p + 8, dup, n);
    expect_refused(d, "header", "duplicate");

    /* jansson quotes the bad input, here a newline: the message stays one line (found
     * by the fuzzer). */
    const char *esc = "{\"__metadata__\":{\"a\":\"l\\\n\"}}";
    n = strlen(esc);
    blob e = {malloc(8 + n), 8 + n};
    st_set_header_length(e, n);
    memcpy(e.p + 8, esc, n);
    expect_refused(e, "header", "invalid escape");
}
END_TEST

static void drop_metadata(json_t *h) { json_object_del(h, "__metadata__"); }
static void metadata_not_object(json_t *h)
{
    json_object_set_new(h, "__metadata__", json_string("x"));
}
static void metadata_integer(json_t *h)
{
    json_object_set_new(json_object_get(h, "__metadata__"), "stacks", json_integer(2));
}
static void wrong_format(json_t *h) { set_meta(h, "format", "other.model"); }
static void no_format(json_t *h) { set_meta(h, "format", NULL); }
static void wrong_version(json_t *h) { set_meta(h, "version", "2"); }

START_TEST(bad_metadata)
{
    expect_refused(edited(drop_metadata), "__metadata__", "missing");
    expect_refused(edited(metadata_not_object), "__metadata__", "not an object");
    expect_refused(edited(metadata_integer), "__metadata__.stacks", "not a string");
    expect_refused(edited(wrong_format), "__metadata__.format", "other.model");
    expect_refused(edited(no_format), "__metadata__.format", "missing");
    expect_refused(edited(wrong_version), "__metadata__.version", "\"2\"");
}
END_TEST

/* Edits one metadata field of a valid file and expects a refusal naming it. */
static void expect_field_refused(const char *key, const char *value, const char *want)
{
    char field[64];
    snprintf(field, sizeof field, "__metadata__.%s", key);
    expect_refused(with_meta(key, value), field, want);
}

START_TEST(non_numeric_integer_fields)
{
    const char *bad[] = {"two", "", " 2", "2 ", "+2", "02", "-0", "2.0", "1e9", "0x2",
                         "2a", "-", "--2", "\xc2\xb2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_field_refused("kernel", bad[i], "not a decimal integer");
    expect_field_refused("kernel", NULL, "missing");
    expect_field_refused("residual", "1e9", "not a decimal integer");
    expect_field_refused("residual", "99999999999999999999", "does not fit");
    expect_field_refused("residual", "2147483648", "does not fit");
    expect_field_refused("cond", "-2147483649", "does not fit");
}
END_TEST

START_TEST(config_out_of_bounds)
{
    expect_field_refused("stacks", "100000", "outside 1..16");
    expect_field_refused("stacks", "0", "outside");
    expect_field_refused("residual", "1000000000", "outside");
    expect_field_refused("residual", "2147483647", "outside");
    expect_field_refused("kernel", "9", "outside 1..8");
    expect_field_refused("cond", "-1", "outside");
    expect_field_refused("cond", "-2147483648", "outside");
    expect_field_refused("mixtures", "65", "outside");
    expect_field_refused("mixtures", NULL, "missing"); /* required by the MoL head */
    expect_field_refused("head", "gauss", "gauss");
    expect_field_refused("sample_rate", "999", "outside");
    expect_field_refused("sample_rate", "768001", "outside");
    expect_field_refused("sample_rate", NULL, "missing");
    expect_field_refused("source", "a name longer than sixty-three bytes, which is the "
                                   "limit of the info struct",
                         "bytes");
    expect_field_refused("source", "tab\there", "not printable");
}
END_TEST

/* The recipe: saved under "recipe" when not empty, loaded back as it was, up to the
 * 1023 characters the info struct holds. */
START_TEST(recipe_round_trip)
{
    ps_wavenet *net = make_net(small_config(), 5);
    const char *path = tmp_path("recipe.safetensors");
    ps_model_info info = {.sample_rate = 14700, .source = "piano",
                          .recipe = "priorsep train-prior --source piano --steps 20000 "
                                    "--lr 0.001 --seed 7 data/piano/*.wav"};
    ps_model_info got;
    ps_error err;
    for (int longest = 0; longest < 2; longest++) {
        if (longest) {
            for (size_t i = 0; i < sizeof info.recipe - 1; i++)
                info.recipe[i] = (char)(' ' + i % 95); /* every printable character */
            info.recipe[sizeof info.recipe - 1] = '\0';
        }
        save_ok(path, net, &info);
        ps_wavenet *back = ps_model_load(path, &got, &err);
        ck_assert_msg(back != NULL, "%s", err.msg);
        ck_assert_str_eq(got.recipe, info.recipe);
        ck_assert_str_eq(got.source, info.source);
        ps_wavenet_destroy(back);
        blob b = read_file(path);
        json_t *h = header_of(b);
        ck_assert_str_eq(json_string_value(
                             json_object_get(json_object_get(h, "__metadata__"), "recipe")),
                         info.recipe);
        json_decref(h);
        free(b.p);
    }

    /* An empty recipe is not written, and a file without one loads with an empty one. */
    info.recipe[0] = '\0';
    save_ok(path, net, &info);
    blob b = read_file(path);
    json_t *h = header_of(b);
    ck_assert_ptr_null(json_object_get(json_object_get(h, "__metadata__"), "recipe"));
    json_decref(h);
    memset(got.recipe, 'x', sizeof got.recipe);
    ps_wavenet_destroy(load_ok(b, &got));
    ck_assert_str_eq(got.recipe, "");
    free(b.p);
    unlink(path);
    ps_wavenet_destroy(net);
}
END_TEST

START_TEST(bad_recipe)
{
    char text[1100];
    memset(text, 'r', 1024);
    text[1024] = '\0';
    expect_field_refused("recipe", text, "1024 bytes, more than the 1023 accepted");
    memset(text, 'r', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    expect_field_refused("recipe", text, "1099 bytes");
    expect_field_refused("recipe", "train\n--steps 10", "byte 5 is not printable ASCII");
    expect_field_refused("recipe", "train --name caf\xc3\xa9", "byte 16 is not printable");
    expect_field_refused("recipe", "\x7f", "byte 0 is not printable");

    /* What the loader refuses is not saved. */
    ps_wavenet *net = make_net(small_config(), 1);
    const char *path = tmp_path("bad-recipe.safetensors");
    ps_error err;
    ps_model_info info = {.sample_rate = 14700, .recipe = "train\t--fast"};
    ck_assert_int_eq(ps_model_save(path, net, &info, &err), -1);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "recipe: byte 5 is not printable"),
                  "%s", err.msg);
    memset(info.recipe, 'r', sizeof info.recipe);
    ck_assert_int_eq(ps_model_save(path, net, &info, &err), -1);
    ck_assert_msg(strstr(err.msg, "recipe: not terminated"), "%s", err.msg);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(count_temporaries(), 0);
    ps_wavenet_destroy(net);
}
END_TEST

/* The biggest architecture the bounds allow, declared by a file of a few kilobytes: the
 * loader must refuse it before allocating gigabytes. */
START_TEST(huge_architecture_in_small_file)
{
    /* Every field at its maximum: refused by the total-size bound, before allocation. */
    blob good = valid_file();
    json_t *h = header_of(good);
    set_meta(h, "stacks", "16");
    set_meta(h, "layers", "16");
    set_meta(h, "kernel", "8");
    set_meta(h, "residual", "1024");
    set_meta(h, "skip", "1024");
    set_meta(h, "hidden", "1024");
    set_meta(h, "cond", "256");
    blob b = assemble(h, st_data(good));
    json_decref(h);
    expect_refused(b, "architecture", "parameters, more than");

    /* Within every bound (about 8 M parameters) but far larger than the file's data:
     * refused by comparing with the data section, before allocation. */
    h = header_of(good);
    set_meta(h, "stacks", "1");
    set_meta(h, "layers", "2");
    set_meta(h, "kernel", "2");
    set_meta(h, "residual", "1024");
    set_meta(h, "skip", "1024");
    b = assemble(h, st_data(good));
    json_decref(h);
    free(good.p);
    expect_refused(b, "data", "bytes of parameters");
}
END_TEST

/* ---- tensors ------------------------------------------------------------------------ */

static void dtype_f16(json_t *h)
{
    json_object_set_new(tensor(h, "layers.1.conv.w"), "dtype", json_string("F16"));
}
static void dtype_i32(json_t *h)
{
    json_object_set_new(tensor(h, "head.b2"), "dtype", json_string("I32"));
}
static void dtype_missing(json_t *h) { json_object_del(tensor(h, "input.b"), "dtype"); }

START_TEST(bad_dtypes)
{
    expect_refused(edited(dtype_f16), "tensor layers.1.conv.w", "dtype F16");
    expect_refused(edited(dtype_i32), "tensor head.b2", "dtype I32");
    expect_refused(edited(dtype_missing), "tensor input.b", "dtype missing");
}
END_TEST

static void shape_wrong_dim(json_t *h)
{
    json_object_set_new(tensor(h, "layers.1.conv.w"), "shape", json_pack("[iii]", 2, 4, 7));
}
static void shape_wrong_rank(json_t *h)
{
    json_object_set_new(tensor(h, "layers.1.conv.w"), "shape", json_pack("[ii]", 8, 8));
}
static void shape_negative(json_t *h)
{
    json_object_set_new(tensor(h, "head.w1"), "shape", json_pack("[ii]", -3, 5));
}
static void shape_not_array(json_t *h)
{
    json_object_set_new(tensor(h, "head.w1"), "shape", json_string("[3,5]"));
}
static void shape_real(json_t *h)
{
    json_object_set_new(tensor(h, "head.w1"), "shape", json_pack("[fi]", 3.0, 5));
}
static void shape_long(json_t *h)
{
    json_t *s = json_array();
    for (int i = 0; i < 1000; i++) json_array_append_new(s, json_integer(1));
    json_object_set_new(tensor(h, "head.w1"), "shape", s);
}

START_TEST(shape_mismatch)
{
    expect_refused(edited(shape_wrong_dim), "tensor layers.1.conv.w",
                   "shape [2,4,8] expected, file has [2,4,7]");
    expect_refused(edited(shape_wrong_rank), "tensor layers.1.conv.w",
                   "shape [2,4,8] expected, file has [8,8]");
    expect_refused(edited(shape_negative), "tensor head.w1", "element 0");
    expect_refused(edited(shape_not_array), "tensor head.w1", "shape");
    expect_refused(edited(shape_real), "tensor head.w1", "element 0");
    expect_refused(edited(shape_long), "tensor head.w1", "file has [1,1,1,1,1,1,1,1,...]");
}
END_TEST

static void missing_tensor(json_t *h) { json_object_del(h, "head.b2"); }
static void extra_tensor(json_t *h)
{
    json_object_set(h, "layers.9.conv.w", tensor(h, "layers.1.conv.w"));
}
static void entry_not_object(json_t *h)
{
    json_object_set_new(h, "layers.0.skip.b", json_integer(3));
}

START_TEST(missing_and_extra_tensors)
{
    expect_refused(edited(missing_tensor), "tensor head.b2", "missing");
    expect_refused(edited(extra_tensor), "tensor layers.9.conv.w", "not part");
    expect_refused(edited(entry_not_object), "tensor layers.0.skip.b", "not an object");

    /* cond.w tensors in a file whose metadata says cond 0. */
    blob good = valid_file();
    json_t *h = header_of(good);
    set_meta(h, "cond", "0");
    expect_refused(assemble(h, st_data(good)), "tensor layers.0.cond.w", "not part");
    json_decref(h);
    free(good.p);
}
END_TEST

static void offsets_past_end(json_t *h)
{
    uint64_t b = offset_of(h, "head.b2", 0), e = offset_of(h, "head.b2", 1);
    set_offsets(h, "head.b2", (json_int_t)b + 4, (json_int_t)e + 4);
}
static void offsets_huge(json_t *h) { set_offsets(h, "head.b2", INT64_MAX - 4, INT64_MAX); }
static void offsets_overlap(json_t *h)
{
    /* layers.0.conv.b and layers.1.conv.b have 8 floats each. */
    set_offsets(h, "layers.1.conv.b", (json_int_t)offset_of(h, "layers.0.conv.b", 0) + 4,
                (json_int_t)offset_of(h, "layers.0.conv.b", 1) + 4);
}
static void offsets_same(json_t *h)
{
    set_offsets(h, "layers.1.conv.b", (json_int_t)offset_of(h, "layers.0.conv.b", 0),
                (json_int_t)offset_of(h, "layers.0.conv.b", 1));
}
static void offsets_mismatch(json_t *h)
{
    set_offsets(h, "layers.1.res.w", (json_int_t)offset_of(h, "layers.1.res.w", 0) + 4,
                (json_int_t)offset_of(h, "layers.1.res.w", 1));
}
static void offsets_reversed(json_t *h) { set_offsets(h, "input.b", 64, 0); }
static void offsets_negative(json_t *h) { set_offsets(h, "input.b", -16, 0); }
static void offsets_triple(json_t *h)
{
    json_object_set_new(tensor(h, "input.b"), "data_offsets", json_pack("[iii]", 0, 16, 32));
}
static void offsets_real(json_t *h)
{
    json_object_set_new(tensor(h, "input.b"), "data_offsets", json_pack("[fi]", 0.0, 16));
}

START_TEST(bad_offsets)
{
    expect_refused(edited(offsets_past_end), "tensor head.b2", "past the end");
    expect_refused(edited(offsets_huge), "tensor head.b2", "past the end");
    expect_refused(edited(offsets_overlap), "layers.1.conv.b", "overlap");
    expect_refused(edited(offsets_same), "layers.0.conv.b", "overlap");
    expect_refused(edited(offsets_mismatch), "tensor layers.1.res.w", "the shape needs 64");
    expect_refused(edited(offsets_reversed), "tensor input.b", "begin is after end");
    expect_refused(edited(offsets_negative), "tensor input.b", "data_offsets");
    expect_refused(edited(offsets_triple), "tensor input.b", "data_offsets");
    expect_refused(edited(offsets_real), "tensor input.b", "data_offsets");
}
END_TEST

START_TEST(non_finite_values)
{
    expect_refused(with_value("layers.1.skip.w", 3, 0x7fc00000), "tensor layers.1.skip.w",
                   "element 3 is NaN");
    expect_refused(with_value("head.w2", 0, 0xffc00001), "tensor head.w2", "element 0 is NaN");
    expect_refused(with_value("input.w", 11, 0x7f800000), "tensor input.w",
                   "element 11 is Inf");
    expect_refused(with_value("head.b2", 8, 0xff800000), "tensor head.b2", "element 8 is Inf");
    /* The largest finite float and a denormal are fine. */
    blob ok = with_value("head.b2", 8, 0x7f7fffff);
    memcpy(st_data(ok).p, &(uint32_t){1}, 4);
    ps_wavenet_destroy(load_ok(ok, NULL));
    free(ok.p);
}
END_TEST

/* ---- files on disk ---------------------------------------------------------------------- */

START_TEST(paths_that_are_not_models)
{
    ps_error err;
    const char *missing = tmp_path("no-such.safetensors");
    ck_assert_ptr_null(ps_model_load(missing, NULL, &err));
    ck_assert_msg(strstr(err.msg, missing) && strstr(err.msg, strerror(ENOENT)), "%s",
                  err.msg);

    ck_assert_ptr_null(ps_model_load(tmpdir, NULL, &err));
    ck_assert_msg(strstr(err.msg, tmpdir) && strstr(err.msg, "directory"), "%s", err.msg);

    ck_assert_ptr_null(ps_model_load("/dev/null", NULL, &err));
    ck_assert_msg(strstr(err.msg, "/dev/null") && strstr(err.msg, "regular"), "%s", err.msg);

    const char *empty = tmp_path("empty.safetensors");
    write_file(empty, (blob){NULL, 0});
    ck_assert_ptr_null(ps_model_load(empty, NULL, &err));
    ck_assert_msg(strstr(err.msg, empty) && strstr(err.msg, "0 bytes"), "%s", err.msg);
    unlink(empty);
}
END_TEST

START_TEST(save_into_missing_folder)
{
    ps_wavenet *net = make_net(small_config(), 3);
    ps_error err;
    const char *path = tmp_path("missing-folder/model.safetensors");
    ck_assert_int_eq(ps_model_save(path, net, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, strerror(ENOENT)), "%s", err.msg);
    ck_assert_int_eq(access(path, F_OK), -1);
    ps_wavenet_destroy(net);
}
END_TEST

/* Loads path and checks it holds exactly net's parameters. */
static void assert_file_holds(const char *path, ps_wavenet *net)
{
    ps_error err;
    ps_wavenet *back = ps_model_load(path, NULL, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    ck_assert_int_eq(memcmp(ps_wavenet_params(back), ps_wavenet_params(net),
                            ps_wavenet_num_params(net) * sizeof(float)),
                     0);
    ps_wavenet_destroy(back);
}

START_TEST(save_replaces_existing_file)
{
    ps_wavenet *a = make_net(small_config(), 1), *b = make_net(small_config(), 2);
    const char *path = tmp_path("replace.safetensors");
    save_ok(path, a, NULL);
    assert_file_holds(path, a);
    save_ok(path, b, NULL);
    assert_file_holds(path, b);
    ck_assert_int_eq(count_temporaries(), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    unlink(path);
    ps_wavenet_destroy(a);
    ps_wavenet_destroy(b);
}
END_TEST

/* A failed write (a full disk, simulated with a file size limit: write() then fails with
 * EFBIG, the same path as ENOSPC) leaves the old file as it was and no temporary. */
START_TEST(failed_save_keeps_old_file)
{
    ps_wavenet *a = make_net(small_config(), 1), *b = make_net(small_config(), 2);
    const char *path = tmp_path("keep.safetensors");
    save_ok(path, a, NULL);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    rlim_t size = (rlim_t)st.st_size;

    /* The write fails at once, in the header, in the data, at the last byte. */
    rlim_t limits[] = {0, 100, size / 2, size - 1};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        limit_file_size(limits[i]);
        ps_error err;
        int rc = ps_model_save(path, b, NULL, &err);
        unlimit_file_size();
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "cannot write"), "%s",
                      err.msg);
        assert_file_holds(path, a);
        ck_assert_int_eq(count_temporaries(), 0);
    }
    unlink(path);
    ps_wavenet_destroy(a);
    ps_wavenet_destroy(b);
}
END_TEST

/* rename() over a folder fails after the data was written: the temporary goes. */
START_TEST(save_over_folder_fails_cleanly)
{
    ps_wavenet *net = make_net(small_config(), 1);
    const char *path = tmp_path("a-folder");
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ps_error err;
    ck_assert_int_eq(ps_model_save(path, net, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "cannot replace"), "%s", err.msg);
    ck_assert_int_eq(count_temporaries(), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    rmdir(path);
    ps_wavenet_destroy(net);
}
END_TEST

/* What the loader would refuse is not written. */
START_TEST(save_refuses_unloadable_models)
{
    ps_wavenet *net = make_net(small_config(), 1);
    const char *path = tmp_path("unloadable.safetensors");
    ps_error err;
    ps_model_info info = {.sample_rate = 500};
    ck_assert_int_eq(ps_model_save(path, net, &info, &err), -1);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "sample_rate"), "%s", err.msg);

    info = (ps_model_info){.sample_rate = 14700, .source = "bad\nname"};
    ck_assert_int_eq(ps_model_save(path, net, &info, &err), -1);
    ck_assert_msg(strstr(err.msg, "source"), "%s", err.msg);

    ps_tensor_view v;
    ps_wavenet_tensor(net, 4, &v);
    v.data[1] = -INFINITY;
    ck_assert_int_eq(ps_model_save(path, net, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, v.name) && strstr(err.msg, "element 1 is Inf"), "%s",
                  err.msg);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(count_temporaries(), 0);
    ps_wavenet_destroy(net);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("model_file");
    TCase *tc = tcase_create("model_file");
    tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_categorical);
    tcase_add_test(tc, round_trip_mol);
    tcase_add_test(tc, round_trip_cond);
    tcase_add_test(tc, round_trip_reference_without_info);
    tcase_add_test(tc, layout_follows_table);
    tcase_add_test(tc, accepts_unknown_metadata_and_categorical_mixtures);
    tcase_add_test(tc, truncated_files);
    tcase_add_test(tc, bad_header_lengths);
    tcase_add_test(tc, more_than_100_mb_of_header);
    tcase_add_test(tc, bad_json);
    tcase_add_test(tc, bad_metadata);
    tcase_add_test(tc, non_numeric_integer_fields);
    tcase_add_test(tc, config_out_of_bounds);
    tcase_add_test(tc, recipe_round_trip);
    tcase_add_test(tc, bad_recipe);
    tcase_add_test(tc, huge_architecture_in_small_file);
    tcase_add_test(tc, bad_dtypes);
    tcase_add_test(tc, shape_mismatch);
    tcase_add_test(tc, missing_and_extra_tensors);
    tcase_add_test(tc, bad_offsets);
    tcase_add_test(tc, non_finite_values);
    tcase_add_test(tc, paths_that_are_not_models);
    tcase_add_test(tc, save_into_missing_folder);
    tcase_add_test(tc, save_replaces_existing_file);
    tcase_add_test(tc, failed_save_keeps_old_file);
    tcase_add_test(tc, save_over_folder_fails_cleanly);
    tcase_add_test(tc, save_refuses_unloadable_models);
    suite_add_tcase(s, tc);
    return s;
}
