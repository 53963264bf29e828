/* The LSTM cell update, shared by the Row LSTM, the Diagonal BiLSTM, VRAE and the VQ-VAE's
 * prior over codes. The caller computes the pre-activations (input-to-state plus
 * state-to-state products, or convolutions for the row and diagonal LSTMs); the cell
 * turns them into the new cell and hidden states:
 *
 *   z row = [i | f | o | g] (4n values)   i, f, o = sigmoid, g = tanh
 *   c = f * c_prev + i * g,   h = o * tanh(c)
 *
 * T independent rows (images of a batch, positions of a row) are updated per call. */
#ifndef PRIORSEP_LSTM_CELL_H
#define PRIORSEP_LSTM_CELL_H

/* z: T rows of 4n; c_prev, c, h: T rows of n (c_prev may be NULL: zero state). */
void lstm_cell_forward(float *c, float *h, const float *z, const float *c_prev, int T, int n);

/* d_c: gradient reaching c from later steps (through their c_prev), d_h: gradient on h;
 * either may be NULL (zero). ADDS into d_z (T x 4n) and d_c_prev (T x n, may be NULL).
 * Reads the forward's z, c_prev and c. */
void lstm_cell_backward(float *d_z, float *d_c_prev, const float *d_c, const float *d_h,
                        const float *z, const float *c_prev, const float *c, int T, int n);

#endif
