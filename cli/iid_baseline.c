#include "iid_baseline.h"

#include <math.h>
#include <stdlib.h>

#include "priorsep/mulaw.h"

enum { MAX_BINS = 4096 };

typedef struct binning {
    int bins, categorical;
    float lo, width;
} binning;

static int bin_of(const binning *b, float x)
{
    if (b->categorical) return ps_mulaw_encode(x);
    int i = (int)floorf((x - b->lo) / b->width);
    return i < 0 ? 0 : i >= b->bins ? b->bins - 1 : i;
}

/* NLL (nats, summed) of crops with parity `score` under the histogram of the others;
 * one pseudo-count per bin keeps unseen bins finite. */
static double held_out_nll(const binning *b, const float *const *crops, int n, int len, int score,
                           double *counts)
{
    for (int i = 0; i < b->bins; i++) counts[i] = 1.0;
    double total = b->bins;
    for (int c = 0; c < n; c++)
        if (c % 2 != score)
            for (int t = 0; t < len; t++) counts[bin_of(b, crops[c][t])] += 1.0, total += 1.0;
    double nll = 0.0, width = b->categorical ? 1.0 : b->width;
    for (int c = 0; c < n; c++)
        if (c % 2 == score)
            for (int t = 0; t < len; t++) nll -= log(counts[bin_of(b, crops[c][t])] / total / width);
    return nll;
}

double iid_baseline_bits(const float *const *crops, int n_crops, int len, int categorical)
{
    float lo = INFINITY, hi = -INFINITY;
    for (int c = 0; c < n_crops; c++)
        for (int t = 0; t < len; t++) lo = fminf(lo, crops[c][t]), hi = fmaxf(hi, crops[c][t]);
    double *counts = malloc(sizeof(double) * MAX_BINS), best = INFINITY;
    if (!counts || n_crops < 2) {
        free(counts);
        return NAN;
    }
    for (int bins = categorical ? PS_MULAW_BINS : 16; bins <= (categorical ? PS_MULAW_BINS : MAX_BINS); bins *= 2) {
        /* a margin of half a bin on both sides of the range */
        float width = (hi - lo) / (float)(bins - 1) + 1e-6f;
        binning b = {.bins = bins, .categorical = categorical, .lo = lo - width / 2, .width = width};
        double nll = held_out_nll(&b, crops, n_crops, len, 0, counts) +
                     held_out_nll(&b, crops, n_crops, len, 1, counts);
        if (nll < best) best = nll;
    }
    free(counts);
    return best / ((double)n_crops * len) / log(2.0);
}
