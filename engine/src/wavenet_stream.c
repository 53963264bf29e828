/* Streaming mode (Fast WaveNet): every convolution keeps the last (kernel-1)*dilation
 * rows of its input, so a frame of n samples costs O(n) per layer whatever the
 * receptive field. */
#include <stdlib.h>
#include <string.h>

#include "priorsep/denormal.h"
#include "priorsep/gemm.h"
#include "priorsep/layers.h"
#include "wavenet_internal.h"

/* A convolution's input rows: the `past` rows before `pos` are the history, new rows go
 * at `pos`. The buffer has room for 2 * max(max_frame, past) rows beyond the history,
 * so the history is moved back to the front at most once every max(max_frame, past)
 * samples: an amortized copy of at most `width` floats per sample. */
typedef struct history {
    float *buf;
    int width, past, cap, pos;
} history;

static int history_init(history *h, int width, int past, int max_frame)
{
    int room = max_frame > past ? max_frame : past;
    h->width = width;
    h->past = past;
    h->cap = past + 2 * room;
    h->pos = past;
    h->buf = calloc((size_t)h->cap * (size_t)width, sizeof(float));
    return h->buf ? 0 : -1;
}

static void history_clear(history *h)
{
    memset(h->buf, 0, sizeof(float) * (size_t)h->past * (size_t)h->width);
    h->pos = h->past;
}

/* Row `pos`, with room for n new rows after it. */
static float *history_room(history *h, int n)
{
    if (h->pos + n > h->cap) {
        memmove(h->buf, h->buf + (size_t)(h->pos - h->past) * h->width,
                sizeof(float) * (size_t)h->past * (size_t)h->width);
        h->pos = h->past;
    }
    return h->buf + (size_t)h->pos * h->width;
}

/* What the backward through one peeked frame needs: transposed weight copies (so that
 * every input gradient is a plain product with the real-time kernel), the frame's gate
 * activations per layer, and scratch. */
typedef struct frame_backward {
    float *block;
    float **conv_t;         /* [L]: [kernel][2R][R] */
    float **skip_t, **res_t; /* [L]: [S][R], [R][R] (NULL on the last layer) */
    float *w1_t, *w2_t;     /* [H][S], [O][H] */
    float **z, **g;         /* [L]: the frame's [F][2R], [F][R] */
    float *d_a2, *d_a1, *d_g, *d_z, *d_h[2];
    int n;                  /* rows of the last peek */
} frame_backward;

struct ps_wavenet_stream {
    const ps_wavenet *net;
    int max_frame;
    history x;      /* the input samples */
    history *h;     /* h[l]: input of residual layer l */
    float *zbias;   /* [n_layers][2R]: conv bias + conditioning */
    float *z, *g, *skip, *a2; /* one frame of scratch */
    frame_backward *bw; /* NULL until ps_wavenet_stream_enable_backward() */
};

ps_wavenet_stream *ps_wavenet_stream_create(const ps_wavenet *net, int max_frame,
                                            ps_error *err)
{
    if (max_frame < 1 || max_frame > (1 << 20)) {
        ps_error_set(err, "wavenet stream: max frame %d is outside 1..%d", max_frame, 1 << 20);
        return NULL;
    }
    const ps_wavenet_config *c = &net->cfg;
    int R = c->residual, n = net->n_layers;
    ps_wavenet_stream *st = calloc(1, sizeof *st);
    if (!st) goto oom;
    st->net = net;
    st->max_frame = max_frame;
    st->h = calloc((size_t)n, sizeof *st->h);
    if (!st->h || history_init(&st->x, 1, c->input_kernel - 1, max_frame)) goto oom;
    for (int l = 0; l < n; l++)
        if (history_init(&st->h[l], R, (c->kernel - 1) * ps_wavenet_dilation(c, l), max_frame))
            goto oom;
    st->zbias = malloc(sizeof(float) * (size_t)n * 2 * R);
    st->z = malloc(sizeof(float) * (size_t)max_frame * 2 * R);
    st->g = malloc(sizeof(float) * (size_t)max_frame * R);
    st->skip = malloc(sizeof(float) * (size_t)max_frame * c->skip);
    st->a2 = malloc(sizeof(float) * (size_t)max_frame * c->hidden);
    if (!st->zbias || !st->z || !st->g || !st->skip || !st->a2) goto oom;
    ps_wavenet_stream_set_cond(st, NULL);
    return st;
oom:
    ps_wavenet_stream_destroy(st);
    ps_error_set(err, "wavenet stream: out of memory for frames of %d samples", max_frame);
    return NULL;
}

static void frame_backward_free(frame_backward *bw, int L)
{
    if (!bw) return;
    for (int l = 0; l < L; l++) {
        if (bw->z) free(bw->z[l]);
        if (bw->g) free(bw->g[l]);
    }
    free(bw->z), free(bw->g), free(bw->conv_t), free(bw->skip_t), free(bw->res_t);
    free(bw->block), free(bw->d_a2), free(bw->d_a1), free(bw->d_g), free(bw->d_z);
    free(bw->d_h[0]), free(bw->d_h[1]);
    free(bw);
}

void ps_wavenet_stream_destroy(ps_wavenet_stream *st)
{
    if (!st) return;
    frame_backward_free(st->bw, st->net->n_layers);
    if (st->h)
        for (int l = 0; l < st->net->n_layers; l++) free(st->h[l].buf);
    free(st->h);
    free(st->x.buf);
    free(st->zbias);
    free(st->z);
    free(st->g);
    free(st->skip);
    free(st->a2);
    free(st);
}

void ps_wavenet_stream_reset(ps_wavenet_stream *st)
{
    history_clear(&st->x);
    for (int l = 0; l < st->net->n_layers; l++) history_clear(&st->h[l]);
}

void ps_wavenet_stream_set_cond(ps_wavenet_stream *st, const float *cond)
{
    const ps_wavenet *net = st->net;
    int Z = 2 * net->cfg.residual;
    for (int l = 0; l < net->n_layers; l++)
        wavenet_gate_bias(net, l, net->cfg.cond > 0 ? cond : NULL, st->zbias + (size_t)l * Z);
}

const ps_wavenet *ps_wavenet_stream_model(const ps_wavenet_stream *st) { return st->net; }

static float *rows_at(history *h) { return h->buf + (size_t)h->pos * h->width; }

/* The frame's rows are written after the cached history; `commit` moves the history
 * past them, otherwise the next call overwrites them (a peek). A peek keeps every
 * layer's gate activations for the backward. */
static void process_frame(ps_wavenet_stream *st, const float *x, int n, float *out, int commit)
{
    const ps_wavenet *net = st->net;
    int L = net->n_layers, Z = 2 * net->cfg.residual;
    memcpy(history_room(&st->x, n), x, sizeof(float) * (size_t)n);
    wavenet_input_forward(ps_gemm_rt, net, rows_at(&st->x), n, history_room(&st->h[0], n));
    for (int l = 0; l < L; l++) {
        float *h_out = l + 1 < L ? history_room(&st->h[l + 1], n) : NULL;
        float *z = commit ? st->z : st->bw->z[l], *g = commit ? st->g : st->bw->g[l];
        wavenet_layer_forward(ps_gemm_rt, net, l, st->zbias + (size_t)l * Z, rows_at(&st->h[l]), n,
                              z, g, st->skip, h_out);
    }
    wavenet_head_forward(ps_gemm_rt, net, st->skip, n, st->skip, st->a2, out);
    if (!commit) {
        st->bw->n = n;
        return;
    }
    st->x.pos += n;
    for (int l = 0; l < L; l++) st->h[l].pos += n;
}

void ps_wavenet_stream_process(ps_wavenet_stream *st, const float *x, int n, float *out)
{
    unsigned saved = ps_denormals_off();
    /* Longer inputs than the stream was sized for are split, never refused. */
    for (int done = 0; done < n;) {
        int m = n - done < st->max_frame ? n - done : st->max_frame;
        process_frame(st, x + done, m, out + (size_t)done * st->net->out_dim, 1);
        done += m;
    }
    if (st->bw) st->bw->n = 0; /* the peeked frame is gone */
    ps_denormals_restore(saved);
}

/* ---- the gradient through one frame (prior refinement) -------------------------------- */

static void transpose(float *dst, const float *src, int rows, int cols)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}

int ps_wavenet_stream_enable_backward(ps_wavenet_stream *st, ps_error *err)
{
    if (st->bw) return 0;
    const ps_wavenet *net = st->net;
    const ps_wavenet_config *c = &net->cfg;
    int L = net->n_layers;
    size_t R = (size_t)c->residual, S = (size_t)c->skip, H = (size_t)c->hidden;
    size_t O = (size_t)net->out_dim, F = (size_t)st->max_frame, K = (size_t)c->kernel;
    size_t per_layer = K * 2 * R * R + S * R + R * R;
    frame_backward *bw = calloc(1, sizeof *bw);
    int ok = bw != NULL;
    if (ok) {
        bw->block = malloc(sizeof(float) * ((size_t)L * per_layer + H * S + O * H));
        bw->conv_t = calloc((size_t)L, sizeof(float *));
        bw->skip_t = calloc((size_t)L, sizeof(float *));
        bw->res_t = calloc((size_t)L, sizeof(float *));
        bw->z = calloc((size_t)L, sizeof(float *));
        bw->g = calloc((size_t)L, sizeof(float *));
        bw->d_a2 = malloc(sizeof(float) * F * H);
        bw->d_a1 = malloc(sizeof(float) * F * S);
        bw->d_g = malloc(sizeof(float) * F * R);
        bw->d_z = malloc(sizeof(float) * F * 2 * R);
        bw->d_h[0] = malloc(sizeof(float) * F * R);
        bw->d_h[1] = malloc(sizeof(float) * F * R);
        ok = bw->block && bw->conv_t && bw->skip_t && bw->res_t && bw->z && bw->g && bw->d_a2 &&
             bw->d_a1 && bw->d_g && bw->d_z && bw->d_h[0] && bw->d_h[1];
    }
    for (int l = 0; ok && l < L; l++) {
        bw->z[l] = malloc(sizeof(float) * F * 2 * R);
        bw->g[l] = malloc(sizeof(float) * F * R);
        ok = bw->z[l] && bw->g[l];
    }
    if (!ok) {
        frame_backward_free(bw, L);
        return ps_error_set(err, "wavenet stream: out of memory for the frame backward");
    }
    float *p = bw->block;
    for (int l = 0; l < L; l++) {
        const wavenet_layer *P = &net->layer[l];
        bw->conv_t[l] = p;
        for (size_t j = 0; j < K; j++)
            transpose(p + j * 2 * R * R, P->conv_w + j * R * 2 * R, (int)R, (int)(2 * R));
        p += K * 2 * R * R;
        transpose(bw->skip_t[l] = p, P->skip_w, (int)R, (int)S);
        p += S * R;
        if (P->res_w) transpose(bw->res_t[l] = p, P->res_w, (int)R, (int)R);
        p += R * R;
    }
    transpose(bw->w1_t = p, net->head_w1, (int)S, (int)H);
    p += H * S;
    transpose(bw->w2_t = p, net->head_w2, (int)H, (int)O);
    st->bw = bw;
    return 0;
}

void ps_wavenet_stream_peek(ps_wavenet_stream *st, const float *x, int n, float *out)
{
    unsigned saved = ps_denormals_off();
    process_frame(st, x, n, out, 0);
    ps_denormals_restore(saved);
}

/* d_v[i] = 0 where the forward's output v[i] was not positive (the ReLU's gradient). */
static void relu_mask(float *d_v, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(v[i] > 0.0f)) d_v[i] = 0.0f;
}

void ps_wavenet_stream_peek_backward(ps_wavenet_stream *st, const float *d_out, float *d_x)
{
    unsigned saved = ps_denormals_off();
    const ps_wavenet *net = st->net;
    const ps_wavenet_config *c = &net->cfg;
    frame_backward *bw = st->bw;
    int n = bw->n, R = c->residual, S = c->skip, H = c->hidden, O = net->out_dim;
    /* head: a1 = relu(skip) (kept in st->skip), a2 = relu(a1 W1 + b1), out = a2 W2 + b2 */
    ps_gemm_rt(n, H, O, d_out, O, bw->w2_t, H, NULL, 0.0f, bw->d_a2, H);
    relu_mask(bw->d_a2, st->a2, (size_t)n * H);
    ps_gemm_rt(n, S, H, bw->d_a2, H, bw->w1_t, S, NULL, 0.0f, bw->d_a1, S);
    relu_mask(bw->d_a1, st->skip, (size_t)n * S);
    /* residual layers, last to first: d_next is dL/dh[l+1] over the frame */
    float *d_next = bw->d_h[0], *d_cur = bw->d_h[1];
    for (int l = net->n_layers - 1; l >= 0; l--) {
        int last = bw->res_t[l] == NULL;
        ps_gemm_rt(n, R, S, bw->d_a1, S, bw->skip_t[l], R, NULL, 0.0f, bw->d_g, R);
        if (!last) ps_gemm_rt(n, R, R, d_next, R, bw->res_t[l], R, NULL, 1.0f, bw->d_g, R);
        memset(bw->d_z, 0, sizeof(float) * (size_t)n * 2 * R);
        gate_backward(bw->d_z, bw->d_g, bw->z[l], n, R);
        if (last)
            memset(d_cur, 0, sizeof(float) * (size_t)n * R);
        else
            memcpy(d_cur, d_next, sizeof(float) * (size_t)n * R); /* the identity path */
        /* tap j reads the input `back` rows earlier; rows before the frame are the
         * cache, held fixed, so their gradient is dropped */
        for (int j = 0; j < c->kernel; j++) {
            int back = (c->kernel - 1 - j) * net->layer[l].dilation;
            if (back < n)
                ps_gemm_rt(n - back, R, 2 * R, bw->d_z + (size_t)back * 2 * R, 2 * R,
                           bw->conv_t[l] + (size_t)j * 2 * R * R, R, NULL, 1.0f, d_cur, R);
        }
        float *swap = d_next;
        d_next = d_cur, d_cur = swap;
    }
    /* input conv: h0[t] = b + sum_j w_j x[t - (input_kernel - 1 - j)] */
    for (int j = 0; j < c->input_kernel; j++) {
        int back = c->input_kernel - 1 - j;
        const float *w = net->input_w + (size_t)j * R;
        for (int t = back; t < n; t++) {
            const float *d = d_next + (size_t)t * R;
            float acc = 0.0f;
            for (int r = 0; r < R; r++) acc += d[r] * w[r];
            d_x[t - back] += acc;
        }
    }
    ps_denormals_restore(saved);
}
