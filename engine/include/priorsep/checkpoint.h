/* Training checkpoints: everything a training run needs to resume exactly, in ONE
 * safetensors file laid out like a model file (model_file.h):
 *
 *   tensors   the model's, under the same names ("layers.0.conv.w", ...), then the AdamW
 *             first and second moments with the same shapes, "adam.m.<name>" and
 *             "adam.v.<name>" (data in that order, each group in table order)
 *   metadata  everything a model file has, with "format": "priorsep.checkpoint"
 *             (a checkpoint is never mistaken for a model, nor a model for a
 *             checkpoint: each loader refuses the other's format by name), and
 *             "step": optimizer steps taken, a canonical decimal >= 0
 *             "rng": the trainer's PRNG state, "<16 hex digits>:<16 hex digits>"
 *                    (lowercase; ps_rng's s[0] then s[1]; never all zero)
 *             "extra.<key>": the trainer's own string values (training options, so
 *                    that a resume can check they match)
 *
 * Loading checks what the model loader checks, for all three groups (shapes against
 * the architecture, offsets, overlaps across groups, missing and unknown tensors,
 * finite values), and also that second moments are not negative. Every failure names
 * the file and the field. */
#ifndef PRIORSEP_CHECKPOINT_H
#define PRIORSEP_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>

#include "priorsep/error.h"
#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"

#define PS_CHECKPOINT_MAX_EXTRA 32
/* Sizes of the extra arrays, terminating NUL included: keys are 1..31 characters of
 * [A-Za-z0-9_.-], values 0..255 printable ASCII characters. */
#define PS_CHECKPOINT_KEY_SIZE 32
#define PS_CHECKPOINT_VALUE_SIZE 256

typedef struct ps_checkpoint {
    ps_wavenet *net;    /* the parameters */
    ps_wavenet *adam_m; /* AdamW first moment, same architecture */
    ps_wavenet *adam_v; /* AdamW second moment (>= 0), same architecture */
    ps_model_info info; /* sample rate, source, recipe */
    long step;          /* optimizer steps taken, >= 0 */
    uint64_t rng[2];    /* the trainer's ps_rng state (s[0], s[1]), not both zero */
    int n_extra;        /* 0 .. PS_CHECKPOINT_MAX_EXTRA */
    char extra_key[PS_CHECKPOINT_MAX_EXTRA][PS_CHECKPOINT_KEY_SIZE];
    char extra_value[PS_CHECKPOINT_MAX_EXTRA][PS_CHECKPOINT_VALUE_SIZE];
} ps_checkpoint;

/* Writes the checkpoint atomically exactly like ps_model_save(): a temporary file next
 * to path, fsync, rename; on failure path is untouched and no temporary is left. The
 * three models must share one architecture; what the loader would refuse (bad info,
 * step, rng or extras, non-finite values, negative second moments) is refused before
 * anything is written. */
int ps_checkpoint_save(const char *path, const ps_checkpoint *ck, ps_error *err);

/* Loads a checkpoint from a file / from memory (`name` is used in messages). On success
 * *ck is overwritten (what it pointed to before is not freed) with three new models,
 * to be released with ps_checkpoint_free(); on failure *ck is untouched and nothing is
 * allocated. */
int ps_checkpoint_load(const char *path, ps_checkpoint *ck, ps_error *err);
int ps_checkpoint_load_memory(const void *data, size_t size, const char *name,
                              ps_checkpoint *ck, ps_error *err);

/* Destroys the three models and sets the pointers to NULL (NULL pointers are fine). */
void ps_checkpoint_free(ps_checkpoint *ck);

/* The value of extra `key`, or NULL. */
const char *ps_checkpoint_extra(const ps_checkpoint *ck, const char *key);
/* Sets extra `key` (replacing its value, or adding it); -1 with the reason when the key
 * or value is not valid or all PS_CHECKPOINT_MAX_EXTRA slots are taken. */
int ps_checkpoint_set_extra(ps_checkpoint *ck, const char *key, const char *value,
                            ps_error *err);

#endif
