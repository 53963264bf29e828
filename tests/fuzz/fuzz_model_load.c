/* libFuzzer harness for the model-file loader: any input must be either loaded or
 * refused with a one-line message; never a crash, leak, hang or huge allocation. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ps_error err = {{0}};
    ps_model_info info;
    ps_wavenet *net = ps_model_load_memory(data, size, "fuzz.safetensors", &info, &err);
    if (net) {
        /* What the loader promises of a model it accepts. */
        if (info.sample_rate < 1000 || info.sample_rate > 768000) __builtin_trap();
        if (memchr(info.source, '\0', sizeof info.source) == NULL) __builtin_trap();
        const float *p = ps_wavenet_params(net);
        for (size_t i = 0; i < ps_wavenet_num_params(net); i++)
            if (!isfinite(p[i])) __builtin_trap();
        ps_wavenet_destroy(net);
    } else if (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL) {
        __builtin_trap(); /* every refusal says why, on one line */
    }
    return 0;
}
