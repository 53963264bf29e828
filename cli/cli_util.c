#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("priorsep: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_parse_int(const char *option, const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
        cli_fail(EXIT_USAGE, "%s: expected a whole number in %ld..%ld, got '%s'", option, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *option, const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v) || v < lo || v > hi) {
        cli_fail(EXIT_USAGE, "%s: expected a number in %g..%g, got '%s'", option, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_names(const char *option, const char *text, char (*names)[32], int max, int *n)
{
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return cli_fail(EXIT_USAGE, "%s: too long", option), -1;
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max) return cli_fail(EXIT_USAGE, "%s: more than %d names", option, max), -1;
        if (strlen(tok) >= 32 || strchr(tok, '/'))
            return cli_fail(EXIT_USAGE, "%s: '%s' is not a short name", option, tok), -1;
        snprintf(names[(*n)++], 32, "%s", tok);
    }
    return *n ? 0 : (cli_fail(EXIT_USAGE, "%s: empty", option), -1);
}

int cli_parse_numbers(const char *option, const char *text, double lo, double hi, float *v,
                      int want)
{
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return cli_fail(EXIT_USAGE, "%s: too long", option), -1;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double x;
        if (n == want) return cli_fail(EXIT_USAGE, "%s: more than %d values", option, want), -1;
        if (cli_parse_double(option, tok, lo, hi, &x)) return -1;
        v[n++] = (float)x;
    }
    if (n != want) return cli_fail(EXIT_USAGE, "%s: %d values, expected %d", option, n, want), -1;
    return 0;
}

int cli_apply_numeric_option(int id, const char *arg, const cli_int_option *ints, size_t n_ints,
                             const cli_real_option *reals, size_t n_reals)
{
    for (size_t i = 0; i < n_ints; i++)
        if (id == ints[i].id) return cli_parse_int(ints[i].name, arg, ints[i].lo, ints[i].hi, ints[i].v) ? -1 : 1;
    for (size_t i = 0; i < n_reals; i++)
        if (id == reals[i].id)
            return cli_parse_double(reals[i].name, arg, reals[i].lo, reals[i].hi, reals[i].v) ? -1 : 1;
    return 0;
}
