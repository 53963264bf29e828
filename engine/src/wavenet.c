#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/layers.h"
#include "priorsep/mulaw.h"
#include "priorsep/rng.h"
#include "wavenet_internal.h"

ps_wavenet_config ps_wavenet_config_reference(void)
{
    return (ps_wavenet_config){.stacks = 2, .layers = 10, .kernel = 2, .input_kernel = 2,
                               .residual = 32, .skip = 32, .hidden = 32, .cond = 0,
                               .head = PS_HEAD_MOL, .mixtures = 10};
}

static int check_range(ps_error *err, const char *field, int v, int lo, int hi)
{
    if (v < lo || v > hi)
        return ps_error_set(err, "%s: %d is outside %d..%d", field, v, lo, hi);
    return 0;
}

int ps_wavenet_config_check(const ps_wavenet_config *c, ps_error *err)
{
    if (check_range(err, "stacks", c->stacks, 1, PS_WAVENET_MAX_STACKS) ||
        check_range(err, "layers", c->layers, 1, PS_WAVENET_MAX_LAYERS) ||
        check_range(err, "kernel", c->kernel, 1, PS_WAVENET_MAX_KERNEL) ||
        check_range(err, "input_kernel", c->input_kernel, 1, PS_WAVENET_MAX_KERNEL) ||
        check_range(err, "residual", c->residual, 1, PS_WAVENET_MAX_CHANNELS) ||
        check_range(err, "skip", c->skip, 1, PS_WAVENET_MAX_CHANNELS) ||
        check_range(err, "hidden", c->hidden, 1, PS_WAVENET_MAX_CHANNELS) ||
        check_range(err, "cond", c->cond, 0, PS_WAVENET_MAX_COND))
        return -1;
    if (c->head != PS_HEAD_CATEGORICAL && c->head != PS_HEAD_MOL && c->head != PS_HEAD_GAUSSIAN)
        return ps_error_set(err, "head: unknown kind %d", (int)c->head);
    if (c->head != PS_HEAD_CATEGORICAL &&
        check_range(err, "mixtures", c->mixtures, 1, PS_WAVENET_MAX_MIXTURES))
        return -1;
    size_t n = ps_wavenet_config_num_params(c);
    if (n > PS_WAVENET_MAX_PARAMS)
        return ps_error_set(err, "architecture: %zu parameters, more than the %zu allowed", n,
                            PS_WAVENET_MAX_PARAMS);
    return 0;
}

size_t ps_wavenet_config_num_params(const ps_wavenet_config *c)
{
    /* Sizes of the tensor table below; each field is bounded, so no overflow. */
    size_t R = (size_t)c->residual, S = (size_t)c->skip, H = (size_t)c->hidden;
    size_t C = (size_t)c->cond, K = (size_t)c->kernel, O = (size_t)ps_wavenet_out_dim(c);
    size_t layers = (size_t)ps_wavenet_num_layers(c);
    size_t per_layer = K * R * 2 * R + 2 * R + C * 2 * R + R * S + S;
    return (size_t)c->input_kernel * R + R + layers * per_layer + (layers - 1) * (R * R + R) +
           S * H + H + H * O + O;
}

int ps_wavenet_out_dim(const ps_wavenet_config *c)
{
    switch (c->head) {
    case PS_HEAD_MOL: return 3 * c->mixtures;
    case PS_HEAD_GAUSSIAN: return 2 * c->mixtures;
    default: return PS_MULAW_BINS;
    }
}

int ps_wavenet_config_equal(const ps_wavenet_config *a, const ps_wavenet_config *b)
{
    return a->stacks == b->stacks && a->layers == b->layers && a->kernel == b->kernel &&
           a->input_kernel == b->input_kernel && a->residual == b->residual &&
           a->skip == b->skip && a->hidden == b->hidden && a->cond == b->cond &&
           a->head == b->head && (a->head == PS_HEAD_CATEGORICAL || a->mixtures == b->mixtures);
}

int ps_wavenet_num_layers(const ps_wavenet_config *c) { return c->stacks * c->layers; }

int ps_wavenet_dilation(const ps_wavenet_config *c, int layer)
{
    return 1 << (layer % c->layers);
}

int ps_wavenet_receptive_field(const ps_wavenet_config *c)
{
    int rf = 1 + (c->input_kernel - 1);
    for (int l = 0; l < ps_wavenet_num_layers(c); l++)
        rf += (c->kernel - 1) * ps_wavenet_dilation(c, l);
    return rf;
}

double ps_wavenet_macs_per_sample(const ps_wavenet_config *c)
{
    double R = c->residual, S = c->skip, H = c->hidden, n = ps_wavenet_num_layers(c);
    double macs = c->input_kernel * R;
    macs += n * (c->kernel * 2.0 * R * R + S * R) + (n - 1) * R * R;
    macs += S * H + H * ps_wavenet_out_dim(c);
    return macs;
}

/* ---- parameter block ------------------------------------------------------------- */

/* Appends a tensor to the table; its data offset is stored in `data` (as an index into
 * the block) until the block exists. */
static void add_tensor(ps_wavenet *net, int fan_in, const char *name, int rank,
                       int64_t d0, int64_t d1, int64_t d2)
{
    ps_tensor_view *v = &net->tensor[net->n_tensors];
    int64_t dims[3] = {d0, d1, d2};
    snprintf(v->name, sizeof v->name, "%s", name);
    v->rank = rank;
    v->numel = 1;
    for (int i = 0; i < rank; i++) {
        v->shape[i] = dims[i];
        v->numel *= (size_t)dims[i];
    }
    v->data = (float *)(uintptr_t)net->n_params; /* offset, made a pointer below */
    net->tensor_fan_in[net->n_tensors] = fan_in;
    net->n_params += v->numel;
    net->n_tensors++;
}

static void build_tensor_table(ps_wavenet *net)
{
    const ps_wavenet_config *c = &net->cfg;
    int R = c->residual, S = c->skip, H = c->hidden, O = net->out_dim;
    char name[48];
    add_tensor(net, c->input_kernel, "input.w", 3, c->input_kernel, 1, R);
    add_tensor(net, c->input_kernel, "input.b", 1, R, 0, 0);
    for (int l = 0; l < net->n_layers; l++) {
#define LAYER_TENSOR(fan, suffix, rank, a, b, cc)                                        \
    (snprintf(name, sizeof name, "layers.%d.%s", l, suffix),                              \
     add_tensor(net, fan, name, rank, a, b, cc))
        LAYER_TENSOR(c->kernel * R, "conv.w", 3, c->kernel, R, 2 * R);
        LAYER_TENSOR(c->kernel * R, "conv.b", 1, 2 * R, 0, 0);
        if (c->cond > 0) LAYER_TENSOR(c->cond, "cond.w", 2, c->cond, 2 * R, 0);
        if (l < net->n_layers - 1) {
            LAYER_TENSOR(R, "res.w", 2, R, R, 0);
            LAYER_TENSOR(R, "res.b", 1, R, 0, 0);
        }
        LAYER_TENSOR(R, "skip.w", 2, R, S, 0);
        LAYER_TENSOR(R, "skip.b", 1, S, 0, 0);
#undef LAYER_TENSOR
    }
    add_tensor(net, S, "head.w1", 2, S, H, 0);
    add_tensor(net, S, "head.b1", 1, H, 0, 0);
    add_tensor(net, H, "head.w2", 2, H, O, 0);
    add_tensor(net, H, "head.b2", 1, O, 0, 0);
}

/* Walks the table in the order build_tensor_table() wrote it, pointing each named
 * parameter at its place in the block. */
static void bind_parameters(ps_wavenet *net)
{
    for (int i = 0; i < net->n_tensors; i++)
        net->tensor[i].data = net->params + (uintptr_t)net->tensor[i].data;
    const ps_tensor_view *v = net->tensor;
    net->input_w = (v++)->data;
    net->input_b = (v++)->data;
    for (int l = 0; l < net->n_layers; l++) {
        wavenet_layer *L = &net->layer[l];
        L->dilation = ps_wavenet_dilation(&net->cfg, l);
        L->conv_w = (v++)->data;
        L->conv_b = (v++)->data;
        L->cond_w = net->cfg.cond > 0 ? (v++)->data : NULL;
        if (l < net->n_layers - 1) {
            L->res_w = (v++)->data;
            L->res_b = (v++)->data;
        }
        L->skip_w = (v++)->data;
        L->skip_b = (v++)->data;
    }
    net->head_w1 = (v++)->data;
    net->head_b1 = (v++)->data;
    net->head_w2 = (v++)->data;
    net->head_b2 = (v++)->data;
}

ps_wavenet *ps_wavenet_create(const ps_wavenet_config *cfg, ps_error *err)
{
    if (ps_wavenet_config_check(cfg, err)) return NULL;
    ps_wavenet *net = calloc(1, sizeof *net);
    if (!net) goto oom;
    net->cfg = *cfg;
    net->n_layers = ps_wavenet_num_layers(cfg);
    net->out_dim = ps_wavenet_out_dim(cfg);
    int max_tensors = 2 + 7 * net->n_layers + 4;
    net->tensor = calloc((size_t)max_tensors, sizeof *net->tensor);
    net->tensor_fan_in = calloc((size_t)max_tensors, sizeof *net->tensor_fan_in);
    net->layer = calloc((size_t)net->n_layers, sizeof *net->layer);
    if (!net->tensor || !net->tensor_fan_in || !net->layer) goto oom;
    build_tensor_table(net);
    net->params = calloc(net->n_params, sizeof(float));
    if (!net->params) goto oom;
    bind_parameters(net);
    return net;
oom:
    ps_wavenet_destroy(net);
    ps_error_set(err, "out of memory for a WaveNet");
    return NULL;
}

void ps_wavenet_destroy(ps_wavenet *net)
{
    if (!net) return;
    free(net->params);
    free(net->tensor);
    free(net->tensor_fan_in);
    free(net->layer);
    free(net);
}

const ps_wavenet_config *ps_wavenet_config_of(const ps_wavenet *net) { return &net->cfg; }
float *ps_wavenet_params(ps_wavenet *net) { return net->params; }
size_t ps_wavenet_num_params(const ps_wavenet *net) { return net->n_params; }
int ps_wavenet_num_tensors(const ps_wavenet *net) { return net->n_tensors; }
void ps_wavenet_tensor(ps_wavenet *net, int i, ps_tensor_view *view) { *view = net->tensor[i]; }

void ps_wavenet_init_random(ps_wavenet *net, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    for (int i = 0; i < net->n_tensors; i++) {
        float bound = 1.0f / sqrtf((float)net->tensor_fan_in[i]);
        ps_tensor_view *v = &net->tensor[i];
        for (size_t j = 0; j < v->numel; j++)
            v->data[j] = bound * (2.0f * ps_rng_uniform(&rng) - 1.0f);
    }
}

int ps_wavenet_grow(ps_wavenet *net, const ps_wavenet *from, ps_error *err)
{
    ps_wavenet_config same = from->cfg;
    same.stacks = net->cfg.stacks;
    if (!ps_wavenet_config_equal(&same, &net->cfg) || from->cfg.stacks >= net->cfg.stacks) {
        ps_error_set(err, "only a model of the same architecture with fewer stacks can be grown");
        return -1;
    }
    /* the tables are in layer order, so from's tensors, all named in net, come in the
     * same order as net's (the grown-model test holds this to bitwise-equal outputs) */
    int j = 0;
    for (int i = 0; i < net->n_tensors; i++) {
        ps_tensor_view *v = &net->tensor[i];
        if (j < from->n_tensors && strcmp(from->tensor[j].name, v->name) == 0) {
            memcpy(v->data, from->tensor[j++].data, sizeof(float) * v->numel);
        } else if (strstr(v->name, ".res.") || strstr(v->name, ".skip.")) {
            memset(v->data, 0, sizeof(float) * v->numel); /* a new output: identity */
        }
    }
    return 0;
}

/* ---- the steps of a forward pass ----------------------------------------------------- */

void wavenet_gate_bias(const ps_wavenet *net, int l, const float *cond, float *zbias)
{
    const wavenet_layer *L = &net->layer[l];
    int C = net->cfg.cond, Z = 2 * net->cfg.residual;
    for (int i = 0; i < Z; i++) {
        float acc = L->conv_b[i];
        for (int j = 0; j < C && cond; j++) acc += cond[j] * L->cond_w[(long)j * Z + i];
        zbias[i] = acc;
    }
}

void wavenet_input_forward(ps_gemm_fn gemm, const ps_wavenet *net, const float *x, int T, float *h0)
{
    conv1d_forward(gemm, h0, x, 1, T, 1, net->cfg.residual, net->cfg.input_kernel, 1,
                   net->input_w, net->input_b);
}

void wavenet_layer_forward(ps_gemm_fn gemm, const ps_wavenet *net, int l, const float *zbias,
                           const float *h_in, int T, float *z, float *g, float *skip,
                           float *h_out)
{
    const wavenet_layer *L = &net->layer[l];
    int R = net->cfg.residual, S = net->cfg.skip;
    conv1d_forward(gemm, z, h_in, R, T, R, 2 * R, net->cfg.kernel, L->dilation, L->conv_w, zbias);
    gate_forward(g, z, T, R);
    linear_forward(gemm, skip, S, g, R, T, R, S, L->skip_w, L->skip_b, l > 0);
    if (L->res_w) {
        memcpy(h_out, h_in, sizeof(float) * (size_t)T * (size_t)R);
        linear_forward(gemm, h_out, R, g, R, T, R, R, L->res_w, L->res_b, 1);
    }
}

void wavenet_head_forward(ps_gemm_fn gemm, const ps_wavenet *net, const float *skip, int T, float *a1,
                          float *a2, float *out)
{
    int S = net->cfg.skip, H = net->cfg.hidden;
    relu_forward(a1, skip, (size_t)T * S);
    linear_forward(gemm, a2, H, a1, S, T, S, H, net->head_w1, net->head_b1, 0);
    relu_forward(a2, a2, (size_t)T * H);
    linear_forward(gemm, out, net->out_dim, a2, H, T, H, net->out_dim, net->head_w2, net->head_b2, 0);
}
