/* The LSTM prior over VQ-VAE codes; see code_prior.h. */
#include "priorsep/code_prior.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/heads.h"
#include "priorsep/layers.h"
#include "priorsep/lstm_cell.h"

size_t code_prior_param_count(int K, int G, int H)
{
    return (size_t)(K + 1) * 4 * H + (size_t)G * 4 * H + (size_t)H * 4 * H + (size_t)H * K + K;
}

void code_prior_bind(code_prior *p, float *block, int K, int G, int H)
{
    p->K = K;
    p->G = G;
    p->H = H;
    p->w_in = block;
    p->w_pos = p->w_in + (size_t)(K + 1) * 4 * H;
    p->w_rec = p->w_pos + (size_t)G * 4 * H;
    p->w_out = p->w_rec + (size_t)H * 4 * H;
    p->b_out = p->w_out + (size_t)H * K;
}

void code_prior_init(code_prior *p, ps_rng *rng)
{
    int K = p->K, G = p->G, H = p->H;
    /* The inputs are one-hot rows, so W_in's entries are pre-activations themselves:
     * small, to start near the unconditional gates. */
    ps_rng_fill_normal(rng, p->w_in, (size_t)(K + 1) * 4 * H, 0.1f);
    ps_rng_fill_normal(rng, p->w_pos, (size_t)G * 4 * H, 0.1f);
    /* forget-gate bias 1: remember by default (Jozefowicz et al. 2015) */
    for (int t = 0; t < G; t++)
        for (int k = 0; k < H; k++) p->w_pos[(size_t)t * 4 * H + H + k] += 1.0f;
    ps_rng_fill_normal(rng, p->w_rec, (size_t)H * 4 * H, 1.0f / sqrtf((float)H));
    ps_rng_fill_normal(rng, p->w_out, (size_t)H * K, 1.0f / sqrtf((float)H));
    memset(p->b_out, 0, (size_t)K * sizeof(float));
}

int code_prior_buffers_alloc(code_prior_buffers *b, const code_prior *p, int cap)
{
    size_t rows = (size_t)p->G * cap, H = (size_t)p->H, K = (size_t)p->K;
    b->cap = cap;
    b->pre = malloc(rows * 4 * H * sizeof(float));
    b->c = malloc(rows * H * sizeof(float));
    b->h = malloc(rows * H * sizeof(float));
    b->logits = malloc(rows * K * sizeof(float));
    b->d_logits = malloc(rows * K * sizeof(float));
    b->d_h = malloc(rows * H * sizeof(float));
    b->d_pre = malloc((size_t)cap * 4 * H * sizeof(float));
    b->d_c = malloc((size_t)cap * H * sizeof(float));
    b->d_c_prev = malloc((size_t)cap * H * sizeof(float));
    if (b->pre && b->c && b->h && b->logits && b->d_logits && b->d_h && b->d_pre && b->d_c &&
        b->d_c_prev)
        return 0;
    code_prior_buffers_free(b);
    return -1;
}

void code_prior_buffers_free(code_prior_buffers *b)
{
    free(b->pre);
    free(b->c);
    free(b->h);
    free(b->logits);
    free(b->d_logits);
    free(b->d_h);
    free(b->d_pre);
    free(b->d_c);
    free(b->d_c_prev);
    memset(b, 0, sizeof *b);
}

/* Step t of n grids: reads codes[b * G + t - 1] only, writes the step's activations. */
static void step(const code_prior *p, int t, const int *codes, int n, code_prior_buffers *b)
{
    int G = p->G, H = p->H, K = p->K;
    float *pre = b->pre + (size_t)t * n * 4 * H;
    float *c = b->c + (size_t)t * n * H, *h = b->h + (size_t)t * n * H;
    for (int i = 0; i < n; i++) {
        int prev = t == 0 ? K : codes[(size_t)i * G + t - 1];
        const float *in = p->w_in + (size_t)prev * 4 * H, *pos = p->w_pos + (size_t)t * 4 * H;
        for (int j = 0; j < 4 * H; j++) pre[(size_t)i * 4 * H + j] = in[j] + pos[j];
    }
    if (t > 0)
        ps_gemm(n, 4 * H, H, h - (size_t)n * H, H, p->w_rec, 4 * H, NULL, 1.0f, pre, 4 * H);
    lstm_cell_forward(c, h, pre, t > 0 ? c - (size_t)n * H : NULL, n, H);
    linear_forward(ps_gemm, b->logits + (size_t)t * n * K, K, h, H, n, H, K, p->w_out, p->b_out,
                   0);
}

double code_prior_forward(const code_prior *p, const int *codes, int n, code_prior_buffers *b,
                          double *nll)
{
    int G = p->G, K = p->K;
    if (nll) memset(nll, 0, (size_t)n * sizeof(double));
    double total = 0.0;
    for (int t = 0; t < G; t++) {
        step(p, t, codes, n, b);
        for (int i = 0; i < n; i++) {
            double l = -ps_categorical_logprob(b->logits + ((size_t)t * n + i) * K, K,
                                               codes[(size_t)i * G + t]);
            total += l;
            if (nll) nll[i] += l;
        }
    }
    return total;
}

void code_prior_backward(const code_prior *p, const code_prior *g, const int *codes, int n,
                         float scale, code_prior_buffers *b)
{
    int G = p->G, H = p->H, K = p->K;
    size_t rows = (size_t)G * n;
    memset(b->d_logits, 0, rows * K * sizeof(float));
    for (int t = 0; t < G; t++)
        for (int i = 0; i < n; i++) {
            size_t r = (size_t)t * n + i;
            ps_categorical_nll_backward(b->logits + r * K, K, codes[(size_t)i * G + t], scale,
                                        b->d_logits + r * K);
        }
    /* The output layer of all steps at once. */
    memset(b->d_h, 0, rows * H * sizeof(float));
    linear_backward(b->d_h, H, g->w_out, g->b_out, b->d_logits, K, b->h, H, (int)rows, H, K,
                    p->w_out);
    /* Back through time; d_c carries the gradient on c_t from step t + 1. */
    memset(b->d_c, 0, (size_t)n * H * sizeof(float));
    for (int t = G - 1; t >= 0; t--) {
        const float *pre = b->pre + (size_t)t * n * 4 * H;
        const float *c = b->c + (size_t)t * n * H, *c_prev = t > 0 ? c - (size_t)n * H : NULL;
        float *d_h = b->d_h + (size_t)t * n * H;
        memset(b->d_pre, 0, (size_t)n * 4 * H * sizeof(float));
        memset(b->d_c_prev, 0, (size_t)n * H * sizeof(float));
        lstm_cell_backward(b->d_pre, b->d_c_prev, b->d_c, d_h, pre, c_prev, c, n, H);
        if (t > 0) {
            const float *h_prev = b->h + (size_t)(t - 1) * n * H;
            ps_gemm_tn(H, 4 * H, n, h_prev, H, b->d_pre, 4 * H, 1.0f, g->w_rec, 4 * H);
            ps_gemm_nt(n, H, 4 * H, b->d_pre, 4 * H, p->w_rec, 4 * H, 1.0f, d_h - (size_t)n * H,
                       H);
        }
        for (int i = 0; i < n; i++) {
            int prev = t == 0 ? K : codes[(size_t)i * G + t - 1];
            const float *d = b->d_pre + (size_t)i * 4 * H;
            float *d_in = g->w_in + (size_t)prev * 4 * H, *d_pos = g->w_pos + (size_t)t * 4 * H;
            for (int j = 0; j < 4 * H; j++) {
                d_in[j] += d[j];
                d_pos[j] += d[j];
            }
        }
        float *swap = b->d_c;
        b->d_c = b->d_c_prev;
        b->d_c_prev = swap;
    }
}

void code_prior_sample(const code_prior *p, int *codes, int n, code_prior_buffers *b,
                       ps_rng *rng)
{
    int G = p->G, K = p->K;
    for (int t = 0; t < G; t++) {
        step(p, t, codes, n, b);
        for (int i = 0; i < n; i++)
            codes[(size_t)i * G + t] =
                ps_categorical_sample(b->logits + ((size_t)t * n + i) * K, K, rng);
    }
}
