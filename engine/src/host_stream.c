#include "priorsep/host_stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/denormal.h"
#include "priorsep/resample.h"

#define MAX_BLOCK 65536
/* The resampler chain's largest shortfall is measured at creation by running
 * PROBE_SECONDS of silence through it. At ratios like 48000/14700 the shortfall keeps
 * creeping up slowly after the first second (by 1 to 2 % over the next 20 s, measured
 * at 48, 96 and 192 kHz), so the FIFOs are primed with a margin of 1/16 over it. */
#define PROBE_SECONDS 4
#define PACE 1.25 /* release rate of the model-rate queue over the average (chain) */
#define PROBE_MAX_ALIGN 1024 /* most model samples of delay spent on whole latencies */
#define PROBE_MARGIN(worst) ((worst) / 16 + 16)

struct ps_host_stream {
    ps_model_set set;
    ps_separator *sp;
    int N, max_block, latency;
    double host_rate;
    long underruns;
    float *in; /* max_block: the chunk being processed, sanitized */
    /* resampling; down == NULL at equal rates */
    soxr_t down, up[PS_MAX_SOURCES];
    size_t model_cap; /* model-rate samples: the queue (see chain) and a pass's output */
    float *model_in, *model_out[PS_MAX_SOURCES];
    /* per source, the host-rate samples produced and not yet returned: fifo[k][head ..
     * head + level), less `debt` samples returned early as silence, to be dropped when
     * they come. The data moves back to the start only once head passes half the buffer,
     * so that blocks of one sample do not each move the whole FIFO. */
    float *fifo[PS_MAX_SOURCES];
    size_t fifo_cap, head, level, debt;
    /* model-rate samples of the probe's silence the down-resampler has yet to give out
     * (see probe_chain), and during the probe those it gave */
    size_t quiet, model_made;
    /* down-resampled samples waiting for the separator, and what may be released of them
     * (see chain) */
    size_t queued;
    double budget, pace;
};

/* Source k's model-rate samples x[0..n-1] through its up-resampler into its FIFO after
 * the samples held, one at a time (see chain); returns how many came out. */
static size_t upsample(ps_host_stream *hs, int k, const float *x, size_t n)
{
    float *tail = hs->fifo[k] + hs->head + hs->level;
    size_t made = 0;
    for (size_t i = 0; i < n; i++) {
        size_t odone = 0;
        size_t room = hs->fifo_cap - hs->head - hs->level - made;
        soxr_process(hs->up[k], x + i, 1, NULL, tail + made, room, &odone);
        made += odone;
    }
    return made;
}

/* Adds `made` new samples (already written after `level`) to every FIFO, first dropping
 * as many as were owed. */
static void fifo_commit(ps_host_stream *hs, size_t made)
{
    size_t drop = made < hs->debt ? made : hs->debt;
    if (drop)
        for (int k = 0; k < hs->N; k++) {
            float *tail = hs->fifo[k] + hs->head + hs->level;
            memmove(tail, tail + drop, sizeof(float) * (made - drop));
        }
    hs->debt -= drop;
    hs->level += made - drop;
}

/* Returns n samples of every FIFO; what is missing comes out as silence and is owed. */
static void fifo_read(ps_host_stream *hs, size_t n, float *const *out)
{
    size_t have = n < hs->level ? n : hs->level;
    for (int k = 0; k < hs->N; k++) {
        memcpy(out[k], hs->fifo[k] + hs->head, sizeof(float) * have);
        memset(out[k] + have, 0, sizeof(float) * (n - have));
    }
    hs->head += have, hs->level -= have;
    if (have < n) hs->debt += n - have, hs->underruns += (long)(n - have);
    if (hs->head > hs->fifo_cap / 2) {
        for (int k = 0; k < hs->N; k++)
            memmove(hs->fifo[k], hs->fifo[k] + hs->head, sizeof(float) * hs->level);
        hs->head = 0;
    }
}

/* The separator's output for one pass; a non-finite sample (a diverged refinement, say)
 * silences the pass and restarts the separator rather than reaching the host. */
static void separate(ps_host_stream *hs, const float *m, int n, float *const *out)
{
    ps_separator_process(hs->sp, m, n, out);
    for (int k = 0; k < hs->N; k++)
        for (int i = 0; i < n; i++)
            if (!isfinite(out[k][i])) {
                for (int j = 0; j < hs->N; j++) memset(out[j], 0, sizeof(float) * (size_t)n);
                ps_separator_reset(hs->sp);
                return;
            }
}

/* One chunk (n <= max_block, already in hs->in) down, through the separator (when
 * `run`; else as silence), up and into the FIFOs. Down-resampled samples still owed to
 * the probe's silence (`quiet`) go up as silence without the separator. Returns the host
 * samples produced.
 *
 * Every resampler is given one sample per call. What soxr does inside (its bursts, and
 * its buffers, which grow with realloc when a burst needs more room) then depends only
 * on how many samples it has had, not on the host's block lengths: so the probe, which
 * runs the same sequence, sees the largest shortfall and leaves every buffer at the
 * size later calls need.
 *
 * The down-resampler hands out model-rate samples in bursts of a few hundred; separated
 * as they come, one host period in four would carry several periods' worth of work.
 * They wait in a queue instead, released at PACE times the average rate, counted per
 * host sample (so this too depends on the sample count only): the work is spread over
 * the periods, for a little more latency (which the probe measures with the rest). */
static size_t chain(ps_host_stream *hs, size_t n, int run)
{
    size_t queued = hs->queued, release = 0;
    for (size_t i = 0; i < n; i++) {
        size_t odone = 0;
        soxr_process(hs->down, hs->in + i, 1, NULL, hs->model_in + queued,
                     hs->model_cap - queued, &odone);
        queued += odone;
        hs->budget += hs->pace;
        size_t r = (size_t)hs->budget;
        if (r > queued - release) r = queued - release;
        hs->budget -= (double)r;
        release += r;
        if (queued == release && hs->budget > hs->pace) hs->budget = hs->pace; /* no hoarding */
    }
    hs->queued = queued - release;
    if (!release) return 0;
    size_t quiet = run ? (release < hs->quiet ? release : hs->quiet) : release;
    if (run) hs->quiet -= quiet;
    else hs->model_made += release;
    float *rest[PS_MAX_SOURCES];
    for (int k = 0; k < hs->N; k++) {
        memset(hs->model_out[k], 0, sizeof(float) * quiet);
        rest[k] = hs->model_out[k] + quiet;
    }
    if (release > quiet) separate(hs, hs->model_in + quiet, (int)(release - quiet), rest);
    memmove(hs->model_in, hs->model_in + release, sizeof(float) * hs->queued);
    size_t made = 0;
    for (int k = 0; k < hs->N; k++) made = upsample(hs, k, hs->model_out[k], release);
    if (run) fifo_commit(hs, made);
    return made;
}

/* The probe's block lengths, by how many samples it has given: PROBE_SECONDS sample by
 * sample (as every call goes, see chain). 0: done. */
static size_t probe_block(size_t given, size_t second)
{
    return given < second * PROBE_SECONDS ? 1 : 0;
}

static long gcd(long a, long b) { return b ? gcd(b, a % b) : a; }

/* Runs silence through the resampler chain and primes the FIFOs; returns the latency.
 *
 * The chain's largest shortfall (input samples given minus host samples produced) is
 * measured as the probe goes (probe_block); the FIFOs are primed with it.
 *
 * The separator must then see the same model-rate samples as the batch tool, which
 * starts resampling at the input's first sample: so the probe gives a whole number of
 * periods of the two rates' grids (P host samples are exactly Q model samples), and the
 * model-rate samples the down-resampler still holds of it are skipped, not separated.
 * And the lookahead L, whole at the model rate, must be whole at the host rate too: the
 * sources are delayed by e model samples (zeros into the up-resamplers), the fewest that
 * make L + e a multiple of Q. Then the output is the batch tool's exactly, D + (L + e) P
 * / Q samples late. Rates that are not whole numbers, or grids too far apart (Q > 1024
 * samples of delay), get neither: the latency is then rounded to the host sample. */
static int probe_chain(ps_host_stream *hs, double host_rate, int model_rate, int lookahead)
{
    hs->head = hs->level = 0; /* the probe's output goes to the FIFOs' start, discarded */
    memset(hs->in, 0, sizeof(float) * (size_t)hs->max_block);
    long fh = lround(host_rate), g = gcd(fh, model_rate);
    long P = fh / g, Q = model_rate / g;
    int exact = fabs(host_rate - (double)fh) < 1e-6 && Q <= PROBE_MAX_ALIGN;
    size_t given = 0, made = 0, worst = 0;
    for (;;) {
        size_t n = probe_block(given, (size_t)fh);
        if (!n && exact && given % (size_t)P) n = (size_t)P - given % (size_t)P;
        if (!n) break;
        if (n > (size_t)hs->max_block) n = (size_t)hs->max_block;
        made += chain(hs, n, 0);
        given += n;
        if (given > made && given - made > worst) worst = given - made;
    }
    worst += PROBE_MARGIN(worst);
    size_t e = 0;
    if (exact) {
        hs->quiet = given / (size_t)P * (size_t)Q - hs->model_made;
        e = (size_t)((Q - lookahead % Q) % Q);
        for (int k = 0; k < hs->N; k++) memset(hs->model_out[k], 0, sizeof(float) * e);
        size_t delay = 0;
        for (int k = 0; k < hs->N; k++) delay = upsample(hs, k, hs->model_out[k], e);
        made += delay;
    }
    /* the FIFOs hold silence: as if primed with `worst` samples before all this */
    hs->head = 0, hs->level = worst + made - given;
    for (int k = 0; k < hs->N; k++) memset(hs->fifo[k], 0, sizeof(float) * hs->fifo_cap);
    if (exact) return (int)worst + (int)(((long)lookahead + (long)e) / Q * P);
    return (int)worst + (int)lround(lookahead * host_rate / model_rate);
}

/* Fresh resamplers (any old ones deleted), probed: the stream starts from silence. */
static int start_resamplers(ps_host_stream *hs, ps_error *err)
{
    double model_rate = hs->set.info.sample_rate;
    if (hs->down) soxr_delete(hs->down);
    for (int k = 0; k < hs->N; k++)
        if (hs->up[k]) soxr_delete(hs->up[k]), hs->up[k] = NULL;
    if (!(hs->down = ps_resampler_create(hs->host_rate, model_rate, 1, err))) return -1;
    for (int k = 0; k < hs->N; k++)
        if (!(hs->up[k] = ps_resampler_create(model_rate, hs->host_rate, 1, err))) return -1;
    hs->debt = hs->model_made = hs->queued = 0;
    hs->pace = PACE * model_rate / hs->host_rate, hs->budget = 0;
    hs->latency = probe_chain(hs, hs->host_rate, hs->set.info.sample_rate,
                              hs->set.info.lookahead);
    return 0;
}

ps_host_stream *ps_host_stream_create(const char *model_path, double host_rate, int max_block,
                                      ps_error *err)
{
    if (!(host_rate >= 1000 && host_rate <= 1e6)) {
        ps_error_set(err, "host sample rate %g Hz is outside 1 kHz .. 1 MHz", host_rate);
        return NULL;
    }
    if (max_block < 1 || max_block > MAX_BLOCK) {
        ps_error_set(err, "block length %d is outside 1 .. %d", max_block, MAX_BLOCK);
        return NULL;
    }
    ps_host_stream *hs = calloc(1, sizeof *hs);
    if (!hs) {
        ps_error_set(err, "out of memory");
        return NULL;
    }
    if (ps_model_set_load(model_path, &hs->set, err)) {
        free(hs);
        return NULL;
    }
    hs->N = hs->set.info.n_sources;
    hs->max_block = max_block, hs->host_rate = host_rate;
    double model_rate = hs->set.info.sample_rate;
    int resample = model_rate != host_rate;
    /* a chunk of max_block host samples gives about max_block * ratio model samples, plus
     * what the down-resampler held back (less than its filter and block length) */
    hs->model_cap = resample ? (size_t)ceil(max_block * model_rate / host_rate) + 8192
                             : (size_t)max_block;
    /* room for: what is held (under half), a compaction's worth of slack, and a chunk's
     * output with what the resamplers may release at once */
    hs->fifo_cap = 4 * ((size_t)max_block + 8192) * (size_t)ceil(host_rate / model_rate);
    if (!(hs->sp = ps_separator_create(&hs->set, (int)hs->model_cap, err))) goto fail;
    if (!(hs->in = calloc((size_t)max_block, sizeof(float)))) goto oom;
    hs->latency = hs->set.info.lookahead;
    if (resample) {
        if (!(hs->model_in = calloc(hs->model_cap, sizeof(float)))) goto oom;
        for (int k = 0; k < hs->N; k++)
            if (!(hs->model_out[k] = calloc(hs->model_cap, sizeof(float))) ||
                !(hs->fifo[k] = calloc(hs->fifo_cap, sizeof(float))))
                goto oom;
        if (start_resamplers(hs, err)) goto fail;
    }
    return hs;
oom:
    ps_error_set(err, "out of memory");
fail:
    ps_host_stream_destroy(hs);
    return NULL;
}

void ps_host_stream_destroy(ps_host_stream *hs)
{
    if (!hs) return;
    ps_separator_destroy(hs->sp);
    if (hs->down) soxr_delete(hs->down);
    for (int k = 0; k < PS_MAX_SOURCES; k++) {
        if (hs->up[k]) soxr_delete(hs->up[k]);
        free(hs->model_out[k]);
        free(hs->fifo[k]);
    }
    free(hs->model_in);
    free(hs->in);
    ps_model_set_free(&hs->set);
    free(hs);
}

int ps_host_stream_reset(ps_host_stream *hs, ps_error *err)
{
    ps_separator_reset(hs->sp);
    return hs->down ? start_resamplers(hs, err) : 0;
}

const ps_model_info *ps_host_stream_info(const ps_host_stream *hs) { return &hs->set.info; }
int ps_host_stream_latency(const ps_host_stream *hs) { return hs->latency; }
void ps_host_stream_set_refine(ps_host_stream *hs, int K) { ps_separator_set_refine(hs->sp, K); }
long ps_host_stream_underruns(const ps_host_stream *hs) { return hs->underruns; }

void ps_host_stream_process(ps_host_stream *hs, const float *in, int n, float *const *out)
{
    unsigned saved = ps_denormals_off();
    for (int done = 0; done < n;) {
        int len = n - done < hs->max_block ? n - done : hs->max_block;
        for (int i = 0; i < len; i++) hs->in[i] = isfinite(in[done + i]) ? in[done + i] : 0.0f;
        float *part[PS_MAX_SOURCES];
        for (int k = 0; k < hs->N; k++) part[k] = out[k] + done;
        if (hs->down) {
            chain(hs, (size_t)len, 1);
            fifo_read(hs, (size_t)len, part);
        } else {
            separate(hs, hs->in, len, part);
        }
        done += len;
    }
    ps_denormals_restore(saved);
}
