/* Error reporting: every fallible call fills a ps_error with one line that names the
 * file or field at fault and what is wrong, ready to print after "priorsep: ". */
#ifndef PRIORSEP_ERROR_H
#define PRIORSEP_ERROR_H

typedef struct ps_error {
    char msg[512];
} ps_error;

/* printf-style; a NULL err is allowed and ignored. Always returns -1 so callers can
 * write `return ps_error_set(err, ...);`. */
int ps_error_set(ps_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
