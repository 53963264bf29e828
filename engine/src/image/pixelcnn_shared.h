/* What the plain and the gated PixelCNN share: a trunk (each variant's own) maps the
 * scaled image to `hidden` features per pixel that depend only on the pixels before it in
 * raster order; a shared output head (ReLU, 1x1, ReLU, 1x1) turns them into the pixel
 * likelihood's parameters (Bernoulli for 2 levels, the discretized logistic mixture for
 * 256). Loss, evaluation, conditionals and sampling are written once, here.
 *
 * The model's impl starts with a pixelcnn_base. */
#ifndef PRIORSEP_PIXELCNN_SHARED_H
#define PRIORSEP_PIXELCNN_SHARED_H
#include "image_model_internal.h"
#include "priorsep/pixel_likelihood.h"

typedef struct pixelcnn_trunk {
    /* Features [n][H][W][hidden] of the scaled images x [n][H][W], from the trunk's own
     * workspace (n, H at most what pixelcnn_reserve was last given). W is the model's. */
    const float *(*forward)(ps_image_model *m, const float *x, int n, int H);
    /* ADDS the gradient of the trunk's parameters into m->grads, from d_feat of the last
     * forward (may be overwritten). */
    void (*backward)(ps_image_model *m, const float *x, int n, int H, float *d_feat);
    /* Floats of workspace the trunk needs for n images of H rows. */
    size_t (*workspace)(const ps_image_model *m, int n, int H);
} pixelcnn_trunk;

typedef struct pixelcnn_base {
    const pixelcnn_trunk *trunk;
    ps_pixel_likelihood lik;
    int reach_up;      /* a pixel's output depends on at most this many rows above it */
    size_t head_at;    /* offset of the head's parameters in the block */
    float *w1, *b1, *w2, *b2, *gw1, *gb1, *gw2, *gb2;
    float *trunk_work; /* the trunk's workspace (trunk->workspace floats) */
    float *work;       /* one allocation: the head's, then the trunk's */
    size_t work_floats;
} pixelcnn_base;

/* Fills defaults (hidden 32, layers 5, components 5) and the likelihood, checks the
 * configuration, and sets m->n_params = trunk_params + the head's. Returns 0 or -1. */
int pixelcnn_configure(ps_image_model *m, pixelcnn_base *b, const pixelcnn_trunk *trunk,
                       size_t (*trunk_params)(const ps_image_config *c), ps_error *err);
/* Points the head's tensors into m->params / m->grads. */
void pixelcnn_bind_head(ps_image_model *m);
/* Seeded normal weights with variance gain / fan_in; biases zero. */
void pixelcnn_fill(float *w, size_t count, int fan_in, float gain, ps_rng *rng);
void pixelcnn_init_head(ps_image_model *m, ps_rng *rng);
void pixelcnn_free(pixelcnn_base *b);

/* The ops every variant uses as they are. */
double pixelcnn_loss(ps_image_model *m, const uint8_t *x, int n, float scale, int backward,
                     ps_rng *rng);
void pixelcnn_nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng);
void pixelcnn_conditionals(ps_image_model *m, const uint8_t *x, float *out);
void pixelcnn_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng);

/* A variant's ops table: its own kind, create, bind, destroy and init, the rest shared. */
#define PIXELCNN_OPS(kind_, create_, bind_, destroy_, init_)                                  \
    {                                                                                       \
        .kind = kind_, .exact = 1, .autoregressive = 1, .create = create_, .bind = bind_,   \
        .destroy = destroy_, .init = init_, .loss = pixelcnn_loss, .nll = pixelcnn_nll,    \
        .order = ps_image_raster_order, .conditionals = pixelcnn_conditionals,             \
        .sample = pixelcnn_sample,                                                          \
    }

#endif
