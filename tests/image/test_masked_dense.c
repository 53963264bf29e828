/* The masked dense layer against its definition (forward) and finite differences
 * (backward). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/masked_dense.h"
#include "test_util.h"

enum { T = 7, CIN = 9, COUT = 11 };

typedef struct layer {
    float in[T * CIN], w[CIN * COUT], mask[CIN * COUT], wm[CIN * COUT], bias[COUT];
    float g[T * COUT]; /* the test loss sum(g * out) */
} layer;

static void make_layer(layer *a, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    ps_gemm_init();
    fill_uniform(a->in, T * CIN, -1, 1, &rng);
    fill_uniform(a->w, CIN * COUT, -1, 1, &rng);
    fill_uniform(a->bias, COUT, -1, 1, &rng);
    fill_uniform(a->g, T * COUT, -1, 1, &rng);
    for (int i = 0; i < CIN * COUT; i++) a->mask[i] = ps_rng_uniform(&rng) < 0.5f;
}

/* sum(g * out) in double, out from the layer under test. */
static double loss(layer *a)
{
    float out[T * COUT];
    masked_dense_weights(a->wm, a->w, a->mask, CIN, COUT);
    masked_dense_forward(out, a->in, T, CIN, COUT, a->wm, a->bias, 0);
    double sum = 0.0;
    for (int i = 0; i < T * COUT; i++) sum += (double)a->g[i] * out[i];
    return sum;
}

START_TEST(forward_matches_definition)
{
    layer a;
    make_layer(&a, 1);
    float out[T * COUT], ref[T * COUT];
    ps_rng rng;
    ps_rng_seed(&rng, 9);
    masked_dense_weights(a.wm, a.w, a.mask, CIN, COUT);
    for (int accumulate = 0; accumulate < 2; accumulate++) {
        fill_uniform(out, T * COUT, -1, 1, &rng);
        for (int t = 0; t < T; t++)
            for (int o = 0; o < COUT; o++) {
                double acc = a.bias[o] + (accumulate ? out[t * COUT + o] : 0.0);
                for (int i = 0; i < CIN; i++)
                    if (a.mask[i * COUT + o] != 0.0f) acc += (double)a.in[t * CIN + i] * a.w[i * COUT + o];
                ref[t * COUT + o] = (float)acc;
            }
        masked_dense_forward(out, a.in, T, CIN, COUT, a.wm, a.bias, accumulate);
        /* Float sums of 9 products of values in [-1, 1]: 1e-5 is 100x their rounding. */
        double e = rel_error(out, ref, T * COUT);
        ck_assert_msg(e < 1e-5, "accumulate %d: relative error %g", accumulate, e);
    }
}
END_TEST

/* Central differences of sum(g * out) with step h. The layer is linear in each of in,
 * w and bias, so the difference has no truncation error; what is left is float rounding
 * of out (~1e-7 of |out| ~ 3) divided by 2h = 2e-2: ~1e-5 absolute against gradients of
 * order 1, so 1e-3 relative is a wide margin that a wrong index still fails. */
static double fd(layer *a, float *p, double h)
{
    float keep = *p;
    *p = keep + (float)h;
    double up = loss(a);
    *p = keep - (float)h;
    double down = loss(a);
    *p = keep;
    return (up - down) / (2.0 * h);
}

START_TEST(backward_matches_finite_differences)
{
    layer a;
    make_layer(&a, 2);
    const float pre = 0.25f; /* backward adds: start every buffer away from zero */
    float d_in[T * CIN], d_w[CIN * COUT], d_b[COUT], scratch[CIN * COUT];
    for (int i = 0; i < T * CIN; i++) d_in[i] = pre;
    for (int i = 0; i < CIN * COUT; i++) d_w[i] = pre;
    for (int i = 0; i < COUT; i++) d_b[i] = pre;
    masked_dense_weights(a.wm, a.w, a.mask, CIN, COUT);
    masked_dense_backward(d_in, d_w, d_b, scratch, a.g, a.in, T, CIN, COUT, a.wm, a.mask);
    const double h = 1e-2, tol = 1e-3;
    double worst = 0.0;
    for (int i = 0; i < T * CIN; i++)
        worst = fmax(worst, fabs(d_in[i] - pre - fd(&a, &a.in[i], h)) / fmax(fabs(d_in[i] - pre), 1.0));
    for (int i = 0; i < COUT; i++)
        worst = fmax(worst, fabs(d_b[i] - pre - fd(&a, &a.bias[i], h)) / fmax(fabs(d_b[i] - pre), 1.0));
    int masked = 0;
    for (int i = 0; i < CIN * COUT; i++) {
        double g = d_w[i] - pre;
        if (a.mask[i] == 0.0f) { /* no gradient at all, not merely a small one */
            ck_assert_msg(d_w[i] == pre, "masked weight %d got gradient %g", i, g);
            masked++;
        }
        worst = fmax(worst, fabs(g - fd(&a, &a.w[i], h)) / fmax(fabs(g), 1.0));
    }
    ck_assert_int_gt(masked, 0);
    ck_assert_msg(worst < tol, "largest relative error %g", worst);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("masked_dense");
    tcase_add_test(tc, forward_matches_definition);
    tcase_add_test(tc, backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
