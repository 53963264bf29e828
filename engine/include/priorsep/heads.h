/* Output heads of a prior: what the WaveNet's last layer means.
 *
 * Categorical: 256 logits over mu-law bins.
 * Mixture of logistics (MoL): for K components the row is [logit_pi (K) | mu (K) |
 * log_s (K)], a continuous density over the amplitude, differentiable in x. */
#ifndef PRIORSEP_HEADS_H
#define PRIORSEP_HEADS_H
#include "priorsep/rng.h"

/* log-scales are clamped from below so that a collapsing component cannot produce an
 * infinite density; -7 gives s >= 9e-4, finer than a 12-bit step on [-1, 1]. */
#define PS_MOL_LOG_SCALE_MIN (-7.0f)

float ps_categorical_logprob(const float *logits, int n, int bin);
int ps_categorical_sample(const float *logits, int n, ps_rng *rng);

float ps_mol_logprob(const float *params, int K, float x);
float ps_mol_sample(const float *params, int K, ps_rng *rng); /* clamped to [-1, 1] */

/* Loss gradients. Each returns the negative log-likelihood (the same value as the
 * matching -logprob above) and ADDS scale times its gradient into the buffers given
 * (callers zero them).
 *   categorical: d_logits[n] += scale (softmax - onehot(bin))
 *   MoL: d_params[3K] += scale d(-log p)/d params, zero for a log-scale below
 *        PS_MOL_LOG_SCALE_MIN (the clamp holds it constant); if d_x != NULL,
 *        *d_x += scale d(-log p)/dx (minus the score, for the separator). */
float ps_categorical_nll_backward(const float *logits, int n, int bin, float scale,
                                  float *d_logits);
float ps_mol_nll_backward(const float *params, int K, float x, float scale, float *d_params,
                          float *d_x);

#endif
