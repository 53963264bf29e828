/* priorsep separate: audio files into their sources with a model set, streamed block by
 * block. Everything that can be checked before separating (the model, every input's
 * header, every output's name) is, so that a run refused for those leaves nothing. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "item_files.h"
#include "progress.h"
#include "separate_file.h"

static void usage(FILE *f)
{
    fputs("usage: priorsep separate [options] FILE...\n"
          "\n"
          "Separates each audio FILE (any format libsndfile reads) into one file per source\n"
          "of the model, DIR/<name>.<source>.wav, where <name> is FILE's name without its\n"
          "extension. Outputs have the input's rate, channels and length, time-aligned with\n"
          "it. WAV input keeps its sample format (16/24/32-bit PCM, where a source beyond\n"
          "full scale clips, or float); other input gives 32-bit float WAV. Each channel\n"
          "is separated on its own unless --downmix.\n"
          "NaN or infinite input samples are separated as 0 (and reported). Files go in\n"
          "order; one that fails stops the run and leaves none of its outputs behind (the\n"
          "outputs of the files before it stay). Nothing is written if a file cannot be\n"
          "opened or an output exists (without --force).\n"
          "\n"
          "  --model PATH   model folder (separator.safetensors and one prior per source)\n"
          "                 or separator file (default: " PRIORSEP_DEFAULT_MODEL ")\n"
          "  --out DIR      folder for the outputs (default: the current one; created)\n"
          "  --refine K     prior refinement steps per frame, 0..8 (default 0: fastest)\n"
          "  --frame N      frame size at the model rate, 1..65536 (default 256)\n"
          "  --downmix      average the channels into one before separating (mono outputs)\n"
          "  --force        replace existing outputs\n"
          "  --quiet        no progress bar\n"
          "\n"
          "example: priorsep separate --model models/toy --out separated --refine 2 mix.wav\n",
          f);
}

/* FILE's name without folder and extension. */
static void stem_of(const char *path, char *stem, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot > base ? (size_t)(dot - base) : strlen(base);
    snprintf(stem, size, "%.*s", (int)len, base);
}

typedef struct input {
    const char *path;
    char stem[256];
    struct stat st;
    long frames;
    char *out[PS_MAX_SOURCES];
} input;

/* Opens every input's header and names its outputs; refuses clashes and existing
 * outputs (unless force). */
static int plan(input *in, int n, const ps_model_set *set, const char *out_dir, int force)
{
    for (int i = 0; i < n; i++) {
        SF_INFO info = {0};
        SNDFILE *f = sf_open(in[i].path, SFM_READ, &info);
        if (!f)
            return cli_fail(EXIT_RUNTIME, "%s: not a readable audio file: %s", in[i].path,
                            sf_strerror(NULL));
        sf_close(f);
        in[i].frames = (long)info.frames;
        if (stat(in[i].path, &in[i].st) != 0)
            return cli_fail(EXIT_RUNTIME, "%s: %s", in[i].path, strerror(errno));
        stem_of(in[i].path, in[i].stem, sizeof in[i].stem);
        for (int j = 0; j < i; j++)
            if (strcmp(in[i].stem, in[j].stem) == 0)
                return cli_fail(EXIT_USAGE, "%s: its outputs would replace those of %s",
                                in[i].path, in[j].path);
        for (int k = 0; k < set->info.n_sources; k++) {
            const char *slash = out_dir && out_dir[strlen(out_dir) - 1] != '/' ? "/" : "";
            if (asprintf(&in[i].out[k], "%s%s%s.%s.wav", out_dir ? out_dir : "", slash,
                         in[i].stem, set->info.sources[k]) < 0) {
                in[i].out[k] = NULL;
                return cli_fail(EXIT_RUNTIME, "out of memory");
            }
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < set->info.n_sources; k++) {
            struct stat st;
            if (stat(in[i].out[k], &st) != 0) continue;
            if (!force)
                return cli_fail(EXIT_RUNTIME, "%s: exists (use --force to replace it)",
                                in[i].out[k]);
            for (int j = 0; j < n; j++)
                if (st.st_dev == in[j].st.st_dev && st.st_ino == in[j].st.st_ino)
                    return cli_fail(EXIT_USAGE, "%s: is an input, not replaced by an output",
                                    in[i].out[k]);
        }
    return 0;
}

static int run_all(input *in, int n, const ps_model_set *set, const separate_options *opt,
                   int quiet)
{
    double total = 0;
    for (int i = 0; i < n; i++) total += (double)in[i].frames;
    progress bar;
    progress_start(&bar, "separate", "frames", total, quiet);
    double done = 0;
    for (int i = 0; i < n; i++) {
        ps_error err;
        long nonfinite;
        if (separate_file(set, opt, in[i].path, in[i].out, &bar, done, &nonfinite, &err))
            return cli_fail(EXIT_RUNTIME, "%s", err.msg);
        if (nonfinite)
            cli_fail(0, "%s: %ld NaN or infinite samples, separated as 0", in[i].path, nonfinite);
        done += (double)in[i].frames;
    }
    progress_finish(&bar, total);
    return EXIT_OK;
}

int cmd_separate(int argc, char **argv)
{
    enum { O_MODEL = 256, O_OUT, O_REFINE, O_FRAME, O_DOWNMIX, O_FORCE, O_QUIET, O_HELP };
    static const struct option options[] = {
        {"model", required_argument, 0, O_MODEL}, {"out", required_argument, 0, O_OUT},
        {"refine", required_argument, 0, O_REFINE}, {"frame", required_argument, 0, O_FRAME},
        {"downmix", no_argument, 0, O_DOWNMIX},   {"force", no_argument, 0, O_FORCE},
        {"quiet", no_argument, 0, O_QUIET},       {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    const char *model_path = PRIORSEP_DEFAULT_MODEL, *out_dir = NULL;
    long refine = 0, frame = 256;
    int downmix = 0, force = 0, quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case O_MODEL: model_path = optarg; break;
        case O_OUT: out_dir = optarg; break;
        case O_REFINE:
            if (cli_parse_int("--refine", optarg, 0, PS_MAX_REFINE, &refine)) return EXIT_USAGE;
            break;
        case O_FRAME:
            if (cli_parse_int("--frame", optarg, 1, 65536, &frame)) return EXIT_USAGE;
            break;
        case O_DOWNMIX: downmix = 1; break;
        case O_FORCE: force = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    int n = argc - optind;
    if (n < 1)
        return cli_fail(EXIT_USAGE, "expected audio files to separate (see priorsep separate --help)");
    if (out_dir && !*out_dir) return cli_fail(EXIT_USAGE, "--out: empty folder name");

    ps_error err;
    ps_model_set set;
    if (ps_model_set_load(model_path, &set, &err)) return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    input *in = calloc((size_t)n, sizeof *in);
    int rc = in ? EXIT_OK : cli_fail(EXIT_RUNTIME, "out of memory");
    for (int i = 0; in && i < n; i++) in[i].path = argv[optind + i];
    if (!rc) rc = plan(in, n, &set, out_dir, force);
    if (!rc && out_dir && make_dirs(out_dir, &err)) rc = cli_fail(EXIT_RUNTIME, "%s", err.msg);
    separate_options sopt = {.refine = (int)refine, .frame = (int)frame, .downmix = downmix,
                             .overwrite = force};
    if (!rc) rc = run_all(in, n, &set, &sopt, quiet);
    for (int i = 0; in && i < n; i++)
        for (int k = 0; k < PS_MAX_SOURCES; k++) free(in[i].out[k]);
    free(in);
    ps_model_set_free(&set);
    return rc;
}
