/* Layers as plain functions over float arrays with explicit sizes (time-major: one row
 * per time step, channels contiguous). Forward functions overwrite their output. Layers
 * with matrix products take the product to use: ps_gemm offline, ps_gemm_rt on
 * real-time paths. Weights are stored [in][out] (conv weights [tap][in][out]). */
#ifndef PRIORSEP_LAYERS_H
#define PRIORSEP_LAYERS_H
#include <stddef.h>

#include "priorsep/gemm.h"

/* Dilated causal 1-D convolution.
 *   out[t] = bias + sum_{j<kernel} W_j * in[t - (kernel-1-j)*dilation],  t = 0..T-1
 * `in` points at the row of time 0; the (kernel-1)*dilation rows *before* it must hold
 * the past (zeros at the start of a sequence, the cache when streaming). Rows of `in`
 * are `in_stride` floats apart (>= cin). w is [kernel][cin][cout], bias [cout]. */
void conv1d_forward(ps_gemm_fn gemm, float *out, const float *in, int in_stride, int T, int cin, int cout,
                    int kernel, int dilation, const float *w, const float *bias);

/* Dense layer on every row: out[t] = bias + in[t] W  (W is [cin][cout]); with
 * accumulate != 0 the result is added to out instead (bias may be NULL). */
void linear_forward(ps_gemm_fn gemm, float *out, int out_stride, const float *in, int in_stride, int T,
                    int cin, int cout, const float *w, const float *bias, int accumulate);

/* Gated activation: z rows hold [filter (c) | gate (c)]; g[t][i] = tanh(f) * sigmoid(g). */
void gate_forward(float *g, const float *z, int T, int c);

/* out = max(in, 0), elementwise over n values (in place allowed). */
void relu_forward(float *out, const float *in, size_t n);

/* ---- backward passes (offline products: ps_gemm_tn / ps_gemm_nt) ----
 * Each ADDS its gradients into the buffers it is given (callers zero them), mirrors the
 * forward's arguments, and reads the forward's input (or output, for the ReLU). */

/* d_out: T rows of cout (as conv1d_forward writes out). d_w [kernel][cin][cout],
 * d_bias [cout]. d_in points at time 0 and has the stride of `in`; like `in`, the
 * (kernel-1)*dilation rows before it receive gradient too (the caller provides them and
 * discards them where they were zero padding). Any of d_in, d_w, d_bias may be NULL. */
void conv1d_backward(float *d_in, float *d_w, float *d_bias, const float *d_out, const float *in,
                     int in_stride, int T, int cin, int cout, int kernel, int dilation,
                     const float *w);

/* d_w [cin][cout], d_bias [cout]; d_in, d_w, d_bias may be NULL. */
void linear_backward(float *d_in, int d_in_stride, float *d_w, float *d_bias, const float *d_out,
                     int d_out_stride, const float *in, int in_stride, int T, int cin, int cout,
                     const float *w);

/* d_z rows [filter | gate] (2c) from d_g rows (c) and the pre-activations z. */
void gate_backward(float *d_z, const float *d_g, const float *z, int T, int c);

/* d_in += d_out where out > 0 (out: the forward's output). */
void relu_backward(float *d_in, const float *d_out, const float *out, size_t n);

#endif
