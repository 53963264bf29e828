/* Row LSTM layer of PixelRNN (van den Oord et al. 2016, section 3.1): the image is
 * processed row by row from the top, every position of a row at once.
 *
 *   z[i] = K_is (*) x[i] + K_ss (*) h[i-1] + bias,   (c[i], h[i]) = lstm_cell(z[i], c[i-1])
 *
 * K_is is the input-to-state convolution along the row, kernel 3 with mask B: of its taps
 * (left, centre, right) the right one is masked to zero, so only the left and centre taps
 * are stored. It does not depend on the state and is computed for the whole map at once.
 * K_ss is the state-to-state convolution of kernel 3 over the previous row's hidden
 * states (left, centre, right). The cell is lstm_cell.h's, gates [i | f | o | g].
 * Each hidden state sees a triangle above it (the previous row widens by one position
 * each way per row), not every earlier pixel.
 *
 * Maps are position-major with the images of a batch innermost: [H][W][n][channels].
 * Weights: w_is [2][cin][4 hid] (taps left, centre), w_ss [3][hid][4 hid] (taps left,
 * centre, right), bias [4 hid]. */
#ifndef PRIORSEP_ROW_LSTM_H
#define PRIORSEP_ROW_LSTM_H
#include <stddef.h>

/* x [H][W][n][cin] -> h [H][W][n][hid]; also keeps z (4 hid per position) and c (hid)
 * for the backward pass. */
void row_lstm_forward(float *h, float *c, float *z, const float *x, int H, int W, int n,
                      int cin, int hid, const float *w_is, const float *w_ss, const float *bias);

/* Floats of the backward pass's work buffer. */
size_t row_lstm_work_floats(int H, int W, int n, int hid);

/* ADDS into d_x (may be NULL), d_w_is, d_w_ss, d_bias from d_h (the gradient on h);
 * reads the forward's x, h, c, z. */
void row_lstm_backward(float *d_x, float *d_w_is, float *d_w_ss, float *d_bias, const float *d_h,
                       const float *x, const float *h, const float *c, const float *z, int H,
                       int W, int n, int cin, int hid, const float *w_is, const float *w_ss,
                       float *work);

#endif
