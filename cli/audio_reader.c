#include "audio_reader.h"

#include <math.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdlib.h>

/* Frames of the file, channels averaged. */
static int read_downmixed(SNDFILE *f, const SF_INFO *info, const char *path, float *out,
                          ps_error *err)
{
    enum { CHUNK = 4096 };
    float *buf = malloc(sizeof(float) * CHUNK * (size_t)info->channels);
    if (!buf) return ps_error_set(err, "%s: out of memory", path);
    sf_count_t done = 0;
    while (done < info->frames) {
        sf_count_t want = info->frames - done < CHUNK ? info->frames - done : CHUNK;
        sf_count_t got = sf_readf_float(f, buf, want);
        if (got <= 0) {
            free(buf);
            return ps_error_set(err, "%s: read failed after %lld frames: %s", path,
                                (long long)done, sf_strerror(f));
        }
        for (sf_count_t i = 0; i < got; i++) {
            float sum = 0.0f;
            for (int c = 0; c < info->channels; c++) sum += buf[i * info->channels + c];
            float v = sum / (float)info->channels;
            if (!isfinite(v)) {
                free(buf);
                return ps_error_set(err, "%s: sample %lld is not a finite number", path,
                                    (long long)(done + i));
            }
            out[done + i] = v;
        }
        done += got;
    }
    free(buf);
    return 0;
}

int audio_read_mono(const char *path, int rate, float **samples, long *n, ps_error *err)
{
    *samples = NULL;
    *n = 0;
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f) return ps_error_set(err, "%s: not a readable audio file: %s", path, sf_strerror(NULL));
    int rc = 0;
    float *raw = NULL, *out = NULL;
    double out_frames = (double)info.frames * rate / info.samplerate;
    if (info.frames < 1) {
        rc = ps_error_set(err, "%s: holds no audio", path);
    } else if (info.channels < 1 || info.samplerate < 1 ||
               out_frames > (double)AUDIO_READER_MAX_SECONDS * rate) {
        rc = ps_error_set(err, "%s: longer than %d s (or a broken header): not read", path,
                          AUDIO_READER_MAX_SECONDS);
    } else if (!(raw = malloc(sizeof(float) * (size_t)info.frames))) {
        rc = ps_error_set(err, "%s: out of memory", path);
    } else if (!(rc = read_downmixed(f, &info, path, raw, err))) {
        if (info.samplerate == rate) {
            *samples = raw, *n = (long)info.frames;
            raw = NULL;
        } else {
            size_t olen = (size_t)ceil(out_frames), odone = 0;
            out = malloc(sizeof(float) * (olen ? olen : 1));
            soxr_error_t e = out ? soxr_oneshot(info.samplerate, rate, 1, raw, (size_t)info.frames,
                                                NULL, out, olen, &odone, NULL, NULL, NULL)
                                 : "out of memory";
            if (e) {
                rc = ps_error_set(err, "%s: resampling %d Hz to %d Hz failed: %s", path,
                                  info.samplerate, rate, e);
            } else {
                *samples = out, *n = (long)odone;
                out = NULL;
            }
        }
    }
    free(raw);
    free(out);
    sf_close(f);
    return rc;
}
