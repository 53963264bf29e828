/* WaveNet model files: safetensors with the architecture in __metadata__, one group of
 * tensors (the parameters, under the table's names). Reading, validation and writing
 * are shared with training checkpoints in safetensors_io.c. */
#include "priorsep/model_file.h"

#include <stdlib.h>

#include "safetensors_io.h"

ps_wavenet *ps_model_load_memory(const void *data, size_t size, const char *name,
                                 ps_model_info *info, ps_error *err)
{
    ps_st_group group = {.prefix = ""};
    if (ps_st_load(data, size, name, PS_ST_MODEL, &group, 1, info, NULL, NULL, err))
        return NULL;
    return group.net;
}

ps_wavenet *ps_model_load(const char *path, ps_model_info *info, ps_error *err)
{
    uint8_t *file = NULL;
    size_t size = 0;
    if (ps_st_read_file(path, PS_ST_MODEL, &file, &size, err)) return NULL;
    ps_wavenet *net = ps_model_load_memory(file, size, path, info, err);
    free(file);
    return net;
}

/* info may be NULL: the model is then saved with the project's sample rate (14700 Hz),
 * no source name and no recipe. */
int ps_model_save(const char *path, ps_wavenet *net, const ps_model_info *info,
                  ps_error *err)
{
    ps_st_group group = {.prefix = "", .net = net};
    return ps_st_save(path, PS_ST_MODEL, &group, 1, info, NULL, NULL, err);
}
