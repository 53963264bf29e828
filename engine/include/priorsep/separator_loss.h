/* The separator's training objectives (design §3) on one crop. The separator ran over
 * mixture samples x[0..T-1] and gave rows [T][2N] ([mean | log-scale] per source); row
 * t estimates the sources at time t - L, so rows L..T-1 are scored, against times
 * 0..T-L-1 of the crop. Each loss returns its value and ADDS scale times its gradient
 * with respect to the rows into d_rows (the caller zeroes it and backpropagates it
 * through the separator). */
#ifndef PRIORSEP_SEPARATOR_LOSS_H
#define PRIORSEP_SEPARATOR_LOSS_H
#include "priorsep/error.h"
#include "priorsep/model_file.h"
#include "priorsep/rng.h"
#include "priorsep/wavenet.h"

/* Supervised: sum over scored samples and sources of -log q(s_true | m) (nats);
 * src[k] holds the T - L true samples of source k. With nll_beta > 0 each term is
 * weighted by sigma^(2 nll_beta), a weight held constant in the gradient (beta-NLL,
 * Seitzer et al. 2022): plain NLL scales each mean's gradient by 1/sigma^2, so the
 * sources the network already predicts well take the gradient from the hard ones;
 * nll_beta = 1 gives the means a squared-error gradient. With si_weight > 0 the loss
 * adds si_weight * sum_k (-SI-SDR of the means over the crop, in dB), whose sum is
 * written to *neg_si_sdr (0 otherwise). */
double ps_separator_supervised_loss(int n_sources, int lookahead, const float *rows, int T,
                                    const float *const *src, float nll_beta, float si_weight,
                                    float scale, float *d_rows, double *neg_si_sdr);

/* Unsupervised: minus the ELBO of one reparameterized sample s = mean + scale * eps,
 *   -log N(m; sum_k w_k s_k, gamma^2) - beta sum_k log p_k(s_k) - H[q]
 * with the frozen priors conditioned on noise level prior_sigma (scored over the crop
 * from silence). Terms in nats, summed over the scored samples (and sources). */
typedef struct ps_elbo_settings {
    float gamma, beta, prior_sigma;
} ps_elbo_settings;

typedef struct ps_elbo_terms {
    double likelihood, prior, entropy; /* -log p(m|s), -sum log p_k, -H (no constants) */
} ps_elbo_terms;

typedef struct ps_elbo_work ps_elbo_work;

/* Scratch for crops of up to max_T samples; info: the separator's (sources, weights,
 * lookahead); priors[k] and their infos (noise ladders) in the separator's order. */
ps_elbo_work *ps_elbo_work_create(const ps_model_info *info, ps_wavenet *const *priors,
                                  const ps_model_info *prior_info, int max_T, ps_error *err);
void ps_elbo_work_destroy(ps_elbo_work *w);

double ps_separator_elbo_loss(ps_elbo_work *w, const ps_elbo_settings *settings,
                              const float *x, const float *rows, int T, ps_rng *rng,
                              float scale, float *d_rows, ps_elbo_terms *terms);

#endif
