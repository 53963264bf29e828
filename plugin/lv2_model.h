/* A model as the plugin holds it: the engine at the host's rate, the folder it came from
 * (the plugin's state), a line naming what each output slot carries, and scratch room
 * for the sources of one block. Made and freed in the LV2 worker (or at instantiation and
 * state restore), never in run(). */
#ifndef PRIORSEP_LV2_MODEL_H
#define PRIORSEP_LV2_MODEL_H
#include "priorsep/host_stream.h"
#include "slot_mixer.h"

#define LV2_MODEL_PATH_MAX 2048

typedef struct lv2_model {
    ps_host_stream *hs;
    int n_sources, max_block;
    char path[LV2_MODEL_PATH_MAX];
    char slots[SLOTS * 48]; /* "1 sine | 2 square | 3 (unused, silent) | ..." */
    float *src[PS_MAX_SOURCES];
} lv2_model;

lv2_model *lv2_model_load(const char *path, double rate, int max_block, ps_error *err);
void lv2_model_free(lv2_model *m);

#endif
