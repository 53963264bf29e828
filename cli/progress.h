/* A progress bar with rate and ETA on stderr, drawn only when stderr is a terminal and
 * not silenced; redrawn at most ten times a second. */
#ifndef PRIORSEP_PROGRESS_H
#define PRIORSEP_PROGRESS_H

typedef struct progress {
    const char *label, *unit;
    char note[64]; /* shown after the ETA, e.g. the current loss */
    double total, start, last_draw;
    int enabled;
} progress;

void progress_start(progress *p, const char *label, const char *unit, double total, int quiet);
void progress_update(progress *p, double done);
void progress_finish(progress *p, double done);

#endif
