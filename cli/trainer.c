#define _GNU_SOURCE
#include "trainer.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "priorsep/model_file.h"
#include "progress.h"

trainer_options trainer_options_default(void)
{
    return (trainer_options){.steps = 2000, .warmup = 100, .seed = 1, .val_every = 200,
                             .checkpoint_every = 200, .threads = 2, .lr = 2e-3, .clip = 1.0};
}

int trainer_option_apply(int id, const char *arg, trainer_options *o)
{
    const cli_int_option ints[] = {
        {2001, "--steps", &o->steps, 1, 100000000},   {2003, "--warmup", &o->warmup, 0, 100000000},
        {2005, "--val-every", &o->val_every, 1, 100000000},
        {2007, "--checkpoint-every", &o->checkpoint_every, 1, 100000000},
        {2010, "--seed", &o->seed, 0, 2147483647L}, {2011, "--threads", &o->threads, 1, TRAINER_SHARDS}};
    const cli_real_option reals[] = {{2002, "--lr", &o->lr, 1e-8, 1.0}, {2004, "--clip", &o->clip, 0.0, 1e6}};
    int handled = cli_apply_numeric_option(id, arg, ints, sizeof ints / sizeof ints[0], reals,
                                           sizeof reals / sizeof reals[0]);
    if (handled) return handled;
    switch (id) {
    case 2000: o->out = arg; return 1;
    case 2006: o->checkpoint = arg; return 1;
    case 2008: o->log = arg; return 1;
    case 2009: o->resume = 1; return 1;
    case 2012: o->force = 1; return 1;
    case 2013: o->quiet = 1; return 1;
    case 2014: o->init = arg; return 1;
    default: return 0;
    }
}

void trainer_printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) *s = '?';
}

void trainer_add_extra(trainer *tr, const char *key, const char *fmt, ...)
{
    ps_checkpoint *ck = &tr->ck;
    if (ck->n_extra == PS_CHECKPOINT_MAX_EXTRA) return;
    snprintf(ck->extra_key[ck->n_extra], sizeof ck->extra_key[0], "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ck->extra_value[ck->n_extra], sizeof ck->extra_value[0], fmt, ap);
    va_end(ap);
    trainer_printable(ck->extra_value[ck->n_extra]);
    ck->n_extra++;
}

static void add_common_extras(trainer *tr)
{
    const trainer_options *o = &tr->o;
    trainer_add_extra(tr, "train.steps", "%ld", o->steps);
    trainer_add_extra(tr, "train.warmup", "%ld", o->warmup);
    trainer_add_extra(tr, "train.seed", "%ld", o->seed);
    trainer_add_extra(tr, "train.lr", "%.17g", o->lr);
    trainer_add_extra(tr, "train.clip", "%.17g", o->clip);
    trainer_add_extra(tr, "train.init", "%s", o->init ? o->init : "");
}

/* --init: the weights of an existing model of the same architecture, or of one with
 * fewer stacks, which the new stacks deepen (they start as identity). */
static int load_init(trainer *tr, const ps_wavenet_config *cfg)
{
    ps_error err;
    ps_wavenet *init = ps_model_load(tr->o.init, NULL, &err);
    if (!init) return cli_fail(EXIT_RUNTIME, "--init: %s", err.msg);
    int rc = 0;
    if (ps_wavenet_config_equal(ps_wavenet_config_of(init), cfg))
        memcpy(ps_wavenet_params(tr->ck.net), ps_wavenet_params(init),
               sizeof(float) * ps_wavenet_num_params(init));
    else if (ps_wavenet_grow(tr->ck.net, init, &err))
        rc = cli_fail(EXIT_USAGE, "--init: %s has another architecture than the options give (%s)",
                      tr->o.init, err.msg);
    ps_wavenet_destroy(init);
    return rc;
}

static int same_info(const ps_model_info *a, const ps_model_info *b)
{
    if (a->sample_rate != b->sample_rate || strcmp(a->source, b->source) != 0 ||
        a->noise_levels != b->noise_levels || a->sigma_max != b->sigma_max ||
        a->sigma_min != b->sigma_min || a->n_sources != b->n_sources ||
        a->lookahead != b->lookahead)
        return 0;
    for (int k = 0; k < a->n_sources; k++)
        if (strcmp(a->sources[k], b->sources[k]) != 0 || a->weights[k] != b->weights[k]) return 0;
    return 1;
}

/* The checkpoint's extras against this run's (in now). */
static int check_resumable(const trainer *tr, const ps_checkpoint *now, const ps_wavenet_config *cfg,
                           const ps_model_info *info)
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
    const ps_wavenet_config *a = ps_wavenet_config_of(ck->net);
    if (!ps_wavenet_config_equal(a, cfg))
        return cli_fail(EXIT_RUNTIME, "%s: holds another architecture than the options give "
                        "(%d x %d layers, %d channels): resume with the same options",
                        tr->o.checkpoint, a->stacks, a->layers, a->residual);
    if (!same_info(&ck->info, info))
        return cli_fail(EXIT_RUNTIME, "%s: is another model (source %s, %d sources, %d Hz) than "
                        "this run makes: resume with the same options", tr->o.checkpoint,
                        ck->info.source[0] ? ck->info.source : "-", ck->info.n_sources,
                        ck->info.sample_rate);
    return 0;
}

int trainer_start(trainer *tr, const ps_wavenet_config *cfg, const ps_model_info *info,
                  int argc, char **argv)
{
    ps_error err;
    if (!tr->o.checkpoint) {
        snprintf(tr->ckpt_path, sizeof tr->ckpt_path, "%s.ckpt", tr->o.out);
        tr->o.checkpoint = tr->ckpt_path;
    }
    if (!tr->o.log) {
        snprintf(tr->log_path, sizeof tr->log_path, "%s.csv", tr->o.out);
        tr->o.log = tr->log_path;
    }
    tr->adam = ps_adamw_default();
    add_common_extras(tr);
    if (tr->o.resume) {
        ps_checkpoint now = tr->ck;
        if (ps_checkpoint_load(tr->o.checkpoint, &tr->ck, &err)) return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        if (check_resumable(tr, &now, cfg, info)) return EXIT_RUNTIME;
        tr->rng.s[0] = tr->ck.rng[0], tr->rng.s[1] = tr->ck.rng[1];
        return 0;
    }
    if (!tr->o.force && (access(tr->o.out, F_OK) == 0 || access(tr->o.checkpoint, F_OK) == 0))
        return cli_fail(EXIT_RUNTIME, "%s: exists (use --resume to continue training, --force to start over)",
                        access(tr->o.out, F_OK) == 0 ? tr->o.out : tr->o.checkpoint);
    tr->ck.net = ps_wavenet_create(cfg, &err);
    tr->ck.adam_m = tr->ck.net ? ps_wavenet_create(cfg, &err) : NULL;
    tr->ck.adam_v = tr->ck.adam_m ? ps_wavenet_create(cfg, &err) : NULL;
    if (!tr->ck.adam_v) return cli_fail(EXIT_USAGE, "%s", err.msg);
    ps_wavenet_init_random(tr->ck.net, (uint64_t)tr->o.seed);
    if (tr->o.init && load_init(tr, cfg)) return EXIT_RUNTIME;
    ps_rng_seed(&tr->rng, (uint64_t)tr->o.seed + 0x5eed);
    tr->ck.info = *info;
    /* the recipe: the command that made the model ("priorsep train ...") */
    char *recipe = tr->ck.info.recipe;
    size_t cap = sizeof tr->ck.info.recipe, used = (size_t)snprintf(recipe, cap, "priorsep train");
    for (int i = 0; i < argc && used < cap; i++)
        used += (size_t)snprintf(recipe + used, cap - used, " %s", argv[i]);
    trainer_printable(recipe);
    return 0;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct shard_job {
    trainer *tr;
    int shard;
    double loss;
} shard_job;

static void *run_shard(void *arg)
{
    shard_job *j = arg;
    ps_wavenet *g = j->tr->grad[j->shard];
    memset(ps_wavenet_params(g), 0, sizeof(float) * ps_wavenet_num_params(g));
    j->loss = j->tr->obj.shard(j->tr->obj.ctx, j->shard, g);
    return NULL;
}

/* One optimizer step; returns the batch's loss times loss_scale. */
static double train_step(trainer *tr, double *grad_norm, float *lr)
{
    tr->obj.draw(tr->obj.ctx, &tr->rng);
    shard_job jobs[TRAINER_SHARDS];
    pthread_t thread;
    int threaded = 0;
    for (int s = 0; s < TRAINER_SHARDS; s++) jobs[s] = (shard_job){.tr = tr, .shard = s};
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
    return (jobs[0].loss + jobs[1].loss) * tr->obj.loss_scale;
}

static int save_checkpoint(trainer *tr)
{
    ps_error err;
    tr->ck.rng[0] = tr->rng.s[0], tr->ck.rng[1] = tr->rng.s[1];
    if (ps_checkpoint_save(tr->o.checkpoint, &tr->ck, &err))
        return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    return 0;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int open_log(trainer *tr)
{
    FILE *f = fopen(tr->o.log, tr->o.resume ? "a" : "w");
    if (!f) return cli_fail(EXIT_RUNTIME, "%s: cannot write the log: %s", tr->o.log, strerror(errno));
    if (!tr->o.resume)
        fprintf(f, "step,lr,%s,grad_norm,%s,samples_per_s\n", tr->obj.loss_column, tr->obj.val_column);
    tr->log = f;
    return 0;
}

int trainer_run(trainer *tr, const char *label)
{
    ps_error err;
    int rc = 0;
    for (int s = 0; !rc && s < TRAINER_SHARDS; s++)
        if (!(tr->grad[s] = ps_wavenet_create(ps_wavenet_config_of(tr->ck.net), &err)))
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
    if (rc || (rc = open_log(tr))) return rc;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    progress bar;
    progress_start(&bar, label, "steps", (double)tr->o.steps, tr->o.quiet);
    double val = NAN, t0 = seconds_now();
    long first_step = tr->ck.step;
    while (!rc && tr->ck.step < tr->o.steps && !interrupted) {
        double norm, t = seconds_now();
        float lr;
        double loss = train_step(tr, &norm, &lr);
        double rate = tr->obj.samples_per_step / (seconds_now() - t);
        int last = tr->ck.step == tr->o.steps;
        int do_val = tr->obj.validate && (tr->ck.step % tr->o.val_every == 0 || last);
        if (do_val) val = tr->obj.validate(tr->obj.ctx);
        fprintf(tr->log, "%ld,%.6g,%.6f,%.6g,", tr->ck.step, lr, loss, norm);
        if (do_val) fprintf(tr->log, "%.6f", val);
        fprintf(tr->log, ",%.0f\n", rate);
        fflush(tr->log);
        if (!isfinite(loss))
            rc = cli_fail(EXIT_RUNTIME, "%s: the loss diverged at step %ld (lower --lr?)", tr->o.out, tr->ck.step);
        if (!rc && (tr->ck.step % tr->o.checkpoint_every == 0 || last)) rc = save_checkpoint(tr);
        snprintf(bar.note, sizeof bar.note, "train %.3f  val %.3f %s", loss, val, tr->obj.unit);
        progress_update(&bar, (double)tr->ck.step);
    }
    progress_finish(&bar, (double)tr->ck.step);
    if (!rc && interrupted) {
        rc = save_checkpoint(tr);
        if (!rc) rc = cli_fail(130, "%s: interrupted at step %ld; checkpoint %s written, continue with --resume",
                               tr->o.out, tr->ck.step, tr->o.checkpoint);
    }
    if (!rc) {
        if (ps_model_save(tr->o.out, tr->ck.net, &tr->ck.info, &err))
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
        else if (!tr->o.quiet)
            fprintf(stderr, "priorsep: %s: %ld steps (%ld this run, %.0f s), validation %.3f %s\n",
                    tr->o.out, tr->ck.step, tr->ck.step - first_step, seconds_now() - t0, val, tr->obj.unit);
    }
    return rc;
}

void trainer_free(trainer *tr)
{
    for (int s = 0; s < TRAINER_SHARDS; s++) ps_wavenet_destroy(tr->grad[s]);
    ps_checkpoint_free(&tr->ck);
    if (tr->log) fclose(tr->log);
}
