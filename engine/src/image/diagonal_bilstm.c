/* Diagonal BiLSTM layer; see diagonal_bilstm.h. */
#include "priorsep/diagonal_bilstm.h"

#include <string.h>

#include "line_tap.h"
#include "priorsep/gemm.h"
#include "priorsep/lstm_cell.h"
#include "priorsep/skew.h"

/* Sizes of one direction's skewed maps, in floats per channel. */
static size_t skewed_positions(int H, int W, int n) { return (size_t)(W + H - 1) * H * n; }

size_t diagonal_bilstm_act_floats(int H, int W, int n, int hid)
{
    return 2 * skewed_positions(H, W, n) * 6 * hid;
}

size_t diagonal_bilstm_work_floats(int H, int W, int n, int hid)
{
    return (size_t)H * W * n * 5 * hid + skewed_positions(H, W, n) * 6 * hid;
}

/* Rows of skewed column j that hold an image position (the rest is padding). */
static void valid_rows(int j, int H, int W, int *i0, int *i1)
{
    *i0 = j - W + 1 > 0 ? j - W + 1 : 0;
    *i1 = j < H - 1 ? j : H - 1;
}

/* Where one direction's skewed z, c and h lie within act. */
typedef struct {
    size_t z, c, h;
} direction_offsets;

static direction_offsets direction(int dir, int H, int W, int n, int hid)
{
    size_t S = skewed_positions(H, W, n), base = dir * S * 6 * hid;
    return (direction_offsets){base, base + S * 4 * hid, base + S * 5 * hid};
}

static void direction_forward(float *act, const float *x, int dir, int H, int W, int n,
                              int cin, int hid, const float *w_is, const float *w_ss,
                              const float *bias, float *z_plain)
{
    size_t G = 4 * (size_t)hid, col = (size_t)H * n, S = skewed_positions(H, W, n);
    direction_offsets o = direction(dir, H, W, n, hid);
    struct {
        float *z, *c, *h;
    } a = {act + o.z, act + o.c, act + o.h};
    ps_gemm(H * W * n, (int)G, cin, x, cin, w_is, (int)G, bias, 0.0f, z_plain, (int)G);
    skew_forward(a.z, z_plain, H, W, n * (int)G, dir);
    memset(a.c, 0, S * hid * sizeof(float));
    memset(a.h, 0, S * hid * sizeof(float));
    for (int j = 0; j < W + H - 1; j++) {
        int i0, i1;
        valid_rows(j, H, W, &i0, &i1);
        float *zc = a.z + j * col * G;
        if (j > 0) {
            const float *hp = a.h + (j - 1) * col * hid;
            /* same row (the position to the left); the row above, from one row earlier
             * so that the first valid row gets its upper neighbour */
            int above = i0 > 0 ? i0 - 1 : 0;
            line_tap_forward(zc + i0 * n * G, hp + i0 * n * hid, i1 - i0 + 1, n, hid, (int)G, 0, w_ss);
            line_tap_forward(zc + above * n * G, hp + above * n * hid, i1 - above + 1, n, hid,
                             (int)G, -1, w_ss + hid * G);
        }
        size_t at = (j * col + i0 * n) * hid;
        lstm_cell_forward(a.c + at, a.h + at, zc + i0 * n * G, j > 0 ? a.c + at - col * hid : NULL,
                          (i1 - i0 + 1) * n, hid);
    }
}

void diagonal_bilstm_forward(float *out, float *act, const float *x, int H, int W, int n,
                             int cin, int hid, const float *w_is, const float *w_ss,
                             const float *bias, float *work)
{
    size_t G = 4 * (size_t)hid, plain = (size_t)H * W * n, row = (size_t)W * n * hid;
    float *z_plain = work, *h1 = work + plain * G;
    for (int dir = 0; dir < 2; dir++)
        direction_forward(act, x, dir, H, W, n, cin, hid,
                          w_is + dir * cin * G, w_ss + dir * 2 * hid * G, bias + dir * G, z_plain);
    unskew_forward(out, act + direction(0, H, W, n, hid).h, H, W, n * hid, 0);
    unskew_forward(h1, act + direction(1, H, W, n, hid).h, H, W, n * hid, 1);
    for (size_t k = 0; k < (H - 1) * row; k++) out[row + k] += h1[k];
}

static void direction_backward(float *d_x, float *d_w_is, float *d_w_ss, float *d_bias,
                               const float *d_h_plain, const float *act, const float *x, int dir,
                               int H, int W, int n, int cin, int hid, const float *w_is,
                               const float *w_ss, float *work)
{
    size_t G = 4 * (size_t)hid, col = (size_t)H * n, S = skewed_positions(H, W, n);
    size_t plain = (size_t)H * W * n;
    direction_offsets o = direction(dir, H, W, n, hid);
    struct {
        const float *z, *c, *h;
    } a = {act + o.z, act + o.c, act + o.h};
    float *dz_plain = work, *dz = dz_plain + plain * G, *dh = dz + S * G, *dc = dh + S * hid;
    memset(dz, 0, S * G * sizeof(float));
    memset(dh, 0, S * hid * sizeof(float));
    memset(dc, 0, S * hid * sizeof(float));
    unskew_backward(dh, d_h_plain, H, W, n * hid, dir);
    for (int j = W + H - 2; j >= 0; j--) {
        int i0, i1;
        valid_rows(j, H, W, &i0, &i1);
        size_t at = (j * col + i0 * n) * hid;
        float *dzc = dz + j * col * G;
        lstm_cell_backward(dzc + i0 * n * G, j > 0 ? dc + at - col * hid : NULL, dc + at, dh + at,
                           a.z + j * col * G + i0 * n * G, j > 0 ? a.c + at - col * hid : NULL,
                           a.c + at, (i1 - i0 + 1) * n, hid);
        if (j > 0) {
            int above = i0 > 0 ? i0 - 1 : 0;
            float *dhp = dh + (j - 1) * col * hid;
            const float *hp = a.h + (j - 1) * col * hid;
            line_tap_backward(dhp + i0 * n * hid, d_w_ss, dzc + i0 * n * G, hp + i0 * n * hid,
                              i1 - i0 + 1, n, hid, (int)G, 0, w_ss);
            line_tap_backward(dhp + above * n * hid, d_w_ss + hid * G, dzc + above * n * G,
                              hp + above * n * hid, i1 - above + 1, n, hid, (int)G, -1,
                              w_ss + hid * G);
        }
    }
    memset(dz_plain, 0, plain * G * sizeof(float));
    skew_backward(dz_plain, dz, H, W, n * (int)G, dir);
    line_tap_backward(d_x, d_w_is, dz_plain, x, H * W, n, cin, (int)G, 0, w_is);
    for (size_t r = 0; r < plain; r++)
        for (size_t k = 0; k < G; k++) d_bias[k] += dz_plain[r * G + k];
}

void diagonal_bilstm_backward(float *d_x, float *d_w_is, float *d_w_ss, float *d_bias,
                              const float *d_out, const float *x, const float *act, int H,
                              int W, int n, int cin, int hid, const float *w_is,
                              const float *w_ss, float *work)
{
    size_t G = 4 * (size_t)hid, plain = (size_t)H * W * n, row = (size_t)W * n * hid;
    /* direction 1's output was shifted down one row: its gradient is d_out moved up, and
     * its last row reached nothing */
    float *d_h1 = work, *rest = work + plain * hid;
    memcpy(d_h1, d_out + row, (H - 1) * row * sizeof(float));
    memset(d_h1 + (H - 1) * row, 0, row * sizeof(float));
    direction_backward(d_x, d_w_is, d_w_ss, d_bias, d_out, act, x, 0,
                       H, W, n, cin, hid, w_is, w_ss, rest);
    direction_backward(d_x, d_w_is + cin * G, d_w_ss + 2 * hid * G, d_bias + G, d_h1,
                       act, x, 1, H, W, n, cin, hid, w_is + cin * G,
                       w_ss + 2 * hid * G, rest);
}
