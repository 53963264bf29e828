/* The training data of one source class: every audio file named <source>.<ext> under a
 * folder (recursively; the toy generator's layout is DIR/<item>/<source>.wav), read as
 * mono at the model's rate. Each file gives its first (1 - val_fraction) to training
 * and the rest to validation, so both splits see every file and neither depends on how
 * many files there are. Crops never cross files. */
#ifndef PRIORSEP_PRIOR_DATA_H
#define PRIORSEP_PRIOR_DATA_H
#include "priorsep/error.h"
#include "priorsep/rng.h"

typedef struct prior_file {
    float *samples;
    long n, split; /* training: [0, split), validation: [split, n) */
} prior_file;

typedef struct prior_data {
    prior_file *file;
    int n_files;
} prior_data;

int prior_data_load(prior_data *d, const char *dir, const char *source, int rate,
                    double val_fraction, ps_error *err);
void prior_data_free(prior_data *d);

/* Fails unless some file's training part holds `len` samples. */
int prior_data_check_crop(const prior_data *d, long len, const char *dir, ps_error *err);
/* A uniformly drawn training crop of len samples (every valid start equally likely). */
const float *prior_data_train_crop(const prior_data *d, long len, ps_rng *rng);
/* The same draw as file index and start (for data sets read in parallel: a mixture and
 * its sources). */
void prior_data_train_pos(const prior_data *d, long len, ps_rng *rng, int *file, long *start);
/* 0 if b has exactly a's files and lengths (another source of the same items). */
int prior_data_check_parallel(const prior_data *a, const prior_data *b, const char *what,
                              ps_error *err);


/* Up to max fixed validation crops of len samples (the start of the validation part of
 * files spread evenly over the set); returns how many. */
int prior_data_val_crops(const prior_data *d, long len, int max, const float **crops);
/* Warns on stderr when files have a validation part but none holds len samples: the
 * training then runs without validation (NaN in the log's validation column). */
void prior_data_warn_no_val(const prior_data *d, long len, const char *dir);
#endif
