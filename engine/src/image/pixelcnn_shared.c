/* The PixelCNN variants' shared head, loss, conditionals and sampling. See
 * pixelcnn_shared.h. */
#include "pixelcnn_shared.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/layers.h"

static pixelcnn_base *base_of(const ps_image_model *m) { return m->impl; }

static size_t head_params(int c, int out) { return (size_t)c * c + c + (size_t)c * out + out; }

int pixelcnn_configure(ps_image_model *m, pixelcnn_base *b, const pixelcnn_trunk *trunk,
                       size_t (*trunk_params)(const ps_image_config *c), ps_error *err)
{
    ps_image_config *c = &m->cfg;
    if (c->hidden == 0) c->hidden = 32;
    if (c->layers == 0) c->layers = 5;
    if (c->components == 0) c->components = 5;
    if (c->hidden < 1 || c->hidden > 1024 || c->layers < 0 || c->layers > 64)
        return ps_error_set(err, "%s: hidden %d or layers %d out of range (1..1024, 0..64)",
                            m->ops->kind, c->hidden, c->layers);
    if (c->levels == 256 && (c->components < 1 || c->components > PS_DLOGISTIC_MAX_COMPONENTS))
        return ps_error_set(err, "%s: components %d outside 1..%d", m->ops->kind, c->components,
                            PS_DLOGISTIC_MAX_COMPONENTS);
    b->trunk = trunk;
    b->lik = c->levels == 2
                 ? (ps_pixel_likelihood){.kind = PS_PIXEL_BERNOULLI, .levels = 2}
                 : (ps_pixel_likelihood){.kind = PS_PIXEL_DLOGISTIC, .levels = 256,
                                         .components = c->components};
    b->head_at = trunk_params(c);
    m->n_params = b->head_at + head_params(c->hidden, ps_pixel_param_count(&b->lik));
    return 0;
}

void pixelcnn_bind_head(ps_image_model *m)
{
    pixelcnn_base *b = base_of(m);
    int c = m->cfg.hidden, out = ps_pixel_param_count(&b->lik);
    float *p = m->params + b->head_at, *g = m->grads + b->head_at;
    b->w1 = p, b->gw1 = g, p += (size_t)c * c, g += (size_t)c * c;
    b->b1 = p, b->gb1 = g, p += c, g += c;
    b->w2 = p, b->gw2 = g, p += (size_t)c * out, g += (size_t)c * out;
    b->b2 = p, b->gb2 = g;
}

void pixelcnn_fill(float *w, size_t count, int fan_in, float gain, ps_rng *rng)
{
    ps_rng_fill_normal(rng, w, count, sqrtf(gain / (float)fan_in));
}

void pixelcnn_init_head(ps_image_model *m, ps_rng *rng)
{
    pixelcnn_base *b = base_of(m);
    int c = m->cfg.hidden, out = ps_pixel_param_count(&b->lik);
    pixelcnn_fill(b->w1, (size_t)c * c, c, 2.0f, rng);
    memset(b->b1, 0, (size_t)c * sizeof(float));
    /* small outputs: every pixel starts near the same broad distribution */
    pixelcnn_fill(b->w2, (size_t)c * out, c, 0.1f, rng);
    memset(b->b2, 0, (size_t)out * sizeof(float));
}

void pixelcnn_free(pixelcnn_base *b) { free(b->work); }

/* The head's buffers for P pixels, then the trunk's workspace. */
typedef struct head_bufs {
    float *x, *r0, *r1, *params, *d_params, *tmp_a, *tmp_b;
} head_bufs;

static size_t head_floats(size_t P, int c, int out) { return P * (1 + 4 * (size_t)c + 2 * (size_t)out); }

static int reserve(ps_image_model *m, int n, int H, head_bufs *h)
{
    pixelcnn_base *b = base_of(m);
    int c = m->cfg.hidden, out = ps_pixel_param_count(&b->lik);
    size_t P = (size_t)n * H * m->cfg.width, head = head_floats(P, c, out);
    size_t need = head + b->trunk->workspace(m, n, H);
    if (need > b->work_floats) {
        float *w = realloc(b->work, need * sizeof(float));
        if (!w) return -1;
        b->work = w;
        b->work_floats = need;
    }
    float *p = b->work;
    h->x = p, p += P;
    h->r0 = p, p += P * c;
    h->r1 = p, p += P * c;
    h->params = p, p += P * out;
    h->d_params = p, p += P * out;
    h->tmp_a = p, p += P * c;
    h->tmp_b = p, p += P * c;
    b->trunk_work = p;
    return 0;
}

/* Trunk and head on n images of H rows (pixel levels x): h->params [P][out]. */
static void forward(ps_image_model *m, const uint8_t *x, int n, int H, head_bufs *h)
{
    pixelcnn_base *b = base_of(m);
    int c = m->cfg.hidden, out = ps_pixel_param_count(&b->lik);
    int P = n * H * m->cfg.width;
    for (int p = 0; p < P; p++) h->x[p] = ps_pixel_input(&b->lik, x[p]);
    const float *feat = b->trunk->forward(m, h->x, n, H);
    relu_forward(h->r0, feat, (size_t)P * c);
    linear_forward(ps_gemm, h->r1, c, h->r0, c, P, c, c, b->w1, b->b1, 0);
    relu_forward(h->r1, h->r1, (size_t)P * c);
    linear_forward(ps_gemm, h->params, out, h->r1, c, P, c, out, b->w2, b->b2, 0);
}

static void backward(ps_image_model *m, int n, int H, head_bufs *h)
{
    pixelcnn_base *b = base_of(m);
    int c = m->cfg.hidden, out = ps_pixel_param_count(&b->lik);
    int P = n * H * m->cfg.width;
    size_t Pc = (size_t)P * c * sizeof(float);
    memset(h->tmp_a, 0, Pc);
    linear_backward(h->tmp_a, c, b->gw2, b->gb2, h->d_params, out, h->r1, c, P, c, out, b->w2);
    memset(h->tmp_b, 0, Pc);
    relu_backward(h->tmp_b, h->tmp_a, h->r1, (size_t)P * c);
    memset(h->tmp_a, 0, Pc);
    linear_backward(h->tmp_a, c, b->gw1, b->gb1, h->tmp_b, c, h->r0, c, P, c, c, b->w1);
    memset(h->tmp_b, 0, Pc);
    relu_backward(h->tmp_b, h->tmp_a, h->r0, (size_t)P * c);
    b->trunk->backward(m, h->x, n, H, h->tmp_b);
}

/* Per-image nll of n images into out (NULL: not wanted), the total returned; with
 * backward_, the gradient. NAN (every out NAN) when the workspace cannot grow. */
static double score(ps_image_model *m, const uint8_t *x, int n, float scale, int backward_,
                    double *out)
{
    pixelcnn_base *b = base_of(m);
    int H = m->cfg.height, D = H * m->cfg.width, np = ps_pixel_param_count(&b->lik);
    head_bufs h;
    if (reserve(m, n, H, &h)) {
        if (out)
            for (int i = 0; i < n; i++) out[i] = NAN;
        return NAN;
    }
    forward(m, x, n, H, &h);
    if (backward_) memset(h.d_params, 0, (size_t)n * D * np * sizeof(float));
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        double sum = 0.0;
        for (size_t p = (size_t)i * D; p < (size_t)(i + 1) * D; p++)
            sum += ps_pixel_nll_backward(&b->lik, h.params + p * np, x[p], scale,
                                         backward_ ? h.d_params + p * np : NULL);
        if (out) out[i] = sum;
        total += sum;
    }
    if (backward_) backward(m, n, H, &h);
    return total;
}

double pixelcnn_loss(ps_image_model *m, const uint8_t *x, int n, float scale, int backward_,
                     ps_rng *rng)
{
    (void)rng; /* nothing random in the loss */
    return score(m, x, n, scale, backward_, NULL);
}

void pixelcnn_nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng)
{
    (void)rng;
    score(m, x, n, 0.0f, 0, out);
}

void pixelcnn_conditionals(ps_image_model *m, const uint8_t *x, float *out)
{
    pixelcnn_base *b = base_of(m);
    int D = m->cfg.height * m->cfg.width, np = ps_pixel_param_count(&b->lik);
    head_bufs h;
    if (reserve(m, 1, m->cfg.height, &h)) {
        for (size_t i = 0; i < (size_t)D * m->cfg.levels; i++) out[i] = NAN;
        return;
    }
    forward(m, x, 1, m->cfg.height, &h);
    for (int i = 0; i < D; i++)
        ps_pixel_log_probs(&b->lik, h.params + (size_t)i * np, out + (size_t)i * m->cfg.levels);
}

/* Raster order, one forward per pixel for all n images at once. Row y's outputs depend on
 * rows y - reach_up .. y only, so each forward runs over that window of rows (zero above
 * it, as above the image): at 28 x 28 with a reach of 9 rows a third of the full image. */
void pixelcnn_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    pixelcnn_base *b = base_of(m);
    int H = m->cfg.height, W = m->cfg.width, np = ps_pixel_param_count(&b->lik);
    int rows = b->reach_up + 1 < H ? b->reach_up + 1 : H;
    uint8_t *win = calloc((size_t)n * rows * W, 1);
    head_bufs h;
    memset(out, 0, (size_t)n * H * W);
    if (!win || reserve(m, n, rows, &h)) {
        free(win);
        return;
    }
    for (int y = 0; y < H; y++) {
        int top = y + 1 - rows > 0 ? y + 1 - rows : 0, Hw = y + 1 - top;
        for (int x = 0; x < W; x++) {
            for (int i = 0; i < n; i++)
                memcpy(win + (size_t)i * Hw * W, out + ((size_t)i * H + top) * W, (size_t)Hw * W);
            forward(m, win, n, Hw, &h);
            for (int i = 0; i < n; i++) {
                const float *p = h.params + (((size_t)i * Hw + Hw - 1) * W + x) * np;
                out[((size_t)i * H + y) * W + x] = (uint8_t)ps_pixel_sample(&b->lik, p, rng);
            }
        }
    }
    free(win);
}
