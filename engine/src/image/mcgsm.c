/* Factorized MCGSM: gates, Gaussian, binned Gaussian and Bernoulli experts, gradient,
 * sampling. See priorsep/mcgsm.h. */
#include "priorsep/mcgsm.h"

#include <math.h>

#include "priorsep/gemm.h"

size_t mcgsm_param_count(const mcgsm_dims *d)
{
    int N = d->hidden, C = d->components, S = d->scales, F = d->features;
    size_t n = (size_t)2 * C * S + (size_t)C * F + (size_t)N * F + (size_t)N * C;
    return n + (d->expert == MCGSM_BERNOULLI ? (size_t)C * S : 0);
}

void mcgsm_bind(const mcgsm_dims *d, float *block, mcgsm_params *p)
{
    int N = d->hidden, C = d->components, S = d->scales, F = d->features;
    p->eta = block;
    p->alpha = p->eta + C * S;
    p->beta = p->alpha + C * S;
    p->features = p->beta + C * F;
    p->weights = p->features + N * F;
    p->bias = d->expert == MCGSM_BERNOULLI ? p->weights + N * C : NULL;
}

size_t mcgsm_scratch_bytes(const mcgsm_dims *d, int R)
{
    return (size_t)R * (4 * sizeof(double) * d->components * d->scales +
                        sizeof(float) * (d->features + d->components));
}

void mcgsm_state_bind(const mcgsm_dims *d, int R, void *scratch, mcgsm_state *st)
{
    size_t n = (size_t)R * d->components * d->scales;
    st->log_gate = scratch;
    st->post = st->log_gate + n;
    st->d_mean = st->post + n;
    st->d_alpha = st->d_mean + n;
    st->proj = (float *)(st->d_alpha + n);
    st->mean = st->proj + (size_t)R * d->features;
}

/* q_c = sum_f beta_cf^2 proj_f^2: the squared norm the gate of component c penalizes. */
static double gate_energy(const mcgsm_dims *d, const mcgsm_params *p, const float *proj, int c)
{
    double q = 0.0;
    for (int f = 0; f < d->features; f++) {
        double bp = (double)p->beta[c * d->features + f] * proj[f];
        q += bp * bp;
    }
    return q;
}

/* Mixtures of at most this many experts (a bound on the stack buffers). */
enum { MCGSM_MAX_EXPERTS = 1024 };

void mcgsm_gates_forward(const mcgsm_dims *d, const mcgsm_params *p, const float *h, int R,
                         mcgsm_state *st)
{
    int N = d->hidden, C = d->components, S = d->scales, F = d->features, CS = C * S;
    ps_gemm(R, F, N, h, N, p->features, F, NULL, 0.0f, st->proj, F);
    ps_gemm(R, C, N, h, N, p->weights, C, NULL, 0.0f, st->mean, C);
    double precision[MCGSM_MAX_EXPERTS];
    for (int k = 0; k < CS; k++) precision[k] = exp(p->alpha[k]);
    for (int r = 0; r < R; r++) {
        double *lg = st->log_gate + (size_t)r * CS;
        double top = -INFINITY;
        for (int c = 0; c < C; c++) {
            double q = gate_energy(d, p, st->proj + (size_t)r * F, c);
            for (int s = 0; s < S; s++) {
                int k = c * S + s;
                lg[k] = p->eta[k] - 0.5 * precision[k] * q;
                if (lg[k] > top) top = lg[k];
            }
        }
        double sum = 0.0;
        for (int k = 0; k < CS; k++) sum += exp(lg[k] - top);
        double norm = top + log(sum);
        for (int k = 0; k < CS; k++) lg[k] -= norm;
    }
}

static const double HALF_LOG_2PI = 0.91893853320467274178, SQRT2 = 1.41421356237309504880;

/* log of the standard normal's mass on [lo, hi] (either may be infinite) and its partial
 * derivatives in lo and hi. Masses below 1e-200 (far in a tail, where the difference of
 * two erfc loses everything) take an asymptote: Mills' ratio phi(z) / |z| for a tail,
 * the centre's density times the width for a bounded bin (see mcgsm.h). */
static double log_bin_mass(double lo, double hi, double *d_lo, double *d_hi)
{
    double mass = lo > 0 ? 0.5 * (erfc(lo / SQRT2) - erfc(hi / SQRT2))
                         : 0.5 * (erfc(-hi / SQRT2) - erfc(-lo / SQRT2));
    if (mass > 1e-200) {
        *d_lo = isinf(lo) ? 0.0 : -exp(-0.5 * lo * lo - HALF_LOG_2PI) / mass;
        *d_hi = isinf(hi) ? 0.0 : exp(-0.5 * hi * hi - HALF_LOG_2PI) / mass;
        return log(mass);
    }
    if (isinf(hi) || isinf(lo)) { /* a tail beyond z, |z| > 30 */
        double z = isinf(hi) ? lo : hi, dz = -z - 1.0 / z;
        *d_lo = isinf(hi) ? dz : 0.0;
        *d_hi = isinf(hi) ? 0.0 : dz;
        return -0.5 * z * z - HALF_LOG_2PI - log(fabs(z));
    }
    double mid = 0.5 * (lo + hi), w = hi - lo;
    *d_lo = -0.5 * mid - 1.0 / w;
    *d_hi = -0.5 * mid + 1.0 / w;
    return -0.5 * mid * mid - HALF_LOG_2PI + log(w);
}

/* log p(x | h, c, s) of expert k = c*S + s with mean a_c^T h, and its derivatives in the
 * mean (Bernoulli: in the logit a_c^T h + d_cs) and in alpha_cs. */
static double expert_loglik(const mcgsm_dims *d, const mcgsm_params *p, double mean, int k,
                            double x, double *d_mean, double *d_alpha)
{
    if (d->expert == MCGSM_BERNOULLI) {
        double t = mean + p->bias[k], u = exp(-fabs(t)); /* softplus and sigma share u */
        *d_mean = x - (t >= 0 ? 1.0 : u) / (1.0 + u);
        *d_alpha = 0.0;
        return x * t - (fmax(t, 0.0) + log1p(u));
    }
    double alpha = p->alpha[k], scale = exp(0.5 * alpha); /* 1 / sigma */
    if (d->expert == MCGSM_GAUSSIAN) {
        double e = x - mean;
        *d_mean = scale * scale * e;
        *d_alpha = 0.5 - 0.5 * scale * scale * e * e;
        return 0.5 * alpha - HALF_LOG_2PI - 0.5 * scale * scale * e * e;
    }
    int v = (int)x, L = d->levels;
    double lo = v == 0 ? -INFINITY : (2.0 * v / L - 1.0 - mean) * scale;
    double hi = v == L - 1 ? INFINITY : (2.0 * (v + 1) / L - 1.0 - mean) * scale;
    double d_lo, d_hi, logm = log_bin_mass(lo, hi, &d_lo, &d_hi);
    *d_mean = -scale * (d_lo + d_hi);
    *d_alpha = 0.5 * ((isinf(lo) ? 0.0 : lo * d_lo) + (isinf(hi) ? 0.0 : hi * d_hi));
    return logm;
}

/* The posterior over (c, s) is the softmax of log p(c, s | h) + log p(x | h, c, s); its
 * log normalizer is log p(x | h). */
void mcgsm_loglik_forward(const mcgsm_dims *d, const mcgsm_params *p, mcgsm_state *st,
                          const float *x, int R, double *logp)
{
    int C = d->components, S = d->scales, CS = C * S;
    for (int r = 0; r < R; r++) {
        size_t at = (size_t)r * CS;
        const double *lg = st->log_gate + at;
        double *post = st->post + at, top = -INFINITY;
        for (int c = 0; c < C; c++)
            for (int s = 0; s < S; s++) {
                int k = c * S + s;
                post[k] = lg[k] + expert_loglik(d, p, st->mean[(size_t)r * C + c], k, x[r],
                                                st->d_mean + at + k, st->d_alpha + at + k);
                if (post[k] > top) top = post[k];
            }
        double sum = 0.0;
        for (int k = 0; k < CS; k++) sum += post[k] = exp(post[k] - top);
        for (int k = 0; k < CS; k++) post[k] /= sum;
        logp[r] = top + log(sum);
    }
}

void mcgsm_loglik_backward(const mcgsm_dims *d, const mcgsm_params *p, const mcgsm_state *st,
                           const float *h, int R, const float *d_logp, const mcgsm_params *g,
                           float *d_h, float *d_proj, float *d_mean)
{
    int N = d->hidden, C = d->components, S = d->scales, F = d->features, CS = C * S;
    double precision[MCGSM_MAX_EXPERTS];
    for (int k = 0; k < CS; k++) precision[k] = exp(p->alpha[k]);
    for (int r = 0; r < R; r++) {
        size_t at = (size_t)r * CS;
        const float *proj = st->proj + (size_t)r * F;
        float *dp = d_proj + (size_t)r * F, *dm = d_mean + (size_t)r * C;
        for (int f = 0; f < F; f++) dp[f] = 0.0f;
        double w = d_logp[r];
        for (int c = 0; c < C; c++) {
            double q = gate_energy(d, p, proj, c), d_q = 0.0, d_m = 0.0;
            for (int s = 0; s < S; s++) {
                int k = c * S + s;
                double post = st->post[at + k];
                double d_gate = w * (post - exp(st->log_gate[at + k])); /* softmax's */
                double d_expert = w * post;
                g->eta[k] += (float)d_gate;
                g->alpha[k] += (float)(-0.5 * precision[k] * q * d_gate +
                                       d_expert * st->d_alpha[at + k]);
                d_q += -0.5 * precision[k] * d_gate;
                d_m += d_expert * st->d_mean[at + k];
                if (d->expert == MCGSM_BERNOULLI)
                    g->bias[k] += (float)(d_expert * st->d_mean[at + k]);
            }
            dm[c] = (float)d_m;
            for (int f = 0; f < F; f++) {
                double b = p->beta[c * F + f], pf = proj[f];
                g->beta[c * F + f] += (float)(d_q * 2.0 * b * pf * pf);
                dp[f] += (float)(d_q * 2.0 * b * b * pf);
            }
        }
    }
    ps_gemm_tn(N, F, R, h, N, d_proj, F, 1.0f, g->features, F);
    ps_gemm_tn(N, C, R, h, N, d_mean, C, 1.0f, g->weights, C);
    ps_gemm_nt(R, N, F, d_proj, F, p->features, F, 1.0f, d_h, N);
    ps_gemm_nt(R, N, C, d_mean, C, p->weights, C, 1.0f, d_h, N);
}

void mcgsm_sample(const mcgsm_dims *d, const mcgsm_params *p, const mcgsm_state *st, int R,
                  ps_rng *rng, float *x)
{
    int C = d->components, S = d->scales;
    for (int r = 0; r < R; r++) {
        const double *lg = st->log_gate + (size_t)r * C * S;
        double u = ps_rng_uniform(rng), acc = 0.0;
        int k = C * S - 1; /* rounding leaves the last expert whatever mass is left */
        for (int j = 0; j < C * S; j++) {
            acc += exp(lg[j]);
            if (u < acc) {
                k = j;
                break;
            }
        }
        double mean = st->mean[(size_t)r * C + k / S];
        if (d->expert == MCGSM_BERNOULLI) {
            double p1 = 1.0 / (1.0 + exp(-(mean + p->bias[k])));
            x[r] = ps_rng_uniform(rng) < p1 ? 1.0f : 0.0f;
        } else {
            double y = mean + exp(-0.5 * p->alpha[k]) * ps_rng_normal(rng);
            if (d->expert == MCGSM_BINNED) /* the bin y falls in */
                y = fmin(fmax(floor((y + 1.0) * 0.5 * d->levels), 0.0), d->levels - 1.0);
            x[r] = (float)y;
        }
    }
}
