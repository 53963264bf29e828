/* Pitch-balanced picks from a pool of sampled waveforms (see pitch_balance.h). */
#include "pitch_balance.h"

#include <math.h>
#include <stdlib.h>

double crossing_rate_hz(const float *x, long n, double rate)
{
    if (n < 2) return 0.0;
    double mean = 0.0, ss = 0.0;
    for (long t = 0; t < n; t++) mean += x[t];
    mean /= (double)n;
    for (long t = 0; t < n; t++) ss += (x[t] - mean) * (x[t] - mean);
    double band = 0.75 * sqrt(ss / (double)n);
    if (band == 0.0) return 0.0;
    long rises = 0;
    int below = 0;
    for (long t = 0; t < n; t++) {
        double v = x[t] - mean;
        if (v < -band) {
            below = 1;
        } else if (v > band && below) {
            rises++;
            below = 0;
        }
    }
    return (double)rises * rate / (double)n;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int pick_pitch_balanced(const double *hz, long n, long n_pick, int bins, long *picked)
{
    double *logf = malloc(sizeof(double) * (size_t)n), *sorted = malloc(sizeof(double) * (size_t)n);
    int *bin = malloc(sizeof(int) * (size_t)n);
    long *next = calloc((size_t)bins, sizeof(long)); /* per bin: first candidate not yet looked at */
    char *taken = calloc((size_t)n, 1);
    int rc = -1;
    if (!logf || !sorted || !bin || !next || !taken) goto done;
    long pitched = 0;
    for (long i = 0; i < n; i++) {
        logf[i] = hz[i] > 0.0 ? log2(hz[i]) : -INFINITY;
        if (isfinite(logf[i])) sorted[pitched++] = logf[i];
    }
    qsort(sorted, (size_t)pitched, sizeof(double), compare_double);
    long edge = pitched > 0 ? (pitched - 1) / 100 : 0;
    double lo = pitched > 0 ? sorted[edge] : 0.0, hi = pitched > 0 ? sorted[pitched - 1 - edge] : 0.0;
    for (long i = 0; i < n; i++) { /* no pitch (silence) joins the lowest bin */
        double at = isfinite(logf[i]) && hi > lo ? floor((logf[i] - lo) / (hi - lo) * bins) : 0.0;
        bin[i] = at < 0.0 ? 0 : at >= bins ? bins - 1 : (int)at;
    }
    long count = 0;
    while (count < n_pick) {
        int progressed = 0;
        for (int b = 0; b < bins && count < n_pick; b++) {
            while (next[b] < n && (bin[next[b]] != b || taken[next[b]])) next[b]++;
            if (next[b] == n) continue;
            taken[next[b]] = 1;
            picked[count++] = next[b];
            progressed = 1;
        }
        if (!progressed) break; /* n_pick > n: every candidate is taken */
    }
    rc = 0;
done:
    free(logf), free(sorted), free(bin), free(next), free(taken);
    return rc;
}

int pitch_deciles(const double *hz, const long *at, long n, double q[3])
{
    double *v = malloc(sizeof(double) * (size_t)n);
    if (!v) return -1;
    for (long i = 0; i < n; i++) v[i] = hz[at ? at[i] : i];
    qsort(v, (size_t)n, sizeof(double), compare_double);
    q[0] = v[n / 10], q[1] = v[n / 2], q[2] = v[n - 1 - n / 10];
    free(v);
    return 0;
}
