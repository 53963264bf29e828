/* Shared by the priorsep subcommands: messages, exit codes and option values. */
#ifndef PRIORSEP_CLI_H
#define PRIORSEP_CLI_H
#include <stddef.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* "priorsep: <message>" on stderr; return the exit code given, for `return cli_fail(...)`. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict option values: the whole string must parse and lie in [lo, hi]; otherwise a
 * message naming the option and a nonzero return. */
int cli_parse_int(const char *option, const char *text, long lo, long hi, long *out);
int cli_parse_double(const char *option, const char *text, double lo, double hi, double *out);

/* Numeric options of a getopt table: each names its id, its value's place and range. */
typedef struct cli_int_option {
    int id;
    const char *name;
    long *v;
    long lo, hi;
} cli_int_option;
typedef struct cli_real_option {
    int id;
    const char *name;
    double *v;
    double lo, hi;
} cli_real_option;
/* 1 if id is one of the options (its value parsed into place), 0 if none is; -1 after a
 * usage error. */
int cli_apply_numeric_option(int id, const char *arg, const cli_int_option *ints, size_t n_ints,
                             const cli_real_option *reals, size_t n_reals);

/* Comma-separated lists: names (each < 32 bytes, no '/', at most max of them) and exactly
 * `want` numbers in [lo, hi]. */
int cli_parse_names(const char *option, const char *text, char (*names)[32], int max, int *n);
int cli_parse_numbers(const char *option, const char *text, double lo, double hi, float *v,
                      int want);

/* A subcommand: argc/argv start at the subcommand's name (getopt-ready). */
typedef int (*cli_command_fn)(int argc, char **argv);
int cmd_separate(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_data_toy(int argc, char **argv);
int cmd_data_priors(int argc, char **argv);
int cmd_init_prior(int argc, char **argv);
int cmd_train_prior(int argc, char **argv);
int cmd_eval_priors(int argc, char **argv);
int cmd_eval_separation(int argc, char **argv);
int cmd_train_separator(int argc, char **argv);
int cmd_jack(int argc, char **argv); /* plugin/cmd_jack.c */

#endif
