/* The image-model dispatcher: kind lookup, the parameter block, argument checks. */
#include "image_model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"

static const ps_image_ops *const kinds[] = {
    &ps_pixelcnn_ops, &ps_gated_pixelcnn_ops, &ps_row_lstm_ops, &ps_diagonal_bilstm_ops,
    &ps_made_ops,     &ps_ride_ops,           &ps_vrae_ops,     &ps_vqvae_ops,
    &ps_ladder_vae_ops,
};

const char *ps_image_model_kinds(void)
{
    static char names[256];
    if (!names[0])
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            if (names[0]) strcat(names, " ");
            strcat(names, kinds[i]->kind);
        }
    return names;
}

ps_image_model *ps_image_model_create(const char *kind, const ps_image_config *cfg,
                                      ps_error *err)
{
    const ps_image_ops *ops = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->kind, kind) == 0) ops = kinds[i];
    if (!ops) {
        ps_error_set(err, "%s: unknown image model (one of: %s)", kind, ps_image_model_kinds());
        return NULL;
    }
    if (cfg->levels != 2 && cfg->levels != 256) {
        ps_error_set(err, "%s: levels must be 2 or 256, not %d", kind, cfg->levels);
        return NULL;
    }
    if (cfg->height < 1 || cfg->width < 1 || cfg->height > 256 || cfg->width > 256) {
        ps_error_set(err, "%s: image size %dx%d outside 1..256", kind, cfg->height, cfg->width);
        return NULL;
    }
    ps_image_model *m = calloc(1, sizeof *m);
    if (!m) {
        ps_error_set(err, "%s: out of memory", kind);
        return NULL;
    }
    ps_gemm_init(); /* every model's products are offline ps_gemm calls */
    m->ops = ops;
    m->cfg = *cfg;
    if (ops->create(m, err) != 0) {
        free(m);
        return NULL;
    }
    m->params = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    m->grads = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    if (!m->params || !m->grads) {
        ps_error_set(err, "%s: out of memory for %zu parameters", kind, m->n_params);
        ps_image_model_destroy(m);
        return NULL;
    }
    ops->bind(m);
    return m;
}

void ps_image_model_destroy(ps_image_model *m)
{
    if (!m) return;
    m->ops->destroy(m);
    free(m->params);
    free(m->grads);
    free(m);
}

const char *ps_image_model_kind(const ps_image_model *m) { return m->ops->kind; }
const ps_image_config *ps_image_model_config(const ps_image_model *m) { return &m->cfg; }
size_t ps_image_model_param_count(const ps_image_model *m) { return m->n_params; }
float *ps_image_model_params(ps_image_model *m) { return m->params; }
float *ps_image_model_grads(ps_image_model *m) { return m->grads; }
int ps_image_model_exact(const ps_image_model *m) { return m->ops->exact; }
int ps_image_model_autoregressive(const ps_image_model *m) { return m->ops->autoregressive; }

void ps_image_model_init(ps_image_model *m, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    m->ops->init(m, &rng);
}

double ps_image_model_loss(ps_image_model *m, const uint8_t *x, int n, float scale,
                           int backward, ps_rng *rng)
{
    return m->ops->loss(m, x, n, scale, backward, rng);
}

void ps_image_model_after_step(ps_image_model *m)
{
    if (m->ops->after_step) m->ops->after_step(m);
}

void ps_image_model_nll(ps_image_model *m, const uint8_t *x, int n, double *out, ps_rng *rng)
{
    m->ops->nll(m, x, n, out, rng);
}

void ps_image_model_order(const ps_image_model *m, int *order)
{
    m->ops->order(m, order);
}

void ps_image_model_conditionals(ps_image_model *m, const uint8_t *x, float *out)
{
    m->ops->conditionals(m, x, out);
}

void ps_image_model_set_mask(ps_image_model *m, int k)
{
    if (m->ops->set_mask) m->ops->set_mask(m, k);
}

void ps_image_model_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng)
{
    m->ops->sample(m, out, n, rng);
}

void ps_image_raster_order(const ps_image_model *m, int *order)
{
    for (int i = 0; i < m->cfg.height * m->cfg.width; i++) order[i] = i;
}

double ps_image_neg_log_mean_exp(const double *log_p, int k)
{
    double top = log_p[0];
    for (int s = 1; s < k; s++) top = fmax(top, log_p[s]);
    double sum = 0.0;
    for (int s = 0; s < k; s++) sum += exp(log_p[s] - top);
    return -(top + log(sum / k));
}

void ps_scratch_alloc(const ps_scratch_entry *s, int n, int rows)
{
    for (int i = 0; i < n; i++) {
        *s[i].f = calloc((size_t)rows * s[i].per_row, sizeof(float));
        if (!*s[i].f) abort();
    }
}

void ps_scratch_free(const ps_scratch_entry *s, int n)
{
    for (int i = 0; i < n; i++) {
        free(*s[i].f);
        *s[i].f = NULL;
    }
}
