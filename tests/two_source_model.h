/* A tiny model set with random weights, for tests that need one other than the toy set:
 * a separator of sources "a" and "b" (weights 1/2, lookahead TWO_SOURCE_LOOKAHEAD, at
 * 14,700 Hz) and their priors, in folder `folder` (created). The prior of b is written
 * as source `b_source` (a mismatch unless "b"). A failure fails the running Check test. */
#ifndef PRIORSEP_TWO_SOURCE_MODEL_H
#define PRIORSEP_TWO_SOURCE_MODEL_H
#include <check.h>
#include <stdio.h>
#include <sys/stat.h>

#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"

#define TWO_SOURCE_RATE 14700
#define TWO_SOURCE_LOOKAHEAD 5

static inline void two_source_model(const char *folder, const char *b_source)
{
    ck_assert_int_eq(mkdir(folder, 0777), 0);
    ps_wavenet_config cfg = {.stacks = 1, .layers = 3, .kernel = 2, .input_kernel = 2,
                             .residual = 4, .skip = 4, .hidden = 4, .cond = 0,
                             .head = PS_HEAD_GAUSSIAN, .mixtures = 2};
    ps_model_info info = {.sample_rate = TWO_SOURCE_RATE, .n_sources = 2, .sources = {"a", "b"},
                          .weights = {0.5f, 0.5f}, .lookahead = TWO_SOURCE_LOOKAHEAD};
    const char *files[3] = {"separator", "a", "b"};
    for (int i = 0; i < 3; i++) {
        if (i == 1) {
            cfg.head = PS_HEAD_MOL, cfg.cond = 1;
            info = (ps_model_info){.sample_rate = TWO_SOURCE_RATE, .noise_levels = 10,
                                   .sigma_max = 1.0f, .sigma_min = 0.01f};
        }
        snprintf(info.source, sizeof info.source, "%s", i == 2 ? b_source : files[i]);
        if (i == 0) info.source[0] = '\0';
        ps_error err;
        ps_wavenet *net = ps_wavenet_create(&cfg, &err);
        ck_assert_msg(net != NULL, "%s", err.msg);
        ps_wavenet_init_random(net, 7 + (uint64_t)i);
        char path[2048];
        ck_assert_int_lt(snprintf(path, sizeof path, "%s/%s.safetensors", folder, files[i]),
                         (int)sizeof path);
        ck_assert_msg(ps_model_save(path, net, &info, &err) == 0, "%s", err.msg);
        ps_wavenet_destroy(net);
    }
}

#endif
