/* Data-set items as `priorsep data` writes them: DIR/<index, 5 digits or more>/mix.wav
 * and <source>.wav per source, mono 32-bit float WAV, each written atomically. */
#ifndef PRIORSEP_ITEM_FILES_H
#define PRIORSEP_ITEM_FILES_H
#include "priorsep/error.h"

/* mkdir -p: creates dir and its missing parents; fails if a part is not a folder. */
int make_dirs(const char *dir, ps_error *err);

/* sources: n_sources rows of n samples; names[k] names row k. */
int item_write(const char *dir, long index, int rate, const char *const *names,
               int n_sources, const float *sources, const float *mix, long n, ps_error *err);

#endif
