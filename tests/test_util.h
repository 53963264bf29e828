/* Helpers shared by the engine tests. */
#ifndef PRIORSEP_TEST_UTIL_H
#define PRIORSEP_TEST_UTIL_H
#include <math.h>
#include <stddef.h>

#include "priorsep/rng.h"

static inline void fill_uniform(float *v, size_t n, float lo, float hi, ps_rng *rng)
{
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * ps_rng_uniform(rng);
}

/* max |a - b| / max |b|: the error relative to the scale of the reference. */
static inline double rel_error(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return den > 0.0 ? num / den : num;
}

#endif
