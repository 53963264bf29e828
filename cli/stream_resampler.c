#include "stream_resampler.h"

#include <stdlib.h>
#include <string.h>

#include "priorsep/resample.h"

int stream_resampler_init(stream_resampler *r, int in_rate, int out_rate, int channels,
                          size_t cap, resampler_sink sink, void *ctx, ps_error *err)
{
    memset(r, 0, sizeof *r);
    r->channels = channels, r->cap = cap, r->sink = sink, r->ctx = ctx;
    if (in_rate == out_rate) return 0;
    if (!(r->buf = malloc(sizeof(float) * cap * (size_t)channels)))
        return ps_error_set(err, "resampler: out of memory");
    if (!(r->soxr = ps_resampler_create(in_rate, out_rate, (unsigned)channels, err))) {
        stream_resampler_free(r);
        return -1;
    }
    return 0;
}

static int pass_through(stream_resampler *r, const float *frames, size_t n, ps_error *err)
{
    for (size_t done = 0; done < n;) {
        size_t m = n - done < r->cap ? n - done : r->cap;
        if (r->sink(r->ctx, frames + done * (size_t)r->channels, m, err)) return -1;
        done += m;
    }
    return 0;
}

int stream_resampler_push(stream_resampler *r, const float *frames, size_t n, ps_error *err)
{
    if (!r->soxr) return frames ? pass_through(r, frames, n, err) : 0;
    size_t done = 0;
    for (;;) {
        size_t idone = 0, odone = 0;
        /* soxr takes only as much input as the output buffer has room for: call again
         * until the input is used up and the output no longer fills the buffer */
        soxr_error_t e =
            frames ? soxr_process(r->soxr, frames + done * (size_t)r->channels, n - done,
                                  &idone, r->buf, r->cap, &odone)
                   : soxr_process(r->soxr, NULL, 0, NULL, r->buf, r->cap, &odone);
        if (e) return ps_error_set(err, "resampler: %s", e);
        done += idone;
        if (odone && r->sink(r->ctx, r->buf, odone, err)) return -1;
        if (frames ? done == n && odone < r->cap : odone == 0) return 0;
        if (frames && !idone && !odone) return ps_error_set(err, "resampler: stalled");
    }
}

void stream_resampler_free(stream_resampler *r)
{
    if (r->soxr) soxr_delete(r->soxr);
    free(r->buf);
    memset(r, 0, sizeof *r);
}
