/* VQ-VAE (van den Oord et al. 2017) on binary images.
 *
 * Each P x P patch of the image (P = config `layers`, default 4 where height and width
 * are multiples of 4, else 1) is one position of a (height/P) x (width/P) grid of codes:
 *
 *   encoder   z_e = W2 relu(W1 patch + b1) + b2            (patch pixels as -1 / +1)
 *   quantizer k = nearest of K codebook vectors (D floats), z_q = e_k
 *   decoder   logits = W4 relu(W3 z_q + b3) + b4           (P*P Bernoulli logits)
 *   prior     an LSTM over the code grid in raster order   (code_prior.h)
 *
 * with hidden = `hidden`, D = `latent`, K = `components`. The encoder and decoder act on
 * every patch of every image alike, as one product each (a stride-P convolution with a
 * P x P kernel), so a code carries its patch alone and the prior carries the rest.
 *
 * Training loss (per image) = -log p(x | z_q) + beta ||z_e - sg(z_q)||^2 - log p(sg(z)):
 * the prior is trained jointly on the codes it is given, with no gradient into the
 * encoder; the encoder gets the straight-through gradient plus the commitment gradient
 * (vector_quantizer.h); the codebook follows EMAs of the encoder outputs, applied in
 * after_step from the last backward loss call, with dead codes restarted on the data.
 *
 * Likelihood: q(z | x) is one-hot at the encoder's codes z(x), so
 *   -log p(x) = -log sum_z p(x | z) p(z) <= -log p(x | z(x)) - log p(z(x)),
 * which ps_image_model_nll returns (the model is not exact). */
#include "priorsep/vqvae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_model_internal.h"
#include "priorsep/code_prior.h"
#include "priorsep/gemm.h"
#include "priorsep/heads.h"
#include "priorsep/layers.h"
#include "priorsep/pixel_likelihood.h"
#include "priorsep/vector_quantizer.h"

/* The commitment weight of the paper (results were robust to 0.1 .. 2.0). */
#define COMMIT_BETA 0.25f

typedef struct tensors {
    float *enc_w1, *enc_b1, *enc_w2, *enc_b2; /* P*P x hidden, hidden, hidden x D, D */
    float *dec_w1, *dec_b1, *dec_w2, *dec_b2; /* D x hidden, hidden, hidden x P*P, P*P */
    code_prior prior;
} tensors;

typedef struct vqvae {
    int P, gh, gw, G, pp; /* patch side, code grid, positions, pixels per patch */
    int H, D, K;
    size_t encoder_params;
    tensors p, g; /* views of m->params and m->grads */
    /* The codebook and its moving averages: state, not parameters (no gradient). */
    float *codebook, *ema_count, *ema_sum;
    /* The last backward loss call's batch, for after_step. */
    int stat_rows, stat_cap;
    float *stat_count, *stat_sum, *stat_z_e, *stat_dist;
    ps_rng restart_rng;
    /* Frozen quantizer (ps_vqvae_freeze): 0 images when thawed. */
    int frozen_n;
    int *frozen_codes;
    float *frozen_offset;
    /* Scratch for `cap` images (cap * G rows). */
    int cap;
    float *patches, *enc_a, *enc_h, *z_e, *z_q, *dec_in, *scores, *dec_a, *dec_h, *logits;
    float *d_logits, *d_h, *d_a, *d_z_q, *d_z_e;
    int *codes;
    code_prior_buffers prior_buf;
} vqvae;

static vqvae *impl(const ps_image_model *m) { return m->impl; }

static void free_scratch(vqvae *v)
{
    float **bufs[] = {&v->patches, &v->enc_a, &v->enc_h, &v->z_e, &v->z_q, &v->dec_in,
                      &v->scores, &v->dec_a, &v->dec_h, &v->logits, &v->d_logits, &v->d_h,
                      &v->d_a, &v->d_z_q, &v->d_z_e};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(v->codes);
    v->codes = NULL;
    code_prior_buffers_free(&v->prior_buf);
    v->cap = 0;
}

/* Grows the scratch to n images; aborts on out of memory (the interface's loss, nll and
 * sample have no error path). */
static void reserve(vqvae *v, int n)
{
    if (n <= v->cap) return;
    free_scratch(v);
    size_t rows = (size_t)n * v->G, H = v->H, D = v->D, pp = v->pp;
    struct { float **buf; size_t floats; } need[] = {
        {&v->patches, rows * pp}, {&v->enc_a, rows * H},    {&v->enc_h, rows * H},
        {&v->z_e, rows * D},      {&v->z_q, rows * D},      {&v->dec_in, rows * D},
        {&v->scores, (rows + 1) * v->K}, {&v->dec_a, rows * H}, {&v->dec_h, rows * H},
        {&v->logits, rows * pp},  {&v->d_logits, rows * pp}, {&v->d_h, rows * H},
        {&v->d_a, rows * H},      {&v->d_z_q, rows * D},     {&v->d_z_e, rows * D}};
    int ok = 1;
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        ok &= (*need[i].buf = malloc(need[i].floats * sizeof(float))) != NULL;
    ok &= (v->codes = malloc(rows * sizeof(int))) != NULL;
    ok &= code_prior_buffers_alloc(&v->prior_buf, &v->p.prior, n) == 0;
    if (!ok) abort();
    v->cap = n;
}

static size_t param_count(const vqvae *v)
{
    size_t decoder = (size_t)v->D * v->H + v->H + (size_t)v->H * v->pp + v->pp;
    return v->encoder_params + decoder + code_prior_param_count(v->K, v->G, v->H);
}

static void bind_tensors(tensors *t, float *block, const vqvae *v)
{
    float *q = block;
    size_t pp = v->pp, H = v->H, D = v->D;
    t->enc_w1 = q, q += pp * H;
    t->enc_b1 = q, q += H;
    t->enc_w2 = q, q += H * D;
    t->enc_b2 = q, q += D;
    t->dec_w1 = q, q += D * H;
    t->dec_b1 = q, q += H;
    t->dec_w2 = q, q += H * pp;
    t->dec_b2 = q, q += pp;
    code_prior_bind(&t->prior, q, v->K, v->G, v->H);
}

static int vqvae_create(ps_image_model *m, ps_error *err)
{
    ps_image_config *c = &m->cfg;
    if (c->levels != 2)
        return ps_error_set(err, "vqvae: binary images only (levels 2), not %d", c->levels);
    if (!c->layers) c->layers = c->height % 4 == 0 && c->width % 4 == 0 ? 4 : 1;
    if (!c->hidden) c->hidden = 64;
    if (!c->latent) c->latent = 16;
    if (!c->components) c->components = 64;
    if (c->layers < 1 || c->height % c->layers || c->width % c->layers)
        return ps_error_set(err, "vqvae: the patch side (layers = %d) must divide the image "
                                 "size %dx%d", c->layers, c->height, c->width);
    if (c->hidden < 1 || c->latent < 1 || c->components < 2 || c->components > 65536)
        return ps_error_set(err, "vqvae: hidden %d and latent %d must be >= 1, components %d "
                                 "in 2..65536", c->hidden, c->latent, c->components);
    vqvae *v = calloc(1, sizeof *v);
    if (!v) return ps_error_set(err, "vqvae: out of memory");
    v->P = c->layers;
    v->gh = c->height / v->P;
    v->gw = c->width / v->P;
    v->G = v->gh * v->gw;
    v->pp = v->P * v->P;
    v->H = c->hidden;
    v->D = c->latent;
    v->K = c->components;
    v->encoder_params = (size_t)v->pp * v->H + v->H + (size_t)v->H * v->D + v->D;
    size_t K = v->K, D = v->D;
    v->codebook = malloc(K * D * sizeof(float));
    v->ema_count = malloc(K * sizeof(float));
    v->ema_sum = malloc(K * D * sizeof(float));
    v->stat_count = malloc(K * sizeof(float));
    v->stat_sum = malloc(K * D * sizeof(float));
    if (!v->codebook || !v->ema_count || !v->ema_sum || !v->stat_count || !v->stat_sum) {
        m->impl = v;
        m->ops->destroy(m);
        return ps_error_set(err, "vqvae: out of memory");
    }
    m->impl = v;
    m->n_params = param_count(v);
    return 0;
}

static void vqvae_bind(ps_image_model *m)
{
    vqvae *v = impl(m);
    bind_tensors(&v->p, m->params, v);
    bind_tensors(&v->g, m->grads, v);
}

static void vqvae_destroy(ps_image_model *m)
{
    vqvae *v = impl(m);
    free_scratch(v);
    free(v->codebook);
    free(v->ema_count);
    free(v->ema_sum);
    free(v->stat_count);
    free(v->stat_sum);
    free(v->stat_z_e);
    free(v->stat_dist);
    free(v->frozen_codes);
    free(v->frozen_offset);
    free(v);
}

static void vqvae_init(ps_image_model *m, ps_rng *rng)
{
    vqvae *v = impl(m);
    tensors *t = &v->p;
    size_t pp = v->pp, H = v->H, D = v->D, K = v->K;
    memset(m->params, 0, m->n_params * sizeof(float));
    /* He initialization into the ReLUs, 1/fan_in variance into the linear outputs. */
    ps_rng_fill_normal(rng, t->enc_w1, pp * H, sqrtf(2.0f / pp));
    ps_rng_fill_normal(rng, t->enc_w2, H * D, sqrtf(1.0f / H));
    ps_rng_fill_normal(rng, t->dec_w1, D * H, sqrtf(2.0f / D));
    ps_rng_fill_normal(rng, t->dec_w2, H * pp, sqrtf(1.0f / H));
    code_prior_init(&t->prior, rng);
    /* The codebook only has to be defined before the first step: its first EMA update
     * finds every code dead (count 0) but those the batch used, and restarts them on the
     * batch's encoder outputs. */
    ps_rng_fill_normal(rng, v->codebook, K * D, 1.0f);
    memset(v->ema_count, 0, K * sizeof(float));
    memset(v->ema_sum, 0, K * D * sizeof(float));
    v->stat_rows = 0;
    ps_rng_seed(&v->restart_rng, ps_rng_u64(rng));
    ps_vqvae_thaw(m);
}

/* Patches of n images into rows (image, position) of P*P values -1 / +1. */
static void extract_patches(const vqvae *v, const ps_image_config *c, const uint8_t *x, int n,
                            float *patches)
{
    int P = v->P, W = c->width;
    for (int i = 0; i < n; i++)
        for (int gy = 0; gy < v->gh; gy++)
            for (int gx = 0; gx < v->gw; gx++) {
                float *row = patches + ((size_t)i * v->G + gy * v->gw + gx) * v->pp;
                const uint8_t *img = x + (size_t)i * c->height * W;
                for (int py = 0; py < P; py++)
                    for (int px = 0; px < P; px++)
                        row[py * P + px] = img[(gy * P + py) * W + gx * P + px] ? 1.0f : -1.0f;
            }
}

/* The pixel of image i under logit row r, column j of the patch. */
static size_t patch_pixel(const vqvae *v, const ps_image_config *c, int i, int r, int j)
{
    int pos = r % v->G, gy = pos / v->gw, gx = pos % v->gw;
    return ((size_t)i * c->height + gy * v->P + j / v->P) * c->width + gx * v->P + j % v->P;
}

static void encoder_forward(vqvae *v, const ps_image_config *c, const uint8_t *x, int n)
{
    int rows = n * v->G;
    extract_patches(v, c, x, n, v->patches);
    linear_forward(ps_gemm, v->enc_a, v->H, v->patches, v->pp, rows, v->pp, v->H, v->p.enc_w1,
                   v->p.enc_b1, 0);
    relu_forward(v->enc_h, v->enc_a, (size_t)rows * v->H);
    linear_forward(ps_gemm, v->z_e, v->D, v->enc_h, v->H, rows, v->H, v->D, v->p.enc_w2,
                   v->p.enc_b2, 0);
}

/* Decoder logits of rows z (rows x D) into v->logits. */
static void decoder_forward(vqvae *v, const float *z, int rows)
{
    linear_forward(ps_gemm, v->dec_a, v->H, z, v->D, rows, v->D, v->H, v->p.dec_w1, v->p.dec_b1,
                   0);
    relu_forward(v->dec_h, v->dec_a, (size_t)rows * v->H);
    linear_forward(ps_gemm, v->logits, v->pp, v->dec_h, v->H, rows, v->H, v->pp, v->p.dec_w2,
                   v->p.dec_b2, 0);
}

/* -log p(x | logits) per image into out (n values), total returned. */
static double reconstruction_nll(const vqvae *v, const ps_image_config *c, const uint8_t *x,
                                 int n, double *out)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int r = i * v->G; r < (i + 1) * v->G; r++)
            for (int j = 0; j < v->pp; j++)
                s += ps_bernoulli_nll_backward(v->logits[(size_t)r * v->pp + j],
                                               x[patch_pixel(v, c, i, r, j)], 0.0f, NULL);
        if (out) out[i] = s;
        total += s;
    }
    return total;
}

/* Encoder, quantizer (or the frozen surrogate), decoder: fills codes, z_q, dec_in and the
 * logits of n images. Returns the commitment sum (before beta). */
static double autoencode(vqvae *v, const ps_image_config *c, const uint8_t *x, int n)
{
    int rows = n * v->G;
    int frozen = v->frozen_n == n && n > 0;
    encoder_forward(v, c, x, n);
    if (frozen)
        memcpy(v->codes, v->frozen_codes, (size_t)rows * sizeof(int));
    else
        vq_assign(v->codes, v->scores, v->z_e, v->codebook, rows, v->K, v->D);
    double commit = vq_forward(v->z_q, v->codes, v->z_e, v->codebook, rows, v->D);
    size_t floats = (size_t)rows * v->D;
    for (size_t i = 0; i < floats; i++)
        v->dec_in[i] = frozen ? v->z_e[i] + v->frozen_offset[i] : v->z_q[i];
    decoder_forward(v, v->dec_in, rows);
    return commit;
}

static void autoencoder_backward(vqvae *v, const ps_image_config *c, const uint8_t *x, int n, float scale)
{
    int rows = n * v->G, H = v->H, D = v->D, pp = v->pp;
    const tensors *p = &v->p, *g = &v->g;
    /* Decoder: the Bernoulli likelihood of each patch pixel. */
    memset(v->d_logits, 0, (size_t)rows * pp * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < pp; j++) {
            size_t k = (size_t)r * pp + j;
            ps_bernoulli_nll_backward(v->logits[k], x[patch_pixel(v, c, r / v->G, r, j)], scale,
                                      &v->d_logits[k]);
        }
    memset(v->d_h, 0, (size_t)rows * H * sizeof(float));
    linear_backward(v->d_h, H, g->dec_w2, g->dec_b2, v->d_logits, pp, v->dec_h, H, rows, H, pp,
                    p->dec_w2);
    memset(v->d_a, 0, (size_t)rows * H * sizeof(float));
    relu_backward(v->d_a, v->d_h, v->dec_h, (size_t)rows * H);
    memset(v->d_z_q, 0, (size_t)rows * D * sizeof(float));
    linear_backward(v->d_z_q, D, g->dec_w1, g->dec_b1, v->d_a, H, v->dec_in, D, rows, D, H,
                    p->dec_w1);
    /* Quantizer: straight through, plus the commitment term. */
    memset(v->d_z_e, 0, (size_t)rows * D * sizeof(float));
    vq_backward(v->d_z_e, v->d_z_q, v->z_e, v->z_q, rows, D, COMMIT_BETA * scale);
    /* Encoder. */
    memset(v->d_h, 0, (size_t)rows * H * sizeof(float));
    linear_backward(v->d_h, H, g->enc_w2, g->enc_b2, v->d_z_e, D, v->enc_h, H, rows, H, D,
                    p->enc_w2);
    memset(v->d_a, 0, (size_t)rows * H * sizeof(float));
    relu_backward(v->d_a, v->d_h, v->enc_h, (size_t)rows * H);
    linear_backward(NULL, 0, g->enc_w1, g->enc_b1, v->d_a, H, v->patches, pp, rows, pp, H,
                    p->enc_w1);
}

/* Keeps the batch's assignments and encoder outputs for after_step. */
static void gather_statistics(vqvae *v, int rows)
{
    size_t K = v->K, D = v->D;
    if (rows > v->stat_cap) {
        free(v->stat_z_e);
        free(v->stat_dist);
        v->stat_z_e = malloc((size_t)rows * D * sizeof(float));
        v->stat_dist = malloc((size_t)rows * sizeof(float));
        if (!v->stat_z_e || !v->stat_dist) abort();
        v->stat_cap = rows;
    }
    memset(v->stat_count, 0, K * sizeof(float));
    memset(v->stat_sum, 0, K * D * sizeof(float));
    vq_ema_gather(v->stat_count, v->stat_sum, v->codes, v->z_e, rows, v->K, v->D);
    memcpy(v->stat_z_e, v->z_e, (size_t)rows * D * sizeof(float));
    v->stat_rows = rows;
}

static double vqvae_loss(ps_image_model *m, const uint8_t *x, int n, float scale, int backward,
                         ps_rng *rng)
{
    (void)rng; /* deterministic: q(z | x) is one-hot */
    vqvae *v = impl(m);
    reserve(v, n);
    double commit = autoencode(v, &m->cfg, x, n);
    double recon = reconstruction_nll(v, &m->cfg, x, n, NULL);
    double prior = code_prior_forward(&v->p.prior, v->codes, n, &v->prior_buf, NULL);
    if (backward) {
        autoencoder_backward(v, &m->cfg, x, n, scale);
        code_prior_backward(&v->p.prior, &v->g.prior, v->codes, n, scale, &v->prior_buf);
        gather_statistics(v, n * v->G);
    }
    return recon + COMMIT_BETA * commit + prior;
}

static void vqvae_after_step(ps_image_model *m)
{
    vqvae *v = impl(m);
    if (!v->stat_rows) return;
    vq_ema_update(v->codebook, v->ema_count, v->ema_sum, v->stat_count, v->stat_sum, v->K,
                  v->D, PS_VQ_EMA_DECAY, PS_VQ_LAPLACE_EPS);
    vq_restart_dead_codes(v->codebook, v->ema_count, v->ema_sum, v->stat_z_e, v->stat_rows,
                          v->K, v->D, v->stat_dist, &v->restart_rng);
    v->stat_rows = 0;
}

static void vqvae_nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng)
{
    (void)rng;
    vqvae *v = impl(m);
    reserve(v, n);
    double *prior = malloc((size_t)n * sizeof(double));
    if (!prior) abort();
    autoencode(v, &m->cfg, x, n);
    reconstruction_nll(v, &m->cfg, x, n, out);
    code_prior_forward(&v->p.prior, v->codes, n, &v->prior_buf, prior);
    for (int i = 0; i < n; i++) out[i] += prior[i];
    free(prior);
}

static void vqvae_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    vqvae *v = impl(m);
    reserve(v, n);
    int rows = n * v->G;
    code_prior_sample(&v->p.prior, v->codes, n, &v->prior_buf, rng);
    vq_lookup(v->z_q, v->codes, v->codebook, rows, v->D);
    decoder_forward(v, v->z_q, rows);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < v->pp; j++)
            out[patch_pixel(v, &m->cfg, r / v->G, r, j)] =
                (uint8_t)ps_bernoulli_sample(v->logits[(size_t)r * v->pp + j], rng);
}

const ps_image_ops ps_vqvae_ops = {
    .kind = "vqvae",
    .exact = 0,
    .autoregressive = 0,
    .create = vqvae_create,
    .bind = vqvae_bind,
    .destroy = vqvae_destroy,
    .init = vqvae_init,
    .loss = vqvae_loss,
    .after_step = vqvae_after_step,
    .nll = vqvae_nll,
    .sample = vqvae_sample,
};

/* ---- priorsep/vqvae.h ---- */

int ps_vqvae_code_count(const ps_image_model *m) { return impl(m)->G; }

size_t ps_vqvae_encoder_param_count(const ps_image_model *m) { return impl(m)->encoder_params; }

void ps_vqvae_encode(ps_image_model *m, const uint8_t *x, int n, int *codes)
{
    vqvae *v = impl(m);
    reserve(v, n);
    encoder_forward(v, &m->cfg, x, n);
    vq_assign(codes, v->scores, v->z_e, v->codebook, n * v->G, v->K, v->D);
}

void ps_vqvae_decoder_nll(ps_image_model *m, const uint8_t *x, const int *codes, int n,
                          double *out)
{
    vqvae *v = impl(m);
    reserve(v, n);
    vq_lookup(v->z_q, codes, v->codebook, n * v->G, v->D);
    decoder_forward(v, v->z_q, n * v->G);
    reconstruction_nll(v, &m->cfg, x, n, out);
}

void ps_vqvae_code_conditionals(ps_image_model *m, const int *codes, float *out)
{
    vqvae *v = impl(m);
    reserve(v, 1);
    code_prior_forward(&v->p.prior, codes, 1, &v->prior_buf, NULL);
    for (int t = 0; t < v->G; t++) {
        const float *logits = v->prior_buf.logits + (size_t)t * v->K;
        float lse = ps_logsumexp(logits, v->K); /* one normalizer per position */
        for (int k = 0; k < v->K; k++) out[(size_t)t * v->K + k] = logits[k] - lse;
    }
}

void ps_vqvae_freeze(ps_image_model *m, const uint8_t *x, int n)
{
    vqvae *v = impl(m);
    ps_vqvae_thaw(m);
    reserve(v, n);
    size_t rows = (size_t)n * v->G, D = v->D;
    v->frozen_codes = malloc(rows * sizeof(int));
    v->frozen_offset = malloc(rows * D * sizeof(float));
    if (!v->frozen_codes || !v->frozen_offset) abort();
    encoder_forward(v, &m->cfg, x, n);
    vq_assign(v->frozen_codes, v->scores, v->z_e, v->codebook, (int)rows, v->K, v->D);
    vq_lookup(v->z_q, v->frozen_codes, v->codebook, (int)rows, v->D);
    for (size_t i = 0; i < rows * D; i++) v->frozen_offset[i] = v->z_q[i] - v->z_e[i];
    v->frozen_n = n;
}

void ps_vqvae_thaw(ps_image_model *m)
{
    vqvae *v = impl(m);
    free(v->frozen_codes);
    free(v->frozen_offset);
    v->frozen_codes = NULL;
    v->frozen_offset = NULL;
    v->frozen_n = 0;
}
