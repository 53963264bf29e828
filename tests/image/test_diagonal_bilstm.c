/* Diagonal BiLSTM layer: the forward pass against a direct double-precision evaluation
 * in image coordinates (no skewing: each direction's state at (i, c) from the one beside
 * it on the row and the one above, direction 1 shifted down a row), the backward pass
 * against central differences of a weighted sum of the outputs. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer_fd.h"
#include "priorsep/diagonal_bilstm.h"
#include "test_util.h"

enum { H = 3, W = 4, N = 2, CIN = 3, HID = 2, G = 4 * HID, POS = H * W * N };

typedef struct {
    float x[POS * CIN], w_is[2 * CIN * G], w_ss[2 * 2 * HID * G], bias[2 * G], weight[POS * HID];
    float out[POS * HID], *act, *work;
} layer;

static void setup(layer *L, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    fill_uniform(L->x, POS * CIN, -1, 1, &rng);
    fill_uniform(L->w_is, 2 * CIN * G, -0.7f, 0.7f, &rng);
    fill_uniform(L->w_ss, 4 * HID * G, -0.7f, 0.7f, &rng);
    fill_uniform(L->bias, 2 * G, -0.5f, 0.5f, &rng);
    fill_uniform(L->weight, POS * HID, -1, 1, &rng);
    L->act = malloc(diagonal_bilstm_act_floats(H, W, N, HID) * sizeof(float));
    L->work = malloc(diagonal_bilstm_work_floats(H, W, N, HID) * sizeof(float));
}

static void teardown(layer *L)
{
    free(L->act);
    free(L->work);
}

static size_t at(int i, int c, int b) { return ((size_t)i * W + c) * N + b; }

START_TEST(forward_matches_definition)
{
    static layer L;
    setup(&L, 1);
    diagonal_bilstm_forward(L.out, L.act, L.x, H, W, N, CIN, HID, L.w_is, L.w_ss, L.bias, L.work);
    static double h[2][H][W][N][HID], c[2][H][W][N][HID];
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < H; i++)
            for (int s = 0; s < W; s++)
                for (int b = 0; b < N; b++) {
                    /* direction 0 walks the row left to right, direction 1 right to left */
                    int x = d ? W - 1 - s : s, prev = d ? x + 1 : x - 1;
                    const float *w_is = L.w_is + d * CIN * G, *w_ss = L.w_ss + d * 2 * HID * G;
                    double z[G];
                    for (int g = 0; g < G; g++) {
                        z[g] = L.bias[d * G + g];
                        for (int k = 0; k < CIN; k++)
                            z[g] += (double)w_is[k * G + g] * L.x[at(i, x, b) * CIN + k];
                        for (int k = 0; k < HID; k++) {
                            if (s > 0) z[g] += w_ss[k * G + g] * h[d][i][prev][b][k];
                            if (i > 0) z[g] += w_ss[(HID + k) * G + g] * h[d][i - 1][x][b][k];
                        }
                    }
                    for (int k = 0; k < HID; k++) {
                        double cp = s > 0 ? c[d][i][prev][b][k] : 0.0;
                        c[d][i][x][b][k] = layer_sigmoid(z[HID + k]) * cp +
                                           layer_sigmoid(z[k]) * tanh(z[3 * HID + k]);
                        h[d][i][x][b][k] = layer_sigmoid(z[2 * HID + k]) * tanh(c[d][i][x][b][k]);
                    }
                }
    for (int i = 0; i < H; i++)
        for (int x = 0; x < W; x++)
            for (int b = 0; b < N; b++)
                for (int k = 0; k < HID; k++) {
                    double want = h[0][i][x][b][k] + (i > 0 ? h[1][i - 1][x][b][k] : 0.0);
                    /* float sums of a few dozen O(1) products per step over at most
                     * W + H - 1 steps: 1e-5 is two orders over their rounding */
                    ck_assert_double_lt(fabs(L.out[at(i, x, b) * HID + k] - want), 1e-5);
                }
    teardown(&L);
}
END_TEST

static double objective(void *ctx)
{
    layer *L = ctx;
    diagonal_bilstm_forward(L->out, L->act, L->x, H, W, N, CIN, HID, L->w_is, L->w_ss, L->bias,
                            L->work);
    double J = 0.0;
    for (int k = 0; k < POS * HID; k++) J += (double)L->weight[k] * L->out[k];
    return J;
}

START_TEST(backward_matches_finite_differences)
{
    static layer L;
    setup(&L, 2);
    static float d_x[POS * CIN], d_w_is[2 * CIN * G], d_w_ss[4 * HID * G], d_b[2 * G];
    objective(&L);
    diagonal_bilstm_backward(d_x, d_w_is, d_w_ss, d_b, L.weight, L.x, L.act, H, W, N, CIN, HID,
                             L.w_is, L.w_ss, L.work);
    /* as for the Row LSTM: h = 1e-2, float noise and truncation each ~1e-4 at most */
    const float step = 1e-2f;
    double e[] = {layer_fd_worst(objective, &L, L.x, d_x, POS * CIN, step),
                  layer_fd_worst(objective, &L, L.w_is, d_w_is, 2 * CIN * G, step),
                  layer_fd_worst(objective, &L, L.w_ss, d_w_ss, 4 * HID * G, step),
                  layer_fd_worst(objective, &L, L.bias, d_b, 2 * G, step)};
    for (int v = 0; v < 4; v++) ck_assert_msg(e[v] < 2e-3, "tensor %d: error %g", v, e[v]);
    teardown(&L);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("diagonal_bilstm");
    TCase *tc = tcase_create("diagonal_bilstm");
    tcase_add_test(tc, forward_matches_definition);
    tcase_add_test(tc, backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
