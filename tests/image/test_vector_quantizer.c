/* Vector quantization: the nearest-code assignment against brute force, the commitment
 * gradient against finite differences, the straight-through estimate (which is not the
 * derivative, and the test shows it), the EMA codebook update on a case computed by hand,
 * and dead codes (no NaN, restarted on the data). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/vector_quantizer.h"
#include "test_util.h"

static double dist2(const float *a, const float *b, int D)
{
    double s = 0.0;
    for (int d = 0; d < D; d++) s += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
    return s;
}

START_TEST(assignment_is_the_nearest_code)
{
    enum { T = 300, K = 37, D = 6 };
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    float *z = malloc(sizeof(float) * T * D), *e = malloc(sizeof(float) * K * D);
    float *scores = malloc(sizeof(float) * (T + 1) * K);
    int codes[T];
    fill_uniform(z, (size_t)T * D, -2, 2, &rng);
    fill_uniform(e, (size_t)K * D, -2, 2, &rng);
    /* Some rows sit exactly on a code: distance 0 against >= 1e-3 for the others. */
    for (int t = 0; t < T; t += 10) memcpy(z + (size_t)t * D, e + (size_t)(t % K) * D, sizeof(float) * D);
    vq_assign(codes, scores, z, e, T, K, D);
    int exact = 0;
    for (int t = 0; t < T; t++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (dist2(z + t * D, e + k * D, D) < dist2(z + t * D, e + best * D, D)) best = k;
        double chosen = dist2(z + t * D, e + codes[t] * D, D), min = dist2(z + t * D, e + best * D, D);
        /* ||e||^2 - 2 z.e in float on values up to ~24 (6 dims of |2 * 2|): a few ulps
         * of 24, so a near tie may go either way by ~1e-5; anything further is wrong. */
        ck_assert_double_le(chosen - min, 1e-4);
        exact += codes[t] == best;
        if (t % 10 == 0) ck_assert_int_eq(codes[t], t % K);
    }
    ck_assert_int_ge(exact, T - 3);
    free(z);
    free(e);
    free(scores);
}
END_TEST

START_TEST(forward_gathers_codes_and_commitment)
{
    enum { T = 20, K = 5, D = 3 };
    ps_rng rng;
    ps_rng_seed(&rng, 2);
    float z[T * D], e[K * D], q[T * D];
    int codes[T];
    fill_uniform(z, T * D, -1, 1, &rng);
    fill_uniform(e, K * D, -1, 1, &rng);
    for (int t = 0; t < T; t++) codes[t] = (t * 7) % K;
    double commit = vq_forward(q, codes, z, e, T, D), ref = 0.0;
    for (int t = 0; t < T; t++) {
        ck_assert(memcmp(q + t * D, e + codes[t] * D, sizeof(float) * D) == 0);
        ref += dist2(z + t * D, e + codes[t] * D, D);
    }
    /* both in double over float inputs: only the summation order differs */
    ck_assert_double_le(fabs(commit - ref), 1e-12 * ref);
}
END_TEST

/* J(z) = beta * commitment(z; codes fixed): vq_backward with d_z_q = 0 must be dJ/dz. */
START_TEST(commitment_gradient_matches_finite_differences)
{
    enum { T = 8, K = 4, D = 3 };
    const float beta = 0.25f;
    ps_rng rng;
    ps_rng_seed(&rng, 3);
    float z[T * D], e[K * D], q[T * D], zero[T * D] = {0}, grad[T * D] = {0};
    int codes[T];
    float scores[(T + 1) * K];
    fill_uniform(z, T * D, -1, 1, &rng);
    fill_uniform(e, K * D, -1, 1, &rng);
    vq_assign(codes, scores, z, e, T, K, D);
    vq_forward(q, codes, z, e, T, D);
    vq_backward(grad, zero, z, q, T, D, beta);
    for (int i = 0; i < T * D; i++) {
        float keep = z[i], h = 1e-2f;
        z[i] = keep + h;
        float up_z = z[i];
        double up = beta * vq_forward(q, codes, z, e, T, D);
        z[i] = keep - h;
        float down_z = z[i];
        double down = beta * vq_forward(q, codes, z, e, T, D);
        z[i] = keep;
        /* The term is quadratic, so the central difference is exact up to rounding of
         * the float steps (divided by the steps actually taken) and of the double sum. */
        double fd = (up - down) / ((double)up_z - down_z);
        ck_assert_double_le(fabs(fd - grad[i]), 1e-6 * (1.0 + fabs(fd)));
    }
}
END_TEST

/* The straight-through estimate passes d z_q to z_e unchanged, while the true derivative
 * of anything computed from z_q is zero away from the cells' boundaries (z_q does not
 * move when z_e moves a little): the estimator is a choice, not a derivative. */
START_TEST(straight_through_is_not_the_derivative)
{
    enum { T = 10, K = 6, D = 4 };
    ps_rng rng;
    ps_rng_seed(&rng, 4);
    float z[T * D], e[K * D], q[T * D], w[T * D], grad[T * D] = {0};
    int codes[T];
    float scores[(T + 1) * K];
    fill_uniform(z, T * D, -1, 1, &rng);
    fill_uniform(e, K * D, -1, 1, &rng);
    fill_uniform(w, T * D, -1, 1, &rng);
    vq_assign(codes, scores, z, e, T, K, D);
    vq_forward(q, codes, z, e, T, D);
    vq_backward(grad, w, z, q, T, D, 0.0f); /* J = sum w . z_q, no commitment */
    for (int i = 0; i < T * D; i++) ck_assert(grad[i] == w[i]);
    for (int i = 0; i < T * D; i++) {
        float keep = z[i];
        double J[2];
        for (int s = 0; s < 2; s++) {
            z[i] = keep + (s ? -1e-4f : 1e-4f);
            vq_assign(codes, scores, z, e, T, K, D);
            vq_forward(q, codes, z, e, T, D);
            J[s] = 0.0;
            for (int j = 0; j < T * D; j++) J[s] += (double)w[j] * q[j];
        }
        z[i] = keep;
        ck_assert(J[0] == J[1]); /* uniform random points: none within 1e-4 of a boundary */
    }
}
END_TEST

/* Decay 1/2 and eps 0.1 so that every term of the update shows in the result:
 *   counts n = (2, 1, 0), sums s = ((4,4), (4,2), (0,0)) from the three rows below;
 *   N = (1, 2, 0)/2 + n/2 = (1.5, 1.5, 0), total 3;  M = M0/2 + s/2 = ((2.5,2.5), (3,1), 0)
 *   N~ = (N + 0.1) / 3.3 * 3 = (16/11, 16/11, 1/11);  e = M / N~:
 *   e0 = (2.5, 2.5) * 11/16 = (1.71875, 1.71875), e1 = (3, 1) * 11/16 = (2.0625, 0.6875),
 *   e2 = (0, 0). */
START_TEST(ema_update_hand_computed)
{
    float z[3 * 2] = {3, 1, 1, 3, 4, 2};
    int codes[3] = {0, 0, 1};
    float counts[3] = {0}, sums[6] = {0};
    float count[3] = {1, 2, 0}, sum[6] = {1, 1, 2, 0, 0, 0};
    float book[6] = {9, 9, 9, 9, 9, 9};
    vq_ema_gather(counts, sums, codes, z, 3, 3, 2);
    vq_ema_update(book, count, sum, counts, sums, 3, 2, 0.5f, 0.1f);
    float want[6] = {1.71875f, 1.71875f, 2.0625f, 0.6875f, 0.0f, 0.0f};
    float want_count[3] = {1.5f, 1.5f, 0.0f}, want_sum[6] = {2.5f, 2.5f, 3, 1, 0, 0};
    /* a handful of float operations on O(1) values */
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq_tol(book[i], want[i], 1e-6f);
        ck_assert_float_eq_tol(sum[i], want_sum[i], 1e-6f);
    }
    for (int k = 0; k < 3; k++) ck_assert_float_eq_tol(count[k], want_count[k], 1e-6f);
}
END_TEST

START_TEST(dead_codes_stay_finite_and_restart_on_the_data)
{
    enum { T = 16, K = 4, D = 3 };
    ps_rng rng;
    ps_rng_seed(&rng, 5);
    float z[T * D], book[K * D], count[K] = {0}, sum[K * D] = {0};
    float scores[(T + 1) * K];
    int codes[T];
    fill_uniform(book, K * D, -1, 1, &rng);
    /* No data at all from a fresh state: nothing to average, the codebook stays. */
    float none[K] = {0}, none_sum[K * D] = {0}, keep[K * D];
    memcpy(keep, book, sizeof keep);
    vq_ema_update(book, count, sum, none, none_sum, K, D, PS_VQ_EMA_DECAY, PS_VQ_LAPLACE_EPS);
    ck_assert(memcmp(book, keep, sizeof keep) == 0);
    /* Rows next to every code for 100 steps, then next to code 0 alone for long enough
     * that the others' moving averages decay through the denormals (0.99^12000 ~ 1e-52). */
    for (int step = 0; step < 12100; step++) {
        for (int i = 0; i < T * D; i++) {
            int k = step < 100 ? (i / D) % K : 0;
            z[i] = book[k * D + i % D] + 0.01f * (ps_rng_uniform(&rng) - 0.5f);
        }
        vq_assign(codes, scores, z, book, T, K, D);
        float counts[K] = {0}, sums[K * D] = {0};
        vq_ema_gather(counts, sums, codes, z, T, K, D);
        vq_ema_update(book, count, sum, counts, sums, K, D, PS_VQ_EMA_DECAY, PS_VQ_LAPLACE_EPS);
    }
    for (int i = 0; i < K * D; i++) ck_assert(isfinite(book[i]));
    for (int k = 1; k < K; k++) ck_assert(isfinite(sum[k * D]) && count[k] >= 0.0f);
    ck_assert_float_eq_tol(count[0], T, 1e-3f); /* the steady state of the live code */
    for (int k = 1; k < K; k++) ck_assert_float_lt(count[k], PS_VQ_DEAD_COUNT);
    /* Restart: the dead codes land on rows of z, the live one stays. */
    float live[D];
    memcpy(live, book, sizeof live);
    float dist[T];
    ck_assert_int_eq(vq_restart_dead_codes(book, count, sum, z, T, K, D, dist, &rng), K - 1);
    ck_assert(memcmp(book, live, sizeof live) == 0);
    for (int k = 1; k < K; k++) {
        int on_a_row = 0;
        for (int t = 0; t < T; t++) on_a_row |= memcmp(book + k * D, z + t * D, sizeof(float) * D) == 0;
        ck_assert(on_a_row);
        ck_assert_float_eq(count[k], 1.0f);
        ck_assert(memcmp(sum + k * D, book + k * D, sizeof(float) * D) == 0);
    }
}
END_TEST

/* k-means++ restart: with every row but one exactly on the live code, the dead code can
 * only go to that one (probability proportional to squared distance: 0 for the others). */
START_TEST(restart_goes_where_quantization_is_worst)
{
    enum { T = 16, K = 2, D = 2 };
    float z[T * D] = {0}, book[K * D] = {0, 0, 5, 5}, count[K] = {10, 0}, sum[K * D] = {0};
    float dist[T];
    z[7 * D] = 3.0f;
    z[7 * D + 1] = -1.0f;
    ps_rng rng;
    ps_rng_seed(&rng, 6);
    ck_assert_int_eq(vq_restart_dead_codes(book, count, sum, z, T, K, D, dist, &rng), 1);
    ck_assert(book[2] == 3.0f && book[3] == -1.0f && book[0] == 0.0f && book[1] == 0.0f);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("vector_quantizer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, assignment_is_the_nearest_code);
    tcase_add_test(tc, forward_gathers_codes_and_commitment);
    tcase_add_test(tc, commitment_gradient_matches_finite_differences);
    tcase_add_test(tc, straight_through_is_not_the_derivative);
    tcase_add_test(tc, ema_update_hand_computed);
    tcase_add_test(tc, dead_codes_stay_finite_and_restart_on_the_data);
    tcase_add_test(tc, restart_goes_where_quantization_is_worst);
    suite_add_tcase(s, tc);
    return s;
}
