/* The variational separator (design §3, §4): a WaveNet with a Gaussian head over the
 * mixture (output t: mean and log-scale of every source at t - L) and one noise-
 * conditioned WaveNet prior per source class, loaded together as a model set.
 *
 *   ps_separate_offline()   the whole signal at once (K = 0): the reference;
 *   ps_separator_process()  frame by frame, real-time safe, with K prior-refinement steps
 *                           per frame (K = 0 gives the offline result, delayed by L). */
#ifndef PRIORSEP_SEPARATOR_H
#define PRIORSEP_SEPARATOR_H
#include "priorsep/error.h"
#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"

#define PS_SEPARATOR_FILE "separator.safetensors" /* a model folder's default separator */
#define PS_MAX_REFINE 8                           /* K: refinement steps per frame */

typedef struct ps_model_set {
    ps_wavenet *separator;
    ps_model_info info; /* sources, weights, lookahead, sample rate */
    ps_wavenet *prior[PS_MAX_SOURCES];
    ps_model_info prior_info[PS_MAX_SOURCES];
} ps_model_set;

/* path: a model folder (its separator.safetensors) or a separator file. The priors are
 * the files <source>.safetensors beside the separator, one per source it names; each
 * must be a noise-conditioned MoL prior of that source at the separator's rate. */
int ps_model_set_load(const char *path, ps_model_set *set, ps_error *err);
void ps_model_set_free(ps_model_set *set);

/* The priors alone (training an unsupervised separator): dir/<names[k]>.safetensors for
 * k < n, checked as above against `rate` (0: the first prior's rate is taken and
 * written back to *rate). */
int ps_priors_load(const char *dir, int n, const char (*names)[32], int *rate,
                   ps_wavenet **prior, ps_model_info *info, ps_error *err);

/* Mixture consistency (design §3): with r = m - sum_k w_k s_k over each sample,
 * s_k += w_k var_k r / sum_j w_j^2 var_j, so that sum_k w_k s_k = m afterwards. s[k] and
 * var[k] hold n samples of source k. */
void ps_mixture_project(int n_sources, const float *w, int n, const float *m, float *const *s,
                        const float *const *var);

/* Separator outputs to estimates: row t holds [mean (N) | log-scale (N)]; mean[k][t] and
 * var[k][t] (either may be NULL) for rows t < n. Log-scales are clamped as the loss
 * clamps them (heads.h). */
void ps_separator_split_rows(int n_sources, const float *rows, int n, float *const *mean,
                             float *const *var);

/* Whole-signal separation with K = 0: the separator over m[0..T-1] followed by L zeros,
 * then the projection. out[k] receives the T samples of source k (time-aligned with m).
 * Allocates (O(T) memory); not for real-time use. */
int ps_separate_offline(const ps_model_set *set, const float *m, long T, float *const *out,
                        ps_error *err);

/* ---- streaming --------------------------------------------------------------------- */

typedef struct ps_separator ps_separator;

/* Sized for frames of 1 .. max_frame samples at the model rate. Reads the set's models
 * (the set must outlive it). Starts from silence with K = 0. */
ps_separator *ps_separator_create(const ps_model_set *set, int max_frame, ps_error *err);
void ps_separator_destroy(ps_separator *sp);
/* Back to silence. Real-time safe. */
void ps_separator_reset(ps_separator *sp);
/* Refinement steps per frame, clamped to 0..PS_MAX_REFINE. Real-time safe. Going from
 * K = 0 to K > 0 restarts the priors from silence (with K = 0 they are not run). */
void ps_separator_set_refine(ps_separator *sp, int K);
int ps_separator_refine(const ps_separator *sp);
/* Output sample i of a call is the estimate of the input sample latency() samples
 * earlier: the separator's lookahead L. */
int ps_separator_latency(const ps_separator *sp);
/* Feeds n mixture samples (1 <= n; frames longer than max_frame are split) and writes
 * n samples of every source into out[k]. Real-time safe: no allocation, lock, I/O or
 * system call; FTZ/DAZ on for the call. */
void ps_separator_process(ps_separator *sp, const float *m, int n, float *const *out);

#endif
