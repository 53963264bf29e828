/* The WaveNet architecture options shared by the commands that create a prior
 * (init prior, train prior), for getopt_long. */
#ifndef PRIORSEP_ARCH_OPTIONS_H
#define PRIORSEP_ARCH_OPTIONS_H
#include <getopt.h>

#include "priorsep/wavenet.h"

/* Option ids 1000.. are the architecture's; append ARCH_OPTIONS to a command's table. */
enum { ARCH_OPTION_FIRST = 1000 };
#define ARCH_OPTIONS                                                                       \
    {"head", required_argument, 0, 1000}, {"stacks", required_argument, 0, 1001},          \
    {"layers", required_argument, 0, 1002}, {"kernel", required_argument, 0, 1003},        \
    {"input-kernel", required_argument, 0, 1004}, {"residual", required_argument, 0, 1005}, \
    {"skip", required_argument, 0, 1006}, {"hidden", required_argument, 0, 1007},          \
    {"cond", required_argument, 0, 1008}, {"mixtures", required_argument, 0, 1009}

#define ARCH_OPTIONS_HELP                                                                  \
    "  --head mol|categorical   output head (default mol)\n"                               \
    "  --stacks N --layers N --kernel N --input-kernel N\n"                               \
    "  --residual N --skip N --hidden N --cond N --mixtures N\n"                          \
    "                       (defaults: the reference prior R, 2 x 10 layers, kernel 2,\n" \
    "                       32 residual / skip / hidden channels, 10 mixtures)\n"

/* 1 if `id` is an architecture option (applied to cfg), 0 if not; -1 after printing a
 * usage error. */
int arch_option_apply(int id, const char *arg, ps_wavenet_config *cfg);

#endif
