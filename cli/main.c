/* priorsep: git-style front end. Each subcommand lives in its own cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name, *sub; /* sub: second word, or NULL */
    cli_command_fn run;
    const char *summary;
} commands[] = {
    {"separate", NULL, cmd_separate, "separate audio files into their sources"},
    {"generate", NULL, cmd_generate, "sample audio from a prior"},
    {"data", "toy", cmd_data_toy, "write the toy data set (four waveforms and their mix)"},
    {"data", "priors", cmd_data_priors, "write items sampled from the priors (unsupervised training)"},
    {"init", "prior", cmd_init_prior, "write an untrained prior with random weights"},
    {"train", "prior", cmd_train_prior, "train a WaveNet prior of one source class"},
    {"train", "separator", cmd_train_separator, "train the separator (supervised, unsupervised, semi)"},
    {"eval", "priors", cmd_eval_priors, "score priors on their classes and on each other's"},
    {"eval", "separation", cmd_eval_separation, "score a separator on toy items (SI-SDR, BSS Eval)"},
    {"jack", NULL, cmd_jack, "run the separator as a JACK client (live input)"},
};

static void usage(FILE *f)
{
    fputs("usage: priorsep <command> [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", commands[i].name, commands[i].sub ? " " : "",
                 commands[i].sub ? commands[i].sub : "");
        fprintf(f, "  %-16s %s\n", name, commands[i].summary);
    }
    fputs("\n'priorsep <command> --help' shows a command's options and an example.\n", f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("priorsep " PRIORSEP_VERSION);
        return EXIT_OK;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        known = 1;
        if (!commands[i].sub) return commands[i].run(argc - 1, argv + 1);
        if (argc > 2 && strcmp(argv[2], commands[i].sub) == 0)
            return commands[i].run(argc - 2, argv + 2);
    }
    if (known)
        return cli_fail(EXIT_USAGE, "%s %s: unknown command (see priorsep --help)", argv[1],
                        argc > 2 ? argv[2] : "");
    return cli_fail(EXIT_USAGE, "%s: unknown command (see priorsep --help)", argv[1]);
}
