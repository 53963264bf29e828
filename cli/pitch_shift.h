/* Pitch shift by resampling, for `data priors --shift-octaves`: the balanced pool
 * still has few of the pitches its prior rarely draws (the shipped sine prior's: 6 % of
 * the kept samples above 500 Hz, 1 % below 60 Hz), and a sample read faster or slower is
 * the same waveform at another pitch. */
#ifndef PRIORSEP_PITCH_SHIFT_H
#define PRIORSEP_PITCH_SHIFT_H
#include "priorsep/error.h"

/* y = x read `factor` times as fast (factor 2: an octave up and half as long),
 * resampled with libsoxr (high quality, linear phase, so band-limited: what would
 * alias above the Nyquist rate is filtered out). Writes at most max_out samples and
 * returns how many (n / factor, or max_out), -1 on error. factor in [1/16, 16]. */
long pitch_shift(const float *x, long n, double factor, float *y, long max_out, ps_error *err);

#endif
