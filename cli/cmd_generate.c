/* priorsep generate: samples audio from a prior, one sample at a time through the
 * streaming cache, and writes it atomically. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "audio_writer.h"
#include "cli.h"
#include "priorsep/model_file.h"
#include "priorsep/prior.h"
#include "priorsep/wavenet.h"
#include "progress.h"

static void usage(FILE *f)
{
    fputs("usage: priorsep generate --model MODEL --seconds S [options] OUT\n"
          "\n"
          "Samples S seconds of audio from a WaveNet prior at the model's sample rate and\n"
          "writes them to OUT (.wav, .flac, .aiff or .au; 16-bit PCM).\n"
          "\n"
          "  --model MODEL   prior to sample from (a .safetensors model file)\n"
          "  --seconds S     length, 0 < S <= 3600\n"
          "  --seed N        sampling seed (default 1): same seed, same audio\n"
          "  --force         replace OUT if it exists\n"
          "  --quiet         no progress bar\n"
          "\n"
          "example: priorsep generate --model models/toy/sine.safetensors --seconds 2 sine.wav\n",
          f);
}

int cmd_generate(int argc, char **argv)
{
    enum { O_MODEL = 256, O_SECONDS, O_SEED, O_FORCE, O_QUIET, O_HELP };
    static const struct option options[] = {
        {"model", required_argument, 0, O_MODEL}, {"seconds", required_argument, 0, O_SECONDS},
        {"seed", required_argument, 0, O_SEED},   {"force", no_argument, 0, O_FORCE},
        {"quiet", no_argument, 0, O_QUIET},       {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    const char *model_path = NULL;
    double seconds = -1;
    long seed = 1;
    int force = 0, quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case O_MODEL: model_path = optarg; break;
        case O_SECONDS:
            if (cli_parse_double("--seconds", optarg, 1e-6, 3600, &seconds)) return EXIT_USAGE;
            break;
        case O_SEED:
            if (cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) return EXIT_USAGE;
            break;
        case O_FORCE: force = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!model_path) return cli_fail(EXIT_USAGE, "--model: missing (see priorsep generate --help)");
    if (seconds < 0) return cli_fail(EXIT_USAGE, "--seconds: missing (see priorsep generate --help)");
    if (argc - optind != 1) return cli_fail(EXIT_USAGE, "expected one output file (see priorsep generate --help)");
    const char *out_path = argv[optind];

    ps_error err;
    ps_model_info info;
    ps_wavenet *net = ps_model_load(model_path, &info, &err);
    if (!net) return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    if (ps_wavenet_config_of(net)->head == PS_HEAD_GAUSSIAN) {
        ps_wavenet_destroy(net);
        return cli_fail(EXIT_USAGE, "%s: is a separator, not a prior", model_path);
    }
    long total = lround(seconds * info.sample_rate);
    if (total < 1) total = 1;

    enum { CHUNK = 4096 };
    int rc = EXIT_RUNTIME;
    float *y = malloc(sizeof(float) * CHUNK);
    ps_wavenet_stream *st = ps_wavenet_stream_create(net, 1, &err);
    audio_writer w = {0};
    if (!y || !st) {
        cli_fail(EXIT_RUNTIME, "%s", y ? err.msg : "out of memory");
        goto done;
    }
    if (audio_writer_open(&w, out_path, info.sample_rate, 1, 0, force, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto done;
    }
    if (info.noise_levels > 0) {
        /* a noise-conditioned prior samples clean audio at the clean end of its ladder */
        ps_noise_ladder ladder = {info.noise_levels, info.sigma_max, info.sigma_min};
        float cond[PS_PRIOR_COND];
        ps_noise_cond(&ladder, 0.0f, cond);
        ps_wavenet_stream_set_cond(st, cond);
    }
    ps_rng rng;
    ps_rng_seed(&rng, (uint64_t)seed);
    float last = 0.0f;
    progress bar;
    progress_start(&bar, "generate", "samples", (double)total, quiet);
    for (long done = 0; done < total;) {
        int n = total - done < CHUNK ? (int)(total - done) : CHUNK;
        if (ps_wavenet_generate(st, &last, y, n, &rng, &err) ||
            audio_writer_write(&w, y, n, &err)) {
            audio_writer_abort(&w);
            cli_fail(EXIT_RUNTIME, "%s", err.msg);
            goto done;
        }
        done += n;
        progress_update(&bar, (double)done);
    }
    progress_finish(&bar, (double)total);
    if (audio_writer_commit(&w, &err)) {
        cli_fail(EXIT_RUNTIME, "%s", err.msg);
        goto done;
    }
    rc = EXIT_OK;
done:
    free(y);
    ps_wavenet_stream_destroy(st);
    ps_wavenet_destroy(net);
    return rc;
}
