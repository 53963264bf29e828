/* priorsep data priors: items sampled from the priors themselves (each source drawn
 * from its prior at a noise level of its ladder, mixed with the given weights).
 * A separator trained on them has seen no true source and no real mixture: the
 * unsupervised recipe of the shipped toy separator. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "item_files.h"
#include "pitch_balance.h"
#include "pitch_shift.h"
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
          "With --pool M, M x N candidates are drawn per source (those that items\n"
          "M x first ... M x (first + N) - 1 would hold) and N of them kept with an even\n"
          "spread of pitch (upward crossings per second, 16 bins of log pitch): a prior's\n"
          "samples cluster around a few pitches, and a separator trained on them fails\n"
          "where they are rare. The kept samples are paired into items at random (seeded).\n"
          "With --shift-octaves X, each kept sample is then read faster or slower (libsoxr)\n"
          "to move its pitch by u octaves, u uniform in [-X, X] (seeded): pitches the prior\n"
          "rarely draws at all. An item is then as long as its shortest source.\n"
          "\n"
          "  --priors DIR      folder of the priors\n"
          "  --out DIR         output folder (created if missing)\n"
          "  --sources A,B,..  (default sine,square,sawtooth,triangle)\n"
          "  --weights X,Y,..  mixing weights (default 1/N each)\n"
          "  --items N         (default 400)   --first I (default 0)\n"
          "  --seconds S       per item (default 1.5)\n"
          "  --pool M          candidates per item kept, 1..64 (default 1: no pool)\n"
          "  --shift-octaves X pitch shift range, 0..2 (default 0: none)\n"
          "  --sigma X         the priors' noise level (default 0: the clean end of the ladder;\n"
          "                    0.1 gave a better unsupervised separator on the toy data)\n"
          "  --seed N          (default 1)\n"
          "  --force           write over existing items   --quiet   no progress bar\n"
          "\n"
          "example: priorsep data priors --priors models/toy --out prior-items --items 400 \\\n"
          "             --sigma 0.1 --pool 4 --shift-octaves 1\n",
          f);
}

enum {
    PITCH_BINS = 16,
    MAX_POOL = 64,
};
/* Samples held at once: the candidates of one source and the kept samples of all. */
static const double MAX_BYTES = 4.0 * 1024 * 1024 * 1024;

/* One thread's share of one source's candidates: every parts-th from part on. */
typedef struct drawing {
    const ps_wavenet *net;
    const float *cond;
    long seed, first, count, n;
    int k, part, parts, rate;
    float *pool;  /* count rows of n samples */
    double *hz;   /* count pitches, or NULL */
    progress *bar; /* updated by part 0 only, NULL for the others */
    double done_before, total;
    int rc;
    ps_error err;
} drawing;

static void *draw_candidates(void *arg)
{
    drawing *d = arg;
    ps_wavenet_stream *st = ps_wavenet_stream_create(d->net, 1, &d->err);
    if (!st) {
        d->rc = -1;
        return NULL;
    }
    for (long c = d->part; c < d->count && !d->rc; c += d->parts) {
        float last = 0.0f, *y = d->pool + (size_t)c * (size_t)d->n;
        ps_wavenet_stream_reset(st);
        ps_wavenet_stream_set_cond(st, d->cond);
        ps_rng rng;
        ps_rng_seed(&rng, ((uint64_t)d->seed << 32) ^ ((uint64_t)(d->first + c) * PS_MAX_SOURCES + (uint64_t)d->k));
        if (ps_wavenet_generate(st, &last, y, (int)d->n, &rng, &d->err)) d->rc = -1;
        else if (d->hz) d->hz[c] = crossing_rate_hz(y, d->n, d->rate);
        if (d->bar) progress_update(d->bar, d->done_before + (double)(c + 1));
    }
    ps_wavenet_stream_destroy(st);
    return NULL;
}

/* Draws source k's candidates in two threads (each candidate's samples depend only on
 * its seed, so the split does not change them). */
static int draw_source(drawing *job)
{
    drawing second = *job;
    second.part = 1, second.parts = 2, second.bar = NULL;
    job->part = 0, job->parts = 2;
    pthread_t thread;
    int threaded = pthread_create(&thread, NULL, draw_candidates, &second) == 0;
    if (!threaded) job->parts = 1;
    draw_candidates(job);
    if (threaded) pthread_join(thread, NULL);
    if (job->rc) return -1;
    if (threaded && second.rc) {
        job->err = second.err;
        return -1;
    }
    return 0;
}

/* "sine: pitch 10/50/90 % of 1600 candidates 61 / 95 / 402 Hz, of the 400 kept 45 / 190 / 690 Hz" */
static void report_spread(const char *name, const double *hz, long n, const long *picked, long kept)
{
    double all[3], some[3];
    if (pitch_deciles(hz, NULL, n, all) || pitch_deciles(hz, picked, kept, some)) return;
    fprintf(stderr, "%s: pitch 10/50/90 %% of %ld candidates %.0f / %.0f / %.0f Hz, of the %ld kept "
                    "%.0f / %.0f / %.0f Hz\n", name, n, all[0], all[1], all[2], kept, some[0], some[1], some[2]);
}

/* Shifts the pitch of each of an item's N rows (n samples each) by u octaves, u uniform in
 * [-octaves, octaves] drawn in source order from `seed`, and packs the rows to the
 * shortest one's length *len (rows of *len samples from the start). tmp holds n floats. */
static int shift_item(float *rows, int N, long n, double octaves, uint64_t seed, float *tmp, long *len)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    ps_error err;
    *len = n;
    for (int k = 0; k < N; k++) {
        float *row = rows + (size_t)k * (size_t)n;
        long got = pitch_shift(row, n, exp2(octaves * (2.0 * ps_rng_uniform(&rng) - 1.0)), tmp, n, &err);
        if (got < 1) return cli_fail(EXIT_RUNTIME, "%s", got < 0 ? err.msg : "pitch shift: no samples out");
        memcpy(row, tmp, sizeof(float) * (size_t)got);
        if (got < *len) *len = got;
    }
    for (int k = 1; k < N; k++) /* rows move towards the start: in order, none is overwritten */
        memmove(rows + (size_t)k * (size_t)*len, rows + (size_t)k * (size_t)n, sizeof(float) * (size_t)*len);
    return 0;
}

int cmd_data_priors(int argc, char **argv)
{
    enum { O_PRIORS = 256, O_OUT, O_SOURCES, O_WEIGHTS, O_ITEMS, O_FIRST, O_SECONDS, O_SIGMA, O_SEED,
           O_POOL, O_SHIFT, O_FORCE, O_QUIET, O_HELP };
    static const struct option options[] = {
        {"priors", required_argument, 0, O_PRIORS}, {"out", required_argument, 0, O_OUT},
        {"sources", required_argument, 0, O_SOURCES}, {"weights", required_argument, 0, O_WEIGHTS},
        {"items", required_argument, 0, O_ITEMS},   {"first", required_argument, 0, O_FIRST},
        {"seconds", required_argument, 0, O_SECONDS}, {"seed", required_argument, 0, O_SEED},
        {"sigma", required_argument, 0, O_SIGMA},   {"pool", required_argument, 0, O_POOL},
        {"shift-octaves", required_argument, 0, O_SHIFT},
        {"force", no_argument, 0, O_FORCE},         {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
    const char *priors = NULL, *out = NULL, *weights = NULL;
    char names[PS_MAX_SOURCES][32];
    int N = 0, force = 0, quiet = 0, opt;
    long items = 400, first = 0, seed = 1, pool = 1;
    double seconds = 1.5, sigma = 0.0, shift = 0.0;
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
        case O_POOL: if (cli_parse_int("--pool", optarg, 1, MAX_POOL, &pool)) return EXIT_USAGE; break;
        case O_SHIFT: if (cli_parse_double("--shift-octaves", optarg, 0.0, 2.0, &shift)) return EXIT_USAGE; break;
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
    const long candidates = pool * items;
    int rc = EXIT_OK;
    double bytes = sizeof(float) * (double)n * ((double)candidates + (double)N * (double)items);
    if (bytes > MAX_BYTES)
        rc = cli_fail(EXIT_USAGE, "--items %ld x --pool %ld x --seconds %g: %.1f GiB of samples at once, more "
                                  "than %.0f; write fewer items per call (--first)",
                      items, pool, seconds, bytes / 1073741824.0, MAX_BYTES / 1073741824.0);
    float *kept = NULL, *cand = NULL, *mix = NULL;
    double *hz = NULL;
    long *picked = NULL, *len = NULL;
    if (!rc && (!(kept = malloc(sizeof(float) * (size_t)N * (size_t)items * (size_t)n)) ||
                !(cand = malloc(sizeof(float) * (size_t)candidates * (size_t)n)) ||
                !(mix = malloc(sizeof(float) * (size_t)n)) ||
                !(hz = malloc(sizeof(double) * (size_t)candidates)) ||
                !(picked = malloc(sizeof(long) * (size_t)items)) || !(len = malloc(sizeof(long) * (size_t)items))))
        rc = cli_fail(EXIT_RUNTIME, "out of memory");
    if (!rc && make_dirs(out, &err)) rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
    if (!rc && !force) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%05ld", out, first);
        if (access(path, F_OK) == 0)
            rc = cli_fail(EXIT_RUNTIME, "%s: exists (use --force to write over the items)", path);
    }
    progress bar;
    progress_start(&bar, pool > 1 ? "prior candidates" : "prior samples", "samples",
                   (double)N * (double)candidates, quiet);
    for (int k = 0; !rc && k < N; k++) {
        ps_noise_ladder ladder = {info[k].noise_levels, info[k].sigma_max, info[k].sigma_min};
        float cond[PS_PRIOR_COND];
        ps_noise_cond(&ladder, (float)sigma, cond); /* 0: the clean end of the ladder */
        drawing job = {.net = net[k], .cond = cond, .seed = seed, .first = first * pool,
                       .count = candidates, .n = n, .k = k, .rate = rate, .pool = cand,
                       .hz = pool > 1 ? hz : NULL, .bar = &bar,
                       .done_before = (double)k * (double)candidates};
        if (draw_source(&job)) {
            rc = cli_fail(EXIT_RUNTIME, "%s: %s", names[k], job.err.msg);
            break;
        }
        if (pool > 1) {
            if (pick_pitch_balanced(hz, candidates, items, PITCH_BINS, picked)) {
                rc = cli_fail(EXIT_RUNTIME, "out of memory");
                break;
            }
            /* kept in bin order: shuffled, so that the sources' pitches pair at random */
            ps_rng rng;
            ps_rng_seed(&rng, ~(((uint64_t)seed << 32) ^ (uint64_t)k)); /* no candidate's seed */
            for (long i = items - 1; i > 0; i--) {
                long j = (long)(ps_rng_u64(&rng) % (uint64_t)(i + 1)), t = picked[i];
                picked[i] = picked[j], picked[j] = t;
            }
            if (!quiet) report_spread(names[k], hz, candidates, picked, items);
        } else {
            for (long i = 0; i < items; i++) picked[i] = i;
        }
        for (long i = 0; i < items; i++)
            memcpy(kept + ((size_t)i * (size_t)N + (size_t)k) * (size_t)n, cand + (size_t)picked[i] * (size_t)n,
                   sizeof(float) * (size_t)n);
    }
    progress_finish(&bar, (double)N * (double)candidates);
    for (long i = 0; !rc && i < items; i++) {
        len[i] = n;
        if (shift > 0.0) rc = shift_item(kept + (size_t)i * (size_t)N * (size_t)n, N, n, shift,
                                         ~(((uint64_t)seed << 32) ^ (uint64_t)(PS_MAX_SOURCES * (first + i + 1))),
                                         cand, &len[i]);
    }
    const char *name_ptr[PS_MAX_SOURCES];
    for (int k = 0; k < N; k++) name_ptr[k] = names[k];
    for (long i = 0; !rc && i < items; i++) {
        const float *sources = kept + (size_t)i * (size_t)N * (size_t)n;
        for (long t = 0; t < len[i]; t++) {
            float m = 0.0f;
            for (int k = 0; k < N; k++) m += w[k] * sources[(size_t)k * (size_t)len[i] + (size_t)t];
            mix[t] = m;
        }
        if (item_write(out, first + i, rate, name_ptr, N, sources, mix, len[i], &err))
            rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
    }
    for (int k = 0; k < N; k++) ps_wavenet_destroy(net[k]);
    free(kept), free(cand), free(mix), free(hz), free(picked), free(len);
    return rc;
}
