/* One audio file through the separator, streamed: read in blocks, converted to the model
 * rate, separated channel by channel (or downmixed to one), each source converted back to
 * the file's rate and written to its own file. Outputs are time-aligned with the input
 * (the separator's lookahead and the resamplers' delays taken out) and exactly as long.
 * Memory does not grow with the file's length. */
#ifndef PRIORSEP_SEPARATE_FILE_H
#define PRIORSEP_SEPARATE_FILE_H
#include "priorsep/separator.h"
#include "progress.h"

typedef struct separate_options {
    int refine;    /* K, refinement steps per frame */
    int frame;     /* largest frame at the model rate */
    int downmix;   /* average the channels into one stream */
    int overwrite; /* replace existing outputs */
} separate_options;

/* The libsndfile subtype of the (WAV) outputs of an input in format `format`
 * (SF_INFO.format): the input's for 16/24/32-bit PCM or float WAV, else float. */
int separate_output_subtype(int format);

/* Separates in_path into out_paths[k] (one per source of the set). The progress bar
 * counts input frames from `done_before`. *nonfinite receives the count of NaN or
 * infinite input samples, which were separated as 0. On failure no output is left
 * behind: neither a temporary file nor, if a later one could not be renamed into place,
 * an output already renamed. */
int separate_file(const ps_model_set *set, const separate_options *opt, const char *in_path,
                  char *const *out_paths, progress *bar, double done_before, long *nonfinite,
                  ps_error *err);

#endif
