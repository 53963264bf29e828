/* Pixel likelihoods: Bernoulli, categorical (heads.h) and the discretized logistic
 * mixture. See pixel_likelihood.h. */
#include "priorsep/pixel_likelihood.h"

#include <math.h>
#include <stddef.h>

#include "priorsep/heads.h"

static float softplus(float z) { return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z))); }

static float sigmoid(float z)
{
    float e = expf(-fabsf(z)); /* never overflows */
    return z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* ---- Bernoulli: -log p(bit) = softplus(l) - bit l, d/dl = sigmoid(l) - bit ---- */

float ps_bernoulli_nll_backward(float logit, int bit, float scale, float *d_logit)
{
    if (d_logit) *d_logit += scale * (sigmoid(logit) - (float)bit);
    return softplus(bit ? -logit : logit);
}

double ps_bernoulli_nll_sum(const float *logits, const uint8_t *bits, int n, float scale,
                            float *d_logits)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += ps_bernoulli_nll_backward(logits[i], bits[i], scale, d_logits ? d_logits + i : NULL);
    return sum;
}

int ps_bernoulli_sample(float logit, ps_rng *rng)
{
    return ps_rng_uniform(rng) < sigmoid(logit);
}

/* ---- discretized logistic mixture ----
 * One logistic (mu, s) puts on level v the mass sigmoid(a) - sigmoid(b) with
 * a = (x_v + 1/255 - mu) / s and b = (x_v - 1/255 - mu) / s; the edge bins take
 * a = +inf (top) or b = -inf (bottom). For an inner bin the mass factors exactly as
 *   sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - exp(b - a)),
 * so its log, -softplus(-a) - softplus(b) + log(-expm1(-(a - b))), has no cancellation
 * anywhere: PixelCNN++ takes the difference of the two CDFs and needs a fallback to the
 * density at the bin centre where that difference underflows; this form never does, so
 * tiny bins keep their exact mass and the 256 bins sum to 1 for any parameters. With
 * d = a - b = 2 / (255 s):
 *   dL/dmu    = -(sigmoid(-a) - sigmoid(b)) / s
 *   dL/dlog_s = -a sigmoid(-a) + b sigmoid(b) - d / expm1(d)
 * (the edge bins keep only their own side's terms). */

#define HALF_BIN (1.0f / 255.0f)

static float clamp_log_scale(float log_s)
{
    return log_s < PS_MOL_LOG_SCALE_MIN ? PS_MOL_LOG_SCALE_MIN : log_s;
}

/* log of the bin mass of one logistic; with d_mu != NULL also its derivatives. */
static float bin_logmass(int level, float mu, float log_s, float *d_mu, float *d_log_s)
{
    float inv_s = expf(-log_s), c = 2.0f * level / 255.0f - 1.0f - mu;
    float a = inv_s * (c + HALF_BIN), b = inv_s * (c - HALF_BIN);
    float L = 0.0f, dmu = 0.0f, dls = 0.0f;
    if (level < PS_DLOGISTIC_LEVELS - 1) { /* upper edge a is finite */
        float sa = sigmoid(-a);
        L -= softplus(-a);
        dmu -= sa;
        dls -= a * sa;
    }
    if (level > 0) { /* lower edge b is finite */
        float sb = sigmoid(b);
        L -= softplus(b);
        dmu += sb;
        dls += b * sb;
    }
    if (level > 0 && level < PS_DLOGISTIC_LEVELS - 1) {
        float d = 2.0f * HALF_BIN * inv_s;
        L += logf(-expm1f(-d));
        dls -= d / expm1f(d);
    }
    if (d_mu) {
        *d_mu = dmu * inv_s;
        *d_log_s = dls;
    }
    return L;
}

/* -log p(v) = lse(logit) - lse_k(logit_k + L_k); with responsibilities
 * w_k = softmax_k(logit_k + L_k) and pi_k = softmax(logit)_k:
 *   d/dlogit_k = pi_k - w_k,  d/dmu_k = -w_k dL_k/dmu_k,  d/dlog_s_k = -w_k dL_k/dlog_s_k. */
float ps_dlogistic_nll_backward(const float *params, int K, int level, float scale,
                                float *d_params)
{
    const float *logit = params, *mu = params + K, *log_s = params + 2 * K;
    float term[PS_DLOGISTIC_MAX_COMPONENTS] = {0}, dmu[PS_DLOGISTIC_MAX_COMPONENTS] = {0},
          dls[PS_DLOGISTIC_MAX_COMPONENTS] = {0};
    for (int k = 0; k < K; k++)
        term[k] = logit[k] + bin_logmass(level, mu[k], clamp_log_scale(log_s[k]), &dmu[k], &dls[k]);
    float lse_logit = ps_logsumexp(logit, K), lse_term = ps_logsumexp(term, K);
    if (d_params)
        for (int k = 0; k < K; k++) {
            float w = expf(term[k] - lse_term), pi = expf(logit[k] - lse_logit);
            d_params[k] += scale * (pi - w);
            d_params[K + k] -= scale * w * dmu[k];
            if (!(log_s[k] < PS_MOL_LOG_SCALE_MIN)) d_params[2 * K + k] -= scale * w * dls[k];
        }
    return lse_logit - lse_term;
}

void ps_dlogistic_log_probs(const float *params, int K, float *out)
{
    const float *logit = params, *mu = params + K, *log_s = params + 2 * K;
    float lse_logit = ps_logsumexp(logit, K);
    for (int v = 0; v < PS_DLOGISTIC_LEVELS; v++) out[v] = -INFINITY;
    for (int k = 0; k < K; k++) {
        float ls = clamp_log_scale(log_s[k]);
        for (int v = 0; v < PS_DLOGISTIC_LEVELS; v++) {
            float t = logit[k] - lse_logit + bin_logmass(v, mu[k], ls, NULL, NULL);
            float hi = fmaxf(out[v], t), lo = fminf(out[v], t);
            out[v] = hi + log1pf(expf(lo - hi)); /* log(e^out + e^t); lo = -inf at k = 0 */
        }
    }
}

/* A component, then a logistic draw x = mu + s logit(u), then the level whose bin holds
 * x: the same distribution as the bin masses, edge bins included. */
int ps_dlogistic_sample(const float *params, int K, ps_rng *rng)
{
    int k = ps_categorical_sample(params, K, rng);
    float u = ps_rng_uniform(rng);
    float x = params[K + k] + expf(clamp_log_scale(params[2 * K + k])) * (logf(u) - log1pf(-u));
    float level = floorf((x + 1.0f) * 127.5f + 0.5f);
    return level < 0.0f ? 0 : level > 255.0f ? 255 : (int)level;
}

/* ---- the common interface ---- */

int ps_pixel_param_count(const ps_pixel_likelihood *l)
{
    switch (l->kind) {
    case PS_PIXEL_BERNOULLI: return 1;
    case PS_PIXEL_CATEGORICAL: return l->levels;
    case PS_PIXEL_DLOGISTIC: return 3 * l->components;
    }
    return 0;
}

float ps_pixel_nll_backward(const ps_pixel_likelihood *l, const float *params, int level,
                            float scale, float *d_params)
{
    switch (l->kind) {
    case PS_PIXEL_BERNOULLI: return ps_bernoulli_nll_backward(params[0], level, scale, d_params);
    case PS_PIXEL_CATEGORICAL:
        return d_params ? ps_categorical_nll_backward(params, l->levels, level, scale, d_params)
                        : -ps_categorical_logprob(params, l->levels, level);
    case PS_PIXEL_DLOGISTIC:
        return ps_dlogistic_nll_backward(params, l->components, level, scale, d_params);
    }
    return NAN;
}

void ps_pixel_log_probs(const ps_pixel_likelihood *l, const float *params, float *out)
{
    switch (l->kind) {
    case PS_PIXEL_BERNOULLI:
        out[0] = -softplus(params[0]);
        out[1] = -softplus(-params[0]);
        return;
    case PS_PIXEL_CATEGORICAL: { /* one normalizer for all levels */
        float lse = ps_logsumexp(params, l->levels);
        for (int v = 0; v < l->levels; v++) out[v] = params[v] - lse;
        return;
    }
    case PS_PIXEL_DLOGISTIC: ps_dlogistic_log_probs(params, l->components, out); return;
    }
}

int ps_pixel_sample(const ps_pixel_likelihood *l, const float *params, ps_rng *rng)
{
    switch (l->kind) {
    case PS_PIXEL_BERNOULLI: return ps_bernoulli_sample(params[0], rng);
    case PS_PIXEL_CATEGORICAL: return ps_categorical_sample(params, l->levels, rng);
    case PS_PIXEL_DLOGISTIC: return ps_dlogistic_sample(params, l->components, rng);
    }
    return 0;
}

float ps_pixel_input(const ps_pixel_likelihood *l, int level)
{
    return 2.0f * (float)level / (float)(l->levels - 1) - 1.0f;
}
