/* Streaming separation benchmark: a model set (default models/toy) run as a host would
 * run it at 48 kHz: each host block is resampled to the model rate (libsoxr, streaming),
 * separated, and every source resampled back to 48 kHz. Reports the real-time factor
 * (CPU seconds of this thread per second of audio; the fraction of one core) for host
 * blocks of 64, 256 and 1024 samples and K = 0, 1, 4 refinement steps.
 * Usage: bench_separate [model folder or separator file] [seconds of audio, default 10] */
#include <math.h>
#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "priorsep/separator.h"

#define HOST_RATE 48000.0

typedef struct pipeline {
    ps_separator *sp;
    soxr_t down, up[PS_MAX_SOURCES];
    float *model_in, *model_out[PS_MAX_SOURCES], *host_out;
    size_t model_cap;
    int N;
} pipeline;

static soxr_t make_resampler(double in, double out)
{
    soxr_error_t e;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_t s = soxr_create(in, out, 1, &e, &io, &q, NULL);
    if (e) {
        fprintf(stderr, "bench_separate: soxr: %s\n", e);
        exit(1);
    }
    return s;
}

/* One host block: down, separate, up. */
static void run_block(pipeline *p, const float *in, int n)
{
    size_t got;
    soxr_process(p->down, in, (size_t)n, NULL, p->model_in, p->model_cap, &got);
    if (got == 0) return;
    ps_separator_process(p->sp, p->model_in, (int)got, p->model_out);
    for (int k = 0; k < p->N; k++) {
        size_t done;
        soxr_process(p->up[k], p->model_out[k], got, NULL, p->host_out, (size_t)n * 2, &done);
    }
}

int main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : "models/toy";
    double seconds = argc > 2 ? atof(argv[2]) : 10.0;
    ps_model_set set;
    ps_error err;
    if (ps_model_set_load(model, &set, &err)) {
        fprintf(stderr, "bench_separate: %s\n", err.msg);
        return 1;
    }
    double rate = set.info.sample_rate;
    long total = (long)(seconds * HOST_RATE);
    float *x = malloc(sizeof(float) * 1024);
    fill(x, 1024, 7);
    printf("model %s: %d sources at %.0f Hz, lookahead %d; host 48 kHz, %.0f s per figure\n",
           model, set.info.n_sources, rate, set.info.lookahead, seconds);
    printf("%-8s %-4s %-10s\n", "block", "K", "RTF (fraction of one core)");
    const int blocks[] = {64, 256, 1024}, refine[] = {0, 1, 4};
    for (int b = 0; b < 3; b++)
        for (int r = 0; r < 3; r++) {
            pipeline p = {.N = set.info.n_sources};
            /* a host block gives at most ceil(n * rate / 48k) + the resampler's slack */
            p.model_cap = (size_t)ceil(blocks[b] * rate / HOST_RATE) + 64;
            p.sp = ps_separator_create(&set, (int)p.model_cap, &err);
            if (!p.sp) {
                fprintf(stderr, "bench_separate: %s\n", err.msg);
                return 1;
            }
            ps_separator_set_refine(p.sp, refine[r]);
            p.down = make_resampler(HOST_RATE, rate);
            p.model_in = malloc(sizeof(float) * p.model_cap);
            p.host_out = malloc(sizeof(float) * (size_t)blocks[b] * 2);
            for (int k = 0; k < p.N; k++) {
                p.up[k] = make_resampler(rate, HOST_RATE);
                p.model_out[k] = malloc(sizeof(float) * p.model_cap);
            }
            for (long done = 0; done < (long)HOST_RATE; done += blocks[b]) run_block(&p, x, blocks[b]);
            double t0 = cpu_now();
            for (long done = 0; done < total; done += blocks[b]) run_block(&p, x, blocks[b]);
            double cpu = cpu_now() - t0;
            printf("%-8d %-4d %.3f\n", blocks[b], refine[r], cpu / seconds);
            ps_separator_destroy(p.sp);
            soxr_delete(p.down);
            for (int k = 0; k < p.N; k++) {
                soxr_delete(p.up[k]);
                free(p.model_out[k]);
            }
            free(p.model_in);
            free(p.host_out);
        }
    free(x);
    ps_model_set_free(&set);
    return 0;
}
