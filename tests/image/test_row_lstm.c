/* Row LSTM layer: the forward pass against a direct double-precision evaluation of its
 * definition (row_lstm.h), the backward pass against central differences of a weighted
 * sum of the hidden states, for the input, every weight and the bias. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer_fd.h"
#include "priorsep/row_lstm.h"
#include "test_util.h"

enum { H = 3, W = 4, N = 2, CIN = 3, HID = 2, G = 4 * HID, POS = H * W * N };

typedef struct {
    float x[POS * CIN], w_is[2 * CIN * G], w_ss[3 * HID * G], bias[G], weight[POS * HID];
    float h[POS * HID], c[POS * HID], z[POS * G];
} layer;

static void setup(layer *L, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    fill_uniform(L->x, POS * CIN, -1, 1, &rng);
    fill_uniform(L->w_is, 2 * CIN * G, -0.7f, 0.7f, &rng);
    fill_uniform(L->w_ss, 3 * HID * G, -0.7f, 0.7f, &rng);
    fill_uniform(L->bias, G, -0.5f, 0.5f, &rng);
    fill_uniform(L->weight, POS * HID, -1, 1, &rng);
}

static size_t at(int i, int c, int b) { return ((size_t)i * W + c) * N + b; }

START_TEST(forward_matches_definition)
{
    layer L;
    setup(&L, 1);
    row_lstm_forward(L.h, L.c, L.z, L.x, H, W, N, CIN, HID, L.w_is, L.w_ss, L.bias);
    static double h[H][W][N][HID], c[H][W][N][HID];
    for (int i = 0; i < H; i++)
        for (int x = 0; x < W; x++)
            for (int b = 0; b < N; b++) {
                double z[G];
                for (int g = 0; g < G; g++) {
                    z[g] = L.bias[g];
                    for (int t = 0; t < 2; t++) /* taps left, centre */
                        for (int k = 0; k < CIN && x - 1 + t >= 0; k++)
                            z[g] += (double)L.w_is[(t * CIN + k) * G + g] * L.x[at(i, x - 1 + t, b) * CIN + k];
                    for (int t = 0; t < 3 && i > 0; t++) /* taps left, centre, right */
                        for (int k = 0; k < HID && x - 1 + t >= 0 && x - 1 + t < W; k++)
                            z[g] += L.w_ss[(t * HID + k) * G + g] * h[i - 1][x - 1 + t][b][k];
                }
                for (int k = 0; k < HID; k++) {
                    double cp = i > 0 ? c[i - 1][x][b][k] : 0.0;
                    c[i][x][b][k] = layer_sigmoid(z[HID + k]) * cp + layer_sigmoid(z[k]) * tanh(z[3 * HID + k]);
                    h[i][x][b][k] = layer_sigmoid(z[2 * HID + k]) * tanh(c[i][x][b][k]);
                    /* float products and sums of a few dozen O(1) terms per step, over
                     * three rows: 1e-5 is two orders over their rounding */
                    ck_assert_double_lt(fabs(L.h[at(i, x, b) * HID + k] - h[i][x][b][k]), 1e-5);
                    ck_assert_double_lt(fabs(L.c[at(i, x, b) * HID + k] - c[i][x][b][k]), 1e-5);
                }
            }
}
END_TEST

static double objective(void *ctx)
{
    layer *L = ctx;
    row_lstm_forward(L->h, L->c, L->z, L->x, H, W, N, CIN, HID, L->w_is, L->w_ss, L->bias);
    double J = 0.0;
    for (int k = 0; k < POS * HID; k++) J += (double)L->weight[k] * L->h[k];
    return J;
}

START_TEST(backward_matches_finite_differences)
{
    static layer L;
    setup(&L, 2);
    float d_x[POS * CIN] = {0}, d_w_is[2 * CIN * G] = {0}, d_w_ss[3 * HID * G] = {0}, d_b[G] = {0};
    float *work = malloc(row_lstm_work_floats(H, W, N, HID) * sizeof(float));
    objective(&L);
    row_lstm_backward(d_x, d_w_is, d_w_ss, d_b, L.weight, L.x, L.h, L.c, L.z, H, W, N, CIN, HID,
                      L.w_is, L.w_ss, work);
    free(work);
    /* h = 1e-2 on O(1) inputs: J (24 terms of float rounding ~1e-7) over 2h gives < 1e-4
     * of noise; the truncation error h^2 J''' / 6 stays below ~1e-4 for these tanh and
     * sigmoid compositions; 2e-3 leaves an order of magnitude over both. */
    const float step = 1e-2f;
    double e[] = {layer_fd_worst(objective, &L, L.x, d_x, POS * CIN, step),
                  layer_fd_worst(objective, &L, L.w_is, d_w_is, 2 * CIN * G, step),
                  layer_fd_worst(objective, &L, L.w_ss, d_w_ss, 3 * HID * G, step),
                  layer_fd_worst(objective, &L, L.bias, d_b, G, step)};
    for (int v = 0; v < 4; v++) ck_assert_msg(e[v] < 2e-3, "tensor %d: error %g", v, e[v]);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("row_lstm");
    TCase *tc = tcase_create("row_lstm");
    tcase_add_test(tc, forward_matches_definition);
    tcase_add_test(tc, backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
