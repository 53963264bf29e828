#include "report.h"

#include <unistd.h>

#include "cli.h"

static int write_file(const char *path, report_format format, const void *tables)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    format(f, tables);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) return unlink(tmp), -1;
    return 0;
}

int report_emit(const report_formats *fmt, const void *tables, const char *csv_path,
                const char *json_path)
{
    fmt->markdown(stdout, tables);
    int rc = EXIT_OK;
    if (csv_path && write_file(csv_path, fmt->csv, tables))
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot write the CSV", csv_path);
    if (json_path && write_file(json_path, fmt->json, tables))
        rc = cli_fail(EXIT_RUNTIME, "%s: cannot write the JSON", json_path);
    return rc;
}

void report_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}
