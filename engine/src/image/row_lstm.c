/* Row LSTM layer; see row_lstm.h. */
#include "priorsep/row_lstm.h"

#include <string.h>

#include "line_tap.h"
#include "priorsep/gemm.h"
#include "priorsep/lstm_cell.h"

void row_lstm_forward(float *h, float *c, float *z, const float *x, int H, int W, int n,
                      int cin, int hid, const float *w_is, const float *w_ss, const float *bias)
{
    size_t P = (size_t)W * n, G = 4 * (size_t)hid;
    /* input-to-state: the centre tap is one product over the map, the left tap one per row
     * (it must not reach into the previous row) */
    ps_gemm(H * (int)P, (int)G, cin, x, cin, w_is + cin * G, (int)G, bias, 0.0f, z, (int)G);
    for (int i = 0; i < H; i++)
        line_tap_forward(z + i * P * G, x + i * P * cin, W, n, cin, (int)G, -1, w_is);
    for (int i = 0; i < H; i++) {
        float *zi = z + i * P * G;
        if (i > 0)
            for (int d = -1; d <= 1; d++)
                line_tap_forward(zi, h + (i - 1) * P * hid, W, n, hid, (int)G, d,
                                 w_ss + (d + 1) * hid * G);
        lstm_cell_forward(c + i * P * hid, h + i * P * hid, zi, i > 0 ? c + (i - 1) * P * hid : NULL,
                          (int)P, hid);
    }
}

size_t row_lstm_work_floats(int H, int W, int n, int hid)
{
    return (size_t)H * W * n * 6 * hid;
}

void row_lstm_backward(float *d_x, float *d_w_is, float *d_w_ss, float *d_bias, const float *d_h,
                       const float *x, const float *h, const float *c, const float *z, int H,
                       int W, int n, int cin, int hid, const float *w_is, const float *w_ss,
                       float *work)
{
    size_t P = (size_t)W * n, G = 4 * (size_t)hid, N = H * P;
    /* dz: gradient on z; dh: on h, the caller's plus what the next row sends back; dc: on
     * c, from the next row through its c_prev */
    float *dz = work, *dh = dz + N * G, *dc = dh + N * hid;
    memset(dz, 0, N * G * sizeof(float));
    memcpy(dh, d_h, N * hid * sizeof(float));
    memset(dc, 0, N * hid * sizeof(float));
    for (int i = H - 1; i >= 0; i--) {
        float *dzi = dz + i * P * G;
        const float *c_prev = i > 0 ? c + (i - 1) * P * hid : NULL;
        lstm_cell_backward(dzi, i > 0 ? dc + (i - 1) * P * hid : NULL, dc + i * P * hid,
                           dh + i * P * hid, z + i * P * G, c_prev, c + i * P * hid, (int)P, hid);
        if (i > 0)
            for (int d = -1; d <= 1; d++)
                line_tap_backward(dh + (i - 1) * P * hid, d_w_ss + (d + 1) * hid * G, dzi,
                                  h + (i - 1) * P * hid, W, n, hid, (int)G, d,
                                  w_ss + (d + 1) * hid * G);
    }
    line_tap_backward(d_x, d_w_is + cin * G, dz, x, H * W, n, cin, (int)G, 0, w_is + cin * G);
    for (int i = 0; i < H; i++)
        line_tap_backward(d_x ? d_x + i * P * cin : NULL, d_w_is, dz + i * P * G, x + i * P * cin,
                          W, n, cin, (int)G, -1, w_is);
    for (size_t r = 0; r < N; r++)
        for (size_t k = 0; k < G; k++) d_bias[k] += dz[r * G + k];
}
