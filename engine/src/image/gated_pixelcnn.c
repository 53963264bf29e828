/* Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
 * Decoders"): a first gated layer with a 7 x 7 reach (vertical 4 x 7, horizontal 1 x 3
 * left of the pixel) on the image, then `layers` gated layers with a 3 x 3 reach
 * (gated_pixelcnn_layer.h), `hidden` channels; the horizontal stack's output goes to the
 * shared head (pixelcnn_shared.h). The vertical and horizontal stacks together see every
 * pixel above and to the left within the reach: no blind spot.
 *
 * Parameters: each layer's (gated_layer_bind), first to last, then the head. */
#include <stdlib.h>
#include <string.h>

#include "pixelcnn_shared.h"
#include "priorsep/gated_pixelcnn_layer.h"

typedef struct gated_pixelcnn {
    pixelcnn_base base; /* first: the shared code reads it */
    int count;          /* layers + 1 */
    ps_gated_layer *layer;
    ps_gated_weights *w, *dw;
    ps_gated_acts *acts; /* carved from the workspace by each pass */
} gated_pixelcnn;

enum { FIRST_KERNEL = 7, LAYER_KERNEL = 3 };

static ps_gated_layer layer_at(int c, int l)
{
    return l == 0 ? gated_layer_make(1, c, FIRST_KERNEL, 1) : gated_layer_make(c, c, LAYER_KERNEL, 0);
}

static size_t trunk_params(const ps_image_config *cfg)
{
    size_t total = 0;
    for (int l = 0; l <= cfg->layers; l++) {
        ps_gated_layer L = layer_at(cfg->hidden, l);
        total += gated_layer_param_count(&L);
    }
    return total;
}

/* Workspace: every layer's activations, two pairs of (d_v, d_h) for the backward pass,
 * then the largest layer scratch. */
static size_t workspace(const ps_image_model *m, int n, int H)
{
    const gated_pixelcnn *g = m->impl;
    size_t P = (size_t)n * H * m->cfg.width, acts = 0, scratch = 0;
    for (int l = 0; l < g->count; l++) {
        acts += P * gated_layer_acts_per_pixel(&g->layer[l]);
        size_t s = gated_layer_scratch(&g->layer[l], n, H, m->cfg.width);
        if (s > scratch) scratch = s;
    }
    return acts + 4 * P * m->cfg.hidden + scratch;
}

typedef struct trunk_bufs {
    float *d[4], *scratch;
} trunk_bufs;

static trunk_bufs carve(ps_image_model *m, int n, int H)
{
    gated_pixelcnn *g = m->impl;
    ps_gated_acts *a = g->acts;
    size_t P = (size_t)n * H * m->cfg.width, Pc = P * m->cfg.hidden;
    trunk_bufs b;
    float *p = g->base.trunk_work;
    for (int l = 0; l < g->count; l++) {
        gated_layer_acts(&g->layer[l], P, p, &a[l]);
        p += P * gated_layer_acts_per_pixel(&g->layer[l]);
    }
    for (int i = 0; i < 4; i++) b.d[i] = p, p += Pc;
    b.scratch = p;
    return b;
}

static const float *trunk_forward(ps_image_model *m, const float *x, int n, int H)
{
    gated_pixelcnn *g = m->impl;
    trunk_bufs b = carve(m, n, H);
    ps_gated_acts *a = g->acts;
    for (int l = 0; l < g->count; l++)
        gated_layer_forward(&g->layer[l], &g->w[l], n, H, m->cfg.width, l ? a[l - 1].v : x,
                            l ? a[l - 1].h : x, &a[l], b.scratch);
    return a[g->count - 1].h;
}

static void trunk_backward(ps_image_model *m, const float *x, int n, int H, float *d_feat)
{
    gated_pixelcnn *g = m->impl;
    trunk_bufs b = carve(m, n, H);
    ps_gated_acts *a = g->acts;
    size_t bytes = (size_t)n * H * m->cfg.width * m->cfg.hidden * sizeof(float);
    const float *d_v = NULL; /* the last layer's vertical output feeds nothing */
    const float *d_h = d_feat;
    for (int l = g->count - 1; l >= 0; l--) {
        float *d_v_in = NULL, *d_h_in = NULL; /* none for the image */
        if (l > 0) {
            d_v_in = b.d[2 * (l % 2)], d_h_in = b.d[2 * (l % 2) + 1];
            memset(d_v_in, 0, bytes);
            memset(d_h_in, 0, bytes);
        }
        gated_layer_backward(&g->layer[l], &g->w[l], &g->dw[l], n, H, m->cfg.width,
                             l ? a[l - 1].v : x, l ? a[l - 1].h : x, &a[l], d_v, d_h, d_v_in,
                             d_h_in, b.scratch);
        d_v = d_v_in, d_h = d_h_in;
    }
}

static const pixelcnn_trunk trunk = {trunk_forward, trunk_backward, workspace};

static void destroy(ps_image_model *m)
{
    gated_pixelcnn *g = m->impl;
    pixelcnn_free(&g->base);
    free(g->layer);
    free(g->w);
    free(g->dw);
    free(g->acts);
    free(g);
}

static int create(ps_image_model *m, ps_error *err)
{
    gated_pixelcnn *g = calloc(1, sizeof *g);
    if (!g) return ps_error_set(err, "gated-pixelcnn: out of memory");
    m->impl = g;
    if (pixelcnn_configure(m, &g->base, &trunk, trunk_params, err)) {
        free(g);
        return -1;
    }
    g->count = m->cfg.layers + 1;
    g->layer = calloc(g->count, sizeof *g->layer);
    g->w = calloc(g->count, sizeof *g->w);
    g->dw = calloc(g->count, sizeof *g->dw);
    g->acts = calloc(g->count, sizeof *g->acts);
    if (!g->layer || !g->w || !g->dw || !g->acts) {
        destroy(m);
        return ps_error_set(err, "gated-pixelcnn: out of memory");
    }
    for (int l = 0; l < g->count; l++) g->layer[l] = layer_at(m->cfg.hidden, l);
    /* the first vertical stack reaches 3 rows up, each later one 1 more, and the link to
     * the horizontal stack 1 more */
    g->base.reach_up = FIRST_KERNEL / 2 + m->cfg.layers + 1;
    return 0;
}

static void bind(ps_image_model *m)
{
    gated_pixelcnn *g = m->impl;
    size_t at = 0;
    for (int l = 0; l < g->count; l++) {
        gated_layer_bind(&g->layer[l], m->params + at, &g->w[l]);
        gated_layer_bind(&g->layer[l], m->grads + at, &g->dw[l]);
        at += gated_layer_param_count(&g->layer[l]);
    }
    pixelcnn_bind_head(m);
}

static void init(ps_image_model *m, ps_rng *rng)
{
    gated_pixelcnn *g = m->impl;
    int c = m->cfg.hidden;
    memset(m->params, 0, m->n_params * sizeof(float));
    for (int l = 0; l < g->count; l++) {
        const ps_gated_layer *L = &g->layer[l];
        const ps_gated_weights *w = &g->w[l];
        /* unit gain into the gates: tanh and sigmoid start in their responsive range */
        pixelcnn_fill(w->wv, (size_t)L->vtaps.count * L->cin * 2 * c, L->vtaps.count * L->cin, 1.0f, rng);
        pixelcnn_fill(w->wh, (size_t)L->htaps.count * L->cin * 2 * c, L->htaps.count * L->cin, 1.0f, rng);
        pixelcnn_fill(w->wl, (size_t)4 * c * c, 2 * c, 1.0f, rng);
        /* residual branches start small (the first layer has none) */
        pixelcnn_fill(w->wo, (size_t)c * c, c, L->first ? 1.0f : 0.5f, rng);
    }
    pixelcnn_init_head(m, rng);
}

const ps_image_ops ps_gated_pixelcnn_ops = PIXELCNN_OPS("gated-pixelcnn", create, bind, destroy, init);
