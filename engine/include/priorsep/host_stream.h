/* A model set run at a host's sample rate, block by block, as the LV2 plugin and the
 * JACK client run it: each block is converted to the model rate (libsoxr, streaming),
 * separated, and every source converted back to the host rate.
 *
 * The resamplers hand out samples in bursts, so each source goes through a FIFO primed
 * with D samples of silence, D the largest shortfall the resampler chain can have (found
 * at creation by running it). Every call then returns exactly as many samples as it was
 * given, and the latency is fixed: D plus the separator's lookahead at the host rate.
 * At equal rates there are no resamplers and D = 0.
 *
 * Creation loads the models and allocates everything, and so does a reset (not
 * real-time); processing and the refinement setting are real-time safe. */
#ifndef PRIORSEP_HOST_STREAM_H
#define PRIORSEP_HOST_STREAM_H
#include "priorsep/error.h"
#include "priorsep/separator.h"

typedef struct ps_host_stream ps_host_stream;

/* model_path: a model folder or separator file (ps_model_set_load). Blocks of any length
 * are accepted; max_block (1 .. 65536) is the longest processed in one piece. */
ps_host_stream *ps_host_stream_create(const char *model_path, double host_rate, int max_block,
                                      ps_error *err);
void ps_host_stream_destroy(ps_host_stream *hs);

const ps_model_info *ps_host_stream_info(const ps_host_stream *hs); /* sources, rate */
/* Output sample i is the estimate of input sample i - latency (rounded to the nearest
 * host sample when the lookahead is not a whole number of host samples). */
int ps_host_stream_latency(const ps_host_stream *hs);
/* Refinement steps per frame (clamped to 0 .. PS_MAX_REFINE). Real-time safe. */
void ps_host_stream_set_refine(ps_host_stream *hs, int K);
/* Back to silence, as just created (a host's activate): not real-time safe (the
 * resamplers are made anew). */
int ps_host_stream_reset(ps_host_stream *hs, ps_error *err);
/* Host samples that came out as silence because the resampler chain had fallen behind
 * (the latency absorbs them; nonzero would be a bug). */
long ps_host_stream_underruns(const ps_host_stream *hs);

/* n input samples (any n >= 0; `in` may be one of the outputs) to n samples of every
 * source in out[k]. Non-finite input samples are taken as 0; should the separator's
 * output ever be non-finite, that block is silence and the separator restarts.
 * Real-time safe: no allocation, lock, I/O or system call; FTZ/DAZ on for the call. */
void ps_host_stream_process(ps_host_stream *hs, const float *in, int n, float *const *out);

#endif
