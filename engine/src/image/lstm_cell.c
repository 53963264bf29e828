/* The LSTM cell update; see lstm_cell.h. */
#include "priorsep/lstm_cell.h"

#include <math.h>
#include <stddef.h>

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

void lstm_cell_forward(float *c, float *h, const float *z, const float *c_prev, int T, int n)
{
    for (int t = 0; t < T; t++) {
        const float *zt = z + (size_t)t * 4 * n;
        for (int k = 0; k < n; k++) {
            float i = sigmoid(zt[k]), f = sigmoid(zt[n + k]), o = sigmoid(zt[2 * n + k]);
            float g = tanhf(zt[3 * n + k]);
            float cp = c_prev ? c_prev[(size_t)t * n + k] : 0.0f;
            float ct = f * cp + i * g;
            c[(size_t)t * n + k] = ct;
            h[(size_t)t * n + k] = o * tanhf(ct);
        }
    }
}

void lstm_cell_backward(float *d_z, float *d_c_prev, const float *d_c, const float *d_h,
                        const float *z, const float *c_prev, const float *c, int T, int n)
{
    for (int t = 0; t < T; t++) {
        const float *zt = z + (size_t)t * 4 * n;
        float *dzt = d_z + (size_t)t * 4 * n;
        for (int k = 0; k < n; k++) {
            size_t r = (size_t)t * n + k;
            float i = sigmoid(zt[k]), f = sigmoid(zt[n + k]), o = sigmoid(zt[2 * n + k]);
            float g = tanhf(zt[3 * n + k]);
            float cp = c_prev ? c_prev[r] : 0.0f, tc = tanhf(c[r]);
            float dh = d_h ? d_h[r] : 0.0f;
            float dc = (d_c ? d_c[r] : 0.0f) + dh * o * (1.0f - tc * tc);
            dzt[k] += dc * g * i * (1.0f - i);
            dzt[n + k] += dc * cp * f * (1.0f - f);
            dzt[2 * n + k] += dh * tc * o * (1.0f - o);
            dzt[3 * n + k] += dc * i * (1.0f - g * g);
            if (d_c_prev) d_c_prev[r] += dc * f;
        }
    }
}
