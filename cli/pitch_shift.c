/* Pitch shift by resampling (see pitch_shift.h). */
#include "pitch_shift.h"

#include <soxr.h>

long pitch_shift(const float *x, long n, double factor, float *y, long max_out, ps_error *err)
{
    if (!(factor >= 1.0 / 16 && factor <= 16.0)) {
        ps_error_set(err, "pitch shift by a factor of %g: want 1/16 .. 16", factor);
        return -1;
    }
    size_t done = 0;
    /* the input declared `factor` times faster than the output: n / factor samples out */
    soxr_error_t e = soxr_oneshot(factor, 1.0, 1, x, (size_t)n, NULL, y, (size_t)max_out, &done, NULL, NULL, NULL);
    if (e) {
        ps_error_set(err, "pitch shift by a factor of %g: %s", factor, e);
        return -1;
    }
    return (long)done;
}
