/* PixelRNN (van den Oord et al. 2016): the kinds "row-lstm" and "diagonal-bilstm", which
 * differ only in their recurrent layer (row_lstm.h, diagonal_bilstm.h).
 *
 *   F_0 = mask-A 7x7 convolution of the image            (2 hid channels)
 *   F_l = F_{l-1} + U_l LSTM_l(F_{l-1}) + u_l            l = 1..layers (residual; U_l is a
 *                                                        1x1 convolution hid -> 2 hid)
 *   logits = W_2 relu(W_1 relu(F_L) + b_1) + b_2         (1x1 convolutions)
 *
 * Binary images: one logit per pixel, p(x = 1) = sigmoid(logit); 8-bit images: 256
 * logits, a softmax. Config: `hidden` is the LSTM state size (default 16), `layers` the
 * number of LSTM layers (default 2).
 *
 * Every map is position-major with the images of a batch innermost, [H][W][n][channels],
 * which lets one product cover a whole row (Row LSTM) or skewed column (Diagonal BiLSTM)
 * of every image at once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_model_internal.h"
#include "priorsep/diagonal_bilstm.h"
#include "priorsep/heads.h"
#include "priorsep/layers.h"
#include "priorsep/row_lstm.h"

/* ---- the mask-A input convolution ----
 * A single-channel image needs no channel masks: mask A is the 7x7 window's rows above
 * and the positions to the left on the centre row, 3 * 7 + 3 = 24 taps. It is computed
 * as one product: the 24 taps of every position gathered (im2col), times [24][C]. */
enum { MASK_A_HALF = 3, MASK_A_TAPS = 3 * 7 + 3 };

/* cols[(p * n + b) * 24 + t] = the pixel under tap t at position p of image b, scaled
 * to [0, 1], or 0 outside the image. */
static void mask_a_gather(float *cols, const uint8_t *x, int n, int H, int W, int levels)
{
    int D = H * W;
    float scale = 1.0f / (float)(levels - 1);
    for (int i = 0; i < H; i++)
        for (int c = 0; c < W; c++)
            for (int b = 0; b < n; b++) {
                float *row = cols + ((size_t)(i * W + c) * n + b) * MASK_A_TAPS;
                int t = 0;
                for (int dy = -MASK_A_HALF; dy <= 0; dy++)
                    for (int dx = -MASK_A_HALF; dx <= MASK_A_HALF && (dy < 0 || dx < 0); dx++) {
                        int y = i + dy, v = c + dx;
                        row[t++] = y >= 0 && v >= 0 && v < W ? x[(size_t)b * D + y * W + v] * scale
                                                              : 0.0f;
                    }
            }
}

/* ---- the Bernoulli likelihood of a logit l: -log p(v) = softplus(l) - v l ---- */
static double softplus(double l) { return fmax(l, 0.0) + log1p(exp(-fabs(l))); }

/* The model's tensors: the same layout in the parameter and the gradient block. */
typedef struct {
    float *w_is, *w_ss, *bias, *w_up, *b_up;
} lstm_block;

typedef struct {
    float *wa, *ba, *w1, *b1, *w2, *b2;
    lstm_block *blocks;
} tensors;

typedef struct {
    int diagonal; /* 0: Row LSTM, 1: Diagonal BiLSTM */
    int H, W, D, hid, C, K, layers;
    tensors p, g;
    /* activations for up to `cap` images (grown on demand) */
    int cap;
    float *cols, *F, *h, *act, *a1, *a2, *logits, *d_logits, *d_a, *d_F, *d_h, *work;
    size_t act_floats, work_floats;
} pixelrnn;

static size_t lstm_w_ss(const pixelrnn *r) { return (size_t)(r->diagonal ? 4 : 3) * r->hid * 4 * r->hid; }
static size_t lstm_bias(const pixelrnn *r) { return (size_t)(r->diagonal ? 2 : 1) * 4 * r->hid; }

static float *take(float *base, size_t *off, size_t count)
{
    float *p = base ? base + *off : NULL;
    *off += count;
    return p;
}

/* Points t's tensors into base (NULL: only counts); returns the floats used. */
static size_t carve(const pixelrnn *r, float *base, tensors *t)
{
    size_t off = 0, C = r->C, G = 4 * (size_t)r->hid;
    t->wa = take(base, &off, MASK_A_TAPS * C);
    t->ba = take(base, &off, C);
    for (int l = 0; l < r->layers; l++) {
        lstm_block *k = &t->blocks[l];
        k->w_is = take(base, &off, 2 * C * G);
        k->w_ss = take(base, &off, lstm_w_ss(r));
        k->bias = take(base, &off, lstm_bias(r));
        k->w_up = take(base, &off, r->hid * C);
        k->b_up = take(base, &off, C);
    }
    t->w1 = take(base, &off, C * C);
    t->b1 = take(base, &off, C);
    t->w2 = take(base, &off, C * r->K);
    t->b2 = take(base, &off, r->K);
    return off;
}

static void free_activations(pixelrnn *r)
{
    float **bufs[] = {&r->cols, &r->F, &r->h, &r->act, &r->a1, &r->a2, &r->logits,
                      &r->d_logits, &r->d_a, &r->d_F, &r->d_h, &r->work};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    r->cap = 0;
}

/* Makes room for n images; -1 when out of memory. */
static int reserve(pixelrnn *r, int n)
{
    if (n <= r->cap) return 0;
    free_activations(r);
    size_t P = (size_t)r->D * n, C = r->C;
    if (r->diagonal) {
        r->act_floats = diagonal_bilstm_act_floats(r->H, r->W, n, r->hid);
        r->work_floats = diagonal_bilstm_work_floats(r->H, r->W, n, r->hid);
    } else {
        r->act_floats = P * 5 * r->hid; /* z and c */
        r->work_floats = row_lstm_work_floats(r->H, r->W, n, r->hid);
    }
    r->cols = malloc(P * MASK_A_TAPS * sizeof(float));
    r->F = malloc((r->layers + 1) * P * C * sizeof(float));
    r->h = malloc(r->layers * P * r->hid * sizeof(float));
    r->act = malloc(r->layers * r->act_floats * sizeof(float));
    r->a1 = malloc(P * C * sizeof(float));
    r->a2 = malloc(P * C * sizeof(float));
    r->logits = malloc(P * r->K * sizeof(float));
    r->d_logits = malloc(P * r->K * sizeof(float));
    r->d_a = malloc(P * C * sizeof(float));
    r->d_F = malloc(P * C * sizeof(float));
    r->d_h = malloc(P * r->hid * sizeof(float));
    r->work = malloc(r->work_floats * sizeof(float));
    if (!r->cols || !r->F || !r->h || !r->act || !r->a1 || !r->a2 || !r->logits ||
        !r->d_logits || !r->d_a || !r->d_F || !r->d_h || !r->work) {
        free_activations(r);
        return -1;
    }
    r->cap = n;
    return 0;
}

static int create(ps_image_model *m, int diagonal, ps_error *err)
{
    ps_image_config *cfg = &m->cfg;
    if (!cfg->hidden) cfg->hidden = 16;
    if (!cfg->layers) cfg->layers = 2;
    if (cfg->hidden < 1 || cfg->hidden > 512 || cfg->layers < 1 || cfg->layers > 16)
        return ps_error_set(err, "%s: hidden must be in 1..512 and layers in 1..16 (%d, %d)",
                            m->ops->kind, cfg->hidden, cfg->layers);
    pixelrnn *r = calloc(1, sizeof *r);
    lstm_block *blocks = calloc(2 * (size_t)cfg->layers, sizeof *blocks);
    if (!r || !blocks) {
        free(r);
        free(blocks);
        return ps_error_set(err, "%s: out of memory", m->ops->kind);
    }
    *r = (pixelrnn){.diagonal = diagonal, .H = cfg->height, .W = cfg->width,
                    .D = cfg->height * cfg->width, .hid = cfg->hidden, .C = 2 * cfg->hidden,
                    .K = cfg->levels == 2 ? 1 : cfg->levels, .layers = cfg->layers};
    r->p.blocks = blocks;
    r->g.blocks = blocks + cfg->layers;
    m->n_params = carve(r, NULL, &r->p);
    m->impl = r;
    return 0;
}

static int create_row(ps_image_model *m, ps_error *err) { return create(m, 0, err); }
static int create_diagonal(ps_image_model *m, ps_error *err) { return create(m, 1, err); }

static void bind(ps_image_model *m)
{
    pixelrnn *r = m->impl;
    carve(r, m->params, &r->p);
    carve(r, m->grads, &r->g);
}

static void destroy(ps_image_model *m)
{
    pixelrnn *r = m->impl;
    free_activations(r);
    free(r->p.blocks);
    free(r);
}

static void fill_normal(float *w, size_t count, float std, ps_rng *rng)
{
    for (size_t i = 0; i < count; i++) w[i] = std * ps_rng_normal(rng);
}

/* Weights ~ N(0, 1 / fan_in), biases zero but the forget gates' at 1 (so that the
 * cell state is carried along the recurrence from the start). */
static void init(ps_image_model *m, ps_rng *rng)
{
    pixelrnn *r = m->impl;
    memset(m->params, 0, m->n_params * sizeof(float));
    size_t C = r->C, G = 4 * (size_t)r->hid;
    fill_normal(r->p.wa, MASK_A_TAPS * C, 1.0f / sqrtf(MASK_A_TAPS), rng);
    for (int l = 0; l < r->layers; l++) {
        lstm_block *k = &r->p.blocks[l];
        int taps = r->diagonal ? 2 : 3, directions = r->diagonal ? 2 : 1;
        fill_normal(k->w_is, 2 * C * G, 1.0f / sqrtf((float)(r->diagonal ? C : 2 * C)), rng);
        fill_normal(k->w_ss, lstm_w_ss(r), 1.0f / sqrtf((float)(taps * r->hid)), rng);
        for (int d = 0; d < directions; d++)
            for (int j = 0; j < r->hid; j++) k->bias[d * G + r->hid + j] = 1.0f;
        fill_normal(k->w_up, r->hid * C, 1.0f / sqrtf((float)r->hid), rng);
    }
    fill_normal(r->p.w1, C * C, 1.0f / sqrtf((float)C), rng);
    fill_normal(r->p.w2, C * r->K, 1.0f / sqrtf((float)C), rng);
}

/* logits of n images ([D][n][K]); -1 when out of memory. */
static int forward(pixelrnn *r, const uint8_t *x, int n, int levels)
{
    if (reserve(r, n) != 0) return -1;
    int P = r->D * n, C = r->C, hid = r->hid;
    mask_a_gather(r->cols, x, n, r->H, r->W, levels);
    ps_gemm(P, C, MASK_A_TAPS, r->cols, MASK_A_TAPS, r->p.wa, C, r->p.ba, 0.0f, r->F, C);
    for (int l = 0; l < r->layers; l++) {
        const lstm_block *k = &r->p.blocks[l];
        const float *in = r->F + (size_t)l * P * C;
        float *h = r->h + (size_t)l * P * hid, *act = r->act + l * r->act_floats;
        if (r->diagonal)
            diagonal_bilstm_forward(h, act, in, r->H, r->W, n, C, hid, k->w_is, k->w_ss, k->bias,
                                    r->work);
        else
            row_lstm_forward(h, act + (size_t)P * 4 * hid, act, in, r->H, r->W, n, C, hid, k->w_is,
                             k->w_ss, k->bias);
        float *out = r->F + (size_t)(l + 1) * P * C;
        memcpy(out, in, (size_t)P * C * sizeof(float));
        linear_forward(ps_gemm, out, C, h, hid, P, hid, C, k->w_up, k->b_up, 1);
    }
    relu_forward(r->a1, r->F + (size_t)r->layers * P * C, (size_t)P * C);
    linear_forward(ps_gemm, r->a2, C, r->a1, C, P, C, C, r->p.w1, r->p.b1, 0);
    relu_forward(r->a2, r->a2, (size_t)P * C);
    linear_forward(ps_gemm, r->logits, r->K, r->a2, C, P, C, r->K, r->p.w2, r->p.b2, 0);
    return 0;
}

/* From d_logits back to the gradient block (ADDS). */
static void backward(pixelrnn *r, int n)
{
    int P = r->D * n, C = r->C, hid = r->hid;
    tensors *g = &r->g;
    memset(r->d_a, 0, (size_t)P * C * sizeof(float));
    linear_backward(r->d_a, C, g->w2, g->b2, r->d_logits, r->K, r->a2, C, P, C, r->K, r->p.w2);
    memset(r->d_F, 0, (size_t)P * C * sizeof(float));
    /* d_F as scratch for the gradient on relu's input, then d_a for the one on a1 */
    relu_backward(r->d_F, r->d_a, r->a2, (size_t)P * C);
    memset(r->d_a, 0, (size_t)P * C * sizeof(float));
    linear_backward(r->d_a, C, g->w1, g->b1, r->d_F, C, r->a1, C, P, C, C, r->p.w1);
    memset(r->d_F, 0, (size_t)P * C * sizeof(float));
    relu_backward(r->d_F, r->d_a, r->a1, (size_t)P * C);
    for (int l = r->layers - 1; l >= 0; l--) {
        const lstm_block *k = &r->p.blocks[l];
        lstm_block *dk = &g->blocks[l];
        const float *in = r->F + (size_t)l * P * C, *h = r->h + (size_t)l * P * hid;
        const float *act = r->act + l * r->act_floats;
        /* residual: d_F passes through unchanged and the layer adds its input's gradient */
        memset(r->d_h, 0, (size_t)P * hid * sizeof(float));
        linear_backward(r->d_h, hid, dk->w_up, dk->b_up, r->d_F, C, h, hid, P, hid, C, k->w_up);
        if (r->diagonal)
            diagonal_bilstm_backward(r->d_F, dk->w_is, dk->w_ss, dk->bias, r->d_h, in, act, r->H,
                                     r->W, n, C, hid, k->w_is, k->w_ss, r->work);
        else
            row_lstm_backward(r->d_F, dk->w_is, dk->w_ss, dk->bias, r->d_h, in, h,
                              act + (size_t)P * 4 * hid, act, r->H, r->W, n, C, hid, k->w_is,
                              k->w_ss, r->work);
    }
    /* the input convolution: weights only, pixels get no gradient */
    ps_gemm_tn(MASK_A_TAPS, C, P, r->cols, MASK_A_TAPS, r->d_F, C, 1.0f, g->wa, C);
    for (int p = 0; p < P; p++)
        for (int c = 0; c < C; c++) g->ba[c] += r->d_F[(size_t)p * C + c];
}

/* -log p(v | logits) of one pixel; with d != NULL also ADDS scale times its gradient. */
static double pixel_nll(const float *logits, int K, int v, float scale, float *d)
{
    if (K > 1) {
        if (d) return ps_categorical_nll_backward(logits, K, v, scale, d);
        return -ps_categorical_logprob(logits, K, v);
    }
    double l = logits[0];
    if (d) d[0] += scale * (float)(1.0 / (1.0 + exp(-l)) - v);
    return softplus(l) - v * l;
}

/* Per-image nll of n images into out (NULL: not wanted); with backward, the gradient. */
static double score(ps_image_model *m, const uint8_t *x, int n, float scale, int backward_pass,
                    double *out)
{
    pixelrnn *r = m->impl;
    if (forward(r, x, n, m->cfg.levels) != 0) return NAN;
    int K = r->K;
    if (backward_pass) memset(r->d_logits, 0, (size_t)r->D * n * K * sizeof(float));
    double total = 0.0;
    for (int b = 0; b < n; b++) {
        double sum = 0.0;
        for (int p = 0; p < r->D; p++) {
            size_t row = ((size_t)p * n + b) * K;
            sum += pixel_nll(r->logits + row, K, x[(size_t)b * r->D + p], scale,
                             backward_pass ? r->d_logits + row : NULL);
        }
        if (out) out[b] = sum;
        total += sum;
    }
    if (backward_pass) backward(r, n);
    return total;
}

static double loss(ps_image_model *m, const uint8_t *x, int n, float scale, int backward_pass,
                   ps_rng *rng)
{
    (void)rng;
    return score(m, x, n, scale, backward_pass, NULL);
}

static void nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng)
{
    (void)rng;
    if (isnan(score(m, x, n, 0.0f, 0, out))) /* out of memory */
        for (int b = 0; b < n; b++) out[b] = NAN;
}

static void conditionals(ps_image_model *m, const uint8_t *x, float *out)
{
    pixelrnn *r = m->impl;
    int L = m->cfg.levels;
    if (forward(r, x, 1, L) != 0) {
        for (size_t i = 0; i < (size_t)r->D * L; i++) out[i] = NAN;
        return;
    }
    for (int p = 0; p < r->D; p++) {
        const float *l = r->logits + (size_t)p * r->K;
        float *o = out + (size_t)p * L;
        if (L == 2) {
            o[0] = (float)-softplus(l[0]);
            o[1] = (float)-softplus(-l[0]);
        } else {
            float top = l[0];
            for (int v = 1; v < L; v++) top = fmaxf(top, l[v]);
            double sum = 0.0;
            for (int v = 0; v < L; v++) sum += exp(l[v] - top);
            float lse = top + (float)log(sum);
            for (int v = 0; v < L; v++) o[v] = l[v] - lse;
        }
    }
}

/* Pixel by pixel in raster order, a chunk of images at a time: each pixel is drawn from
 * a full forward pass over the pixels drawn so far. */
static void sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    pixelrnn *r = m->impl;
    enum { CHUNK = 64 };
    memset(out, 0, (size_t)n * r->D);
    for (int first = 0; first < n; first += CHUNK) {
        int k = n - first < CHUNK ? n - first : CHUNK;
        uint8_t *x = out + (size_t)first * r->D;
        for (int p = 0; p < r->D; p++) {
            if (forward(r, x, k, m->cfg.levels) != 0) return;
            for (int b = 0; b < k; b++) {
                const float *l = r->logits + ((size_t)p * k + b) * r->K;
                x[(size_t)b * r->D + p] =
                    r->K > 1 ? (uint8_t)ps_categorical_sample(l, r->K, rng)
                             : (uint8_t)(ps_rng_uniform(rng) < 1.0f / (1.0f + expf(-l[0])));
            }
        }
    }
}

const ps_image_ops ps_row_lstm_ops = {
    .kind = "row-lstm", .exact = 1, .autoregressive = 1, .create = create_row, .bind = bind,
    .destroy = destroy, .init = init, .loss = loss, .nll = nll, .order = ps_image_raster_order,
    .conditionals = conditionals, .sample = sample,
};

const ps_image_ops ps_diagonal_bilstm_ops = {
    .kind = "diagonal-bilstm", .exact = 1, .autoregressive = 1, .create = create_diagonal,
    .bind = bind, .destroy = destroy, .init = init, .loss = loss, .nll = nll,
    .order = ps_image_raster_order, .conditionals = conditionals, .sample = sample,
};
