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

/* log sum_i exp(v[i]), shifted by the maximum (n >= 1). */
float ps_logsumexp(const float *v, int n);

float ps_categorical_logprob(const float *logits, int n, int bin);
int ps_categorical_sample(const float *logits, int n, ps_rng *rng);

float ps_mol_logprob(const float *params, int K, float x);
float ps_mol_sample(const float *params, int K, ps_rng *rng); /* clamped to [-1, 1] */

/* Loss gradients. Each returns the negative log-likelihood (the same value as the
 * matching -logprob above) and ADDS scale times its gradient into the buffers given
 * (callers zero them).
 *   categorical: d_logits[n] += scale (softmax - onehot(bin))
 *   MoL: if d_params != NULL, d_params[3K] += scale d(-log p)/d params, zero for a
 *        log-scale below PS_MOL_LOG_SCALE_MIN (the clamp holds it constant); if
 *        d_x != NULL, *d_x += scale d(-log p)/dx (minus the score, for the separator). */
/* Gaussian outputs (the separator): log-scales are clamped to [MIN, MAX]; -9 is a scale
 * of 1.2e-4 (far below what the separator can resolve), 2 a scale of 7.4 (far above
 * any amplitude in [-1, 1]). */
#define PS_GAUSS_LOG_SCALE_MIN (-9.0f)
#define PS_GAUSS_LOG_SCALE_MAX 2.0f
float ps_gaussian_clamp_log_scale(float log_s);

float ps_categorical_nll_backward(const float *logits, int n, int bin, float scale,
                                  float *d_logits);
float ps_mol_nll_backward(const float *params, int K, float x, float scale, float *d_params,
                          float *d_x);

/* -log N(x; mu, s^2) with s = exp(clamped log_s):
 *   d_mu += scale (mu - x) / s^2,  d_log_s += scale (1 - (x - mu)^2 / s^2)  (0 where
 *   log_s is clamped). Either pointer may be NULL. */
float ps_gaussian_nll_backward(float mu, float log_s, float x, float scale, float *d_mu,
                               float *d_log_s);

#endif
