/* Factorized mixture of conditional Gaussian scale mixtures (MCGSM, Theis et al. 2012), the
 * likelihood RIDE puts on each pixel given the spatial LSTM's state h (N values):
 *
 *   gate     p(c, s | h) ∝ exp(eta_cs - 1/2 e^{alpha_cs} sum_f beta_cf^2 (b_f^T h)^2)
 *   expert   Gaussian    p(x | h, c, s) = N(x; a_c^T h, e^{-alpha_cs})   (the seed's)
 *            binned      P(x = v | h, c, s) = the same Gaussian's mass on bin v
 *            Bernoulli   p(x = 1 | h, c, s) = sigma(a_c^T h + d_cs)
 *   p(x | h) = sum_{c,s} p(c, s | h) p(x | h, c, s)
 *
 * for C components, S scales and F features b_f. The seed document's experts are
 * Gaussian, a density over continuous x. Discrete pixels need a discrete expert, so that
 * p(x | h) is an exactly normalized distribution over the levels:
 *   - binned Gaussian (levels L, the 8-bit case): level v is the interval
 *     [2v/L - 1, 2(v+1)/L - 1) of the real line, the outer two extended to -inf and
 *     +inf, so the L masses sum to 1. The expert is the seed's Gaussian integrated over
 *     the bin. Below 1e-200 (some 460 nats, where a difference of erfc values is lost)
 *     an asymptote stands in: Mills' ratio for the open-ended bins (accurate to
 *     ~1/z^2), the density at the centre times the width for the others (only a finite
 *     loss whose gradient pulls the mean toward the bin).
 *   - Bernoulli (binary images): keeps the gates and the per-component weights a_c.
 *
 * Rows: R independent predictions at once (every position of every image), h [R x N]. */
#ifndef PRIORSEP_MCGSM_H
#define PRIORSEP_MCGSM_H
#include <stddef.h>

#include "priorsep/rng.h"

typedef enum mcgsm_expert { MCGSM_GAUSSIAN, MCGSM_BINNED, MCGSM_BERNOULLI } mcgsm_expert;

typedef struct mcgsm_dims {
    int hidden;     /* N */
    int components; /* C */
    int scales;     /* S */
    int features;   /* F */
    mcgsm_expert expert;
    int levels;     /* L, binned expert only */
} mcgsm_dims;

/* Parameters (or their gradients) in one block, in this order. */
typedef struct mcgsm_params {
    float *eta;      /* [C*S], index c*S + s */
    float *alpha;    /* [C*S] log precisions of the scales */
    float *beta;     /* [C*F] */
    float *features; /* [N x F], column f is b_f */
    float *weights;  /* [N x C], column c is a_c */
    float *bias;     /* [C*S], d_cs (Bernoulli only; NULL for Gaussian) */
} mcgsm_params;

size_t mcgsm_param_count(const mcgsm_dims *d);
/* Points p's tensors into block (mcgsm_param_count floats). */
void mcgsm_bind(const mcgsm_dims *d, float *block, mcgsm_params *p);

/* Per-row quantities the likelihood, its gradient and sampling share, [R x C*S] in
 * double: log_gate (the normalized log p(c, s | h); the gate energies reach tens of nats,
 * where float logs would cost the likelihood its exact normalization), and from the last
 * mcgsm_loglik_forward the posterior p(c, s | x, h) and each expert's derivatives in its
 * mean and in alpha_cs; then proj [R x F] and mean [R x C] in float. Carved from
 * mcgsm_scratch_bytes(d, R) bytes aligned for double. */
typedef struct mcgsm_state {
    double *log_gate, *post, *d_mean, *d_alpha;
    float *proj, *mean;
} mcgsm_state;
size_t mcgsm_scratch_bytes(const mcgsm_dims *d, int R);
void mcgsm_state_bind(const mcgsm_dims *d, int R, void *scratch, mcgsm_state *st);

/* Gates and expert means of R rows of h (two products over all rows). */
void mcgsm_gates_forward(const mcgsm_dims *d, const mcgsm_params *p, const float *h, int R,
                         mcgsm_state *st);

/* log p(x_r | h_r) into logp[r] for the targets x (Gaussian: any real; binned: a level
 * 0..L-1; Bernoulli: 0 or 1), after mcgsm_gates_forward. Keeps in st what the backward
 * pass needs. */
void mcgsm_loglik_forward(const mcgsm_dims *d, const mcgsm_params *p, mcgsm_state *st,
                          const float *x, int R, double *logp);

/* Gradient of sum_r d_logp[r] * log p(x_r | h_r) for the targets of the last
 * mcgsm_loglik_forward: ADDS into g (parameter gradients) and d_h [R x N]. Scratch:
 * d_proj [R x F], d_mean [R x C] (overwritten). */
void mcgsm_loglik_backward(const mcgsm_dims *d, const mcgsm_params *p, const mcgsm_state *st,
                           const float *h, int R, const float *d_logp, const mcgsm_params *g,
                           float *d_h, float *d_proj, float *d_mean);

/* One draw of x per row from p(x | h_r): (c, s) from the gate, then x from the expert. */
void mcgsm_sample(const mcgsm_dims *d, const mcgsm_params *p, const mcgsm_state *st, int R,
                  ps_rng *rng, float *x);

#endif
