/* Training and evaluating image models: AdamW over the model's parameter block, the
 * independent-pixel baseline every model is compared with. */
#ifndef PRIORSEP_IMAGE_TRAIN_H
#define PRIORSEP_IMAGE_TRAIN_H
#include <stdint.h>

#include "priorsep/error.h"
#include "priorsep/image_data.h"
#include "priorsep/image_model.h"

typedef struct ps_image_train_opts {
    int steps, batch;  /* optimizer steps; images per step, drawn at random (seeded) */
    float lr;          /* peak learning rate: warmup, then cosine to 10 % */
    int warmup;
    float clip;        /* gradient-norm clip; 0 = off */
    uint64_t seed;
    /* Called every `report_every` steps (and at the last) with the mean training loss
     * per image over those steps; may be NULL. */
    void (*report)(void *ctx, int step, int steps, double loss);
    void *ctx;
    int report_every;
} ps_image_train_opts;

/* Defaults: 1000 steps, batch 32, lr 1e-3, warmup 50, clip 1, seed 1, report every 100. */
ps_image_train_opts ps_image_train_defaults(void);

/* Trains m from its current parameters on `train` (its size and levels must match the
 * model's). Returns 0, or -1 with err filled (a mismatch, or a loss that is not finite). */
int ps_image_train(ps_image_model *m, const ps_image_set *train,
                   const ps_image_train_opts *opts, ps_error *err);

/* Mean of ps_image_model_nll over the first `count` images of `test` (all if count <= 0
 * or larger), nats per image. */
double ps_image_eval(ps_image_model *m, const ps_image_set *test, int count, uint64_t seed);

/* The independent-pixel baseline: a categorical distribution per pixel position fitted
 * to `train` (counts plus one half per level, the Krichevsky-Trofimov estimate, so no
 * test pixel gets probability 0), scored as mean nats per image on `test`. */
double ps_image_independent_nll(const ps_image_set *train, const ps_image_set *test);

#endif
