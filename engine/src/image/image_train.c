/* Training loop, evaluation and the independent-pixel baseline of the image models. */
#include "priorsep/image_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/optim.h"

ps_image_train_opts ps_image_train_defaults(void)
{
    return (ps_image_train_opts){.steps = 1000, .batch = 32, .lr = 1e-3f, .warmup = 50,
                                 .clip = 1.0f, .seed = 1, .report_every = 100};
}

static int set_matches(const ps_image_model *m, const ps_image_set *s, ps_error *err)
{
    const ps_image_config *c = ps_image_model_config(m);
    if (s->height != c->height || s->width != c->width || s->levels != c->levels)
        return ps_error_set(err, "%s: data are %dx%d with %d levels, the model %dx%d with %d",
                            ps_image_model_kind(m), s->height, s->width, s->levels, c->height,
                            c->width, c->levels);
    if (s->count < 1) return ps_error_set(err, "%s: no training images", ps_image_model_kind(m));
    return 0;
}

int ps_image_train(ps_image_model *m, const ps_image_set *train,
                   const ps_image_train_opts *o, ps_error *err)
{
    if (set_matches(m, train, err)) return -1;
    size_t n = ps_image_model_param_count(m), pixels = (size_t)train->height * train->width;
    float *mom = calloc(2 * n + 1, sizeof(float));
    uint8_t *batch = malloc((size_t)o->batch * pixels);
    if (!mom || !batch) {
        free(mom);
        free(batch);
        return ps_error_set(err, "%s: out of memory for training", ps_image_model_kind(m));
    }
    ps_adamw opt = ps_adamw_default();
    ps_rng rng;
    ps_rng_seed(&rng, o->seed);
    float *params = ps_image_model_params(m), *grads = ps_image_model_grads(m);
    double window = 0.0;
    int in_window = 0, status = 0;
    for (int step = 1; step <= o->steps; step++) {
        for (int b = 0; b < o->batch; b++) {
            int pick = (int)(ps_rng_u64(&rng) % (uint64_t)train->count);
            memcpy(batch + b * pixels, train->pixels + pick * pixels, pixels);
        }
        memset(grads, 0, n * sizeof(float));
        double loss = ps_image_model_loss(m, batch, o->batch, 1.0f / o->batch, 1, &rng);
        if (!isfinite(loss)) {
            status = ps_error_set(err, "%s: training loss is %g at step %d",
                                  ps_image_model_kind(m), loss, step);
            break;
        }
        ps_clip_grad_norm(grads, n, o->clip);
        opt.lr = ps_lr_schedule(step, o->steps, o->warmup, o->lr, 0.1f);
        ps_adamw_step(&opt, step, params, grads, mom, mom + n, n);
        ps_image_model_after_step(m);
        window += loss / o->batch;
        in_window++;
        if (o->report && (step % (o->report_every > 0 ? o->report_every : 100) == 0 ||
                          step == o->steps)) {
            o->report(o->ctx, step, o->steps, window / in_window);
            window = 0.0;
            in_window = 0;
        }
    }
    free(mom);
    free(batch);
    return status;
}

double ps_image_eval(ps_image_model *m, const ps_image_set *test, int count, uint64_t seed)
{
    if (count <= 0 || count > test->count) count = test->count;
    size_t pixels = (size_t)test->height * test->width;
    enum { CHUNK = 64 };
    double out[CHUNK], total = 0.0;
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    for (int i = 0; i < count; i += CHUNK) {
        int k = count - i < CHUNK ? count - i : CHUNK;
        ps_image_model_nll(m, test->pixels + i * pixels, k, out, &rng);
        for (int j = 0; j < k; j++) total += out[j];
    }
    return total / count;
}

double ps_image_independent_nll(const ps_image_set *train, const ps_image_set *test)
{
    size_t pixels = (size_t)train->height * train->width, levels = (size_t)train->levels;
    double *counts = calloc(pixels * levels, sizeof(double));
    if (!counts) return NAN;
    for (int i = 0; i < train->count; i++)
        for (size_t p = 0; p < pixels; p++) counts[p * levels + train->pixels[i * pixels + p]]++;
    double total = 0.0, denom = train->count + 0.5 * levels;
    for (int i = 0; i < test->count; i++)
        for (size_t p = 0; p < pixels; p++)
            total -= log((counts[p * levels + test->pixels[i * pixels + p]] + 0.5) / denom);
    free(counts);
    return total / test->count;
}
