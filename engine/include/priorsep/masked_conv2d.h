/* Masked 2-D convolution over a batch of single-plane images with channels: each output
 * pixel reads the input pixels at a fixed set of offsets (the taps the mask keeps),
 * zeros outside the image.
 *
 *   out[b][y][x] = bias + sum_t in[b][y + dy_t][x + dx_t] W_t
 *
 * Activations are [n][H][W][channels] (one row per pixel, channels contiguous); weights
 * [tap][cin][cout], only for the taps kept. The PixelCNN masks over a k x k kernel (raster
 * order, one input plane, so no colour-channel masks): mask A keeps the rows above the
 * centre and the pixels left of it (the first layer: a pixel never sees itself); mask B
 * also keeps the centre. The gated PixelCNN's stacks are rectangles of taps.
 *
 * Each tap is one matrix product over every pixel of the whole batch: the input is copied
 * into a zero-padded frame (`reach` pixels on every side of each image), where a tap is a
 * constant shift of the row index, so the product reads the shifted rows in place. */
#ifndef PRIORSEP_MASKED_CONV2D_H
#define PRIORSEP_MASKED_CONV2D_H
#include <stddef.h>

#define PS_CONV_MAX_TAPS 49

typedef struct ps_conv_taps {
    int count;
    int reach; /* max |dy|, |dx| over the taps: the padding */
    int dy[PS_CONV_MAX_TAPS], dx[PS_CONV_MAX_TAPS];
} ps_conv_taps;

/* The k x k PixelCNN mask (k odd, <= 7): mask A without the centre, mask B with it. */
ps_conv_taps ps_conv_taps_masked(int k, int include_centre);
/* Every offset with dy0 <= dy <= dy1 and dx0 <= dx <= dx1 (at most 49 of them). */
ps_conv_taps ps_conv_taps_rect(int dy0, int dy1, int dx0, int dx1);

/* Floats of scratch that the forward and the backward pass need. */
size_t masked_conv2d_scratch(int n, int H, int W, int cin, int cout, const ps_conv_taps *t);

/* out [n][H][W][cout]; with accumulate != 0 the result is added to out. bias may be
 * NULL. */
void masked_conv2d_forward(float *out, const float *in, int n, int H, int W, int cin,
                           int cout, const ps_conv_taps *t, const float *w, const float *bias,
                           int accumulate, float *scratch);

/* ADDS into d_in [n][H][W][cin], d_w [tap][cin][cout] and d_bias [cout]; any may be NULL.
 * `in` is the forward's input. */
void masked_conv2d_backward(float *d_in, float *d_w, float *d_bias, const float *d_out,
                            const float *in, int n, int H, int W, int cin, int cout,
                            const ps_conv_taps *t, const float *w, float *scratch);

#endif
