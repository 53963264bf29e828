/* Image density models (design section 9): PixelCNN, gated PixelCNN, PixelRNN (Row LSTM,
 * Diagonal BiLSTM), MADE, RIDE, VRAE, VQ-VAE and Ladder VAE, built from the engine's
 * layers. One opaque model type, made by kind name, with parameters and gradients carved
 * from one block (so one optimizer and one checker serve every model).
 *
 * Images are single-channel, row-major uint8 pixels with values below `levels`: 2 for
 * binarized images, 256 for 8-bit ones. Losses and likelihoods are in nats per image. */
#ifndef PRIORSEP_IMAGE_MODEL_H
#define PRIORSEP_IMAGE_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "priorsep/error.h"
#include "priorsep/rng.h"

typedef struct ps_image_model ps_image_model;

/* Model sizes. 0 means the model's default; each model's file says what the numbers
 * mean for it (for example `hidden` is a PixelCNN's channels, an LSTM's state size). */
typedef struct ps_image_config {
    int height, width;
    int levels;     /* 2 or 256 */
    int hidden;     /* width of the hidden layers */
    int layers;     /* depth */
    int latent;     /* latent units (VAEs) */
    int components; /* mixture components, MCGSM experts, or VQ codebook size */
    int ensemble;   /* MADE: masks scored at evaluation; RIDE: flips (1, 2 or 4);
                     * VAEs: importance samples of the bound ps_image_model_nll gives */
} ps_image_config;

/* The kinds, for usage messages: "pixelcnn gated-pixelcnn row-lstm ..." */
const char *ps_image_model_kinds(void);

/* NULL with err filled for an unknown kind or an unsupported configuration. */
ps_image_model *ps_image_model_create(const char *kind, const ps_image_config *cfg,
                                      ps_error *err);
void ps_image_model_destroy(ps_image_model *m);

const char *ps_image_model_kind(const ps_image_model *m);
const ps_image_config *ps_image_model_config(const ps_image_model *m);

/* Parameters and gradients: two arrays of ps_image_model_param_count floats. */
size_t ps_image_model_param_count(const ps_image_model *m);
float *ps_image_model_params(ps_image_model *m);
float *ps_image_model_grads(ps_image_model *m);

/* Seeded initialization of every parameter (and of state such as MADE's masks or a
 * VQ codebook). */
void ps_image_model_init(ps_image_model *m, uint64_t seed);

/* 1 when ps_image_model_nll is an exact -log p(x); 0 when it is an upper bound (VAEs). */
int ps_image_model_exact(const ps_image_model *m);
/* 1 for models that factorize p(x) over pixels in an order (ps_image_model_order). */
int ps_image_model_autoregressive(const ps_image_model *m);

/* Training loss of n images (n * height * width pixels): the sum over the images of
 * -log p(x) or of the negative ELBO, in nats. With backward != 0, ADDS scale times its
 * gradient into the gradient array (the caller zeroes it). `rng` draws whatever the
 * loss samples (latent noise, MADE's mask for this batch); the same rng state gives the
 * same loss, so finite differences can check the gradient. */
double ps_image_model_loss(ps_image_model *m, const uint8_t *x, int n, float scale,
                           int backward, ps_rng *rng);

/* After an optimizer step: updates that are not gradient steps (VQ-VAE's EMA codebook,
 * fed by the last backward loss call). A no-op for most models. */
void ps_image_model_after_step(ps_image_model *m);

/* Evaluation, out[i] for each of the n images: -log p(x) in nats (exact models, with
 * their ensembles: MADE's masks and RIDE's flips) or the model's upper bound on it. */
void ps_image_model_nll(ps_image_model *m, const uint8_t *x, int n, double *out,
                        ps_rng *rng);

/* Autoregressive models only. order[r] is the pixel (row-major index) predicted r-th
 * (MADE: under the mask the last ps_image_model_init or ps_image_model_set_mask chose). */
void ps_image_model_order(const ps_image_model *m, int *order);

/* Autoregressive models only: out[i * levels + v] = log p(x_i = v | pixels before i in
 * the order) for every pixel i, computed from the image x (one image). */
void ps_image_model_conditionals(ps_image_model *m, const uint8_t *x, float *out);

/* MADE: selects mask k of the ensemble (order and connectivity) for
 * ps_image_model_order and ps_image_model_conditionals. A no-op for other models. */
void ps_image_model_set_mask(ps_image_model *m, int k);

/* n samples into out (n * height * width pixels). */
void ps_image_model_sample(ps_image_model *m, uint8_t *out, int n, ps_rng *rng);

#endif
