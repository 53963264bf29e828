/* VRAE (Fabius & van Amersfoort 2014) on images: an image is a sequence of `height` rows
 * of `width` binary pixels.
 *
 *   encoder   an LSTM (`hidden` units) reads rows 0..R-1; its last hidden state gives
 *             [mu | log_s] of q(z|x) = N(mu, s^2), z of `latent` dimensions
 *   decoder   [h0 pre-activation | c0] = z W + b, h0 = tanh(.): the LSTM's initial state;
 *             step r reads row r-1 (zeros at r = 0) and its hidden state gives the
 *             Bernoulli logits of row r's pixels through a dense layer
 *   prior     p(z) = N(0, I)
 *
 * The decoder is autoregressive across rows (teacher forcing with the true previous row
 * in training and scoring, the sampled one when sampling) and independent within a row:
 * p(x | z) = Π_r Π_c p(x_rc | z, rows < r). The model is still a latent-variable model,
 * p(x) = ∫ p(z) p(x | z) dz, with no exact likelihood (exact = 0) and no pixel order of
 * its own (autoregressive = 0).
 *
 * Loss: the negative ELBO with one reparameterized sample, -log p(x | z) + KL(q || p)
 * (the KL analytic). Evaluation: the importance-weighted bound with k = `ensemble`
 * samples of q (default 16), an upper bound on -log p(x) in expectation.
 * `layers` must be 0 or 1 (one LSTM layer each way); binary images only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_model_internal.h"
#include "priorsep/gaussian_latent.h"
#include "priorsep/layers.h"
#include "priorsep/lstm_cell.h"
#include "priorsep/pixel_likelihood.h"

enum { ENC_WX, ENC_WH, ENC_B, HEAD_W, HEAD_B, INIT_W, INIT_B, DEC_WX, DEC_WH, DEC_B, OUT_W,
       OUT_B, TENSORS };

/* Sequences per pass of scoring and sampling: bounds the scratch (about 0.5 MB a
 * sequence at 28x28 with 256 LSTM units). */
enum { NLL_SEQUENCES = 128 };

typedef struct vrae {
    int R, W, H, Z, k; /* rows, row width, LSTM units, latent dimensions, importance samples */
    size_t size[TENSORS];
    float *p[TENSORS], *g[TENSORS];
    int cap; /* sequences the scratch holds */
    /* forward, time-major (step r, sequence b): rows of (R+1) steps hold the pixel rows
     * as floats after a step of zeros (the decoder's first input) */
    float *x_enc, *x_dec;
    float *enc_z, *enc_c, *enc_h; /* R x cap x 4H, H, H */
    float *head;                  /* cap x 2Z: [mu | log_s] */
    float *eps, *z;               /* cap x Z */
    float *init, *h0, *c0;        /* cap x 2H [h0 pre-activation | c0]; cap x H each */
    float *dec_z, *dec_c, *dec_h; /* R x cap x 4H, H, H */
    float *logits;                /* R x cap x W */
    /* backward */
    float *d_logits;   /* R x cap x W */
    float *d_z4;       /* R x cap x 4H */
    float *d_h;        /* R x cap x H */
    float *d_c[2];     /* cap x H: the carried cell gradient */
    float *d_h0, *d_c0, *d_init, *d_lat, *d_head;
    double *log_w;     /* cap */
    uint8_t *rows;     /* cap x W: a sampled row */
} vrae;

static void set_sizes(vrae *v)
{
    size_t W = v->W, H = v->H, Z = v->Z;
    size_t s[TENSORS] = {[ENC_WX] = W * 4 * H, [ENC_WH] = H * 4 * H, [ENC_B] = 4 * H,
                         [HEAD_W] = H * 2 * Z,  [HEAD_B] = 2 * Z,     [INIT_W] = Z * 2 * H,
                         [INIT_B] = 2 * H,      [DEC_WX] = W * 4 * H, [DEC_WH] = H * 4 * H,
                         [DEC_B] = 4 * H,       [OUT_W] = H * W,      [OUT_B] = W};
    memcpy(v->size, s, sizeof s);
}

/* every scratch array, with its floats per sequence */
enum { SCRATCH_ARRAYS = 25 };

static void scratch_list(vrae *v, ps_scratch_entry *s)
{
    size_t R = v->R, W = v->W, H = v->H, Z = v->Z;
    ps_scratch_entry list[SCRATCH_ARRAYS] = {
        {&v->x_enc, (R + 1) * W}, {&v->x_dec, (R + 1) * W}, {&v->enc_z, R * 4 * H},
        {&v->enc_c, R * H},       {&v->enc_h, R * H},       {&v->head, 2 * Z},
        {&v->eps, Z},             {&v->z, Z},               {&v->init, 2 * H},
        {&v->h0, H},              {&v->c0, H},              {&v->dec_z, R * 4 * H},
        {&v->dec_c, R * H},       {&v->dec_h, R * H},       {&v->logits, R * W},
        {&v->d_logits, R * W},    {&v->d_z4, R * 4 * H},    {&v->d_h, R * H},
        {&v->d_c[0], H},          {&v->d_c[1], H},          {&v->d_h0, H},
        {&v->d_c0, H},            {&v->d_init, 2 * H},      {&v->d_lat, Z},
        {&v->d_head, 2 * Z}};
    memcpy(s, list, sizeof list);
}

static void free_scratch(vrae *v)
{
    ps_scratch_entry s[SCRATCH_ARRAYS];
    scratch_list(v, s);
    ps_scratch_free(s, SCRATCH_ARRAYS);
    free(v->log_w);
    free(v->rows);
    v->log_w = NULL;
    v->rows = NULL;
    v->cap = 0;
}

/* Grows the scratch to hold n sequences; aborts when memory runs out (the loss and
 * scoring calls have no error path, and a training batch is small). */
static void reserve(vrae *v, int n)
{
    if (n <= v->cap) return;
    free_scratch(v);
    ps_scratch_entry s[SCRATCH_ARRAYS];
    scratch_list(v, s);
    ps_scratch_alloc(s, SCRATCH_ARRAYS, n);
    v->log_w = calloc(n, sizeof(double));
    v->rows = calloc((size_t)n * v->W, 1);
    if (!v->log_w || !v->rows) abort();
    v->cap = n;
}

static int vrae_create(ps_image_model *m, ps_error *err)
{
    ps_image_config *c = &m->cfg;
    if (c->levels != 2) return ps_error_set(err, "vrae: binary images only (levels 2)");
    if (c->layers > 1 || c->components)
        return ps_error_set(err, "vrae: one LSTM layer each way, no components");
    if (!c->hidden) c->hidden = 64;
    if (!c->latent) c->latent = 16;
    if (!c->ensemble) c->ensemble = 16;
    if (c->hidden < 1 || c->hidden > 4096 || c->latent < 1 || c->latent > 1024 ||
        c->ensemble < 1 || c->ensemble > 1 << 20)
        return ps_error_set(err, "vrae: hidden %d, latent %d or ensemble %d out of range",
                            c->hidden, c->latent, c->ensemble);
    vrae *v = calloc(1, sizeof *v);
    if (!v) return ps_error_set(err, "vrae: out of memory");
    *v = (vrae){.R = c->height, .W = c->width, .H = c->hidden, .Z = c->latent, .k = c->ensemble};
    set_sizes(v);
    m->n_params = 0;
    for (int t = 0; t < TENSORS; t++) m->n_params += v->size[t];
    m->impl = v;
    return 0;
}

static void vrae_bind(ps_image_model *m)
{
    vrae *v = m->impl;
    size_t off = 0;
    for (int t = 0; t < TENSORS; t++) {
        v->p[t] = m->params + off;
        v->g[t] = m->grads + off;
        off += v->size[t];
    }
}

static void vrae_destroy(ps_image_model *m)
{
    free_scratch(m->impl);
    free(m->impl);
}

static void vrae_init(ps_image_model *m, ps_rng *rng)
{
    vrae *v = m->impl;
    /* weights N(0, 1/fan_in); biases 0 except the forget gates (1: remember by default) */
    int fan_in[TENSORS] = {[ENC_WX] = v->W, [ENC_WH] = v->H, [HEAD_W] = v->H, [INIT_W] = v->Z,
                           [DEC_WX] = v->W, [DEC_WH] = v->H, [OUT_W] = v->H};
    for (int t = 0; t < TENSORS; t++) {
        float sd = fan_in[t] ? 1.0f / sqrtf((float)fan_in[t]) : 0.0f;
        ps_rng_fill_normal(rng, v->p[t], v->size[t], sd);
    }
    for (int k = 0; k < v->H; k++) v->p[ENC_B][v->H + k] = v->p[DEC_B][v->H + k] = 1.0f;
}

/* x (n images) into rows 1..R of a time-major sequence buffer, each image repeated
 * `copies` times (sequence b * copies + s); row 0 is zeroed: a pass over more sequences
 * put pixels where this pass's row 0 lies. */
static void load_rows(const vrae *v, float *seq, const uint8_t *x, int n, int copies)
{
    int N = n * copies;
    memset(seq, 0, (size_t)N * v->W * sizeof(float));
    for (int r = 0; r < v->R; r++)
        for (int j = 0; j < N; j++) {
            const uint8_t *px = x + ((size_t)(j / copies) * v->R + r) * v->W;
            float *row = seq + ((size_t)(r + 1) * N + j) * v->W;
            for (int c = 0; c < v->W; c++) row[c] = px[c];
        }
}

/* One LSTM step over N sequences: z = x Wx + b + h_prev Wh, then the cell. h_prev and
 * c_prev NULL: the zero state. */
static void lstm_step(float *z, float *c, float *h, const float *x, int in, const float *h_prev,
                      const float *c_prev, const float *wx, const float *wh, const float *b, int N,
                      int H)
{
    linear_forward(ps_gemm, z, 4 * H, x, in, N, in, 4 * H, wx, b, 0);
    if (h_prev) linear_forward(ps_gemm, z, 4 * H, h_prev, H, N, H, 4 * H, wh, NULL, 1);
    lstm_cell_forward(c, h, z, c_prev, N, H);
}

/* R steps over N sequences; x holds the R input rows (in features each), time-major. */
static void lstm_sequence(float *z, float *c, float *h, const float *x, int in,
                          const float *h_init, const float *c_init, const float *wx,
                          const float *wh, const float *b, int R, int N, int H)
{
    size_t s4 = (size_t)N * 4 * H, s1 = (size_t)N * H;
    for (int r = 0; r < R; r++)
        lstm_step(z + r * s4, c + r * s1, h + r * s1, x + (size_t)r * N * in, in,
                  r ? h + (r - 1) * s1 : h_init, r ? c + (r - 1) * s1 : c_init, wx, wh, b, N, H);
}

/* Backpropagation through lstm_sequence. d_h (R x N x H, the gradient on every hidden
 * state) is added to in place as the gradient flows back. Adds into the weight gradients
 * and into d_h_init and d_c_init (N x H) when not NULL. */
static void lstm_sequence_backward(vrae *v, float *d_h, float *d_h_init, float *d_c_init,
                                   const float *z, const float *c,
                                   const float *h, const float *x, int in, const float *h_init,
                                   const float *c_init, const float *wx, const float *wh,
                                   float *d_wx, float *d_wh, float *d_b, int R, int N)
{
    int H = v->H;
    size_t s4 = (size_t)N * 4 * H, s1 = (size_t)N * H;
    float *d_z = v->d_z4, *dc = v->d_c[0], *dc_prev = v->d_c[1];
    memset(d_z, 0, R * s4 * sizeof(float));
    memset(dc, 0, s1 * sizeof(float));
    for (int r = R - 1; r >= 0; r--) {
        const float *h_prev = r ? h + (r - 1) * s1 : h_init;
        const float *c_prev = r ? c + (r - 1) * s1 : c_init;
        float *d_h_prev = r ? d_h + (r - 1) * s1 : d_h_init;
        memset(dc_prev, 0, s1 * sizeof(float));
        lstm_cell_backward(d_z + r * s4, dc_prev, dc, d_h + r * s1, z + r * s4, c_prev, c + r * s1,
                           N, H);
        if (h_prev)
            linear_backward(d_h_prev, H, d_wh, NULL, d_z + r * s4, 4 * H, h_prev, H, N, H, 4 * H, wh);
        float *t = dc;
        dc = dc_prev;
        dc_prev = t;
    }
    if (d_c_init)
        for (size_t i = 0; i < s1; i++) d_c_init[i] += dc[i];
    linear_backward(NULL, 0, d_wx, d_b, d_z, 4 * H, x, in, R * N, in, 4 * H, wx);
}

/* Encoder over the n sequences of v->x_enc: v->head = [mu | log_s]. */
static void encode(vrae *v, int n)
{
    int R = v->R, H = v->H;
    lstm_sequence(v->enc_z, v->enc_c, v->enc_h, v->x_enc + (size_t)n * v->W, v->W, NULL, NULL,
                  v->p[ENC_WX], v->p[ENC_WH], v->p[ENC_B], R, n, H);
    linear_forward(ps_gemm, v->head, 2 * v->Z, v->enc_h + (size_t)(R - 1) * n * H, H, n, H,
                   2 * v->Z, v->p[HEAD_W], v->p[HEAD_B], 0);
}

/* z (N x Z) to the decoder's initial state: v->init, v->h0, v->c0. */
static void decoder_start(vrae *v, int N)
{
    int H = v->H;
    linear_forward(ps_gemm, v->init, 2 * H, v->z, v->Z, N, v->Z, 2 * H, v->p[INIT_W],
                   v->p[INIT_B], 0);
    for (int j = 0; j < N; j++)
        for (int k = 0; k < H; k++) {
            v->h0[(size_t)j * H + k] = tanhf(v->init[(size_t)j * 2 * H + k]);
            v->c0[(size_t)j * H + k] = v->init[(size_t)j * 2 * H + H + k];
        }
}

/* Decoder over N sequences: x is their sequence buffer from its zero step, so step r
 * reads row r - 1. Writes v->logits. */
static void decode(vrae *v, const float *x, int N)
{
    int R = v->R, H = v->H;
    decoder_start(v, N);
    lstm_sequence(v->dec_z, v->dec_c, v->dec_h, x, v->W, v->h0, v->c0, v->p[DEC_WX],
                  v->p[DEC_WH], v->p[DEC_B], R, N, H);
    linear_forward(ps_gemm, v->logits, v->W, v->dec_h, H, R * N, H, v->W, v->p[OUT_W],
                   v->p[OUT_B], 0);
}

/* -log p(x | z) of sequence j (image x_img) from v->logits of N sequences. */
static double sequence_nll(const vrae *v, const uint8_t *x_img, int j, int N)
{
    double nll = 0.0;
    for (int r = 0; r < v->R; r++)
        nll += ps_bernoulli_nll_sum(v->logits + ((size_t)r * N + j) * v->W,
                                    x_img + (size_t)r * v->W, v->W, 0.0f, NULL);
    return nll;
}

static double vrae_loss(ps_image_model *m, const uint8_t *x, int n, float scale, int backward,
                        ps_rng *rng)
{
    vrae *v = m->impl;
    int R = v->R, W = v->W, H = v->H, Z = v->Z;
    size_t D = (size_t)R * W, nH = (size_t)n * H;
    reserve(v, n);
    load_rows(v, v->x_enc, x, n, 1);
    encode(v, n);
    double kl = 0.0, rec = 0.0;
    for (int b = 0; b < n; b++) {
        const float *mu = v->head + (size_t)b * 2 * Z, *log_s = mu + Z;
        gaussian_sample_forward(v->z + (size_t)b * Z, v->eps + (size_t)b * Z, mu, log_s, Z, rng);
        kl += gaussian_kl_forward(mu, log_s, NULL, NULL, Z);
    }
    decode(v, v->x_enc, n);
    if (!backward) {
        for (int b = 0; b < n; b++) rec += sequence_nll(v, x + b * D, b, n);
        return rec + kl;
    }
    /* output layer, then the decoder back to its initial state */
    memset(v->d_logits, 0, (size_t)R * n * W * sizeof(float));
    for (int r = 0; r < R; r++)
        for (int b = 0; b < n; b++) {
            size_t at = ((size_t)r * n + b) * W;
            rec += ps_bernoulli_nll_sum(v->logits + at, x + b * D + (size_t)r * W, W, scale,
                                        v->d_logits + at);
        }
    memset(v->d_h, 0, R * nH * sizeof(float));
    linear_backward(v->d_h, H, v->g[OUT_W], v->g[OUT_B], v->d_logits, W, v->dec_h, H, R * n, H, W,
                    v->p[OUT_W]);
    memset(v->d_h0, 0, nH * sizeof(float));
    memset(v->d_c0, 0, nH * sizeof(float));
    lstm_sequence_backward(v, v->d_h, v->d_h0, v->d_c0, v->dec_z, v->dec_c, v->dec_h, v->x_enc,
                           W, v->h0, v->c0, v->p[DEC_WX], v->p[DEC_WH], v->g[DEC_WX],
                           v->g[DEC_WH], v->g[DEC_B], R, n);
    for (int b = 0; b < n; b++)
        for (int k = 0; k < H; k++) {
            size_t i = (size_t)b * H + k;
            v->d_init[(size_t)b * 2 * H + k] = v->d_h0[i] * (1.0f - v->h0[i] * v->h0[i]);
            v->d_init[(size_t)b * 2 * H + H + k] = v->d_c0[i];
        }
    memset(v->d_lat, 0, (size_t)n * Z * sizeof(float));
    linear_backward(v->d_lat, Z, v->g[INIT_W], v->g[INIT_B], v->d_init, 2 * H, v->z, Z, n, Z,
                    2 * H, v->p[INIT_W]);
    /* the latent: the sample's path and the KL's */
    memset(v->d_head, 0, (size_t)n * 2 * Z * sizeof(float));
    for (int b = 0; b < n; b++) {
        const float *mu = v->head + (size_t)b * 2 * Z, *log_s = mu + Z;
        float *d_mu = v->d_head + (size_t)b * 2 * Z, *d_log_s = d_mu + Z;
        gaussian_sample_backward(d_mu, d_log_s, v->d_lat + (size_t)b * Z, v->eps + (size_t)b * Z,
                                 log_s, Z);
        gaussian_kl_backward(d_mu, d_log_s, NULL, NULL, scale, mu, log_s, NULL, NULL, Z);
    }
    /* the encoder, from its last hidden state */
    memset(v->d_h, 0, R * nH * sizeof(float));
    size_t last = (size_t)(R - 1) * nH;
    linear_backward(v->d_h + last, H, v->g[HEAD_W], v->g[HEAD_B], v->d_head, 2 * Z,
                    v->enc_h + last, H, n, H, 2 * Z, v->p[HEAD_W]);
    lstm_sequence_backward(v, v->d_h, NULL, NULL, v->enc_z, v->enc_c, v->enc_h,
                           v->x_enc + (size_t)n * W, W, NULL, NULL, v->p[ENC_WX], v->p[ENC_WH],
                           v->g[ENC_WX], v->g[ENC_WH], v->g[ENC_B], R, n);
    return rec + kl;
}

/* Importance-weighted bound: the encoder once per image, the decoder on k samples of q
 * for each, log w = log p(x | z) + log p(z) - log q(z | x). */
static void vrae_nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng)
{
    vrae *v = m->impl;
    int k = v->k, Z = v->Z, group = NLL_SEQUENCES / k > 0 ? NLL_SEQUENCES / k : 1;
    size_t D = (size_t)v->R * v->W;
    reserve(v, group * k);
    for (int first = 0; first < n; first += group) {
        int g = n - first < group ? n - first : group, N = g * k;
        const uint8_t *xg = x + first * D;
        load_rows(v, v->x_enc, xg, g, 1);
        load_rows(v, v->x_dec, xg, g, k);
        encode(v, g);
        for (int j = 0; j < N; j++) {
            const float *mu = v->head + (size_t)(j / k) * 2 * Z, *log_s = mu + Z;
            float *z = v->z + (size_t)j * Z;
            gaussian_sample_forward(z, v->eps + (size_t)j * Z, mu, log_s, Z, rng);
            v->log_w[j] = gaussian_logpdf_forward(z, NULL, NULL, Z) -
                          gaussian_logpdf_forward(z, mu, log_s, Z);
        }
        decode(v, v->x_dec, N);
        for (int j = 0; j < N; j++) v->log_w[j] -= sequence_nll(v, xg + (j / k) * D, j, N);
        for (int b = 0; b < g; b++) out[first + b] = ps_image_neg_log_mean_exp(v->log_w + (size_t)b * k, k);
    }
}

/* z from the prior, then the rows one step at a time, each sampled row the next input. */
static void vrae_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    vrae *v = m->impl;
    int R = v->R, W = v->W, H = v->H, Z = v->Z, group = NLL_SEQUENCES;
    size_t D = (size_t)R * W;
    reserve(v, group);
    for (int first = 0; first < n; first += group) {
        int N = n - first < group ? n - first : group;
        for (size_t i = 0; i < (size_t)N * Z; i++) v->z[i] = ps_rng_normal(rng);
        decoder_start(v, N);
        float *in = v->x_dec;
        memset(in, 0, (size_t)N * W * sizeof(float));
        for (int r = 0; r < R; r++) {
            size_t s1 = (size_t)N * H;
            float *c = v->dec_c + r * s1, *h = v->dec_h + r * s1;
            lstm_step(v->dec_z, c, h, in, W, r ? h - s1 : v->h0, r ? c - s1 : v->c0,
                      v->p[DEC_WX], v->p[DEC_WH], v->p[DEC_B], N, H);
            linear_forward(ps_gemm, v->logits, W, h, H, N, H, W, v->p[OUT_W], v->p[OUT_B], 0);
            for (size_t i = 0; i < (size_t)N * W; i++)
                v->rows[i] = (uint8_t)ps_bernoulli_sample(v->logits[i], rng);
            for (int j = 0; j < N; j++)
                memcpy(out + (first + j) * D + (size_t)r * W, v->rows + (size_t)j * W, W);
            for (size_t i = 0; i < (size_t)N * W; i++) in[i] = v->rows[i];
        }
    }
}

const ps_image_ops ps_vrae_ops = {
    .kind = "vrae",
    .exact = 0,
    .autoregressive = 0,
    .create = vrae_create,
    .bind = vrae_bind,
    .destroy = vrae_destroy,
    .init = vrae_init,
    .loss = vrae_loss,
    .nll = vrae_nll,
    .sample = vrae_sample,
};
