/* Checks of latent-variable models (the VAEs), whose ps_image_model_nll is a stochastic
 * upper bound rather than -log p(x). They rest on one fact: with the importance-weighted
 * bound over k samples, exp(-nll) is the mean of k importance weights, an unbiased
 * estimate of p(x) for any k; with k large it is also a precise one. */
#ifndef PRIORSEP_LATENT_CHECKS_H
#define PRIORSEP_LATENT_CHECKS_H
#include <stdint.h>

#include "priorsep/image_model.h"

/* A model of the same kind and parameters scoring with k importance samples
 * (config field `ensemble`). */
ps_image_model *latent_with_samples(ps_image_model *m, int k);

/* Makes a 2x2 binary model of kind and config (ensemble: 1), trains it briefly on
 * three noisy patterns, and asserts (Check) that
 *   - the estimated p(x), from the bound with 16 x 1024 samples, sums to 1 over all images;
 *   - the ELBO (the loss, mean over seeds) is at or above the precise -log p(x) for
 *     every image, and above it in total;
 *   - the importance-weighted bound at k = 1, 4, 16, 64 samples is above it and falls
 *     towards it as k grows;
 *   - 20,000 samples have the estimated frequencies (chi-square).
 * Prints what it measured. */
void latent_expect_bound(const char *kind, const ps_image_config *config);

#endif
