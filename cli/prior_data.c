#include "prior_data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio_reader.h"

typedef struct path_list {
    char **path;
    int n, cap;
} path_list;

static int push(path_list *l, const char *path)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->path, sizeof *p * (size_t)cap);
        if (!p) return -1;
        l->path = p, l->cap = cap;
    }
    return (l->path[l->n] = strdup(path)) ? (l->n++, 0) : -1;
}

/* name is "<source>.<ext>" */
static int matches(const char *name, const char *source)
{
    size_t n = strlen(source);
    return strncmp(name, source, n) == 0 && name[n] == '.' && name[n + 1] != '\0' &&
           !strchr(name + n + 1, '.');
}

static int scan(const char *dir, const char *source, path_list *out, int depth, ps_error *err)
{
    if (depth > 16) return ps_error_set(err, "%s: folders nested too deep", dir);
    DIR *d = opendir(dir);
    if (!d) return ps_error_set(err, "%s: cannot read the folder: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode))
            rc = scan(path, source, out, depth + 1, err);
        else if (S_ISREG(st.st_mode) && matches(e->d_name, source) && push(out, path))
            rc = ps_error_set(err, "%s: out of memory", dir);
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int prior_data_load(prior_data *d, const char *dir, const char *source, int rate,
                    double val_fraction, ps_error *err)
{
    memset(d, 0, sizeof *d);
    path_list paths = {0};
    int rc = scan(dir, source, &paths, 0, err);
    if (!rc && paths.n == 0)
        rc = ps_error_set(err, "%s: no audio files named %s.<ext> in it or below", dir, source);
    if (!rc) {
        qsort(paths.path, (size_t)paths.n, sizeof *paths.path, by_path); /* reproducible order */
        d->file = calloc((size_t)paths.n, sizeof *d->file);
        if (!d->file) rc = ps_error_set(err, "%s: out of memory", dir);
    }
    for (int i = 0; !rc && i < paths.n; i++) {
        prior_file *f = &d->file[i];
        rc = audio_read_mono(paths.path[i], rate, &f->samples, &f->n, err);
        if (!rc) {
            f->split = f->n - (long)(val_fraction * (double)f->n);
            d->n_files++;
        }
    }
    for (int i = 0; i < paths.n; i++) free(paths.path[i]);
    free(paths.path);
    if (rc) prior_data_free(d);
    return rc;
}

void prior_data_free(prior_data *d)
{
    for (int i = 0; i < d->n_files; i++) free(d->file[i].samples);
    free(d->file);
    memset(d, 0, sizeof *d);
}

int prior_data_check_crop(const prior_data *d, long len, const char *dir, ps_error *err)
{
    long longest = 0;
    for (int i = 0; i < d->n_files; i++)
        if (d->file[i].split > longest) longest = d->file[i].split;
    if (longest < len)
        return ps_error_set(err, "--crop: %ld samples (plus one target) is longer than every "
                            "file's training part in %s (longest %ld)", len - 1, dir, longest);
    return 0;
}

void prior_data_train_pos(const prior_data *d, long len, ps_rng *rng, int *file, long *start)
{
    /* Starts are counted over all files; one uniform draw picks file and start. */
    unsigned long long total = 0;
    for (int i = 0; i < d->n_files; i++)
        if (d->file[i].split >= len) total += (unsigned long long)(d->file[i].split - len + 1);
    unsigned long long k = ps_rng_u64(rng) % total;
    for (int i = 0;; i++) {
        const prior_file *f = &d->file[i];
        if (f->split < len) continue;
        unsigned long long starts = (unsigned long long)(f->split - len + 1);
        if (k < starts) {
            *file = i, *start = (long)k;
            return;
        }
        k -= starts;
    }
}

const float *prior_data_train_crop(const prior_data *d, long len, ps_rng *rng)
{
    int file;
    long start;
    prior_data_train_pos(d, len, rng, &file, &start);
    return d->file[file].samples + start;
}

int prior_data_check_parallel(const prior_data *a, const prior_data *b, const char *what,
                              ps_error *err)
{
    if (a->n_files != b->n_files)
        return ps_error_set(err, "%s: %d files, but %d mixtures", what, b->n_files, a->n_files);
    for (int i = 0; i < a->n_files; i++)
        if (a->file[i].n != b->file[i].n)
            return ps_error_set(err, "%s: file %d (in path order) has %ld samples, its mixture %ld",
                                what, i + 1, b->file[i].n, a->file[i].n);
    return 0;
}

int prior_data_val_crops(const prior_data *d, long len, int max, const float **crops)
{
    int usable = 0;
    for (int i = 0; i < d->n_files; i++) usable += d->file[i].n - d->file[i].split >= len;
    int n = 0, seen = 0;
    for (int i = 0; i < d->n_files && n < max; i++) {
        const prior_file *f = &d->file[i];
        if (f->n - f->split < len) continue;
        /* take file number `seen` when it reaches the next of max evenly spaced marks */
        if ((long long)seen * max / usable >= n) crops[n++] = f->samples + f->split;
        seen++;
    }
    return n;
}

void prior_data_warn_no_val(const prior_data *d, long len, const char *dir)
{
    long longest = 0;
    for (int i = 0; i < d->n_files; i++)
        if (d->file[i].n - d->file[i].split > longest) longest = d->file[i].n - d->file[i].split;
    if (longest > 0 && longest < len) /* 0: --val-fraction 0 asked for no validation */
        fprintf(stderr, "priorsep: warning: %s: the longest held-out part (the last --val-fraction of "
                        "a file) is %ld samples, shorter than a crop of %ld: training goes on without "
                        "validation (nan in the log); raise --val-fraction or lower --crop\n",
                dir, longest, len);
}
