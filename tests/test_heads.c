/* mu-law companding and the two output heads' likelihoods and samplers. */
#include <check.h>
#include <math.h>

#include "priorsep/heads.h"
#include "priorsep/mulaw.h"
#include "test_util.h"

START_TEST(mulaw_bins_round_trip)
{
    for (int b = 0; b < PS_MULAW_BINS; b++) ck_assert_int_eq(ps_mulaw_encode(ps_mulaw_decode(b)), b);
    ck_assert_int_eq(ps_mulaw_encode(-1.0f), 0);
    ck_assert_int_eq(ps_mulaw_encode(1.0f), 255);
    ck_assert_int_eq(ps_mulaw_encode(5.0f), 255);   /* clamped */
    ck_assert_int_eq(ps_mulaw_encode(NAN), 0);      /* never out of range */
    ck_assert_float_eq(ps_mulaw_decode(255), 1.0f);
    ck_assert_float_eq(ps_mulaw_decode(0), -1.0f);
}
END_TEST

START_TEST(mulaw_follows_the_companding_law)
{
    /* y = sign(x) ln(1 + 255|x|) / ln 256 quantized to 256 levels over [-1, 1]: the
     * decoded value is within half a level (in y) of the input, everywhere. */
    double worst = 0;
    for (int i = -1000; i <= 1000; i++) {
        double x = i / 1000.0;
        double y_in = copysign(log1p(255 * fabs(x)) / log(256), x);
        double xd = ps_mulaw_decode(ps_mulaw_encode((float)x));
        double y_out = copysign(log1p(255 * fabs(xd)) / log(256), xd);
        worst = fmax(worst, fabs(y_in - y_out));
    }
    ck_assert_msg(worst <= 1.0 / 255 + 1e-6, "worst companded error %g", worst);
    /* small amplitudes get fine steps: near 0 the step is ~1/(255*255*0.5) */
    ck_assert(fabsf(ps_mulaw_decode(129) - ps_mulaw_decode(128)) < 1e-3f);
    ck_assert(fabsf(ps_mulaw_decode(255) - ps_mulaw_decode(254)) > 1e-2f);
}
END_TEST

START_TEST(categorical_is_normalized_and_samples_its_distribution)
{
    float logits[5] = {0.5f, -1.0f, 2.0f, 0.0f, -3.0f};
    double total = 0;
    for (int i = 0; i < 5; i++) total += exp(ps_categorical_logprob(logits, 5, i));
    ck_assert_double_eq_tol(total, 1.0, 1e-6);
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    enum { DRAWS = 200000 };
    int hits[5] = {0};
    for (int i = 0; i < DRAWS; i++) hits[ps_categorical_sample(logits, 5, &rng)]++;
    for (int i = 0; i < 5; i++) {
        double p = exp(ps_categorical_logprob(logits, 5, i));
        double sd = sqrt(p * (1 - p) / DRAWS);
        /* 5 standard deviations: a correct sampler fails this about once in 3 million */
        ck_assert_msg(fabs((double)hits[i] / DRAWS - p) < 5 * sd + 1e-9, "bin %d: %d hits, p=%g", i, hits[i], p);
    }
}
END_TEST

START_TEST(mol_density_integrates_to_one)
{
    /* [logit_pi | mu | log_s] for 3 components; integrate over a range wide enough that
     * the logistic tails beyond it are < 1e-7. */
    float p[9] = {0.2f, -0.5f, 1.0f, -0.3f, 0.1f, 0.6f, -3.0f, -2.0f, -4.0f};
    double sum = 0, h = 1e-4;
    for (double x = -3; x <= 3; x += h) sum += exp(ps_mol_logprob(p, 3, (float)x)) * h;
    ck_assert_double_eq_tol(sum, 1.0, 1e-4);
}
END_TEST

START_TEST(mol_matches_logistic_formula_and_clamps_scale)
{
    /* one component: log p = -u - log s - 2 log(1 + e^-u) */
    float p[3] = {0.0f, 0.25f, -1.5f};
    double s = exp(-1.5), u = (0.4 - 0.25) / s;
    double ref = -u - log(s) - 2 * log1p(exp(-u));
    ck_assert_double_eq_tol(ps_mol_logprob(p, 1, 0.4f), ref, 1e-5);
    /* a collapsed scale is clamped: the density stays finite at its centre */
    float q[3] = {0.0f, 0.0f, -100.0f};
    float at_centre = ps_mol_logprob(q, 1, 0.0f);
    ck_assert(isfinite(at_centre));
    ck_assert_double_eq_tol(at_centre, -PS_MOL_LOG_SCALE_MIN - 2 * log(2.0), 1e-4);
}
END_TEST

START_TEST(mol_samples_follow_the_mixture)
{
    /* two well-separated components with weights 0.25 / 0.75 */
    float p[6] = {0.0f, logf(3.0f), -0.5f, 0.5f, -4.0f, -4.0f};
    ps_rng rng;
    ps_rng_seed(&rng, 2);
    enum { DRAWS = 100000 };
    int upper = 0;
    double mean = 0;
    for (int i = 0; i < DRAWS; i++) {
        float x = ps_mol_sample(p, 2, &rng);
        ck_assert(x >= -1.0f && x <= 1.0f);
        upper += x > 0;
        mean += x;
    }
    double sd = sqrt(0.75 * 0.25 / DRAWS);
    ck_assert_msg(fabs((double)upper / DRAWS - 0.75) < 5 * sd, "%d of %d above 0", upper, DRAWS);
    ck_assert_double_eq_tol(mean / DRAWS, 0.25, 0.01); /* 0.25*-0.5 + 0.75*0.5 */
}
END_TEST

/* The separator's refinement wants the score only: with d_params NULL the value and
 * d_x are those of the full call. */
START_TEST(mol_backward_score_alone)
{
    float p[6] = {0.3f, -0.2f, -0.4f, 0.35f, -2.0f, -3.0f}, d[6] = {0};
    float dx_full = 0.0f, dx_alone = 0.0f;
    float full = ps_mol_nll_backward(p, 2, 0.1f, 1.0f, d, &dx_full);
    float alone = ps_mol_nll_backward(p, 2, 0.1f, 1.0f, NULL, &dx_alone);
    ck_assert_float_eq(alone, full);
    ck_assert_float_eq(dx_alone, dx_full);
    ck_assert(dx_full != 0.0f);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("heads");
    TCase *tc = tcase_create("heads");
    tcase_add_test(tc, mulaw_bins_round_trip);
    tcase_add_test(tc, mulaw_follows_the_companding_law);
    tcase_add_test(tc, categorical_is_normalized_and_samples_its_distribution);
    tcase_add_test(tc, mol_density_integrates_to_one);
    tcase_add_test(tc, mol_matches_logistic_formula_and_clamps_scale);
    tcase_add_test(tc, mol_samples_follow_the_mixture);
    tcase_add_test(tc, mol_backward_score_alone);
    suite_add_tcase(s, tc);
    return s;
}
