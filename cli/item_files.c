#include "item_files.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "audio_writer.h"

int make_dirs(const char *dir, ps_error *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return ps_error_set(err, "%s: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return ps_error_set(err, "%s: cannot create the folder %s: %s", dir, path, strerror(errno));
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return ps_error_set(err, "%s: cannot create the folder: %s is not a folder", dir, path);
        if (!(*p = saved)) return 0;
    }
}

/* Mono 32-bit float WAV, written atomically. */
static int write_float_wav(const char *path, int rate, const float *x, long n, ps_error *err)
{
    audio_writer w;
    if (audio_writer_open(&w, path, rate, 1, 1, 1, err)) return -1;
    if (audio_writer_write(&w, x, n, err)) {
        audio_writer_abort(&w);
        return -1;
    }
    return audio_writer_commit(&w, err);
}

int item_write(const char *dir, long index, int rate, const char *const *names,
               int n_sources, const float *sources, const float *mix, long n, ps_error *err)
{
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/%05ld", dir, index);
    if (len < 0 || len + 64 >= (int)sizeof path) return ps_error_set(err, "%s: path too long", dir);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return ps_error_set(err, "%s: cannot create the folder: %s", path, strerror(errno));
    snprintf(path + len, sizeof path - (size_t)len, "/mix.wav");
    if (write_float_wav(path, rate, mix, n, err)) return -1;
    for (int k = 0; k < n_sources; k++) {
        if (snprintf(path + len, sizeof path - (size_t)len, "/%s.wav", names[k]) >= (int)(sizeof path) - len)
            return ps_error_set(err, "%s: path too long", dir);
        if (write_float_wav(path, rate, sources + (size_t)k * n, n, err)) return -1;
    }
    return 0;
}
