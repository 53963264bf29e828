/* priorsep train prior: trains a noise-conditioned WaveNet prior on audio of one source
 * class (design §2). Seeded and deterministic (the batch is split into a fixed number of
 * gradient shards summed in order, whatever the thread count), checkpointed atomically,
 * resumable bit-exactly, interruptible (Ctrl-C writes a checkpoint). */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_options.h"
#include "cli.h"
#include "prior_data.h"
#include "priorsep/prior.h"
#include "trainer.h"

enum { VAL_CROPS = 32 };

typedef struct train_options {
    trainer_options t;
    const char *source, *data;
    long batch, crop, rate;
    double val_fraction;
    ps_noise_ladder ladder;
    ps_wavenet_config cfg;
} train_options;

static void usage(FILE *f)
{
    fputs("usage: priorsep train prior --source NAME --data DIR --out MODEL [options]\n"
          "\n"
          "Trains a WaveNet prior of one source class on every audio file named NAME.<ext>\n"
          "under DIR (any format libsndfile reads; resampled to --sample-rate). Each file's\n"
          "last --val-fraction is held out for validation. The prior sees s + sigma*eps with\n"
          "sigma drawn per crop from a geometric ladder (or 0, clean) and sigma as\n"
          "conditioning. Writes MODEL when done, a checkpoint MODEL.ckpt every\n"
          "--checkpoint-every steps and on Ctrl-C, and a CSV log MODEL.csv.\n"
          "\n"
          "  --source NAME        source class (file stem), e.g. sine\n"
          "  --data DIR           folder searched recursively\n"
          "  --out MODEL          the trained prior (.safetensors)\n"
          "  --batch N            crops per step (default 8)\n"
          "  --crop N             samples per crop (default 1024)\n"
          "  --levels N --sigma-max X --sigma-min X   noise ladder (default 10, 1.0, 0.01)\n"
          "  --sample-rate HZ     model rate (default 14700)\n"
          "  --val-fraction X     held-out tail of each file (default 0.1)\n"
          TRAINER_OPTIONS_HELP
          ARCH_OPTIONS_HELP
          "\n"
          "example: priorsep data toy --out toy/train --split train --items 200 --seed 1\n"
          "         priorsep train prior --source sine --data toy/train --out sine.safetensors\n",
          f);
}

/* ---- options ---------------------------------------------------------------------- */

static int parse_options(int argc, char **argv, train_options *o)
{
    enum { O_SOURCE = 256, O_DATA, O_BATCH, O_CROP, O_LEVELS, O_SMAX, O_SMIN, O_RATE, O_VALF, O_HELP };
    static const struct option options[] = {
        {"source", required_argument, 0, O_SOURCE}, {"data", required_argument, 0, O_DATA},
        {"batch", required_argument, 0, O_BATCH},   {"crop", required_argument, 0, O_CROP},
        {"levels", required_argument, 0, O_LEVELS}, {"sigma-max", required_argument, 0, O_SMAX},
        {"sigma-min", required_argument, 0, O_SMIN}, {"sample-rate", required_argument, 0, O_RATE},
        {"val-fraction", required_argument, 0, O_VALF}, {"help", no_argument, 0, O_HELP},
        TRAINER_OPTIONS, ARCH_OPTIONS, {0, 0, 0, 0}};
    *o = (train_options){.t = trainer_options_default(), .batch = 8, .crop = 1024, .rate = 14700,
                         .val_fraction = 0.1, .ladder = ps_noise_ladder_default(),
                         .cfg = ps_wavenet_config_reference()};
    o->cfg.cond = PS_PRIOR_COND;
    long levels = o->ladder.levels;
    double smax = o->ladder.sigma_max, smin = o->ladder.sigma_min;
    const cli_int_option ints[] = {
        {O_BATCH, "--batch", &o->batch, 1, 4096}, {O_CROP, "--crop", &o->crop, 2, 1 << 20},
        {O_LEVELS, "--levels", &levels, 1, 100},  {O_RATE, "--sample-rate", &o->rate, 1000, 768000}};
    const cli_real_option reals[] = {
        {O_SMAX, "--sigma-max", &smax, 1e-6, 100.0}, {O_SMIN, "--sigma-min", &smin, 1e-6, 100.0},
        {O_VALF, "--val-fraction", &o->val_fraction, 0.0, 0.5}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        int handled = arch_option_apply(opt, optarg, &o->cfg);
        if (!handled) handled = trainer_option_apply(opt, optarg, &o->t);
        if (!handled)
            handled = cli_apply_numeric_option(opt, optarg, ints, sizeof ints / sizeof ints[0], reals,
                                               sizeof reals / sizeof reals[0]);
        if (handled < 0) return -1;
        if (handled) continue;
        switch (opt) {
        case O_SOURCE: o->source = optarg; break;
        case O_DATA: o->data = optarg; break;
        case O_HELP: usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) return cli_fail(EXIT_USAGE, "%s: unexpected argument (see --help)", argv[optind]), -1;
    if (!o->source || !o->data || !o->t.out)
        return cli_fail(EXIT_USAGE, "%s: missing (see priorsep train prior --help)",
                        !o->source ? "--source" : !o->data ? "--data" : "--out"), -1;
    if (strlen(o->source) >= sizeof ((ps_model_info *)0)->source || strchr(o->source, '/'))
        return cli_fail(EXIT_USAGE, "--source: '%s' is not a short file stem", o->source), -1;
    if (smin > smax) return cli_fail(EXIT_USAGE, "--sigma-min: larger than --sigma-max"), -1;
    if (o->cfg.cond != PS_PRIOR_COND)
        return cli_fail(EXIT_USAGE, "--cond: a prior takes %d conditioning value(s)", PS_PRIOR_COND), -1;
    if (o->cfg.head == PS_HEAD_GAUSSIAN)
        return cli_fail(EXIT_USAGE, "--head: a prior is mol or categorical"), -1;
    o->ladder = (ps_noise_ladder){.levels = (int)levels, .sigma_max = (float)smax, .sigma_min = (float)smin};
    return 0;
}

/* ---- the objective: noise-conditioned NLL ------------------------------------------- */

typedef struct prior_objective {
    train_options o;
    const ps_wavenet *net;
    prior_data data;
    ps_wavenet_acts *acts[TRAINER_SHARDS];
    float *d_out[TRAINER_SHARDS];
    float *batch; /* [batch][crop + 1] noisy crops */
    float *cond;  /* [batch] */
    const float *val[VAL_CROPS];
    int n_val;
} prior_objective;

static double prior_shard(void *ctx, int shard, ps_wavenet *grad)
{
    prior_objective *p = ctx;
    long B = p->o.batch, C = p->o.crop;
    long first = shard * B / TRAINER_SHARDS, last = (shard + 1) * B / TRAINER_SHARDS;
    float scale = 1.0f / (float)(B * C); /* the loss is the mean NLL per sample */
    double nll = 0.0;
    for (long i = first; i < last; i++)
        nll += ps_prior_nll(p->net, p->acts[shard], p->batch + i * (C + 1), (int)C, p->cond + i,
                            grad, scale, p->d_out[shard]);
    return nll;
}

/* Crops, noise levels and noise for one step, drawn in order from the one PRNG. */
static void prior_draw(void *ctx, ps_rng *rng)
{
    prior_objective *p = ctx;
    long C = p->o.crop;
    const ps_noise_ladder *ladder = &p->o.ladder;
    for (long i = 0; i < p->o.batch; i++) {
        const float *crop = prior_data_train_crop(&p->data, C + 1, rng);
        int level = (int)(ps_rng_u64(rng) % (uint64_t)(ladder->levels + 1));
        float sigma = level == ladder->levels ? 0.0f : ps_noise_sigma(ladder, level); /* last: clean */
        float *x = p->batch + i * (C + 1);
        for (long t = 0; t <= C; t++) x[t] = crop[t] + (sigma > 0 ? sigma * ps_rng_normal(rng) : 0.0f);
        ps_noise_cond(ladder, sigma, p->cond + i);
    }
}

/* Mean NLL in bits per sample of the validation crops, clean (sigma = 0). */
static double prior_validate(void *ctx)
{
    prior_objective *p = ctx;
    float cond[PS_PRIOR_COND];
    ps_noise_cond(&p->o.ladder, 0.0f, cond);
    double nll = 0.0;
    for (int i = 0; i < p->n_val; i++)
        nll += ps_prior_nll(p->net, p->acts[0], p->val[i], (int)p->o.crop, cond, NULL, 0, NULL);
    return nll / ((double)p->n_val * p->o.crop) / log(2.0);
}

static int prior_objective_init(prior_objective *p, const ps_wavenet *net)
{
    ps_error err;
    p->net = net;
    if (prior_data_load(&p->data, p->o.data, p->o.source, (int)p->o.rate, p->o.val_fraction, &err))
        return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    if (prior_data_check_crop(&p->data, p->o.crop + 1, p->o.data, &err))
        return cli_fail(EXIT_USAGE, "%s", err.msg);
    size_t C = (size_t)p->o.crop, O = (size_t)ps_wavenet_out_dim(ps_wavenet_config_of(net));
    for (int s = 0; s < TRAINER_SHARDS; s++) {
        p->acts[s] = ps_wavenet_acts_create(net, (int)C, &err);
        p->d_out[s] = malloc(sizeof(float) * C * O);
        if (!p->acts[s] || !p->d_out[s]) return cli_fail(EXIT_RUNTIME, "%s", p->acts[s] ? "out of memory" : err.msg);
    }
    p->batch = malloc(sizeof(float) * (size_t)p->o.batch * (C + 1));
    p->cond = malloc(sizeof(float) * (size_t)p->o.batch);
    if (!p->batch || !p->cond) return cli_fail(EXIT_RUNTIME, "out of memory for the batch");
    p->n_val = prior_data_val_crops(&p->data, p->o.crop + 1, VAL_CROPS, p->val);
    prior_data_warn_no_val(&p->data, p->o.crop + 1, p->o.data);
    return 0;
}

static void prior_objective_free(prior_objective *p)
{
    for (int s = 0; s < TRAINER_SHARDS; s++) {
        ps_wavenet_acts_destroy(p->acts[s]);
        free(p->d_out[s]);
    }
    free(p->batch);
    free(p->cond);
    prior_data_free(&p->data);
}

/* ---- the command -------------------------------------------------------------------- */

int cmd_train_prior(int argc, char **argv)
{
    prior_objective p;
    memset(&p, 0, sizeof p);
    int parsed = parse_options(argc, argv, &p.o);
    if (parsed) return parsed > 0 ? EXIT_OK : EXIT_USAGE;
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.o = p.o.t;
    const train_options *o = &p.o;
    trainer_add_extra(&tr, "train.batch", "%ld", o->batch);
    trainer_add_extra(&tr, "train.crop", "%ld", o->crop);
    trainer_add_extra(&tr, "train.val_fraction", "%.17g", o->val_fraction);
    trainer_add_extra(&tr, "train.data", "%s", o->data);
    ps_model_info info = {.sample_rate = (int)o->rate, .noise_levels = o->ladder.levels,
                          .sigma_max = o->ladder.sigma_max, .sigma_min = o->ladder.sigma_min};
    snprintf(info.source, sizeof info.source, "%s", o->source);
    int rc = trainer_start(&tr, &o->cfg, &info, argc, argv);
    if (!rc) rc = prior_objective_init(&p, tr.ck.net);
    if (!rc) {
        tr.obj = (trainer_objective){.ctx = &p, .draw = prior_draw, .shard = prior_shard,
                                     .validate = p.n_val > 0 ? prior_validate : NULL,
                                     .loss_scale = 1.0 / ((double)o->batch * o->crop * log(2.0)),
                                     .samples_per_step = (double)(o->batch * o->crop),
                                     .loss_column = "train_nll_bits", .val_column = "val_nll_bits",
                                     .unit = "bits"};
        char label[96];
        snprintf(label, sizeof label, "train %s", o->source);
        rc = trainer_run(&tr, label);
    }
    trainer_free(&tr);
    prior_objective_free(&p);
    return rc;
}
