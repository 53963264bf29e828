/* Spatial LSTM: forward over the grid in raster order, backward in reverse raster order.
 * See priorsep/spatial_lstm.h. */
#include "priorsep/spatial_lstm.h"

#include <math.h>
#include <string.h>

#include "priorsep/gemm.h"

size_t spatial_lstm_param_count(int in, int hidden)
{
    return (size_t)(in + 2 * hidden + 1) * 5 * hidden;
}

static float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

void spatial_lstm_step(const spatial_lstm_dims *d, int p, const float *w_l, const float *w_u,
                       float *act, float *c, float *h)
{
    int W = d->width, B = d->batch, N = d->hidden, G = 5 * N;
    int i = p / W, j = p % W;
    float *a = act + (size_t)p * B * G;
    const float *c_left = j > 0 ? c + (size_t)(p - 1) * B * N : NULL;
    const float *c_up = i > 0 ? c + (size_t)(p - W) * B * N : NULL;
    if (c_left) ps_gemm(B, G, N, h + (size_t)(p - 1) * B * N, N, w_l, G, NULL, 1.0f, a, G);
    if (c_up) ps_gemm(B, G, N, h + (size_t)(p - W) * B * N, N, w_u, G, NULL, 1.0f, a, G);
    float *cp = c + (size_t)p * B * N, *hp = h + (size_t)p * B * N;
    for (int b = 0; b < B; b++) {
        float *g = a + (size_t)b * G, *o = g + N, *in = o + N, *fr = in + N, *fc = fr + N;
        for (int n = 0; n < N; n++) {
            g[n] = tanhf(g[n]);
            o[n] = sigmoidf(o[n]);
            in[n] = sigmoidf(in[n]);
            fr[n] = sigmoidf(fr[n]);
            fc[n] = sigmoidf(fc[n]);
            float cell = g[n] * in[n];
            if (c_left) cell += c_left[(size_t)b * N + n] * fc[n];
            if (c_up) cell += c_up[(size_t)b * N + n] * fr[n];
            cp[(size_t)b * N + n] = cell;
            hp[(size_t)b * N + n] = tanhf(cell * o[n]);
        }
    }
}

void spatial_lstm_forward(const spatial_lstm_dims *d, const float *x, const float *w_x,
                          const float *w_l, const float *w_u, const float *bias, float *act,
                          float *c, float *h)
{
    int G = 5 * d->hidden, P = d->height * d->width;
    /* The input part of every position at once: one product over all positions. */
    ps_gemm(P * d->batch, G, d->in, x, d->in, w_x, G, bias, 0.0f, act, G);
    for (int p = 0; p < P; p++) spatial_lstm_step(d, p, w_l, w_u, act, c, h);
}

void spatial_lstm_backward(const spatial_lstm_dims *d, const float *x, const float *w_x,
                           const float *w_l, const float *w_u, const float *act,
                           const float *c, const float *h, float *d_h, float *d_z,
                           float *d_c, float *d_x, float *d_w_x, float *d_w_l, float *d_w_u,
                           float *d_bias)
{
    int W = d->width, B = d->batch, K = d->in, N = d->hidden, G = 5 * N;
    int P = d->height * W;
    memset(d_c, 0, sizeof(float) * (size_t)P * B * N);
    for (int p = P - 1; p >= 0; p--) {
        int i = p / W, j = p % W;
        const float *a = act + (size_t)p * B * G;
        float *dz = d_z + (size_t)p * B * G;
        const float *cp = c + (size_t)p * B * N, *hp = h + (size_t)p * B * N;
        float *dhp = d_h + (size_t)p * B * N, *dcp = d_c + (size_t)p * B * N;
        const float *c_left = j > 0 ? c + (size_t)(p - 1) * B * N : NULL;
        const float *c_up = i > 0 ? c + (size_t)(p - W) * B * N : NULL;
        float *dc_left = j > 0 ? d_c + (size_t)(p - 1) * B * N : NULL;
        float *dc_up = i > 0 ? d_c + (size_t)(p - W) * B * N : NULL;
        for (int b = 0; b < B; b++) {
            const float *g = a + (size_t)b * G, *o = g + N, *in = o + N, *fr = in + N, *fc = fr + N;
            float *dg = dz + (size_t)b * G, *d_o = dg + N, *din = d_o + N, *dfr = din + N, *dfc = dfr + N;
            for (int n = 0; n < N; n++) {
                size_t k = (size_t)b * N + n;
                float hv = hp[k], cv = cp[k];
                float du = dhp[k] * (1.0f - hv * hv); /* through tanh(c * o) */
                float dc = dcp[k] + du * o[n];
                d_o[n] = du * cv * o[n] * (1.0f - o[n]);
                dg[n] = dc * in[n] * (1.0f - g[n] * g[n]);
                din[n] = dc * g[n] * in[n] * (1.0f - in[n]);
                float cl = c_left ? c_left[k] : 0.0f, cu = c_up ? c_up[k] : 0.0f;
                dfc[n] = dc * cl * fc[n] * (1.0f - fc[n]);
                dfr[n] = dc * cu * fr[n] * (1.0f - fr[n]);
                if (dc_left) dc_left[k] += dc * fc[n];
                if (dc_up) dc_up[k] += dc * fr[n];
            }
        }
        /* The neighbours' states fed this position's gates. */
        if (j > 0) {
            ps_gemm_nt(B, N, G, dz, G, w_l, G, 1.0f, d_h + (size_t)(p - 1) * B * N, N);
            ps_gemm_tn(N, G, B, h + (size_t)(p - 1) * B * N, N, dz, G, 1.0f, d_w_l, G);
        }
        if (i > 0) {
            ps_gemm_nt(B, N, G, dz, G, w_u, G, 1.0f, d_h + (size_t)(p - W) * B * N, N);
            ps_gemm_tn(N, G, B, h + (size_t)(p - W) * B * N, N, dz, G, 1.0f, d_w_u, G);
        }
    }
    /* The input part of every position at once. */
    ps_gemm_tn(K, G, P * B, x, K, d_z, G, 1.0f, d_w_x, G);
    if (d_x) ps_gemm_nt(P * B, K, G, d_z, G, w_x, G, 1.0f, d_x, K);
    for (size_t r = 0; r < (size_t)P * B; r++)
        for (int k = 0; k < G; k++) d_bias[k] += d_z[r * G + k];
}
