/* Optimizer: AdamW with global gradient-norm clipping and a warmup + cosine schedule.
 * State is two moment vectors the size of the parameter block and a step counter, so a
 * checkpoint can store and restore it exactly. */
#ifndef PRIORSEP_OPTIM_H
#define PRIORSEP_OPTIM_H
#include <stddef.h>

typedef struct ps_adamw {
    float lr, beta1, beta2, eps, weight_decay;
} ps_adamw;

/* Defaults: lr 1e-3, betas 0.9 / 0.999, eps 1e-8, no weight decay. */
ps_adamw ps_adamw_default(void);

/* One step (step counts from 1): m, v updated in place, params -= lr * (mhat / (sqrt(vhat)
 * + eps) + weight_decay * params) (decoupled decay, applied to every parameter). */
void ps_adamw_step(const ps_adamw *opt, long step, float *params, const float *grads, float *m,
                   float *v, size_t n);

/* Scales grads so that their L2 norm is at most max_norm (no-op if max_norm <= 0 or
 * the norm is smaller). Returns the norm before clipping (in double precision). */
double ps_clip_grad_norm(float *grads, size_t n, double max_norm);

/* Learning rate at `step` of `total`: linear warmup from 0 over `warmup` steps, then
 * cosine decay from base to final_frac * base at the last step. */
float ps_lr_schedule(long step, long total, long warmup, float base, float final_frac);

#endif
