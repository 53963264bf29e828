/* Bernoulli pixels and the importance-weighted bound of the VAEs; see vae_common.h. */
#include "vae_common.h"

#include <math.h>

static double softplus(double l) { return fmax(l, 0.0) + log1p(exp(-fabs(l))); }

double bernoulli_logit_nll(const float *logits, const uint8_t *x, int n)
{
    double nll = 0.0;
    for (int i = 0; i < n; i++) nll += softplus(logits[i]) - (x[i] ? logits[i] : 0.0);
    return nll;
}

double bernoulli_logit_nll_backward(const float *logits, const uint8_t *x, int n, float scale,
                                    float *d_logits)
{
    for (int i = 0; i < n; i++)
        d_logits[i] += scale * (1.0f / (1.0f + expf(-logits[i])) - (x[i] ? 1.0f : 0.0f));
    return bernoulli_logit_nll(logits, x, n);
}

void bernoulli_logit_sample(uint8_t *x, const float *logits, int n, ps_rng *rng)
{
    for (int i = 0; i < n; i++)
        x[i] = ps_rng_uniform(rng) < 1.0f / (1.0f + expf(-logits[i]));
}

double iwae_nll(const double *log_w, int k)
{
    double top = log_w[0];
    for (int s = 1; s < k; s++) top = fmax(top, log_w[s]);
    double sum = 0.0;
    for (int s = 0; s < k; s++) sum += exp(log_w[s] - top);
    return -(top + log(sum / k));
}
