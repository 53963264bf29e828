/* priorsep init prior: writes a WaveNet prior with fresh random weights. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arch_options.h"
#include "cli.h"
#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"

static void usage(FILE *f)
{
    fputs("usage: priorsep init prior --out MODEL [options]\n"
          "\n"
          "Writes an untrained WaveNet prior (random weights) as a model file. The defaults\n"
          "are the reference prior R: 2 stacks x 10 layers, kernel 2, 32 residual and skip\n"
          "channels, mixture-of-logistics head with 10 components.\n"
          "\n"
          "  --out MODEL          model file to write (.safetensors)\n"
          ARCH_OPTIONS_HELP
          "  --sample-rate HZ     the model's sample rate (default 14700)\n"
          "  --source NAME        the source class it models (default none)\n"
          "  --seed N             initialization seed (default 1)\n"
          "  --force              replace MODEL if it exists\n"
          "\n"
          "example: priorsep init prior --out sine.safetensors --source sine\n",
          f);
}

int cmd_init_prior(int argc, char **argv)
{
    enum { O_RATE = 256, O_SOURCE, O_SEED, O_FORCE, O_OUT, O_HELP };
    static const struct option options[] = {
        {"out", required_argument, 0, O_OUT},       {"sample-rate", required_argument, 0, O_RATE},
        {"source", required_argument, 0, O_SOURCE}, {"seed", required_argument, 0, O_SEED},
        {"force", no_argument, 0, O_FORCE},         {"help", no_argument, 0, O_HELP},
        ARCH_OPTIONS,                               {0, 0, 0, 0}};
    ps_wavenet_config cfg = ps_wavenet_config_reference();
    ps_model_info info = {.sample_rate = 14700, .source = ""};
    const char *out = NULL;
    long v, seed = 1;
    int force = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        int arch = arch_option_apply(opt, optarg, &cfg);
        if (arch < 0) return EXIT_USAGE;
        if (arch) continue;
        switch (opt) {
        case O_OUT: out = optarg; break;
        case O_RATE:
            if (cli_parse_int("--sample-rate", optarg, 1000, 768000, &v)) return EXIT_USAGE;
            info.sample_rate = (int)v;
            break;
        case O_SOURCE:
            if (strlen(optarg) >= sizeof info.source)
                return cli_fail(EXIT_USAGE, "--source: longer than %zu characters", sizeof info.source - 1);
            snprintf(info.source, sizeof info.source, "%s", optarg);
            break;
        case O_SEED:
            if (cli_parse_int("--seed", optarg, 0, 2147483647L, &seed)) return EXIT_USAGE;
            break;
        case O_FORCE: force = 1; break;
        case O_HELP: usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail(EXIT_USAGE, "%s: unexpected argument (see --help)", argv[optind]);
    if (!out) return cli_fail(EXIT_USAGE, "--out: missing (see priorsep init prior --help)");
    if (!force && access(out, F_OK) == 0) return cli_fail(EXIT_RUNTIME, "%s: exists (use --force to replace it)", out);

    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&cfg, &err);
    if (!net) return cli_fail(EXIT_USAGE, "%s", err.msg);
    ps_wavenet_init_random(net, (uint64_t)seed);
    int rc = ps_model_save(out, net, &info, &err);
    ps_wavenet_destroy(net);
    if (rc) return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    return EXIT_OK;
}
