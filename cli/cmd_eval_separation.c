/* priorsep eval separation: scores a separator (a model set) on toy items (design
 * section 6): per item and source SI-SDR, SI-SDRi and BSS Eval v4 SDR / SIR / SAR, then
 * per source the median over items; and the mixture consistency of the estimates.
 * Items are independent: --threads workers, each with its own separator, take the next
 * item in turn and write its own row, so the tables do not depend on the thread count. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio_reader.h"
#include "cli.h"
#include "priorsep/metrics.h"
#include "priorsep/separator.h"
#include "progress.h"
#include "report.h"

enum { SI_SDR, SI_SDRI, SDR, SIR, SAR, METRICS };
static const char *const metric_title[METRICS] = {"SI-SDR", "SI-SDRi", "SDR", "SIR", "SAR"};
static const char *const metric_key[METRICS] = {"si_sdr", "si_sdri", "sdr", "sir", "sar"};

enum { CHUNK = 8192 /* samples between progress updates, about */, MAX_THREADS = 16 };

static void usage(FILE *f)
{
    fputs("usage: priorsep eval separation --model PATH --data DIR [options]\n"
          "\n"
          "Separates the mixture of every item under DIR (the layout priorsep data toy writes:\n"
          "DIR/<item>/mix.wav and <source>.wav for each source the model names, read at the\n"
          "model's rate; items in sorted order) and scores the estimates against the sources:\n"
          "SI-SDR, SI-SDRi (the gain over the mixture as the estimate) and BSS Eval v4 SDR,\n"
          "SIR and SAR (museval's MUSDB settings), in dB, higher is better. Prints per source\n"
          "the median over items, and the largest |sum_k w_k s_k - m| over all samples (the\n"
          "estimates' mixture consistency). A note follows when, on some items, BSS Eval's\n"
          "decomposition is inconsistent (SDR above SIR or SAR: periodic references).\n"
          "\n"
          "By default the items stream through the separator in frames, as a plugin runs it:\n"
          "the mixture, then L zeros (L: the model's lookahead), the first L outputs dropped.\n"
          "\n"
          "  --model PATH   model folder (its separator.safetensors and priors) or separator file\n"
          "  --data DIR     items, e.g. a toy test split\n"
          "  --items N      score the first N items (default: all)\n"
          "  --refine K     prior-refinement steps per frame, 0..8 (default 0)\n"
          "  --frame F      samples per frame, 1..65536 (default 256)\n"
          "  --offline      separate each item at once (ps_separate_offline; K = 0 only)\n"
          "  --threads N    items separated at once, 1..16 (default 2); the scores are the same\n"
          "  --csv FILE     also write the table as CSV\n"
          "  --json FILE    also write the table, and every item's scores, as JSON\n"
          "  --quiet        no progress bar\n"
          "\n"
          "example: priorsep eval separation --model models/toy --data data/toy/test --items 100 \\\n"
          "             --refine 2 --csv separation.csv\n",
          f);
}

typedef struct evaluation {
    const char *model;
    const ps_model_info *info; /* the separator's: sources and weights */
    int n_items, refine, frame, offline, threads;
    char **item;               /* item folder names */
    double *score;             /* [item][source][metric] */
    double *consistency;       /* [item]: max |sum_k w_k s_k - m| */
    unsigned char *bss_flag;   /* [item]: a source's SDR tops its SIR or SAR (below) */
    double median[PS_MAX_SOURCES][METRICS];
    double max_consistency;
    int n_bss_inconsistent;    /* items flagged */
    atomic_int next, done;     /* the next item to take; items scored */
    atomic_int failed;         /* a worker failed: the others take no more items */
} evaluation;

/* In a consistent BSS Eval decomposition the distortion splits into interference and
 * artifacts, so SDR stays below SIR and SAR. When the references' 512-tap delayed copies
 * are nearly linearly dependent (exactly periodic sources, as in the toy data), the
 * projections that SIR and SAR rest on are ill-posed: museval's definition then gives
 * an estimate that is its reference plus white noise at 20 dB SNR an SIR of -5 to -9 dB
 * (toy test items). SI-SDR and SDR do not use the projections. */
enum { BSS_INCONSISTENT_DB = 3 };

static int bss_inconsistent(const ps_bss_result *r)
{
    return r->sdr > fmin(r->sir, r->sar) + BSS_INCONSISTENT_DB;
}

static double *score_of(const evaluation *e, int item, int source)
{
    return e->score + ((size_t)item * (size_t)e->info->n_sources + (size_t)source) * METRICS;
}

static int not_hidden(const struct dirent *d) { return d->d_name[0] != '.'; }

/* The item folders of dir (its subfolders) in sorted order, the first `max` of them
 * (0: all), as a NULL-terminated list. Returns how many, or -1 after a message. */
static int list_items(const char *dir, long max, char ***items)
{
    struct dirent **list;
    int n = scandir(dir, &list, not_hidden, alphasort), kept = 0, oom = 0;
    if (n < 0) return cli_fail(EXIT_RUNTIME, "%s: cannot read the data folder: %s", dir, strerror(errno)), -1;
    *items = calloc((size_t)n + 1, sizeof **items);
    oom = !*items;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        if (!oom && (!max || kept < max) &&
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) < (int)sizeof path &&
            stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            oom = !((*items)[kept++] = strdup(list[i]->d_name));
        free(list[i]);
    }
    free(list);
    if (oom) return cli_fail(EXIT_RUNTIME, "out of memory"), -1;
    if (kept == 0) return cli_fail(EXIT_RUNTIME, "%s: no item folders in it (see priorsep data toy)", dir), -1;
    if (kept < max) return cli_fail(EXIT_RUNTIME, "%s: holds %d items, not the %ld of --items", dir, kept, max), -1;
    return kept;
}

static void free_items(char **items)
{
    for (int i = 0; items && items[i]; i++) free(items[i]);
    free(items);
}

/* path = DIR/item/name.wav */
static int item_file(char (*path)[4096], const char *dir, const char *item, const char *name)
{
    if (snprintf(*path, sizeof *path, "%s/%s/%s.wav", dir, item, name) >= (int)sizeof *path)
        return cli_fail(EXIT_RUNTIME, "%s/%s: path too long", dir, item);
    return 0;
}

/* Every file of the items exists, checked before any is separated: a long run does not
 * fail near its end on a missing file. */
static int check_files(const evaluation *e, const char *dir)
{
    for (int i = 0; i < e->n_items; i++)
        for (int k = -1; k < e->info->n_sources; k++) {
            char path[4096];
            struct stat st;
            if (item_file(&path, dir, e->item[i], k < 0 ? "mix" : e->info->sources[k])) return EXIT_RUNTIME;
            if (stat(path, &st) != 0)
                return cli_fail(EXIT_RUNTIME, "%s: missing (an item holds mix.wav and a .wav per source)", path);
        }
    return 0;
}

/* DIR/item/name.wav as mono samples at rate; want: the length it must have (0: any). */
static int read_wav(const char *dir, const char *item, const char *name, int rate, long want,
                    float **x, long *n)
{
    char path[4096];
    ps_error err;
    if (item_file(&path, dir, item, name)) return EXIT_RUNTIME;
    if (audio_read_mono(path, rate, x, n, &err)) return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    if (want && *n != want)
        return cli_fail(EXIT_RUNTIME, "%s: %ld samples, but the item's mix.wav has %ld", path, *n, want);
    return 0;
}

/* Streams m (T samples) and then L zeros through sp in frames of `frame`, into out[k]
 * (T + L samples each): out[k] + L is the time-aligned estimate. The bar (NULL: another
 * worker draws it) shows the items done and this one's share. */
static void stream(ps_separator *sp, int frame, const float *m, long T, float *const *out, int n_sources,
                   float *input, progress *bar, const atomic_int *done_items)
{
    int L = ps_separator_latency(sp);
    long total = T + L, chunk = (long)frame * (CHUNK / frame > 0 ? CHUNK / frame : 1); /* whole frames */
    memcpy(input, m, sizeof(float) * (size_t)T);
    memset(input + T, 0, sizeof(float) * (size_t)L);
    ps_separator_reset(sp);
    for (long done = 0; done < total; done += chunk) {
        float *part[PS_MAX_SOURCES];
        for (int k = 0; k < n_sources; k++) part[k] = out[k] + done;
        ps_separator_process(sp, input + done, (int)(total - done < chunk ? total - done : chunk), part);
        if (bar) progress_update(bar, atomic_load(done_items) + fmin(1.0, (double)(done + chunk) / (double)total));
    }
}

/* Scores the estimates of one item into e's row `item`. */
static int score_item(evaluation *e, int item, const float *m, const float *const *ref, const float *const *est,
                      long T, const char *dir)
{
    int N = e->info->n_sources;
    double worst = 0.0;
    for (long t = 0; t < T; t++) {
        double sum = 0.0;
        for (int k = 0; k < N; k++) sum += (double)e->info->weights[k] * est[k][t];
        worst = fmax(worst, fabs(sum - m[t]));
    }
    e->consistency[item] = worst;
    ps_bss_result bss[PS_MAX_SOURCES];
    ps_error err;
    if (ps_bss_eval_v4(ref, est, N, T, e->info->sample_rate, bss, &err))
        return cli_fail(EXIT_RUNTIME, "%s/%s: %s", dir, e->item[item], err.msg);
    int inconsistent = 0;
    for (int k = 0; k < N; k++) {
        inconsistent |= bss_inconsistent(&bss[k]);
        double *s = score_of(e, item, k);
        s[SI_SDR] = ps_si_sdr(est[k], ref[k], T);
        s[SI_SDRI] = ps_si_sdri(est[k], m, ref[k], T);
        s[SDR] = bss[k].sdr, s[SIR] = bss[k].sir, s[SAR] = bss[k].sar;
    }
    e->bss_flag[item] = (unsigned char)inconsistent;
    ps_bss_result_free(bss, N);
    return 0;
}

/* Reads, separates (with sp, or offline when NULL) and scores item i. */
static int separate_item(evaluation *e, const ps_model_set *set, ps_separator *sp, int i, const char *dir,
                         progress *bar)
{
    int N = set->info.n_sources, L = set->info.lookahead, rate = set->info.sample_rate;
    float *m = NULL, *ref[PS_MAX_SOURCES] = {0}, *input = NULL, *block = NULL;
    long T = 0, n;
    ps_error err;
    int rc = read_wav(dir, e->item[i], "mix", rate, 0, &m, &T);
    for (int k = 0; k < N && !rc; k++) rc = read_wav(dir, e->item[i], set->info.sources[k], rate, T, &ref[k], &n);
    if (!rc && (!(block = malloc(sizeof(float) * (size_t)N * (size_t)(T + L))) ||
                (sp && !(input = malloc(sizeof(float) * (size_t)(T + L))))))
        rc = cli_fail(EXIT_RUNTIME, "%s/%s: out of memory", dir, e->item[i]);
    if (!rc) {
        float *out[PS_MAX_SOURCES], *est[PS_MAX_SOURCES];
        for (int k = 0; k < N; k++) out[k] = block + (size_t)k * (size_t)(T + L), est[k] = out[k] + L;
        if (!sp) {
            if (ps_separate_offline(set, m, T, est, &err)) rc = cli_fail(EXIT_RUNTIME, "%s/%s: %s", dir, e->item[i], err.msg);
        } else {
            stream(sp, e->frame, m, T, out, N, input, bar, &e->done);
        }
        if (!rc) rc = score_item(e, i, m, (const float *const *)ref, (const float *const *)est, T, dir);
    }
    free(m), free(input), free(block);
    for (int k = 0; k < N; k++) free(ref[k]);
    return rc;
}

typedef struct worker {
    evaluation *e;
    const ps_model_set *set;
    ps_separator *sp; /* NULL: offline */
    const char *dir;
    progress *bar;    /* the first worker's; NULL for the others */
    int rc;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    evaluation *e = w->e;
    for (int i; !w->rc && !atomic_load(&e->failed) && (i = atomic_fetch_add(&e->next, 1)) < e->n_items;) {
        w->rc = separate_item(e, w->set, w->sp, i, w->dir, w->bar);
        int done = atomic_fetch_add(&e->done, 1) + 1;
        if (w->bar) progress_update(w->bar, done);
    }
    if (w->rc) atomic_store(&e->failed, 1);
    return NULL;
}

/* Separates and scores every item, in e->threads workers (the calling thread is the
 * first, and draws the bar). */
static int evaluate(evaluation *e, const ps_model_set *set, const char *dir, int quiet)
{
    int N = set->info.n_sources, threads = e->threads < e->n_items ? e->threads : e->n_items;
    worker w[MAX_THREADS] = {0};
    pthread_t thread[MAX_THREADS];
    int started[MAX_THREADS] = {0}, rc = 0;
    progress bar;
    atomic_init(&e->next, 0), atomic_init(&e->done, 0), atomic_init(&e->failed, 0);
    for (int t = 0; t < threads && !rc; t++) {
        ps_error err;
        w[t] = (worker){e, set, NULL, dir, t ? NULL : &bar, 0};
        if (!e->offline && !(w[t].sp = ps_separator_create(set, e->frame, &err)))
            rc = cli_fail(EXIT_RUNTIME, "%s: %s", e->model, err.msg);
        if (w[t].sp) ps_separator_set_refine(w[t].sp, e->refine);
    }
    for (int t = 0; rc && t < threads; t++) ps_separator_destroy(w[t].sp);
    if (rc) return rc;
    progress_start(&bar, "separating", "items", e->n_items, quiet);
    /* a worker that cannot start leaves its share to the others */
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&thread[t], NULL, work, &w[t]) == 0;
    work(&w[0]);
    rc = w[0].rc;
    for (int t = 1; t < threads; t++)
        if (started[t]) {
            pthread_join(thread[t], NULL);
            if (!rc) rc = w[t].rc;
        }
    for (int t = 0; t < threads; t++) ps_separator_destroy(w[t].sp);
    progress_finish(&bar, atomic_load(&e->done));
    if (rc) return rc;
    for (int i = 0; i < e->n_items; i++) {
        e->max_consistency = fmax(e->max_consistency, e->consistency[i]);
        e->n_bss_inconsistent += e->bss_flag[i];
    }
    double *column = malloc(sizeof(double) * 2 * (size_t)e->n_items);
    if (!column) return cli_fail(EXIT_RUNTIME, "out of memory");
    for (int k = 0; k < N; k++)
        for (int j = 0; j < METRICS; j++) {
            for (int i = 0; i < e->n_items; i++) column[i] = score_of(e, i, k)[j];
            e->median[k][j] = ps_nanmedian(column, e->n_items, column + e->n_items);
        }
    free(column);
    return 0;
}

static void print_table(FILE *f, const void *tables)
{
    const evaluation *e = tables;
    fprintf(f, "Separation, median over %d item%s (dB, higher is better)\n", e->n_items, e->n_items == 1 ? "" : "s");
    if (e->offline)
        fprintf(f, "model %s, K = %d, offline (whole items)\n\n", e->model, e->refine);
    else
        fprintf(f, "model %s, K = %d, frame %d (streaming)\n\n", e->model, e->refine, e->frame);
    fprintf(f, "| source |");
    for (int j = 0; j < METRICS; j++) fprintf(f, " %s |", metric_title[j]);
    fprintf(f, "\n|---|");
    for (int j = 0; j < METRICS; j++) fprintf(f, "---:|");
    fprintf(f, "\n");
    for (int k = 0; k < e->info->n_sources; k++) {
        fprintf(f, "| %s |", e->info->sources[k]);
        for (int j = 0; j < METRICS; j++) fprintf(f, " %.2f |", e->median[k][j]);
        fprintf(f, "\n");
    }
    fprintf(f, "\nmixture consistency: max |sum_k w_k s_k - m| = %.3g over all samples\n", e->max_consistency);
    if (e->n_bss_inconsistent)
        fprintf(f, "\nnote: on %d of %d items a source's SDR is above its SIR or SAR by more than %d dB: the\n"
                   "references' delayed copies are nearly linearly dependent (periodic sources), so the\n"
                   "projections SIR and SAR rest on are ill-posed there; SI-SDR, SI-SDRi and SDR do not\n"
                   "use them\n",
                e->n_bss_inconsistent, e->n_items, BSS_INCONSISTENT_DB);
}

static void csv_table(FILE *f, const void *tables)
{
    const evaluation *e = tables;
    fprintf(f, "source");
    for (int j = 0; j < METRICS; j++) fprintf(f, ",%s_db", metric_key[j]);
    fprintf(f, "\n");
    for (int k = 0; k < e->info->n_sources; k++) {
        fprintf(f, "%s", e->info->sources[k]);
        for (int j = 0; j < METRICS; j++) fprintf(f, ",%.6f", e->median[k][j]);
        fprintf(f, "\n");
    }
}

/* {"source": "...", "si_sdr": x, ...} with null for what JSON cannot hold (NaN, inf). */
static void json_scores(FILE *f, const char *source, const double *s)
{
    fprintf(f, "{\"source\": ");
    report_json_string(f, source);
    for (int j = 0; j < METRICS; j++)
        fprintf(f, isfinite(s[j]) ? ", \"%s\": %.6f" : ", \"%s\": null", metric_key[j], s[j]);
    fprintf(f, "}");
}

static void json_table(FILE *f, const void *tables)
{
    const evaluation *e = tables;
    fprintf(f, "{\n  \"model\": ");
    report_json_string(f, e->model);
    fprintf(f, ",\n  \"items\": %d,\n  \"refine\": %d,\n  \"offline\": %s,\n  \"frame\": ", e->n_items, e->refine,
            e->offline ? "true" : "false");
    fprintf(f, e->offline ? "null" : "%d", e->frame);
    fprintf(f, ",\n  \"mixture_consistency\": %.6g,\n  \"bss_inconsistent_items\": %d,\n  \"medians\": [",
            e->max_consistency, e->n_bss_inconsistent);
    for (int k = 0; k < e->info->n_sources; k++) {
        fprintf(f, "%s\n    ", k ? "," : "");
        json_scores(f, e->info->sources[k], e->median[k]);
    }
    fprintf(f, "\n  ],\n  \"per_item\": [");
    for (int i = 0; i < e->n_items; i++) {
        fprintf(f, "%s\n    {\"item\": ", i ? "," : "");
        report_json_string(f, e->item[i]);
        fprintf(f, ", \"mixture_consistency\": %.6g, \"sources\": [", e->consistency[i]);
        for (int k = 0; k < e->info->n_sources; k++) {
            fprintf(f, "%s\n      ", k ? "," : "");
            json_scores(f, e->info->sources[k], score_of(e, i, k));
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n  ]\n}\n");
}

int cmd_eval_separation(int argc, char **argv)
{
    enum { O_MODEL = 256, O_DATA, O_ITEMS, O_REFINE, O_FRAME, O_OFFLINE, O_THREADS, O_CSV, O_JSON, O_QUIET, O_HELP };
    static const struct option options[] = {
        {"model", required_argument, 0, O_MODEL},   {"data", required_argument, 0, O_DATA},
        {"items", required_argument, 0, O_ITEMS},   {"refine", required_argument, 0, O_REFINE},
        {"frame", required_argument, 0, O_FRAME},   {"offline", no_argument, 0, O_OFFLINE},
        {"threads", required_argument, 0, O_THREADS},
        {"csv", required_argument, 0, O_CSV},       {"json", required_argument, 0, O_JSON},
        {"quiet", no_argument, 0, O_QUIET},         {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *csv = NULL, *json = NULL;
    long items = 0 /* all */, refine = 0, frame = 256, threads = 2;
    int offline = 0, quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case O_MODEL: model = optarg; break;
        case O_DATA: data = optarg; break;
        case O_ITEMS: if (cli_parse_int("--items", optarg, 1, 10000000, &items)) return EXIT_USAGE; break;
        case O_REFINE: if (cli_parse_int("--refine", optarg, 0, PS_MAX_REFINE, &refine)) return EXIT_USAGE; break;
        case O_FRAME: if (cli_parse_int("--frame", optarg, 1, 65536, &frame)) return EXIT_USAGE; break;
        case O_OFFLINE: offline = 1; break;
        case O_THREADS: if (cli_parse_int("--threads", optarg, 1, MAX_THREADS, &threads)) return EXIT_USAGE; break;
        case O_CSV: csv = optarg; break;
        case O_JSON: json = optarg; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail(EXIT_USAGE, "%s: unexpected argument (see priorsep eval separation --help)", argv[optind]);
    if (!model || !data)
        return cli_fail(EXIT_USAGE, "%s: missing (see priorsep eval separation --help)", model ? "--data" : "--model");
    if (offline && refine > 0)
        return cli_fail(EXIT_USAGE, "--offline: separates with K = 0 only, not --refine %ld", refine);

    ps_model_set set;
    ps_error err;
    if (ps_model_set_load(model, &set, &err)) return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    evaluation e = {.model = model, .info = &set.info, .refine = (int)refine, .frame = (int)frame, .offline = offline,
                    .threads = (int)threads};
    int rc = EXIT_OK;
    if ((e.n_items = list_items(data, items, &e.item)) < 0) rc = EXIT_RUNTIME;
    if (!rc && (!(e.score = malloc(sizeof(double) * METRICS * (size_t)set.info.n_sources * (size_t)e.n_items)) ||
                !(e.consistency = malloc(sizeof(double) * (size_t)e.n_items)) ||
                !(e.bss_flag = malloc((size_t)e.n_items))))
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
    if (!rc) rc = check_files(&e, data);
    if (!rc) rc = evaluate(&e, &set, data, quiet);
    if (!rc) rc = report_emit(&(report_formats){print_table, csv_table, json_table}, &e, csv, json);
    free_items(e.item), free(e.score), free(e.consistency), free(e.bss_flag);
    ps_model_set_free(&set);
    return rc;
}
