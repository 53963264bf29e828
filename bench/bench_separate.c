/* Streaming separation benchmark: a model set (default models/toy) run as the plugin and
 * the JACK client run it at 48 kHz (ps_host_stream: each host block resampled to the
 * model rate, separated, every source resampled back). Reports the real-time factor (CPU
 * seconds of this thread per second of audio; the fraction of one core) for host blocks
 * of 64, 256 and 1024 samples and K = 0, 1, 4 refinement steps.
 * Usage: bench_separate [model folder or separator file] [seconds of audio, default 10] */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "priorsep/host_stream.h"

#define HOST_RATE 48000.0

int main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : "models/toy";
    double seconds = argc > 2 ? atof(argv[2]) : 10.0;
    long total = (long)(seconds * HOST_RATE);
    float x[1024], out[PS_MAX_SOURCES][1024];
    float *outs[PS_MAX_SOURCES];
    for (int k = 0; k < PS_MAX_SOURCES; k++) outs[k] = out[k];
    fill(x, 1024, 7);
    const int blocks[] = {64, 256, 1024}, refine[] = {0, 1, 4};
    for (int b = 0; b < 3; b++)
        for (int r = 0; r < 3; r++) {
            ps_error err;
            ps_host_stream *hs = ps_host_stream_create(model, HOST_RATE, blocks[b], &err);
            if (!hs) {
                fprintf(stderr, "bench_separate: %s\n", err.msg);
                return 1;
            }
            if (b == 0 && r == 0) {
                const ps_model_info *info = ps_host_stream_info(hs);
                printf("model %s: %d sources at %d Hz; host 48 kHz, latency %d samples; "
                       "%.0f s per figure\n",
                       model, info->n_sources, info->sample_rate, ps_host_stream_latency(hs),
                       seconds);
                printf("%-8s %-4s %-10s\n", "block", "K", "RTF (fraction of one core)");
            }
            ps_host_stream_set_refine(hs, refine[r]);
            for (long done = 0; done < (long)HOST_RATE; done += blocks[b])
                ps_host_stream_process(hs, x, blocks[b], outs);
            double t0 = cpu_now();
            for (long done = 0; done < total; done += blocks[b])
                ps_host_stream_process(hs, x, blocks[b], outs);
            double cpu = cpu_now() - t0;
            printf("%-8d %-4d %.3f\n", blocks[b], refine[r], cpu / seconds);
            ps_host_stream_destroy(hs);
        }
    return 0;
}
