/* Skewing for the Diagonal BiLSTM: where each position lands, zero padding, unskew as the
 * inverse, and the backward passes as the exact adjoints (<skew a, b> = <a, skew^T b>),
 * in both directions. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/skew.h"
#include "test_util.h"

enum { H = 3, W = 4, B = 2, S = W + H - 1 };

START_TEST(skew_places_rows_shifted)
{
    int mirror = _i;
    float plain[H * W * B], skewed[S * H * B], back[H * W * B];
    for (int k = 0; k < H * W * B; k++) plain[k] = (float)(k + 1);
    skew_forward(skewed, plain, H, W, B, mirror);
    for (int j = 0; j < S; j++)
        for (int i = 0; i < H; i++)
            for (int k = 0; k < B; k++) {
                int c = j - i;
                if (mirror) c = W - 1 - c;
                float want = c >= 0 && c < W ? plain[(i * W + c) * B + k] : 0.0f;
                ck_assert_float_eq(skewed[(j * H + i) * B + k], want);
            }
    unskew_forward(back, skewed, H, W, B, mirror);
    ck_assert(memcmp(back, plain, sizeof plain) == 0);
}
END_TEST

static double dot(const float *a, const float *b, int n)
{
    double s = 0.0;
    for (int k = 0; k < n; k++) s += (double)a[k] * b[k];
    return s;
}

START_TEST(backward_is_the_adjoint)
{
    int mirror = _i;
    ps_rng rng;
    ps_rng_seed(&rng, 3);
    float a[H * W * B], b[S * H * B], sa[S * H * B], ub[H * W * B];
    fill_uniform(a, H * W * B, -1, 1, &rng);
    fill_uniform(b, S * H * B, -1, 1, &rng);
    skew_forward(sa, a, H, W, B, mirror);
    memset(ub, 0, sizeof ub);
    skew_backward(ub, b, H, W, B, mirror);
    /* both sums hold the same products, only in another order: float rounding only */
    ck_assert_double_lt(fabs(dot(sa, b, S * H * B) - dot(a, ub, H * W * B)), 1e-5);
    /* unskew's adjoint, and the backward passes ADD */
    float ua[H * W * B], d_s[S * H * B];
    unskew_forward(ua, b, H, W, B, mirror);
    for (int k = 0; k < S * H * B; k++) d_s[k] = 1.0f;
    unskew_backward(d_s, a, H, W, B, mirror);
    for (int k = 0; k < S * H * B; k++) d_s[k] -= 1.0f;
    ck_assert_double_lt(fabs(dot(ua, a, H * W * B) - dot(b, d_s, S * H * B)), 1e-5);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("skew");
    TCase *tc = tcase_create("skew");
    tcase_add_loop_test(tc, skew_places_rows_shifted, 0, 2);
    tcase_add_loop_test(tc, backward_is_the_adjoint, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
