/* MADE: the autoregressive property under every mask of the ensemble, exact
 * normalization of one mask and of the logsumexp ensemble, gradients, per-batch masks,
 * a short training run against the independent-pixel baseline, and sampling frequencies
 * against exp(-nll). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_checks.h"
#include "priorsep/image_train.h"

static ps_image_model *make(int height, int width, int hidden, int ensemble, uint64_t seed)
{
    ps_image_config c = {.height = height, .width = width, .levels = 2, .hidden = hidden,
                         .layers = 2, .ensemble = ensemble};
    ps_error err;
    ps_image_model *m = ps_image_model_create("made", &c, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, seed);
    return m;
}

START_TEST(autoregressive_under_every_mask)
{
    ps_image_model *m = make(5, 5, 32, 3, 1);
    int order[25], raster = 0;
    for (int k = 0; k < 3; k++) {
        ps_image_model_set_mask(m, k);
        ps_image_model_order(m, order);
        int same = 1;
        for (int i = 0; i < 25; i++) same &= order[i] == i;
        raster += same;
        long later = 0, violations = image_check_autoregressive(m, 10 + k, &later);
        ck_assert_msg(violations == 0, "mask %d: %ld violations", k, violations);
        ck_assert_msg(later > 0, "mask %d: no later pixel depends on an earlier one", k);
    }
    ck_assert_msg(raster == 1, "%d of 3 masks in raster order (only mask 0 should be)", raster);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(rejects_8bit)
{
    ps_image_config c = {.height = 4, .width = 4, .levels = 256};
    ps_error err;
    ck_assert_ptr_null(ps_image_model_create("made", &c, &err));
    ck_assert_msg(strstr(err.msg, "levels") != NULL, "%s", err.msg);
}
END_TEST

/* Float logits, sums of 16 double-precision log-probabilities: a normalized model sums
 * to 1 within ~1e-12; 1e-5 is the common brief's bound. */
START_TEST(single_mask_normalized)
{
    ps_image_model *m = make(4, 4, 24, 1, 2);
    double total = image_check_normalization(m);
    ck_assert_msg(fabs(total - 1.0) < 1e-5, "sum of p(x) = %.9f", total);
    ps_image_model_destroy(m);
}
END_TEST

static double logit_of(const float *cond, int i) { return (double)cond[2 * i + 1] - cond[2 * i]; }

/* The ensemble of 4 masks, over all 2^16 images: the logsumexp mixture sums to 1, and
 * its nll matches -log mean_k p_k(x) rebuilt from each mask's conditionals. Averaging
 * the masks' logits instead (a per-pixel product of sigmoids of the mean logit) is not a
 * distribution: no single order makes it autoregressive, and it measurably misses 1. */
START_TEST(ensemble_normalized_by_logsumexp)
{
    enum { D = 16, M = 4, N = 1 << D };
    ps_image_model *m = make(4, 4, 24, M, 3);
    /* Weights 3x the init: sharper conditionals that differ more between masks. */
    float *p = ps_image_model_params(m);
    for (size_t i = 0; i < ps_image_model_param_count(m); i++) p[i] *= 3.0f;
    double total = image_check_normalization(m);
    ck_assert_msg(fabs(total - 1.0) < 1e-5, "sum of p(x) = %.9f", total);

    float *logit_sum = calloc((size_t)N * D, sizeof(float));
    double *ll = calloc((size_t)M * N, sizeof(double)), *nll = malloc(N * sizeof(double));
    uint8_t *x = malloc((size_t)N * D);
    for (int b = 0; b < N; b++)
        for (int i = 0; i < D; i++) x[b * D + i] = (uint8_t)((b >> i) & 1);
    float cond[2 * D];
    for (int k = 0; k < M; k++) {
        ps_image_model_set_mask(m, k);
        for (int b = 0; b < N; b++) {
            ps_image_model_conditionals(m, x + b * D, cond);
            for (int i = 0; i < D; i++) {
                ll[k * N + b] += cond[2 * i + x[b * D + i]];
                logit_sum[b * D + i] += (float)logit_of(cond, i);
            }
        }
    }
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    ps_image_model_nll(m, x, N, nll, &rng);
    double worst = 0.0, averaged_logits = 0.0;
    for (int b = 0; b < N; b++) {
        double mix = 0.0, log_p = 0.0;
        for (int k = 0; k < M; k++) mix += exp(ll[k * N + b]) / M;
        /* conditionals are float log-probabilities: 16 of them, each within ~1e-7
         * relative, so 1e-5 absolute on -log p. */
        worst = fmax(worst, fabs(nll[b] + log(mix)));
        for (int i = 0; i < D; i++) {
            double z = logit_sum[b * D + i] / M;
            log_p -= log1p(exp(x[b * D + i] ? -z : z));
        }
        averaged_logits += exp(log_p);
    }
    ck_assert_msg(worst < 1e-5, "nll and -log mean_k p_k(x) differ by %g", worst);
    ck_assert_msg(fabs(averaged_logits - 1.0) > 1e-3,
                  "logit averaging summed to %.9f: the masks are too alike to tell", averaged_logits);
    free(logit_sum), free(ll), free(nll), free(x);
    ps_image_model_destroy(m);
}
END_TEST

static void random_images(uint8_t *x, int n, int D, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    for (int i = 0; i < n * D; i++) x[i] = ps_rng_uniform(&rng) < 0.4f;
}

/* Float forward, loss summed in double: with h = 5e-3 the rounding of a loss of ~20
 * nats (~1e-6) becomes ~1e-4 in the difference; the floor 0.1 keeps that near 1e-3 for
 * tiny gradients (measured worst: 1e-4), and 5e-3 leaves room for a probe whose step
 * crosses a ReLU kink. Three rng seeds: three masks of the ensemble. */
START_TEST(gradients_match_finite_differences)
{
    ps_image_model *m = make(3, 3, 8, 3, 4);
    image_jitter_params(m, 0.2f, 11);
    uint8_t x[4 * 9];
    random_images(x, 4, 9, 5);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double worst = image_check_gradients(m, x, 4, 200, 5e-3, 0.1, seed);
        ck_assert_msg(worst < 5e-3, "rng seed %d: largest relative error %g", (int)seed, worst);
    }
    ps_image_model_destroy(m);
}
END_TEST

/* Connectivity-agnostic training: with the same parameters and data, the loss under
 * different rng states takes more than one value, and each value is the loss of one of
 * the ensemble's masks (rebuilt from that mask's conditionals). */
START_TEST(batches_draw_masks_from_the_ensemble)
{
    enum { D = 25, N = 6, M = 4 };
    ps_image_model *m = make(5, 5, 32, M, 6);
    uint8_t x[N * D];
    random_images(x, N, D, 7);
    double mask_loss[M] = {0};
    float cond[2 * D];
    for (int k = 0; k < M; k++) {
        ps_image_model_set_mask(m, k);
        for (int b = 0; b < N; b++) {
            ps_image_model_conditionals(m, x + b * D, cond);
            for (int i = 0; i < D; i++) mask_loss[k] -= cond[2 * i + x[b * D + i]];
        }
    }
    int used[M] = {0}, distinct = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        ps_rng rng;
        ps_rng_seed(&rng, seed);
        double loss = ps_image_model_loss(m, x, N, 1.0f, 0, &rng);
        int match = -1;
        for (int k = 0; k < M; k++)
            if (fabs(loss - mask_loss[k]) < 1e-4 * mask_loss[k]) match = k;
        ck_assert_msg(match >= 0, "seed %d: loss %.6f is no mask's loss", (int)seed, loss);
        distinct += !used[match];
        used[match] = 1;
    }
    for (int k = 1; k < M; k++)
        ck_assert_msg(fabs(mask_loss[k] - mask_loss[0]) > 1e-3, "masks 0 and %d give one loss", k);
    ck_assert_msg(distinct >= 3, "16 batches used only %d of %d masks", distinct, M);
    ps_image_model_destroy(m);
}
END_TEST

const char *suite_skip_reason(void) { return image_fashion_missing(); }

START_TEST(training_beats_independent_pixels)
{
    ps_image_model *m = make(7, 7, 100, 4, 8);
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 1500;
    o.lr = 3e-3f;
    image_training t = image_check_training(m, &o);
    ck_assert_msg(t.trained == 0, "%s", t.err.msg);
    printf("made: test nll %.3f -> %.3f nats, independent pixels %.3f\n", t.before, t.after,
           t.baseline);
    ck_assert_msg(t.after < t.baseline, "test nll %.3f (from %.3f), independent pixels %.3f",
                  t.after, t.before, t.baseline);
    ck_assert_int_eq(t.invalid, 0);
    ps_image_model_destroy(m);
}
END_TEST

/* 2x2 binary images, an ensemble of 3 masks with weights scaled up so that the 16
 * probabilities are far from uniform: 20,000 samples against exp(-nll) by chi-square.
 * 15 degrees of freedom: a correct sampler exceeds 37.7 with probability 1e-3 (cells all
 * expect > 5 counts, asserted, so the chi-square approximation holds). */
START_TEST(sample_frequencies_match_likelihood)
{
    ps_image_model *m = make(2, 2, 8, 3, 9);
    float *p = ps_image_model_params(m);
    for (size_t i = 0; i < ps_image_model_param_count(m); i++) p[i] *= 3.0f;
    image_sample_fit fit = image_check_sample_frequencies(m, NULL, 20000, 1);
    printf("made: sampling chi-square %.2f (15 dof)\n", fit.chi_square);
    ck_assert_int_eq(fit.invalid, 0);
    ck_assert_msg(fit.min_expected > 5.0, "an image expects only %.2f samples", fit.min_expected);
    ck_assert_msg(fit.p_max > 3.0 * fit.p_min, "p(x) spans only %g..%g", fit.p_min, fit.p_max);
    ck_assert_msg(fit.chi_square < 37.7, "chi-square %.2f over 15 degrees of freedom",
                  fit.chi_square);
    ps_image_model_destroy(m);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("made");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, autoregressive_under_every_mask);
    tcase_add_test(tc, rejects_8bit);
    tcase_add_test(tc, single_mask_normalized);
    tcase_add_test(tc, ensemble_normalized_by_logsumexp);
    tcase_add_test(tc, gradients_match_finite_differences);
    tcase_add_test(tc, batches_draw_masks_from_the_ensemble);
    tcase_add_test(tc, training_beats_independent_pixels);
    tcase_add_test(tc, sample_frequencies_match_likelihood);
    suite_add_tcase(s, tc);
    return s;
}
