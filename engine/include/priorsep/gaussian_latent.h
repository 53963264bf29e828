/* The diagonal Gaussian of the VAEs' latent variables, over n independent dimensions
 * given by their means mu and log standard deviations log_s (s = exp(log_s)):
 *
 *   sample      z = mu + s * eps, eps ~ N(0, 1) (the reparameterization: z is a
 *               differentiable function of mu and log_s at fixed eps)
 *   KL          KL(N(mu, s^2) || N(mu_p, s_p^2)) summed over the dimensions
 *               = sum log s_p - log s + (s^2 + (mu - mu_p)^2) / (2 s_p^2) - 1/2
 *   log-density log N(x; mu, s^2) summed over the dimensions
 *   combine     the precision-weighted product of two Gaussians (the Ladder VAE's
 *               posterior): 1/s^2 = 1/s_a^2 + 1/s_b^2, mu = s^2 (mu_a/s_a^2 + mu_b/s_b^2)
 *
 * Backward functions ADD scale times the gradient of the forward's value into the
 * buffers given (callers zero them); a NULL gradient buffer is skipped. */
#ifndef PRIORSEP_GAUSSIAN_LATENT_H
#define PRIORSEP_GAUSSIAN_LATENT_H
#include "priorsep/rng.h"

/* Draws eps (kept for the backward) from rng, in index order, and writes z. */
void gaussian_sample_forward(float *z, float *eps, const float *mu, const float *log_s, int n,
                             ps_rng *rng);
/* d_z: gradient on z. d_mu += d_z, d_log_s += d_z * s * eps. */
void gaussian_sample_backward(float *d_mu, float *d_log_s, const float *d_z, const float *eps,
                              const float *log_s, int n);

/* mu_p and log_s_p NULL: the standard normal prior N(0, 1). */
double gaussian_kl_forward(const float *mu, const float *log_s, const float *mu_p,
                           const float *log_s_p, int n);
void gaussian_kl_backward(float *d_mu, float *d_log_s, float *d_mu_p, float *d_log_s_p,
                          float scale, const float *mu, const float *log_s, const float *mu_p,
                          const float *log_s_p, int n);

/* mu and log_s NULL: the standard normal. */
double gaussian_logpdf_forward(const float *x, const float *mu, const float *log_s, int n);
void gaussian_logpdf_backward(float *d_x, float *d_mu, float *d_log_s, float scale,
                              const float *x, const float *mu, const float *log_s, int n);

/* (mu, log_s) = precision-weighted product of (mu_a, log_s_a) and (mu_b, log_s_b),
 * computed as mu = w mu_a + (1 - w) mu_b, w = sigmoid(2 log_s_b - 2 log_s_a), and
 * log_s = -1/2 log(exp(-2 log_s_a) + exp(-2 log_s_b)) (no overflow for any scales). */
void gaussian_combine_forward(float *mu, float *log_s, const float *mu_a, const float *log_s_a,
                              const float *mu_b, const float *log_s_b, int n);
/* d_mu, d_log_s: gradients on the outputs (no scale: a plain chain rule step). */
void gaussian_combine_backward(float *d_mu_a, float *d_log_s_a, float *d_mu_b, float *d_log_s_b,
                               const float *d_mu, const float *d_log_s, const float *mu_a,
                               const float *log_s_a, const float *mu_b, const float *log_s_b,
                               int n);

#endif
