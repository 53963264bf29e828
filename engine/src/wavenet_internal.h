/* Internals shared by the WaveNet's model, full-sequence and streaming code. */
#ifndef PRIORSEP_WAVENET_INTERNAL_H
#define PRIORSEP_WAVENET_INTERNAL_H
#include "priorsep/gemm.h"
#include "priorsep/wavenet.h"

/* Pointers into the parameter block. A second model of the same config serves as the
 * gradient block of the trainer, with the same names. */
typedef struct wavenet_layer {
    int dilation;
    float *conv_w, *conv_b; /* [kernel][R][2R], [2R] */
    float *cond_w;          /* [cond][2R], NULL without conditioning */
    float *res_w, *res_b;   /* [R][R], [R]; NULL on the last layer */
    float *skip_w, *skip_b; /* [R][S], [S] */
} wavenet_layer;

struct ps_wavenet {
    ps_wavenet_config cfg;
    int n_layers, out_dim;
    float *params;
    size_t n_params;
    float *input_w, *input_b;                   /* [input_kernel][1][R], [R] */
    float *head_w1, *head_b1, *head_w2, *head_b2; /* [S][H], [H], [H][O], [O] */
    wavenet_layer *layer;
    int n_tensors;
    ps_tensor_view *tensor;
    int *tensor_fan_in; /* fan-in per tensor, for initialization */
};

/* The steps of one forward pass, shared by both execution modes. Every `in` pointer
 * addresses time 0 with the past stored in the rows before it; `gemm` is the matrix
 * product to use (see gemm.h). */

/* zbias[2R] = conv bias + cond_w * cond (cond may be NULL when cfg.cond == 0). */
void wavenet_gate_bias(const ps_wavenet *net, int l, const float *cond, float *zbias);
/* x (1 channel, input_kernel-1 samples of past) -> h0 [T][R]. */
void wavenet_input_forward(ps_gemm_fn gemm, const ps_wavenet *net, const float *x, int T, float *h0);
/* Residual layer l: z = conv(h_in) + zbias, g = gate(z), skip (+)= W_s g + b_s (written
 * when l == 0, accumulated after), h_out = h_in + W_r g + b_r (not on the last layer). */
void wavenet_layer_forward(ps_gemm_fn gemm, const ps_wavenet *net, int l, const float *zbias,
                           const float *h_in, int T, float *z, float *g, float *skip,
                           float *h_out);
/* a1 = relu(skip) (may alias skip), a2 = relu(W1 a1 + b1), out = W2 a2 + b2. */
void wavenet_head_forward(ps_gemm_fn gemm, const ps_wavenet *net, const float *skip, int T, float *a1,
                          float *a2, float *out);

#endif
