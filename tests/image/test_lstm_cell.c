/* The LSTM cell: forward against its definition in double precision, backward against
 * central differences of a scalar objective through two chained steps (so the gradient
 * through c_prev is checked as well as the one into z). */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "layer_fd.h"
#include "priorsep/lstm_cell.h"
#include "test_util.h"

enum { T = 3, N = 5 };

START_TEST(forward_matches_definition)
{
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    float z[T * 4 * N], cp[T * N], c[T * N], h[T * N];
    fill_uniform(z, T * 4 * N, -3, 3, &rng);
    fill_uniform(cp, T * N, -2, 2, &rng);
    lstm_cell_forward(c, h, z, cp, T, N);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < N; k++) {
            const float *zt = z + t * 4 * N;
            double ct = layer_sigmoid(zt[N + k]) * cp[t * N + k] +
                        layer_sigmoid(zt[k]) * tanh(zt[3 * N + k]);
            double ht = layer_sigmoid(zt[2 * N + k]) * tanh(ct);
            /* one float rounding per operation on O(1) values */
            ck_assert_double_le(fabs(c[t * N + k] - ct), 1e-6);
            ck_assert_double_le(fabs(h[t * N + k] - ht), 1e-6);
        }
    /* a NULL c_prev is the zero state */
    float c0[T * N], h0[T * N], zeros[T * N] = {0};
    lstm_cell_forward(c0, h0, z, NULL, T, N);
    lstm_cell_forward(c, h, z, zeros, T, N);
    for (int r = 0; r < T * N; r++) ck_assert(c0[r] == c[r] && h0[r] == h[r]);
}
END_TEST

/* J = Σ wc·c2 + wh·h2 + wh1·h1 over two steps: c1 = cell(z1, c0), c2 = cell(z2, c1). */
static double objective(const float *z1, const float *z2, const float *c0, const float *wc,
                        const float *wh, const float *wh1)
{
    float c1[T * N], h1[T * N], c2[T * N], h2[T * N];
    lstm_cell_forward(c1, h1, z1, c0, T, N);
    lstm_cell_forward(c2, h2, z2, c1, T, N);
    double J = 0.0;
    for (int r = 0; r < T * N; r++) J += (double)wc[r] * c2[r] + (double)wh[r] * h2[r] + (double)wh1[r] * h1[r];
    return J;
}

START_TEST(backward_matches_finite_differences)
{
    ps_rng rng;
    ps_rng_seed(&rng, 2);
    float z1[T * 4 * N], z2[T * 4 * N], c0[T * N], wc[T * N], wh[T * N], wh1[T * N];
    fill_uniform(z1, T * 4 * N, -2, 2, &rng);
    fill_uniform(z2, T * 4 * N, -2, 2, &rng);
    fill_uniform(c0, T * N, -1, 1, &rng);
    fill_uniform(wc, T * N, -1, 1, &rng);
    fill_uniform(wh, T * N, -1, 1, &rng);
    fill_uniform(wh1, T * N, -1, 1, &rng);
    float c1[T * N], h1[T * N], c2[T * N], h2[T * N];
    lstm_cell_forward(c1, h1, z1, c0, T, N);
    lstm_cell_forward(c2, h2, z2, c1, T, N);
    float dz1[T * 4 * N] = {0}, dz2[T * 4 * N] = {0}, dc1[T * N] = {0}, dc0[T * N] = {0};
    lstm_cell_backward(dz2, dc1, wc, wh, z2, c1, c2, T, N);
    lstm_cell_backward(dz1, dc0, dc1, wh1, z1, c0, c1, T, N);
    /* h = 1e-3 on O(1) inputs: float rounding of J (~1e-6) over 2h gives ~1e-3 absolute
     * noise at worst, truncation error O(h²) ~ 1e-6; 2e-3 absolute covers both. */
    const float step = 1e-3f;
    float *vars[] = {z1, z2, c0};
    float *grads[] = {dz1, dz2, dc0};
    int sizes[] = {T * 4 * N, T * 4 * N, T * N};
    for (int v = 0; v < 3; v++)
        for (int i = 0; i < sizes[v]; i++) {
            float keep = vars[v][i];
            vars[v][i] = keep + step;
            double up = objective(z1, z2, c0, wc, wh, wh1);
            vars[v][i] = keep - step;
            double down = objective(z1, z2, c0, wc, wh, wh1);
            vars[v][i] = keep;
            double fd = (up - down) / (2.0 * step);
            ck_assert_msg(fabs(fd - grads[v][i]) < 2e-3, "var %d [%d]: fd %g analytic %g", v, i,
                          fd, grads[v][i]);
        }
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("lstm_cell");
    TCase *tc = tcase_create("lstm_cell");
    tcase_add_test(tc, forward_matches_definition);
    tcase_add_test(tc, backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return s;
}
