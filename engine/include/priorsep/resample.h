/* The one libsoxr configuration every streaming path of priorsep resamples with (batch
 * separation, the plugin, the JACK client), so that they give the same samples: float, high quality
 * (20-bit, linear phase: the output is time-aligned with the input, soxr taking out its
 * own filter delay), one thread, and small transforms: 256-point DFTs keep the bursts in
 * which soxr hands out samples short, which is what sets a real-time host's latency
 * (about 64 ms instead of 140 ms at 48 kHz for a 14.7 kHz model), for the same filter. */
#ifndef PRIORSEP_RESAMPLE_H
#define PRIORSEP_RESAMPLE_H
#include <soxr.h>

#include "priorsep/error.h"

/* Interleaved float frames of `channels` channels from in_rate to out_rate. */
soxr_t ps_resampler_create(double in_rate, double out_rate, unsigned channels, ps_error *err);

#endif
