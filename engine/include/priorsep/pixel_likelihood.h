/* What an image model's output means for one pixel: a distribution over its `levels`
 * values, given a row of parameters.
 *
 *   Bernoulli      binary pixels, 1 parameter: the logit of p(x = 1).
 *   categorical    any number of levels, `levels` logits (heads.h's ps_categorical_*).
 *   discretized logistic mixture (PixelCNN++, Salimans et al. 2017), 8-bit pixels, 3K
 *                  parameters [logit_pi (K) | mu (K) | log_s (K)]: level v is the bin of
 *                  width 2/255 around x_v = 2v/255 - 1 on [-1, 1], the edge bins open to
 *                  -inf and +inf, so the 256 bin masses of each logistic sum to 1.
 *
 * Each nll_backward returns -log p(level) and, when d_params is not NULL, ADDS scale
 * times its gradient with respect to the parameters into d_params (callers zero it). */
#ifndef PRIORSEP_PIXEL_LIKELIHOOD_H
#define PRIORSEP_PIXEL_LIKELIHOOD_H
#include <stdint.h>

#include "priorsep/rng.h"

/* ---- Bernoulli from a logit l: log p(1) = -softplus(-l), log p(0) = -softplus(l) ---- */
float ps_bernoulli_nll_backward(float logit, int bit, float scale, float *d_logit);
/* The same over n pixels (bits[i] 0 or 1 under logits[i]): the sum of the n values, in
 * double, and with d_logits != NULL the n gradients ADDED as above. */
double ps_bernoulli_nll_sum(const float *logits, const uint8_t *bits, int n, float scale,
                            float *d_logits);
int ps_bernoulli_sample(float logit, ps_rng *rng);

/* ---- discretized logistic mixture over 256 levels ----
 * log-scales are clamped from below at PS_MOL_LOG_SCALE_MIN (heads.h; -7 as in
 * PixelCNN++), where their gradient is 0. */
#define PS_DLOGISTIC_LEVELS 256
#define PS_DLOGISTIC_MAX_COMPONENTS 16
float ps_dlogistic_nll_backward(const float *params, int K, int level, float scale,
                                float *d_params);
/* out[v] = log p(v) for all 256 levels. */
void ps_dlogistic_log_probs(const float *params, int K, float *out);
int ps_dlogistic_sample(const float *params, int K, ps_rng *rng);

/* ---- one interface over the three, for models that pick by their configuration ---- */
typedef enum { PS_PIXEL_BERNOULLI, PS_PIXEL_CATEGORICAL, PS_PIXEL_DLOGISTIC } ps_pixel_kind;

typedef struct ps_pixel_likelihood {
    ps_pixel_kind kind;
    int levels;     /* 2 for Bernoulli, 256 for the logistic mixture, any for categorical */
    int components; /* K of the logistic mixture */
} ps_pixel_likelihood;

int ps_pixel_param_count(const ps_pixel_likelihood *l); /* 1, levels or 3K */
float ps_pixel_nll_backward(const ps_pixel_likelihood *l, const float *params, int level,
                            float scale, float *d_params);
/* out[v] = log p(v) for v < levels. */
void ps_pixel_log_probs(const ps_pixel_likelihood *l, const float *params, float *out);
int ps_pixel_sample(const ps_pixel_likelihood *l, const float *params, ps_rng *rng);
/* The network's view of a level: levels spread evenly over [-1, 1]. */
float ps_pixel_input(const ps_pixel_likelihood *l, int level);

#endif
