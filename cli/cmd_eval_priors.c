/* priorsep eval priors: how well each prior models its own source class (NLL in bits
 * per sample, clean and at every noise level of its ladder, against an i.i.d.
 * baseline) and whether the priors are discriminative (the N x N table of mean NLL,
 * rows: data class, columns: prior). */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "iid_baseline.h"
#include "prior_data.h"
#include "report.h"
#include "priorsep/model_file.h"
#include "priorsep/prior.h"

enum { MAX_PRIORS = 8, MAX_LEVELS = 100 };

typedef struct prior {
    const char *path;
    ps_wavenet *net;
    ps_model_info info;
    ps_noise_ladder ladder;
} prior;

static void usage(FILE *f)
{
    fputs("usage: priorsep eval priors --models A [B ...] --data DIR [options]\n"
          "\n"
          "Scores priors on the audio files under DIR named after their source classes\n"
          "(<source>.<ext>, as the toy generator writes them): for each prior its mean NLL\n"
          "in bits per sample on its own class, clean and with noise at every level of its\n"
          "ladder (conditioned on that level), next to an i.i.d. per-sample baseline; then\n"
          "the table of every prior on every class, clean. Lower is better.\n"
          "\n"
          "  --models A B ...     prior model files (one per source class, up to 8)\n"
          "  --data DIR           held-out audio, e.g. a toy test split\n"
          "  --crop N             samples scored per file (default 2048, from its start)\n"
          "  --files N            files per class (default 32, spread over the set)\n"
          "  --seed N             noise seed (default 1)\n"
          "  --csv FILE           also write the tables as CSV\n"
          "  --json FILE          also write the tables as JSON\n"
          "\n"
          "example: priorsep eval priors --models models/toy/{sine,square,sawtooth,triangle}.safetensors \\\n"
          "             --data toy/test\n",
          f);
}

/* Mean NLL in bits per sample of crops (len + 1 samples each) under p, with noise sigma
 * added (seeded) and p conditioned on it. */
static double mean_nll_bits(const prior *p, ps_wavenet_acts *a, const float *const *crops, int n,
                            int len, float sigma, uint64_t seed, float *noisy)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    float cond[PS_PRIOR_COND];
    ps_noise_cond(&p->ladder, sigma, cond);
    double nll = 0.0;
    for (int c = 0; c < n; c++) {
        for (int t = 0; t <= len; t++) noisy[t] = crops[c][t] + (sigma > 0 ? sigma * ps_rng_normal(&rng) : 0.0f);
        nll += ps_prior_nll(p->net, a, noisy, len, cond, NULL, 0.0f, NULL);
    }
    return nll / ((double)n * len) / log(2.0);
}

/* Crops with noise sigma (the same draws as mean_nll_bits makes), for the baseline. */
static float **noisy_copies(const float *const *crops, int n, int len, float sigma, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    float **out = calloc((size_t)n, sizeof *out);
    for (int c = 0; out && c < n; c++) {
        out[c] = malloc(sizeof(float) * ((size_t)len + 1));
        if (!out[c]) return out; /* caller checks the last */
        for (int t = 0; t <= len; t++) out[c][t] = crops[c][t] + (sigma > 0 ? sigma * ps_rng_normal(&rng) : 0.0f);
    }
    return out;
}

static void free_copies(float **c, int n)
{
    for (int i = 0; c && i < n; i++) free(c[i]);
    free(c);
}

typedef struct results {
    const prior *p;
    int n;
    double own[MAX_PRIORS][MAX_LEVELS + 1]; /* [prior][0 = clean, 1.. = ladder levels] */
    double baseline_clean[MAX_PRIORS], baseline_smallest[MAX_PRIORS];
    double cross[MAX_PRIORS][MAX_PRIORS];    /* [data class][prior], clean */
} results;

static void print_tables(FILE *f, const void *tables)
{
    const results *r = tables;
    const prior *p = r->p;
    fprintf(f, "Own class, NLL in bits per sample (clean, then noise levels sigma; lower is better)\n\n");
    fprintf(f, "| prior | clean | i.i.d. clean |");
    for (int l = 0; l < p[0].ladder.levels; l++) fprintf(f, " sigma %.3g |", ps_noise_sigma(&p[0].ladder, l));
    fprintf(f, " i.i.d. at sigma %.3g |\n|---|---:|---:|", p[0].ladder.sigma_min);
    for (int l = 0; l <= p[0].ladder.levels; l++) fprintf(f, "---:|");
    fprintf(f, "\n");
    for (int i = 0; i < r->n; i++) {
        fprintf(f, "| %s | %.3f | %.3f |", p[i].info.source, r->own[i][0], r->baseline_clean[i]);
        for (int l = 0; l < p[i].ladder.levels; l++) fprintf(f, " %.3f |", r->own[i][l + 1]);
        fprintf(f, " %.3f |\n", r->baseline_smallest[i]);
    }
    fprintf(f, "\nEvery prior on every class, clean (rows: data class, columns: prior)\n\n| data \\ prior |");
    for (int j = 0; j < r->n; j++) fprintf(f, " %s |", p[j].info.source);
    fprintf(f, " margin |\n|---|");
    for (int j = 0; j <= r->n; j++) fprintf(f, "---:|");
    fprintf(f, "\n");
    for (int i = 0; i < r->n; i++) {
        double best_other = INFINITY;
        fprintf(f, "| %s |", p[i].info.source);
        for (int j = 0; j < r->n; j++) {
            fprintf(f, " %.3f |", r->cross[i][j]);
            if (j != i) best_other = fmin(best_other, r->cross[i][j]);
        }
        /* how many bits the own prior beats the best other prior by */
        fprintf(f, " %.3f |\n", r->n > 1 ? best_other - r->cross[i][i] : NAN);
    }
}

static void csv_tables(FILE *f, const void *tables)
{
    const results *r = tables;
    const prior *p = r->p;
    fprintf(f, "table,data,prior,sigma,nll_bits\n");
    for (int i = 0; i < r->n; i++) {
        fprintf(f, "own,%s,%s,0,%.6f\n", p[i].info.source, p[i].info.source, r->own[i][0]);
        for (int l = 0; l < p[i].ladder.levels; l++)
            fprintf(f, "own,%s,%s,%.6g,%.6f\n", p[i].info.source, p[i].info.source,
                    ps_noise_sigma(&p[i].ladder, l), r->own[i][l + 1]);
        fprintf(f, "iid,%s,iid,0,%.6f\n", p[i].info.source, r->baseline_clean[i]);
        fprintf(f, "iid,%s,iid,%.6g,%.6f\n", p[i].info.source, p[i].ladder.sigma_min, r->baseline_smallest[i]);
        for (int j = 0; j < r->n; j++)
            fprintf(f, "cross,%s,%s,0,%.6f\n", p[i].info.source, p[j].info.source, r->cross[i][j]);
    }
}

static void json_tables(FILE *f, const void *tables)
{
    const results *r = tables;
    const prior *p = r->p;
    fprintf(f, "{\n  \"priors\": [");
    for (int i = 0; i < r->n; i++) {
        fprintf(f, "%s\n    {\"source\": ", i ? "," : "");
        report_json_string(f, p[i].info.source);
        fprintf(f, ", \"clean_bits\": %.6f, \"iid_clean_bits\": %.6f, "
                "\"iid_smallest_sigma_bits\": %.6f, \"levels\": [",
                r->own[i][0], r->baseline_clean[i], r->baseline_smallest[i]);
        for (int l = 0; l < p[i].ladder.levels; l++)
            fprintf(f, "%s{\"sigma\": %.6g, \"bits\": %.6f}", l ? ", " : "", ps_noise_sigma(&p[i].ladder, l),
                    r->own[i][l + 1]);
        fprintf(f, "]}");
    }
    fprintf(f, "\n  ],\n  \"cross_clean_bits\": [");
    for (int i = 0; i < r->n; i++) {
        fprintf(f, "%s\n    [", i ? "," : "");
        for (int j = 0; j < r->n; j++) fprintf(f, "%s%.6f", j ? ", " : "", r->cross[i][j]);
        fprintf(f, "]");
    }
    fprintf(f, "\n  ]\n}\n");
}

int cmd_eval_priors(int argc, char **argv)
{
    enum { O_MODELS = 256, O_DATA, O_CROP, O_FILES, O_SEED, O_CSV, O_JSON, O_HELP };
    static const struct option options[] = {
        {"models", required_argument, 0, O_MODELS}, {"data", required_argument, 0, O_DATA},
        {"crop", required_argument, 0, O_CROP},     {"files", required_argument, 0, O_FILES},
        {"seed", required_argument, 0, O_SEED},     {"csv", required_argument, 0, O_CSV},
        {"json", required_argument, 0, O_JSON},     {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    prior p[MAX_PRIORS] = {0};
    int n = 0, opt;
    const char *data = NULL, *csv = NULL, *json = NULL, *paths[MAX_PRIORS];
    long crop = 2048, files = 32, seed = 1;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case O_MODELS:
            if (n == MAX_PRIORS) return cli_fail(EXIT_USAGE, "--models: at most %d priors", MAX_PRIORS);
            paths[n++] = optarg;
            break;
        case O_DATA: data = optarg; break;
        case O_CROP: if (cli_parse_int("--crop", optarg, 2, 1 << 20, &crop)) return EXIT_USAGE; break;
        case O_FILES: if (cli_parse_int("--files", optarg, 2, 100000, &files)) return EXIT_USAGE; break;
        case O_SEED: if (cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) return EXIT_USAGE; break;
        case O_CSV: csv = optarg; break;
        case O_JSON: json = optarg; break;
        case O_HELP: usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    /* "--models A B C": getopt leaves B C as operands */
    for (; optind < argc; optind++) {
        if (n == MAX_PRIORS) return cli_fail(EXIT_USAGE, "--models: at most %d priors", MAX_PRIORS);
        paths[n++] = argv[optind];
    }
    if (n == 0 || !data) return cli_fail(EXIT_USAGE, "%s: missing (see priorsep eval priors --help)", n ? "--data" : "--models");

    ps_error err;
    int rc = EXIT_OK;
    for (int i = 0; i < n && !rc; i++) {
        p[i].path = paths[i];
        if (!(p[i].net = ps_model_load(paths[i], &p[i].info, &err))) rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
        else if (ps_wavenet_config_of(p[i].net)->cond != PS_PRIOR_COND || p[i].info.noise_levels < 1)
            rc = cli_fail(EXIT_RUNTIME, "%s: not a noise-conditioned prior (trained by priorsep train prior)", paths[i]);
        else if (p[i].info.sample_rate != p[0].info.sample_rate)
            rc = cli_fail(EXIT_RUNTIME, "%s: %d Hz, but %s is %d Hz", paths[i], p[i].info.sample_rate, paths[0], p[0].info.sample_rate);
        else if (p[i].info.noise_levels > MAX_LEVELS)
            rc = cli_fail(EXIT_RUNTIME, "%s: more than %d noise levels", paths[i], MAX_LEVELS);
        else
            p[i].ladder = (ps_noise_ladder){.levels = p[i].info.noise_levels, .sigma_max = p[i].info.sigma_max,
                                            .sigma_min = p[i].info.sigma_min};
    }
    results *r = calloc(1, sizeof *r);
    prior_data *classes = calloc((size_t)n, sizeof *classes);
    const float **crops = calloc((size_t)n * (size_t)files, sizeof *crops);
    int *n_crops = calloc((size_t)n, sizeof *n_crops);
    float *noisy = malloc(sizeof(float) * ((size_t)crop + 1));
    ps_wavenet_acts **acts = calloc((size_t)n, sizeof *acts);
    if (!rc && (!r || !classes || !crops || !n_crops || !noisy || !acts)) rc = cli_fail(EXIT_RUNTIME, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        if (prior_data_load(&classes[i], data, p[i].info.source, p[i].info.sample_rate, 1.0, &err))
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
        else if ((n_crops[i] = prior_data_val_crops(&classes[i], crop + 1, (int)files, crops + (size_t)i * files)) == 0)
            rc = cli_fail(EXIT_USAGE, "--crop: %ld samples is longer than every %s file in %s", crop, p[i].info.source, data);
        else if (!(acts[i] = ps_wavenet_acts_create(p[i].net, (int)crop, &err)))
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
    }
    if (!rc) {
        r->p = p;
        r->n = n;
        for (int i = 0; i < n; i++) {
            const float *const *own = crops + (size_t)i * files;
            int categorical = ps_wavenet_config_of(p[i].net)->head == PS_HEAD_CATEGORICAL;
            r->own[i][0] = mean_nll_bits(&p[i], acts[i], own, n_crops[i], (int)crop, 0.0f, (uint64_t)seed, noisy);
            for (int l = 0; l < p[i].ladder.levels; l++)
                r->own[i][l + 1] = mean_nll_bits(&p[i], acts[i], own, n_crops[i], (int)crop,
                                                 ps_noise_sigma(&p[i].ladder, l), (uint64_t)seed, noisy);
            r->baseline_clean[i] = iid_baseline_bits(own, n_crops[i], (int)crop + 1, categorical);
            float **smallest = noisy_copies(own, n_crops[i], (int)crop, p[i].ladder.sigma_min, (uint64_t)seed);
            if (!smallest || !smallest[n_crops[i] - 1]) {
                free_copies(smallest, n_crops[i]);
                rc = cli_fail(EXIT_RUNTIME, "out of memory");
                break;
            }
            r->baseline_smallest[i] = iid_baseline_bits((const float *const *)smallest, n_crops[i], (int)crop + 1, categorical);
            free_copies(smallest, n_crops[i]);
            for (int j = 0; j < n; j++)
                r->cross[i][j] = j == i ? r->own[i][0] /* the same crops, prior and seed */
                                        : mean_nll_bits(&p[j], acts[j], own, n_crops[i], (int)crop, 0.0f, (uint64_t)seed, noisy);
        }
    }
    if (!rc) rc = report_emit(&(report_formats){print_tables, csv_tables, json_tables}, r, csv, json);
    for (int i = 0; i < n; i++) {
        ps_wavenet_destroy(p[i].net);
        if (acts) ps_wavenet_acts_destroy(acts[i]);
        if (classes) prior_data_free(&classes[i]);
    }
    free(r), free(classes), free(crops), free(n_crops), free(noisy), free(acts);
    return rc;
}
