/* The LV2 plugin's run() as a host calls it: the bundle from the build folder (LV2_PATH)
 * in our lilv host (tests/lv2_host.c) at 48 kHz with the bundled toy model, blocks of
 * 32, 256 and 1024 frames, K = 0 and 1. Reports the real-time factor: CPU seconds of this
 * thread per second of audio (the fraction of one core run() takes).
 * Usage: LV2_PATH=build/plugin bench_lv2 [seconds of audio per figure, default 10] */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "lv2_host.h"

#define RATE 48000.0

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 10.0;
    static float x[1024], out[LV2_HOST_OUTS][1024];
    float *outs[LV2_HOST_OUTS] = {out[0], out[1], out[2], out[3]};
    fill(x, 1024, 9);
    for (int i = 0; i < 1024; i++) x[i] *= 0.5f;
    const int blocks[] = {32, 256, 1024}, refine[] = {0, 1};
    printf("priorsep.lv2 run() at 48 kHz, bundled toy model, %.0f s per figure\n", seconds);
    printf("%-8s %-4s %-9s %s\n", "block", "K", "latency", "RTF (fraction of one core)");
    for (int b = 0; b < 3; b++)
        for (int r = 0; r < 2; r++) {
            lv2_host *h = lv2_host_new(RATE, blocks[b]);
            if (!h) return 1;
            lv2_host_set(h, "refine", (float)refine[r]);
            long total = (long)(seconds * RATE);
            for (long done = 0; done < (long)RATE; done += blocks[b])
                lv2_host_run(h, x, blocks[b], outs);
            double t0 = cpu_now();
            for (long done = 0; done < total; done += blocks[b])
                lv2_host_run(h, x, blocks[b], outs);
            double cpu = cpu_now() - t0;
            printf("%-8d %-4d %-9.0f %.3f\n", blocks[b], refine[r], lv2_host_get(h, "latency"),
                   cpu / seconds);
            lv2_host_free(h);
        }
    return 0;
}
