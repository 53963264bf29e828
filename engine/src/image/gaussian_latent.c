/* The diagonal Gaussian latent; see gaussian_latent.h. Sums are in double: the KL and
 * log-densities of a whole batch enter a loss checked by finite differences. */
#include "priorsep/gaussian_latent.h"

#include <math.h>
#include <stddef.h>

#define HALF_LOG_2PI 0.91893853320467274178

void gaussian_sample_forward(float *z, float *eps, const float *mu, const float *log_s, int n,
                             ps_rng *rng)
{
    for (int i = 0; i < n; i++) {
        eps[i] = ps_rng_normal(rng);
        z[i] = mu[i] + expf(log_s[i]) * eps[i];
    }
}

void gaussian_sample_backward(float *d_mu, float *d_log_s, const float *d_z, const float *eps,
                              const float *log_s, int n)
{
    for (int i = 0; i < n; i++) {
        if (d_mu) d_mu[i] += d_z[i];
        if (d_log_s) d_log_s[i] += d_z[i] * expf(log_s[i]) * eps[i];
    }
}

double gaussian_kl_forward(const float *mu, const float *log_s, const float *mu_p,
                           const float *log_s_p, int n)
{
    double kl = 0.0;
    for (int i = 0; i < n; i++) {
        double lp = log_s_p ? log_s_p[i] : 0.0, dm = mu[i] - (mu_p ? mu_p[i] : 0.0);
        /* s^2 / s_p^2 as one exponential: no overflow while the ratio is representable */
        double ratio = exp(2.0 * (log_s[i] - lp));
        kl += lp - log_s[i] + 0.5 * (ratio + dm * dm * exp(-2.0 * lp)) - 0.5;
    }
    return kl;
}

void gaussian_kl_backward(float *d_mu, float *d_log_s, float *d_mu_p, float *d_log_s_p,
                          float scale, const float *mu, const float *log_s, const float *mu_p,
                          const float *log_s_p, int n)
{
    for (int i = 0; i < n; i++) {
        double lp = log_s_p ? log_s_p[i] : 0.0, dm = mu[i] - (mu_p ? mu_p[i] : 0.0);
        double ratio = exp(2.0 * (log_s[i] - lp)), inv_vp = exp(-2.0 * lp);
        if (d_mu) d_mu[i] += (float)(scale * dm * inv_vp);
        if (d_mu_p) d_mu_p[i] -= (float)(scale * dm * inv_vp);
        if (d_log_s) d_log_s[i] += (float)(scale * (ratio - 1.0));
        if (d_log_s_p) d_log_s_p[i] += (float)(scale * (1.0 - ratio - dm * dm * inv_vp));
    }
}

double gaussian_logpdf_forward(const float *x, const float *mu, const float *log_s, int n)
{
    double lp = 0.0;
    for (int i = 0; i < n; i++) {
        double ls = log_s ? log_s[i] : 0.0, u = (x[i] - (mu ? mu[i] : 0.0)) * exp(-ls);
        lp -= HALF_LOG_2PI + ls + 0.5 * u * u;
    }
    return lp;
}

void gaussian_logpdf_backward(float *d_x, float *d_mu, float *d_log_s, float scale,
                              const float *x, const float *mu, const float *log_s, int n)
{
    for (int i = 0; i < n; i++) {
        double ls = log_s ? log_s[i] : 0.0, dev = x[i] - (mu ? mu[i] : 0.0);
        double inv_v = exp(-2.0 * ls);
        if (d_x) d_x[i] -= (float)(scale * dev * inv_v);
        if (d_mu) d_mu[i] += (float)(scale * dev * inv_v);
        if (d_log_s) d_log_s[i] += (float)(scale * (dev * dev * inv_v - 1.0));
    }
}

void gaussian_combine_forward(float *mu, float *log_s, const float *mu_a, const float *log_s_a,
                              const float *mu_b, const float *log_s_b, int n)
{
    for (int i = 0; i < n; i++) {
        float u = 2.0f * (log_s_b[i] - log_s_a[i]), w = 1.0f / (1.0f + expf(-u));
        mu[i] = w * mu_a[i] + (1.0f - w) * mu_b[i];
        /* -1/2 log(e^-2a + e^-2b) = min(a, b) - 1/2 log1p(e^-2|a-b|) */
        log_s[i] = fminf(log_s_a[i], log_s_b[i]) - 0.5f * log1pf(expf(-fabsf(u)));
    }
}

void gaussian_combine_backward(float *d_mu_a, float *d_log_s_a, float *d_mu_b, float *d_log_s_b,
                               const float *d_mu, const float *d_log_s, const float *mu_a,
                               const float *log_s_a, const float *mu_b, const float *log_s_b,
                               int n)
{
    for (int i = 0; i < n; i++) {
        float u = 2.0f * (log_s_b[i] - log_s_a[i]), w = 1.0f / (1.0f + expf(-u));
        /* d log_s / d log_s_a = w, / d log_s_b = 1 - w; dw/du = w (1 - w), du/d log_s_b = 2 */
        float dw = d_mu[i] * (mu_a[i] - mu_b[i]) * 2.0f * w * (1.0f - w);
        if (d_mu_a) d_mu_a[i] += d_mu[i] * w;
        if (d_mu_b) d_mu_b[i] += d_mu[i] * (1.0f - w);
        if (d_log_s_a) d_log_s_a[i] += d_log_s[i] * w - dw;
        if (d_log_s_b) d_log_s_b[i] += d_log_s[i] * (1.0f - w) + dw;
    }
}
