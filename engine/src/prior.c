#include "priorsep/prior.h"

#include <math.h>
#include <string.h>

#include "priorsep/heads.h"
#include "priorsep/mulaw.h"

ps_noise_ladder ps_noise_ladder_default(void)
{
    return (ps_noise_ladder){.levels = 10, .sigma_max = 1.0f, .sigma_min = 0.01f};
}

float ps_noise_sigma(const ps_noise_ladder *l, int level)
{
    if (l->levels <= 1) return l->sigma_max;
    double ratio = (double)l->sigma_min / l->sigma_max;
    return (float)(l->sigma_max * pow(ratio, (double)level / (l->levels - 1)));
}

void ps_noise_cond(const ps_noise_ladder *l, float sigma, float cond[PS_PRIOR_COND])
{
    double lo = log(l->sigma_min), hi = log(l->sigma_max);
    double s = sigma < l->sigma_min ? lo : log(sigma);
    cond[0] = hi > lo ? (float)(2.0 * (s - lo) / (hi - lo) - 1.0) : 0.0f;
}

double ps_prior_nll(const ps_wavenet *net, ps_wavenet_acts *a, const float *x, int T,
                    const float *cond, ps_wavenet *grad, float scale, float *d_out)
{
    const ps_wavenet_config *c = ps_wavenet_config_of(net);
    int O = ps_wavenet_out_dim(c);
    const float *out = ps_wavenet_train_forward(net, a, x, c->cond > 0 ? cond : NULL, T);
    if (grad) memset(d_out, 0, sizeof(float) * (size_t)T * O);
    double nll = 0.0;
    for (int t = 0; t < T; t++) {
        const float *row = out + (size_t)t * O;
        float *d_row = grad ? d_out + (size_t)t * O : NULL;
        float target = x[t + 1];
        if (c->head == PS_HEAD_MOL)
            nll += d_row ? ps_mol_nll_backward(row, c->mixtures, target, scale, d_row, NULL)
                         : -ps_mol_logprob(row, c->mixtures, target);
        else
            nll += d_row ? ps_categorical_nll_backward(row, O, ps_mulaw_encode(target), scale, d_row)
                         : -ps_categorical_logprob(row, O, ps_mulaw_encode(target));
    }
    if (grad) ps_wavenet_train_backward(net, a, d_out, grad, NULL);
    return nll;
}
