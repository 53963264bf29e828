/* Reads a whole audio file (any format libsndfile reads) as mono float samples at a
 * given rate: channels are averaged, and the rate is converted with libsoxr (its default
 * high quality) when the file's differs. For training data; separation streams. */
#ifndef PRIORSEP_AUDIO_READER_H
#define PRIORSEP_AUDIO_READER_H
#include "priorsep/error.h"

/* Refuses files longer than this many seconds (after resampling): training reads whole
 * files into memory. */
#define AUDIO_READER_MAX_SECONDS 3600

int audio_read_mono(const char *path, int rate, float **samples, long *n, ps_error *err);

#endif
