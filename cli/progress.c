#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress *p, const char *label, const char *unit, double total, int quiet)
{
    p->label = label;
    p->unit = unit;
    p->total = total > 0 ? total : 1;
    p->start = now();
    p->last_draw = 0;
    p->note[0] = '\0';
    p->enabled = !quiet && isatty(STDERR_FILENO);
}

static void draw(progress *p, double done, double t)
{
    enum { WIDTH = 30 };
    double frac = done / p->total, elapsed = t - p->start;
    frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
    double rate = elapsed > 0 ? done / elapsed : 0;
    double eta = rate > 0 ? (p->total - done) / rate : 0;
    char bar[WIDTH + 1];
    int filled = (int)(frac * WIDTH);
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : ' ';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r%s [%s] %3.0f%%  %.1f %s/s  ETA %.0f s  %s ", p->label, bar, 100 * frac,
            rate, p->unit, eta, p->note);
    fflush(stderr);
    p->last_draw = t;
}

void progress_update(progress *p, double done)
{
    if (!p->enabled) return;
    double t = now();
    if (t - p->last_draw >= 0.1) draw(p, done, t);
}

void progress_finish(progress *p, double done)
{
    if (!p->enabled) return;
    draw(p, done, now());
    fputc('\n', stderr);
}
