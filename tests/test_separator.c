/* The separator engine (design §3, §4): the Gaussian head's loss, the frame backward of
 * the streaming WaveNet (peek / peek_backward) against the training backward, separator
 * metadata in model files, mixture consistency, streaming separation against the
 * offline reference, the training losses against finite differences, and model sets
 * loaded from a folder. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "priorsep/heads.h"
#include "priorsep/model_file.h"
#include "priorsep/prior.h"
#include "priorsep/separator.h"
#include "priorsep/separator_loss.h"
#include "priorsep/wavenet.h"
#include "priorsep/wavenet_train.h"
#include "test_files.h"
#include "test_util.h"

#define BAD_NAME "bad.safetensors"
#define HALF_LOG_2PI 0.91893853320467274 /* 0.5 log(2 pi) */

static void make_tmpdir(void) { tmpdir_create("/tmp/ps-test-separator.XXXXXX"); }

/* ---- models ------------------------------------------------------------------------------ */

static const char *const source_names[] = {"vocals", "drums", "bass", "other"};
static const float source_weights[] = {0.5f, 0.3f, 0.2f, 0.25f};

/* The separator: a Gaussian head over N sources, no conditioning. */
static ps_wavenet_config separator_config(int N)
{
    return (ps_wavenet_config){.stacks = 2, .layers = 3, .kernel = 2, .input_kernel = 2,
                               .residual = 6, .skip = 5, .hidden = 7, .cond = 0,
                               .head = PS_HEAD_GAUSSIAN, .mixtures = N};
}

/* A noise-conditioned MoL prior (the brief's small prior). */
static ps_wavenet_config prior_config(int kernel)
{
    return (ps_wavenet_config){.stacks = 2, .layers = 3, .kernel = kernel, .input_kernel = 2,
                               .residual = 6, .skip = 5, .hidden = 7, .cond = 1,
                               .head = PS_HEAD_MOL, .mixtures = 2};
}

static ps_model_info separator_info(int N, int L)
{
    ps_model_info info = {.sample_rate = 14700, .recipe = "priorsep train-separator",
                          .n_sources = N, .lookahead = L};
    for (int k = 0; k < N; k++) {
        snprintf(info.sources[k], sizeof info.sources[k], "%s", source_names[k]);
        info.weights[k] = source_weights[k];
    }
    return info;
}

static ps_model_info prior_info_of(const char *source)
{
    ps_model_info info = {.sample_rate = 14700, .noise_levels = 10, .sigma_max = 1.0f,
                          .sigma_min = 0.01f};
    snprintf(info.source, sizeof info.source, "%s", source);
    return info;
}

/* An in-memory model set: a separator of N sources with lookahead L and one random
 * noise-conditioned prior per source. ps_model_set_free() releases it. */
static void make_set(ps_model_set *set, int N, int L, uint64_t seed)
{
    memset(set, 0, sizeof *set);
    set->separator = make_net(separator_config(N), seed);
    set->info = separator_info(N, L);
    for (int k = 0; k < N; k++) {
        set->prior[k] = make_net(prior_config(2), seed + 1 + (uint64_t)k);
        set->prior_info[k] = prior_info_of(source_names[k]);
    }
}

/* ---- 1. the Gaussian head's loss ----------------------------------------------------- */

/* -log N(x; mu, exp(ls)^2) and its derivatives, in double. */
static double gauss_nll(double mu, double ls, double x)
{
    double e = (x - mu) * exp(-ls);
    return HALF_LOG_2PI + ls + 0.5 * e * e;
}

START_TEST(gaussian_nll_value_and_gradients)
{
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    for (int i = 0; i < 500; i++) {
        float mu = -1.0f + 2.0f * ps_rng_uniform(&rng);
        float x = -1.0f + 2.0f * ps_rng_uniform(&rng);
        /* log-scales inside the clamp, well away from its ends (a difference step must
         * not cross them) */
        float ls = -8.5f + 10.0f * ps_rng_uniform(&rng);
        float d_mu = 0.25f, d_ls = -0.5f; /* the gradients are added */
        const float scale = 0.75f;
        float v = ps_gaussian_nll_backward(mu, ls, x, scale, &d_mu, &d_ls);
        d_mu -= 0.25f, d_ls += 0.5f;
        double ref = gauss_nll(mu, ls, x), e2 = 2.0 * (ref - HALF_LOG_2PI - ls);
        /* The value: ~6 float operations (expf within 1 ulp), each 2^-24 relative, on
         * terms of size 0.92, |ls| and e2/2; 4e-6 of their sum is > 10x that, and still
         * catches any wrong constant or factor. */
        double vtol = 4e-6 * (0.92 + fabs((double)ls) + 0.5 * e2);
        ck_assert_msg(fabs(v - ref) <= vtol, "value %.9g, reference %.9g (mu %g ls %g x %g)", v,
                      ref, mu, ls, x);
        /* Central differences of the double reference: h = 1e-5 leaves a truncation
         * error of h^2/6 |f'''| ~ 1e-11 e2 and a rounding error of ~1e-16 |f| / h ~
         * 1e-11 |f|, both far below the float tolerance. */
        const double h = 1e-5;
        double n_mu = scale * (gauss_nll(mu + h, ls, x) - gauss_nll(mu - h, ls, x)) / (2 * h);
        double n_ls = scale * (gauss_nll(mu, ls + h, x) - gauss_nll(mu, ls - h, x)) / (2 * h);
        /* The float gradients: (mu - x)/s^2 to a few ulps, relative; 1 - e2 loses up to
         * e2 ulps to cancellation, so the bound scales with 1 + e2. (The accumulation
         * into 0.25 / -0.5 and back adds 1 ulp of those.) */
        ck_assert_msg(fabs(d_mu - n_mu) <= 1e-5 * fabs(n_mu) + 1e-6,
                      "d_mu %.9g, numeric %.9g (mu %g ls %g x %g)", d_mu, n_mu, mu, ls, x);
        ck_assert_msg(fabs(d_ls - n_ls) <= 1e-5 * (1.0 + e2),
                      "d_log_s %.9g, numeric %.9g (mu %g ls %g x %g)", d_ls, n_ls, mu, ls, x);
    }
    /* either pointer may be NULL */
    float d = 0.0f;
    float v1 = ps_gaussian_nll_backward(0.1f, -1.0f, 0.3f, 1.0f, NULL, &d);
    float v2 = ps_gaussian_nll_backward(0.1f, -1.0f, 0.3f, 1.0f, &d, NULL);
    ck_assert(v1 == v2);
}
END_TEST

START_TEST(gaussian_nll_clamped_log_scale)
{
    /* Outside [MIN, MAX] the clamp holds the log-scale constant: no log_s gradient, and
     * value and mean gradient are those of the clamped scale. */
    const float cases[][2] = {{-12.0f, PS_GAUSS_LOG_SCALE_MIN}, {-9.5f, PS_GAUSS_LOG_SCALE_MIN},
                              {3.0f, PS_GAUSS_LOG_SCALE_MAX}, {40.0f, PS_GAUSS_LOG_SCALE_MAX}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float ls = cases[i][0], clamped = cases[i][1];
        float mu = 0.01f, x = 0.0102f;
        float d_mu = 0.0f, d_ls = 0.0f, c_mu = 0.0f, c_ls = 0.0f;
        float v = ps_gaussian_nll_backward(mu, ls, x, 1.0f, &d_mu, &d_ls);
        float vc = ps_gaussian_nll_backward(mu, clamped, x, 1.0f, &c_mu, &c_ls);
        ck_assert_msg(d_ls == 0.0f, "log_s %g: gradient %g through the clamp", ls, d_ls);
        ck_assert(v == vc && d_mu == c_mu);
        ck_assert(c_ls != 0.0f); /* at the bound itself the gradient is there */
        ck_assert_float_eq(ps_gaussian_clamp_log_scale(ls), clamped);
    }
}
END_TEST

/* ---- 2, 3. the frame backward of the stream ------------------------------------------ */

/* Peeking frames (any values, any length) and backpropagating through them leaves the
 * stream exactly as it was: processing the real frame afterwards gives the bits a
 * stream that never peeked gives. Frames of n samples over many frames, so that every
 * layer's history buffer moves back to the front many times, sometimes inside a peek. */
static void check_peek_exact(int n)
{
    ps_error err;
    ps_wavenet *net = make_net(prior_config(3), 21);
    ps_wavenet_stream *a = ps_wavenet_stream_create(net, n, &err);
    ps_wavenet_stream *b = ps_wavenet_stream_create(net, n, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(ps_wavenet_stream_enable_backward(a, &err), 0);
    ck_assert_int_eq(ps_wavenet_stream_enable_backward(a, &err), 0); /* idempotent */
    float cond = -0.4f;
    ps_wavenet_stream_set_cond(a, &cond);
    ps_wavenet_stream_set_cond(b, &cond);
    int O = ps_wavenet_out_dim(ps_wavenet_config_of(net));
    int frames = n == 1 ? 600 : n < 64 ? 200 : 60; /* 600 .. 3840 samples */
    float *x = malloc(sizeof(float) * (size_t)n), *junk = malloc(sizeof(float) * (size_t)n);
    float *oa = malloc(sizeof(float) * (size_t)n * O), *ob = malloc(sizeof(float) * (size_t)n * O);
    float *op = malloc(sizeof(float) * (size_t)n * O), *d_out = malloc(sizeof(float) * (size_t)n * O);
    float *d_x = calloc((size_t)n, sizeof(float));
    ps_rng rng;
    ps_rng_seed(&rng, 22);
    for (int f = 0; f < frames; f++) {
        fill_uniform(x, (size_t)n, -0.9f, 0.9f, &rng);
        if (f >= 3) { /* the first frames only commit: the peeks see a history */
            /* a peek of other values, its backward, a shorter peek of yet others */
            fill_uniform(junk, (size_t)n, -1.0f, 1.0f, &rng);
            ps_wavenet_stream_peek(a, junk, n, op);
            fill_uniform(d_out, (size_t)n * O, -1.0f, 1.0f, &rng);
            ps_wavenet_stream_peek_backward(a, d_out, d_x);
            fill_uniform(junk, (size_t)n, -1.0f, 1.0f, &rng);
            ps_wavenet_stream_peek(a, junk, 1 + (int)(ps_rng_u64(&rng) % (uint64_t)n), op);
            if (f % 5 == 0) ps_wavenet_stream_peek(a, x, n, op); /* the real frame */
        }
        ps_wavenet_stream_process(a, x, n, oa);
        ps_wavenet_stream_process(b, x, n, ob);
        ck_assert_msg(memcmp(oa, ob, sizeof(float) * (size_t)n * O) == 0,
                      "frame %d of %d samples: a peek changed the stream", f, n);
        /* a peek of the real frame computes exactly what processing it does */
        if (f >= 3 && f % 5 == 0)
            ck_assert_msg(memcmp(op, ob, sizeof(float) * (size_t)n * O) == 0,
                          "frame %d of %d samples: peek and process differ", f, n);
    }
    free(x), free(junk), free(oa), free(ob), free(op), free(d_out), free(d_x);
    ps_wavenet_stream_destroy(a);
    ps_wavenet_stream_destroy(b);
    ps_wavenet_destroy(net);
}

START_TEST(peek_leaves_the_stream_unchanged)
{
    static const int sizes[] = {1, 7, 64};
    check_peek_exact(sizes[_i]);
}
END_TEST

/* The streaming and training passes sum the same products in different orders (the
 * engine's register-blocked kernel against the BLAS), so only float rounding separates
 * them: ~1e-7 relative per operation through 6 layers of <= 12-term sums and the gates'
 * tanh/sigmoid. 1e-5 of the largest value is > 10x that (the same bound the forward
 * modes are held to in test_wavenet.c). A ReLU that flipped between the two modes would
 * show as a failure, not pass silently. */
#define FRAME_TOL 1e-5

/* Commits P samples into a stream, peeks the n after them and backpropagates d_out
 * through the peek; the reference is the training backward over all P + n samples with
 * d_out on the frame's rows and zeros on the prefix's. The stream drops the gradient
 * into its cached history, which changes nothing on the frame's rows (their gradient
 * comes only from rows at or after them: the net is causal). */
static void check_peek_backward(int kernel, int P, int n)
{
    ps_error err;
    ps_wavenet *net = make_net(prior_config(kernel), 31 + (uint64_t)kernel);
    const ps_wavenet_config *cfg = ps_wavenet_config_of(net);
    int O = ps_wavenet_out_dim(cfg), T = P + n;
    ps_rng rng;
    ps_rng_seed(&rng, 32 + (uint64_t)P + (uint64_t)n);
    float cond = 0.3f;
    float *x = malloc(sizeof(float) * (size_t)T);
    float *rows = malloc(sizeof(float) * (size_t)n * O);
    float *d_out = malloc(sizeof(float) * (size_t)n * O);
    float *d_out_full = calloc((size_t)T * O, sizeof(float));
    float *d_x = malloc(sizeof(float) * (size_t)n);
    float *d_x_full = calloc((size_t)T, sizeof(float)), *d_x_nograd = calloc((size_t)T, sizeof(float));
    fill_uniform(x, (size_t)T, -0.8f, 0.8f, &rng);
    fill_uniform(d_out, (size_t)n * O, -1.0f, 1.0f, &rng);
    memcpy(d_out_full + (size_t)P * O, d_out, sizeof(float) * (size_t)n * O);

    /* the stream: the prefix committed in frames of 13, then the peek */
    const int max_frame = 64;
    ps_wavenet_stream *st = ps_wavenet_stream_create(net, max_frame, &err);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(ps_wavenet_stream_enable_backward(st, &err), 0);
    ps_wavenet_stream_set_cond(st, &cond);
    float *scratch = malloc(sizeof(float) * (size_t)max_frame * O);
    for (int t = 0; t < P; t += 13)
        ps_wavenet_stream_process(st, x + t, P - t < 13 ? P - t : 13, scratch);
    ps_wavenet_stream_peek(st, x + P, n, rows);
    for (int i = 0; i < n; i++) d_x[i] = 0.5f; /* the gradient is added */
    ps_wavenet_stream_peek_backward(st, d_out, d_x);
    for (int i = 0; i < n; i++) d_x[i] -= 0.5f;

    /* the reference */
    ps_wavenet_acts *acts = ps_wavenet_acts_create(net, T, &err);
    ck_assert_ptr_nonnull(acts);
    ps_wavenet *grad = ps_wavenet_create(cfg, &err);
    const float *out = ps_wavenet_train_forward(net, acts, x, &cond, T);
    double fe = rel_error(rows, out + (size_t)P * O, (size_t)n * O);
    ck_assert_msg(fe < FRAME_TOL, "kernel %d, P %d, n %d: peek forward off by %g", kernel, P, n, fe);
    ps_wavenet_train_backward(net, acts, d_out_full, grad, d_x_full);
    double be = rel_error(d_x, d_x_full + P, (size_t)n);
    ck_assert_msg(be < FRAME_TOL, "kernel %d, P %d, n %d: d_x off by %g", kernel, P, n, be);
    double mag = 0;
    for (int i = 0; i < n; i++) mag = fmax(mag, fabs(d_x_full[P + i]));
    ck_assert(mag > 1e-3); /* a gradient that could be wrong */

    /* without a gradient block: the same input gradient, bit for bit (the weight
     * gradients are skipped, the input path is the same code) */
    ps_wavenet_train_forward(net, acts, x, &cond, T);
    ps_wavenet_train_backward(net, acts, d_out_full, NULL, d_x_nograd);
    ck_assert_msg(memcmp(d_x_full, d_x_nograd, sizeof(float) * (size_t)T) == 0,
                  "kernel %d, P %d, n %d: d_x depends on the gradient block", kernel, P, n);

    free(x), free(rows), free(d_out), free(d_out_full), free(d_x), free(d_x_full);
    free(d_x_nograd), free(scratch);
    ps_wavenet_acts_destroy(acts);
    ps_wavenet_destroy(grad);
    ps_wavenet_stream_destroy(st);
    ps_wavenet_destroy(net);
}

START_TEST(peek_backward_matches_training_backward)
{
    /* receptive fields: 16 (kernel 2) and 30 (kernel 3) samples */
    check_peek_backward(2, 37, 16);
    check_peek_backward(3, 37, 16);
    check_peek_backward(3, 37, 1);
    check_peek_backward(2, 0, 40);   /* from silence */
    check_peek_backward(3, 0, 64);   /* a frame longer than the receptive field */
    check_peek_backward(3, 300, 64); /* the history buffers have wrapped */
    check_peek_backward(2, 5, 3);    /* a prefix shorter than the receptive field */
}
END_TEST

/* ---- 4. separator metadata in model files ---------------------------------------------- */

/* A valid separator file of 3 sources (test_files.h edits copies of it). */
static blob valid_file(void)
{
    ps_wavenet *net = make_net(separator_config(3), 41);
    ps_model_info info = separator_info(3, 4);
    const char *path = tmp_path("valid-separator.safetensors");
    ps_error err;
    ck_assert_msg(ps_model_save(path, net, &info, &err) == 0, "%s", err.msg);
    ps_wavenet_destroy(net);
    blob b = read_file(path);
    unlink(path);
    return b;
}

START_TEST(separator_info_round_trip)
{
    ps_wavenet *net = make_net(separator_config(3), 42);
    ps_model_info info = separator_info(3, 4);
    info.weights[1] = 0.1f;    /* not a short decimal: %.9g must keep the float */
    info.weights[2] = 100.0f;  /* the largest weight allowed */
    snprintf(info.sources[2], sizeof info.sources[2], "%s", "Bass_guitar-2");
    snprintf(info.source, sizeof info.source, "%s", "band");
    info.lookahead = PS_MAX_LOOKAHEAD;
    const char *path = tmp_path("separator.safetensors");
    ps_error err;
    ck_assert_msg(ps_model_save(path, net, &info, &err) == 0, "%s", err.msg);
    ps_model_info got;
    memset(&got, 0x55, sizeof got);
    ps_wavenet *back = ps_model_load(path, &got, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    const ps_wavenet_config *a = ps_wavenet_config_of(net), *b = ps_wavenet_config_of(back);
    assert_same_architecture(a, b);
    ck_assert_int_eq(b->head, PS_HEAD_GAUSSIAN);
    ck_assert_int_eq(b->mixtures, 3);
    ck_assert_int_eq(got.n_sources, 3);
    for (int k = 0; k < 3; k++) {
        ck_assert_str_eq(got.sources[k], info.sources[k]);
        ck_assert_msg(got.weights[k] == info.weights[k], "weight %d: %.9g, saved %.9g", k,
                      got.weights[k], info.weights[k]);
    }
    ck_assert_int_eq(got.lookahead, PS_MAX_LOOKAHEAD);
    ck_assert_int_eq(got.sample_rate, 14700);
    ck_assert_str_eq(got.source, "band");
    ck_assert_str_eq(got.recipe, info.recipe);
    ck_assert_int_eq(got.noise_levels, 0);
    ck_assert_int_eq(ps_wavenet_num_params(back), ps_wavenet_num_params(net));
    ck_assert(memcmp(ps_wavenet_params(back), ps_wavenet_params(net),
                     sizeof(float) * ps_wavenet_num_params(net)) == 0);
    ps_wavenet_destroy(back);

    /* lookahead 0 and a single source are fine too */
    ps_wavenet *one = make_net(separator_config(1), 43);
    ps_model_info i1 = separator_info(1, 0);
    ck_assert_msg(ps_model_save(path, one, &i1, &err) == 0, "%s", err.msg);
    back = ps_model_load(path, &got, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    ck_assert_int_eq(got.n_sources, 1);
    ck_assert_int_eq(got.lookahead, 0);
    ck_assert_str_eq(got.sources[0], "vocals");
    ps_wavenet_destroy(back);
    ps_wavenet_destroy(one);

    /* a prior loads with no sources */
    ps_wavenet *prior = make_net(prior_config(2), 44);
    ps_model_info pi = prior_info_of("vocals");
    ck_assert_msg(ps_model_save(path, prior, &pi, &err) == 0, "%s", err.msg);
    memset(&got, 0x55, sizeof got);
    back = ps_model_load(path, &got, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    ck_assert_int_eq(got.n_sources, 0);
    ck_assert_int_eq(got.lookahead, 0);
    ps_wavenet_destroy(back);
    ps_wavenet_destroy(prior);
    ps_wavenet_destroy(net);
    unlink(path);
}
END_TEST

/* Saving net with info must fail with a message naming the file and the problem, and
 * leave nothing behind. */
static void expect_save_refused(ps_wavenet *net, const ps_model_info *info, const char *want)
{
    const char *path = tmp_path("refused.safetensors");
    ps_error err = {{0}};
    ck_assert_msg(ps_model_save(path, net, info, &err) != 0, "saved (want \"%s\")", want);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s: ", path);
    assert_refusal_message(err.msg, prefix, want, NULL);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(count_temporaries(), 0);
}

/* The loader on a valid separator file with one metadata value changed. */
static void expect_load_refused(blob b, const char *field, const char *want)
{
    ps_error err = {{0}};
    ps_model_info info = {.sample_rate = -1};
    ps_wavenet *net = ps_model_load_memory(b.p, b.n, BAD_NAME, &info, &err);
    ck_assert_msg(net == NULL, "a malformed file was accepted (want \"%s\")", want);
    assert_refusal_message(err.msg, BAD_NAME ": ", field, want);
    free(b.p);
}

START_TEST(separator_info_refused)
{
    ps_wavenet *net = make_net(separator_config(3), 45);
    ps_model_info info = separator_info(3, 4), bad;

    bad = info, bad.n_sources = 2;
    expect_save_refused(net, &bad, "sources: 2 names for a head of 3 outputs");
    bad = info, bad.n_sources = 0;
    expect_save_refused(net, &bad, "sources: 0 names for a head of 3 outputs");
    bad = info, snprintf(bad.sources[2], sizeof bad.sources[2], "%s", "vocals");
    expect_save_refused(net, &bad, "sources: vocals is named twice");
    bad = info, snprintf(bad.sources[1], sizeof bad.sources[1], "%s", "lead vocals");
    expect_save_refused(net, &bad, "sources: name 2 has a character other than");
    bad = info, snprintf(bad.sources[1], sizeof bad.sources[1], "%s", "a,b");
    expect_save_refused(net, &bad, "sources: name 2 has a character other than");
    bad = info, snprintf(bad.sources[0], sizeof bad.sources[0], "%s", "gu/tar");
    expect_save_refused(net, &bad, "sources: name 1 has a character other than");
    bad = info, bad.sources[2][0] = '\0';
    expect_save_refused(net, &bad, "sources: name 3 is empty");
    bad = info, memset(bad.sources[0], 'a', sizeof bad.sources[0]); /* not terminated */
    expect_save_refused(net, &bad, "longer than 31 bytes");
    bad = info, bad.weights[1] = 0.0f;
    expect_save_refused(net, &bad, "weights: the weight of drums is not in (0, 100]");
    bad = info, bad.weights[0] = -0.5f;
    expect_save_refused(net, &bad, "weights: the weight of vocals");
    bad = info, bad.weights[2] = NAN;
    expect_save_refused(net, &bad, "weights: the weight of bass");
    bad = info, bad.weights[2] = 100.5f;
    expect_save_refused(net, &bad, "weights: the weight of bass");
    bad = info, bad.lookahead = -1;
    expect_save_refused(net, &bad, "lookahead: -1 is outside 0..65536");
    bad = info, bad.lookahead = PS_MAX_LOOKAHEAD + 1;
    expect_save_refused(net, &bad, "lookahead: 65537 is outside");
    ps_wavenet *prior = make_net(prior_config(2), 46);
    bad = prior_info_of("vocals"), bad.n_sources = 1, snprintf(bad.sources[0], 32, "vocals");
    bad.weights[0] = 1.0f;
    expect_save_refused(prior, &bad, "sources: only a separator (Gaussian head) has them");

    /* The loader refuses the same things. */
    expect_load_refused(with_meta("sources", "vocals,drums"), "__metadata__.",
                        "not 2 comma-separated numbers"); /* 3 weights for 2 names */
    expect_load_refused(with_meta("weights", "0.5,0.3"), "__metadata__.weights",
                        "not 3 comma-separated numbers");
    expect_load_refused(with_meta("sources", "vocals,drums,vocals"), "__metadata__.sources",
                        "vocals is named twice");
    expect_load_refused(with_meta("sources", "vocals,dr ums,bass"), "__metadata__.sources",
                        "name 2 has a character other than");
    expect_load_refused(with_meta("sources", "vocals,,bass"), "__metadata__.sources",
                        "name 2 is empty");
    expect_load_refused(with_meta("sources", "a,b,c,d,e,f,g,h,i"), "__metadata__.sources",
                        "more than 8 names");
    expect_load_refused(with_meta("weights", "0.5,0,0.2"), "__metadata__.weights",
                        "the weight of drums is not in (0, 100]");
    expect_load_refused(with_meta("weights", "0.5,-0.3,0.2"), "__metadata__.weights",
                        "the weight of drums");
    expect_load_refused(with_meta("weights", "0.5,nan,0.2"), "__metadata__.weights",
                        "not a decimal number");
    expect_load_refused(with_meta("weights", "0.5,0.3x,0.2"), "__metadata__.weights",
                        "not a decimal number");
    expect_load_refused(with_meta("lookahead", "-1"), "__metadata__.lookahead",
                        "-1 is outside 0..65536");
    expect_load_refused(with_meta("sources", NULL), "__metadata__.sources", "missing");
    expect_load_refused(with_meta("weights", NULL), "__metadata__.weights", "missing");
    expect_load_refused(with_meta("lookahead", NULL), "__metadata__.lookahead", "missing");
    /* a prior's file with a separator's fields */
    const char *path = tmp_path("prior.safetensors");
    ps_model_info pi = prior_info_of("vocals");
    ps_error err;
    ck_assert_msg(ps_model_save(path, prior, &pi, &err) == 0, "%s", err.msg);
    blob good = read_file(path);
    json_t *h = header_of(good);
    set_meta(h, "sources", "vocals");
    set_meta(h, "weights", "1");
    set_meta(h, "lookahead", "0");
    expect_load_refused(assemble(h, st_data(good)), "__metadata__.sources",
                        "only a separator (Gaussian head) has them");
    json_decref(h);
    free(good.p);
    unlink(path);
    ps_wavenet_destroy(prior);
    ps_wavenet_destroy(net);
}
END_TEST

/* ---- 5. mixture consistency -------------------------------------------------------------- */

/* sum_k w_k s_k against m, in double: the projection computes r and the gain in float,
 * so the residual left is float rounding of the terms involved (a few ulps of
 * |m| + sum_k |w_k s_k|); 16 ulps of that sum is the bound. */
static void assert_consistent(int N, const float *w, int n, const float *m, float *const *s,
                              double abs_tol)
{
    for (int i = 0; i < n; i++) {
        double sum = 0, mag = fabs((double)m[i]);
        for (int k = 0; k < N; k++) {
            sum += (double)w[k] * s[k][i];
            mag += fabs((double)w[k] * s[k][i]);
        }
        double tol = abs_tol > 0 ? abs_tol : 16 * FLT_EPSILON * mag;
        ck_assert_msg(fabs(sum - m[i]) <= tol, "sample %d: sum_k w_k s_k = %.9g, m = %.9g", i,
                      sum, m[i]);
    }
}

START_TEST(mixture_projection)
{
    enum { N = 3, n = 200 };
    const float w[N] = {0.5f, 0.3f, 0.2f};
    float m[n], sb[N][n], vb[N][n], before[N][n];
    float *s[N] = {sb[0], sb[1], sb[2]};
    const float *var[N] = {vb[0], vb[1], vb[2]};
    ps_rng rng;
    ps_rng_seed(&rng, 51);
    fill_uniform(m, n, -1, 1, &rng);
    for (int k = 0; k < N; k++) {
        fill_uniform(sb[k], n, -1, 1, &rng);
        for (int i = 0; i < n; i++) vb[k][i] = expf(2.0f * (-6.0f + 7.0f * ps_rng_uniform(&rng)));
    }
    ps_mixture_project(N, w, n, m, s, var);
    assert_consistent(N, w, n, m, s, 0);

    /* source 1's variance 1e4 times the others': it takes nearly all the correction
     * (its share is w_1^2 var_1 / sum_j w_j^2 var_j > 0.999) */
    fill_uniform(m, n, -1, 1, &rng);
    for (int k = 0; k < N; k++) {
        fill_uniform(sb[k], n, -0.5f, 0.5f, &rng);
        memcpy(before[k], sb[k], sizeof before[k]);
        for (int i = 0; i < n; i++) vb[k][i] = k == 1 ? 1.0f : 1e-4f;
    }
    ps_mixture_project(N, w, n, m, s, var);
    assert_consistent(N, w, n, m, s, 0);
    for (int i = 0; i < n; i++) {
        double r = m[i];
        for (int k = 0; k < N; k++) r -= (double)w[k] * before[k][i];
        if (fabs(r) < 1e-2) continue;
        double share = (double)w[1] * (sb[1][i] - before[1][i]) / r;
        ck_assert_msg(share > 0.999 && share < 1.0001, "sample %d: share %g", i, share);
        for (int k = 0; k < N; k += 2)
            ck_assert(fabs((double)w[k] * (sb[k][i] - before[k][i])) < 1e-3 * fabs(r));
    }

    /* already consistent: nothing moves */
    for (int i = 0; i < n; i++) {
        sb[0][i] = 0.25f, sb[1][i] = 0.5f, sb[2][i] = 1.0f;
        m[i] = 0.5f * 0.25f + 0.3f * 0.5f + 0.2f * 1.0f;
    }
    ps_mixture_project(N, w, n, m, s, var);
    for (int i = 0; i < n; i++)
        ck_assert(fabsf(sb[0][i] - 0.25f) < 1e-6f && fabsf(sb[2][i] - 1.0f) < 1e-6f);
}
END_TEST

/* ---- 6. streaming separation against the offline reference ----------------------------- */

enum { SEP_T = 2000, SEP_N = 3, SEP_L = 4 };

/* The mixture followed by L zeros through a separator in frames of `frame` samples
 * (created with max_frame); y[k] receives T + L samples. */
static void run_stream(const ps_model_set *set, int max_frame, int frame, int K, const float *xin,
                       int total, float *const *y)
{
    ps_error err;
    ps_separator *sp = ps_separator_create(set, max_frame, &err);
    ck_assert_msg(sp != NULL, "%s", err.msg);
    ck_assert_int_eq(ps_separator_latency(sp), set->info.lookahead);
    ps_separator_set_refine(sp, K);
    ck_assert_int_eq(ps_separator_refine(sp), K);
    float *part[PS_MAX_SOURCES];
    for (int t = 0; t < total; t += frame) {
        int n = total - t < frame ? total - t : frame;
        for (int k = 0; k < set->info.n_sources; k++) part[k] = y[k] + t;
        ps_separator_process(sp, xin + t, n, part);
    }
    ps_separator_destroy(sp);
}

typedef struct sep_fixture {
    ps_model_set set;
    float *m, *xin;                         /* [T], [T + L] */
    float *off[SEP_N], *y[SEP_N], *y2[SEP_N]; /* [T], [T + L], [T + L] */
} sep_fixture;

static void sep_fixture_init(sep_fixture *f)
{
    make_set(&f->set, SEP_N, SEP_L, 61);
    ps_rng rng;
    ps_rng_seed(&rng, 62);
    f->m = malloc(sizeof(float) * SEP_T);
    f->xin = calloc(SEP_T + SEP_L, sizeof(float));
    fill_uniform(f->m, SEP_T, -0.6f, 0.6f, &rng);
    memcpy(f->xin, f->m, sizeof(float) * SEP_T);
    for (int k = 0; k < SEP_N; k++) {
        f->off[k] = malloc(sizeof(float) * SEP_T);
        f->y[k] = malloc(sizeof(float) * (SEP_T + SEP_L));
        f->y2[k] = malloc(sizeof(float) * (SEP_T + SEP_L));
    }
    ps_error err;
    ck_assert_msg(ps_separate_offline(&f->set, f->m, SEP_T, f->off, &err) == 0, "%s", err.msg);
}

static void sep_fixture_free(sep_fixture *f)
{
    ps_model_set_free(&f->set);
    free(f->m), free(f->xin);
    for (int k = 0; k < SEP_N; k++) free(f->off[k]), free(f->y[k]), free(f->y2[k]);
}

/* The separator's rows differ between the BLAS (offline) and the engine's kernel
 * (streaming) by float rounding, ~1e-7 relative per operation over 6 layers; the
 * variance exp(2 ls) doubles a log-scale's error and the projection's gain divides by
 * the sum of variances, which stays within the scale of the terms. The largest error
 * seen is a few 1e-7 of the largest estimate; 1e-5 is well above that and far below
 * any real mistake (a sample off by one moves estimates by O(1)). */
#define SEPARATE_TOL 1e-5

START_TEST(streaming_matches_offline)
{
    sep_fixture f;
    sep_fixture_init(&f);
    const float *w = f.set.info.weights;
    /* the offline estimates are mixture-consistent */
    assert_consistent(SEP_N, w, SEP_T, f.m, f.off, 1e-5);
    static const int frames[][2] = {{1, 1}, {7, 7}, {256, 256}, {7, 100}}; /* max, fed */
    for (size_t c = 0; c < sizeof frames / sizeof frames[0]; c++) {
        run_stream(&f.set, frames[c][0], frames[c][1], 0, f.xin, SEP_T + SEP_L, f.y);
        float *est[SEP_N];
        for (int k = 0; k < SEP_N; k++) {
            est[k] = f.y[k] + SEP_L; /* output t + L estimates sample t */
            double e = rel_error(est[k], f.off[k], SEP_T);
            ck_assert_msg(e < SEPARATE_TOL, "frames of %d (max %d): source %d off by %g",
                          frames[c][1], frames[c][0], k, e);
        }
        assert_consistent(SEP_N, w, SEP_T, f.m, est, 1e-5);
    }
    sep_fixture_free(&f);
}
END_TEST

START_TEST(refinement_is_deterministic_and_consistent)
{
    sep_fixture f;
    sep_fixture_init(&f);
    const float *w = f.set.info.weights;
    const int total = SEP_T + SEP_L;
    run_stream(&f.set, 64, 64, 2, f.xin, total, f.y);
    run_stream(&f.set, 64, 64, 2, f.xin, total, f.y2);
    float *est[SEP_N];
    double diff = 0;
    for (int k = 0; k < SEP_N; k++) {
        for (int t = 0; t < total; t++) ck_assert_msg(isfinite(f.y[k][t]), "source %d, t %d", k, t);
        ck_assert_msg(memcmp(f.y[k], f.y2[k], sizeof(float) * total) == 0,
                      "two runs with K = 2 differ (source %d)", k);
        est[k] = f.y[k] + SEP_L;
        for (int t = 0; t < SEP_T; t++) diff = fmax(diff, fabs((double)est[k][t] - f.off[k][t]));
    }
    /* the refinement moves samples after the projection's input, which then restores
     * consistency: the same float-rounding bound */
    assert_consistent(SEP_N, w, SEP_T, f.m, est, 1e-5);
    ck_assert_msg(diff > 1e-3, "K = 2 gives the K = 0 result (max difference %g)", diff);

    /* reset and the switch back to K = 0: the same separator then gives K = 0's result,
     * and K = 2 again after a reset gives the first run's */
    ps_error err;
    ps_separator *sp = ps_separator_create(&f.set, 64, &err);
    ck_assert_ptr_nonnull(sp);
    float *part[SEP_N];
    ps_separator_set_refine(sp, 2);
    for (int t = 0; t < 640; t += 64) {
        for (int k = 0; k < SEP_N; k++) part[k] = f.y2[k] + t;
        ps_separator_process(sp, f.xin + t, 64, part);
    }
    ps_separator_reset(sp);
    ps_separator_set_refine(sp, 2);
    for (int t = 0; t < total; t += 64) {
        int n = total - t < 64 ? total - t : 64;
        for (int k = 0; k < SEP_N; k++) part[k] = f.y2[k] + t;
        ps_separator_process(sp, f.xin + t, n, part);
    }
    for (int k = 0; k < SEP_N; k++)
        ck_assert_msg(memcmp(f.y[k], f.y2[k], sizeof(float) * total) == 0,
                      "K = 2 after a reset differs from a fresh separator (source %d)", k);
    ps_separator_reset(sp);
    ps_separator_set_refine(sp, 0);
    for (int t = 0; t < total; t += 64) {
        int n = total - t < 64 ? total - t : 64;
        for (int k = 0; k < SEP_N; k++) part[k] = f.y2[k] + t;
        ps_separator_process(sp, f.xin + t, n, part);
    }
    for (int k = 0; k < SEP_N; k++) {
        double e = rel_error(f.y2[k] + SEP_L, f.off[k], SEP_T);
        ck_assert_msg(e < SEPARATE_TOL, "K = 0 after K = 2: source %d off by %g", k, e);
    }
    ps_separator_set_refine(sp, 100);
    ck_assert_int_eq(ps_separator_refine(sp), PS_MAX_REFINE);
    ps_separator_set_refine(sp, -3);
    ck_assert_int_eq(ps_separator_refine(sp), 0);
    ps_separator_destroy(sp);
    sep_fixture_free(&f);
}
END_TEST

/* The K steps together move a sample by at most half a posterior deviation (the trust
 * region in separator_stream.c): before the projection |s_k - mu_k| <= sd_k / 2, and the
 * projection (linear in the estimates) adds w_k var_k sum_j w_j d_j / sum_j w_j^2 var_j
 * to a move d, so the result stays within
 *   sd_k / 2 + w_k var_k (sum_j w_j sd_j / 2) / sum_j w_j^2 var_j
 * of K = 0's. The slack covers float rounding of estimates of order 1 (1e-5, as for
 * SEPARATE_TOL); with three deviations per step, as before, the bound is broken. */
START_TEST(refinement_stays_within_its_trust_region)
{
    sep_fixture f;
    sep_fixture_init(&f);
    const float *w = f.set.info.weights;
    const int total = SEP_T + SEP_L;
    /* sharp priors (MoL log-scales 4 lower): their pull then exceeds the region, as a
     * trained prior's does at an edge, and the bound must hold it */
    for (int k = 0; k < SEP_N; k++) {
        int mixtures = ps_wavenet_config_of(f.set.prior[k])->mixtures;
        for (int i = 0; i < ps_wavenet_num_tensors(f.set.prior[k]); i++) {
            ps_tensor_view v;
            ps_wavenet_tensor(f.set.prior[k], i, &v);
            if (strcmp(v.name, "head.b2") == 0)
                for (int c = 0; c < mixtures; c++) v.data[2 * mixtures + c] -= 4.0f;
        }
    }
    /* K = 0's estimates and the separator's variances, which every K is measured against */
    run_stream(&f.set, 64, 64, 0, f.xin, total, f.y);
    float *rows = malloc(sizeof(float) * (size_t)total * 2 * SEP_N);
    float *var[SEP_N];
    ps_error err;
    ck_assert_msg(ps_wavenet_forward(f.set.separator, f.xin, 1, total, NULL, rows, &err) == 0, "%s",
                  err.msg);
    for (int k = 0; k < SEP_N; k++) var[k] = malloc(sizeof(float) * SEP_T);
    ps_separator_split_rows(SEP_N, rows + (size_t)SEP_L * 2 * SEP_N, SEP_T, NULL, var);
    for (int K = 1; K <= 4; K *= 4) {
        run_stream(&f.set, 64, 64, K, f.xin, total, f.y2);
        double worst = 0.0, moved = 0.0;
        for (int t = 0; t < SEP_T; t++) {
            double spread = 0.0, gain = 0.0;
            for (int j = 0; j < SEP_N; j++) {
                spread += w[j] * sqrt(var[j][t]) / 2;
                gain += (double)w[j] * w[j] * var[j][t];
            }
            for (int k = 0; k < SEP_N; k++) {
                double bound = sqrt(var[k][t]) / 2 + w[k] * var[k][t] * spread / gain;
                double d = fabs((double)f.y2[k][t + SEP_L] - f.y[k][t + SEP_L]);
                worst = fmax(worst, d - bound);
                moved = fmax(moved, d / bound);
            }
        }
        ck_assert_msg(worst < 1e-5, "K = %d: a sample moved %g past its bound", K, worst);
        /* and the moves come near the bound: the region is what holds them (the K = 4
         * steps do not all push one way, 0.47 of the bound is the largest seen) */
        ck_assert_msg(moved > 0.25, "K = %d: largest move %g of its bound", K, moved);
    }
    free(rows);
    for (int k = 0; k < SEP_N; k++) free(var[k]);
    sep_fixture_free(&f);
}
END_TEST

/* ---- 7. the training losses --------------------------------------------------------------- */

enum { LT = 40, LN = 2, LL = 3 };

/* Central differences of loss(rows) with respect to every row value: the step actually
 * taken (float(v + h) - float(v - h)) is the denominator. Per element the analytic
 * gradient must be within rel * max(|a|, |n|) + abs_frac * max |n|. */
typedef double (*rows_loss)(void *ctx, const float *rows, float *d_rows);

static void check_rows_gradient(const char *what, rows_loss loss, void *ctx, float *rows,
                                float scale_of_d, float h, double rel, double abs_frac)
{
    const size_t n = (size_t)LT * 2 * LN;
    float *d = calloc(n, sizeof(float)), *scratch = calloc(n, sizeof(float));
    double *num = malloc(sizeof(double) * n), scale = 0;
    loss(ctx, rows, d);
    for (size_t i = 0; i < n; i++) {
        float keep = rows[i], up = keep + h, down = keep - h;
        rows[i] = up;
        double lu = loss(ctx, rows, scratch);
        rows[i] = down;
        double ld = loss(ctx, rows, scratch);
        rows[i] = keep;
        num[i] = scale_of_d * (lu - ld) / ((double)up - down); /* d_rows holds scale x */
        scale = fmax(scale, fabs(num[i]));
    }
    ck_assert(scale > 0);
    for (size_t i = 0; i < n; i++) {
        double tol = rel * fmax(fabs(d[i]), fabs(num[i])) + abs_frac * scale;
        ck_assert_msg(fabs(d[i] - num[i]) <= tol, "%s: row %zu col %zu: analytic %.7g, numeric %.7g",
                      what, i / (2 * LN), i % (2 * LN), d[i], num[i]);
    }
    /* the unscored rows (t < L) get no gradient */
    for (size_t i = 0; i < (size_t)LL * 2 * LN; i++) ck_assert(d[i] == 0.0f);
    free(d), free(scratch), free(num);
}

static void random_rows(float *rows, ps_rng *rng)
{
    for (int t = 0; t < LT; t++)
        for (int k = 0; k < LN; k++) {
            rows[(size_t)t * 2 * LN + k] = -0.5f + ps_rng_uniform(rng);
            /* log-scales in (-3, -1): inside the clamp by more than a step */
            rows[(size_t)t * 2 * LN + LN + k] = -3.0f + 2.0f * ps_rng_uniform(rng);
        }
}

typedef struct sup_ctx {
    const float *src[LN];
    float nll_beta, si_weight, scale;
    double neg_si;
} sup_ctx;

static double sup_loss(void *ctx, const float *rows, float *d_rows)
{
    sup_ctx *c = ctx;
    memset(d_rows, 0, sizeof(float) * LT * 2 * LN);
    return ps_separator_supervised_loss(LN, LL, rows, LT, c->src, c->nll_beta, c->si_weight,
                                        c->scale, d_rows, &c->neg_si);
}

/* A crop of random rows and sources, and a loss context over them. */
typedef struct sup_case {
    float rows[LT * 2 * LN], src[LN][LT - LL];
    sup_ctx c;
} sup_case;

static void sup_case_make(sup_case *s, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    random_rows(s->rows, &rng);
    for (int k = 0; k < LN; k++) fill_uniform(s->src[k], LT - LL, -0.5f, 0.5f, &rng);
    s->c = (sup_ctx){.src = {s->src[0], s->src[1]}, .scale = 0.5f};
}

/* The Gaussian NLL summed in double, each term weighted by sigma^(2 beta). */
static double sup_case_nll(const sup_case *s, double beta)
{
    double ref = 0;
    for (int t = LL; t < LT; t++)
        for (int k = 0; k < LN; k++) {
            const float *row = s->rows + t * 2 * LN;
            ref += exp(2.0 * beta * row[LN + k]) * gauss_nll(row[k], row[LN + k], s->src[k][t - LL]);
        }
    return ref;
}

START_TEST(supervised_loss_gradient)
{
    static sup_case s;
    sup_case_make(&s, 71);
    sup_ctx c = s.c;
    float *rows = s.rows;
    double ref = sup_case_nll(&s, 0.0);
    float d[LT * 2 * LN] = {0};
    double v = sup_loss(&c, rows, d);
    ck_assert_msg(fabs(v - ref) <= 1e-5 * fabs(ref), "loss %.9g, reference %.9g", v, ref);
    ck_assert(c.neg_si == 0.0);
    /* Each term is a float (~1e-7 relative of terms up to ~100) and one step changes
     * one term (plus the SI-SDR, computed in double): with h = 1e-3 the rounding noise
     * of a quotient is ~1e-5 / 2e-3 ~ 5e-3 absolute against gradients up to ~100, and
     * the truncation error h^2/6 f''' ~ 1e-6 e2 is smaller still. rel 1e-3 plus 1e-4 of
     * the largest gradient covers both with ~10x headroom. */
    check_rows_gradient("supervised", sup_loss, &c, rows, c.scale, 1e-3f, 1e-3, 1e-4);
    c.si_weight = 0.5f;
    v = sup_loss(&c, rows, d);
    ck_assert(c.neg_si != 0.0 && isfinite(c.neg_si));
    ck_assert_msg(fabs(v - (ref + 0.5 * c.neg_si)) <= 1e-5 * fabs(ref), "%.9g", v);
    check_rows_gradient("supervised + SI-SDR", sup_loss, &c, rows, c.scale, 1e-3f, 1e-3, 1e-4);
}
END_TEST

/* beta-NLL has no loss whose derivative it is (its weight is held constant), so it is
 * checked against its definition: every term of the plain NLL and of its gradient, for
 * mean and log-scale alike, times sigma^(2 beta) of that row and source. */
START_TEST(supervised_loss_beta_nll)
{
    static sup_case s;
    sup_case_make(&s, 75);
    sup_ctx c = s.c;
    const float *rows = s.rows;
    float d0[LT * 2 * LN], d[LT * 2 * LN];
    double plain = sup_loss(&c, rows, d0);
    const float betas[] = {0.5f, 1.0f};
    for (int b = 0; b < 2; b++) {
        c.nll_beta = betas[b];
        double v = sup_loss(&c, rows, d), ref = sup_case_nll(&s, betas[b]);
        for (int t = LL; t < LT; t++)
            for (int k = 0; k < LN; k++) {
                double w = exp(2.0 * betas[b] * rows[t * 2 * LN + LN + k]);
                /* float products of the same float factors: a few ulps */
                for (int j = 0; j < 2; j++) {
                    size_t i = (size_t)t * 2 * LN + (size_t)j * LN + k;
                    ck_assert_msg(fabs(d[i] - w * d0[i]) <= 1e-5 * fabs(d0[i]) + 1e-7,
                                  "beta %g row %d col %d: %.7g, expected %.7g", betas[b], t,
                                  j * LN + k, d[i], w * d0[i]);
                }
            }
        ck_assert_msg(fabs(v - ref) <= 1e-5 * fabs(ref), "beta %g: %.9g, expected %.9g", betas[b],
                      v, ref);
        /* log-scales in (-3, -1) make the weights 2e-3..0.4: the weighting must show */
        ck_assert(fabs(v - plain) > 0.5 * fabs(plain));
    }
    for (size_t i = 0; i < (size_t)LL * 2 * LN; i++) ck_assert(d[i] == 0.0f);
}
END_TEST

typedef struct elbo_ctx {
    ps_elbo_work *w;
    ps_elbo_settings set;
    const float *x;
    ps_rng rng;
    float scale;
    ps_elbo_terms terms;
} elbo_ctx;

/* The same eps every time: the rng is seeded again before each evaluation. */
static double elbo_loss(void *ctx, const float *rows, float *d_rows)
{
    elbo_ctx *c = ctx;
    memset(d_rows, 0, sizeof(float) * LT * 2 * LN);
    ps_rng_seed(&c->rng, 73);
    return ps_separator_elbo_loss(c->w, &c->set, c->x, rows, LT, &c->rng, c->scale, d_rows,
                                  &c->terms);
}

START_TEST(elbo_loss_gradient)
{
    ps_model_set set;
    make_set(&set, LN, LL, 72);
    ps_error err;
    ps_elbo_work *w = ps_elbo_work_create(&set.info, set.prior, set.prior_info, LT, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    ps_rng rng;
    ps_rng_seed(&rng, 74);
    float rows[LT * 2 * LN], x[LT];
    random_rows(rows, &rng);
    fill_uniform(x, LT, -0.5f, 0.5f, &rng);
    elbo_ctx c = {.w = w, .set = {.gamma = 0.3f, .beta = 0.7f, .prior_sigma = 0.05f}, .x = x,
                  .scale = 1.0f};
    float d[LT * 2 * LN] = {0};
    double v = elbo_loss(&c, rows, d);
    ps_elbo_terms tm = c.terms;
    ck_assert(isfinite(v) && isfinite(tm.likelihood) && isfinite(tm.prior) && isfinite(tm.entropy));
    ck_assert(fabs(v - (tm.likelihood + tm.prior + tm.entropy)) <= 1e-9 * (1 + fabs(v)));

    /* The terms recomputed in double from the same eps (drawn t-major, source-minor). */
    const int n = LT - LL;
    float s[LN][LT];
    double like = 0, ent = 0, prior = 0;
    ps_rng_seed(&rng, 73);
    for (int t = 0; t < n; t++)
        for (int k = 0; k < LN; k++) {
            const float *row = rows + (size_t)(t + LL) * 2 * LN;
            s[k][t] = row[k] + expf(row[LN + k]) * ps_rng_normal(&rng);
            ent -= row[LN + k];
        }
    for (int t = 0; t < n; t++) {
        double r = x[t];
        for (int k = 0; k < LN; k++) r -= (double)set.info.weights[k] * s[k][t];
        like += 0.5 * r * r / (0.3 * 0.3);
    }
    ps_wavenet_acts *acts = ps_wavenet_acts_create(set.prior[0], LT, &err);
    for (int k = 0; k < LN; k++) {
        ps_noise_ladder ladder = {10, 1.0f, 0.01f};
        float cond[PS_PRIOR_COND];
        ps_noise_cond(&ladder, 0.05f, cond);
        prior += 0.7 * ps_prior_nll(set.prior[k], acts, s[k], n - 1, cond, NULL, 1.0f, NULL);
    }
    ps_wavenet_acts_destroy(acts);
    /* float sums of <= 74 terms against double: 1e-5 relative is ~100 ulps */
    ck_assert_msg(fabs(tm.likelihood - like) <= 1e-5 * fabs(like), "%.9g vs %.9g", tm.likelihood, like);
    ck_assert_msg(fabs(tm.entropy - ent) <= 1e-5 * fabs(ent), "%.9g vs %.9g", tm.entropy, ent);
    ck_assert_msg(fabs(tm.prior - prior) <= 1e-5 * fabs(prior), "%.9g vs %.9g", tm.prior, prior);

    /* The gradient. One step moves one sample s_k[t], which changes every later prior
     * output: the loss (a few hundred nats) is recomputed with float rounding of ~1e-5
     * absolute, so h = 3e-3 gives quotient noise ~2e-3 against gradients of O(10), and
     * the MoL density's curvature keeps the truncation error of the central difference
     * ~1e-3 relative. 1e-2 relative plus 1e-3 of the largest gradient, as the WaveNet's
     * own gradient tests use (a ReLU kink within a step would fail loudly, not pass). */
    check_rows_gradient("ELBO", elbo_loss, &c, rows, c.scale, 3e-3f, 1e-2, 1e-3);
    c.scale = 0.25f; /* the gradient is scaled, the value not */
    double v2 = elbo_loss(&c, rows, d);
    ck_assert(v2 == v);
    float d1[LT * 2 * LN];
    c.scale = 1.0f;
    elbo_loss(&c, rows, d1);
    for (int i = 0; i < LT * 2 * LN; i++)
        ck_assert_msg(fabsf(d[i] - 0.25f * d1[i]) <= 1e-5f * (1 + fabsf(d1[i])), "%d", i);

    ps_elbo_work_destroy(w);
    ps_model_set_free(&set);
}
END_TEST

/* ---- 8. model sets from a folder ----------------------------------------------------------- */

static void save_model(const char *path, ps_wavenet *net, const ps_model_info *info)
{
    ps_error err;
    ck_assert_msg(ps_model_save(path, net, info, &err) == 0, "%s", err.msg);
}

/* dir/separator.safetensors (sources vocals, drums) and dir/<source>.safetensors. */
static void write_set(const char *dir)
{
    char path[600];
    mkdir(dir, 0700);
    ps_wavenet *sep = make_net(separator_config(2), 81);
    ps_model_info info = separator_info(2, 3);
    ck_assert(snprintf(path, sizeof path, "%s/%s", dir, PS_SEPARATOR_FILE) < (int)sizeof path);
    save_model(path, sep, &info);
    ps_wavenet_destroy(sep);
    for (int k = 0; k < 2; k++) {
        ps_wavenet *prior = make_net(prior_config(2), 82 + (uint64_t)k);
        ps_model_info pi = prior_info_of(source_names[k]);
        ck_assert(snprintf(path, sizeof path, "%s/%s.safetensors", dir, source_names[k]) < (int)sizeof path);
        save_model(path, prior, &pi);
        ps_wavenet_destroy(prior);
    }
}

/* Loading `path` fails with a message that starts with `file` and contains want. */
static void expect_set_refused(const char *path, const char *file, const char *want)
{
    ps_model_set set;
    memset(&set, 0x55, sizeof set);
    ps_error err = {{0}};
    ck_assert_msg(ps_model_set_load(path, &set, &err) != 0, "%s loaded (want \"%s\")", path, want);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s: ", file);
    assert_refusal_message(err.msg, prefix, want, NULL);
    ck_assert_ptr_null(set.separator); /* nothing left to free */
    for (int k = 0; k < PS_MAX_SOURCES; k++) ck_assert_ptr_null(set.prior[k]);
}

START_TEST(model_set_from_folder)
{
    char dir[600], path[700], file[700];
    snprintf(dir, sizeof dir, "%s", tmp_path("set"));
    write_set(dir);
    ps_model_set set;
    ps_error err;
    /* the folder, and the separator's file itself */
    for (int by_file = 0; by_file < 2; by_file++) {
        ck_assert(snprintf(path, sizeof path, "%s/%s", dir, PS_SEPARATOR_FILE) < (int)sizeof path);
        ck_assert_msg(ps_model_set_load(by_file ? path : dir, &set, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(set.info.n_sources, 2);
        ck_assert_int_eq(set.info.lookahead, 3);
        for (int k = 0; k < 2; k++) {
            ck_assert_str_eq(set.info.sources[k], source_names[k]);
            ck_assert_ptr_nonnull(set.prior[k]);
            ck_assert_str_eq(set.prior_info[k].source, source_names[k]);
            ck_assert_int_eq(set.prior_info[k].noise_levels, 10);
        }
        ck_assert_ptr_null(set.prior[2]);
        ps_model_set_free(&set);
    }

    /* a missing prior */
    ck_assert(snprintf(path, sizeof path, "%s/drums.safetensors", dir) < (int)sizeof path);
    unlink(path);
    expect_set_refused(dir, path, "missing: the prior of source drums");

    /* the prior of another source under the name */
    ps_wavenet *prior = make_net(prior_config(2), 85);
    ps_model_info pi = prior_info_of("bass");
    save_model(path, prior, &pi);
    expect_set_refused(dir, path, "is the prior of another source (source \"bass\")");

    /* another sample rate */
    pi = prior_info_of("drums"), pi.sample_rate = 16000;
    save_model(path, prior, &pi);
    expect_set_refused(dir, path, "a prior at 16000 Hz, the separator runs at 14700 Hz");

    /* not noise-conditioned (no ladder) */
    pi = prior_info_of("drums"), pi.noise_levels = 0;
    save_model(path, prior, &pi);
    expect_set_refused(dir, path, "is not a noise-conditioned prior");
    ps_wavenet_destroy(prior);

    /* a categorical prior */
    ps_wavenet_config cc = prior_config(2);
    cc.head = PS_HEAD_CATEGORICAL;
    prior = make_net(cc, 86);
    pi = prior_info_of("drums");
    save_model(path, prior, &pi);
    expect_set_refused(dir, path, "is not a prior with a mixture-of-logistics head");
    ps_wavenet_destroy(prior);

    /* a separator as a prior */
    ps_wavenet *sep = make_net(separator_config(2), 87);
    ps_model_info si = separator_info(2, 3);
    save_model(path, sep, &si);
    expect_set_refused(dir, path, "is not a prior with a mixture-of-logistics head");
    ps_wavenet_destroy(sep);

    /* a prior file given as the model */
    ck_assert(snprintf(path, sizeof path, "%s/vocals.safetensors", dir) < (int)sizeof path);
    expect_set_refused(path, path, "is a prior (vocals), not a separator");

    /* a folder without a separator, and no folder at all */
    snprintf(file, sizeof file, "%s", tmp_path("empty"));
    mkdir(file, 0700);
    expect_set_refused(file, file, "no separator.safetensors in this model folder");
    rmdir(file);
    snprintf(file, sizeof file, "%s", tmp_path("no-such-folder"));
    expect_set_refused(file, file, "no such model folder or file");
    remove_tree(dir);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("separator");
    TCase *tc = tcase_create("separator");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_add_test(tc, gaussian_nll_value_and_gradients);
    tcase_add_test(tc, gaussian_nll_clamped_log_scale);
    tcase_add_loop_test(tc, peek_leaves_the_stream_unchanged, 0, 3);
    tcase_add_test(tc, peek_backward_matches_training_backward);
    tcase_add_test(tc, separator_info_round_trip);
    tcase_add_test(tc, separator_info_refused);
    tcase_add_test(tc, mixture_projection);
    tcase_add_test(tc, streaming_matches_offline);
    tcase_add_test(tc, refinement_is_deterministic_and_consistent);
    tcase_add_test(tc, refinement_stays_within_its_trust_region);
    tcase_add_test(tc, supervised_loss_gradient);
    tcase_add_test(tc, supervised_loss_beta_nll);
    tcase_add_test(tc, elbo_loss_gradient);
    tcase_add_test(tc, model_set_from_folder);
    suite_add_tcase(s, tc);
    return s;
}
