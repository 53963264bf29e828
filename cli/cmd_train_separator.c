/* priorsep train separator: trains the variational separator q(s | m) (design §3) with
 * one of three objectives:
 *   supervised    mixtures and their true sources: Gaussian NLL (+ negative SI-SDR);
 *   unsupervised  mixtures alone and the frozen priors: minus the ELBO. The mixtures are
 *                 read by a loader that takes no source names, so no true source can
 *                 reach this objective;
 *   semi          both, weighted: true sources from --data, mixtures from --mixtures.
 * The loop (shards, AdamW, checkpoints, resume, log, Ctrl-C) is trainer.c's. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_options.h"
#include "cli.h"
#include "prior_data.h"
#include "priorsep/metrics.h"
#include "priorsep/separator.h"
#include "priorsep/separator_loss.h"
#include "priorsep/wavenet_train.h"
#include "trainer.h"

enum { VAL_CROPS = 32 };
typedef enum { SUPERVISED, UNSUPERVISED, SEMI } objective_kind;

typedef struct sep_options {
    trainer_options t;
    objective_kind kind;
    const char *data, *mixtures, *priors;
    long batch, crop, lookahead, rate;
    double val_fraction, nll_beta, si_weight, gamma, beta, sigma_start, sigma_end, sup_weight, unsup_weight;
    ps_model_info info; /* sources and weights */
    ps_wavenet_config cfg;
} sep_options;

static void usage(FILE *f)
{
    fputs("usage: priorsep train separator --data DIR --out MODEL [options]\n"
          "\n"
          "Trains the separator: a WaveNet over the mixture whose output at time t is a\n"
          "Gaussian (mean, log-scale) for every source at time t - L (L: --lookahead).\n"
          "Items are folders as `priorsep data toy` writes them: mix.<ext> and\n"
          "<source>.<ext> per source. Each file's last --val-fraction is held out.\n"
          "\n"
          "  --objective supervised     -log q(true sources | mixture), + --si-sdr-weight times\n"
          "                             the negative SI-SDR of the means (default)\n"
          "  --objective unsupervised   minus the ELBO with the frozen priors of --priors, from\n"
          "                             the mixtures of --data alone (no source file is read)\n"
          "  --objective semi           --sup-weight x supervised on --data + --unsup-weight x\n"
          "                             unsupervised on the mixtures of --mixtures DIR\n"
          "\n"
          "  --data DIR           training items (searched recursively)\n"
          "  --out MODEL          the separator (.safetensors); put it beside the priors\n"
          "  --priors DIR         folder of <source>.safetensors priors (needed unless supervised)\n"
          "  --sources A,B,..     source names in output order (default sine,square,sawtooth,triangle)\n"
          "  --weights X,Y,..     mixing weights, m = sum_k w_k s_k (default 1/N each)\n"
          "  --lookahead L        samples of future the separator sees (default 256)\n"
          "  --batch N            crops per step (default 4)\n"
          "  --crop N             mixture samples per crop, lookahead included (default 4096;\n"
          "                       longer than the receptive field, so most rows see a full past)\n"
          "  --nll-beta X         supervised: weight each sample's NLL by sigma^(2X), held\n"
          "                       constant in the gradient (beta-NLL; 0 = plain NLL, default;\n"
          "                       1 = squared-error gradient for the means), so the sources\n"
          "                       predicted well do not take the gradient from the hard ones\n"
          "  --si-sdr-weight X    supervised: weight of -SI-SDR (dB, per source) against the\n"
          "                       NLL per sample (default 0)\n"
          "  --gamma X            unsupervised: std of p(m | s) (default 0.02)\n"
          "  --beta X             unsupervised: weight of the prior term (default 1)\n"
          "  --sigma-start X --sigma-end X   unsupervised: the priors' noise level, annealed\n"
          "                       geometrically over the run (default 0.3 to 0.03)\n"
          "  --sup-weight X --unsup-weight X   semi: weights of the two terms (default 1, 1)\n"
          "  --sample-rate HZ     model rate (default: the priors', else 14700)\n"
          "  --val-fraction X     held-out tail of each file (default 0.1)\n"
          TRAINER_OPTIONS_HELP
          "  architecture: as train prior (--stacks, --layers, --residual, ...); the head is\n"
          "                       always Gaussian with one output per source, no conditioning\n"
          "\n"
          "Validation: the mean SI-SDR (dB) of the means on held-out crops (supervised, semi),\n"
          "or minus the ELBO per sample on held-out mixtures (unsupervised).\n"
          "\n"
          "example: priorsep train separator --data toy/train --priors models/toy \\\n"
          "           --out models/toy/separator.safetensors --steps 3000\n",
          f);
}

/* ---- options ------------------------------------------------------------------------ */

static int parse_options(int argc, char **argv, sep_options *o)
{
    enum { O_OBJ = 256, O_DATA, O_MIX, O_PRIORS, O_SOURCES, O_WEIGHTS, O_LOOK, O_BATCH, O_CROP,
           O_NLLB, O_SI, O_GAMMA, O_BETA, O_SSTART, O_SEND, O_SUPW, O_UNSUPW, O_RATE, O_VALF, O_HELP };
    static const struct option options[] = {
        {"objective", required_argument, 0, O_OBJ}, {"data", required_argument, 0, O_DATA},
        {"mixtures", required_argument, 0, O_MIX},  {"priors", required_argument, 0, O_PRIORS},
        {"sources", required_argument, 0, O_SOURCES}, {"weights", required_argument, 0, O_WEIGHTS},
        {"lookahead", required_argument, 0, O_LOOK}, {"batch", required_argument, 0, O_BATCH},
        {"crop", required_argument, 0, O_CROP},     {"si-sdr-weight", required_argument, 0, O_SI},
        {"nll-beta", required_argument, 0, O_NLLB},
        {"gamma", required_argument, 0, O_GAMMA},   {"beta", required_argument, 0, O_BETA},
        {"sigma-start", required_argument, 0, O_SSTART}, {"sigma-end", required_argument, 0, O_SEND},
        {"sup-weight", required_argument, 0, O_SUPW}, {"unsup-weight", required_argument, 0, O_UNSUPW},
        {"sample-rate", required_argument, 0, O_RATE}, {"val-fraction", required_argument, 0, O_VALF},
        {"help", no_argument, 0, O_HELP}, TRAINER_OPTIONS, ARCH_OPTIONS, {0, 0, 0, 0}};
    *o = (sep_options){.t = trainer_options_default(), .batch = 4, .crop = 4096, .lookahead = 256,
                       .val_fraction = 0.1, .gamma = 0.02, .beta = 1.0, .sigma_start = 0.3,
                       .sigma_end = 0.03, .sup_weight = 1.0, .unsup_weight = 1.0,
                       .cfg = ps_wavenet_config_reference()};
    cli_parse_names("--sources", "sine,square,sawtooth,triangle", o->info.sources, PS_MAX_SOURCES,
                    &o->info.n_sources);
    const char *weights = NULL;
    const cli_int_option ints[] = {
        {O_LOOK, "--lookahead", &o->lookahead, 0, PS_MAX_LOOKAHEAD},
        {O_BATCH, "--batch", &o->batch, 1, 4096}, {O_CROP, "--crop", &o->crop, 2, 1 << 20},
        {O_RATE, "--sample-rate", &o->rate, 1000, 768000}};
    const cli_real_option reals[] = {
        {O_NLLB, "--nll-beta", &o->nll_beta, 0.0, 1.0},
        {O_SI, "--si-sdr-weight", &o->si_weight, 0.0, 1e3}, {O_GAMMA, "--gamma", &o->gamma, 1e-4, 10.0},
        {O_BETA, "--beta", &o->beta, 0.0, 1e3},  {O_SSTART, "--sigma-start", &o->sigma_start, 1e-6, 100.0},
        {O_SEND, "--sigma-end", &o->sigma_end, 1e-6, 100.0}, {O_SUPW, "--sup-weight", &o->sup_weight, 0.0, 1e3},
        {O_UNSUPW, "--unsup-weight", &o->unsup_weight, 0.0, 1e3},
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
        case O_OBJ:
            if (strcmp(optarg, "supervised") == 0) o->kind = SUPERVISED;
            else if (strcmp(optarg, "unsupervised") == 0) o->kind = UNSUPERVISED;
            else if (strcmp(optarg, "semi") == 0) o->kind = SEMI;
            else return cli_fail(EXIT_USAGE, "--objective: expected supervised, unsupervised or semi, got '%s'", optarg), -1;
            break;
        case O_DATA: o->data = optarg; break;
        case O_MIX: o->mixtures = optarg; break;
        case O_PRIORS: o->priors = optarg; break;
        case O_SOURCES:
            if (cli_parse_names("--sources", optarg, o->info.sources, PS_MAX_SOURCES, &o->info.n_sources)) return -1;
            break;
        case O_WEIGHTS: weights = optarg; break;
        case O_HELP: usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) return cli_fail(EXIT_USAGE, "%s: unexpected argument (see --help)", argv[optind]), -1;
    if (!o->data || !o->t.out)
        return cli_fail(EXIT_USAGE, "%s: missing (see priorsep train separator --help)",
                        !o->data ? "--data" : "--out"), -1;
    if (o->kind != SUPERVISED && !o->priors)
        return cli_fail(EXIT_USAGE, "--priors: the %s objective needs the priors",
                        o->kind == SEMI ? "semi-supervised" : "unsupervised"), -1;
    if ((o->kind == SEMI) != (o->mixtures != NULL))
        return cli_fail(EXIT_USAGE, "--mixtures: %s", o->kind == SEMI ? "the semi objective needs it"
                                                                       : "only the semi objective reads it"), -1;
    if (o->crop <= o->lookahead + 1)
        return cli_fail(EXIT_USAGE, "--crop: %ld samples leave nothing to score after the lookahead of %ld",
                        o->crop, o->lookahead), -1;
    int N = o->info.n_sources;
    for (int k = 0; k < N; k++) o->info.weights[k] = 1.0f / (float)N;
    if (weights && cli_parse_numbers("--weights", weights, 1e-6, PS_MAX_WEIGHT, o->info.weights, N)) return -1;
    o->info.lookahead = (int)o->lookahead;
    o->cfg.head = PS_HEAD_GAUSSIAN, o->cfg.mixtures = N, o->cfg.cond = 0;
    return 0;
}

/* ---- the objective -------------------------------------------------------------------- */

typedef struct crop_ref {
    int file;
    long start;
    uint64_t seed; /* the ELBO's noise */
    int labelled;  /* semi: from the labelled set */
} crop_ref;

typedef struct sep_objective {
    sep_options o;
    const ps_wavenet *net;
    const long *step;
    prior_data labelled;                /* mixtures with sources (supervised, semi) */
    prior_data source[PS_MAX_SOURCES];  /* their sources, file for file */
    prior_data unlabelled;              /* mixtures alone (unsupervised, semi) */
    ps_wavenet *prior[PS_MAX_SOURCES];
    ps_model_info prior_info[PS_MAX_SOURCES];
    ps_wavenet_acts *acts[TRAINER_SHARDS];
    ps_elbo_work *elbo[TRAINER_SHARDS];
    float *d_rows[TRAINER_SHARDS];
    crop_ref *batch;                    /* [batch] (semi: [2 * batch]) */
    long n_crops;
    float prior_sigma;                  /* this step's */
} sep_objective;

static double crop_loss(sep_objective *p, int shard, const crop_ref *c, float scale, ps_wavenet *grad)
{
    const sep_options *o = &p->o;
    int T = (int)o->crop, N = o->info.n_sources, L = (int)o->lookahead;
    const prior_data *mixes = c->labelled ? &p->labelled : &p->unlabelled;
    const float *x = mixes->file[c->file].samples + c->start;
    const float *rows = ps_wavenet_train_forward(p->net, p->acts[shard], x, NULL, T);
    float *d_rows = p->d_rows[shard];
    memset(d_rows, 0, sizeof(float) * (size_t)T * 2 * N);
    double loss;
    if (c->labelled) {
        const float *src[PS_MAX_SOURCES];
        for (int k = 0; k < N; k++) src[k] = p->source[k].file[c->file].samples + c->start;
        float w = o->kind == SEMI ? (float)o->sup_weight : 1.0f;
        /* the SI-SDR (one figure per crop) weighs like the NLL of one scored sample */
        float si_w = (float)(o->si_weight * (T - L));
        loss = w * ps_separator_supervised_loss(N, L, rows, T, src, (float)o->nll_beta, si_w,
                                                scale * w, d_rows, NULL);
    } else {
        ps_rng rng;
        ps_rng_seed(&rng, c->seed);
        ps_elbo_settings set = {(float)o->gamma, (float)o->beta, p->prior_sigma};
        float w = o->kind == SEMI ? (float)o->unsup_weight : 1.0f;
        loss = w * ps_separator_elbo_loss(p->elbo[shard], &set, x, rows, T, &rng, scale * w, d_rows, NULL);
    }
    if (grad) ps_wavenet_train_backward(p->net, p->acts[shard], d_rows, grad, NULL);
    return loss;
}

static double sep_shard(void *ctx, int shard, ps_wavenet *grad)
{
    sep_objective *p = ctx;
    long first = shard * p->n_crops / TRAINER_SHARDS, last = (shard + 1) * p->n_crops / TRAINER_SHARDS;
    float scale = 1.0f / (float)(p->o.batch * (p->o.crop - p->o.lookahead)); /* per scored sample */
    double loss = 0.0;
    for (long i = first; i < last; i++) loss += crop_loss(p, shard, &p->batch[i], scale, grad);
    return loss;
}

static void sep_draw(void *ctx, ps_rng *rng)
{
    sep_objective *p = ctx;
    long n = 0;
    for (int set = 0; set < 2; set++) {
        int labelled = set == 0;
        if (labelled ? p->o.kind == UNSUPERVISED : p->o.kind == SUPERVISED) continue;
        for (long i = 0; i < p->o.batch; i++, n++) {
            crop_ref *c = &p->batch[n];
            prior_data_train_pos(labelled ? &p->labelled : &p->unlabelled, p->o.crop, rng, &c->file, &c->start);
            c->seed = ps_rng_u64(rng);
            c->labelled = labelled;
        }
    }
    p->n_crops = n;
    /* the priors' noise level falls geometrically over the run */
    double frac = (double)*p->step / (double)(p->o.t.steps > 1 ? p->o.t.steps - 1 : 1);
    p->prior_sigma = (float)(p->o.sigma_start * pow(p->o.sigma_end / p->o.sigma_start, frac));
}

/* Held-out crops: the start of each file's validation tail, spread over the set. */
static double sep_validate(void *ctx)
{
    sep_objective *p = ctx;
    const sep_options *o = &p->o;
    int use_labels = o->kind != UNSUPERVISED;
    const prior_data *d = use_labels ? &p->labelled : &p->unlabelled;
    const float *crops[VAL_CROPS];
    int n = prior_data_val_crops(d, o->crop, VAL_CROPS, crops), N = o->info.n_sources, L = (int)o->lookahead;
    double total = 0.0;
    long terms = 0;
    for (int i = 0; i < n; i++) {
        /* find the crop's file to reach its sources */
        int f = 0;
        while (d->file[f].samples + d->file[f].split != crops[i]) f++;
        crop_ref c = {.file = f, .start = d->file[f].split, .seed = 0x7a1 + (uint64_t)i, .labelled = use_labels};
        if (!use_labels) {
            p->prior_sigma = (float)o->sigma_end;
            total += crop_loss(p, 0, &c, 1.0f, NULL) / (double)(o->crop - L);
            terms++;
            continue;
        }
        const float *rows = ps_wavenet_train_forward(p->net, p->acts[0], crops[i], NULL, (int)o->crop);
        long m = o->crop - L;
        float *mean = p->d_rows[0]; /* scratch: one source's means */
        for (int k = 0; k < N; k++) {
            for (long t = 0; t < m; t++) mean[t] = rows[(size_t)(t + L) * 2 * N + k];
            /* a silent source (a --drop data set) has no SI-SDR: left out of the mean */
            double v = ps_si_sdr(mean, p->source[k].file[f].samples + c.start, m);
            if (!isnan(v)) total += v, terms++;
        }
    }
    return terms ? total / terms : NAN;
}

static int sep_objective_init(sep_objective *p, const ps_wavenet *net, const long *step)
{
    ps_error err;
    sep_options *o = &p->o;
    int N = o->info.n_sources, rate = (int)o->rate;
    p->net = net, p->step = step;
    if (o->kind != SUPERVISED) {
        /* mixtures alone: this loader is given no source name */
        const char *dir = o->kind == SEMI ? o->mixtures : o->data;
        if (prior_data_load(&p->unlabelled, dir, "mix", rate, o->val_fraction, &err) ||
            prior_data_check_crop(&p->unlabelled, o->crop, dir, &err))
            return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        if (o->kind == UNSUPERVISED) prior_data_warn_no_val(&p->unlabelled, o->crop, dir);
    }
    if (o->kind != UNSUPERVISED) {
        if (prior_data_load(&p->labelled, o->data, "mix", rate, o->val_fraction, &err) ||
            prior_data_check_crop(&p->labelled, o->crop, o->data, &err))
            return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        prior_data_warn_no_val(&p->labelled, o->crop, o->data);
        for (int k = 0; k < N; k++)
            if (prior_data_load(&p->source[k], o->data, o->info.sources[k], rate, o->val_fraction, &err) ||
                prior_data_check_parallel(&p->labelled, &p->source[k], o->info.sources[k], &err))
                return cli_fail(EXIT_RUNTIME, "%s: %s", o->data, err.msg);
    }
    size_t T = (size_t)o->crop;
    for (int s = 0; s < TRAINER_SHARDS; s++) {
        if (!(p->acts[s] = ps_wavenet_acts_create(net, (int)T, &err)))
            return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        if (o->kind != SUPERVISED &&
            !(p->elbo[s] = ps_elbo_work_create(&o->info, p->prior, p->prior_info, (int)T, &err)))
            return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        if (!(p->d_rows[s] = malloc(sizeof(float) * T * 2 * (size_t)N)))
            return cli_fail(EXIT_RUNTIME, "out of memory");
    }
    if (!(p->batch = calloc(2 * (size_t)o->batch, sizeof *p->batch)))
        return cli_fail(EXIT_RUNTIME, "out of memory");
    return 0;
}

static void sep_objective_free(sep_objective *p)
{
    for (int s = 0; s < TRAINER_SHARDS; s++) {
        ps_wavenet_acts_destroy(p->acts[s]);
        ps_elbo_work_destroy(p->elbo[s]);
        free(p->d_rows[s]);
    }
    for (int k = 0; k < PS_MAX_SOURCES; k++) {
        ps_wavenet_destroy(p->prior[k]);
        prior_data_free(&p->source[k]);
    }
    prior_data_free(&p->labelled);
    prior_data_free(&p->unlabelled);
    free(p->batch);
}

/* ---- the command ---------------------------------------------------------------------- */

int cmd_train_separator(int argc, char **argv)
{
    static sep_objective p; /* large (data sets of many sources): not on the stack */
    memset(&p, 0, sizeof p);
    int parsed = parse_options(argc, argv, &p.o);
    if (parsed) return parsed > 0 ? EXIT_OK : EXIT_USAGE;
    sep_options *o = &p.o;
    if (o->priors) {
        /* checked against --sample-rate, or giving the model its rate */
        ps_error err;
        int rate = (int)o->rate;
        if (ps_priors_load(o->priors, o->info.n_sources, (const char(*)[32])o->info.sources, &rate,
                           p.prior, p.prior_info, &err))
            return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        o->rate = rate;
    }
    if (!o->rate) o->rate = 14700; /* the toy rate */
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.o = o->t;
    static const char *const kinds[] = {"supervised", "unsupervised", "semi"};
    trainer_add_extra(&tr, "train.objective", "%s", kinds[o->kind]);
    trainer_add_extra(&tr, "train.batch", "%ld", o->batch);
    trainer_add_extra(&tr, "train.crop", "%ld", o->crop);
    trainer_add_extra(&tr, "train.val_fraction", "%.17g", o->val_fraction);
    trainer_add_extra(&tr, "train.data", "%s", o->data);
    trainer_add_extra(&tr, "train.nll_beta", "%.17g", o->nll_beta);
    trainer_add_extra(&tr, "train.si_sdr_weight", "%.17g", o->si_weight);
    trainer_add_extra(&tr, "train.gamma", "%.17g", o->gamma);
    trainer_add_extra(&tr, "train.beta", "%.17g", o->beta);
    trainer_add_extra(&tr, "train.sigma", "%.17g:%.17g", o->sigma_start, o->sigma_end);
    trainer_add_extra(&tr, "train.semi", "%.17g:%.17g:%s", o->sup_weight, o->unsup_weight,
                      o->mixtures ? o->mixtures : "");
    o->info.sample_rate = (int)o->rate;
    int rc = trainer_start(&tr, &o->cfg, &o->info, argc, argv);
    if (!rc) rc = sep_objective_init(&p, tr.ck.net, &tr.ck.step);
    if (!rc) {
        int sup = o->kind != UNSUPERVISED;
        tr.obj = (trainer_objective){.ctx = &p, .draw = sep_draw, .shard = sep_shard, .validate = sep_validate,
                                     .loss_scale = 1.0 / ((double)o->batch * (o->crop - o->lookahead)),
                                     .samples_per_step = (double)(o->batch * o->crop) * (o->kind == SEMI ? 2 : 1),
                                     .loss_column = "train_loss_nats",
                                     .val_column = sup ? "val_si_sdr_db" : "val_neg_elbo_nats",
                                     .unit = sup ? "(loss nats, val dB)" : "nats"};
        rc = trainer_run(&tr, "train separator");
    }
    trainer_free(&tr);
    sep_objective_free(&p);
    return rc;
}
