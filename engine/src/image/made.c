/* MADE, the masked autoencoder for distribution estimation (Germain et al. 2015), on
 * binary images of D = height * width pixels.
 *
 * A feed-forward net x -> `layers` hidden layers of `hidden` ReLU units -> D logits,
 * plus a direct input-to-output connection, every weight matrix masked so that logit i
 * depends only on the pixels before i in an order. Mask k of the ensemble is fixed by
 * degrees: pixel p has degree rank(p) + 1 (1..D) in mask k's order; each hidden unit a
 * degree drawn uniformly in [smallest degree of the layer below, D - 1]. A unit sees a
 * unit below of degree <= its own; logit p sees hidden units of degree < rank(p) + 1 and
 * (direct connection) pixels earlier in the order.
 *
 * Order- and connectivity-agnostic training, as the paper does it: the model holds a
 * fixed set of `ensemble` masks and each training batch uses one of them, drawn with the
 * loss's rng. Mask 0 keeps the raster order (the paper's best single order); the others
 * draw random orders. All are derived from one seed drawn at init; the model stores their
 * degrees (D + layers * hidden integers each) and rebuilds the 0/1 matrices when another
 * mask is selected.
 *
 * Evaluation scores the ensemble as the mixture it is trained to be:
 *   -log p(x) = -log( (1/M) sum_k p_k(x) ),  by logsumexp over the per-mask log p_k(x)
 * (averaging the masks' logits instead would not be a normalized distribution). Sampling
 * draws a mask per sample, uniformly, then the pixels in that mask's order: an exact
 * sample of the same mixture.
 *
 * Config: hidden (default 500), layers (default 2), ensemble (default 4). Binary images
 * only: 8-bit MADE would need 256 logits per pixel (a D x 256 D output matrix), which
 * this model does not provide. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_model_internal.h"
#include "priorsep/layers.h"
#include "priorsep/masked_dense.h"

/* Rows per forward pass: a batch longer than this runs in chunks (gradients add up). */
enum { CHUNK = 128 };

typedef struct made {
    int D, H, L, M;     /* pixels, hidden units, hidden layers, masks */
    int n_layers;       /* L hidden + output + direct */
    int *cin, *cout;    /* per masked layer */
    float **w, **b;     /* into m->params (b NULL for the direct layer) */
    float **dw, **db;   /* into m->grads */
    int *order;         /* [M][D]: pixel predicted r-th under mask k */
    int *degree;        /* [M][L][H]: hidden degrees */
    int current;        /* mask for order / conditionals */
    int built;          /* mask held by `mask` (-1: none yet) */
    float **mask, **wm; /* per layer: 0/1 matrix and masked weights */
    float *scratch;     /* largest cin * cout: masked_dense_backward */
    float *x;           /* CHUNK x D inputs */
    float **h;          /* per hidden layer CHUNK x H; then logits CHUNK x D */
    float *dh, *dpre, *dlogits;
    int *pixel_degree;  /* D: rank + 1 of each pixel in the built mask's order */
    int *logit_degree;  /* D: rank of each pixel (see use_mask) */
} made;

static int out_layer(const made *s) { return s->L; }
static int direct_layer(const made *s) { return s->L + 1; }

static void made_destroy(ps_image_model *m)
{
    made *s = m->impl;
    if (!s) return;
    for (int j = 0; j < s->n_layers; j++) {
        if (s->mask) free(s->mask[j]);
        if (s->wm) free(s->wm[j]);
    }
    for (int j = 0; j <= s->L && s->h; j++) free(s->h[j]);
    free(s->cin), free(s->cout), free(s->w), free(s->b), free(s->dw), free(s->db);
    free(s->order), free(s->degree), free(s->mask), free(s->wm), free(s->scratch);
    free(s->x), free(s->h), free(s->dh), free(s->dpre), free(s->dlogits);
    free(s->pixel_degree), free(s->logit_degree);
    free(s);
}

static int made_create(ps_image_model *m, ps_error *err)
{
    ps_image_config *c = &m->cfg;
    if (c->levels != 2)
        return ps_error_set(err, "made: only binary images (levels 2) are supported, not %d "
                            "(8-bit MADE would need 256 logits per pixel)", c->levels);
    if (!c->hidden) c->hidden = 500;
    if (!c->layers) c->layers = 2;
    if (!c->ensemble) c->ensemble = 4;
    int D = c->height * c->width;
    if (D < 2) return ps_error_set(err, "made: needs at least 2 pixels, not %d", D);
    if (c->hidden < 1 || c->layers < 1 || c->ensemble < 1 || c->hidden > 1 << 16 ||
        c->layers > 64 || c->ensemble > 1024)
        return ps_error_set(err, "made: hidden %d, layers %d, ensemble %d outside 1..65536, "
                            "1..64, 1..1024", c->hidden, c->layers, c->ensemble);
    made *s = calloc(1, sizeof *s);
    if (!s) return ps_error_set(err, "made: out of memory");
    m->impl = s;
    s->D = D, s->H = c->hidden, s->L = c->layers, s->M = c->ensemble;
    s->n_layers = s->L + 2;
    s->built = -1;
    int n = s->n_layers;
    s->cin = malloc(n * sizeof(int)), s->cout = malloc(n * sizeof(int));
    s->w = calloc(n, sizeof(float *)), s->b = calloc(n, sizeof(float *));
    s->dw = calloc(n, sizeof(float *)), s->db = calloc(n, sizeof(float *));
    s->mask = calloc(n, sizeof(float *)), s->wm = calloc(n, sizeof(float *));
    s->h = calloc(s->L + 1, sizeof(float *));
    if (!s->cin || !s->cout || !s->w || !s->b || !s->dw || !s->db || !s->mask || !s->wm || !s->h)
        goto oom;
    size_t params = 0, biggest = 0;
    for (int j = 0; j < n; j++) {
        s->cin[j] = j == 0 || j == direct_layer(s) ? D : s->H;
        s->cout[j] = j < s->L ? s->H : D;
        size_t size = (size_t)s->cin[j] * s->cout[j];
        params += size + (j == direct_layer(s) ? 0 : (size_t)s->cout[j]);
        if (size > biggest) biggest = size;
        s->mask[j] = malloc(size * sizeof(float));
        s->wm[j] = malloc(size * sizeof(float));
        if (!s->mask[j] || !s->wm[j]) goto oom;
    }
    m->n_params = params;
    for (int j = 0; j <= s->L; j++)
        if (!(s->h[j] = malloc((size_t)CHUNK * s->cout[j] * sizeof(float)))) goto oom;
    s->scratch = malloc(biggest * sizeof(float));
    s->x = malloc((size_t)CHUNK * D * sizeof(float));
    s->dh = malloc((size_t)CHUNK * s->H * sizeof(float));
    s->dpre = malloc((size_t)CHUNK * s->H * sizeof(float));
    s->dlogits = malloc((size_t)CHUNK * D * sizeof(float));
    s->pixel_degree = malloc(D * sizeof(int));
    s->logit_degree = malloc(D * sizeof(int));
    s->order = malloc((size_t)s->M * D * sizeof(int));
    s->degree = malloc((size_t)s->M * s->L * s->H * sizeof(int));
    if (!s->scratch || !s->x || !s->dh || !s->dpre || !s->dlogits || !s->pixel_degree ||
        !s->logit_degree || !s->order || !s->degree)
        goto oom;
    return 0;
oom:
    made_destroy(m);
    m->impl = NULL;
    return ps_error_set(err, "made: out of memory for %d pixels, hidden %d", D, c->hidden);
}

static void made_bind(ps_image_model *m)
{
    made *s = m->impl;
    size_t at = 0;
    for (int j = 0; j < s->n_layers; j++) {
        size_t size = (size_t)s->cin[j] * s->cout[j];
        s->w[j] = m->params + at, s->dw[j] = m->grads + at;
        at += size;
        if (j == direct_layer(s)) continue;
        s->b[j] = m->params + at, s->db[j] = m->grads + at;
        at += s->cout[j];
    }
}

/* Mask k's order and hidden degrees, from its own stream of the mask seed. */
static void draw_degrees(made *s, int k, uint64_t mask_seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, mask_seed + (uint64_t)k);
    int *order = s->order + (size_t)k * s->D;
    for (int i = 0; i < s->D; i++) order[i] = i;
    if (k > 0)
        for (int i = s->D - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)(ps_rng_u64(&rng) % (uint64_t)(i + 1));
            int t = order[i];
            order[i] = order[j], order[j] = t;
        }
    int lowest = 1; /* smallest degree of the layer below (the pixels: 1) */
    for (int l = 0; l < s->L; l++) {
        int *deg = s->degree + ((size_t)k * s->L + l) * s->H, next = s->D;
        for (int u = 0; u < s->H; u++) {
            deg[u] = lowest + (int)(ps_rng_u64(&rng) % (uint64_t)(s->D - lowest));
            if (deg[u] < next) next = deg[u];
        }
        lowest = next;
    }
}

static void made_init(ps_image_model *m, ps_rng *rng)
{
    made *s = m->impl;
    for (int j = 0; j < s->n_layers; j++) {
        /* He initialization for the ReLU layers, unit gain for the logits. */
        float gain = j < s->L ? 2.0f : 1.0f, sd = sqrtf(gain / (float)s->cin[j]);
        ps_rng_fill_normal(rng, s->w[j], (size_t)s->cin[j] * s->cout[j], sd);
        if (s->b[j]) memset(s->b[j], 0, (size_t)s->cout[j] * sizeof(float));
    }
    uint64_t mask_seed = ps_rng_u64(rng);
    for (int k = 0; k < s->M; k++) draw_degrees(s, k, mask_seed);
    s->current = 0;
    s->built = -1;
}

/* Makes mask k current for the passes that follow: its 0/1 matrices (rebuilt only when
 * k changes) and the masked weights (always, since the parameters may have moved).
 * Every layer follows one rule, M[i][o] = (out degree o >= in degree i), once a logit's
 * degree is taken as its pixel's rank: a unit of degree d then reaches logit p iff
 * d <= rank(p), i.e. d < rank(p) + 1, pixel p's own degree (strictly earlier pixels). */
static void use_mask(made *s, int k)
{
    if (s->built != k) {
        const int *order = s->order + (size_t)k * s->D;
        const int *hidden = s->degree + (size_t)k * s->L * s->H;
        for (int r = 0; r < s->D; r++) {
            s->pixel_degree[order[r]] = r + 1;
            s->logit_degree[order[r]] = r;
        }
        for (int j = 0; j < s->n_layers; j++) {
            const int *in = j == 0 || j == direct_layer(s) ? s->pixel_degree
                                                           : hidden + (size_t)(j - 1) * s->H;
            const int *out = j < s->L ? hidden + (size_t)j * s->H : s->logit_degree;
            for (int i = 0; i < s->cin[j]; i++) {
                float *row = s->mask[j] + (size_t)i * s->cout[j];
                for (int o = 0; o < s->cout[j]; o++) row[o] = out[o] >= in[i] ? 1.0f : 0.0f;
            }
        }
        s->built = k;
    }
    for (int j = 0; j < s->n_layers; j++)
        masked_dense_weights(s->wm[j], s->w[j], s->mask[j], s->cin[j], s->cout[j]);
}

static float *logits_of(const made *s) { return s->h[s->L]; }

/* Logits of T <= CHUNK rows of s->x under the mask use_mask made current. */
static void forward(made *s, int T)
{
    const float *in = s->x;
    for (int l = 0; l < s->L; l++) {
        masked_dense_forward(s->h[l], in, T, s->cin[l], s->H, s->wm[l], s->b[l], 0);
        relu_forward(s->h[l], s->h[l], (size_t)T * s->H);
        in = s->h[l];
    }
    int o = out_layer(s), d = direct_layer(s);
    masked_dense_forward(logits_of(s), in, T, s->H, s->D, s->wm[o], s->b[o], 0);
    masked_dense_forward(logits_of(s), s->x, T, s->D, s->D, s->wm[d], NULL, 1);
}

/* Gradients of the loss from s->dlogits (T rows), added into m->grads. */
static void backward(made *s, int T)
{
    int o = out_layer(s), d = direct_layer(s);
    size_t hidden = (size_t)T * s->H;
    masked_dense_backward(NULL, s->dw[d], NULL, s->scratch, s->dlogits, s->x, T, s->D, s->D,
                          s->wm[d], s->mask[d]);
    memset(s->dh, 0, hidden * sizeof(float));
    masked_dense_backward(s->dh, s->dw[o], s->db[o], s->scratch, s->dlogits, s->h[s->L - 1], T,
                          s->H, s->D, s->wm[o], s->mask[o]);
    for (int l = s->L - 1; l >= 0; l--) {
        memset(s->dpre, 0, hidden * sizeof(float));
        relu_backward(s->dpre, s->dh, s->h[l], hidden);
        float *d_in = NULL;
        if (l > 0) {
            memset(s->dh, 0, hidden * sizeof(float));
            d_in = s->dh;
        }
        masked_dense_backward(d_in, s->dw[l], s->db[l], s->scratch, s->dpre,
                              l > 0 ? s->h[l - 1] : s->x, T, s->cin[l], s->H, s->wm[l],
                              s->mask[l]);
    }
}

static void load_rows(made *s, const uint8_t *x, int T)
{
    for (size_t i = 0; i < (size_t)T * s->D; i++) s->x[i] = (float)x[i];
}

/* -log sigmoid(+-z) for pixel value v: softplus((1 - 2v) z), in double. */
static double pixel_nll(float z, int v)
{
    double t = v ? -(double)z : (double)z;
    return fmax(t, 0.0) + log1p(exp(-fabs(t)));
}

static double made_loss(ps_image_model *m, const uint8_t *x, int n, float scale, int backward_,
                        ps_rng *rng)
{
    made *s = m->impl;
    use_mask(s, (int)(ps_rng_u64(rng) % (uint64_t)s->M));
    double total = 0.0;
    for (int first = 0; first < n; first += CHUNK) {
        int T = n - first < CHUNK ? n - first : CHUNK;
        load_rows(s, x + (size_t)first * s->D, T);
        forward(s, T);
        const float *z = logits_of(s);
        for (size_t i = 0; i < (size_t)T * s->D; i++) {
            int v = s->x[i] > 0.5f;
            total += pixel_nll(z[i], v);
            /* d/dz softplus((1 - 2v) z) = sigmoid(z) - v */
            s->dlogits[i] = scale * (1.0f / (1.0f + expf(-z[i])) - (float)v);
        }
        if (backward_) backward(s, T);
    }
    return total;
}

static void made_nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng)
{
    (void)rng; /* the ensemble is fixed: evaluation draws nothing */
    made *s = m->impl;
    double *ll = malloc((size_t)n * s->M * sizeof(double)); /* log p_k(x), [n][M] */
    if (!ll) {
        for (int i = 0; i < n; i++) out[i] = NAN;
        return;
    }
    for (int k = 0; k < s->M; k++) {
        use_mask(s, k);
        for (int first = 0; first < n; first += CHUNK) {
            int T = n - first < CHUNK ? n - first : CHUNK;
            load_rows(s, x + (size_t)first * s->D, T);
            forward(s, T);
            for (int t = 0; t < T; t++) {
                double sum = 0.0;
                for (int i = 0; i < s->D; i++)
                    sum -= pixel_nll(logits_of(s)[(size_t)t * s->D + i],
                                     s->x[(size_t)t * s->D + i] > 0.5f);
                ll[(size_t)(first + t) * s->M + k] = sum;
            }
        }
    }
    for (int i = 0; i < n; i++) out[i] = ps_image_neg_log_mean_exp(ll + (size_t)i * s->M, s->M);
    free(ll);
}

static void made_order(const ps_image_model *m, int *order)
{
    const made *s = m->impl;
    memcpy(order, s->order + (size_t)s->current * s->D, s->D * sizeof(int));
}

static void made_conditionals(ps_image_model *m, const uint8_t *x, float *out)
{
    made *s = m->impl;
    use_mask(s, s->current);
    load_rows(s, x, 1);
    forward(s, 1);
    for (int i = 0; i < s->D; i++) {
        float z = logits_of(s)[i];
        out[2 * i] = (float)-pixel_nll(z, 0);
        out[2 * i + 1] = (float)-pixel_nll(z, 1);
    }
}

/* k is taken modulo the ensemble size, so every k names a mask. */
static void made_set_mask(ps_image_model *m, int k)
{
    made *s = m->impl;
    s->current = ((k % s->M) + s->M) % s->M;
}

static void made_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    made *s = m->impl;
    int *pick = malloc((n > 0 ? n : 1) * sizeof(int)), *rows = malloc(CHUNK * sizeof(int));
    if (!pick || !rows) {
        free(pick), free(rows);
        memset(out, 0, (size_t)n * s->D);
        return;
    }
    for (int i = 0; i < n; i++) pick[i] = (int)(ps_rng_u64(rng) % (uint64_t)s->M);
    for (int k = 0; k < s->M; k++) {
        use_mask(s, k);
        const int *order = s->order + (size_t)k * s->D;
        for (int next = 0; next < n;) {
            int T = 0; /* the next up to CHUNK samples that drew mask k */
            for (; next < n && T < CHUNK; next++)
                if (pick[next] == k) rows[T++] = next;
            if (T == 0) break;
            memset(s->x, 0, (size_t)T * s->D * sizeof(float));
            for (int r = 0; r < s->D; r++) {
                forward(s, T);
                int p = order[r];
                for (int t = 0; t < T; t++) {
                    float z = logits_of(s)[(size_t)t * s->D + p];
                    uint8_t v = ps_rng_uniform(rng) < 1.0f / (1.0f + expf(-z));
                    s->x[(size_t)t * s->D + p] = (float)v;
                    out[(size_t)rows[t] * s->D + p] = v;
                }
            }
        }
    }
    free(pick);
    free(rows);
}

const ps_image_ops ps_made_ops = {
    .kind = "made",
    .exact = 1,
    .autoregressive = 1,
    .create = made_create,
    .bind = made_bind,
    .destroy = made_destroy,
    .init = made_init,
    .loss = made_loss,
    .nll = made_nll,
    .order = made_order,
    .conditionals = made_conditionals,
    .set_mask = made_set_mask,
    .sample = made_sample,
};
