/* Layers against direct double-precision evaluation of their definitions. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/layers.h"
#include "test_util.h"

/* Float sums of at most a few hundred products of O(1) values: 1e-5 relative to the
 * output scale leaves two orders of magnitude over float rounding. */
#define TOL 1e-5

START_TEST(conv1d_matches_definition)
{
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    ps_gemm_init();
    int shapes[][5] = {{1, 1, 1, 1, 5}, {2, 3, 4, 1, 17}, {3, 8, 6, 5, 33}, {2, 32, 64, 64, 100}, {1, 5, 7, 9, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int k = shapes[s][0], cin = shapes[s][1], cout = shapes[s][2], d = shapes[s][3], T = shapes[s][4];
        int past = (k - 1) * d;
        float *in = malloc(sizeof(float) * (size_t)(past + T) * cin);
        float *w = malloc(sizeof(float) * (size_t)k * cout * cin);
        float *b = malloc(sizeof(float) * (size_t)cout);
        float *out = malloc(sizeof(float) * (size_t)T * cout);
        float *ref = malloc(sizeof(float) * (size_t)T * cout);
        fill_uniform(in, (size_t)(past + T) * cin, -1, 1, &rng);
        fill_uniform(w, (size_t)k * cout * cin, -1, 1, &rng);
        fill_uniform(b, (size_t)cout, -1, 1, &rng);
        const float *x = in + (size_t)past * cin; /* time 0 */
        conv1d_forward(ps_gemm, out, x, cin, T, cin, cout, k, d, w, b);
        for (int t = 0; t < T; t++)
            for (int o = 0; o < cout; o++) {
                double acc = b[o];
                for (int j = 0; j < k; j++)
                    for (int i = 0; i < cin; i++)
                        acc += (double)w[((size_t)j * cin + i) * cout + o] *
                               x[(long)(t - (k - 1 - j) * d) * cin + i];
                ref[(size_t)t * cout + o] = (float)acc;
            }
        double e = rel_error(out, ref, (size_t)T * cout);
        ck_assert_msg(e < TOL, "shape %zu: relative error %g", s, e);
        free(in), free(w), free(b), free(out), free(ref);
    }
}
END_TEST

START_TEST(gemm_kernels_match_definition)
{
    /* Edge shapes: M not a multiple of the row block, N and K across tile and panel
     * boundaries (K = 0 too), beta 0 / 1 / other, with and without bias, strides wider
     * than the rows. */
    ps_rng rng;
    ps_rng_seed(&rng, 3);
    int shapes[][5] = {{1, 1, 1, 0, 0}, {3, 5, 7, 1, 1}, {4, 16, 32, 2, 0}, {9, 65, 130, 3, 1},
                       {257, 64, 32, 0, 1}, {2, 200, 3, 1, 0}, {11, 30, 300, 0, 1}, {5, 33, 0, 2, 1}};
    float betas[] = {0.0f, 1.0f, -0.5f, 2.0f};
    ps_gemm_fn fns[] = {ps_gemm, ps_gemm_rt};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], lda = K + 3, ldb = N + 1, ldc = N + 2;
        float beta = betas[shapes[s][3]];
        int with_bias = shapes[s][4];
        float *bias = malloc(sizeof(float) * (size_t)N);
        fill_uniform(bias, (size_t)N, -1, 1, &rng);
        float *A = malloc(sizeof(float) * (size_t)M * lda), *B = malloc(sizeof(float) * (size_t)K * ldb);
        float *C0 = malloc(sizeof(float) * (size_t)M * ldc), *C = malloc(sizeof(float) * (size_t)M * ldc);
        float *ref = malloc(sizeof(float) * (size_t)M * ldc);
        fill_uniform(A, (size_t)M * lda, -1, 1, &rng);
        fill_uniform(B, (size_t)K * ldb, -1, 1, &rng);
        fill_uniform(C0, (size_t)M * ldc, -1, 1, &rng);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < ldc; j++) {
                double acc = j < N ? (double)beta * C0[i * ldc + j] + (with_bias ? bias[j] : 0.0)
                                   : C0[i * ldc + j];
                for (int k = 0; k < K && j < N; k++) acc += (double)A[i * lda + k] * B[k * ldb + j];
                ref[i * ldc + j] = (float)acc;
            }
        for (int f = 0; f < 2; f++) {
            memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
            fns[f](M, N, K, A, lda, B, ldb, with_bias ? bias : NULL, beta, C, ldc);
            double e = rel_error(C, ref, (size_t)M * ldc);
            ck_assert_msg(e < TOL, "kernel %d shape %zu: relative error %g", f, s, e);
        }
        free(A), free(B), free(C0), free(C), free(ref), free(bias);
    }
}
END_TEST

START_TEST(linear_accumulates)
{
    ps_rng rng;
    ps_rng_seed(&rng, 2);
    enum { T = 9, CI = 5, CO = 3, STRIDE = 4 };
    float in[T * CI], w[CO * CI], b[CO], out[T * STRIDE], ref[T * STRIDE];
    fill_uniform(in, T * CI, -1, 1, &rng);
    fill_uniform(w, CO * CI, -1, 1, &rng);
    fill_uniform(b, CO, -1, 1, &rng);
    fill_uniform(out, T * STRIDE, -1, 1, &rng);
    for (int i = 0; i < T * STRIDE; i++) ref[i] = out[i];
    linear_forward(ps_gemm, out, STRIDE, in, CI, T, CI, CO, w, b, 1);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < CO; o++) {
            double acc = ref[t * STRIDE + o] + b[o];
            for (int i = 0; i < CI; i++) acc += (double)w[i * CO + o] * in[t * CI + i];
            ck_assert_double_eq_tol(out[t * STRIDE + o], acc, 1e-5);
        }
    /* the column outside cout is untouched */
    for (int t = 0; t < T; t++) ck_assert_float_eq(out[t * STRIDE + 3], ref[t * STRIDE + 3]);
}
END_TEST

START_TEST(gate_matches_tanh_sigmoid)
{
    /* The gate uses a polynomial exp; against libm it must agree to a few float ulps
     * in absolute terms (tanh and sigmoid are bounded by 1), including saturation. */
    enum { T = 4, C = 1000 };
    static float z[T * 2 * C], g[T * C];
    for (int i = 0; i < T * 2 * C; i++) z[i] = -100.0f + 200.0f * (float)i / (T * 2 * C);
    z[0] = 0.0f, z[C] = 0.0f;
    gate_forward(g, z, T, C);
    double worst = 0.0;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++) {
            double f = z[t * 2 * C + i], s = z[t * 2 * C + C + i];
            double ref = tanh(f) / (1.0 + exp(-s));
            worst = fmax(worst, fabs(ref - g[t * C + i]));
        }
    ck_assert_msg(worst < 5e-7, "worst absolute error %g", worst);
    ck_assert_float_eq(g[0], 0.0f);
}
END_TEST

START_TEST(relu_clamps)
{
    float v[4] = {-1.0f, 0.0f, 2.5f, -0.0f};
    relu_forward(v, v, 4);
    ck_assert_float_eq(v[0], 0.0f);
    ck_assert_float_eq(v[2], 2.5f);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("forward");
    tcase_add_test(tc, conv1d_matches_definition);
    tcase_add_test(tc, gemm_kernels_match_definition);
    tcase_add_test(tc, linear_accumulates);
    tcase_add_test(tc, gate_matches_tanh_sigmoid);
    tcase_add_test(tc, relu_clamps);
    suite_add_tcase(s, tc);
    return s;
}
