/* PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural Networks"): a 7 x 7 mask-A
 * convolution, then `layers` residual blocks
 *     a <- a + Wo relu(maskB3x3(relu(a))) + bo
 * of `hidden` channels, into the shared head (pixelcnn_shared.h). Its receptive field has
 * the blind spot of stacked masked convolutions: pixels to the upper right that a deep
 * enough stack should reach but never does (the gated variant removes it).
 *
 * Parameters: mask A w [24][1][hidden], b [hidden]; per block maskB w [5][hidden][hidden],
 * b [hidden], Wo [hidden][hidden], bo [hidden]; then the head. */
#include <stdlib.h>
#include <string.h>

#include "pixelcnn_shared.h"
#include "priorsep/gemm.h"
#include "priorsep/layers.h"
#include "priorsep/masked_conv2d.h"

typedef struct pixelcnn {
    pixelcnn_base base; /* first: the shared code reads it */
    ps_conv_taps mask_a, mask_b;
} pixelcnn;

enum { FIRST_KERNEL = 7, BLOCK_KERNEL = 3 };

static size_t block_floats(int c, const ps_conv_taps *mask_b)
{
    return (size_t)mask_b->count * c * c + c + (size_t)c * c + c;
}

static size_t trunk_params(const ps_image_config *cfg)
{
    ps_conv_taps a = ps_conv_taps_masked(FIRST_KERNEL, 0), b = ps_conv_taps_masked(BLOCK_KERNEL, 1);
    int c = cfg->hidden;
    return (size_t)a.count * c + c + (size_t)cfg->layers * block_floats(c, &b);
}

/* The tensors of one block inside a block of parameters or gradients. */
typedef struct block_tensors {
    float *wb, *bb, *wo, *bo;
} block_tensors;

static block_tensors block_at(const pixelcnn *p, float *base, int c, int l)
{
    float *q = base + (size_t)p->mask_a.count * c + c + (size_t)l * block_floats(c, &p->mask_b);
    block_tensors t;
    t.wb = q, q += (size_t)p->mask_b.count * c * c;
    t.bb = q, q += c;
    t.wo = q, q += (size_t)c * c;
    t.bo = q;
    return t;
}

/* Workspace: a_0..a_L, t_l = relu(a_{l-1}) and q_l = relu(maskB(t_l)) for l = 1..L,
 * three backward temporaries, then the convolutions' scratch. */
static size_t workspace(const ps_image_model *m, int n, int H)
{
    const pixelcnn *p = m->impl;
    int c = m->cfg.hidden, L = m->cfg.layers, W = m->cfg.width;
    size_t P = (size_t)n * H * W;
    size_t sa = masked_conv2d_scratch(n, H, W, 1, c, &p->mask_a);
    size_t sb = masked_conv2d_scratch(n, H, W, c, c, &p->mask_b);
    return P * c * (3 * (size_t)L + 1 + 3) + (sa > sb ? sa : sb);
}

typedef struct trunk_bufs {
    float *a, *t, *q, *d_q, *d_u, *d_t, *scratch; /* a: L+1 tensors, t and q: L */
    size_t Pc;
} trunk_bufs;

static trunk_bufs carve(const ps_image_model *m, int n, int H)
{
    const pixelcnn *p = m->impl;
    int L = m->cfg.layers;
    trunk_bufs b;
    b.Pc = (size_t)n * H * m->cfg.width * m->cfg.hidden;
    b.a = p->base.trunk_work;
    b.t = b.a + (L + 1) * b.Pc;
    b.q = b.t + L * b.Pc;
    b.d_q = b.q + L * b.Pc;
    b.d_u = b.d_q + b.Pc;
    b.d_t = b.d_u + b.Pc;
    b.scratch = b.d_t + b.Pc;
    return b;
}

static const float *trunk_forward(ps_image_model *m, const float *x, int n, int H)
{
    pixelcnn *p = m->impl;
    int c = m->cfg.hidden, L = m->cfg.layers, W = m->cfg.width, P = n * H * W;
    trunk_bufs b = carve(m, n, H);
    float *wa = m->params, *ba = wa + (size_t)p->mask_a.count * c;
    masked_conv2d_forward(b.a, x, n, H, W, 1, c, &p->mask_a, wa, ba, 0, b.scratch);
    for (int l = 0; l < L; l++) {
        block_tensors w = block_at(p, m->params, c, l);
        float *a_in = b.a + l * b.Pc, *a_out = a_in + b.Pc, *t = b.t + l * b.Pc, *q = b.q + l * b.Pc;
        relu_forward(t, a_in, b.Pc);
        masked_conv2d_forward(q, t, n, H, W, c, c, &p->mask_b, w.wb, w.bb, 0, b.scratch);
        relu_forward(q, q, b.Pc);
        memcpy(a_out, a_in, b.Pc * sizeof(float));
        linear_forward(ps_gemm, a_out, c, q, c, P, c, c, w.wo, w.bo, 1);
    }
    return b.a + L * b.Pc;
}

static void trunk_backward(ps_image_model *m, const float *x, int n, int H, float *d_a)
{
    pixelcnn *p = m->impl;
    int c = m->cfg.hidden, L = m->cfg.layers, W = m->cfg.width, P = n * H * W;
    trunk_bufs b = carve(m, n, H);
    size_t bytes = b.Pc * sizeof(float);
    for (int l = L - 1; l >= 0; l--) {
        block_tensors w = block_at(p, m->params, c, l), g = block_at(p, m->grads, c, l);
        float *t = b.t + l * b.Pc, *q = b.q + l * b.Pc;
        /* d_a holds d a_{l+1}: it reaches a_l through the residual unchanged, and through
         * the block added below */
        memset(b.d_q, 0, bytes);
        linear_backward(b.d_q, c, g.wo, g.bo, d_a, c, q, c, P, c, c, w.wo);
        memset(b.d_u, 0, bytes);
        relu_backward(b.d_u, b.d_q, q, b.Pc);
        memset(b.d_t, 0, bytes);
        masked_conv2d_backward(b.d_t, g.wb, g.bb, b.d_u, t, n, H, W, c, c, &p->mask_b, w.wb,
                               b.scratch);
        relu_backward(d_a, b.d_t, t, b.Pc);
    }
    float *gwa = m->grads, *gba = gwa + (size_t)p->mask_a.count * c;
    masked_conv2d_backward(NULL, gwa, gba, d_a, x, n, H, W, 1, c, &p->mask_a, m->params, b.scratch);
}

static const pixelcnn_trunk trunk = {trunk_forward, trunk_backward, workspace};

static int create(ps_image_model *m, ps_error *err)
{
    pixelcnn *p = calloc(1, sizeof *p);
    if (!p) return ps_error_set(err, "pixelcnn: out of memory");
    m->impl = p;
    p->mask_a = ps_conv_taps_masked(FIRST_KERNEL, 0);
    p->mask_b = ps_conv_taps_masked(BLOCK_KERNEL, 1);
    if (pixelcnn_configure(m, &p->base, &trunk, trunk_params, err)) {
        free(p);
        return -1;
    }
    /* mask A reaches FIRST_KERNEL / 2 rows up, each mask-B block one more */
    p->base.reach_up = FIRST_KERNEL / 2 + m->cfg.layers;
    return 0;
}

static void bind(ps_image_model *m) { pixelcnn_bind_head(m); }

static void destroy(ps_image_model *m)
{
    pixelcnn *p = m->impl;
    pixelcnn_free(&p->base);
    free(p);
}

static void init(ps_image_model *m, ps_rng *rng)
{
    pixelcnn *p = m->impl;
    int c = m->cfg.hidden;
    memset(m->params, 0, m->n_params * sizeof(float));
    pixelcnn_fill(m->params, (size_t)p->mask_a.count * c, p->mask_a.count, 2.0f, rng);
    for (int l = 0; l < m->cfg.layers; l++) {
        block_tensors w = block_at(p, m->params, c, l);
        pixelcnn_fill(w.wb, (size_t)p->mask_b.count * c * c, p->mask_b.count * c, 2.0f, rng);
        /* residual branches start small so that the stack starts near the identity */
        pixelcnn_fill(w.wo, (size_t)c * c, c, 0.5f, rng);
    }
    pixelcnn_init_head(m, rng);
}

const ps_image_ops ps_pixelcnn_ops = PIXELCNN_OPS("pixelcnn", create, bind, destroy, init);
