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

#endif
