/* One tap of a 1-D convolution along a line of positions (a row of the Row LSTM, a
 * skewed column of the Diagonal BiLSTM): each position holds n rows (the images of a
 * batch) of channels, so one product covers every position and image the tap reaches. */
#ifndef PRIORSEP_LINE_TAP_H
#define PRIORSEP_LINE_TAP_H

/* out[p] += in[p + d] w  for the positions p = 0..len-1 with 0 <= p + d < len (the tap
 * reads zeros past the ends). in: len x n rows of cin, out: len x n rows of cout,
 * w [cin][cout]. */
void line_tap_forward(float *out, const float *in, int len, int n, int cin, int cout, int d,
                      const float *w);

/* ADDS d_in += d_out w^T and d_w += in^T d_out over the same positions; d_in or d_w may
 * be NULL. */
void line_tap_backward(float *d_in, float *d_w, const float *d_out, const float *in, int len,
                       int n, int cin, int cout, int d, const float *w);

#endif
