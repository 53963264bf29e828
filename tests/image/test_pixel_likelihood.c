/* Pixel likelihoods: normalization, consistency of the log-probabilities with the
 * losses, finite-difference gradients and sampling frequencies. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "priorsep/heads.h"
#include "priorsep/pixel_likelihood.h"
#include "test_util.h"

/* Random mixture parameters, every fourth set extreme: logits to +-20, means far outside
 * [-1, 1], log-scales from below the clamp (-10) to very broad (+6). */
static void random_params(float *p, int K, int extreme, ps_rng *rng)
{
    float lim_logit = extreme ? 20.0f : 2.0f, lim_mu = extreme ? 4.0f : 1.0f;
    for (int k = 0; k < K; k++) {
        p[k] = lim_logit * (2.0f * ps_rng_uniform(rng) - 1.0f);
        p[K + k] = lim_mu * (2.0f * ps_rng_uniform(rng) - 1.0f);
        p[2 * K + k] = extreme ? -10.0f + 16.0f * ps_rng_uniform(rng) : -4.0f + 3.0f * ps_rng_uniform(rng);
    }
}

START_TEST(dlogistic_bins_sum_to_one)
{
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    float p[3 * 5], lp[PS_DLOGISTIC_LEVELS];
    double worst = 0.0, worst_consistency = 0.0;
    for (int trial = 0; trial < 400; trial++) {
        int K = 1 + trial % 5;
        random_params(p, K, trial % 4 == 0, &rng);
        ps_dlogistic_log_probs(p, K, lp);
        double total = 0.0;
        for (int v = 0; v < PS_DLOGISTIC_LEVELS; v++) {
            ck_assert_msg(isfinite(lp[v]), "trial %d level %d: log p = %g", trial, v, lp[v]);
            total += exp(lp[v]);
            double nll = ps_dlogistic_nll_backward(p, K, v, 0.0f, NULL);
            worst_consistency = fmax(worst_consistency, fabs(exp(-nll) - exp(lp[v])));
        }
        worst = fmax(worst, fabs(total - 1.0));
    }
    /* 256 float terms, each with relative rounding ~1e-7; the two paths combine the
     * components in different orders, a few float ulps of probabilities up to 1 */
    ck_assert_msg(worst < 1e-5, "bin masses sum to 1 within %g", worst);
    ck_assert_msg(worst_consistency < 1e-5, "log_probs and nll differ by %g", worst_consistency);
}
END_TEST

/* Central differences with h = 1e-3 of float losses of O(1-10): rounding ~1e-6 / 2h =
 * 5e-4 absolute, curvature O(h^2); relative to a floor of 0.05, 2e-2 is far below the
 * error of a wrong term. Log-scales are kept 2h above the clamp. */
START_TEST(gradients_match_finite_differences)
{
    ps_rng rng;
    ps_rng_seed(&rng, 2);
    const float h = 1e-3f;
    double worst = 0.0;
    for (int trial = 0; trial < 200; trial++) {
        ps_pixel_likelihood l;
        float p[256], g[256] = {0};
        int kind = trial % 3;
        if (kind == 0) l = (ps_pixel_likelihood){.kind = PS_PIXEL_BERNOULLI, .levels = 2};
        else if (kind == 1) l = (ps_pixel_likelihood){.kind = PS_PIXEL_CATEGORICAL, .levels = 7};
        else l = (ps_pixel_likelihood){.kind = PS_PIXEL_DLOGISTIC, .levels = 256, .components = 3};
        int np = ps_pixel_param_count(&l);
        if (kind == 2) random_params(p, 3, 0, &rng);
        else fill_uniform(p, np, -3, 3, &rng);
        int level = (int)(ps_rng_u64(&rng) % (uint64_t)l.levels);
        if (kind == 2 && trial % 2) level = trial % 4 == 1 ? 0 : 255; /* the open edge bins */
        ps_pixel_nll_backward(&l, p, level, 1.0f, g);
        for (int i = 0; i < np; i++) {
            float keep = p[i];
            p[i] = keep + h;
            double up = ps_pixel_nll_backward(&l, p, level, 0.0f, NULL);
            p[i] = keep - h;
            double down = ps_pixel_nll_backward(&l, p, level, 0.0f, NULL);
            p[i] = keep;
            double fd = (up - down) / (2.0 * h);
            worst = fmax(worst, fabs(fd - g[i]) / fmax(fabs(fd) + fabs(g[i]), 0.05));
        }
    }
    ck_assert_msg(worst < 2e-2, "worst relative gradient error %g", worst);
}
END_TEST

/* 5 binomial standard deviations per level over 200,000 draws. */
START_TEST(samples_follow_the_probabilities)
{
    ps_rng rng;
    ps_rng_seed(&rng, 3);
    enum { DRAWS = 200000 };
    float p[6] = {0.3f, -0.5f, -0.4f, 0.3f, -2.5f, -3.0f}; /* K = 2, scales ~0.08, 0.05 */
    float lp[PS_DLOGISTIC_LEVELS];
    ps_dlogistic_log_probs(p, 2, lp);
    int *hits = calloc(PS_DLOGISTIC_LEVELS, sizeof(int));
    for (int i = 0; i < DRAWS; i++) hits[ps_dlogistic_sample(p, 2, &rng)]++;
    for (int v = 0; v < PS_DLOGISTIC_LEVELS; v++) {
        double q = exp(lp[v]), f = (double)hits[v] / DRAWS;
        ck_assert_msg(fabs(f - q) < 5 * sqrt(q * (1 - q) / DRAWS) + 1e-6, "level %d: %g vs %g", v, f, q);
    }
    free(hits);
    int ones = 0;
    for (int i = 0; i < DRAWS; i++) ones += ps_bernoulli_sample(0.7f, &rng);
    double q = 1.0 / (1.0 + exp(-0.7));
    ck_assert(fabs((double)ones / DRAWS - q) < 5 * sqrt(q * (1 - q) / DRAWS));
}
END_TEST

START_TEST(bernoulli_is_stable_and_normalized)
{
    float lp[2];
    ps_pixel_likelihood l = {.kind = PS_PIXEL_BERNOULLI, .levels = 2};
    float logits[] = {-200.0f, -20.0f, 0.0f, 3.0f, 200.0f};
    for (int i = 0; i < 5; i++) {
        ps_pixel_log_probs(&l, &logits[i], lp);
        ck_assert(isfinite(lp[0]) && isfinite(lp[1]));
        ck_assert_double_eq_tol(exp(lp[0]) + exp(lp[1]), 1.0, 1e-6);
    }
    ck_assert_float_eq_tol(ps_bernoulli_nll_backward(200.0f, 0, 0.0f, NULL), 200.0f, 1e-3f);
}
END_TEST

/* The array form is the scalar one per pixel: the same values summed (in double, so the
 * sum of n = 50 float terms of O(1-10) agrees within 1e-4) and the same gradients, added
 * to what d_logits held. */
START_TEST(bernoulli_sum_is_the_scalar_per_pixel)
{
    ps_rng rng;
    ps_rng_seed(&rng, 4);
    enum { N = 50 };
    float logits[N], d[N], want_d[N];
    uint8_t bits[N];
    fill_uniform(logits, N, -8, 8, &rng);
    double want = 0.0;
    for (int i = 0; i < N; i++) {
        bits[i] = (uint8_t)(ps_rng_u64(&rng) & 1);
        d[i] = want_d[i] = 0.25f * (float)i;
        want += ps_bernoulli_nll_backward(logits[i], bits[i], 0.5f, &want_d[i]);
    }
    ck_assert_double_eq_tol(ps_bernoulli_nll_sum(logits, bits, N, 0.0f, NULL), want, 1e-4);
    ck_assert_double_eq_tol(ps_bernoulli_nll_sum(logits, bits, N, 0.5f, d), want, 1e-4);
    for (int i = 0; i < N; i++) ck_assert_float_eq(d[i], want_d[i]);
}
END_TEST

/* The categorical log-probabilities: normalized and each the -nll of its level, for
 * logits up to +-30 (float terms of O(30): a few ulps, 1e-5). */
START_TEST(categorical_log_probs_match_the_loss)
{
    ps_rng rng;
    ps_rng_seed(&rng, 5);
    ps_pixel_likelihood l = {.kind = PS_PIXEL_CATEGORICAL, .levels = 256};
    float logits[256], lp[256];
    fill_uniform(logits, 256, -30, 30, &rng);
    ps_pixel_log_probs(&l, logits, lp);
    double total = 0.0;
    for (int v = 0; v < 256; v++) {
        total += exp(lp[v]);
        ck_assert_double_eq_tol(lp[v], -ps_pixel_nll_backward(&l, logits, v, 0.0f, NULL), 1e-5);
    }
    ck_assert_double_eq_tol(total, 1.0, 1e-5);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("pixel_likelihood");
    tcase_add_test(tc, dlogistic_bins_sum_to_one);
    tcase_add_test(tc, gradients_match_finite_differences);
    tcase_add_test(tc, samples_follow_the_probabilities);
    tcase_add_test(tc, bernoulli_is_stable_and_normalized);
    tcase_add_test(tc, bernoulli_sum_is_the_scalar_per_pixel);
    tcase_add_test(tc, categorical_log_probs_match_the_loss);
    suite_add_tcase(s, tc);
    return s;
}
