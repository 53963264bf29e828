/* libFuzzer harness for the training-checkpoint loader: any input must be either loaded
 * or refused with a one-line message; never a crash, leak, hang or huge allocation. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "priorsep/checkpoint.h"
#include "priorsep/wavenet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

/* What the loader promises of a checkpoint it accepts. */
static void check_accepted(const ps_checkpoint *ck)
{
    if (!ck->net || !ck->adam_m || !ck->adam_v) __builtin_trap();
    size_t n = ps_wavenet_num_params(ck->net);
    if (ps_wavenet_num_params(ck->adam_m) != n || ps_wavenet_num_params(ck->adam_v) != n)
        __builtin_trap();
    const float *p = ps_wavenet_params(ck->net), *m = ps_wavenet_params(ck->adam_m),
                *v = ps_wavenet_params(ck->adam_v);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]) || !isfinite(m[i]) || !isfinite(v[i]) || v[i] < 0.0f)
            __builtin_trap();
    if (ck->info.sample_rate < 1000 || ck->info.sample_rate > 768000) __builtin_trap();
    if (!terminated(ck->info.source, sizeof ck->info.source) ||
        !terminated(ck->info.recipe, sizeof ck->info.recipe))
        __builtin_trap();
    if (ck->step < 0 || (ck->rng[0] == 0 && ck->rng[1] == 0)) __builtin_trap();
    if (ck->n_extra < 0 || ck->n_extra > PS_CHECKPOINT_MAX_EXTRA) __builtin_trap();
    for (int i = 0; i < ck->n_extra; i++)
        if (!terminated(ck->extra_key[i], sizeof ck->extra_key[i]) || !ck->extra_key[i][0] ||
            !terminated(ck->extra_value[i], sizeof ck->extra_value[i]))
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ps_checkpoint ck; /* about 10 KB: off the stack */
    ps_error err = {{0}};
    if (ps_checkpoint_load_memory(data, size, "fuzz.ckpt", &ck, &err) == 0) {
        check_accepted(&ck);
        ps_checkpoint_free(&ck);
    } else if (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL) {
        __builtin_trap(); /* every refusal says why, on one line */
    }
    return 0;
}
