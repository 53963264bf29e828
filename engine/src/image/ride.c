/* RIDE, the recurrent image density estimator (Theis and Bethge 2015): spatial LSTMs over
 * the image in raster order, a factorized MCGSM on each pixel given the top layer's state.
 *
 * Configuration: `hidden` LSTM state units (default 16), `layers` stacked spatial LSTMs
 * (default 1; layer l > 0 reads layer l-1's state at the same pixel), `components` MCGSM
 * components (default 8) with RIDE_SCALES scales each and as many features as state
 * units, `ensemble` flips (1, 2 or 4).
 *
 * The input of pixel (i, j) is its causal neighbourhood: the pixels left, upper-left,
 * above and upper-right of it, each mapped to (2v + 1) / levels - 1 in (-1, 1), 0 outside
 * the image. The seed's model draws its wider context from the LSTM states (which see
 * every pixel above and to the left), so four neighbours are enough.
 *
 * Experts (priorsep/mcgsm.h): the seed's Gaussian experts are densities over continuous
 * values; pixels are discrete, so binary images get the Bernoulli expert and 8-bit images
 * the Gaussian integrated over each level's bin (level v is [2v/256 - 1, 2(v+1)/256 - 1),
 * the outer bins open-ended). Both make p(x) an exactly normalized distribution over the
 * images, so the nll is the exact discrete -log p(x), not a bound through a density of
 * dequantized values, and the conditionals and samples are those of the same model.
 *
 * Ensembles: member k models the flipped image T_k x (k = 0 identity, 1 left-right,
 * 2 up-down, 3 both) with the same parameters, in raster order of the flipped image. A
 * flip permutes pixels, so each p(T_k x) is normalized over x and so is
 * q(x) = 1/K sum_k p(T_k x) (logsumexp in ps_image_model_nll). With K > 1 the loss
 * trains the one model on images flipped at random among the K (drawn from the loss's
 * rng), so every member sees the orientation it is scored on; with K = 1 it trains on
 * the images as they are. Order, conditionals and sampling use member 0 (identity). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_model_internal.h"
#include "priorsep/gemm.h"
#include "priorsep/mcgsm.h"
#include "priorsep/spatial_lstm.h"

enum {
    RIDE_SCALES = 4,     /* scales s per MCGSM component */
    RIDE_NEIGHBOURS = 4, /* left, upper-left, above, upper-right */
    RIDE_CHUNK = 32,     /* images per pass; larger calls go in chunks */
    RIDE_MAX_LAYERS = 4,
};

typedef struct ride_lstm {
    float *w_x, *w_l, *w_u, *bias;
} ride_lstm;

typedef struct ride {
    int P, ensemble, layers;
    spatial_lstm_dims dims[RIDE_MAX_LAYERS]; /* set_batch sets the batch of a pass */
    ride_lstm w[RIDE_MAX_LAYERS], g[RIDE_MAX_LAYERS];
    mcgsm_dims md;
    mcgsm_params mp, mg;
    /* Workspace for RIDE_CHUNK images. Per-position arrays are [P][B][dim]. */
    float *arena;
    uint8_t *img;               /* [B][P] the images as the model sees them (flipped) */
    float *x0;                  /* [P][B][RIDE_NEIGHBOURS] */
    float *act[RIDE_MAX_LAYERS], *c[RIDE_MAX_LAYERS], *h[RIDE_MAX_LAYERS], *d_h[RIDE_MAX_LAYERS];
    float *d_z, *d_c;           /* backward scratch, reused layer by layer */
    void *gates;                /* the MCGSM's per-row state */
    float *target, *d_proj, *d_mean, *d_logp; /* per row r = p*B + b */
    double *logp;
    mcgsm_state st;
} ride;

/* Pixel (i, j) of T_k x is pixel (i', j') of x. */
static void flip(const ps_image_model *m, const uint8_t *src, int k, uint8_t *dst)
{
    int H = m->cfg.height, W = m->cfg.width;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            int si = (k & 2) ? H - 1 - i : i, sj = (k & 1) ? W - 1 - j : j;
            dst[i * W + j] = src[si * W + sj];
        }
}

/* The causal neighbourhood of position p for the B images in r->img, into r->x0. */
static void neighbourhood(const ps_image_model *m, ride *r, int B, int p)
{
    int H = m->cfg.height, W = m->cfg.width, L = m->cfg.levels;
    int i = p / W, j = p % W;
    static const int di[RIDE_NEIGHBOURS] = {0, -1, -1, -1}, dj[RIDE_NEIGHBOURS] = {-1, -1, 0, 1};
    for (int b = 0; b < B; b++) {
        float *out = r->x0 + ((size_t)p * B + b) * RIDE_NEIGHBOURS;
        for (int k = 0; k < RIDE_NEIGHBOURS; k++) {
            int ni = i + di[k], nj = j + dj[k];
            int inside = ni >= 0 && ni < H && nj >= 0 && nj < W;
            out[k] = inside ? (2.0f * r->img[(size_t)b * r->P + ni * W + nj] + 1.0f) / L - 1.0f
                            : 0.0f;
        }
    }
}

static void set_batch(ride *r, int B)
{
    for (int l = 0; l < r->layers; l++) r->dims[l].batch = B;
    mcgsm_state_bind(&r->md, r->P * B, r->gates, &r->st);
}

/* Forward over B images in r->img: every layer, the gates and r->logp per row. */
static void run_forward(ps_image_model *m, ride *r, int B)
{
    set_batch(r, B);
    for (int p = 0; p < r->P; p++) neighbourhood(m, r, B, p);
    for (int l = 0; l < r->layers; l++)
        spatial_lstm_forward(&r->dims[l], l ? r->h[l - 1] : r->x0, r->w[l].w_x, r->w[l].w_l,
                             r->w[l].w_u, r->w[l].bias, r->act[l], r->c[l], r->h[l]);
    int R = r->P * B;
    for (int p = 0; p < r->P; p++)
        for (int b = 0; b < B; b++) r->target[(size_t)p * B + b] = r->img[(size_t)b * r->P + p];
    mcgsm_gates_forward(&r->md, &r->mp, r->h[r->layers - 1], R, &r->st);
    mcgsm_loglik_forward(&r->md, &r->mp, &r->st, r->target, R, r->logp);
}

/* Gradient of scale * sum of -log p after run_forward on the same B images. */
static void run_backward(ride *r, int B, float scale)
{
    int R = r->P * B, top = r->layers - 1;
    for (int k = 0; k < R; k++) r->d_logp[k] = -scale;
    for (int l = 0; l <= top; l++) memset(r->d_h[l], 0, sizeof(float) * (size_t)R * r->md.hidden);
    mcgsm_loglik_backward(&r->md, &r->mp, &r->st, r->h[top], R, r->d_logp, &r->mg,
                          r->d_h[top], r->d_proj, r->d_mean);
    for (int l = top; l >= 0; l--)
        spatial_lstm_backward(&r->dims[l], l ? r->h[l - 1] : r->x0, r->w[l].w_x, r->w[l].w_l,
                              r->w[l].w_u, r->act[l], r->c[l], r->h[l], r->d_h[l], r->d_z,
                              r->d_c, l ? r->d_h[l - 1] : NULL, r->g[l].w_x, r->g[l].w_l,
                              r->g[l].w_u, r->g[l].bias);
}

/* log p(T_k x) of each of B images held in r->img (already flipped), after run_forward. */
static void image_logp(const ride *r, int B, double *out)
{
    for (int b = 0; b < B; b++) out[b] = 0.0;
    for (int p = 0; p < r->P; p++)
        for (int b = 0; b < B; b++) out[b] += r->logp[(size_t)p * B + b];
}

static int ride_create(ps_image_model *m, ps_error *err)
{
    ps_image_config *c = &m->cfg;
    if (!c->hidden) c->hidden = 16;
    if (!c->layers) c->layers = 1;
    if (!c->components) c->components = 8;
    if (!c->ensemble) c->ensemble = 1;
    if (c->hidden < 1 || c->hidden > 1024 || c->layers < 1 || c->layers > RIDE_MAX_LAYERS ||
        c->components < 1 || c->components * RIDE_SCALES > 1024)
        return ps_error_set(err, "ride: hidden 1..1024, layers 1..%d, components 1..%d",
                            RIDE_MAX_LAYERS, 1024 / RIDE_SCALES);
    if (c->ensemble != 1 && c->ensemble != 2 && c->ensemble != 4)
        return ps_error_set(err, "ride: ensemble is 1, 2 or 4 flips, not %d", c->ensemble);
    ride *r = calloc(1, sizeof *r);
    if (!r) return ps_error_set(err, "ride: out of memory");
    int N = c->hidden, P = c->height * c->width, B = RIDE_CHUNK;
    r->P = P;
    r->ensemble = c->ensemble;
    r->layers = c->layers;
    r->md = (mcgsm_dims){.hidden = N, .components = c->components, .scales = RIDE_SCALES,
                         .features = N, .levels = c->levels,
                         .expert = c->levels == 2 ? MCGSM_BERNOULLI : MCGSM_BINNED};
    m->n_params = mcgsm_param_count(&r->md);
    for (int l = 0; l < r->layers; l++) {
        r->dims[l] = (spatial_lstm_dims){.height = c->height, .width = c->width, .batch = B,
                                         .in = l ? N : RIDE_NEIGHBOURS, .hidden = N};
        m->n_params += spatial_lstm_param_count(r->dims[l].in, N);
    }
    size_t R = (size_t)P * B, per_layer = R * 5 * N + 3 * R * N;
    size_t floats = R * RIDE_NEIGHBOURS + r->layers * per_layer + R * 5 * N + R * N +
                    R * (2 + N + c->components);
    r->arena = malloc(sizeof(float) * floats);
    r->gates = malloc(mcgsm_scratch_bytes(&r->md, (int)R));
    r->img = malloc(R);
    r->logp = malloc(sizeof(double) * R);
    if (!r->arena || !r->gates || !r->img || !r->logp) {
        free(r->arena), free(r->gates), free(r->img), free(r->logp), free(r);
        return ps_error_set(err, "ride: out of memory for the workspace");
    }
    float *f = r->arena;
    r->x0 = f, f += R * RIDE_NEIGHBOURS;
    for (int l = 0; l < r->layers; l++) {
        r->act[l] = f, f += R * 5 * N;
        r->c[l] = f, f += R * N;
        r->h[l] = f, f += R * N;
        r->d_h[l] = f, f += R * N;
    }
    r->d_z = f, f += R * 5 * N;
    r->d_c = f, f += R * N;
    r->target = f, f += R;
    r->d_logp = f, f += R;
    r->d_proj = f, f += R * N;
    r->d_mean = f;
    m->impl = r;
    return 0;
}

/* Carves the LSTM weights (layer by layer) then the MCGSM from one block. */
static void carve(ride *r, float *block, ride_lstm *w, mcgsm_params *mp)
{
    for (int l = 0; l < r->layers; l++) {
        int K = r->dims[l].in, N = r->dims[l].hidden, G = 5 * N;
        w[l].w_x = block, block += (size_t)K * G;
        w[l].w_l = block, block += (size_t)N * G;
        w[l].w_u = block, block += (size_t)N * G;
        w[l].bias = block, block += G;
    }
    mcgsm_bind(&r->md, block, mp);
}

static void ride_bind(ps_image_model *m)
{
    ride *r = m->impl;
    carve(r, m->params, r->w, &r->mp);
    carve(r, m->grads, r->g, &r->mg);
}

static void ride_destroy(ps_image_model *m)
{
    ride *r = m->impl;
    free(r->arena);
    free(r->gates);
    free(r->img);
    free(r->logp);
    free(r);
}

static void fill(float *v, size_t n, float bound, ps_rng *rng)
{
    for (size_t i = 0; i < n; i++) v[i] = bound * (2.0f * ps_rng_uniform(rng) - 1.0f);
}

static void ride_init(ps_image_model *m, ps_rng *rng)
{
    ride *r = m->impl;
    memset(m->params, 0, sizeof(float) * m->n_params);
    for (int l = 0; l < r->layers; l++) {
        int K = r->dims[l].in, N = r->dims[l].hidden, G = 5 * N;
        float bound = 1.0f / sqrtf((float)(K + 2 * N)); /* fan-in of the gates */
        fill(r->w[l].w_x, (size_t)K * G, bound, rng);
        fill(r->w[l].w_l, (size_t)N * G, bound, rng);
        fill(r->w[l].w_u, (size_t)N * G, bound, rng);
        /* Biases stay 0: both forget gates start at 1/2, so the cell, which sums its left
         * and upper neighbours, does not grow along the grid's many paths. */
    }
    int N = r->md.hidden, C = r->md.components, S = r->md.scales, F = r->md.features;
    /* Scales spread over a factor e^3 in precision; distinct random features and weights
     * break the symmetry between components. */
    for (int c = 0; c < C; c++)
        for (int s = 0; s < S; s++) r->mp.alpha[c * S + s] = (float)s - 0.5f * (S - 1);
    fill(r->mp.beta, (size_t)C * F, 1.0f, rng);
    fill(r->mp.features, (size_t)N * F, 1.0f / sqrtf((float)N), rng);
    fill(r->mp.weights, (size_t)N * C, 1.0f / sqrtf((float)N), rng);
}

static double ride_loss(ps_image_model *m, const uint8_t *x, int n, float scale, int backward,
                        ps_rng *rng)
{
    ride *r = m->impl;
    double total = 0.0, logp[RIDE_CHUNK];
    for (int first = 0; first < n; first += RIDE_CHUNK) {
        int B = n - first < RIDE_CHUNK ? n - first : RIDE_CHUNK;
        for (int b = 0; b < B; b++) {
            int k = r->ensemble > 1 ? (int)(ps_rng_u64(rng) % (uint64_t)r->ensemble) : 0;
            flip(m, x + (size_t)(first + b) * r->P, k, r->img + (size_t)b * r->P);
        }
        run_forward(m, r, B);
        image_logp(r, B, logp);
        for (int b = 0; b < B; b++) total -= logp[b];
        if (backward) run_backward(r, B, scale);
    }
    return total;
}

static void ride_nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng)
{
    (void)rng;
    ride *r = m->impl;
    double logp[RIDE_CHUNK][4], flip_logp[RIDE_CHUNK];
    for (int first = 0; first < n; first += RIDE_CHUNK) {
        int B = n - first < RIDE_CHUNK ? n - first : RIDE_CHUNK;
        for (int k = 0; k < r->ensemble; k++) {
            for (int b = 0; b < B; b++)
                flip(m, x + (size_t)(first + b) * r->P, k, r->img + (size_t)b * r->P);
            run_forward(m, r, B);
            image_logp(r, B, flip_logp);
            for (int b = 0; b < B; b++) logp[b][k] = flip_logp[b];
        }
        for (int b = 0; b < B; b++) out[first + b] = ps_image_neg_log_mean_exp(logp[b], r->ensemble);
    }
}

static void ride_conditionals(ps_image_model *m, const uint8_t *x, float *out)
{
    ride *r = m->impl;
    memcpy(r->img, x, (size_t)r->P);
    run_forward(m, r, 1);
    int L = m->cfg.levels;
    for (int v = 0; v < L; v++) {
        for (int p = 0; p < r->P; p++) r->target[p] = (float)v;
        mcgsm_loglik_forward(&r->md, &r->mp, &r->st, r->target, r->P, r->logp);
        for (int p = 0; p < r->P; p++) out[p * L + v] = (float)r->logp[p];
    }
}

/* Pixel by pixel in raster order: each position's input, states and gates are computed
 * once its neighbours are drawn. */
static void ride_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    ride *r = m->impl;
    mcgsm_state st;
    for (int first = 0; first < n; first += RIDE_CHUNK) {
        int B = n - first < RIDE_CHUNK ? n - first : RIDE_CHUNK;
        set_batch(r, B);
        mcgsm_state_bind(&r->md, B, r->gates, &st);
        for (int p = 0; p < r->P; p++) {
            neighbourhood(m, r, B, p);
            for (int l = 0; l < r->layers; l++) {
                const spatial_lstm_dims *d = &r->dims[l];
                int K = d->in, G = 5 * d->hidden;
                const float *in = (l ? r->h[l - 1] : r->x0) + (size_t)p * B * K;
                ps_gemm(B, G, K, in, K, r->w[l].w_x, G, r->w[l].bias, 0.0f,
                        r->act[l] + (size_t)p * B * G, G);
                spatial_lstm_step(d, p, r->w[l].w_l, r->w[l].w_u, r->act[l], r->c[l], r->h[l]);
            }
            const float *h = r->h[r->layers - 1] + (size_t)p * B * r->md.hidden;
            mcgsm_gates_forward(&r->md, &r->mp, h, B, &st);
            mcgsm_sample(&r->md, &r->mp, &st, B, rng, r->target);
            for (int b = 0; b < B; b++) r->img[(size_t)b * r->P + p] = (uint8_t)r->target[b];
        }
        memcpy(out + (size_t)first * r->P, r->img, (size_t)B * r->P);
    }
}

const ps_image_ops ps_ride_ops = {
    .kind = "ride",
    .exact = 1,
    .autoregressive = 1,
    .create = ride_create,
    .bind = ride_bind,
    .destroy = ride_destroy,
    .init = ride_init,
    .loss = ride_loss,
    .nll = ride_nll,
    .order = ps_image_raster_order,
    .conditionals = ride_conditionals,
    .sample = ride_sample,
};
