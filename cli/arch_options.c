#include "arch_options.h"

#include <string.h>

#include "cli.h"

int arch_option_apply(int id, const char *arg, ps_wavenet_config *cfg)
{
    if (id == ARCH_OPTION_FIRST) {
        if (strcmp(arg, "mol") == 0)
            cfg->head = PS_HEAD_MOL;
        else if (strcmp(arg, "categorical") == 0)
            cfg->head = PS_HEAD_CATEGORICAL;
        else
            return cli_fail(EXIT_USAGE, "--head: expected mol or categorical, got '%s'", arg), -1;
        return 1;
    }
    /* in the order of ARCH_OPTIONS after --head */
    struct { const char *name; int *field; long lo, hi; } ints[] = {
        {"--stacks", &cfg->stacks, 1, PS_WAVENET_MAX_STACKS},
        {"--layers", &cfg->layers, 1, PS_WAVENET_MAX_LAYERS},
        {"--kernel", &cfg->kernel, 1, PS_WAVENET_MAX_KERNEL},
        {"--input-kernel", &cfg->input_kernel, 1, PS_WAVENET_MAX_KERNEL},
        {"--residual", &cfg->residual, 1, PS_WAVENET_MAX_CHANNELS},
        {"--skip", &cfg->skip, 1, PS_WAVENET_MAX_CHANNELS},
        {"--hidden", &cfg->hidden, 1, PS_WAVENET_MAX_CHANNELS},
        {"--cond", &cfg->cond, 0, PS_WAVENET_MAX_COND},
        {"--mixtures", &cfg->mixtures, 1, PS_WAVENET_MAX_MIXTURES},
    };
    int i = id - ARCH_OPTION_FIRST - 1;
    if (i < 0 || i >= (int)(sizeof ints / sizeof ints[0])) return 0;
    long v;
    if (cli_parse_int(ints[i].name, arg, ints[i].lo, ints[i].hi, &v)) return -1;
    *ints[i].field = (int)v;
    return 1;
}
