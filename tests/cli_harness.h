/* The harness of the tests that run the priorsep command as a user does (test_cli.c,
 * test_cli_toy.c, test_train_prior.c): each test gets a fresh folder, `dir`, in which
 * run() starts the binary that $PRIORSEP names and keeps its stderr in last_stderr. A
 * failure fails the running Check test. */
#ifndef PRIORSEP_CLI_HARNESS_H
#define PRIORSEP_CLI_HARNESS_H
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char dir[64];
static char last_stderr[8192];

/* Creates dir from a mkdtemp template ("/tmp/name-XXXXXX"): for a checked fixture's
 * setup, which also needs $PRIORSEP. */
static inline void cli_dir_create(const char *template)
{
    snprintf(dir, sizeof dir, "%s", template);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_ptr_nonnull(getenv("PRIORSEP"));
}

/* Removes dir and all in it: a checked fixture's teardown. */
static inline void cli_dir_remove(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Runs `command` with sh in dir; returns its exit status (-1: it did not exit). */
static inline int shell_in_dir(const char *command)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && %s", dir, command);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs a shell command (a format string) in dir; returns its exit status. */
static inline int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int shell(const char *fmt, ...)
{
    char command[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(command, sizeof command, fmt, ap);
    va_end(ap);
    return shell_in_dir(command);
}

/* Runs "priorsep ARGS" (a format string) in dir with stderr captured in last_stderr;
 * returns its exit status. */
static inline int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int run(const char *fmt, ...)
{
    char args[2048], command[3072], errfile[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
    snprintf(command, sizeof command, "%s %s >/dev/null 2>%s", getenv("PRIORSEP"), args,
             errfile);
    int status = shell_in_dir(command);
    FILE *f = fopen(errfile, "r");
    size_t n = f ? fread(last_stderr, 1, sizeof last_stderr - 1, f) : 0;
    last_stderr[n] = '\0';
    if (f) fclose(f);
    return status;
}

/* A command line and what priorsep must do with it: exit with `status` and say want1 and
 * want2 (NULL: nothing asked) on stderr. */
typedef struct cli_case {
    const char *args;
    int status;
    const char *want1, *want2;
} cli_case;

/* Runs the cases in order; a failure names the command line. */
static inline void expect_cases(const cli_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cli_case *c = &cases[i];
        int status = run("%s", c->args);
        ck_assert_msg(status == c->status, "priorsep %s: exit status %d, not %d", c->args,
                      status, c->status);
        ck_assert_msg(!c->want1 || strstr(last_stderr, c->want1),
                      "priorsep %s: \"%s\" not in: %s", c->args, c->want1, last_stderr);
        ck_assert_msg(!c->want2 || strstr(last_stderr, c->want2),
                      "priorsep %s: \"%s\" not in: %s", c->args, c->want2, last_stderr);
    }
}

/* No file of dir (not below it) has "tmp-" in its name: no temporary was left. */
static inline int no_temporaries_left(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp-", dir);
    return system(cmd) != 0;
}

#endif
