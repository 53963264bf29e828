/* A streaming rate converter (libsoxr as priorsep/resample.h sets it up) for interleaved float
 * frames: what it pushes out goes to a sink in chunks of at most `cap` frames, so memory
 * stays bounded whatever the length of the stream. The output is time-aligned with the
 * input (soxr compensates its own filter delay) and, once flushed, about in * out_rate /
 * in_rate frames long. Equal rates pass the frames through untouched. */
#ifndef PRIORSEP_STREAM_RESAMPLER_H
#define PRIORSEP_STREAM_RESAMPLER_H
#include <soxr.h>
#include <stddef.h>

#include "priorsep/error.h"

/* Receives n frames (n <= cap); returns nonzero (with err set) to stop the stream. */
typedef int (*resampler_sink)(void *ctx, const float *frames, size_t n, ps_error *err);

typedef struct stream_resampler {
    soxr_t soxr; /* NULL: equal rates */
    int channels;
    size_t cap;
    float *buf; /* cap frames */
    resampler_sink sink;
    void *ctx;
} stream_resampler;

int stream_resampler_init(stream_resampler *r, int in_rate, int out_rate, int channels,
                          size_t cap, resampler_sink sink, void *ctx, ps_error *err);
/* n frames in; frames NULL: the end of the stream (flushes what soxr holds back). */
int stream_resampler_push(stream_resampler *r, const float *frames, size_t n, ps_error *err);
void stream_resampler_free(stream_resampler *r);

#endif
