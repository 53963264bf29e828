/* WaveNet model files: safetensors (8-byte little-endian header length, JSON header,
 * raw little-endian F32 tensors). The architecture and facts about the model live in
 * the header's __metadata__ (string values, as safetensors requires):
 *
 *   "format": "priorsep.wavenet"   "version": "1"
 *   "stacks", "layers", "kernel", "input_kernel", "residual", "skip", "hidden",
 *   "cond", "mixtures": decimal integers;  "head": "categorical" | "mol"
 *   "sample_rate": decimal integer (Hz);  "source": name of the source class
 *   "recipe": the training command;  "noise_levels", "sigma_max", "sigma_min": the
 *   noise ladder of a noise-conditioned prior (decimal numbers; absent for others)
 *   "recipe": how the model was made (the training command line); optional
 *   "sources", "weights", "lookahead": a separator's (Gaussian head) sources in output
 *   order and their mixing weights, comma-separated, and its lookahead in samples;
 *   required for a separator, absent for a prior
 *   other string keys are allowed and ignored (not kept on a load-save round trip).
 * Training checkpoints (checkpoint.h) share the layout under format
 * "priorsep.checkpoint"; each loader refuses the other's files.
 *
 * Loading trusts nothing in the file: sizes, offsets, dtypes, shapes (against the
 * architecture), overlaps and values (all finite) are checked, and every failure names
 * the file and the field. */
#ifndef PRIORSEP_MODEL_FILE_H
#define PRIORSEP_MODEL_FILE_H
#include <stddef.h>
#include "priorsep/error.h"
#include "priorsep/wavenet.h"

#define PS_MAX_SOURCES 8 /* sources of a mixture (design §1) */

/* Largest model file accepted; real priors are a few MB. */
#define PS_MODEL_FILE_MAX_BYTES ((size_t)1 << 30)

/* Facts about a model besides its architecture. Text fields are printable ASCII,
 * NUL-terminated; empty ones are not written. */
typedef struct ps_model_info {
    int sample_rate;
    char source[64];
    /* Free-text training recipe: the command line that built the model. */
    char recipe[1024];
    /* The noise ladder a noise-conditioned prior was trained with (design §2):
     * noise_levels geometric levels from sigma_max down to sigma_min; 0 = none. */
    int noise_levels;
    float sigma_max, sigma_min;
    /* A separator (design §3): n_sources (= the Gaussian head's outputs) named sources
     * in output order, the mixture's weights m = sum_k weights[k] s_k, and the lookahead
     * L: output t estimates the sources at t - L. n_sources = 0 for a prior. */
    int n_sources;
    char sources[PS_MAX_SOURCES][32];
    float weights[PS_MAX_SOURCES];
    int lookahead;
} ps_model_info;

#define PS_MAX_LOOKAHEAD 65536
#define PS_MAX_WEIGHT 100.0f

#define PS_MODEL_MAX_NOISE_LEVELS 100
#define PS_MODEL_MAX_SIGMA 100.0f

/* Loads a model from a file / from memory (`name` is used in messages). On success
 * returns the model and fills *info (info may be NULL); on failure returns NULL. */
ps_wavenet *ps_model_load(const char *path, ps_model_info *info, ps_error *err);
ps_wavenet *ps_model_load_memory(const void *data, size_t size, const char *name,
                                 ps_model_info *info, ps_error *err);

/* Writes the model atomically (info may be NULL: 14,700 Hz, no source, no recipe): to
 * "<path>.tmp-XXXXXX" in the same folder, fsync, then rename over path. On any failure
 * (full disk included) path is left untouched and the temporary file is removed. */
int ps_model_save(const char *path, ps_wavenet *net, const ps_model_info *info,
                  ps_error *err);

#endif
