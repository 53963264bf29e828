/* What every priorsep trainer shares (train prior, train separator): seeded and
 * deterministic sharded gradients (the batch is split into TRAINER_SHARDS shards summed
 * in a fixed order, whatever the thread count), AdamW with clipping and a warmup +
 * cosine schedule, atomic checkpoints with a bit-exact --resume, Ctrl-C writes a
 * checkpoint, a CSV log and a progress bar. A command supplies its objective as
 * callbacks and its model's architecture and info. */
#ifndef PRIORSEP_TRAINER_H
#define PRIORSEP_TRAINER_H
#include <getopt.h>
#include <stdio.h>

#include "priorsep/checkpoint.h"
#include "priorsep/optim.h"
#include "priorsep/rng.h"

#define TRAINER_SHARDS 2

typedef struct trainer_options {
    const char *out, *checkpoint, *log, *init;
    long steps, warmup, seed, val_every, checkpoint_every, threads;
    double lr, clip;
    int resume, force, quiet;
} trainer_options;

/* Option ids 2000.. are the trainer's; append TRAINER_OPTIONS to a command's table. */
enum { TRAINER_OPTION_FIRST = 2000 };
#define TRAINER_OPTIONS                                                                    \
    {"out", required_argument, 0, 2000}, {"steps", required_argument, 0, 2001},            \
    {"lr", required_argument, 0, 2002}, {"warmup", required_argument, 0, 2003},            \
    {"clip", required_argument, 0, 2004}, {"val-every", required_argument, 0, 2005},       \
    {"checkpoint", required_argument, 0, 2006},                                             \
    {"checkpoint-every", required_argument, 0, 2007}, {"log", required_argument, 0, 2008}, \
    {"resume", no_argument, 0, 2009}, {"seed", required_argument, 0, 2010},                \
    {"threads", required_argument, 0, 2011}, {"force", no_argument, 0, 2012},              \
    {"quiet", no_argument, 0, 2013}, {"init", required_argument, 0, 2014}

#define TRAINER_OPTIONS_HELP                                                               \
    "  --steps N            optimizer steps (default 2000)\n"                             \
    "  --lr X               peak learning rate (default 2e-3; warmup then cosine to 10%)\n" \
    "  --warmup N           warmup steps (default 100)\n"                                 \
    "  --clip X             gradient-norm clip (default 1.0; 0 = off)\n"                  \
    "  --val-every N        validation every N steps (default 200)\n"                     \
    "  --checkpoint FILE    checkpoint path (default MODEL.ckpt)\n"                       \
    "  --checkpoint-every N (default 200)\n"                                              \
    "  --log FILE           CSV log (default MODEL.csv)\n"                                \
    "  --resume             continue from the checkpoint (same options required)\n"      \
    "  --init MODEL         start from this model's weights (same architecture, or fewer\n" \
    "                       --stacks: the stacks it lacks start as identity)\n"        \
    "  --seed N             (default 1)   --threads N (1 or 2, default 2)\n"              \
    "  --force              replace MODEL   --quiet   no progress bar\n"

trainer_options trainer_options_default(void);
/* 1 if `id` is a trainer option (applied to o), 0 if not; -1 after a usage error. */
int trainer_option_apply(int id, const char *arg, trainer_options *o);

/* The objective, called by the trainer: draw() picks the step's batch from the one PRNG
 * (single-threaded, in order); shard() adds the gradient of shard s (of TRAINER_SHARDS)
 * to grad (zeroed before) and returns its loss summed over the shard; validate() (may
 * be NULL) returns the validation figure. Losses are reported times loss_scale. */
typedef struct trainer_objective {
    void *ctx;
    void (*draw)(void *ctx, ps_rng *rng);
    double (*shard)(void *ctx, int shard, ps_wavenet *grad);
    double (*validate)(void *ctx);
    double loss_scale, samples_per_step;
    const char *loss_column, *val_column, *unit; /* CSV names; unit for the bar */
} trainer_objective;

typedef struct trainer {
    trainer_options o;
    trainer_objective obj;
    ps_checkpoint ck; /* the model, its AdamW moments, step and PRNG state */
    ps_rng rng;
    ps_adamw adam;
    ps_wavenet *grad[TRAINER_SHARDS];
    FILE *log;
    char ckpt_path[4096], log_path[4096];
} trainer;

/* Names the options the run must share with a resumed one (checked on --resume). */
void trainer_add_extra(trainer *tr, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A new model (cfg, info; the recipe is taken from argv) or, with --resume, the
 * checkpoint's, checked against the options, architecture and info. Returns an exit
 * code (0 = go on). Call after trainer_add_extra(). */
int trainer_start(trainer *tr, const ps_wavenet_config *cfg, const ps_model_info *info,
                  int argc, char **argv);
/* Trains to --steps, logging and checkpointing; writes the model at the end. `label`
 * names the run on the progress bar. Returns the exit code. */
int trainer_run(trainer *tr, const char *label);
void trainer_free(trainer *tr);

/* printable ASCII for model text: other bytes become '?' */
void trainer_printable(char *s);

#endif
