/* Masked 2-D convolution: one matrix product per kept tap over a zero-padded frame.
 * See masked_conv2d.h. */
#include "priorsep/masked_conv2d.h"

#include <string.h>

#include "priorsep/gemm.h"

static void add_tap(ps_conv_taps *t, int dy, int dx)
{
    t->dy[t->count] = dy;
    t->dx[t->count] = dx;
    t->count++;
    int r = dy < 0 ? -dy : dy, c = dx < 0 ? -dx : dx;
    if (r > t->reach) t->reach = r;
    if (c > t->reach) t->reach = c;
}

ps_conv_taps ps_conv_taps_masked(int k, int include_centre)
{
    ps_conv_taps t = {0};
    int r = k / 2;
    for (int dy = -r; dy <= 0; dy++)
        for (int dx = -r; dx <= (dy < 0 ? r : include_centre ? 0 : -1); dx++) add_tap(&t, dy, dx);
    return t;
}

ps_conv_taps ps_conv_taps_rect(int dy0, int dy1, int dx0, int dx1)
{
    ps_conv_taps t = {0};
    for (int dy = dy0; dy <= dy1; dy++)
        for (int dx = dx0; dx <= dx1; dx++) add_tap(&t, dy, dx);
    return t;
}

/* The padded frame: each image padded by `reach` on all sides and stacked. Pixel
 * (b, y, x) is frame row b * frame + (y + r) * Wp + x + r, and the tap (dy, dx) reads
 * the row dy * Wp + dx further on, inside the same image's frame for every pixel. The
 * products run over the rows from the batch's first pixel to its last; the padding rows
 * in between give values that are never gathered. */
typedef struct frame_geom {
    int Wp;
    size_t frame; /* rows per image */
    int first, rows;
} frame_geom;

static frame_geom geometry(int n, int H, int W, int r)
{
    frame_geom g;
    g.Wp = W + 2 * r;
    g.frame = (size_t)(H + 2 * r) * g.Wp;
    g.first = r * g.Wp + r;
    int last = (int)((size_t)(n - 1) * g.frame) + (H - 1 + r) * g.Wp + W - 1 + r;
    g.rows = last - g.first + 1;
    return g;
}

static float *pixel_row(float *pad, const frame_geom *g, int b, int y, int r, int c)
{
    return pad + ((size_t)b * g->frame + (size_t)(y + r) * g->Wp + r) * c;
}

static void scatter(float *pad, const float *x, int n, int H, int W, int c, int r,
                    const frame_geom *g)
{
    memset(pad, 0, (size_t)n * g->frame * c * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int y = 0; y < H; y++)
            memcpy(pixel_row(pad, g, b, y, r, c), x + ((size_t)b * H + y) * W * c,
                   (size_t)W * c * sizeof(float));
}

static void gather(float *x, float *pad, int n, int H, int W, int c, int r, const frame_geom *g,
                   int accumulate)
{
    size_t len = (size_t)W * c;
    for (int b = 0; b < n; b++)
        for (int y = 0; y < H; y++) {
            float *dst = x + ((size_t)b * H + y) * len;
            const float *src = pixel_row(pad, g, b, y, r, c);
            if (accumulate)
                for (size_t i = 0; i < len; i++) dst[i] += src[i];
            else
                memcpy(dst, src, len * sizeof(float));
        }
}

size_t masked_conv2d_scratch(int n, int H, int W, int cin, int cout, const ps_conv_taps *t)
{
    frame_geom g = geometry(n, H, W, t->reach);
    return (size_t)n * g.frame * (2 * (size_t)cin + cout);
}

void masked_conv2d_forward(float *out, const float *in, int n, int H, int W, int cin,
                           int cout, const ps_conv_taps *t, const float *w, const float *bias,
                           int accumulate, float *scratch)
{
    int r = t->reach;
    frame_geom g = geometry(n, H, W, r);
    float *in_pad = scratch, *out_pad = scratch + (size_t)n * g.frame * cin;
    scatter(in_pad, in, n, H, W, cin, r, &g);
    for (int k = 0; k < t->count; k++) {
        int shift = t->dy[k] * g.Wp + t->dx[k];
        ps_gemm(g.rows, cout, cin, in_pad + (size_t)(g.first + shift) * cin, cin,
                w + (size_t)k * cin * cout, cout, k == 0 ? bias : NULL, k == 0 ? 0.0f : 1.0f,
                out_pad + (size_t)g.first * cout, cout);
    }
    gather(out, out_pad, n, H, W, cout, r, &g, accumulate);
}

void masked_conv2d_backward(float *d_in, float *d_w, float *d_bias, const float *d_out,
                            const float *in, int n, int H, int W, int cin, int cout,
                            const ps_conv_taps *t, const float *w, float *scratch)
{
    int r = t->reach;
    frame_geom g = geometry(n, H, W, r);
    size_t cells = (size_t)n * g.frame;
    float *in_pad = scratch, *dout_pad = in_pad + cells * cin, *din_pad = dout_pad + cells * cout;
    scatter(dout_pad, d_out, n, H, W, cout, r, &g); /* zero on the padding: no gradient there */
    if (d_w) scatter(in_pad, in, n, H, W, cin, r, &g);
    if (d_in) memset(din_pad, 0, cells * cin * sizeof(float));
    for (int k = 0; k < t->count; k++) {
        int shift = t->dy[k] * g.Wp + t->dx[k];
        const float *dy = dout_pad + (size_t)g.first * cout;
        if (d_w)
            ps_gemm_tn(cin, cout, g.rows, in_pad + (size_t)(g.first + shift) * cin, cin, dy, cout,
                       1.0f, d_w + (size_t)k * cin * cout, cout);
        if (d_in)
            ps_gemm_nt(g.rows, cin, cout, dy, cout, w + (size_t)k * cin * cout, cout, 1.0f,
                       din_pad + (size_t)(g.first + shift) * cin, cin);
    }
    if (d_in) gather(d_in, din_pad, n, H, W, cin, r, &g, 1);
    if (d_bias)
        for (size_t p = 0; p < (size_t)n * H * W; p++)
            for (int o = 0; o < cout; o++) d_bias[o] += d_out[p * cout + o];
}
