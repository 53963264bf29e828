#include "separate_file.h"

#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio_writer.h"
#include "stream_resampler.h"

enum { BLOCK = 4096 }; /* frames read at a time, and the most a resampler hands on */

typedef struct job job;

typedef struct source_out {
    job *job;
    stream_resampler up; /* model rate -> file rate */
    audio_writer writer;
    long written;
    float *frames; /* BLOCK frames of this source, interleaved over the channels */
} source_out;

struct job {
    int channels, n_sources;
    long frames;           /* the input's length: every output gets exactly as many */
    long skip;             /* model-rate output frames still to drop (the lookahead) */
    ps_separator **sep;    /* one per channel */
    stream_resampler down; /* file rate -> model rate */
    float *mono, *est[PS_MAX_SOURCES], *zeros;
    source_out out[PS_MAX_SOURCES];
};

int separate_output_subtype(int format)
{
    int major = format & SF_FORMAT_TYPEMASK, sub = format & SF_FORMAT_SUBMASK;
    int wav = major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX;
    int kept = sub == SF_FORMAT_PCM_16 || sub == SF_FORMAT_PCM_24 || sub == SF_FORMAT_PCM_32 ||
               sub == SF_FORMAT_FLOAT;
    return wav && kept ? sub : SF_FORMAT_FLOAT;
}

/* Sink of a source's up-resampler: the output, cut at the input's length. */
static int write_source(void *ctx, const float *frames, size_t n, ps_error *err)
{
    source_out *o = ctx;
    long room = o->job->frames - o->written;
    long m = (long)n < room ? (long)n : room;
    if (m > 0 && audio_writer_write(&o->writer, frames, m, err)) return -1;
    o->written += m > 0 ? m : 0;
    return 0;
}

/* Sink of the down-resampler: n model-rate frames through every channel's separator,
 * minus the first L outputs, which estimate the silence before the input. */
static int separate_chunk(void *ctx, const float *frames, size_t n, ps_error *err)
{
    job *j = ctx;
    int C = j->channels;
    for (int c = 0; c < C; c++) {
        for (size_t i = 0; i < n; i++) j->mono[i] = frames[i * (size_t)C + (size_t)c];
        ps_separator_process(j->sep[c], j->mono, (int)n, j->est);
        for (int k = 0; k < j->n_sources; k++)
            for (size_t i = 0; i < n; i++)
                j->out[k].frames[i * (size_t)C + (size_t)c] = j->est[k][i];
    }
    size_t drop = (size_t)j->skip < n ? (size_t)j->skip : n;
    j->skip -= (long)drop;
    for (int k = 0; k < j->n_sources; k++)
        if (drop < n && stream_resampler_push(&j->out[k].up, j->out[k].frames + drop * (size_t)C,
                                              n - drop, err))
            return -1;
    return 0;
}

static void job_free(job *j)
{
    for (int c = 0; j->sep && c < j->channels; c++) ps_separator_destroy(j->sep[c]);
    free(j->sep);
    stream_resampler_free(&j->down);
    for (int k = 0; k < j->n_sources; k++) {
        stream_resampler_free(&j->out[k].up);
        audio_writer_abort(&j->out[k].writer); /* nothing left to do once committed */
        free(j->out[k].frames);
        free(j->est[k]);
    }
    free(j->mono);
    free(j->zeros);
}

static int job_init(job *j, const ps_model_set *set, const separate_options *opt,
                    const char *in_path, const SF_INFO *info, char *const *out_paths,
                    ps_error *err)
{
    ps_error why;
    int C = opt->downmix ? 1 : info->channels, N = set->info.n_sources;
    int model_rate = set->info.sample_rate, rate = info->samplerate;
    j->channels = C, j->n_sources = N, j->frames = (long)info->frames;
    j->skip = set->info.lookahead;
    j->mono = malloc(sizeof(float) * BLOCK);
    j->zeros = calloc((size_t)BLOCK * (size_t)C, sizeof(float));
    j->sep = calloc((size_t)C, sizeof *j->sep);
    if (!j->mono || !j->zeros || !j->sep) return ps_error_set(err, "%s: out of memory", in_path);
    for (int c = 0; c < C; c++) {
        if (!(j->sep[c] = ps_separator_create(set, opt->frame, &why)))
            return ps_error_set(err, "%s: %s", in_path, why.msg);
        ps_separator_set_refine(j->sep[c], opt->refine);
    }
    if (stream_resampler_init(&j->down, rate, model_rate, C, BLOCK, separate_chunk, j, &why))
        return ps_error_set(err, "%s: %s", in_path, why.msg);
    for (int k = 0; k < N; k++) {
        source_out *o = &j->out[k];
        o->job = j;
        j->est[k] = malloc(sizeof(float) * BLOCK);
        o->frames = malloc(sizeof(float) * BLOCK * (size_t)C);
        if (!j->est[k] || !o->frames) return ps_error_set(err, "%s: out of memory", in_path);
        if (stream_resampler_init(&o->up, model_rate, rate, C, BLOCK, write_source, o, &why))
            return ps_error_set(err, "%s: %s", in_path, why.msg);
        if (audio_writer_open_subtype(&o->writer, out_paths[k], rate, C,
                                      separate_output_subtype(info->format), opt->overwrite, err))
            return -1;
    }
    return 0;
}

/* Blocks of the file, non-finite samples zeroed (and counted), downmixed if asked, to
 * the down-resampler. */
static int feed_input(job *j, SNDFILE *f, const SF_INFO *info, const char *path,
                      progress *bar, double done_before, long *nonfinite, ps_error *err)
{
    int fc = info->channels;
    float *raw = malloc(sizeof(float) * BLOCK * (size_t)fc);
    if (!raw) return ps_error_set(err, "%s: out of memory", path);
    int rc = 0;
    for (long done = 0; done < j->frames && !rc;) {
        sf_count_t want = j->frames - done < BLOCK ? j->frames - done : BLOCK;
        sf_count_t got = sf_readf_float(f, raw, want);
        if (got != want) {
            rc = ps_error_set(err, "%s: read failed after %ld frames: %s", path, done + (long)got,
                              sf_strerror(f));
            break;
        }
        for (sf_count_t i = 0; i < got * fc; i++)
            if (!isfinite(raw[i])) raw[i] = 0.0f, (*nonfinite)++;
        if (j->channels != fc)
            for (sf_count_t i = 0; i < got; i++) {
                float sum = 0.0f;
                for (int c = 0; c < fc; c++) sum += raw[i * fc + c];
                raw[i] = sum / (float)fc;
            }
        rc = stream_resampler_push(&j->down, raw, (size_t)got, err);
        done += (long)got;
        progress_update(bar, done_before + (double)done);
    }
    free(raw);
    return rc;
}

/* After the input: what the down-resampler holds back, L zeros to bring out the
 * separator's last estimates, what the up-resamplers hold back, and zeros up to the
 * input's length where resampling came out short. */
static int drain(job *j, int lookahead, ps_error *err)
{
    if (stream_resampler_push(&j->down, NULL, 0, err)) return -1;
    for (long left = lookahead; left > 0;) {
        long n = left < BLOCK ? left : BLOCK;
        if (separate_chunk(j, j->zeros, (size_t)n, err)) return -1;
        left -= n;
    }
    for (int k = 0; k < j->n_sources; k++) {
        source_out *o = &j->out[k];
        if (stream_resampler_push(&o->up, NULL, 0, err)) return -1;
        while (o->written < j->frames)
            if (write_source(o, j->zeros, BLOCK, err)) return -1;
    }
    return 0;
}

/* All outputs in place, or none: one that cannot be renamed takes back the ones before. */
static int commit_all(job *j, char *const *out_paths, ps_error *err)
{
    for (int k = 0; k < j->n_sources; k++)
        if (audio_writer_commit(&j->out[k].writer, err)) {
            while (k-- > 0) unlink(out_paths[k]);
            return -1;
        }
    return 0;
}

int separate_file(const ps_model_set *set, const separate_options *opt, const char *in_path,
                  char *const *out_paths, progress *bar, double done_before, long *nonfinite,
                  ps_error *err)
{
    *nonfinite = 0;
    SF_INFO info = {0};
    SNDFILE *f = sf_open(in_path, SFM_READ, &info);
    if (!f)
        return ps_error_set(err, "%s: not a readable audio file: %s", in_path, sf_strerror(NULL));
    job j = {0};
    int rc = job_init(&j, set, opt, in_path, &info, out_paths, err);
    if (!rc) rc = feed_input(&j, f, &info, in_path, bar, done_before, nonfinite, err);
    if (!rc) rc = drain(&j, set->info.lookahead, err);
    if (!rc) rc = commit_all(&j, out_paths, err);
    job_free(&j);
    sf_close(f);
    return rc;
}
