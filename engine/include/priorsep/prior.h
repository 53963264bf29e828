/* Noise-conditioned WaveNet priors (design §2): the prior models s + sigma * eps with
 * sigma from a geometric ladder, and sees sigma through a one-value conditioning vector.
 * Clean audio (sigma = 0) is scored at the smallest level's conditioning. */
#ifndef PRIORSEP_PRIOR_H
#define PRIORSEP_PRIOR_H
#include "priorsep/wavenet.h"
#include "priorsep/wavenet_train.h"

#define PS_PRIOR_COND 1 /* conditioning values a noise-conditioned prior takes */

typedef struct ps_noise_ladder {
    int levels;                 /* >= 1 */
    float sigma_max, sigma_min; /* sigma_max >= sigma_min > 0 */
} ps_noise_ladder;

/* 10 levels from 1.0 down to 0.01, as in the design. */
ps_noise_ladder ps_noise_ladder_default(void);
/* sigma of level i (0 = largest). */
float ps_noise_sigma(const ps_noise_ladder *ladder, int level);
/* Conditioning for noise level sigma: log sigma mapped linearly so that sigma_max -> +1
 * and sigma_min -> -1; sigma below sigma_min (0 included) is clamped to -1. */
void ps_noise_cond(const ps_noise_ladder *ladder, float sigma, float cond[PS_PRIOR_COND]);

/* Negative log-likelihood, in nats summed over the T predicted samples, of x[1..T]
 * given x[0..T-1] (x holds T + 1 samples) with conditioning cond. Categorical heads
 * score the mu-law bin of each target, MoL heads its density. When grad is not NULL
 * the backward pass adds scale * dNLL/dtheta to it. d_out is scratch of T * out_dim. */
double ps_prior_nll(const ps_wavenet *net, ps_wavenet_acts *a, const float *x, int T,
                    const float *cond, ps_wavenet *grad, float scale, float *d_out);

#endif
