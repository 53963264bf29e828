/* Ladder VAE (Sønderby et al. 2016) on binary images, with `layers` (L >= 2) stochastic
 * layers of `latent` Gaussian units each and one dense ReLU layer of `hidden` units in
 * every deterministic step. Layer 0 is the bottom one (the paper's z_1).
 *
 *   bottom-up   d_0 = relu(x U_0), d_i = relu(d_{i-1} U_i); [mu^_i | log_s^_i] = d_i E_i
 *   generative  p(z_{L-1}) = N(0, I); t_i = relu(z_{i+1} T_i), [mu_p,i | log_s_p,i] = t_i P_i;
 *               p(x | z_0): Bernoulli logits = relu(z_0 G) O
 *   inference   q(z_{L-1} | x) = N(mu^_{L-1}, s^_{L-1}^2); below the top, q(z_i | z_{i+1}, x)
 *               is the precision-weighted product of the bottom-up N(mu^_i, s^_i^2) and
 *               the top-down p(z_i | z_{i+1}), sharing the generative path's parameters
 *
 * (every dense layer has a bias). Loss: the negative ELBO with one reparameterized sample
 * of each layer, top-down, -log p(x | z_0) + KL(q(z_{L-1}) || N(0, I)) + Σ_{i<L-1}
 * KL(q(z_i | z_{i+1}, x) || p(z_i | z_{i+1})), each KL analytic given the sampled z_{i+1}.
 * Evaluation: the importance-weighted bound with k = `ensemble` samples (default 16).
 * The paper's batch normalization and KL warm-up are left out. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_model_internal.h"
#include "priorsep/gaussian_latent.h"
#include "priorsep/layers.h"
#include "priorsep/pixel_likelihood.h"

/* NLL_ROWS: rows (image samples) per pass of scoring and sampling, which bounds the
 * scratch (about 30 KB a row at 28x28 with 512 hidden units, 2 layers of 32). */
enum { MAX_LAYERS = 8, NLL_ROWS = 1024 };

/* A dense layer's weights [in][out] then bias [out], at `off` in the parameter block. */
typedef struct dense {
    int in, out;
    size_t off;
} dense;

/* dense layers in parameter order: up[L], enc[L], td[L-1], pri[L-1], dec, out */
typedef struct ladder {
    int L, D, H, Z, k;
    dense up[MAX_LAYERS], enc[MAX_LAYERS], td[MAX_LAYERS], pri[MAX_LAYERS], dec, out;
    float *params, *grads;
    int cap; /* rows the scratch holds */
    /* forward, one row per image or sample */
    float *x;                         /* cap x D */
    float *d[MAX_LAYERS], *e[MAX_LAYERS];   /* bottom-up: cap x H, cap x 2Z [mu^ | log_s^] */
    float *t[MAX_LAYERS], *p[MAX_LAYERS];   /* top-down prior: cap x H, cap x 2Z */
    float *q[MAX_LAYERS];             /* posterior: cap x 2Z [mu | log_s] */
    float *eps[MAX_LAYERS], *z[MAX_LAYERS]; /* cap x Z */
    float *g, *logits;                /* decoder hidden cap x H, logits cap x D */
    /* backward */
    float *dd[MAX_LAYERS], *de[MAX_LAYERS], *dp[MAX_LAYERS], *dq, *dz[MAX_LAYERS], *dh, *da,
        *dlogits;
    double *log_w;
    uint8_t *pixels; /* cap x D: samples */
} ladder;

static float *W(const ladder *v, const dense *l) { return v->params + l->off; }
static float *B(const ladder *v, const dense *l) { return v->params + l->off + (size_t)l->in * l->out; }
static float *GW(const ladder *v, const dense *l) { return v->grads + l->off; }
static float *GB(const ladder *v, const dense *l) { return v->grads + l->off + (size_t)l->in * l->out; }

static void place(dense *l, int in, int out, size_t *off)
{
    *l = (dense){.in = in, .out = out, .off = *off};
    *off += (size_t)(in + 1) * out;
}

/* every scratch array, with its floats per row; returns their number */
static int scratch_list(ladder *v, ps_scratch_entry *s)
{
    int n = 0, H = v->H, Z2 = 2 * v->Z, Z = v->Z;
    s[n++] = (ps_scratch_entry){&v->x, v->D};
    s[n++] = (ps_scratch_entry){&v->g, H};
    s[n++] = (ps_scratch_entry){&v->logits, v->D};
    s[n++] = (ps_scratch_entry){&v->dq, Z2};
    s[n++] = (ps_scratch_entry){&v->dh, H};
    s[n++] = (ps_scratch_entry){&v->da, H};
    s[n++] = (ps_scratch_entry){&v->dlogits, v->D};
    for (int i = 0; i < v->L; i++) {
        s[n++] = (ps_scratch_entry){&v->d[i], H};
        s[n++] = (ps_scratch_entry){&v->e[i], Z2};
        s[n++] = (ps_scratch_entry){&v->t[i], H};
        s[n++] = (ps_scratch_entry){&v->p[i], Z2};
        s[n++] = (ps_scratch_entry){&v->q[i], Z2};
        s[n++] = (ps_scratch_entry){&v->eps[i], Z};
        s[n++] = (ps_scratch_entry){&v->z[i], Z};
        s[n++] = (ps_scratch_entry){&v->dd[i], H};
        s[n++] = (ps_scratch_entry){&v->de[i], Z2};
        s[n++] = (ps_scratch_entry){&v->dp[i], Z2};
        s[n++] = (ps_scratch_entry){&v->dz[i], Z};
    }
    return n;
}

static void free_scratch(ladder *v)
{
    ps_scratch_entry s[7 + 11 * MAX_LAYERS];
    ps_scratch_free(s, scratch_list(v, s));
    free(v->log_w);
    free(v->pixels);
    v->log_w = NULL;
    v->pixels = NULL;
    v->cap = 0;
}

/* Grows the scratch to N rows; aborts when memory runs out (no error path in the loss). */
static void reserve(ladder *v, int N)
{
    if (N <= v->cap) return;
    free_scratch(v);
    ps_scratch_entry s[7 + 11 * MAX_LAYERS];
    ps_scratch_alloc(s, scratch_list(v, s), N);
    v->log_w = calloc(N, sizeof(double));
    v->pixels = calloc((size_t)N * v->D, 1);
    if (!v->log_w || !v->pixels) abort();
    v->cap = N;
}

static int ladder_create(ps_image_model *m, ps_error *err)
{
    ps_image_config *c = &m->cfg;
    if (c->levels != 2) return ps_error_set(err, "ladder-vae: binary images only (levels 2)");
    if (c->components) return ps_error_set(err, "ladder-vae: no components");
    if (!c->hidden) c->hidden = 128;
    if (!c->layers) c->layers = 2;
    if (!c->latent) c->latent = 16;
    if (!c->ensemble) c->ensemble = 16;
    if (c->layers < 2 || c->layers > MAX_LAYERS || c->hidden < 1 || c->hidden > 4096 ||
        c->latent < 1 || c->latent > 1024 || c->ensemble < 1 || c->ensemble > 1 << 20)
        return ps_error_set(err, "ladder-vae: layers %d (2..%d), hidden %d, latent %d or "
                            "ensemble %d out of range", c->layers, MAX_LAYERS, c->hidden,
                            c->latent, c->ensemble);
    ladder *v = calloc(1, sizeof *v);
    if (!v) return ps_error_set(err, "ladder-vae: out of memory");
    v->L = c->layers;
    v->D = c->height * c->width;
    v->H = c->hidden;
    v->Z = c->latent;
    v->k = c->ensemble;
    size_t off = 0;
    for (int i = 0; i < v->L; i++) place(&v->up[i], i ? v->H : v->D, v->H, &off);
    for (int i = 0; i < v->L; i++) place(&v->enc[i], v->H, 2 * v->Z, &off);
    for (int i = 0; i + 1 < v->L; i++) place(&v->td[i], v->Z, v->H, &off);
    for (int i = 0; i + 1 < v->L; i++) place(&v->pri[i], v->H, 2 * v->Z, &off);
    place(&v->dec, v->Z, v->H, &off);
    place(&v->out, v->H, v->D, &off);
    m->n_params = off;
    m->impl = v;
    return 0;
}

static void ladder_bind(ps_image_model *m)
{
    ladder *v = m->impl;
    v->params = m->params;
    v->grads = m->grads;
}

static void ladder_destroy(ps_image_model *m)
{
    free_scratch(m->impl);
    free(m->impl);
}

static void init_dense(ladder *v, const dense *l, float gain, ps_rng *rng)
{
    ps_rng_fill_normal(rng, W(v, l), (size_t)l->in * l->out, gain / sqrtf((float)l->in));
    memset(B(v, l), 0, l->out * sizeof(float));
}

/* He initialization for layers feeding a ReLU (gain sqrt 2), 1/fan_in for the others */
static void ladder_init(ps_image_model *m, ps_rng *rng)
{
    ladder *v = m->impl;
    for (int i = 0; i < v->L; i++) init_dense(v, &v->up[i], sqrtf(2.0f), rng);
    for (int i = 0; i < v->L; i++) init_dense(v, &v->enc[i], 1.0f, rng);
    for (int i = 0; i + 1 < v->L; i++) init_dense(v, &v->td[i], sqrtf(2.0f), rng);
    for (int i = 0; i + 1 < v->L; i++) init_dense(v, &v->pri[i], 1.0f, rng);
    init_dense(v, &v->dec, sqrtf(2.0f), rng);
    init_dense(v, &v->out, 1.0f, rng);
}

static void dense_forward(const ladder *v, const dense *l, float *out, const float *in, int N)
{
    linear_forward(ps_gemm, out, l->out, in, l->in, N, l->in, l->out, W(v, l), B(v, l), 0);
}

/* d_in may be NULL */
static void dense_backward(const ladder *v, const dense *l, float *d_in, const float *d_out,
                           const float *in, int N)
{
    linear_backward(d_in, l->in, GW(v, l), GB(v, l), d_out, l->out, in, l->in, N, l->in, l->out,
                    W(v, l));
}

/* relu(in W + b), N rows */
static void dense_relu_forward(const ladder *v, const dense *l, float *out, const float *in, int N)
{
    dense_forward(v, l, out, in, N);
    relu_forward(out, out, (size_t)N * l->out);
}

/* d_out: gradient on the ReLU's output `out`; uses v->da for the pre-activation's. */
static void dense_relu_backward(ladder *v, const dense *l, float *d_in, const float *d_out,
                                const float *out, const float *in, int N)
{
    memset(v->da, 0, (size_t)N * l->out * sizeof(float));
    relu_backward(v->da, d_out, out, (size_t)N * l->out);
    dense_backward(v, l, d_in, v->da, in, N);
}

/* The bottom-up pass over the n images in v->x: d_i and e_i. */
static void bottom_up(ladder *v, int n)
{
    for (int i = 0; i < v->L; i++) {
        dense_relu_forward(v, &v->up[i], v->d[i], i ? v->d[i - 1] : v->x, n);
        dense_forward(v, &v->enc[i], v->e[i], v->d[i], n);
    }
}

/* p(z_i | z_{i+1}) for N rows: t_i, p_i. */
static void prior_forward(ladder *v, int i, int N)
{
    dense_relu_forward(v, &v->td[i], v->t[i], v->z[i + 1], N);
    dense_forward(v, &v->pri[i], v->p[i], v->t[i], N);
}

/* Draws z_i of N rows from the Gaussians `g` (rows [mu | log_s]). */
static void sample_rows(ladder *v, int i, const float *g, int N, ps_rng *rng)
{
    int Z = v->Z;
    for (int j = 0; j < N; j++)
        gaussian_sample_forward(v->z[i] + (size_t)j * Z, v->eps[i] + (size_t)j * Z,
                                g + (size_t)j * 2 * Z, g + (size_t)j * 2 * Z + Z, Z, rng);
}

/* The top-down pass for N rows given e_i: q_i and z_i for every layer (p_i below the
 * top). Returns the sum over rows and layers of the KL terms. */
static double top_down(ladder *v, int N, ps_rng *rng)
{
    int Z = v->Z, top = v->L - 1;
    size_t rows2 = (size_t)N * 2 * Z;
    double kl = 0.0;
    memcpy(v->q[top], v->e[top], rows2 * sizeof(float));
    sample_rows(v, top, v->q[top], N, rng);
    for (int j = 0; j < N; j++) {
        const float *q = v->q[top] + (size_t)j * 2 * Z;
        kl += gaussian_kl_forward(q, q + Z, NULL, NULL, Z);
    }
    for (int i = top - 1; i >= 0; i--) {
        prior_forward(v, i, N);
        for (int j = 0; j < N; j++) {
            const float *e = v->e[i] + (size_t)j * 2 * Z, *p = v->p[i] + (size_t)j * 2 * Z;
            float *q = v->q[i] + (size_t)j * 2 * Z;
            gaussian_combine_forward(q, q + Z, e, e + Z, p, p + Z, Z);
            kl += gaussian_kl_forward(q, q + Z, p, p + Z, Z);
        }
        sample_rows(v, i, v->q[i], N, rng);
    }
    return kl;
}

/* p(x | z_0) for N rows: v->g, v->logits. */
static void decoder_forward(ladder *v, int N)
{
    dense_relu_forward(v, &v->dec, v->g, v->z[0], N);
    dense_forward(v, &v->out, v->logits, v->g, N);
}

static void load_pixels(ladder *v, const uint8_t *x, int n)
{
    for (size_t i = 0; i < (size_t)n * v->D; i++) v->x[i] = x[i];
}

static double ladder_loss(ps_image_model *m, const uint8_t *x, int n, float scale,
                          int backward, ps_rng *rng)
{
    ladder *v = m->impl;
    int L = v->L, D = v->D, H = v->H, Z = v->Z, top = L - 1;
    reserve(v, n);
    load_pixels(v, x, n);
    bottom_up(v, n);
    double kl = top_down(v, n, rng), rec = 0.0;
    decoder_forward(v, n);
    if (!backward) return kl + ps_bernoulli_nll_sum(v->logits, x, n * D, 0.0f, NULL);
    /* decoder */
    memset(v->dlogits, 0, (size_t)n * D * sizeof(float));
    rec = ps_bernoulli_nll_sum(v->logits, x, n * D, scale, v->dlogits);
    for (int i = 0; i < L; i++) {
        memset(v->dz[i], 0, (size_t)n * Z * sizeof(float));
        memset(v->de[i], 0, (size_t)n * 2 * Z * sizeof(float));
        memset(v->dp[i], 0, (size_t)n * 2 * Z * sizeof(float));
        memset(v->dd[i], 0, (size_t)n * H * sizeof(float));
    }
    memset(v->dh, 0, (size_t)n * H * sizeof(float));
    dense_backward(v, &v->out, v->dh, v->dlogits, v->g, n);
    dense_relu_backward(v, &v->dec, v->dz[0], v->dh, v->g, v->z[0], n);
    /* the top-down pass, upwards: d z_i is complete once layer i - 1's prior is done */
    for (int i = 0; i < top; i++) {
        memset(v->dq, 0, (size_t)n * 2 * Z * sizeof(float));
        for (int j = 0; j < n; j++) {
            size_t r = (size_t)j * 2 * Z;
            const float *q = v->q[i] + r, *p = v->p[i] + r, *e = v->e[i] + r;
            float *dq = v->dq + r, *dp = v->dp[i] + r, *de = v->de[i] + r;
            gaussian_sample_backward(dq, dq + Z, v->dz[i] + (size_t)j * Z, v->eps[i] + (size_t)j * Z,
                                     q + Z, Z);
            gaussian_kl_backward(dq, dq + Z, dp, dp + Z, scale, q, q + Z, p, p + Z, Z);
            gaussian_combine_backward(de, de + Z, dp, dp + Z, dq, dq + Z, e, e + Z, p, p + Z, Z);
        }
        memset(v->dh, 0, (size_t)n * H * sizeof(float));
        dense_backward(v, &v->pri[i], v->dh, v->dp[i], v->t[i], n);
        dense_relu_backward(v, &v->td[i], v->dz[i + 1], v->dh, v->t[i], v->z[i + 1], n);
    }
    for (int j = 0; j < n; j++) {
        size_t r = (size_t)j * 2 * Z;
        const float *q = v->q[top] + r;
        float *de = v->de[top] + r;
        gaussian_sample_backward(de, de + Z, v->dz[top] + (size_t)j * Z,
                                 v->eps[top] + (size_t)j * Z, q + Z, Z);
        gaussian_kl_backward(de, de + Z, NULL, NULL, scale, q, q + Z, NULL, NULL, Z);
    }
    /* the bottom-up pass, downwards */
    for (int i = top; i >= 0; i--) {
        dense_backward(v, &v->enc[i], v->dd[i], v->de[i], v->d[i], n);
        dense_relu_backward(v, &v->up[i], i ? v->dd[i - 1] : NULL, v->dd[i], v->d[i],
                            i ? v->d[i - 1] : v->x, n);
    }
    return rec + kl;
}

/* Importance-weighted bound: the bottom-up pass once per image, the top-down pass and
 * decoder on k samples each, log w = log p(x | z_0) + Σ_i log p(z_i | z_{i+1}) - log q(z_i | .). */
static void ladder_nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng)
{
    ladder *v = m->impl;
    int k = v->k, Z = v->Z, D = v->D, top = v->L - 1;
    int group = NLL_ROWS / k > 0 ? NLL_ROWS / k : 1;
    reserve(v, group * k);
    for (int first = 0; first < n; first += group) {
        int g = n - first < group ? n - first : group, N = g * k;
        const uint8_t *xg = x + (size_t)first * D;
        load_pixels(v, xg, g);
        bottom_up(v, g);
        /* image b's rows to rows b k .. b k + k - 1, from the end so no source is
         * overwritten before it is read (row j reads row j / k <= j) */
        for (int i = 0; i < v->L; i++)
            for (int j = N - 1; j >= 0; j--)
                memmove(v->e[i] + (size_t)j * 2 * Z, v->e[i] + (size_t)(j / k) * 2 * Z,
                        2 * Z * sizeof(float));
        top_down(v, N, rng);
        decoder_forward(v, N);
        for (int j = 0; j < N; j++) {
            size_t r = (size_t)j * 2 * Z;
            const float *zt = v->z[top] + (size_t)j * Z, *qt = v->q[top] + r;
            double lw = gaussian_logpdf_forward(zt, NULL, NULL, Z) -
                        gaussian_logpdf_forward(zt, qt, qt + Z, Z);
            for (int i = 0; i < top; i++) {
                const float *z = v->z[i] + (size_t)j * Z, *p = v->p[i] + r, *q = v->q[i] + r;
                lw += gaussian_logpdf_forward(z, p, p + Z, Z) - gaussian_logpdf_forward(z, q, q + Z, Z);
            }
            v->log_w[j] = lw - ps_bernoulli_nll_sum(v->logits + (size_t)j * D,
                                                    xg + (size_t)(j / k) * D, D, 0.0f, NULL);
        }
        for (int b = 0; b < g; b++) out[first + b] = ps_image_neg_log_mean_exp(v->log_w + (size_t)b * k, k);
    }
}

/* Ancestral sampling: z_{L-1} from N(0, I), each z_i from p(z_i | z_{i+1}), then pixels. */
static void ladder_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    ladder *v = m->impl;
    int Z = v->Z, top = v->L - 1;
    reserve(v, NLL_ROWS);
    for (int first = 0; first < n; first += NLL_ROWS) {
        int N = n - first < NLL_ROWS ? n - first : NLL_ROWS;
        for (size_t i = 0; i < (size_t)N * Z; i++) v->z[top][i] = ps_rng_normal(rng);
        for (int i = top - 1; i >= 0; i--) {
            prior_forward(v, i, N);
            sample_rows(v, i, v->p[i], N, rng);
        }
        decoder_forward(v, N);
        uint8_t *x = out + (size_t)first * v->D;
        for (size_t i = 0; i < (size_t)N * v->D; i++) x[i] = (uint8_t)ps_bernoulli_sample(v->logits[i], rng);
    }
}

const ps_image_ops ps_ladder_vae_ops = {
    .kind = "ladder-vae",
    .exact = 0,
    .autoregressive = 0,
    .create = ladder_create,
    .bind = ladder_bind,
    .destroy = ladder_destroy,
    .init = ladder_init,
    .loss = ladder_loss,
    .nll = ladder_nll,
    .sample = ladder_sample,
};
