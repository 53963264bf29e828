/* What the two continuous-latent VAEs (VRAE, Ladder VAE) share: the Bernoulli pixel
 * likelihood of binary images from logits, and the importance-weighted bound.
 *
 * The Bernoulli part duplicates what priorsep/pixel_likelihood.h provides once it lands
 * (bernoulli_logit_nll, bernoulli_logit_nll_backward, bernoulli_logit_sample); switch the
 * callers to it then. */
#ifndef PRIORSEP_VAE_COMMON_H
#define PRIORSEP_VAE_COMMON_H
#include <stdint.h>

#include "priorsep/rng.h"

/* -log p(x | logits) = Σ softplus(l) - x l over n binary pixels, softplus evaluated as
 * max(l, 0) + log1p(exp(-|l|)) so that no logit overflows. */
double bernoulli_logit_nll(const float *logits, const uint8_t *x, int n);
/* The same value; ADDS scale (sigmoid(l) - x) into d_logits. */
double bernoulli_logit_nll_backward(const float *logits, const uint8_t *x, int n, float scale,
                                    float *d_logits);
/* x[i] = 1 with probability sigmoid(logits[i]), one uniform draw per pixel in order. */
void bernoulli_logit_sample(uint8_t *x, const float *logits, int n, ps_rng *rng);

/* The importance-weighted bound (Burda et al.): -log of the mean of exp(log_w[0..k-1]),
 * evaluated stably. With log_w = log p(x, z_s) - log q(z_s | x) for k samples of q it is
 * an upper bound on -log p(x) in expectation, tightening as k grows; k = 1 is the
 * negative ELBO estimate. */
double iwae_nll(const double *log_w, int k);

#endif
