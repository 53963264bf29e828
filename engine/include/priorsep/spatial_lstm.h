/* Spatial (2-D) LSTM (RIDE, after Graves and Schmidhuber's multi-dimensional RNNs): one
 * cell per pixel, run over the image in raster order, each cell fed by the pixel's input
 * features and by the states of its left and upper neighbours:
 *
 *   (g, o, i, f_r, f_c) = (tanh, sigma, sigma, sigma, sigma)(W_x x_ij + W_l h_{i,j-1}
 *                                                           + W_u h_{i-1,j} + b)
 *   c_ij = g * i + c_{i,j-1} * f_c + c_{i-1,j} * f_r
 *   h_ij = tanh(c_ij * o)
 *
 * with zero states outside the image. h_ij depends on x at (i, j) and at every position
 * before it in raster order that is above or left of it, so feeding the cell the causal
 * neighbourhood of pixel (i, j) (pixels strictly before it) keeps a model autoregressive.
 *
 * Layout: position-major. Arrays of per-position vectors are [H*W][B][dim]: position
 * p = i*W + j, then the B images of the batch, so each position's recurrent product is
 * one gemm over the batch. Gate pre-activations and activations are ordered
 * (g, o, i, f_r, f_c), each block N wide. */
#ifndef PRIORSEP_SPATIAL_LSTM_H
#define PRIORSEP_SPATIAL_LSTM_H
#include <stddef.h>

typedef struct spatial_lstm_dims {
    int height, width, batch;
    int in, hidden; /* K input features per position, N state units */
} spatial_lstm_dims;

/* Weights: w_x [K x 5N], w_l [N x 5N] (left state), w_u [N x 5N] (upper state),
 * bias [5N]. */
size_t spatial_lstm_param_count(int in, int hidden);

/* x [HW][B][K]; writes act [HW][B][5N] (gate activations, kept for backward), c and h
 * [HW][B][N]. */
void spatial_lstm_forward(const spatial_lstm_dims *d, const float *x, const float *w_x,
                          const float *w_l, const float *w_u, const float *bias, float *act,
                          float *c, float *h);

/* One position p of the forward pass, for callers that produce the input as they go
 * (sampling): act at p must hold the input part W_x x_p + b; adds the neighbours' part,
 * applies the gates and writes c and h at p. Positions before p must be done. */
void spatial_lstm_step(const spatial_lstm_dims *d, int p, const float *w_l, const float *w_u,
                       float *act, float *c, float *h);

/* Backpropagation through the whole grid in reverse raster order. d_h [HW][B][N] holds
 * dL/dh from outside the layer on entry and is used in place to gather the recurrent
 * contributions (its content on return is the total gradient per state). ADDS into
 * d_w_x, d_w_l, d_w_u, d_bias and (unless NULL) d_x [HW][B][K]. Scratch: d_z
 * [HW][B][5N], d_c [HW][B][N] (overwritten). */
void spatial_lstm_backward(const spatial_lstm_dims *d, const float *x, const float *w_x,
                           const float *w_l, const float *w_u, const float *act,
                           const float *c, const float *h, float *d_h, float *d_z,
                           float *d_c, float *d_x, float *d_w_x, float *d_w_l, float *d_w_u,
                           float *d_bias);

#endif
