/* The separator's estimates: reading its Gaussian rows, mixture consistency, and the
 * whole-signal separation that the streaming engine is checked against. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/heads.h"
#include "priorsep/separator.h"

void ps_mixture_project(int n_sources, const float *w, int n, const float *m, float *const *s,
                        const float *const *var)
{
    for (int i = 0; i < n; i++) {
        float r = m[i], norm = 0.0f;
        for (int k = 0; k < n_sources; k++) {
            r -= w[k] * s[k][i];
            norm += w[k] * w[k] * var[k][i];
        }
        /* norm > 0: every variance is at least exp(2 PS_GAUSS_LOG_SCALE_MIN) */
        float gain = r / norm;
        for (int k = 0; k < n_sources; k++) s[k][i] += w[k] * var[k][i] * gain;
    }
}

void ps_separator_split_rows(int n_sources, const float *rows, int n, float *const *mean,
                             float *const *var)
{
    for (int t = 0; t < n; t++) {
        const float *row = rows + (size_t)t * 2 * n_sources;
        for (int k = 0; k < n_sources; k++) {
            if (mean) mean[k][t] = row[k];
            if (var) var[k][t] = expf(2.0f * ps_gaussian_clamp_log_scale(row[n_sources + k]));
        }
    }
}

int ps_separate_offline(const ps_model_set *set, const float *m, long T, float *const *out,
                        ps_error *err)
{
    int N = set->info.n_sources, L = set->info.lookahead;
    if (T < 1 || T > (1L << 30))
        return ps_error_set(err, "separate: %ld samples is outside 1..2^30", T);
    long rows_n = T + L;
    float *x = calloc((size_t)rows_n, sizeof(float));
    float *rows = malloc(sizeof(float) * (size_t)rows_n * 2 * N);
    float *var_block = malloc(sizeof(float) * (size_t)T * N);
    int rc = 0;
    if (!x || !rows || !var_block) {
        rc = ps_error_set(err, "separate: out of memory for %ld samples", T);
        goto done;
    }
    memcpy(x, m, sizeof(float) * (size_t)T); /* then L zeros: the lookahead's future */
    if ((rc = ps_wavenet_forward(set->separator, x, 1, (int)rows_n, NULL, rows, err))) goto done;
    float *var[PS_MAX_SOURCES];
    for (int k = 0; k < N; k++) var[k] = var_block + (size_t)k * T;
    ps_separator_split_rows(N, rows + (size_t)L * 2 * N, (int)T, out, var);
    ps_mixture_project(N, set->info.weights, (int)T, m, out, (const float *const *)var);
done:
    free(x);
    free(rows);
    free(var_block);
    return rc;
}
