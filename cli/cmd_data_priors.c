/* priorsep data priors: items sampled from the priors themselves (each source drawn
 * from its prior at a noise level of its ladder, mixed with the given weights).
 * A separator trained on them has seen no true source and no real mixture: the
 * unsupervised recipe of the shipped toy separator. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "item_files.h"
#include "priorsep/prior.h"
#include "priorsep/separator.h"
#include "progress.h"

static void usage(FILE *f)
{
    fputs("usage: priorsep data priors --priors DIR --out DIR [options]\n"
          "\n"
          "Samples items from the priors DIR/<source>.safetensors: every source of an item\n"
          "is drawn from its prior conditioned on noise level --sigma, and the\n"
          "mixture is sum_k w_k s_k. Writes DIR/NNNNN/mix.wav and <source>.wav per source\n"
          "(mono 32-bit float WAV at the priors' rate), the layout `data toy` writes. Item I,\n"
          "source k depends only on (--seed, I, k).\n"
          "\n"
          "  --priors DIR      folder of the priors\n"
          "  --out DIR         output folder (created if missing)\n"
          "  --sources A,B,..  (default sine,square,sawtooth,triangle)\n"
          "  --weights X,Y,..  mixing weights (default 1/N each)\n"
          "  --items N         (default 400)   --first I (default 0)\n"
          "  --seconds S       per item (default 1.5)\n"
          "  --sigma X         the priors' noise level (default 0: the clean end of the ladder;\n"
          "                    0.1 gave a better unsupervised separator on the toy data)\n"
          "  --seed N          (default 1)\n"
          "  --force           write over existing items   --quiet   no progress bar\n"
          "\n"
          "example: priorsep data priors --priors models/toy --out prior-items --items 400\n",
          f);
}

int cmd_data_priors(int argc, char **argv)
{
    enum { O_PRIORS = 256, O_OUT, O_SOURCES, O_WEIGHTS, O_ITEMS, O_FIRST, O_SECONDS, O_SIGMA, O_SEED,
           O_FORCE, O_QUIET, O_HELP };
    static const struct option options[] = {
        {"priors", required_argument, 0, O_PRIORS}, {"out", required_argument, 0, O_OUT},
        {"sources", required_argument, 0, O_SOURCES}, {"weights", required_argument, 0, O_WEIGHTS},
        {"items", required_argument, 0, O_ITEMS},   {"first", required_argument, 0, O_FIRST},
        {"seconds", required_argument, 0, O_SECONDS}, {"seed", required_argument, 0, O_SEED},
        {"sigma", required_argument, 0, O_SIGMA},
        {"force", no_argument, 0, O_FORCE},         {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
    const char *priors = NULL, *out = NULL, *weights = NULL;
    char names[PS_MAX_SOURCES][32];
    int N = 0, force = 0, quiet = 0, opt;
    long items = 400, first = 0, seed = 1;
    double seconds = 1.5, sigma = 0.0;
    cli_parse_names("--sources", "sine,square,sawtooth,triangle", names, PS_MAX_SOURCES, &N);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case O_PRIORS: priors = optarg; break;
        case O_OUT: out = optarg; break;
        case O_SOURCES:
            if (cli_parse_names("--sources", optarg, names, PS_MAX_SOURCES, &N)) return EXIT_USAGE;
            break;
        case O_WEIGHTS: weights = optarg; break;
        case O_ITEMS: if (cli_parse_int("--items", optarg, 1, 1000000, &items)) return EXIT_USAGE; break;
        case O_FIRST: if (cli_parse_int("--first", optarg, 0, 100000000, &first)) return EXIT_USAGE; break;
        case O_SECONDS: if (cli_parse_double("--seconds", optarg, 1e-3, 3600, &seconds)) return EXIT_USAGE; break;
        case O_SIGMA: if (cli_parse_double("--sigma", optarg, 0.0, 100.0, &sigma)) return EXIT_USAGE; break;
        case O_SEED: if (cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) return EXIT_USAGE; break;
        case O_FORCE: force = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail(EXIT_USAGE, "%s: unexpected argument (see --help)", argv[optind]);
    if (!priors || !out)
        return cli_fail(EXIT_USAGE, "%s: missing (see priorsep data priors --help)", !priors ? "--priors" : "--out");
    float w[PS_MAX_SOURCES];
    for (int k = 0; k < N; k++) w[k] = 1.0f / (float)N;
    if (weights && cli_parse_numbers("--weights", weights, 1e-6, PS_MAX_WEIGHT, w, N)) return EXIT_USAGE;

    ps_error err;
    ps_wavenet *net[PS_MAX_SOURCES];
    ps_model_info info[PS_MAX_SOURCES];
    int rate = 0;
    if (ps_priors_load(priors, N, (const char(*)[32])names, &rate, net, info, &err))
        return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    long n = lround(seconds * rate);
    if (n < 1) n = 1;
    int rc = EXIT_OK;
    ps_wavenet_stream *st[PS_MAX_SOURCES] = {0};
    float *sources = malloc(sizeof(float) * (size_t)N * (size_t)n), *mix = malloc(sizeof(float) * (size_t)n);
    const char *name_ptr[PS_MAX_SOURCES];
    for (int k = 0; k < N; k++) name_ptr[k] = names[k];
    if (!sources || !mix) rc = cli_fail(EXIT_RUNTIME, "out of memory");
    for (int k = 0; !rc && k < N; k++)
        if (!(st[k] = ps_wavenet_stream_create(net[k], 1, &err))) rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
    if (!rc && make_dirs(out, &err)) rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
    if (!rc && !force) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%05ld", out, first);
        if (access(path, F_OK) == 0)
            rc = cli_fail(EXIT_RUNTIME, "%s: exists (use --force to write over the items)", path);
    }
    progress bar;
    progress_start(&bar, "prior items", "items", (double)items, quiet);
    for (long i = 0; !rc && i < items; i++) {
        for (int k = 0; k < N; k++) {
            ps_noise_ladder ladder = {info[k].noise_levels, info[k].sigma_max, info[k].sigma_min};
            float cond[PS_PRIOR_COND], last = 0.0f;
            ps_noise_cond(&ladder, (float)sigma, cond); /* 0: the clean end of the ladder */
            ps_wavenet_stream_reset(st[k]);
            ps_wavenet_stream_set_cond(st[k], cond);
            ps_rng rng;
            ps_rng_seed(&rng, ((uint64_t)seed << 32) ^ ((uint64_t)(first + i) * PS_MAX_SOURCES + (uint64_t)k));
            if (ps_wavenet_generate(st[k], &last, sources + (size_t)k * n, (int)n, &rng, &err))
                rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
        }
        for (long t = 0; t < n; t++) {
            float m = 0.0f;
            for (int k = 0; k < N; k++) m += w[k] * sources[(size_t)k * n + t];
            mix[t] = m;
        }
        if (!rc && item_write(out, first + i, rate, name_ptr, N, sources, mix, n, &err))
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
        progress_update(&bar, (double)(i + 1));
    }
    progress_finish(&bar, (double)items);
    for (int k = 0; k < N; k++) {
        ps_wavenet_stream_destroy(st[k]);
        ps_wavenet_destroy(net[k]);
    }
    free(sources);
    free(mix);
    return rc;
}
