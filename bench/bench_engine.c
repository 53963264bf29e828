/* Engine benchmark on the reference prior R (2 x 10 layers, kernel 2, 32/32 channels,
 * MoL head with 10 components), one thread:
 *   1. streaming at several frame sizes: CPU seconds per second of 48 kHz audio (the
 *      real-time factor) and achieved GFLOP/s (2 x the layers' multiply-adds);
 *   2. in the same run, the BLAS sgemm alone on exactly the products a frame performs,
 *      and the ratio engine / sgemm;
 *   3. cached streaming against naive recomputation of the whole receptive field for
 *      every frame.
 * Usage: bench_engine [seconds of audio per measurement, default 4] */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "priorsep/gemm.h"
#include "priorsep/wavenet.h"

#define RATE 48000.0

/* CPU seconds to stream `total` samples in frames of `frame`. */
static double time_stream(ps_wavenet_stream *st, const float *x, float *out, int frame, long total)
{
    double t0 = cpu_now();
    for (long done = 0; done < total; done += frame) ps_wavenet_stream_process(st, x, frame, out);
    return cpu_now() - t0;
}

/* CPU seconds for `reps` rounds of the matrix products one frame of F samples performs
 * in R, with product `gemm` (same shapes, same operands' sizes, nothing else). */
static double time_products(ps_gemm_fn gemm, const ps_wavenet_config *c, int F, long reps, float *a,
                            float *w, float *out)
{
    int R = c->residual, S = c->skip, H = c->hidden, O = ps_wavenet_out_dim(c);
    int n = ps_wavenet_num_layers(c);
    double t0 = cpu_now();
    for (long r = 0; r < reps; r++) {
        for (int j = 0; j < c->input_kernel; j++) gemm(F, R, 1, a, 1, w, R, NULL, 1.0f, out, R);
        for (int l = 0; l < n; l++) {
            for (int j = 0; j < c->kernel; j++) gemm(F, 2 * R, R, a, R, w, 2 * R, NULL, 1.0f, out, 2 * R);
            gemm(F, S, R, a, R, w, S, NULL, 1.0f, out, S);
            if (l < n - 1) gemm(F, R, R, a, R, w, R, NULL, 1.0f, out, R);
        }
        gemm(F, H, S, a, S, w, H, NULL, 1.0f, out, H);
        gemm(F, O, H, a, H, w, O, NULL, 1.0f, out, O);
    }
    return cpu_now() - t0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 4.0;
    if (!(seconds > 0.0 && seconds < 3600.0)) {
        fprintf(stderr, "bench_engine: seconds: expected a number in (0, 3600), got %s\n", argv[1]);
        return 2;
    }
    ps_wavenet_config cfg = ps_wavenet_config_reference();
    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&cfg, &err);
    if (!net) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        return 1;
    }
    ps_wavenet_init_random(net, 1);
    ps_gemm_init();
    enum { MAXF = 1024 };
    int O = ps_wavenet_out_dim(&cfg), rf = ps_wavenet_receptive_field(&cfg);
    double flop_per_sample = 2.0 * ps_wavenet_macs_per_sample(&cfg);
    float *x = malloc(sizeof(float) * (MAXF + (size_t)rf));
    float *out = malloc(sizeof(float) * (MAXF + (size_t)rf) * (size_t)O);
    float *a = malloc(sizeof(float) * MAXF * 64), *w = malloc(sizeof(float) * 64 * 64);
    float *c = malloc(sizeof(float) * MAXF * 64);
    fill(x, MAXF + (size_t)rf, 1);
    fill(a, MAXF * 64, 2);
    fill(w, 64 * 64, 3);
    fill(c, MAXF * 64, 4);
    ps_wavenet_stream *st = ps_wavenet_stream_create(net, MAXF, &err);
    if (!st) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        return 1;
    }

    printf("reference prior R: %d x %d layers, kernel %d, %d residual / %d skip channels, "
           "MoL %d; receptive field %d samples; %.0f multiply-adds per sample\n",
           cfg.stacks, cfg.layers, cfg.kernel, cfg.residual, cfg.skip, cfg.mixtures, rf,
           flop_per_sample / 2);
    printf("BLAS backend: %s (1 thread); engine kernel: %s; %.1f s of audio per measurement at %.0f Hz\n\n",
           ps_gemm_backend(), ps_gemm_rt_isa(), seconds, RATE);
    printf("| frame | RTF (CPU s / audio s) | engine GFLOP/s | sgemm GFLOP/s (%s) | engine / sgemm | engine kernel alone GFLOP/s |\n",
           ps_gemm_backend());
    printf("|---:|---:|---:|---:|---:|---:|\n");
    const int frames[] = {1, 16, 64, 256, 1024};
    double per_sample_cached[MAXF + 1] = {0};
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        int F = frames[i];
        long total = (long)(seconds * RATE) / F * F;
        ps_wavenet_stream_reset(st);
        time_stream(st, x, out, F, F * 16); /* warm caches */
        double t = time_stream(st, x, out, F, total);
        long reps = total / F;
        double tb = time_products(ps_gemm, &cfg, F, reps, a, w, c);
        double tk = time_products(ps_gemm_rt, &cfg, F, reps, a, w, c);
        double flops = flop_per_sample * (double)total;
        per_sample_cached[F] = t / (double)total;
        printf("| %d | %.3f | %.1f | %.1f | %.2f | %.1f |\n", F, t / ((double)total / RATE),
               flops / t * 1e-9, flops / tb * 1e-9, tb / t, flops / tk * 1e-9);
    }

    printf("\nCached streaming vs naive recomputation of the receptive field (%d samples) for every frame:\n\n", rf);
    printf("| frame | cached us/sample | naive us/sample | speedup |\n|---:|---:|---:|---:|\n");
    const int naive_frames[] = {1, 256};
    for (size_t i = 0; i < 2; i++) {
        int F = naive_frames[i], window = rf - 1 + F;
        ps_wavenet_stream *whole = ps_wavenet_stream_create(net, window, &err);
        if (!whole) {
            fprintf(stderr, "bench_engine: %s\n", err.msg);
            return 1;
        }
        long frames_run = 0;
        double t0 = cpu_now(), t;
        do { /* each frame: recompute the window from silence, keep the last F rows */
            ps_wavenet_stream_reset(whole);
            ps_wavenet_stream_process(whole, x, window, out);
            frames_run++;
        } while ((t = cpu_now() - t0) < seconds / 4);
        double naive = t / ((double)frames_run * F);
        printf("| %d | %.3f | %.2f | %.0fx |\n", F, per_sample_cached[F] * 1e6, naive * 1e6,
               naive / per_sample_cached[F]);
        ps_wavenet_stream_destroy(whole);
    }
    ps_wavenet_stream_destroy(st);
    ps_wavenet_destroy(net);
    free(x), free(out), free(a), free(w), free(c);
    return 0;
}
