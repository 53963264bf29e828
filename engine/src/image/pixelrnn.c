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
 * of every image at once. The input convolution (masked_conv2d.h, image-major) is
 * transposed into that layout. Batches are taken CHUNK images at a time, the scratch for
 * one chunk allocated at create. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_model_internal.h"
#include "priorsep/diagonal_bilstm.h"
#include "priorsep/layers.h"
#include "priorsep/masked_conv2d.h"
#include "priorsep/pixel_likelihood.h"
#include "priorsep/row_lstm.h"

/* The input convolution: a single-channel image needs no channel masks, so mask A is the
 * 7x7 window's rows above and the positions to the left on the centre row, 24 taps. */
enum { MASK_A_SIZE = 7, MASK_A_TAPS = 3 * 7 + 3 };

/* Images per pass: bounds the scratch (allocated at create) and the sampler's batch. */
enum { CHUNK = 64 };

/* dst [b][a][c] = src [a][b][c]: swaps the two outer dimensions of a map with c channels
 * innermost (image-major to position-major and back). */
static void swap_outer(float *dst, const float *src, int a, int b, int c)
{
    for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++)
            memcpy(dst + ((size_t)j * a + i) * c, src + ((size_t)i * b + j) * c,
                   (size_t)c * sizeof(float));
}

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
    ps_pixel_likelihood lik;
    ps_conv_taps mask_a;
    tensors p, g;
    /* activations for CHUNK images; img holds the scaled pixels, image-major */
    float *img, *conv_work, *F, *h, *act, *a1, *a2, *logits, *d_logits, *d_a, *d_F, *d_h, *work;
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
    float *bufs[] = {r->img, r->conv_work, r->F, r->h, r->act, r->a1, r->a2, r->logits,
                     r->d_logits, r->d_a, r->d_F, r->d_h, r->work};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
}

/* The scratch of n = CHUNK images; -1 when out of memory. */
static int alloc_activations(pixelrnn *r)
{
    int n = CHUNK;
    size_t P = (size_t)r->D * n, C = r->C;
    if (r->diagonal) {
        r->act_floats = diagonal_bilstm_act_floats(r->H, r->W, n, r->hid);
        r->work_floats = diagonal_bilstm_work_floats(r->H, r->W, n, r->hid);
    } else {
        r->act_floats = P * 5 * r->hid; /* z and c */
        r->work_floats = row_lstm_work_floats(r->H, r->W, n, r->hid);
    }
    r->img = malloc(P * sizeof(float));
    r->conv_work = malloc(masked_conv2d_scratch(n, r->H, r->W, 1, r->C, &r->mask_a) * sizeof(float));
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
    if (!r->img || !r->conv_work || !r->F || !r->h || !r->act || !r->a1 || !r->a2 ||
        !r->logits || !r->d_logits || !r->d_a || !r->d_F || !r->d_h || !r->work)
        return -1;
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
                    .layers = cfg->layers, .mask_a = ps_conv_taps_masked(MASK_A_SIZE, 0)};
    r->lik = cfg->levels == 2
                 ? (ps_pixel_likelihood){.kind = PS_PIXEL_BERNOULLI, .levels = 2}
                 : (ps_pixel_likelihood){.kind = PS_PIXEL_CATEGORICAL, .levels = cfg->levels};
    r->K = ps_pixel_param_count(&r->lik);
    r->p.blocks = blocks;
    r->g.blocks = blocks + cfg->layers;
    m->impl = r;
    if (alloc_activations(r) != 0) {
        m->ops->destroy(m);
        m->impl = NULL;
        return ps_error_set(err, "%s: out of memory for the scratch of %d images of %dx%d",
                            m->ops->kind, CHUNK, cfg->height, cfg->width);
    }
    m->n_params = carve(r, NULL, &r->p);
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

/* Weights ~ N(0, 1 / fan_in), biases zero but the forget gates' at 1 (so that the
 * cell state is carried along the recurrence from the start). */
static void init(ps_image_model *m, ps_rng *rng)
{
    pixelrnn *r = m->impl;
    memset(m->params, 0, m->n_params * sizeof(float));
    size_t C = r->C, G = 4 * (size_t)r->hid;
    ps_rng_fill_normal(rng, r->p.wa, MASK_A_TAPS * C, 1.0f / sqrtf(MASK_A_TAPS));
    for (int l = 0; l < r->layers; l++) {
        lstm_block *k = &r->p.blocks[l];
        int taps = r->diagonal ? 2 : 3, directions = r->diagonal ? 2 : 1;
        ps_rng_fill_normal(rng, k->w_is, 2 * C * G, 1.0f / sqrtf((float)(r->diagonal ? C : 2 * C)));
        ps_rng_fill_normal(rng, k->w_ss, lstm_w_ss(r), 1.0f / sqrtf((float)(taps * r->hid)));
        for (int d = 0; d < directions; d++)
            for (int j = 0; j < r->hid; j++) k->bias[d * G + r->hid + j] = 1.0f;
        ps_rng_fill_normal(rng, k->w_up, r->hid * C, 1.0f / sqrtf((float)r->hid));
    }
    ps_rng_fill_normal(rng, r->p.w1, C * C, 1.0f / sqrtf((float)C));
    ps_rng_fill_normal(rng, r->p.w2, C * r->K, 1.0f / sqrtf((float)C));
}

/* logits of n <= CHUNK images ([D][n][K]); the input pixels scaled to [0, 1]. */
static void forward(pixelrnn *r, const uint8_t *x, int n, int levels)
{
    int P = r->D * n, C = r->C, hid = r->hid;
    float scale = 1.0f / (float)(levels - 1);
    for (int i = 0; i < P; i++) r->img[i] = x[i] * scale;
    masked_conv2d_forward(r->a1, r->img, n, r->H, r->W, 1, C, &r->mask_a, r->p.wa, r->p.ba, 0,
                          r->conv_work);
    swap_outer(r->F, r->a1, n, r->D, C);
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
    swap_outer(r->d_a, r->d_F, r->D, n, C);
    masked_conv2d_backward(NULL, g->wa, g->ba, r->d_a, r->img, n, r->H, r->W, 1, C, &r->mask_a,
                           r->p.wa, r->conv_work);
}

/* Per-image nll of n images into out (NULL: not wanted); with backward, the gradient. */
static double score(ps_image_model *m, const uint8_t *x, int n, float scale, int backward_pass,
                    double *out)
{
    pixelrnn *r = m->impl;
    int K = r->K, D = r->D;
    double total = 0.0;
    for (int first = 0; first < n; first += CHUNK) {
        int k = n - first < CHUNK ? n - first : CHUNK;
        const uint8_t *xc = x + (size_t)first * D;
        forward(r, xc, k, m->cfg.levels);
        if (backward_pass) memset(r->d_logits, 0, (size_t)D * k * K * sizeof(float));
        for (int b = 0; b < k; b++) {
            double sum = 0.0;
            for (int p = 0; p < D; p++) {
                size_t row = ((size_t)p * k + b) * K;
                sum += ps_pixel_nll_backward(&r->lik, r->logits + row, xc[(size_t)b * D + p], scale,
                                             backward_pass ? r->d_logits + row : NULL);
            }
            if (out) out[first + b] = sum;
            total += sum;
        }
        if (backward_pass) backward(r, k);
    }
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
    score(m, x, n, 0.0f, 0, out);
}

static void conditionals(ps_image_model *m, const uint8_t *x, float *out)
{
    pixelrnn *r = m->impl;
    int L = m->cfg.levels;
    forward(r, x, 1, L);
    for (int p = 0; p < r->D; p++)
        ps_pixel_log_probs(&r->lik, r->logits + (size_t)p * r->K, out + (size_t)p * L);
}

/* Pixel by pixel in raster order, a chunk of images at a time: each pixel is drawn from
 * a full forward pass over the pixels drawn so far. */
static void sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    pixelrnn *r = m->impl;
    memset(out, 0, (size_t)n * r->D);
    for (int first = 0; first < n; first += CHUNK) {
        int k = n - first < CHUNK ? n - first : CHUNK;
        uint8_t *x = out + (size_t)first * r->D;
        for (int p = 0; p < r->D; p++) {
            forward(r, x, k, m->cfg.levels);
            for (int b = 0; b < k; b++)
                x[(size_t)b * r->D + p] = (uint8_t)ps_pixel_sample(
                    &r->lik, r->logits + ((size_t)p * k + b) * r->K, rng);
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
