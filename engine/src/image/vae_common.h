/* What the two continuous-latent VAEs (VRAE, Ladder VAE) share besides the Bernoulli
 * pixel likelihood (priorsep/pixel_likelihood.h): the importance-weighted bound. */
#ifndef PRIORSEP_VAE_COMMON_H
#define PRIORSEP_VAE_COMMON_H

/* The importance-weighted bound (Burda et al.): -log of the mean of exp(log_w[0..k-1]),
 * evaluated stably. With log_w = log p(x, z_s) - log q(z_s | x) for k samples of q it is
 * an upper bound on -log p(x) in expectation, tightening as k grows; k = 1 is the
 * negative ELBO estimate. */
double iwae_nll(const double *log_w, int k);

#endif
