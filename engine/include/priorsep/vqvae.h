/* What the VQ-VAE ("vqvae" image model) shows beyond the image-model interface: its code
 * grids, the two factors of its likelihood bound, and the frozen-quantizer surrogate
 * whose derivative is the straight-through gradient (for the tests and for reports of
 * code usage). Every function takes a model made with kind "vqvae". */
#ifndef PRIORSEP_VQVAE_H
#define PRIORSEP_VQVAE_H
#include <stddef.h>
#include <stdint.h>

#include "priorsep/image_model.h"

/* Codes per image (the code grid's positions, raster order). */
int ps_vqvae_code_count(const ps_image_model *m);

/* The encoder's codes of n images: codes[i * count + t]. */
void ps_vqvae_encode(ps_image_model *m, const uint8_t *x, int n, int *codes);

/* -log p(x_i | z_i) for n images and given code grids (codes as ps_vqvae_encode
 * writes them). */
void ps_vqvae_decoder_nll(ps_image_model *m, const uint8_t *x, const int *codes, int n,
                          double *out);

/* The prior's conditionals of one code grid: out[t * K + k] = log p(z_t = k | z_<t),
 * K = the codebook size (config `components`). */
void ps_vqvae_code_conditionals(ps_image_model *m, const int *codes, float *out);

/* Parameters [0, count) of the block are the encoder's (then the decoder's and the
 * prior's): the ones whose gradient is the straight-through estimate. */
size_t ps_vqvae_encoder_param_count(const ps_image_model *m);

/* Freezes the quantizer at the n images x: until ps_vqvae_thaw, the loss of n images
 * (meant to be the same x) keeps their current codes k and feeds the decoder
 * z_e + (e_k - z_e at freezing) instead of e_k. At the frozen point the loss is the same;
 * around it, its exact derivative with respect to the encoder is the straight-through
 * gradient plus the commitment gradient, which the backward pass computes, so finite
 * differences can check the encoder's gradient. */
void ps_vqvae_freeze(ps_image_model *m, const uint8_t *x, int n);
void ps_vqvae_thaw(ps_image_model *m);

#endif
