/* The WaveNet's two execution modes: streaming with the history cache must give the
 * full-sequence result for every frame size and any sequence of frame sizes. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/denormal.h"
#include "priorsep/wavenet.h"
#include "test_util.h"

/* The modes sum the same products, but the BLAS may block a product of M rows
 * differently from one of M' rows, so the float rounding differs. Outputs are O(1)
 * after 20 layers of ~32-term sums; 1e-5 relative is ~100 float ulps of headroom. */
#define STREAM_TOL 1e-5

/* A small net exercising kernel 3, input kernel 3, conditioning, the categorical head. */
static ps_wavenet_config small_config(void)
{
    return (ps_wavenet_config){.stacks = 3, .layers = 4, .kernel = 3, .input_kernel = 3,
                               .residual = 8, .skip = 6, .hidden = 5, .cond = 3,
                               .head = PS_HEAD_CATEGORICAL, .mixtures = 0};
}

typedef struct fixture {
    ps_wavenet *net;
    int T, O;
    float *x, *cond, *full, *streamed;
} fixture;

static fixture make_fixture(ps_wavenet_config cfg, int T, uint64_t seed)
{
    fixture f = {0};
    ps_error err;
    f.net = ps_wavenet_create(&cfg, &err);
    ck_assert_msg(f.net != NULL, "%s", err.msg);
    ps_wavenet_init_random(f.net, seed);
    f.T = T;
    f.O = ps_wavenet_out_dim(&cfg);
    ps_rng rng;
    ps_rng_seed(&rng, seed + 1);
    f.x = malloc(sizeof(float) * (size_t)T);
    f.cond = malloc(sizeof(float) * (size_t)(cfg.cond + 1));
    f.full = malloc(sizeof(float) * (size_t)T * f.O);
    f.streamed = malloc(sizeof(float) * (size_t)T * f.O);
    fill_uniform(f.x, (size_t)T, -1, 1, &rng);
    fill_uniform(f.cond, (size_t)cfg.cond, -1, 1, &rng);
    ck_assert_int_eq(ps_wavenet_forward(f.net, f.x, 1, T, cfg.cond ? f.cond : NULL, f.full, &err), 0);
    return f;
}

static void free_fixture(fixture *f)
{
    ps_wavenet_destroy(f->net);
    free(f->x), free(f->cond), free(f->full), free(f->streamed);
}

/* Streams f->x in frames given by sizes[] (cycled) and returns the error against the
 * full-sequence output. */
static double stream_error(fixture *f, int max_frame, const int *sizes, int n_sizes)
{
    ps_error err;
    ps_wavenet_stream *st = ps_wavenet_stream_create(f->net, max_frame, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    if (ps_wavenet_config_of(f->net)->cond) ps_wavenet_stream_set_cond(st, f->cond);
    memset(f->streamed, 0, sizeof(float) * (size_t)f->T * f->O);
    for (int t = 0, i = 0; t < f->T; i++) {
        int n = sizes[i % n_sizes];
        if (n > f->T - t) n = f->T - t;
        ps_wavenet_stream_process(st, f->x + t, n, f->streamed + (size_t)t * f->O);
        t += n;
    }
    ps_wavenet_stream_destroy(st);
    return rel_error(f->streamed, f->full, (size_t)f->T * f->O);
}

static void check_fixed_frames(ps_wavenet_config cfg, int T)
{
    fixture f = make_fixture(cfg, T, 42);
    /* T exceeds the receptive field several times, so every layer's cache wraps. */
    ck_assert_int_gt(T, 2 * ps_wavenet_receptive_field(&cfg));
    const int frames[] = {1, 7, 64, 1000};
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        double e = stream_error(&f, frames[i], &frames[i], 1);
        ck_assert_msg(e < STREAM_TOL, "frame %d: relative error %g", frames[i], e);
    }
    free_fixture(&f);
}

START_TEST(stream_equals_full_reference_prior)
{
    check_fixed_frames(ps_wavenet_config_reference(), 5000);
}
END_TEST

START_TEST(stream_equals_full_small_conditioned)
{
    check_fixed_frames(small_config(), 2500);
}
END_TEST

/* T samples streamed through cfg in frames of the given sizes (cycled; a stream of at
 * most max_frame a call) give the full-sequence output. */
static void check_frames(ps_wavenet_config cfg, int T, uint64_t seed, int max_frame,
                         const int *sizes, int n_sizes)
{
    fixture f = make_fixture(cfg, T, seed);
    double e = stream_error(&f, max_frame, sizes, n_sizes);
    ck_assert_msg(e < STREAM_TOL, "relative error %g", e);
    free_fixture(&f);
}

START_TEST(stream_equals_full_random_frame_sizes)
{
    ps_rng rng;
    ps_rng_seed(&rng, 99);
    int sizes[200];
    for (int i = 0; i < 200; i++) sizes[i] = 1 + (int)(ps_rng_u64(&rng) % 300);
    check_frames(ps_wavenet_config_reference(), 6000, 7, 300, sizes, 200);
}
END_TEST

START_TEST(stream_splits_frames_longer_than_max)
{
    const int n[] = {700};
    check_frames(small_config(), 700, 3, 64, n, 1);
}
END_TEST

START_TEST(stream_reset_restarts_from_silence)
{
    fixture f = make_fixture(small_config(), 300, 5);
    ps_error err;
    ps_wavenet_stream *st = ps_wavenet_stream_create(f.net, 50, &err);
    ps_wavenet_stream_set_cond(st, f.cond);
    for (int t = 0; t < 300; t += 50) ps_wavenet_stream_process(st, f.x + t, 50, f.streamed + (size_t)t * f.O);
    ps_wavenet_stream_reset(st);
    float *again = malloc(sizeof(float) * 50 * (size_t)f.O);
    ps_wavenet_stream_process(st, f.x, 50, again);
    ck_assert_mem_eq(again, f.streamed, sizeof(float) * 50 * (size_t)f.O);
    free(again);
    ps_wavenet_stream_destroy(st);
    free_fixture(&f);
}
END_TEST

START_TEST(conditioning_changes_output)
{
    fixture f = make_fixture(small_config(), 100, 11);
    ps_error err;
    float *other = malloc(sizeof(float) * 100 * (size_t)f.O);
    float cond2[3] = {f.cond[0] + 0.5f, f.cond[1], f.cond[2]};
    ck_assert_int_eq(ps_wavenet_forward(f.net, f.x, 1, 100, cond2, other, &err), 0);
    ck_assert(rel_error(other, f.full, 100 * (size_t)f.O) > 1e-3);
    free(other);
    free_fixture(&f);
}
END_TEST

/* A model grown by a stack computes what it was grown from: the new layers' residual and
 * skip outputs are zero, so they add exact zeros and the outputs are bitwise equal. Their
 * convolutions keep their random weights, from which training moves on. Another width,
 * or no more stacks than the source, is refused. */
START_TEST(grown_model_computes_the_same)
{
    ps_wavenet_config one = small_config();
    one.stacks = 1;
    fixture f = make_fixture(one, 100, 13);
    ps_wavenet_config three = small_config();
    ps_error err;
    ps_wavenet *grown = ps_wavenet_create(&three, &err);
    ck_assert_msg(grown != NULL, "%s", err.msg);
    ps_wavenet_init_random(grown, 14);
    ck_assert_msg(ps_wavenet_grow(grown, f.net, &err) == 0, "%s", err.msg);
    float *out = malloc(sizeof(float) * 100 * (size_t)f.O);
    ck_assert_int_eq(ps_wavenet_forward(grown, f.x, 1, 100, f.cond, out, &err), 0);
    ck_assert(memcmp(out, f.full, sizeof(float) * 100 * (size_t)f.O) == 0);
    /* the last layer of the third stack: its convolution is random, its skip zero */
    ps_tensor_view v;
    int found = 0;
    for (int i = 0; i < ps_wavenet_num_tensors(grown); i++) {
        ps_wavenet_tensor(grown, i, &v);
        if (strcmp(v.name, "layers.11.conv.w") == 0) found++, ck_assert(v.data[0] != 0.0f);
        if (strcmp(v.name, "layers.11.skip.w") == 0) found++, ck_assert(v.data[0] == 0.0f);
    }
    ck_assert_int_eq(found, 2);

    ck_assert_int_eq(ps_wavenet_grow(f.net, grown, &err), -1); /* fewer stacks */
    ck_assert_ptr_nonnull(strstr(err.msg, "fewer stacks"));
    ps_wavenet_config wider = small_config();
    wider.residual = 9;
    ps_wavenet *other = ps_wavenet_create(&wider, &err);
    ck_assert_int_eq(ps_wavenet_grow(other, f.net, &err), -1);
    ps_wavenet_destroy(other);
    ps_wavenet_destroy(grown);
    free(out);
    free_fixture(&f);
}
END_TEST

START_TEST(batch_rows_are_independent)
{
    fixture f = make_fixture(small_config(), 200, 13);
    ps_error err;
    float x2[400], cond2[6];
    memcpy(x2, f.x, sizeof(float) * 200);
    memcpy(x2 + 200, f.x, sizeof(float) * 200);
    x2[200] = 0.25f; /* second sequence differs from the first */
    memcpy(cond2, f.cond, sizeof(float) * 3);
    memcpy(cond2 + 3, f.cond, sizeof(float) * 3);
    float *out = malloc(sizeof(float) * 400 * (size_t)f.O);
    ck_assert_int_eq(ps_wavenet_forward(f.net, x2, 2, 200, cond2, out, &err), 0);
    ck_assert_mem_eq(out, f.full, sizeof(float) * 200 * (size_t)f.O);
    ck_assert(rel_error(out + 200 * (size_t)f.O, f.full, 200 * (size_t)f.O) > 0.0);
    free(out);
    free_fixture(&f);
}
END_TEST

START_TEST(causality_of_full_sequence)
{
    /* Output t depends on inputs 0..t only, and on all of the receptive field. */
    ps_wavenet_config cfg = small_config();
    fixture f = make_fixture(cfg, 200, 17);
    ps_error err;
    float *out = malloc(sizeof(float) * 200 * (size_t)f.O);
    int t0 = 150, rf = ps_wavenet_receptive_field(&cfg);
    f.x[t0] += 0.5f;
    ck_assert_int_eq(ps_wavenet_forward(f.net, f.x, 1, 200, f.cond, out, &err), 0);
    for (int t = 0; t < 200; t++) {
        int same = memcmp(out + (size_t)t * f.O, f.full + (size_t)t * f.O, sizeof(float) * (size_t)f.O) == 0;
        ck_assert_msg(same == (t < t0 || t >= t0 + rf), "t=%d same=%d rf=%d", t, same, rf);
    }
    free(out);
    free_fixture(&f);
}
END_TEST

START_TEST(stream_turns_denormals_off_and_restores)
{
    fixture f = make_fixture(small_config(), 10, 19);
    ps_error err;
    ps_wavenet_stream *st = ps_wavenet_stream_create(f.net, 10, &err);
    unsigned saved = ps_denormals_off();
    ps_denormals_restore(saved & ~0x8040u); /* caller runs with denormals on */
    ck_assert(!ps_denormals_are_off());
    ps_wavenet_stream_process(st, f.x, 10, f.streamed);
    ck_assert(!ps_denormals_are_off());
    unsigned before = ps_denormals_off();
    ck_assert(ps_denormals_are_off());
    ps_denormals_restore(before);
    ps_denormals_restore(saved);
    ps_wavenet_stream_destroy(st);
    free_fixture(&f);
}
END_TEST

START_TEST(config_bounds_are_enforced)
{
    ps_error err;
    ps_wavenet_config c = ps_wavenet_config_reference();
    c.residual = 100000;
    ck_assert_ptr_null(ps_wavenet_create(&c, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "residual"));
    c = ps_wavenet_config_reference();
    c.head = PS_HEAD_MOL;
    c.mixtures = 0;
    ck_assert_int_ne(ps_wavenet_config_check(&c, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "mixtures"));
}
END_TEST

START_TEST(parameter_count_matches_the_tensor_table)
{
    ps_wavenet_config configs[3] = {ps_wavenet_config_reference(), small_config(), small_config()};
    configs[2].stacks = 1, configs[2].layers = 1, configs[2].cond = 0; /* no residual projection at all */
    for (int i = 0; i < 3; i++) {
        ps_error err;
        ps_wavenet *net = ps_wavenet_create(&configs[i], &err);
        size_t sum = 0;
        ps_tensor_view v;
        for (int t = 0; t < ps_wavenet_num_tensors(net); t++) {
            ps_wavenet_tensor(net, t, &v);
            ck_assert(v.data == ps_wavenet_params(net) + sum); /* contiguous, in order */
            sum += v.numel;
        }
        ck_assert_uint_eq(sum, ps_wavenet_num_params(net));
        ck_assert_uint_eq(ps_wavenet_config_num_params(&configs[i]), sum);
        ps_wavenet_destroy(net);
    }
    ps_wavenet_config huge = ps_wavenet_config_reference();
    huge.residual = huge.skip = PS_WAVENET_MAX_CHANNELS;
    huge.stacks = PS_WAVENET_MAX_STACKS, huge.layers = PS_WAVENET_MAX_LAYERS;
    ps_error err;
    ck_assert_int_ne(ps_wavenet_config_check(&huge, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "parameters"));
}
END_TEST

START_TEST(reference_prior_facts)
{
    ps_wavenet_config c = ps_wavenet_config_reference();
    /* 1 + input tap + 2 stacks x (1 + 2 + ... + 512) */
    ck_assert_int_eq(ps_wavenet_receptive_field(&c), 1 + 1 + 2 * 1023);
    ck_assert_int_eq(ps_wavenet_out_dim(&c), 30);
    ck_assert_int_eq(ps_wavenet_dilation(&c, 19), 512);
}
END_TEST

static void check_generation(ps_wavenet_config cfg)
{
    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&cfg, &err);
    ps_wavenet_init_random(net, 23);
    enum { N = 400 };
    float y[2][N], cond[3] = {0.1f, -0.2f, 0.3f};
    for (int run = 0; run < 2; run++) {
        ps_wavenet_stream *st = ps_wavenet_stream_create(net, 1, &err);
        ps_wavenet_stream_set_cond(st, cond);
        ps_rng rng;
        ps_rng_seed(&rng, 77);
        float last = 0.0f;
        /* in two calls: generation continues where it stopped */
        ck_assert_int_eq(ps_wavenet_generate(st, &last, y[run], N / 2, &rng, &err), 0);
        ck_assert_int_eq(ps_wavenet_generate(st, &last, y[run] + N / 2, N / 2, &rng, &err), 0);
        ck_assert(last == y[run][N - 1]);
        ps_wavenet_stream_destroy(st);
    }
    ck_assert_mem_eq(y[0], y[1], sizeof y[0]); /* same seed, same audio */
    float lo = 1, hi = -1;
    for (int i = 0; i < N; i++) {
        ck_assert(y[0][i] >= -1.0f && y[0][i] <= 1.0f);
        lo = fminf(lo, y[0][i]), hi = fmaxf(hi, y[0][i]);
    }
    ck_assert_msg(hi - lo > 0.01f, "generated a constant signal");
    ps_wavenet_destroy(net);
}

START_TEST(generation_is_seeded_bounded_and_continues)
{
    ps_wavenet_config c = small_config();
    check_generation(c); /* categorical head */
    c.head = PS_HEAD_MOL;
    c.mixtures = 4;
    check_generation(c);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("wavenet");
    TCase *tc = tcase_create("modes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, stream_equals_full_reference_prior);
    tcase_add_test(tc, stream_equals_full_small_conditioned);
    tcase_add_test(tc, stream_equals_full_random_frame_sizes);
    tcase_add_test(tc, stream_splits_frames_longer_than_max);
    tcase_add_test(tc, stream_reset_restarts_from_silence);
    tcase_add_test(tc, conditioning_changes_output);
    tcase_add_test(tc, grown_model_computes_the_same);
    tcase_add_test(tc, batch_rows_are_independent);
    tcase_add_test(tc, causality_of_full_sequence);
    tcase_add_test(tc, stream_turns_denormals_off_and_restores);
    tcase_add_test(tc, config_bounds_are_enforced);
    tcase_add_test(tc, reference_prior_facts);
    tcase_add_test(tc, parameter_count_matches_the_tensor_table);
    tcase_add_test(tc, generation_is_seeded_bounded_and_continues);
    suite_add_tcase(s, tc);
    return s;
}
