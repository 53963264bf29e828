/* One layer of the gated PixelCNN (van den Oord et al. 2016, "Conditional Image
 * Generation with PixelCNN Decoders"): two stacks that together see every pixel above
 * and to the left, so the receptive field has no blind spot.
 *
 *   vertical    zv = Vconv(v_in)               taps rows y-r..y, columns x-r..x+r
 *               v  = tanh(zv_f) * sigmoid(zv_g)
 *   horizontal  zh = Hconv(h_in) + Link(zv)    Hconv: row y, columns x-r..x (the first
 *                                              layer x-r..x-1: a pixel never sees itself);
 *                                              Link: 1x1 on zv one row up (the shift down
 *                                              that keeps row y out of the horizontal stack)
 *               h  = h_in + gate(zh) Wo + bo   (no residual in the first layer)
 *
 * with r = k/2. The vertical stack reads row y itself but reaches the horizontal stack only
 * through the shifted link, so h at (y, x) depends on rows above y and on pixels left of x
 * in row y, never on (y, x) or anything after it. Activations [n][H][W][channels]; z rows
 * are [filter (c) | gate (c)]. */
#ifndef PRIORSEP_GATED_PIXELCNN_LAYER_H
#define PRIORSEP_GATED_PIXELCNN_LAYER_H
#include <stddef.h>

#include "priorsep/masked_conv2d.h"

typedef struct ps_gated_layer {
    int cin, c; /* input channels (the image plane's 1 in the first layer), channels */
    int first;  /* mask A horizontally, no residual */
    ps_conv_taps vtaps, htaps, link;
} ps_gated_layer;

/* Parameters (gradients use the same layout): wv [vtaps][cin][2c], bv [2c],
 * wh [htaps][cin][2c], bh [2c], wl [2c][2c], wo [c][c], bo [c]. */
typedef struct ps_gated_weights {
    float *wv, *bv, *wh, *bh, *wl, *wo, *bo;
} ps_gated_weights;

/* What the backward pass reads of the forward: zv, zh [P][2c], g = gate(zh) [P][c], and
 * the outputs v, h [P][c] (P = n H W). */
typedef struct ps_gated_acts {
    float *zv, *zh, *g, *v, *h;
} ps_gated_acts;

/* k odd, <= 7; first: cin may differ from c. */
ps_gated_layer gated_layer_make(int cin, int c, int k, int first);
size_t gated_layer_param_count(const ps_gated_layer *L);
/* Points w into block (param_count floats). */
void gated_layer_bind(const ps_gated_layer *L, float *block, ps_gated_weights *w);
/* Floats per image pixel of an ps_gated_acts, and of scratch for n images of H x W. */
size_t gated_layer_acts_per_pixel(const ps_gated_layer *L);
size_t gated_layer_scratch(const ps_gated_layer *L, int n, int H, int W);
/* Carves acts from `mem` (acts_per_pixel * P floats). */
void gated_layer_acts(const ps_gated_layer *L, size_t P, float *mem, ps_gated_acts *a);

void gated_layer_forward(const ps_gated_layer *L, const ps_gated_weights *w, int n, int H,
                         int W, const float *v_in, const float *h_in, ps_gated_acts *a,
                         float *scratch);

/* ADDS into dw and into d_v_in / d_h_in (either may be NULL, as may d_v for a last
 * layer whose vertical output feeds nothing). */
void gated_layer_backward(const ps_gated_layer *L, const ps_gated_weights *w,
                          const ps_gated_weights *dw, int n, int H, int W, const float *v_in,
                          const float *h_in, const ps_gated_acts *a, const float *d_v,
                          const float *d_h, float *d_v_in, float *d_h_in, float *scratch);

#endif
