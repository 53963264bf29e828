/* The diagonal Gaussian latent: each backward against central differences of its
 * forward, the KL against a closed-form case and a Monte-Carlo estimate built from the
 * sampler and the log-density, the precision-weighted combination against its
 * definition. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "layer_fd.h"
#include "priorsep/gaussian_latent.h"
#include "test_util.h"

enum { N = 7 };

/* Central difference of f at v[i]. h = 1e-3 on O(1) values: truncation O(h^2) ~ 1e-6;
 * the float inputs of the double sums put ~1e-7 relative noise on f, ~1e-4 after the
 * division by 2h for |f| ~ 1. The tests allow 1e-3 absolute. */
#define FD_STEP 1e-3f
#define FD_TOL 1e-3

static void expect_gradient(layer_objective f, void *ctx, float *v, const float *g, int n,
                            const char *what)
{
    for (int i = 0; i < n; i++) {
        double fd = layer_fd_central(f, ctx, v, i, FD_STEP);
        ck_assert_msg(fabs(fd - g[i]) < FD_TOL, "%s[%d]: fd %g analytic %g", what, i, fd, g[i]);
    }
}

/* Random inputs shared by the tests: log-scales in [-1, 1], means in [-2, 2]. */
typedef struct inputs {
    float mu[N], log_s[N], mu_p[N], log_s_p[N], x[N], w[N], w2[N];
    int prior; /* 0: the standard normal (NULL mu_p, log_s_p) */
} inputs;

static void fill(inputs *in, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    fill_uniform(in->mu, N, -2, 2, &rng);
    fill_uniform(in->log_s, N, -1, 1, &rng);
    fill_uniform(in->mu_p, N, -2, 2, &rng);
    fill_uniform(in->log_s_p, N, -1, 1, &rng);
    fill_uniform(in->x, N, -2, 2, &rng);
    fill_uniform(in->w, N, -1, 1, &rng);
    fill_uniform(in->w2, N, -1, 1, &rng);
    in->prior = 1;
}

/* J = Σ w z at the eps of seed 5. */
static double sample_objective(void *ctx)
{
    inputs *in = ctx;
    float z[N], eps[N];
    ps_rng rng;
    ps_rng_seed(&rng, 5);
    gaussian_sample_forward(z, eps, in->mu, in->log_s, N, &rng);
    double J = 0.0;
    for (int i = 0; i < N; i++) J += (double)in->w[i] * z[i];
    return J;
}

START_TEST(sample_backward_matches_finite_differences)
{
    inputs in;
    fill(&in, 1);
    float z[N], eps[N], d_mu[N] = {0}, d_log_s[N] = {0};
    ps_rng rng;
    ps_rng_seed(&rng, 5);
    gaussian_sample_forward(z, eps, in.mu, in.log_s, N, &rng);
    for (int i = 0; i < N; i++) ck_assert_float_eq_tol(z[i], in.mu[i] + expf(in.log_s[i]) * eps[i], 1e-6f);
    gaussian_sample_backward(d_mu, d_log_s, in.w, eps, in.log_s, N);
    expect_gradient(sample_objective, &in, in.mu, d_mu, N, "d_mu");
    expect_gradient(sample_objective, &in, in.log_s, d_log_s, N, "d_log_s");
}
END_TEST

static double kl_objective(void *ctx)
{
    inputs *in = ctx;
    return gaussian_kl_forward(in->mu, in->log_s, in->prior ? in->mu_p : NULL,
                               in->prior ? in->log_s_p : NULL, N);
}

START_TEST(kl_backward_matches_finite_differences)
{
    for (int prior = 0; prior < 2; prior++) {
        inputs in;
        fill(&in, 2);
        in.prior = prior;
        float g[4][N];
        memset(g, 0, sizeof g);
        /* scale 1: the objective is the KL itself */
        gaussian_kl_backward(g[0], g[1], prior ? g[2] : NULL, prior ? g[3] : NULL, 1.0f, in.mu,
                             in.log_s, prior ? in.mu_p : NULL, prior ? in.log_s_p : NULL, N);
        expect_gradient(kl_objective, &in, in.mu, g[0], N, "d_mu");
        expect_gradient(kl_objective, &in, in.log_s, g[1], N, "d_log_s");
        if (prior) {
            expect_gradient(kl_objective, &in, in.mu_p, g[2], N, "d_mu_p");
            expect_gradient(kl_objective, &in, in.log_s_p, g[3], N, "d_log_s_p");
        }
    }
}
END_TEST

START_TEST(kl_matches_closed_form_and_monte_carlo)
{
    /* KL(N(0, 1) || N(0, 2^2)) = log 2 + 1/8 - 1/2; KL of a Gaussian with itself is 0;
     * against the standard normal, KL(N(1, 1)) = 1/2. */
    float zero = 0.0f, log2f_ = logf(2.0f), one = 1.0f;
    ck_assert_double_eq_tol(gaussian_kl_forward(&zero, &zero, &zero, &log2f_, 1),
                            log(2.0) + 0.125 - 0.5, 1e-7);
    ck_assert_double_eq_tol(gaussian_kl_forward(&one, &log2f_, &one, &log2f_, 1), 0.0, 1e-7);
    ck_assert_double_eq_tol(gaussian_kl_forward(&one, &zero, NULL, NULL, 1), 0.5, 1e-7);
    /* Monte Carlo: KL = E_q[log q(z) - log p(z)], z from the sampler. Per dimension the
     * summand has variance O(1) here (scales within e^±1, means within ±2): summed over
     * N = 7 dimensions at most ~ (a few)^2; with 200,000 samples the standard error is
     * below 0.02, so 0.1 is five standard errors. */
    inputs in;
    fill(&in, 3);
    double exact = gaussian_kl_forward(in.mu, in.log_s, in.mu_p, in.log_s_p, N), sum = 0.0,
           sum2 = 0.0;
    enum { S = 200000 };
    ps_rng rng;
    ps_rng_seed(&rng, 4);
    for (int s = 0; s < S; s++) {
        float z[N], eps[N];
        gaussian_sample_forward(z, eps, in.mu, in.log_s, N, &rng);
        double d = gaussian_logpdf_forward(z, in.mu, in.log_s, N) -
                   gaussian_logpdf_forward(z, in.mu_p, in.log_s_p, N);
        sum += d;
        sum2 += d * d;
    }
    double mean = sum / S, se = sqrt((sum2 / S - mean * mean) / S);
    ck_assert_msg(se < 0.02, "standard error %g", se);
    ck_assert_msg(fabs(mean - exact) < 0.1, "monte carlo %g (se %g), analytic %g", mean, se, exact);
}
END_TEST

static double logpdf_objective(void *ctx)
{
    inputs *in = ctx;
    return gaussian_logpdf_forward(in->x, in->prior ? in->mu : NULL, in->prior ? in->log_s : NULL, N);
}

START_TEST(logpdf_matches_definition_and_finite_differences)
{
    for (int general = 0; general < 2; general++) {
        inputs in;
        fill(&in, 6);
        in.prior = general;
        double ref = 0.0;
        for (int i = 0; i < N; i++) {
            double s = general ? exp(in.log_s[i]) : 1.0, m = general ? in.mu[i] : 0.0;
            ref += log(exp(-0.5 * (in.x[i] - m) * (in.x[i] - m) / (s * s)) / (s * sqrt(2.0 * acos(-1.0))));
        }
        ck_assert_double_eq_tol(logpdf_objective(&in), ref, 1e-5);
        float g[3][N];
        memset(g, 0, sizeof g);
        gaussian_logpdf_backward(g[0], general ? g[1] : NULL, general ? g[2] : NULL, 1.0f, in.x,
                                 general ? in.mu : NULL, general ? in.log_s : NULL, N);
        expect_gradient(logpdf_objective, &in, in.x, g[0], N, "d_x");
        if (general) {
            expect_gradient(logpdf_objective, &in, in.mu, g[1], N, "d_mu");
            expect_gradient(logpdf_objective, &in, in.log_s, g[2], N, "d_log_s");
        }
    }
}
END_TEST

/* J = Σ w mu + w2 log_s of the combination of (mu, log_s) with (mu_p, log_s_p). */
static double combine_objective(void *ctx)
{
    inputs *in = ctx;
    float mu[N], log_s[N];
    gaussian_combine_forward(mu, log_s, in->mu, in->log_s, in->mu_p, in->log_s_p, N);
    double J = 0.0;
    for (int i = 0; i < N; i++) J += (double)in->w[i] * mu[i] + (double)in->w2[i] * log_s[i];
    return J;
}

START_TEST(combine_matches_precision_weighting)
{
    inputs in;
    fill(&in, 7);
    in.log_s[0] = -30.0f; /* precisions e^60 and e^-2: no overflow, the sharp one wins */
    float mu[N], log_s[N];
    gaussian_combine_forward(mu, log_s, in.mu, in.log_s, in.mu_p, in.log_s_p, N);
    for (int i = 0; i < N; i++) {
        double pa = exp(-2.0 * in.log_s[i]), pb = exp(-2.0 * in.log_s_p[i]);
        double m = (in.mu[i] * pa + in.mu_p[i] * pb) / (pa + pb), ls = -0.5 * log(pa + pb);
        /* float evaluation of O(1) quantities: a few ulps */
        ck_assert_double_eq_tol(mu[i], m, 1e-5);
        ck_assert_double_eq_tol(log_s[i], ls, 1e-5 * fmax(1.0, fabs(ls)));
    }
    fill(&in, 8);
    float g[4][N], d_mu[N], d_log_s[N];
    memset(g, 0, sizeof g);
    memcpy(d_mu, in.w, sizeof d_mu);
    memcpy(d_log_s, in.w2, sizeof d_log_s);
    gaussian_combine_backward(g[0], g[1], g[2], g[3], d_mu, d_log_s, in.mu, in.log_s, in.mu_p,
                              in.log_s_p, N);
    expect_gradient(combine_objective, &in, in.mu, g[0], N, "d_mu_a");
    expect_gradient(combine_objective, &in, in.log_s, g[1], N, "d_log_s_a");
    expect_gradient(combine_objective, &in, in.mu_p, g[2], N, "d_mu_b");
    expect_gradient(combine_objective, &in, in.log_s_p, g[3], N, "d_log_s_b");
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("gaussian_latent");
    TCase *tc = tcase_create("gaussian_latent");
    tcase_add_test(tc, sample_backward_matches_finite_differences);
    tcase_add_test(tc, kl_backward_matches_finite_differences);
    tcase_add_test(tc, kl_matches_closed_form_and_monte_carlo);
    tcase_add_test(tc, logpdf_matches_definition_and_finite_differences);
    tcase_add_test(tc, combine_matches_precision_weighting);
    suite_add_tcase(s, tc);
    return s;
}
