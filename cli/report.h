/* The evaluation commands' tables: Markdown on stdout and, on request, the same tables
 * as CSV and JSON files, each written to a temporary name and renamed over its path when
 * complete. A command supplies one formatter per form over its own results. */
#ifndef PRIORSEP_REPORT_H
#define PRIORSEP_REPORT_H
#include <stdio.h>

typedef void (*report_format)(FILE *f, const void *tables);

typedef struct report_formats {
    report_format markdown, csv, json;
} report_formats;

/* Prints the Markdown on stdout, then writes the CSV and the JSON files (a NULL path: not
 * asked). A failed write (full disk included) leaves that path as it was and is reported
 * as "priorsep: <path>: cannot write the CSV|JSON". Returns EXIT_OK or EXIT_RUNTIME. */
int report_emit(const report_formats *fmt, const void *tables, const char *csv_path,
                const char *json_path);

/* s as a JSON string literal, quotes included. */
void report_json_string(FILE *f, const char *s);

#endif
