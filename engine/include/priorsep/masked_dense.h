/* Masked dense layer (MADE): a dense layer whose weight matrix is multiplied elementwise
 * by a 0/1 mask, so that chosen inputs cannot reach chosen outputs.
 *
 *   out[t] = bias + in[t] (W ⊙ M)        W, M: [cin][cout], rows of in: cin, of out: cout
 *
 * The masked product W ⊙ M is formed once into a scratch matrix (masked_dense_weights)
 * and then serves every row of a batch in one ps_gemm, and the backward pass too: the
 * mask changes rarely (once per batch at most) while the rows are many. */
#ifndef PRIORSEP_MASKED_DENSE_H
#define PRIORSEP_MASKED_DENSE_H

/* wm = w ⊙ mask, cin x cout. */
void masked_dense_weights(float *wm, const float *w, const float *mask, int cin, int cout);

/* out = bias + in wm for T rows (bias may be NULL); with accumulate != 0 the result is
 * added to out instead. wm from masked_dense_weights. */
void masked_dense_forward(float *out, const float *in, int T, int cin, int cout, const float *wm,
                          const float *bias, int accumulate);

/* ADDS into the buffers given (any of d_in, d_w, d_bias may be NULL):
 *   d_in   += d_out wm^T                       [T][cin]
 *   d_w    += mask ⊙ (in^T d_out)              [cin][cout], masked: a weight the mask
 *                                               removes gets no gradient
 *   d_bias += sum over rows of d_out           [cout]
 * scratch holds cin * cout floats (in^T d_out before masking; needed only with d_w). */
void masked_dense_backward(float *d_in, float *d_w, float *d_bias, float *scratch,
                           const float *d_out, const float *in, int T, int cin, int cout,
                           const float *wm, const float *mask);

#endif
