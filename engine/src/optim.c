#include "priorsep/optim.h"

#include <math.h>

ps_adamw ps_adamw_default(void)
{
    return (ps_adamw){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
}

void ps_adamw_step(const ps_adamw *o, long step, float *params, const float *grads, float *m,
                   float *v, size_t n)
{
    /* bias corrections folded into the step size, computed in double once per step */
    double c1 = 1.0 - pow(o->beta1, (double)step), c2 = 1.0 - pow(o->beta2, (double)step);
    float step_size = (float)(o->lr / c1), inv_c2 = (float)(1.0 / c2);
    for (size_t i = 0; i < n; i++) {
        m[i] = o->beta1 * m[i] + (1.0f - o->beta1) * grads[i];
        v[i] = o->beta2 * v[i] + (1.0f - o->beta2) * grads[i] * grads[i];
        float denom = sqrtf(v[i] * inv_c2) + o->eps;
        params[i] -= step_size * m[i] / denom + o->lr * o->weight_decay * params[i];
    }
}

double ps_clip_grad_norm(float *grads, size_t n, double max_norm)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)grads[i] * grads[i];
    double norm = sqrt(sum);
    if (max_norm > 0.0 && norm > max_norm) {
        float scale = (float)(max_norm / norm);
        for (size_t i = 0; i < n; i++) grads[i] *= scale;
    }
    return norm;
}

float ps_lr_schedule(long step, long total, long warmup, float base, float final_frac)
{
    if (step < warmup) return base * (float)(step + 1) / (float)warmup;
    if (total <= warmup) return base;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    if (progress > 1.0) progress = 1.0;
    double cosine = 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
    return base * (float)(final_frac + (1.0 - final_frac) * cosine);
}
