#include "lv2_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lv2_model *lv2_model_load(const char *path, double rate, int max_block, ps_error *err)
{
    if (strlen(path) >= LV2_MODEL_PATH_MAX) {
        ps_error_set(err, "model path longer than %d bytes", LV2_MODEL_PATH_MAX - 1);
        return NULL;
    }
    lv2_model *m = calloc(1, sizeof *m);
    if (!m) {
        ps_error_set(err, "out of memory");
        return NULL;
    }
    if (!(m->hs = ps_host_stream_create(path, rate, max_block, err))) {
        free(m);
        return NULL;
    }
    const ps_model_info *info = ps_host_stream_info(m->hs);
    m->n_sources = info->n_sources, m->max_block = max_block;
    strcpy(m->path, path);
    size_t used = 0;
    for (int k = 0; k < SLOTS; k++)
        used += (size_t)snprintf(m->slots + used, sizeof m->slots - used, "%s%d %s",
                                 k ? " | " : "", k + 1,
                                 k < info->n_sources ? info->sources[k] : "(unused, silent)");
    for (int k = 0; k < m->n_sources; k++)
        if (!(m->src[k] = calloc((size_t)max_block, sizeof(float)))) {
            lv2_model_free(m);
            ps_error_set(err, "out of memory");
            return NULL;
        }
    return m;
}

void lv2_model_free(lv2_model *m)
{
    if (!m) return;
    ps_host_stream_destroy(m->hs);
    for (int k = 0; k < PS_MAX_SOURCES; k++) free(m->src[k]);
    free(m);
}
