/* priorsep train prior: trains a noise-conditioned WaveNet prior on audio of one source
 * class (design §2). Seeded and deterministic (the batch is split into a fixed number of
 * gradient shards summed in order, whatever the thread count), checkpointed atomically,
 * resumable bit-exactly, interruptible (Ctrl-C writes a checkpoint). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch_options.h"
#include "cli.h"
#include "prior_data.h"
#include "priorsep/checkpoint.h"
#include "priorsep/model_file.h"
#include "priorsep/optim.h"
#include "priorsep/prior.h"
#include "progress.h"

enum { SHARDS = 2, VAL_CROPS = 32 };

typedef struct train_options {
    const char *source, *data, *out, *checkpoint, *log;
    long steps, batch, crop, warmup, seed, val_every, checkpoint_every, threads, rate;
    double lr, clip, val_fraction;
    ps_noise_ladder ladder;
    int resume, force, quiet;
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
          "  --steps N            optimizer steps (default 2000)\n"
          "  --batch N            crops per step (default 8)\n"
          "  --crop N             samples per crop (default 1024)\n"
          "  --lr X               peak learning rate (default 2e-3; warmup then cosine to 10%)\n"
          "  --warmup N           warmup steps (default 100)\n"
          "  --clip X             gradient-norm clip (default 1.0; 0 = off)\n"
          "  --levels N --sigma-max X --sigma-min X   noise ladder (default 10, 1.0, 0.01)\n"
          "  --sample-rate HZ     model rate (default 14700)\n"
          "  --val-fraction X     held-out tail of each file (default 0.1)\n"
          "  --val-every N        validation every N steps (default 200)\n"
          "  --checkpoint FILE    checkpoint path (default MODEL.ckpt)\n"
          "  --checkpoint-every N (default 200)\n"
          "  --log FILE           CSV log (default MODEL.csv)\n"
          "  --resume             continue from the checkpoint (same options required)\n"
          "  --seed N             (default 1)   --threads N (1 or 2, default 2)\n"
          "  --force              replace MODEL   --quiet   no progress bar\n"
          ARCH_OPTIONS_HELP
          "\n"
          "example: priorsep data toy --out toy/train --split train --items 200 --seed 1\n"
          "         priorsep train prior --source sine --data toy/train --out sine.safetensors\n",
          f);
}

/* ---- options ---------------------------------------------------------------------- */

static int parse_options(int argc, char **argv, train_options *o)
{
    enum { O_SOURCE = 256, O_DATA, O_OUT, O_STEPS, O_BATCH, O_CROP, O_LR, O_WARMUP, O_CLIP,
           O_LEVELS, O_SMAX, O_SMIN, O_RATE, O_VALF, O_VALE, O_CKPT, O_CKPTE, O_LOG, O_RESUME,
           O_SEED, O_THREADS, O_FORCE, O_QUIET, O_HELP };
    static const struct option options[] = {
        {"source", required_argument, 0, O_SOURCE}, {"data", required_argument, 0, O_DATA},
        {"out", required_argument, 0, O_OUT},       {"steps", required_argument, 0, O_STEPS},
        {"batch", required_argument, 0, O_BATCH},   {"crop", required_argument, 0, O_CROP},
        {"lr", required_argument, 0, O_LR},         {"warmup", required_argument, 0, O_WARMUP},
        {"clip", required_argument, 0, O_CLIP},     {"levels", required_argument, 0, O_LEVELS},
        {"sigma-max", required_argument, 0, O_SMAX}, {"sigma-min", required_argument, 0, O_SMIN},
        {"sample-rate", required_argument, 0, O_RATE}, {"val-fraction", required_argument, 0, O_VALF},
        {"val-every", required_argument, 0, O_VALE}, {"checkpoint", required_argument, 0, O_CKPT},
        {"checkpoint-every", required_argument, 0, O_CKPTE}, {"log", required_argument, 0, O_LOG},
        {"resume", no_argument, 0, O_RESUME},       {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"force", no_argument, 0, O_FORCE},
        {"quiet", no_argument, 0, O_QUIET},         {"help", no_argument, 0, O_HELP},
        ARCH_OPTIONS,                               {0, 0, 0, 0}};
    *o = (train_options){.steps = 2000, .batch = 8, .crop = 1024, .warmup = 100, .seed = 1,
                         .val_every = 200, .checkpoint_every = 200, .threads = 2, .rate = 14700,
                         .lr = 2e-3, .clip = 1.0, .val_fraction = 0.1,
                         .ladder = ps_noise_ladder_default(), .cfg = ps_wavenet_config_reference()};
    o->cfg.cond = PS_PRIOR_COND;
    long levels = o->ladder.levels;
    double smax = o->ladder.sigma_max, smin = o->ladder.sigma_min;
    struct { int id; const char *name; long *v; long lo, hi; } ints[] = {
        {O_STEPS, "--steps", &o->steps, 1, 100000000}, {O_BATCH, "--batch", &o->batch, 1, 4096},
        {O_CROP, "--crop", &o->crop, 2, 1 << 20},      {O_WARMUP, "--warmup", &o->warmup, 0, 100000000},
        {O_LEVELS, "--levels", &levels, 1, 100},       {O_RATE, "--sample-rate", &o->rate, 1000, 768000},
        {O_VALE, "--val-every", &o->val_every, 1, 100000000},
        {O_CKPTE, "--checkpoint-every", &o->checkpoint_every, 1, 100000000},
        {O_SEED, "--seed", &o->seed, 0, 2147483647L}, {O_THREADS, "--threads", &o->threads, 1, SHARDS}};
    struct { int id; const char *name; double *v; double lo, hi; } reals[] = {
        {O_LR, "--lr", &o->lr, 1e-8, 1.0},      {O_CLIP, "--clip", &o->clip, 0.0, 1e6},
        {O_SMAX, "--sigma-max", &smax, 1e-6, 100.0}, {O_SMIN, "--sigma-min", &smin, 1e-6, 100.0},
        {O_VALF, "--val-fraction", &o->val_fraction, 0.0, 0.5}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        int handled = arch_option_apply(opt, optarg, &o->cfg);
        if (handled < 0) return -1;
        for (size_t i = 0; !handled && i < sizeof ints / sizeof ints[0]; i++)
            if (opt == ints[i].id) {
                if (cli_parse_int(ints[i].name, optarg, ints[i].lo, ints[i].hi, ints[i].v)) return -1;
                handled = 1;
            }
        for (size_t i = 0; !handled && i < sizeof reals / sizeof reals[0]; i++)
            if (opt == reals[i].id) {
                if (cli_parse_double(reals[i].name, optarg, reals[i].lo, reals[i].hi, reals[i].v)) return -1;
                handled = 1;
            }
        if (handled) continue;
        switch (opt) {
        case O_SOURCE: o->source = optarg; break;
        case O_DATA: o->data = optarg; break;
        case O_OUT: o->out = optarg; break;
        case O_CKPT: o->checkpoint = optarg; break;
        case O_LOG: o->log = optarg; break;
        case O_RESUME: o->resume = 1; break;
        case O_FORCE: o->force = 1; break;
        case O_QUIET: o->quiet = 1; break;
        case O_HELP: usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) return cli_fail(EXIT_USAGE, "%s: unexpected argument (see --help)", argv[optind]), -1;
    if (!o->source || !o->data || !o->out)
        return cli_fail(EXIT_USAGE, "%s: missing (see priorsep train prior --help)",
                        !o->source ? "--source" : !o->data ? "--data" : "--out"), -1;
    if (strlen(o->source) >= sizeof ((ps_model_info *)0)->source || strchr(o->source, '/'))
        return cli_fail(EXIT_USAGE, "--source: '%s' is not a short file stem", o->source), -1;
    if (smin > smax) return cli_fail(EXIT_USAGE, "--sigma-min: larger than --sigma-max"), -1;
    if (o->cfg.cond != PS_PRIOR_COND)
        return cli_fail(EXIT_USAGE, "--cond: a prior takes %d conditioning value(s)", PS_PRIOR_COND), -1;
    o->ladder = (ps_noise_ladder){.levels = (int)levels, .sigma_max = (float)smax, .sigma_min = (float)smin};
    return 0;
}

/* ---- the trainer ------------------------------------------------------------------ */

typedef struct trainer {
    train_options o;
    prior_data data;
    ps_checkpoint ck; /* the model, its AdamW moments, step and PRNG state */
    ps_rng rng;
    ps_adamw adam;
    ps_wavenet *grad[SHARDS];
    ps_wavenet_acts *acts[SHARDS];
    float *d_out[SHARDS];
    float *batch; /* [batch][crop + 1] noisy crops */
    float *cond;  /* [batch] */
    const float *val[VAL_CROPS];
    int n_val;
    FILE *log;
} trainer;

typedef struct shard_job {
    trainer *tr;
    int shard;
    double nll; /* nats, summed over the shard's samples */
} shard_job;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void *run_shard(void *arg)
{
    shard_job *j = arg;
    trainer *tr = j->tr;
    long B = tr->o.batch, C = tr->o.crop;
    long first = j->shard * B / SHARDS, last = (j->shard + 1) * B / SHARDS;
    float scale = 1.0f / (float)(B * C); /* the loss is the mean NLL per sample */
    memset(ps_wavenet_params(tr->grad[j->shard]), 0,
           sizeof(float) * ps_wavenet_num_params(tr->grad[j->shard]));
    j->nll = 0.0;
    for (long i = first; i < last; i++)
        j->nll += ps_prior_nll(tr->ck.net, tr->acts[j->shard], tr->batch + i * (C + 1), (int)C,
                               tr->cond + i, tr->grad[j->shard], scale, tr->d_out[j->shard]);
    return NULL;
}

/* Crops, noise levels and noise for one step, drawn in order from the one PRNG. */
static void draw_batch(trainer *tr)
{
    long C = tr->o.crop;
    const ps_noise_ladder *ladder = &tr->o.ladder;
    for (long i = 0; i < tr->o.batch; i++) {
        const float *crop = prior_data_train_crop(&tr->data, C + 1, &tr->rng);
        int level = (int)(ps_rng_u64(&tr->rng) % (uint64_t)(ladder->levels + 1));
        float sigma = level == ladder->levels ? 0.0f : ps_noise_sigma(ladder, level); /* last: clean */
        float *x = tr->batch + i * (C + 1);
        for (long t = 0; t <= C; t++) x[t] = crop[t] + (sigma > 0 ? sigma * ps_rng_normal(&tr->rng) : 0.0f);
        ps_noise_cond(ladder, sigma, tr->cond + i);
    }
}

/* One optimizer step; returns the batch's mean NLL in nats per sample. */
static double train_step(trainer *tr, double *grad_norm, float *lr)
{
    draw_batch(tr);
    shard_job jobs[SHARDS];
    pthread_t thread;
    int threaded = 0;
    for (int s = 0; s < SHARDS; s++) jobs[s] = (shard_job){.tr = tr, .shard = s};
    if (tr->o.threads > 1) threaded = pthread_create(&thread, NULL, run_shard, &jobs[1]) == 0;
    run_shard(&jobs[0]);
    if (threaded)
        pthread_join(thread, NULL);
    else
        run_shard(&jobs[1]);
    /* shards are summed in a fixed order: the result does not depend on --threads */
    size_t n = ps_wavenet_num_params(tr->ck.net);
    float *g = ps_wavenet_params(tr->grad[0]), *g1 = ps_wavenet_params(tr->grad[1]);
    for (size_t i = 0; i < n; i++) g[i] += g1[i];
    *grad_norm = ps_clip_grad_norm(g, n, tr->o.clip);
    tr->ck.step++;
    *lr = ps_lr_schedule(tr->ck.step - 1, tr->o.steps, tr->o.warmup, (float)tr->o.lr, 0.1f);
    tr->adam.lr = *lr;
    ps_adamw_step(&tr->adam, tr->ck.step, ps_wavenet_params(tr->ck.net), g,
                  ps_wavenet_params(tr->ck.adam_m), ps_wavenet_params(tr->ck.adam_v), n);
    return (jobs[0].nll + jobs[1].nll) / (double)(tr->o.batch * tr->o.crop);
}

/* Mean NLL in bits per sample of the validation crops, clean (sigma = 0). */
static double validate(trainer *tr)
{
    float cond[PS_PRIOR_COND];
    ps_noise_cond(&tr->o.ladder, 0.0f, cond);
    double nll = 0.0;
    for (int i = 0; i < tr->n_val; i++)
        nll += ps_prior_nll(tr->ck.net, tr->acts[0], tr->val[i], (int)tr->o.crop, cond, NULL, 0, NULL);
    return nll / ((double)tr->n_val * tr->o.crop) / log(2.0);
}

/* ---- checkpoints -------------------------------------------------------------------- */

/* Model and checkpoint text is printable ASCII; other bytes (a UTF-8 path, say) become
 * '?' here rather than make the save at the end of a long run fail. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) *s = '?';
}

/* The options a resumed run must share with the run that wrote the checkpoint (the
 * architecture is in the checkpoint itself). */
static void options_to_extras(const train_options *o, ps_checkpoint *ck)
{
    struct { const char *key; double value; } v[] = {
        {"train.steps", (double)o->steps},   {"train.batch", (double)o->batch},
        {"train.crop", (double)o->crop},     {"train.warmup", (double)o->warmup},
        {"train.seed", (double)o->seed},     {"train.lr", o->lr},
        {"train.clip", o->clip},             {"train.val_fraction", o->val_fraction},
        {"train.levels", o->ladder.levels},  {"train.sigma_max", o->ladder.sigma_max},
        {"train.sigma_min", o->ladder.sigma_min}};
    ck->n_extra = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++, ck->n_extra++) {
        snprintf(ck->extra_key[ck->n_extra], sizeof ck->extra_key[0], "%s", v[i].key);
        snprintf(ck->extra_value[ck->n_extra], sizeof ck->extra_value[0], "%.17g", v[i].value);
    }
    snprintf(ck->extra_key[ck->n_extra], sizeof ck->extra_key[0], "train.data");
    snprintf(ck->extra_value[ck->n_extra], sizeof ck->extra_value[0], "%s", o->data);
    printable(ck->extra_value[ck->n_extra]);
    ck->n_extra++;
}

static int check_resumable(const trainer *tr, const ps_checkpoint *now)
{
    const ps_checkpoint *ck = &tr->ck;
    for (int i = 0; i < now->n_extra; i++) {
        const char *saved = NULL;
        for (int j = 0; j < ck->n_extra; j++)
            if (strcmp(ck->extra_key[j], now->extra_key[i]) == 0) saved = ck->extra_value[j];
        if (!saved || strcmp(saved, now->extra_value[i]) != 0)
            return cli_fail(EXIT_RUNTIME, "%s: was written with %s = %s, this run has %s: "
                            "resume with the same options", tr->o.checkpoint, now->extra_key[i],
                            saved ? saved : "(none)", now->extra_value[i]);
    }
    const ps_wavenet_config *a = ps_wavenet_config_of(ck->net), *b = &tr->o.cfg;
    int same = ps_wavenet_config_equal(a, b);
    if (!same)
        return cli_fail(EXIT_RUNTIME, "%s: holds another architecture than the options give "
                        "(%d x %d layers, %d channels): resume with the same options",
                        tr->o.checkpoint, a->stacks, a->layers, a->residual);
    if (ck->info.sample_rate != tr->o.rate || strcmp(ck->info.source, tr->o.source) != 0)
        return cli_fail(EXIT_RUNTIME, "%s: is a %s prior at %d Hz, not %s at %ld Hz",
                        tr->o.checkpoint, ck->info.source, ck->info.sample_rate, tr->o.source, tr->o.rate);
    return 0;
}

static int save_checkpoint(trainer *tr)
{
    ps_error err;
    tr->ck.rng[0] = tr->rng.s[0], tr->ck.rng[1] = tr->rng.s[1];
    if (ps_checkpoint_save(tr->o.checkpoint, &tr->ck, &err))
        return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    return 0;
}

/* A new run: fresh model and moments; or --resume: the checkpoint's. */
static int start_state(trainer *tr, int argc, char **argv)
{
    ps_error err;
    ps_checkpoint now = {0};
    options_to_extras(&tr->o, &now);
    if (tr->o.resume) {
        if (ps_checkpoint_load(tr->o.checkpoint, &tr->ck, &err)) return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        if (check_resumable(tr, &now)) return EXIT_RUNTIME;
        tr->rng.s[0] = tr->ck.rng[0], tr->rng.s[1] = tr->ck.rng[1];
        return 0;
    }
    if (!tr->o.force && (access(tr->o.out, F_OK) == 0 || access(tr->o.checkpoint, F_OK) == 0))
        return cli_fail(EXIT_RUNTIME, "%s: exists (use --resume to continue training, --force to start over)",
                        access(tr->o.out, F_OK) == 0 ? tr->o.out : tr->o.checkpoint);
    tr->ck.net = ps_wavenet_create(&tr->o.cfg, &err);
    tr->ck.adam_m = tr->ck.net ? ps_wavenet_create(&tr->o.cfg, &err) : NULL;
    tr->ck.adam_v = tr->ck.adam_m ? ps_wavenet_create(&tr->o.cfg, &err) : NULL;
    if (!tr->ck.adam_v) return cli_fail(EXIT_USAGE, "%s", err.msg);
    ps_wavenet_init_random(tr->ck.net, (uint64_t)tr->o.seed);
    ps_rng_seed(&tr->rng, (uint64_t)tr->o.seed + 0x5eed);
    tr->ck.info.sample_rate = (int)tr->o.rate;
    tr->ck.info.noise_levels = tr->o.ladder.levels;
    tr->ck.info.sigma_max = tr->o.ladder.sigma_max;
    tr->ck.info.sigma_min = tr->o.ladder.sigma_min;
    snprintf(tr->ck.info.source, sizeof tr->ck.info.source, "%s", tr->o.source);
    /* the recipe: the command that made the model ("priorsep train prior ...") */
    char *recipe = tr->ck.info.recipe;
    size_t cap = sizeof tr->ck.info.recipe, used = (size_t)snprintf(recipe, cap, "priorsep train");
    for (int i = 0; i < argc && used < cap; i++)
        used += (size_t)snprintf(recipe + used, cap - used, " %s", argv[i]);
    printable(recipe);
    tr->ck.n_extra = now.n_extra;
    memcpy(tr->ck.extra_key, now.extra_key, sizeof now.extra_key);
    memcpy(tr->ck.extra_value, now.extra_value, sizeof now.extra_value);
    return 0;
}

static int allocate_work(trainer *tr)
{
    ps_error err;
    const ps_wavenet_config *cfg = ps_wavenet_config_of(tr->ck.net);
    size_t C = (size_t)tr->o.crop, O = (size_t)ps_wavenet_out_dim(cfg);
    for (int s = 0; s < SHARDS; s++) {
        tr->grad[s] = ps_wavenet_create(cfg, &err);
        tr->acts[s] = tr->grad[s] ? ps_wavenet_acts_create(tr->ck.net, (int)C, &err) : NULL;
        tr->d_out[s] = malloc(sizeof(float) * C * O);
        if (!tr->acts[s] || !tr->d_out[s]) return cli_fail(EXIT_RUNTIME, "%s", tr->acts[s] ? "out of memory" : err.msg);
    }
    tr->batch = malloc(sizeof(float) * (size_t)tr->o.batch * (C + 1));
    tr->cond = malloc(sizeof(float) * (size_t)tr->o.batch);
    if (!tr->batch || !tr->cond) return cli_fail(EXIT_RUNTIME, "out of memory for the batch");
    tr->n_val = prior_data_val_crops(&tr->data, tr->o.crop + 1, VAL_CROPS, tr->val);
    return 0;
}

static void free_trainer(trainer *tr)
{
    for (int s = 0; s < SHARDS; s++) {
        ps_wavenet_destroy(tr->grad[s]);
        ps_wavenet_acts_destroy(tr->acts[s]);
        free(tr->d_out[s]);
    }
    free(tr->batch);
    free(tr->cond);
    ps_checkpoint_free(&tr->ck);
    prior_data_free(&tr->data);
    if (tr->log) fclose(tr->log);
}

static FILE *open_log(const char *path, int append)
{
    FILE *f = fopen(path, append ? "a" : "w");
    if (f && !append) fputs("step,lr,train_nll_bits,grad_norm,val_nll_bits,samples_per_s\n", f);
    return f;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the command -------------------------------------------------------------------- */

int cmd_train_prior(int argc, char **argv)
{
    trainer tr;
    memset(&tr, 0, sizeof tr);
    int parsed = parse_options(argc, argv, &tr.o);
    if (parsed) return parsed > 0 ? EXIT_OK : EXIT_USAGE;
    char ckpt_path[4096], log_path[4096];
    snprintf(ckpt_path, sizeof ckpt_path, "%s.ckpt", tr.o.out);
    snprintf(log_path, sizeof log_path, "%s.csv", tr.o.out);
    if (!tr.o.checkpoint) tr.o.checkpoint = ckpt_path;
    if (!tr.o.log) tr.o.log = log_path;
    tr.adam = ps_adamw_default();

    ps_error err;
    int rc = start_state(&tr, argc, argv);
    if (!rc && prior_data_load(&tr.data, tr.o.data, tr.o.source, (int)tr.o.rate, tr.o.val_fraction, &err))
        rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
    if (!rc && prior_data_check_crop(&tr.data, tr.o.crop + 1, tr.o.data, &err))
        rc = cli_fail(EXIT_USAGE, "%s", err.msg);
    if (!rc) rc = allocate_work(&tr);
    if (!rc && !(tr.log = open_log(tr.o.log, tr.o.resume)))
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot write the log: %s", tr.o.log, strerror(errno));
    if (rc) {
        free_trainer(&tr);
        return rc;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    progress bar;
    char label[96];
    snprintf(label, sizeof label, "train %s", tr.o.source);
    progress_start(&bar, label, "steps", (double)tr.o.steps, tr.o.quiet);
    double val_bits = NAN, t0 = seconds_now();
    long first_step = tr.ck.step;
    while (!rc && tr.ck.step < tr.o.steps && !interrupted) {
        double norm, t = seconds_now();
        float lr;
        double nll = train_step(&tr, &norm, &lr);
        double rate = (double)(tr.o.batch * tr.o.crop) / (seconds_now() - t);
        int last = tr.ck.step == tr.o.steps;
        int do_val = tr.n_val > 0 && (tr.ck.step % tr.o.val_every == 0 || last);
        if (do_val) val_bits = validate(&tr);
        fprintf(tr.log, "%ld,%.6g,%.6f,%.6g,", tr.ck.step, lr, nll / log(2.0), norm);
        if (do_val) fprintf(tr.log, "%.6f", val_bits);
        fprintf(tr.log, ",%.0f\n", rate);
        fflush(tr.log);
        if (!isfinite(nll)) rc = cli_fail(EXIT_RUNTIME, "%s: the loss diverged at step %ld (lower --lr?)", tr.o.out, tr.ck.step);
        if (!rc && (tr.ck.step % tr.o.checkpoint_every == 0 || last)) rc = save_checkpoint(&tr);
        snprintf(bar.note, sizeof bar.note, "train %.3f bits  val %.3f bits", nll / log(2.0), val_bits);
        progress_update(&bar, (double)tr.ck.step);
    }
    progress_finish(&bar, (double)tr.ck.step);
    if (!rc && interrupted) {
        rc = save_checkpoint(&tr);
        if (!rc) rc = cli_fail(130, "%s: interrupted at step %ld; checkpoint %s written, continue with --resume",
                               tr.o.out, tr.ck.step, tr.o.checkpoint);
    }
    if (!rc) {
        if (ps_model_save(tr.o.out, tr.ck.net, &tr.ck.info, &err))
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
        else if (!tr.o.quiet)
            fprintf(stderr, "priorsep: %s: %ld steps (%ld this run, %.0f s), validation NLL %.3f bits/sample\n",
                    tr.o.out, tr.ck.step, tr.ck.step - first_step, seconds_now() - t0, val_bits);
    }
    free_trainer(&tr);
    return rc;
}
