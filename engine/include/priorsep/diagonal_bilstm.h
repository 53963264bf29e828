/* Diagonal BiLSTM layer of PixelRNN (van den Oord et al. 2016, section 3.2). Each of two
 * directions skews the input map (skew.h: row i shifted right by i) and runs an LSTM
 * along the skewed columns, i.e. the image's diagonals, all positions of a column at once:
 *
 *   z[j] = x_s[j] W_is + bias + K_ss (*) h[j-1],   (c[j], h[j]) = lstm_cell(z[j], c[j-1])
 *
 * W_is is the input-to-state 1x1 convolution (mask B: the position itself, whose
 * features never see its own pixel after the first mask-A layer); K_ss the 2x1
 * state-to-state convolution over the previous column: the same row (the pixel to the
 * left) and the row above (the pixel above). States of the skew's padding stay zero,
 * so every image edge starts from the zero state. The output is unskewed.
 *
 * Direction 0 runs left to right: its state at (i, c) has seen every position above and
 * to the left. Direction 1 runs right to left (on the mirrored map) and would see the
 * pixels to the right on the same row, so its output is shifted down one row before the
 * two are added: out(i, c) = h0(i, c) + h1(i - 1, c). Together they see every input
 * position of the rows above and those to the left on the row: the full receptive field
 * over the input map. (In PixelRNN, whose input map is the mask-A convolution of the
 * pixels, the last pixel of the row above appears only in features of the current row,
 * so it reaches position (i, c) only when it lies in the mask-A window of a position
 * (i, c' <= c), i.e. for c >= W - 4 with a 7x7 window.)
 *
 * Maps are position-major, images of a batch innermost: [H][W][n][channels]. Weights:
 * w_is [2][cin][4 hid], w_ss [2][2][hid][4 hid] (direction, tap: same row, row above),
 * bias [2][4 hid]. The cell is lstm_cell.h's, gates [i | f | o | g]. */
#ifndef PRIORSEP_DIAGONAL_BILSTM_H
#define PRIORSEP_DIAGONAL_BILSTM_H
#include <stddef.h>

/* Floats of the activations kept for the backward pass (z, c, h of both directions,
 * skewed) and of the work buffer both passes use. */
size_t diagonal_bilstm_act_floats(int H, int W, int n, int hid);
size_t diagonal_bilstm_work_floats(int H, int W, int n, int hid);

/* x [H][W][n][cin] -> out [H][W][n][hid]. */
void diagonal_bilstm_forward(float *out, float *act, const float *x, int H, int W, int n,
                             int cin, int hid, const float *w_is, const float *w_ss,
                             const float *bias, float *work);

/* ADDS into d_x (may be NULL), d_w_is, d_w_ss, d_bias from d_out; reads the forward's x
 * and act. */
void diagonal_bilstm_backward(float *d_x, float *d_w_is, float *d_w_ss, float *d_bias,
                              const float *d_out, const float *x, const float *act, int H,
                              int W, int n, int cin, int hid, const float *w_is,
                              const float *w_ss, float *work);

#endif
