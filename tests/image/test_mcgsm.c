/* The factorized MCGSM, with Gaussian, binned Gaussian and Bernoulli experts:
 * log-likelihood against its definition in double precision, normalization (the Gaussian
 * conditional density integrates to 1 over x; the binned and Bernoulli ones sum to 1 over
 * the levels), backward against central differences in every parameter and every state
 * value, and sampling frequencies. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/mcgsm.h"
#include "test_util.h"

enum { N = 5, C = 3, S = 2, F = 4, R = 6, LEVELS = 256, MAXP = 2 * C * S + C * F + N * F + N * C + C * S };

typedef struct fixture {
    mcgsm_dims d;
    float block[MAXP];
    mcgsm_params p;
    float h[R * N], x[R];
    double scratch[R * (F + C + 4 * C * S)]; /* more than mcgsm_scratch_bytes asks */
    mcgsm_state st;
} fixture;

static void make(fixture *f, mcgsm_expert expert, uint64_t seed)
{
    ps_gemm_init();
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    f->d = (mcgsm_dims){.hidden = N, .components = C, .scales = S, .features = F,
                        .expert = expert, .levels = LEVELS};
    ck_assert_uint_le(mcgsm_param_count(&f->d), MAXP);
    ck_assert_uint_le(mcgsm_scratch_bytes(&f->d, R), sizeof f->scratch);
    fill_uniform(f->block, mcgsm_param_count(&f->d), -1, 1, &rng);
    mcgsm_bind(&f->d, f->block, &f->p);
    fill_uniform(f->h, R * N, -1, 1, &rng);
    for (int r = 0; r < R; r++)
        f->x[r] = expert == MCGSM_BERNOULLI ? (float)(ps_rng_u64(&rng) & 1)
                  : expert == MCGSM_BINNED  ? (float)(ps_rng_u64(&rng) % LEVELS)
                                            : 4.0f * ps_rng_uniform(&rng) - 2.0f;
    mcgsm_state_bind(&f->d, R, f->scratch, &f->st);
    mcgsm_gates_forward(&f->d, &f->p, f->h, R, &f->st);
}

/* The state of row r alone (the per-row arrays start at row r). */
static mcgsm_state row_state(const fixture *f, int r)
{
    int at = r * C * S;
    return (mcgsm_state){.proj = f->st.proj + r * F, .mean = f->st.mean + r * C,
                         .log_gate = f->st.log_gate + at, .post = f->st.post + at,
                         .d_mean = f->st.d_mean + at, .d_alpha = f->st.d_alpha + at};
}

static double normal_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

static double definition(const fixture *f, int r, double x)
{
    const mcgsm_params *p = &f->p;
    const float *h = f->h + r * N;
    double u[C * S], top = -INFINITY, z = 0.0, like = 0.0;
    for (int c = 0; c < C; c++) {
        double q = 0.0;
        for (int k = 0; k < F; k++) {
            double bh = 0.0;
            for (int n = 0; n < N; n++) bh += (double)p->features[n * F + k] * h[n];
            q += (double)p->beta[c * F + k] * p->beta[c * F + k] * bh * bh;
        }
        for (int s = 0; s < S; s++) {
            u[c * S + s] = p->eta[c * S + s] - 0.5 * exp(p->alpha[c * S + s]) * q;
            top = fmax(top, u[c * S + s]);
        }
    }
    for (int k = 0; k < C * S; k++) z += exp(u[k] - top);
    for (int c = 0; c < C; c++) {
        double mean = 0.0;
        for (int n = 0; n < N; n++) mean += (double)p->weights[n * C + c] * h[n];
        for (int s = 0; s < S; s++) {
            int k = c * S + s;
            double expert;
            if (f->d.expert == MCGSM_BERNOULLI) {
                double p1 = 1.0 / (1.0 + exp(-(mean + p->bias[k])));
                expert = x > 0.5 ? p1 : 1.0 - p1;
            } else if (f->d.expert == MCGSM_BINNED) {
                double sigma = exp(-0.5 * p->alpha[k]), v = x;
                double lo = v == 0 ? -INFINITY : 2.0 * v / LEVELS - 1.0;
                double hi = v == LEVELS - 1 ? INFINITY : 2.0 * (v + 1) / LEVELS - 1.0;
                expert = normal_cdf((hi - mean) / sigma) - normal_cdf((lo - mean) / sigma);
            } else {
                double prec = exp(p->alpha[k]);
                expert = sqrt(prec / (2.0 * 3.14159265358979324)) * exp(-0.5 * prec * (x - mean) * (x - mean));
            }
            like += exp(u[k] - top) / z * expert;
        }
    }
    return log(like);
}

static const mcgsm_expert experts[3] = {MCGSM_GAUSSIAN, MCGSM_BINNED, MCGSM_BERNOULLI};

START_TEST(loglik_matches_definition)
{
    for (int e = 0; e < 3; e++) {
        fixture f;
        make(&f, experts[e], 1 + e);
        double logp[R];
        mcgsm_loglik_forward(&f.d, &f.p, &f.st, f.x, R, logp);
        /* proj and mean are float: ~1e-7 relative on O(1) values, so 1e-5 absolute on
         * log p leaves a factor 100 (the binned masses are ~1e-2, the same relative). */
        for (int r = 0; r < R; r++)
            ck_assert_msg(fabs(logp[r] - definition(&f, r, f.x[r])) < 1e-5,
                          "expert %d row %d: %g vs %g", e, r, logp[r], definition(&f, r, f.x[r]));
    }
}
END_TEST

START_TEST(conditional_is_normalized)
{
    fixture g, b, l;
    make(&g, MCGSM_GAUSSIAN, 3);
    make(&b, MCGSM_BERNOULLI, 4);
    make(&l, MCGSM_BINNED, 5);
    for (int r = 0; r < R; r++) {
        mcgsm_state st = row_state(&g, r);
        /* |mean| <= sum |a_c| |h| < 5 and sigma = e^{-alpha/2} < e^{1/2}, so [-40, 40] holds
         * every expert to beyond 20 sigma. The trapezoid rule with a step of 1/100 of the
         * smallest sigma (> e^{-1/2}) is exact to far below float rounding for Gaussians. */
        const double lo = -40.0, hi = 40.0, step = 0.006;
        double total = 0.0;
        for (double x = lo; x <= hi; x += step) {
            float xf = (float)x;
            double lp;
            mcgsm_loglik_forward(&g.d, &g.p, &st, &xf, 1, &lp);
            total += exp(lp) * step;
        }
        /* Double arithmetic after the float products: 1e-9 is ~1e7 double roundings. */
        ck_assert_msg(fabs(total - 1.0) < 1e-9, "gaussian row %d: integral %.9f", r, total);
        st = row_state(&b, r);
        float zero = 0.0f, one = 1.0f;
        double l0, l1;
        mcgsm_loglik_forward(&b.d, &b.p, &st, &zero, 1, &l0);
        mcgsm_loglik_forward(&b.d, &b.p, &st, &one, 1, &l1);
        ck_assert_msg(fabs(exp(l0) + exp(l1) - 1.0) < 1e-12, "bernoulli row %d: %.9f", r,
                      exp(l0) + exp(l1));
        st = row_state(&l, r);
        double sum = 0.0;
        for (int v = 0; v < LEVELS; v++) {
            float xv = (float)v;
            double lv;
            mcgsm_loglik_forward(&l.d, &l.p, &st, &xv, 1, &lv);
            sum += exp(lv);
        }
        /* Differences of erfc over 256 bins: each mass is exact to ~1e-16 absolute. */
        ck_assert_msg(fabs(sum - 1.0) < 1e-12, "binned row %d: %.15f", r, sum);
    }
}
END_TEST

/* J = Σ_r w_r log p(x_r | h_r). */
static double objective(fixture *f, const float *w)
{
    double logp[R], J = 0.0;
    mcgsm_gates_forward(&f->d, &f->p, f->h, R, &f->st);
    mcgsm_loglik_forward(&f->d, &f->p, &f->st, f->x, R, logp);
    for (int r = 0; r < R; r++) J += w[r] * logp[r];
    return J;
}

/* Largest |fd - analytic| / max(1, |fd|) over every parameter and every state value of J
 * (central differences with the given step). */
static double worst_gradient_error(fixture *f, float step)
{
    ps_rng rng;
    ps_rng_seed(&rng, 7);
    float w[R];
    fill_uniform(w, R, -1, 1, &rng);
    size_t P = mcgsm_param_count(&f->d);
    static float gblock[MAXP], d_h[R * N], d_proj[R * F], d_mean[R * C];
    mcgsm_params g;
    mcgsm_bind(&f->d, gblock, &g);
    /* Backward adds: start from ones to check it does not overwrite. */
    for (size_t i = 0; i < P; i++) gblock[i] = 1.0f;
    for (int i = 0; i < R * N; i++) d_h[i] = 1.0f;
    objective(f, w);
    mcgsm_loglik_backward(&f->d, &f->p, &f->st, f->h, R, w, &g, d_h, d_proj, d_mean);
    float *vars[] = {f->block, f->h};
    const float *grads[] = {gblock, d_h};
    int sizes[] = {(int)P, R * N};
    double worst = 0.0;
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < sizes[v]; i++) {
            float keep = vars[v][i];
            vars[v][i] = keep + step;
            double up = objective(f, w);
            vars[v][i] = keep - step;
            double down = objective(f, w);
            vars[v][i] = keep;
            double fd = (up - down) / (2.0 * step), an = grads[v][i] - 1.0;
            worst = fmax(worst, fabs(fd - an) / fmax(1.0, fabs(fd)));
        }
    return worst;
}

START_TEST(backward_matches_finite_differences)
{
    for (int e = 0; e < 3; e++) {
        static fixture f;
        make(&f, experts[e], 5 + e);
        /* step 1e-3: J is a sum of R double log-likelihoods of float intermediates
         * (~1e-7 relative, |J| < 20), so rounding is < 1e-3 after dividing by 2e-3, and
         * truncation O(step^2) is ~1e-6; the gradients are O(1), so 5e-3 absolute
         * (relative above 1) fails any wrong term. */
        double worst = worst_gradient_error(&f, 1e-3f);
        ck_assert_msg(worst < 5e-3, "expert %d: worst gradient error %g", e, worst);
    }
}
END_TEST

START_TEST(binned_far_tail_stays_finite)
{
    /* sigma = e^-4 or e^-4.5, every mean +2 (rows 0-2) or -2 (rows 3-5), targets in the
     * open-ended bin on the far side (levels 0 and 255) or in the middle (128): each
     * bin ~100 sigma from every mean, so the masses underflow and the asymptotes (both
     * kinds) carry the likelihood and its gradient. */
    static fixture f;
    make(&f, MCGSM_BINNED, 11);
    for (int k = 0; k < C * S; k++) f.p.alpha[k] = 8.0f + k % S;
    for (int n = 0; n < N * C; n++) f.p.weights[n] = 1.0f;
    for (int r = 0; r < R; r++) {
        for (int n = 0; n < N; n++) f.h[r * N + n] = (r < 3 ? 0.4f : -0.4f) + 0.01f * n;
        f.x[r] = r % 3 == 1 ? 128.0f : r < 3 ? 0.0f : LEVELS - 1.0f;
    }
    double logp[R];
    mcgsm_gates_forward(&f.d, &f.p, f.h, R, &f.st);
    mcgsm_loglik_forward(&f.d, &f.p, &f.st, f.x, R, logp);
    for (int r = 0; r < R; r++)
        ck_assert_msg(isfinite(logp[r]) && logp[r] < log(1e-200), "row %d: log p %g", r, logp[r]);
    /* |J| ~ 1e4: float rounding of the means (~1e-7 relative) moves J by ~1e-3 against
     * gradients ~1e3..1e4; step 1e-4 keeps each perturbation of an expert's energy well
     * below the gaps between experts (the posterior stays where it is). */
    double worst = worst_gradient_error(&f, 1e-4f);
    ck_assert_msg(worst < 1e-2, "worst gradient error %g", worst);
}
END_TEST

START_TEST(samples_follow_the_conditional)
{
    fixture g, b, l;
    make(&g, MCGSM_GAUSSIAN, 8);
    make(&b, MCGSM_BERNOULLI, 9);
    make(&l, MCGSM_BINNED, 10);
    enum { DRAWS = 50000 };
    ps_rng rng;
    ps_rng_seed(&rng, 10);
    static float xg[R], xb[R], xl[R];
    static int below[R][3], below_level[R][3], ones[R];
    const int cut_level[3] = {64, 128, 192};
    const float cut[3] = {-1.0f, 0.0f, 1.0f};
    for (int t = 0; t < DRAWS; t++) {
        mcgsm_sample(&g.d, &g.p, &g.st, R, &rng, xg);
        mcgsm_sample(&b.d, &b.p, &b.st, R, &rng, xb);
        mcgsm_sample(&l.d, &l.p, &l.st, R, &rng, xl);
        for (int r = 0; r < R; r++) {
            ck_assert(xl[r] >= 0.0f && xl[r] < LEVELS && xl[r] == floorf(xl[r]));
            for (int k = 0; k < 3; k++) below_level[r][k] += xl[r] < cut_level[k];
            for (int k = 0; k < 3; k++) below[r][k] += xg[r] < cut[k];
            ck_assert(xb[r] == 0.0f || xb[r] == 1.0f);
            ones[r] += xb[r] == 1.0f;
        }
    }
    for (int r = 0; r < R; r++) {
        /* P(x < t) of the Gaussian mixture from its gates and experts. */
        for (int k = 0; k < 3; k++) {
            double cdf = 0.0;
            for (int c = 0; c < C; c++)
                for (int s = 0; s < S; s++) {
                    double sigma = exp(-0.5 * g.p.alpha[c * S + s]);
                    double z = (cut[k] - g.st.mean[r * C + c]) / sigma;
                    cdf += exp(g.st.log_gate[(r * C + c) * S + s]) * normal_cdf(z);
                }
            /* 5 binomial standard errors: a false alarm in ~1 of 10^6 checks. */
            double se = sqrt(cdf * (1.0 - cdf) / DRAWS);
            ck_assert_msg(fabs((double)below[r][k] / DRAWS - cdf) < 5.0 * se + 1e-9,
                          "gaussian row %d: P(x < %g) %g vs %g", r, cut[k],
                          (double)below[r][k] / DRAWS, cdf);
        }
        /* Binned: P(v < t) from the level probabilities. */
        mcgsm_state st = row_state(&l, r);
        for (int k = 0; k < 3; k++) {
            double cdf = 0.0;
            for (int v = 0; v < cut_level[k]; v++) {
                float xv = (float)v;
                double lv;
                mcgsm_loglik_forward(&l.d, &l.p, &st, &xv, 1, &lv);
                cdf += exp(lv);
            }
            double se = sqrt(cdf * (1.0 - cdf) / DRAWS);
            ck_assert_msg(fabs((double)below_level[r][k] / DRAWS - cdf) < 5.0 * se + 1e-9,
                          "binned row %d: P(v < %d) %g vs %g", r, cut_level[k],
                          (double)below_level[r][k] / DRAWS, cdf);
        }
        st = row_state(&b, r);
        float one = 1.0f;
        double l1;
        mcgsm_loglik_forward(&b.d, &b.p, &st, &one, 1, &l1);
        double p1 = exp(l1), se = sqrt(p1 * (1.0 - p1) / DRAWS);
        ck_assert_msg(fabs((double)ones[r] / DRAWS - p1) < 5.0 * se, "bernoulli row %d: %g vs %g",
                      r, (double)ones[r] / DRAWS, p1);
    }
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("mcgsm");
    TCase *tc = tcase_create("mcgsm");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, loglik_matches_definition);
    tcase_add_test(tc, conditional_is_normalized);
    tcase_add_test(tc, backward_matches_finite_differences);
    tcase_add_test(tc, binned_far_tail_stays_finite);
    tcase_add_test(tc, samples_follow_the_conditional);
    suite_add_tcase(s, tc);
    return s;
}
