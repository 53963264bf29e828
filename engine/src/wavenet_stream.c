/* Streaming mode (Fast WaveNet): every convolution keeps the last (kernel-1)*dilation
 * rows of its input, so a frame of n samples costs O(n) per layer whatever the
 * receptive field. */
#include <stdlib.h>
#include <string.h>

#include "priorsep/denormal.h"
#include "priorsep/gemm.h"
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

struct ps_wavenet_stream {
    const ps_wavenet *net;
    int max_frame;
    history x;      /* the input samples */
    history *h;     /* h[l]: input of residual layer l */
    float *zbias;   /* [n_layers][2R]: conv bias + conditioning */
    float *z, *g, *skip, *a2; /* one frame of scratch */
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

void ps_wavenet_stream_destroy(ps_wavenet_stream *st)
{
    if (!st) return;
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

static void process_frame(ps_wavenet_stream *st, const float *x, int n, float *out)
{
    const ps_wavenet *net = st->net;
    int L = net->n_layers, Z = 2 * net->cfg.residual;
    memcpy(history_room(&st->x, n), x, sizeof(float) * (size_t)n);
    wavenet_input_forward(ps_gemm_rt, net, st->x.buf + st->x.pos, n, history_room(&st->h[0], n));
    for (int l = 0; l < L; l++) {
        float *h_in = st->h[l].buf + (size_t)st->h[l].pos * st->h[l].width;
        float *h_out = l + 1 < L ? history_room(&st->h[l + 1], n) : NULL;
        wavenet_layer_forward(ps_gemm_rt, net, l, st->zbias + (size_t)l * Z, h_in, n, st->z, st->g,
                              st->skip, h_out);
    }
    wavenet_head_forward(ps_gemm_rt, net, st->skip, n, st->skip, st->a2, out);
    st->x.pos += n;
    for (int l = 0; l < L; l++) st->h[l].pos += n;
}

void ps_wavenet_stream_process(ps_wavenet_stream *st, const float *x, int n, float *out)
{
    unsigned saved = ps_denormals_off();
    /* Longer inputs than the stream was sized for are split, never refused. */
    for (int done = 0; done < n;) {
        int m = n - done < st->max_frame ? n - done : st->max_frame;
        process_frame(st, x + done, m, out + (size_t)done * st->net->out_dim);
        done += m;
    }
    ps_denormals_restore(saved);
}
