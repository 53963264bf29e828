#include "priorsep/separator_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/heads.h"
#include "priorsep/prior.h"
#include "priorsep/wavenet_train.h"

/* -SI-SDR(est, ref) in dB over n samples and d(-SI-SDR)/d est (added, times scale).
 * With a = <est, ref>, b = <ref, ref>, c = <est, est>: SI-SDR = 10 log10(a^2/b) -
 * 10 log10(c - a^2/b); tiny terms keep both logarithms finite for silent crops. */
static double neg_si_sdr(const float *est, const float *ref, int n, float scale, float *d_est,
                         int stride)
{
    double a = 0, b = 0, c = 0;
    for (int i = 0; i < n; i++) {
        double e = est[(size_t)i * stride], r = ref[i];
        a += e * r, b += r * r, c += e * e;
    }
    const double tiny = 1e-8;
    double target = a * a / (b + tiny), noise = c - target;
    if (noise < 0) noise = 0;
    double k = 10.0 / log(10.0);
    double value = -k * (log(target + tiny) - log(noise + tiny));
    /* d target/d est = 2 a ref / b;  d noise/d est = 2 est - d target/d est */
    double gt = -k / (target + tiny), gn = k / (noise + tiny);
    for (int i = 0; i < n; i++) {
        double dt = 2.0 * a * ref[i] / (b + tiny), dn = 2.0 * est[(size_t)i * stride] - dt;
        d_est[(size_t)i * stride] += scale * (float)(gt * dt + gn * dn);
    }
    return value;
}

double ps_separator_supervised_loss(int N, int L, const float *rows, int T,
                                    const float *const *src, float nll_beta, float si_weight,
                                    float scale, float *d_rows, double *neg_si)
{
    double nll = 0.0;
    int n = T - L;
    for (int t = 0; t < n; t++) {
        const float *row = rows + (size_t)(t + L) * 2 * N;
        float *d_row = d_rows + (size_t)(t + L) * 2 * N;
        for (int k = 0; k < N; k++) {
            /* beta-NLL: the term weighs sigma^(2 beta), held constant in the gradient */
            float c = nll_beta > 0.0f
                          ? expf(2.0f * nll_beta * ps_gaussian_clamp_log_scale(row[N + k]))
                          : 1.0f;
            nll += c * ps_gaussian_nll_backward(row[k], row[N + k], src[k][t], scale * c,
                                                &d_row[k], &d_row[N + k]);
        }
    }
    double si = 0.0;
    if (si_weight > 0.0f && n > 0)
        for (int k = 0; k < N; k++)
            si += neg_si_sdr(rows + (size_t)L * 2 * N + k, src[k], n, scale * si_weight,
                             d_rows + (size_t)L * 2 * N + k, 2 * N);
    if (neg_si) *neg_si = si;
    return nll + si_weight * si;
}

struct ps_elbo_work {
    int N, L, max_T;
    float w[PS_MAX_SOURCES];
    ps_wavenet *const *priors;
    ps_noise_ladder ladder[PS_MAX_SOURCES];
    ps_wavenet_acts *acts[PS_MAX_SOURCES];
    float *eps, *s, *d_s, *d_out; /* [N][T], [N][T], [N][T], [T][out_dim of the widest] */
};

ps_elbo_work *ps_elbo_work_create(const ps_model_info *info, ps_wavenet *const *priors,
                                  const ps_model_info *prior_info, int max_T, ps_error *err)
{
    ps_elbo_work *w = calloc(1, sizeof *w);
    if (!w) {
        ps_error_set(err, "ELBO: out of memory");
        return NULL;
    }
    w->N = info->n_sources, w->L = info->lookahead, w->max_T = max_T, w->priors = priors;
    int widest = 1, ok = 1;
    for (int k = 0; k < w->N; k++) {
        w->w[k] = info->weights[k];
        w->ladder[k] = (ps_noise_ladder){prior_info[k].noise_levels, prior_info[k].sigma_max,
                                         prior_info[k].sigma_min};
        int o = ps_wavenet_out_dim(ps_wavenet_config_of(priors[k]));
        if (o > widest) widest = o;
        if (ok && !(w->acts[k] = ps_wavenet_acts_create(priors[k], max_T, err))) ok = 0;
    }
    size_t NT = (size_t)w->N * (size_t)max_T;
    w->eps = malloc(sizeof(float) * NT);
    w->s = malloc(sizeof(float) * NT);
    w->d_s = malloc(sizeof(float) * NT);
    w->d_out = malloc(sizeof(float) * (size_t)max_T * (size_t)widest);
    if (ok && (!w->eps || !w->s || !w->d_s || !w->d_out)) {
        ps_error_set(err, "ELBO: out of memory for crops of %d samples", max_T);
        ok = 0;
    }
    if (!ok) {
        ps_elbo_work_destroy(w);
        return NULL;
    }
    return w;
}

void ps_elbo_work_destroy(ps_elbo_work *w)
{
    if (!w) return;
    for (int k = 0; k < w->N; k++) ps_wavenet_acts_destroy(w->acts[k]);
    free(w->eps), free(w->s), free(w->d_s), free(w->d_out);
    free(w);
}

/* beta * -log p_k(s[0..n-1]) from silence: rows of the prior over s[0..n-2] predict
 * s[1..n-1]; its gradient with respect to s is added to d_s (times scale). */
static double prior_term(ps_elbo_work *w, int k, const float *s, int n, float prior_sigma,
                         float beta_scale, float *d_s)
{
    if (n < 2) return 0.0;
    const ps_wavenet *net = w->priors[k];
    const ps_wavenet_config *c = ps_wavenet_config_of(net);
    int O = ps_wavenet_out_dim(c);
    float cond[PS_PRIOR_COND];
    ps_noise_cond(&w->ladder[k], prior_sigma, cond);
    const float *out = ps_wavenet_train_forward(net, w->acts[k], s, cond, n - 1);
    memset(w->d_out, 0, sizeof(float) * (size_t)(n - 1) * O);
    double nll = 0.0;
    for (int t = 0; t + 1 < n; t++)
        nll += ps_mol_nll_backward(out + (size_t)t * O, c->mixtures, s[t + 1], beta_scale,
                                   w->d_out + (size_t)t * O, &d_s[t + 1]);
    ps_wavenet_train_backward(net, w->acts[k], w->d_out, NULL, d_s);
    return nll;
}

double ps_separator_elbo_loss(ps_elbo_work *w, const ps_elbo_settings *set, const float *x,
                              const float *rows, int T, ps_rng *rng, float scale,
                              float *d_rows, ps_elbo_terms *terms)
{
    int N = w->N, L = w->L, n = T - L;
    ps_elbo_terms tm = {0};
    if (n < 1) {
        if (terms) *terms = tm;
        return 0.0;
    }
    float inv_g2 = 1.0f / (set->gamma * set->gamma);
    /* the sample: s_k = mean + scale * eps */
    for (int t = 0; t < n; t++) {
        const float *row = rows + (size_t)(t + L) * 2 * N;
        for (int k = 0; k < N; k++) {
            float e = ps_rng_normal(rng);
            w->eps[(size_t)k * n + t] = e;
            w->s[(size_t)k * n + t] = row[k] + expf(ps_gaussian_clamp_log_scale(row[N + k])) * e;
        }
    }
    memset(w->d_s, 0, sizeof(float) * (size_t)N * n);
    /* -log N(m; sum_k w_k s_k, gamma^2) without its constant */
    for (int t = 0; t < n; t++) {
        float r = x[t];
        for (int k = 0; k < N; k++) r -= w->w[k] * w->s[(size_t)k * n + t];
        tm.likelihood += 0.5 * r * r * inv_g2;
        for (int k = 0; k < N; k++) w->d_s[(size_t)k * n + t] -= scale * w->w[k] * r * inv_g2;
    }
    for (int k = 0; k < N; k++)
        tm.prior += set->beta * prior_term(w, k, w->s + (size_t)k * n, n, set->prior_sigma,
                                           scale * set->beta, w->d_s + (size_t)k * n);
    /* through the sample to the rows; -H[q] = -sum log-scales (+ constant) */
    for (int t = 0; t < n; t++) {
        const float *row = rows + (size_t)(t + L) * 2 * N;
        float *d_row = d_rows + (size_t)(t + L) * 2 * N;
        for (int k = 0; k < N; k++) {
            float ls = ps_gaussian_clamp_log_scale(row[N + k]), ds = w->d_s[(size_t)k * n + t];
            tm.entropy -= ls;
            d_row[k] += ds;
            if (ls == row[N + k])
                d_row[N + k] += ds * expf(ls) * w->eps[(size_t)k * n + t] - scale;
        }
    }
    if (terms) *terms = tm;
    return tm.likelihood + tm.prior + tm.entropy;
}
