/* An autoregressive prior over a grid of G discrete codes (values 0..K-1) in raster order:
 * the VQ-VAE's prior. An LSTM of H units reads the previous code (a start symbol at t = 0)
 * and the position; a dense layer gives the K logits of p(z_t | z_<t):
 *
 *   pre_t = W_in[z_{t-1}] + W_pos[t] + h_{t-1} W_rec     (4H values, gates [i|f|o|g])
 *   c_t, h_t = lstm_cell(pre_t, c_{t-1}),   logits_t = h_t W_out + b_out
 *
 * The code of step t enters only from step t + 1 on, so p(z_t | z_<t) is autoregressive
 * by construction. Parameters (one block): W_in (K+1) x 4H (row K: the start symbol),
 * W_pos G x 4H (the position, and the gates' bias), W_rec H x 4H, W_out H x K, b_out K.
 * Codes are image-major (codes[b * G + t]); activations are time-major ([t][b][...]) so
 * that each step is one product over all n grids. */
#ifndef PRIORSEP_CODE_PRIOR_H
#define PRIORSEP_CODE_PRIOR_H
#include <stddef.h>

#include "priorsep/rng.h"

typedef struct code_prior {
    int K, G, H;
    float *w_in, *w_pos, *w_rec, *w_out, *b_out;
} code_prior;

size_t code_prior_param_count(int K, int G, int H);
/* Points p's tensors into block (code_prior_param_count floats). */
void code_prior_bind(code_prior *p, float *block, int K, int G, int H);
void code_prior_init(code_prior *p, ps_rng *rng);

/* Activations and backward scratch for up to `cap` grids. */
typedef struct code_prior_buffers {
    int cap;
    float *pre, *c, *h, *logits;    /* G x cap x {4H, H, H, K} */
    float *d_logits, *d_h;          /* G x cap x {K, H} */
    float *d_pre, *d_c, *d_c_prev;  /* cap x {4H, H, H} */
} code_prior_buffers;

int code_prior_buffers_alloc(code_prior_buffers *b, const code_prior *p, int cap);
void code_prior_buffers_free(code_prior_buffers *b);

/* Teacher-forced pass over n <= b->cap grids. Returns sum of -log p(codes) in nats;
 * nll[i] (may be NULL) gets grid i's. Leaves the logits of every step in b->logits. */
double code_prior_forward(const code_prior *p, const int *codes, int n, code_prior_buffers *b,
                          double *nll);

/* ADDS scale times the gradient of the forward's total into g (a code_prior bound to the
 * gradient block). Reads the activations of the last code_prior_forward on these codes. */
void code_prior_backward(const code_prior *p, const code_prior *g, const int *codes, int n,
                         float scale, code_prior_buffers *b);

/* n grids drawn from the prior, step by step, into codes. */
void code_prior_sample(const code_prior *p, int *codes, int n, code_prior_buffers *b,
                       ps_rng *rng);

#endif
