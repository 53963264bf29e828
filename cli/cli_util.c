#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
