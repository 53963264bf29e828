/* The spatial LSTM: forward against its definition evaluated in double precision over the
 * grid, backward (through the whole 2-D recursion) against central differences of a
 * scalar objective in every weight and every input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_fd.h"
#include "priorsep/gemm.h"
#include "priorsep/spatial_lstm.h"
#include "test_util.h"

/* A grid wide and tall enough that states travel through both neighbours several times. */
enum { H = 3, W = 4, B = 2, K = 3, N = 4, G = 5 * N, P = H * W };

typedef struct net {
    float w[(K + 2 * N + 1) * G]; /* w_x, w_l, w_u, bias */
    float x[P * B * K];
} net;

static const float *w_x(const net *n) { return n->w; }
static const float *w_l(const net *n) { return n->w + K * G; }
static const float *w_u(const net *n) { return n->w + (K + N) * G; }
static const float *bias(const net *n) { return n->w + (K + 2 * N) * G; }

static const spatial_lstm_dims dims = {.height = H, .width = W, .batch = B, .in = K, .hidden = N};

START_TEST(forward_matches_definition)
{
    ck_assert_uint_eq(spatial_lstm_param_count(K, N), sizeof(((net *)0)->w) / sizeof(float));
    ps_gemm_init();
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    net n;
    fill_uniform(n.w, sizeof n.w / sizeof(float), -0.6f, 0.6f, &rng);
    fill_uniform(n.x, P * B * K, -1, 1, &rng);
    static float act[P * B * G], c[P * B * N], h[P * B * N];
    spatial_lstm_forward(&dims, n.x, w_x(&n), w_l(&n), w_u(&n), bias(&n), act, c, h);
    static double rc[P][B][N], rh[P][B][N];
    for (int p = 0; p < P; p++)
        for (int b = 0; b < B; b++) {
            int i = p / W, j = p % W;
            double z[G];
            for (int k = 0; k < G; k++) {
                double acc = bias(&n)[k];
                for (int q = 0; q < K; q++) acc += (double)n.x[(p * B + b) * K + q] * w_x(&n)[q * G + k];
                for (int q = 0; q < N; q++) {
                    if (j > 0) acc += rh[p - 1][b][q] * w_l(&n)[q * G + k];
                    if (i > 0) acc += rh[p - W][b][q] * w_u(&n)[q * G + k];
                }
                z[k] = acc;
            }
            for (int q = 0; q < N; q++) {
                double g = tanh(z[q]), o = layer_sigmoid(z[N + q]), in = layer_sigmoid(z[2 * N + q]);
                double fr = layer_sigmoid(z[3 * N + q]), fc = layer_sigmoid(z[4 * N + q]);
                double cell = g * in + (j > 0 ? rc[p - 1][b][q] * fc : 0.0) +
                              (i > 0 ? rc[p - W][b][q] * fr : 0.0);
                rc[p][b][q] = cell;
                rh[p][b][q] = tanh(cell * o);
                /* Float products of a dozen O(1) terms per gate, compounded over at most
                 * H + W - 2 = 5 steps of the recursion: 1e-5 is ~100 float roundings. */
                ck_assert_double_le(fabs(c[(p * B + b) * N + q] - cell), 1e-5);
                ck_assert_double_le(fabs(h[(p * B + b) * N + q] - rh[p][b][q]), 1e-5);
            }
        }
}
END_TEST

/* J = Σ weights · h over the whole grid. */
static double objective(const net *n, const float *weights)
{
    static float act[P * B * G], c[P * B * N], h[P * B * N];
    spatial_lstm_forward(&dims, n->x, w_x(n), w_l(n), w_u(n), bias(n), act, c, h);
    double J = 0.0;
    for (int r = 0; r < P * B * N; r++) J += (double)weights[r] * h[r];
    return J;
}

START_TEST(backward_matches_finite_differences)
{
    ps_gemm_init();
    ps_rng rng;
    ps_rng_seed(&rng, 2);
    static net n;
    fill_uniform(n.w, sizeof n.w / sizeof(float), -0.6f, 0.6f, &rng);
    fill_uniform(n.x, P * B * K, -1, 1, &rng);
    static float weights[P * B * N], act[P * B * G], c[P * B * N], h[P * B * N];
    fill_uniform(weights, P * B * N, -1, 1, &rng);
    spatial_lstm_forward(&dims, n.x, w_x(&n), w_l(&n), w_u(&n), bias(&n), act, c, h);
    static float d_h[P * B * N], d_z[P * B * G], d_c[P * B * N], d_x[P * B * K];
    static float d_w[(K + 2 * N + 1) * G];
    memcpy(d_h, weights, sizeof d_h);
    /* Backward adds: start from ones to check it does not overwrite. */
    for (size_t i = 0; i < sizeof d_w / sizeof(float); i++) d_w[i] = 1.0f;
    for (int i = 0; i < P * B * K; i++) d_x[i] = 1.0f;
    spatial_lstm_backward(&dims, n.x, w_x(&n), w_l(&n), w_u(&n), act, c, h, d_h, d_z, d_c, d_x,
                          d_w, d_w + K * G, d_w + (K + N) * G, d_w + (K + 2 * N) * G);
    /* step 1e-3 on O(1) values: J sums ~100 float outputs, rounding ~1e-5 over 2e-3 gives
     * ~5e-3 absolute noise at worst; truncation O(step²) is far below. The gradients
     * are O(1) sums, so 1e-2 absolute still fails any wrong term. */
    const float step = 1e-3f;
    float *vars[] = {n.w, n.x};
    const float *grads[] = {d_w, d_x};
    int sizes[] = {(int)(sizeof n.w / sizeof(float)), P * B * K};
    double worst = 0.0;
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < sizes[v]; i++) {
            float keep = vars[v][i];
            vars[v][i] = keep + step;
            double up = objective(&n, weights);
            vars[v][i] = keep - step;
            double down = objective(&n, weights);
            vars[v][i] = keep;
            double fd = (up - down) / (2.0 * step), g = grads[v][i] - 1.0;
            worst = fmax(worst, fabs(fd - g));
            ck_assert_msg(fabs(fd - g) < 1e-2, "var %d [%d]: fd %g analytic %g", v, i, fd, g);
        }
    printf("spatial_lstm: worst |fd - analytic| %.2e\n", worst);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("spatial_lstm");
    TCase *tc = tcase_create("spatial_lstm");
    tcase_add_test(tc, forward_matches_definition);
    tcase_add_test(tc, backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
