/* Shared by the benchmarks: thread CPU time and reproducible filler data. */
#ifndef PRIORSEP_BENCH_UTIL_H
#define PRIORSEP_BENCH_UTIL_H
#include <stddef.h>
#include <time.h>

/* CPU seconds of the calling thread: what a real-time thread would spend, unaffected
 * by other processes' time on the machine. */
static inline double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Values in [-1, 1) from a linear congruential sequence. */
static inline void fill(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)(seed >> 8) / 8388608.0f - 1.0f;
    }
}

#endif
