/* The checks every image model passes (design section 9), shared by the model tests.
 * Each returns a measured figure; the test asserts on it, so a failure prints what was
 * measured. */
#ifndef PRIORSEP_IMAGE_CHECKS_H
#define PRIORSEP_IMAGE_CHECKS_H
#include <stdint.h>

#include "priorsep/error.h"
#include "priorsep/image_data.h"
#include "priorsep/image_model.h"
#include "priorsep/image_train.h"

/* Autoregressive property, by perturbation over all pairs: for a random image x and
 * every pixel j, changes x_j to every other level and recomputes the conditionals. The
 * conditionals of every pixel at or before j in the model's order must be bit-identical.
 * Returns the number of (i, j) pairs that changed (0 for a correct model); also checks
 * that some later pixel's conditionals do change for some j (*later_changed != 0), so a
 * model that ignores its input cannot pass by accident. */
long image_check_autoregressive(ps_image_model *m, uint64_t seed, long *later_changed);

/* Sum over all levels^(height*width) images of exp(-nll(x)) (so 1 for a normalized
 * model). Only for tiny binary images (at most 2^20 of them). */
double image_check_normalization(ps_image_model *m);

/* Finite differences of the whole model's loss on n images: for `probes` parameters
 * picked at random (seeded), the central difference with step h (in double precision of
 * the loss) against the analytic gradient. Returns the largest relative error
 * |g - fd| / max(|g| + |fd|, floor) over the probes; the loss is re-evaluated with the
 * same rng seed every time, so stochastic losses are differentiated at fixed noise. */
double image_check_gradients(ps_image_model *m, const uint8_t *x, int n, int probes,
                             double h, double floor, uint64_t seed);

/* Moves every parameter by a uniform draw in [-width/2, width/2) (seeded), off the
 * initialization: its zero biases put ReLU pre-activations exactly on the kink, where a
 * central difference sees half a slope. Before image_check_gradients. */
void image_jitter_params(ps_image_model *m, float width, uint64_t seed);

/* Sampling against the likelihood on a tiny binary model (D = height * width pixels, at
 * most 20): n_samples images drawn with the rng seeded by `seed` (in calls of at most 1000,
 * so models that size their scratch by the call stay small) and counted per image, image
 * k having pixel i = bit i of k. p[k] is each image's probability; NULL takes exp(-nll)
 * from ps_image_model_nll (with the same rng, before sampling). */
typedef struct image_sample_fit {
    double chi_square;   /* sum over the 2^D images of (count - n p)^2 / (n p): 2^D - 1
                          * degrees of freedom when every image expects >= 5 */
    double worst_z;      /* max |count - n p| / sqrt(n p (1 - p)), binomial deviations */
    double min_expected; /* min n p over the images */
    double p_min, p_max; /* the smallest and the largest p */
    long invalid;        /* sampled pixels that are not 0 or 1 */
} image_sample_fit;
image_sample_fit image_check_sample_frequencies(ps_image_model *m, const double *p,
                                                int n_samples, uint64_t seed);

/* The short training run of the model tests: m (7x7 binary) trained with o on the first
 * 2000 Fashion-MNIST training images at 7x7 (image_small_fashion, factor 4) and scored
 * (ps_image_eval, seed 1) on the first 500 test images before and after; the baseline is
 * ps_image_independent_nll fitted to the same training images. Then 16 samples (seed 2)
 * are drawn and their pixels checked. trained is the ps_image_train result (err filled
 * when -1; the figures are then not set). */
typedef struct image_training {
    int trained;
    ps_error err;
    double before, after, baseline; /* nats per image */
    long invalid;                   /* sampled pixels that are not 0 or 1 */
} image_training;
image_training image_check_training(ps_image_model *m, const ps_image_train_opts *o);

/* Why a test program that trains on Fashion-MNIST skips (its suite_skip_reason): NULL
 * when the package is installed. */
const char *image_fashion_missing(void);

/* A small seeded Fashion-MNIST set for training tests: the first `count` images of
 * split ("train" / "test"), downsampled by `factor` and binarized (seed 1). Returns 0 or
 * -1 (the package is missing: the caller skips). */
int image_small_fashion(const char *split, int count, int factor, ps_image_set *out);

#endif
