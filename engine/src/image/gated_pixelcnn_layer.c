/* One gated PixelCNN layer: vertical and horizontal stacks. See gated_pixelcnn_layer.h. */
#include "priorsep/gated_pixelcnn_layer.h"

#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/layers.h"

ps_gated_layer gated_layer_make(int cin, int c, int k, int first)
{
    int r = k / 2;
    return (ps_gated_layer){.cin = cin, .c = c, .first = first,
                            .vtaps = ps_conv_taps_rect(-r, 0, -r, r),
                            .htaps = ps_conv_taps_rect(0, 0, -r, first ? -1 : 0),
                            .link = ps_conv_taps_rect(-1, -1, 0, 0)};
}

size_t gated_layer_param_count(const ps_gated_layer *L)
{
    size_t c2 = 2 * (size_t)L->c;
    return (size_t)L->vtaps.count * L->cin * c2 + c2 + (size_t)L->htaps.count * L->cin * c2 + c2 +
           c2 * c2 + (size_t)L->c * L->c + L->c;
}

void gated_layer_bind(const ps_gated_layer *L, float *p, ps_gated_weights *w)
{
    size_t c2 = 2 * (size_t)L->c;
    w->wv = p, p += (size_t)L->vtaps.count * L->cin * c2;
    w->bv = p, p += c2;
    w->wh = p, p += (size_t)L->htaps.count * L->cin * c2;
    w->bh = p, p += c2;
    w->wl = p, p += c2 * c2;
    w->wo = p, p += (size_t)L->c * L->c;
    w->bo = p;
}

size_t gated_layer_acts_per_pixel(const ps_gated_layer *L) { return 7 * (size_t)L->c; }

void gated_layer_acts(const ps_gated_layer *L, size_t P, float *mem, ps_gated_acts *a)
{
    size_t c = (size_t)L->c;
    a->zv = mem, mem += P * 2 * c;
    a->zh = mem, mem += P * 2 * c;
    a->g = mem, mem += P * c;
    a->v = mem, mem += P * c;
    a->h = mem;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* The backward's temporaries d_g [P][c], d_zh and d_zv [P][2c], then the convolutions'
 * scratch (one at a time). */
size_t gated_layer_scratch(const ps_gated_layer *L, int n, int H, int W)
{
    int c2 = 2 * L->c;
    size_t conv = max_size(masked_conv2d_scratch(n, H, W, L->cin, c2, &L->vtaps),
                           max_size(masked_conv2d_scratch(n, H, W, L->cin, c2, &L->htaps),
                                    masked_conv2d_scratch(n, H, W, c2, c2, &L->link)));
    return (size_t)n * H * W * 5 * L->c + conv;
}

void gated_layer_forward(const ps_gated_layer *L, const ps_gated_weights *w, int n, int H,
                         int W, const float *v_in, const float *h_in, ps_gated_acts *a,
                         float *scratch)
{
    int c = L->c, c2 = 2 * c, P = n * H * W;
    masked_conv2d_forward(a->zv, v_in, n, H, W, L->cin, c2, &L->vtaps, w->wv, w->bv, 0, scratch);
    gate_forward(a->v, a->zv, P, c);
    masked_conv2d_forward(a->zh, h_in, n, H, W, L->cin, c2, &L->htaps, w->wh, w->bh, 0, scratch);
    masked_conv2d_forward(a->zh, a->zv, n, H, W, c2, c2, &L->link, w->wl, NULL, 1, scratch);
    gate_forward(a->g, a->zh, P, c);
    if (!L->first) memcpy(a->h, h_in, (size_t)P * c * sizeof(float));
    linear_forward(ps_gemm, a->h, c, a->g, c, P, c, c, w->wo, w->bo, !L->first);
}

void gated_layer_backward(const ps_gated_layer *L, const ps_gated_weights *w,
                          const ps_gated_weights *dw, int n, int H, int W, const float *v_in,
                          const float *h_in, const ps_gated_acts *a, const float *d_v,
                          const float *d_h, float *d_v_in, float *d_h_in, float *scratch)
{
    int c = L->c, c2 = 2 * c;
    size_t P = (size_t)n * H * W;
    float *d_g = scratch, *d_zh = d_g + P * c, *d_zv = d_zh + P * c2, *conv = d_zv + P * c2;
    memset(d_g, 0, P * 5 * c * sizeof(float));
    /* h = [h_in +] g Wo + bo */
    linear_backward(d_g, c, dw->wo, dw->bo, d_h, c, a->g, c, (int)P, c, c, w->wo);
    if (!L->first && d_h_in)
        for (size_t i = 0; i < P * c; i++) d_h_in[i] += d_h[i];
    gate_backward(d_zh, d_g, a->zh, (int)P, c);
    /* zh = Hconv(h_in) + Link(zv) */
    masked_conv2d_backward(d_zv, dw->wl, NULL, d_zh, a->zv, n, H, W, c2, c2, &L->link, w->wl, conv);
    masked_conv2d_backward(d_h_in, dw->wh, dw->bh, d_zh, h_in, n, H, W, L->cin, c2, &L->htaps,
                           w->wh, conv);
    /* v = gate(zv), zv = Vconv(v_in) */
    if (d_v) gate_backward(d_zv, d_v, a->zv, (int)P, c);
    masked_conv2d_backward(d_v_in, dw->wv, dw->bv, d_zv, v_in, n, H, W, L->cin, c2, &L->vtaps,
                           w->wv, conv);
}
