/* Training forward (every activation kept) and backward (llm.c style: each step of the
 * forward has its backward, gradients accumulate with +=). */
#include "priorsep/wavenet_train.h"

#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/layers.h"
#include "wavenet_internal.h"

struct ps_wavenet_acts {
    int n_layers, max_T, T, pad_x, pad_h; /* pad_h: the largest layer history */
    float *x;                   /* [pad_x + max_T] */
    float **h;                  /* h[l]: input of layer l, [pad_h + max_T][R], time 0 at row pad_h */
    float **z, **g;             /* [max_T][2R], [max_T][R] per layer */
    float *skip, *a1, *a2, *out;
    float *zbias, *cond;        /* [L][2R], [cond] */
    /* backward scratch */
    float *d_h[2];              /* [pad_h + max_T][R] */
    float *d_z, *d_g, *d_skip, *d_a1, *d_a2, *d_hidden, *d_xpad;
};

static float *zalloc(size_t n, int *ok)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *ok = 0;
    return p;
}

ps_wavenet_acts *ps_wavenet_acts_create(const ps_wavenet *net, int max_T, ps_error *err)
{
    const ps_wavenet_config *c = &net->cfg;
    if (max_T < 1 || max_T > (1 << 24)) {
        ps_error_set(err, "wavenet training: sequence length %d is outside 1..%d", max_T, 1 << 24);
        return NULL;
    }
    ps_gemm_init();
    size_t T = (size_t)max_T, R = (size_t)c->residual, S = (size_t)c->skip, H = (size_t)c->hidden;
    int L = net->n_layers, ok = 1;
    ps_wavenet_acts *a = calloc(1, sizeof *a);
    if (!a) goto oom;
    a->n_layers = L;
    a->max_T = max_T;
    a->pad_x = c->input_kernel - 1;
    a->pad_h = (c->kernel - 1) * ps_wavenet_dilation(c, c->layers - 1);
    size_t rows = (size_t)a->pad_h + T;
    a->h = calloc((size_t)L, sizeof *a->h);
    a->z = calloc((size_t)L, sizeof *a->z);
    a->g = calloc((size_t)L, sizeof *a->g);
    if (!a->h || !a->z || !a->g) goto oom;
    a->x = zalloc((size_t)a->pad_x + T, &ok);
    for (int l = 0; l < L; l++) {
        a->h[l] = zalloc(rows * R, &ok);
        a->z[l] = zalloc(T * 2 * R, &ok);
        a->g[l] = zalloc(T * R, &ok);
    }
    a->skip = zalloc(T * S, &ok);
    a->a1 = zalloc(T * S, &ok);
    a->a2 = zalloc(T * H, &ok);
    a->out = zalloc(T * (size_t)net->out_dim, &ok);
    a->zbias = zalloc((size_t)L * 2 * R, &ok);
    a->cond = zalloc((size_t)c->cond, &ok);
    a->d_h[0] = zalloc(rows * R, &ok);
    a->d_h[1] = zalloc(rows * R, &ok);
    a->d_z = zalloc(T * 2 * R, &ok);
    a->d_g = zalloc(T * R, &ok);
    a->d_skip = zalloc(T * S, &ok);
    a->d_a1 = zalloc(T * S, &ok);
    a->d_a2 = zalloc(T * H, &ok);
    a->d_hidden = zalloc(T * H, &ok);
    a->d_xpad = zalloc((size_t)a->pad_x + T, &ok);
    if (ok) return a;
oom:
    ps_wavenet_acts_destroy(a);
    ps_error_set(err, "wavenet training: out of memory for sequences of %d samples", max_T);
    return NULL;
}

void ps_wavenet_acts_destroy(ps_wavenet_acts *a)
{
    if (!a) return;
    for (int l = 0; l < a->n_layers; l++) {
        if (a->h) free(a->h[l]);
        if (a->z) free(a->z[l]);
        if (a->g) free(a->g[l]);
    }
    free(a->h), free(a->z), free(a->g);
    free(a->x);
    free(a->skip), free(a->a1), free(a->a2), free(a->out), free(a->zbias), free(a->cond);
    free(a->d_h[0]), free(a->d_h[1]);
    free(a->d_z), free(a->d_g), free(a->d_skip), free(a->d_a1), free(a->d_a2), free(a->d_hidden), free(a->d_xpad);
    free(a);
}

/* Row of time 0 of layer l's input (the rows before it are its zero past). */
static float *h_at(const ps_wavenet_acts *a, int l, int R) { return a->h[l] + (size_t)a->pad_h * R; }

const float *ps_wavenet_train_forward(const ps_wavenet *net, ps_wavenet_acts *a,
                                      const float *x, const float *cond, int T)
{
    const ps_wavenet_config *c = &net->cfg;
    int R = c->residual, L = net->n_layers;
    a->T = T;
    memcpy(a->x + a->pad_x, x, sizeof(float) * (size_t)T);
    if (c->cond > 0) memcpy(a->cond, cond, sizeof(float) * (size_t)c->cond);
    wavenet_input_forward(ps_gemm, net, a->x + a->pad_x, T, h_at(a, 0, R));
    for (int l = 0; l < L; l++) {
        float *zbias = a->zbias + (size_t)l * 2 * R;
        wavenet_gate_bias(net, l, c->cond > 0 ? a->cond : NULL, zbias);
        wavenet_layer_forward(ps_gemm, net, l, zbias, h_at(a, l, R), T, a->z[l], a->g[l], a->skip,
                              l + 1 < L ? h_at(a, l + 1, R) : NULL);
    }
    wavenet_head_forward(ps_gemm, net, a->skip, T, a->a1, a->a2, a->out);
    return a->out;
}

static void zero(float *p, size_t n) { memset(p, 0, sizeof(float) * n); }

void ps_wavenet_train_backward(const ps_wavenet *net, ps_wavenet_acts *a, const float *d_out,
                               ps_wavenet *grad, float *d_x)
{
    const ps_wavenet_config *c = &net->cfg;
    int T = a->T, R = c->residual, S = c->skip, H = c->hidden, O = net->out_dim, L = net->n_layers;
    size_t rows = (size_t)a->pad_h + (size_t)T;

    /* head: out = relu(relu(skip) W1 + b1) W2 + b2; a2 holds the inner ReLU's output */
    /* Without a gradient block only the input gradient is wanted: every weight gradient
     * is skipped (pointers into a NULL block stay NULL). */
#define GRAD(field) (grad ? grad->field : NULL)
    zero(a->d_a2, (size_t)T * H);
    linear_backward(a->d_a2, H, GRAD(head_w2), GRAD(head_b2), d_out, O, a->a2, H, T, H, O, net->head_w2);
    zero(a->d_hidden, (size_t)T * H);
    relu_backward(a->d_hidden, a->d_a2, a->a2, (size_t)T * H);
    zero(a->d_a1, (size_t)T * S);
    linear_backward(a->d_a1, S, GRAD(head_w1), GRAD(head_b1), a->d_hidden, H, a->a1, S, T, S, H,
                    net->head_w1);
    zero(a->d_skip, (size_t)T * S);
    relu_backward(a->d_skip, a->d_a1, a->a1, (size_t)T * S);

    /* residual layers, last to first; d_next is dL/dh[l+1] (zero above the last layer) */
    float *d_next = a->d_h[0], *d_cur = a->d_h[1];
    zero(d_next, rows * R);
    for (int l = L - 1; l >= 0; l--) {
        const wavenet_layer *P = &net->layer[l];
        wavenet_layer none = {0}, *G = grad ? &grad->layer[l] : &none;
        const float *d_hnext = d_next + (size_t)a->pad_h * R;
        zero(a->d_g, (size_t)T * R);
        linear_backward(a->d_g, R, G->skip_w, G->skip_b, a->d_skip, S, a->g[l], R, T, R, S, P->skip_w);
        if (P->res_w)
            linear_backward(a->d_g, R, G->res_w, G->res_b, d_hnext, R, a->g[l], R, T, R, R, P->res_w);
        zero(a->d_z, (size_t)T * 2 * R);
        gate_backward(a->d_z, a->d_g, a->z[l], T, R);
        /* dL/dh[l]: the identity path of the residual plus the convolution's input */
        zero(d_cur, rows * R);
        if (P->res_w) memcpy(d_cur + (size_t)a->pad_h * R, d_hnext, sizeof(float) * (size_t)T * R);
        conv1d_backward(d_cur + (size_t)a->pad_h * R, G->conv_w, G->conv_b, a->d_z, h_at(a, l, R), R,
                        T, R, 2 * R, c->kernel, P->dilation, P->conv_w);
        /* the conditioning enters through the gate bias: zbias = conv_b + cond W_cond */
        for (int j = 0; G->cond_w && j < c->cond; j++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < 2 * R; i++)
                    G->cond_w[(size_t)j * 2 * R + i] += a->cond[j] * a->d_z[(size_t)t * 2 * R + i];
        float *swap = d_next;
        d_next = d_cur, d_cur = swap;
    }
    /* input conv: h[0] = conv(x) */
    float *d_xin = NULL;
    if (d_x) {
        zero(a->d_xpad, (size_t)a->pad_x + T);
        d_xin = a->d_xpad + a->pad_x;
    }
    conv1d_backward(d_xin, GRAD(input_w), GRAD(input_b), d_next + (size_t)a->pad_h * R, a->x + a->pad_x,
                    1, T, 1, R, c->input_kernel, 1, net->input_w);
    if (d_x)
        for (int t = 0; t < T; t++) d_x[t] += d_xin[t]; /* the past rows are silence */
#undef GRAD
}
