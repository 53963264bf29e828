#include "priorsep/heads.h"

#include <math.h>

static float max_of(const float *v, int n)
{
    float m = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] > m) m = v[i];
    return m;
}

float ps_logsumexp(const float *v, int n)
{
    float m = max_of(v, n), s = 0.0f;
    for (int i = 0; i < n; i++) s += expf(v[i] - m);
    return m + logf(s);
}

float ps_categorical_logprob(const float *logits, int n, int bin)
{
    return logits[bin] - ps_logsumexp(logits, n);
}

int ps_categorical_sample(const float *logits, int n, ps_rng *rng)
{
    float m = max_of(logits, n), total = 0.0f;
    for (int i = 0; i < n; i++) total += expf(logits[i] - m);
    float u = ps_rng_uniform(rng) * total;
    for (int i = 0; i < n; i++) {
        u -= expf(logits[i] - m);
        if (u <= 0.0f) return i;
    }
    return n - 1; /* rounding left a sliver above the last bin */
}

static float clamp_log_scale(float log_s)
{
    return log_s < PS_MOL_LOG_SCALE_MIN ? PS_MOL_LOG_SCALE_MIN : log_s;
}

/* log of the logistic density at x: -u - log s - 2 softplus(-u), u = (x - mu) / s,
 * written with softplus so that neither tail overflows. */
static float logistic_logpdf(float x, float mu, float log_s)
{
    float u = (x - mu) * expf(-log_s);
    float softplus_neg_u = fmaxf(-u, 0.0f) + log1pf(expf(-fabsf(u)));
    return -u - log_s - 2.0f * softplus_neg_u;
}

/* logsumexp_k (logit_k + log f_k(x)) in one pass: running maximum m and sum of
 * exp(. - m). */
static float mol_term_logsumexp(const float *params, int K, float x)
{
    const float *logit = params, *mu = params + K, *log_s = params + 2 * K;
    float m = -INFINITY, s = 0.0f;
    for (int k = 0; k < K; k++) {
        float term = logit[k] + logistic_logpdf(x, mu[k], clamp_log_scale(log_s[k]));
        if (term > m) {
            s = s * expf(m - term) + 1.0f;
            m = term;
        } else {
            s += expf(term - m);
        }
    }
    return m + logf(s);
}

float ps_mol_logprob(const float *params, int K, float x)
{
    return mol_term_logsumexp(params, K, x) - ps_logsumexp(params, K);
}

float ps_mol_sample(const float *params, int K, ps_rng *rng)
{
    int k = ps_categorical_sample(params, K, rng);
    float u = ps_rng_uniform(rng);
    float x = params[K + k] + expf(clamp_log_scale(params[2 * K + k])) * (logf(u) - log1pf(-u));
    return x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
}

/* ---- loss gradients -------------------------------------------------------------------
 * Both return the negative log-likelihood and add scale times its gradient into the
 * buffers given (callers zero them). No allocation: they also serve the refinement steps. */

/* -log p(bin) = lse(logits) - logits[bin];  d/d logits[i] = softmax_i - [i == bin]. */
float ps_categorical_nll_backward(const float *logits, int n, int bin, float scale,
                                  float *d_logits)
{
    float lse = ps_logsumexp(logits, n);
    for (int i = 0; i < n; i++) d_logits[i] += scale * expf(logits[i] - lse);
    d_logits[bin] -= scale;
    return lse - logits[bin];
}

/* With u_k = (x - mu_k) / s_k, s_k = exp(max(log_s_k, min)), term_k = logit_k +
 * log f_k(x) and the responsibilities w_k = softmax(term)_k, pi_k = softmax(logit)_k:
 *   d(-log p)/d logit_k = pi_k - w_k
 *   d log f/du = 1 - 2 sigmoid(u) = -tanh(u/2)      (bounded, no overflow for any u)
 *   d(-log p)/d mu_k    = -w_k tanh(u_k/2) / s_k
 *   d(-log p)/d log_s_k = w_k (1 - u_k tanh(u_k/2))  (0 where log_s_k is clamped)
 *   d(-log p)/dx        = sum_k w_k tanh(u_k/2) / s_k
 * Two passes over the components: the first is ps_mol_logprob's logsumexp (the same
 * function, so the same value), the second recomputes each term for its
 * responsibility. */
float ps_mol_nll_backward(const float *params, int K, float x, float scale, float *d_params,
                          float *d_x)
{
    const float *logit = params, *mu = params + K, *log_s = params + 2 * K;
    float lse_logit = ps_logsumexp(logit, K);
    float lse_term = mol_term_logsumexp(params, K, x);
    float dx = 0.0f;
    for (int k = 0; k < K; k++) {
        float ls = clamp_log_scale(log_s[k]);
        float inv_s = expf(-ls);
        float u = (x - mu[k]) * inv_s;
        float wk = expf(logit[k] + logistic_logpdf(x, mu[k], ls) - lse_term);
        float pik = expf(logit[k] - lse_logit);
        float th = tanhf(0.5f * u);
        if (d_params) {
            d_params[k] += scale * (pik - wk);
            d_params[K + k] -= scale * wk * th * inv_s;
            if (!(log_s[k] < PS_MOL_LOG_SCALE_MIN)) d_params[2 * K + k] += scale * wk * (1.0f - u * th);
        }
        dx += wk * th * inv_s;
    }
    if (d_x) *d_x += scale * dx;
    return lse_logit - lse_term;
}

float ps_gaussian_clamp_log_scale(float log_s)
{
    return log_s < PS_GAUSS_LOG_SCALE_MIN   ? PS_GAUSS_LOG_SCALE_MIN
           : log_s > PS_GAUSS_LOG_SCALE_MAX ? PS_GAUSS_LOG_SCALE_MAX
                                            : log_s;
}

float ps_gaussian_nll_backward(float mu, float log_s, float x, float scale, float *d_mu,
                               float *d_log_s)
{
    float ls = ps_gaussian_clamp_log_scale(log_s);
    float inv_var = expf(-2.0f * ls), e = x - mu, e2 = e * e * inv_var;
    if (d_mu) *d_mu -= scale * e * inv_var;
    if (d_log_s && ls == log_s) *d_log_s += scale * (1.0f - e2);
    return 0.91893853f + ls + 0.5f * e2; /* 0.5 log(2 pi) */
}
