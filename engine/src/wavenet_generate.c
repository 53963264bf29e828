/* Autoregressive sampling from a prior through its streaming cache. */
#include <stdlib.h>

#include "priorsep/heads.h"
#include "priorsep/mulaw.h"
#include "wavenet_internal.h"

int ps_wavenet_generate(ps_wavenet_stream *st, float *last, float *y, int n, ps_rng *rng,
                        ps_error *err)
{
    const ps_wavenet_config *c = ps_wavenet_config_of(ps_wavenet_stream_model(st));
    float *row = malloc(sizeof(float) * (size_t)ps_wavenet_out_dim(c));
    if (!row) return ps_error_set(err, "generate: out of memory");
    float x = *last;
    for (int i = 0; i < n; i++) {
        ps_wavenet_stream_process(st, &x, 1, row);
        x = c->head == PS_HEAD_MOL ? ps_mol_sample(row, c->mixtures, rng)
                                   : ps_mulaw_decode(ps_categorical_sample(row, PS_MULAW_BINS, rng));
        y[i] = x;
    }
    *last = x;
    free(row);
    return 0;
}
