/* Masked 2-D convolution: the masks, the forward pass against its definition evaluated
 * in double, and the backward pass against finite differences. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/masked_conv2d.h"
#include "test_util.h"

START_TEST(masks_keep_the_causal_taps)
{
    for (int k = 1; k <= 7; k += 2)
        for (int centre = 0; centre <= 1; centre++) {
            ps_conv_taps t = ps_conv_taps_masked(k, centre);
            int r = k / 2;
            ck_assert_int_eq(t.count, r * k + r + centre);
            for (int i = 0; i < t.count; i++) {
                ck_assert(t.dy[i] < 0 || (t.dy[i] == 0 && t.dx[i] <= 0));
                ck_assert(centre || t.dy[i] != 0 || t.dx[i] != 0);
                ck_assert(abs(t.dy[i]) <= r && abs(t.dx[i]) <= r);
            }
        }
    ps_conv_taps t = ps_conv_taps_rect(-1, -1, 0, 0);
    ck_assert(t.count == 1 && t.dy[0] == -1 && t.dx[0] == 0 && t.reach == 1);
}
END_TEST

typedef struct conv_case {
    int n, H, W, cin, cout;
    ps_conv_taps taps;
} conv_case;

static conv_case cases(int i)
{
    switch (i) {
    case 0: return (conv_case){2, 5, 4, 2, 3, ps_conv_taps_masked(3, 0)};
    case 1: return (conv_case){3, 4, 6, 3, 2, ps_conv_taps_masked(5, 1)};
    case 2: return (conv_case){1, 7, 7, 1, 4, ps_conv_taps_masked(7, 0)};
    case 3: return (conv_case){2, 3, 5, 2, 2, ps_conv_taps_rect(-2, 0, -2, 2)};
    default: return (conv_case){2, 4, 3, 3, 3, ps_conv_taps_rect(-1, -1, 0, 0)};
    }
}
enum { CASES = 5 };

static double reference(const conv_case *c, const float *in, const float *w, const float *bias,
                        int b, int y, int x, int o)
{
    double acc = bias[o];
    for (int t = 0; t < c->taps.count; t++) {
        int yy = y + c->taps.dy[t], xx = x + c->taps.dx[t];
        if (yy < 0 || yy >= c->H || xx < 0 || xx >= c->W) continue;
        for (int i = 0; i < c->cin; i++)
            acc += (double)in[(((size_t)b * c->H + yy) * c->W + xx) * c->cin + i] *
                   w[((size_t)t * c->cin + i) * c->cout + o];
    }
    return acc;
}

START_TEST(forward_matches_definition)
{
    ps_gemm_init();
    conv_case c = cases(_i);
    ps_rng rng;
    ps_rng_seed(&rng, 1 + _i);
    size_t P = (size_t)c.n * c.H * c.W, nw = (size_t)c.taps.count * c.cin * c.cout;
    float *in = malloc(P * c.cin * sizeof(float)), *w = malloc(nw * sizeof(float));
    float *bias = malloc(c.cout * sizeof(float)), *out = malloc(P * c.cout * sizeof(float));
    float *ref = malloc(P * c.cout * sizeof(float));
    float *scratch = malloc(masked_conv2d_scratch(c.n, c.H, c.W, c.cin, c.cout, &c.taps) * sizeof(float));
    fill_uniform(in, P * c.cin, -1, 1, &rng);
    fill_uniform(w, nw, -1, 1, &rng);
    fill_uniform(bias, c.cout, -1, 1, &rng);
    for (int b = 0; b < c.n; b++)
        for (int y = 0; y < c.H; y++)
            for (int x = 0; x < c.W; x++)
                for (int o = 0; o < c.cout; o++)
                    ref[(((size_t)b * c.H + y) * c.W + x) * c.cout + o] =
                        (float)reference(&c, in, w, bias, b, y, x, o);
    masked_conv2d_forward(out, in, c.n, c.H, c.W, c.cin, c.cout, &c.taps, w, bias, 0, scratch);
    /* sums of at most ~150 products of O(1) values in float */
    ck_assert_msg(rel_error(out, ref, P * c.cout) < 1e-5, "case %d", _i);
    /* accumulate adds the same result on top */
    masked_conv2d_forward(out, in, c.n, c.H, c.W, c.cin, c.cout, &c.taps, w, bias, 1, scratch);
    for (size_t i = 0; i < P * c.cout; i++) ref[i] *= 2.0f;
    ck_assert_msg(rel_error(out, ref, P * c.cout) < 1e-5, "case %d accumulated", _i);
    free(in), free(w), free(bias), free(out), free(ref), free(scratch);
}
END_TEST

/* L = sum out * R for fixed random R, in double. The convolution is linear in each of
 * in, w and bias, so the central difference has no curvature error: only the float
 * rounding of the outputs (~1e-7 each, summed over a few hundred terms and divided by
 * 2h = 0.02) is left, ~1e-4 absolute against gradients of order 1-10. */
static double loss(const conv_case *c, const float *in, const float *w, const float *bias,
                   const float *R, float *out, float *scratch)
{
    masked_conv2d_forward(out, in, c->n, c->H, c->W, c->cin, c->cout, &c->taps, w, bias, 0, scratch);
    double L = 0.0;
    for (size_t i = 0; i < (size_t)c->n * c->H * c->W * c->cout; i++) L += (double)out[i] * R[i];
    return L;
}

static double worst_fd(const conv_case *c, float *v, const float *g, size_t count, float *in,
                       float *w, float *bias, const float *R, float *out, float *scratch)
{
    const float h = 1e-2f;
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        float keep = v[i];
        v[i] = keep + h;
        double up = loss(c, in, w, bias, R, out, scratch);
        v[i] = keep - h;
        double down = loss(c, in, w, bias, R, out, scratch);
        v[i] = keep;
        worst = fmax(worst, fabs((up - down) / (2.0 * h) - g[i]));
    }
    return worst;
}

START_TEST(backward_matches_finite_differences)
{
    ps_gemm_init();
    conv_case c = cases(_i);
    ps_rng rng;
    ps_rng_seed(&rng, 10 + _i);
    size_t P = (size_t)c.n * c.H * c.W, nw = (size_t)c.taps.count * c.cin * c.cout;
    float *in = malloc(P * c.cin * sizeof(float)), *w = malloc(nw * sizeof(float));
    float *bias = malloc(c.cout * sizeof(float)), *out = malloc(P * c.cout * sizeof(float));
    float *R = malloc(P * c.cout * sizeof(float));
    float *d_in = calloc(P * c.cin, sizeof(float)), *d_w = calloc(nw, sizeof(float));
    float *d_b = calloc(c.cout, sizeof(float));
    float *scratch = malloc(masked_conv2d_scratch(c.n, c.H, c.W, c.cin, c.cout, &c.taps) * sizeof(float));
    fill_uniform(in, P * c.cin, -1, 1, &rng);
    fill_uniform(w, nw, -1, 1, &rng);
    fill_uniform(bias, c.cout, -1, 1, &rng);
    fill_uniform(R, P * c.cout, -1, 1, &rng);
    masked_conv2d_backward(d_in, d_w, d_b, R, in, c.n, c.H, c.W, c.cin, c.cout, &c.taps, w, scratch);
    double e_in = worst_fd(&c, in, d_in, P * c.cin, in, w, bias, R, out, scratch);
    double e_w = worst_fd(&c, w, d_w, nw, in, w, bias, R, out, scratch);
    double e_b = worst_fd(&c, bias, d_b, c.cout, in, w, bias, R, out, scratch);
    ck_assert_msg(e_in < 2e-3 && e_w < 2e-3 && e_b < 2e-3, "case %d: errors in %g w %g bias %g",
                  _i, e_in, e_w, e_b);
    free(in), free(w), free(bias), free(out), free(R), free(d_in), free(d_w), free(d_b);
    free(scratch);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("masked_conv2d");
    tcase_add_test(tc, masks_keep_the_causal_taps);
    tcase_add_loop_test(tc, forward_matches_definition, 0, CASES);
    tcase_add_loop_test(tc, backward_matches_finite_differences, 0, CASES);
    suite_add_tcase(s, tc);
    return s;
}
