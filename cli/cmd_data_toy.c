/* priorsep data toy: writes toy items (design section 5) as audio files, one folder per
 * item, and a manifest of what was drawn. The manifest is renamed into place last, so
 * its presence marks a finished data set. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "item_files.h"
#include "priorsep/error.h"
#include "priorsep/rng.h"
#include "priorsep/toy.h"
#include "progress.h"

static void usage(FILE *f)
{
    fputs("usage: priorsep data toy --out DIR --split train|test [options]\n"
          "\n"
          "Writes toy items (design section 5): four sources (sine, square, sawtooth,\n"
          "triangle), each scaled by its amplitude, and their mean, the mixture; 14,700 Hz,\n"
          "48,000 samples. Item I goes to DIR/NNNNN (I with five digits or more) as mix.wav,\n"
          "sine.wav, square.wav, sawtooth.wav and triangle.wav: mono 32-bit float WAV, so the\n"
          "samples are exactly those the engine generates. An item depends only on (seed,\n"
          "split, index): the same options give byte-identical files.\n"
          "\n"
          "DIR/manifest.csv has a header line and one row per item: index, split, seed, then\n"
          "for each source in order <source>_key, _frequency_hz, _period (samples), _phase\n"
          "(samples) and _amplitude, at full precision. It is written last: a DIR that has one\n"
          "holds a finished data set, replaced only with --force; after an interrupted run\n"
          "(no manifest), run the command again.\n"
          "\n"
          "  --out DIR      output folder (created, with its parents, if missing)\n"
          "  --split S      train or test (different items for the same seed)\n"
          "  --items N      number of items, 1..1000000 (default: 5000 for train, 1500 for test)\n"
          "  --first I      index of the first item (default 0), to make part of a split\n"
          "  --seed N       data seed, 0..2147483647 (default 1)\n"
          "  --drop A,B,..  silence each of these sources with probability --drop-prob,\n"
          "                 drawn per item and source (seeded): the source file holds\n"
          "                 zeros, the mixture is the mean over all four slots of what\n"
          "                 is left, and the manifest gives the amplitude 0. The other\n"
          "                 sources are those of the plain data set. A separator\n"
          "                 curriculum: fewer sources in the way of the hard ones.\n"
          "  --drop-prob P  0..1 (default 0.5)\n"
          "  --force        replace the data set in DIR\n"
          "  --quiet        no progress bar\n"
          "\n"
          "example: priorsep data toy --out data/toy/test --split test --items 1500 --seed 1\n",
          f);
}

/* mkstemp creates files readable by their owner only; a data set gets the usual
 * permissions, 0666 less the umask. */
static void share_file(int fd)
{
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
}

/* The manifest goes to a temporary beside it and is renamed over manifest.csv at the end. */
typedef struct manifest {
    FILE *f;
    char *path, *tmp;
} manifest;

static int manifest_open(manifest *m, const char *dir, ps_error *err)
{
    m->path = malloc(strlen(dir) + 16);
    m->tmp = malloc(strlen(dir) + 32);
    if (!m->path || !m->tmp) return ps_error_set(err, "%s: out of memory", dir);
    sprintf(m->path, "%s/manifest.csv", dir);
    sprintf(m->tmp, "%s.tmp-XXXXXX", m->path);
    int fd = mkstemp(m->tmp);
    if (fd < 0) {
        ps_error_set(err, "%s: cannot create a file there: %s", m->path, strerror(errno));
        free(m->tmp);
        m->tmp = NULL; /* nothing to remove */
        return -1;
    }
    share_file(fd);
    m->f = fdopen(fd, "w");
    if (!m->f) {
        close(fd);
        return ps_error_set(err, "%s: %s", m->path, strerror(errno));
    }
    fputs("index,split,seed", m->f);
    for (int k = 0; k < PS_TOY_SOURCES; k++) {
        const char *s = ps_toy_source_names[k];
        fprintf(m->f, ",%s_key,%s_frequency_hz,%s_period,%s_phase,%s_amplitude", s, s, s, s, s);
    }
    fputc('\n', m->f);
    return 0;
}

static void manifest_row(manifest *m, long index, ps_toy_split split, long seed,
                         const ps_toy_item_params *p)
{
    fprintf(m->f, "%ld,%s,%ld", index, ps_toy_split_name(split), seed);
    /* Keys are exact tenths, so one decimal is their full precision. */
    for (int k = 0; k < PS_TOY_SOURCES; k++)
        fprintf(m->f, ",%.1f,%.17g,%d,%d,%.9g", p->key[k], p->freq[k], p->period[k],
                p->phase[k], (double)p->amp[k]);
    fputc('\n', m->f);
}

/* Silences the sources in mask (bit k: source k), each with probability prob, drawn
 * from (seed, split, index) alone; the mixture is made again from what is left. */
static void drop_sources(unsigned mask, double prob, long seed, ps_toy_split split, long index,
                         ps_toy_item_params *p, float *sources, float *mix, int n)
{
    ps_rng rng;
    ps_rng_seed(&rng, ((uint64_t)seed << 32) ^ ((uint64_t)index * 0x9E3779B97F4A7C15ull) ^
                          ((uint64_t)split + 1) * 0xD1B54A32D192ED03ull);
    int changed = 0;
    for (int k = 0; k < PS_TOY_SOURCES; k++)
        if ((mask >> k & 1u) && ps_rng_uniform(&rng) < prob) {
            memset(sources + (size_t)k * n, 0, sizeof(float) * (size_t)n);
            p->amp[k] = 0.0f;
            changed = 1;
        }
    if (changed) ps_toy_mix(sources, mix, n);
}

static int manifest_commit(manifest *m, ps_error *err)
{
    int failed = fflush(m->f) != 0 || ferror(m->f) || fsync(fileno(m->f)) != 0;
    int e = errno;
    failed |= fclose(m->f) != 0;
    m->f = NULL;
    if (failed) return ps_error_set(err, "%s: write failed: %s", m->path, strerror(e));
    if (rename(m->tmp, m->path) != 0)
        return ps_error_set(err, "%s: cannot rename the finished file into place: %s", m->path,
                            strerror(errno));
    free(m->tmp);
    m->tmp = NULL;
    return 0;
}

/* Closes and removes an uncommitted temporary; frees everything. */
static void manifest_close(manifest *m)
{
    if (m->f) fclose(m->f);
    if (m->tmp) unlink(m->tmp);
    free(m->tmp);
    free(m->path);
}


int cmd_data_toy(int argc, char **argv)
{
    enum { O_OUT = 256, O_SPLIT, O_ITEMS, O_FIRST, O_SEED, O_DROP, O_DROP_PROB, O_FORCE, O_QUIET,
           O_HELP };
    static const struct option options[] = {
        {"out", required_argument, 0, O_OUT},     {"split", required_argument, 0, O_SPLIT},
        {"items", required_argument, 0, O_ITEMS}, {"first", required_argument, 0, O_FIRST},
        {"seed", required_argument, 0, O_SEED},   {"drop", required_argument, 0, O_DROP},
        {"drop-prob", required_argument, 0, O_DROP_PROB}, {"force", no_argument, 0, O_FORCE},
        {"quiet", no_argument, 0, O_QUIET},       {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    const char *out = NULL, *split_name = NULL;
    long items = 0, first = 0, seed = 1;
    double drop_prob = -1.0; /* not given: 0.5 with --drop */
    unsigned drop = 0;       /* bit k: source k may be silenced */
    int force = 0, quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case O_OUT: out = optarg; break;
        case O_SPLIT: split_name = optarg; break;
        case O_ITEMS:
            if (cli_parse_int("--items", optarg, 1, 1000000, &items)) return EXIT_USAGE;
            break;
        case O_FIRST:
            if (cli_parse_int("--first", optarg, 0, 2147483647L, &first)) return EXIT_USAGE;
            break;
        case O_SEED:
            if (cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) return EXIT_USAGE;
            break;
        case O_DROP: {
            char names[PS_TOY_SOURCES][32];
            int n;
            if (cli_parse_names("--drop", optarg, names, PS_TOY_SOURCES, &n)) return EXIT_USAGE;
            for (int j = 0; j < n; j++) {
                int k = 0;
                while (k < PS_TOY_SOURCES && strcmp(names[j], ps_toy_source_names[k]) != 0) k++;
                if (k == PS_TOY_SOURCES)
                    return cli_fail(EXIT_USAGE,
                                    "--drop: '%s' is not a toy source (sine, square, sawtooth, "
                                    "triangle)",
                                    names[j]);
                drop |= 1u << k;
            }
            break;
        }
        case O_DROP_PROB:
            if (cli_parse_double("--drop-prob", optarg, 0.0, 1.0, &drop_prob)) return EXIT_USAGE;
            break;
        case O_FORCE: force = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!out || !*out) return cli_fail(EXIT_USAGE, "--out: missing (see priorsep data toy --help)");
    if (!split_name) return cli_fail(EXIT_USAGE, "--split: missing (see priorsep data toy --help)");
    ps_toy_split split;
    if (ps_toy_split_parse(split_name, &split))
        return cli_fail(EXIT_USAGE, "--split: expected 'train' or 'test', got '%s'", split_name);
    if (optind != argc)
        return cli_fail(EXIT_USAGE, "%s: unexpected argument (see priorsep data toy --help)",
                        argv[optind]);
    if (!items) items = split == PS_TOY_TRAIN ? PS_TOY_TRAIN_ITEMS : PS_TOY_TEST_ITEMS;
    if (drop_prob >= 0.0 && !drop)
        return cli_fail(EXIT_USAGE, "--drop-prob: needs --drop (the sources to silence)");
    if (drop_prob < 0.0) drop_prob = 0.5;

    int rc = EXIT_RUNTIME;
    ps_error err;
    manifest m = {0};
    char *path = malloc(strlen(out) + 64);
    float *sources = malloc(sizeof(float) * PS_TOY_SOURCES * PS_TOY_ITEM_SAMPLES);
    float *mix = malloc(sizeof(float) * PS_TOY_ITEM_SAMPLES);
    if (!path || !sources || !mix) {
        cli_fail(EXIT_RUNTIME, "out of memory");
        goto done;
    }
    if (make_dirs(out, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto done;
    }
    struct stat st;
    sprintf(path, "%s/manifest.csv", out);
    if (!force && stat(path, &st) == 0) {
        cli_fail(EXIT_RUNTIME, "%s: a data set is already there (use --force to replace it)", path);
        goto done;
    }
    /* The old manifest goes before its items change: an interrupted run must not look finished. */
    if (force && unlink(path) != 0 && errno != ENOENT) {
        cli_fail(EXIT_RUNTIME, "%s: cannot remove it: %s", path, strerror(errno));
        goto done;
    }
    if (manifest_open(&m, out, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto done;
    }
    progress bar;
    progress_start(&bar, "toy data", "items", (double)items, quiet);
    for (long i = 0; i < items; i++) {
        ps_toy_item_params p;
        ps_toy_item((uint64_t)seed, split, first + i, &p, sources, mix, PS_TOY_ITEM_SAMPLES);
        if (drop)
            drop_sources(drop, drop_prob, seed, split, first + i, &p, sources, mix,
                         PS_TOY_ITEM_SAMPLES);
        if (item_write(out, first + i, PS_TOY_RATE, ps_toy_source_names, PS_TOY_SOURCES, sources,
                       mix, PS_TOY_ITEM_SAMPLES, &err)) {
            cli_fail(EXIT_RUNTIME, "%s", err.msg);
            goto done;
        }
        manifest_row(&m, first + i, split, seed, &p);
        progress_update(&bar, (double)(i + 1));
    }
    progress_finish(&bar, (double)items);
    if (manifest_commit(&m, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto done;
    }
    rc = EXIT_OK;
done:
    manifest_close(&m);
    free(path);
    free(sources);
    free(mix);
    return rc;
}
