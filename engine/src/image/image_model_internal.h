/* What every image model implements: one table of functions per kind. The dispatcher
 * (image_model.c) owns the parameter and gradient block; a model sizes it in create and
 * carves its tensors from it. */
#ifndef PRIORSEP_IMAGE_MODEL_INTERNAL_H
#define PRIORSEP_IMAGE_MODEL_INTERNAL_H
#include "priorsep/image_model.h"

typedef struct ps_image_ops ps_image_ops;

struct ps_image_model {
    const ps_image_ops *ops;
    ps_image_config cfg;  /* defaults filled in by the model's create */
    size_t n_params;
    float *params, *grads; /* allocated by the dispatcher after create */
    void *impl;            /* the model's own state and scratch */
};

struct ps_image_ops {
    const char *kind;
    int exact, autoregressive;
    /* Fills the defaults into m->cfg, checks it, sets m->n_params and m->impl. Returns 0,
     * or -1 with err filled. Must not touch m->params (not allocated yet). */
    int (*create)(ps_image_model *m, ps_error *err);
    /* Called once m->params and m->grads exist: point the model's tensors into them. */
    void (*bind)(ps_image_model *m);
    void (*destroy)(ps_image_model *m);
    void (*init)(ps_image_model *m, ps_rng *rng);
    double (*loss)(ps_image_model *m, const uint8_t *x, int n, float scale, int backward,
                   ps_rng *rng);
    void (*after_step)(ps_image_model *m);  /* may be NULL */
    void (*nll)(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng);
    void (*order)(const ps_image_model *m, int *order);             /* NULL unless AR */
    void (*conditionals)(ps_image_model *m, const uint8_t *x, float *out); /* NULL unless AR */
    void (*set_mask)(ps_image_model *m, int k);                    /* may be NULL */
    void (*sample)(ps_image_model *m, uint8_t *out, int n, ps_rng *rng);
};

/* One per model file. */
extern const ps_image_ops ps_pixelcnn_ops, ps_gated_pixelcnn_ops, ps_row_lstm_ops,
    ps_diagonal_bilstm_ops, ps_made_ops, ps_ride_ops, ps_vrae_ops, ps_vqvae_ops,
    ps_ladder_vae_ops;

/* Raster order 0, 1, ..., n-1: the order of every model except MADE. */
void ps_image_raster_order(const ps_image_model *m, int *order);

/* -log of the mean of exp(log_p[0..k-1]), evaluated stably: the -log p(x) of an equal
 * mixture of k models (MADE's masks, RIDE's flips) from their log p_k(x), and the
 * importance-weighted bound of the VAEs (Burda et al.) from log_w = log p(x, z_s) -
 * log q(z_s | x) for k samples of q: an upper bound on -log p(x) in expectation,
 * tightening as k grows; k = 1 is the negative ELBO estimate. */
double ps_image_neg_log_mean_exp(const double *log_p, int k);

/* A model's scratch arrays, listed for allocation and release together: where each
 * pointer lives and how many floats it holds per row (image or sequence). */
typedef struct ps_scratch_entry {
    float **f;
    size_t per_row;
} ps_scratch_entry;
/* Points each of the n arrays at `rows` rows of zeros; aborts when memory runs out (the
 * loss and scoring calls have no error path). */
void ps_scratch_alloc(const ps_scratch_entry *s, int n, int rows);
/* Frees the n arrays and sets their pointers to NULL. */
void ps_scratch_free(const ps_scratch_entry *s, int n);

#endif
