#include "audio_writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int format_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return 0;
    static const struct { const char *ext; int format; } formats[] = {
        {".wav", SF_FORMAT_WAV},
        {".flac", SF_FORMAT_FLAC},
        {".aiff", SF_FORMAT_AIFF},
        {".aif", SF_FORMAT_AIFF},
        {".au", SF_FORMAT_AU},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcasecmp(dot, formats[i].ext) == 0) return formats[i].format;
    return 0;
}

static const char *subtype_name(int subtype)
{
    switch (subtype) {
    case SF_FORMAT_PCM_16: return "16-bit PCM";
    case SF_FORMAT_PCM_24: return "24-bit PCM";
    case SF_FORMAT_PCM_32: return "32-bit PCM";
    case SF_FORMAT_FLOAT: return "32-bit float";
    default: return "this sample format";
    }
}

int audio_writer_open(audio_writer *w, const char *path, int sample_rate, int channels,
                      int float32, int overwrite, ps_error *err)
{
    return audio_writer_open_subtype(w, path, sample_rate, channels,
                                     float32 ? SF_FORMAT_FLOAT : SF_FORMAT_PCM_16, overwrite, err);
}

int audio_writer_open_subtype(audio_writer *w, const char *path, int sample_rate,
                              int channels, int subtype, int overwrite, ps_error *err)
{
    memset(w, 0, sizeof *w);
    SF_INFO info = {.samplerate = sample_rate, .channels = channels, .format = format_for(path)};
    if (!info.format)
        return ps_error_set(err, "%s: unknown audio format (use .wav, .flac, .aiff or .au)", path);
    info.format |= subtype;
    if (!sf_format_check(&info))
        return ps_error_set(err, "%s: cannot write %d Hz, %d channels, %s in this format", path,
                            sample_rate, channels, subtype_name(subtype));
    struct stat st;
    if (!overwrite && stat(path, &st) == 0)
        return ps_error_set(err, "%s: exists (use --force to replace it)", path);
    w->path = strdup(path);
    w->tmp_path = malloc(strlen(path) + 16);
    if (!w->path || !w->tmp_path) {
        audio_writer_abort(w);
        return ps_error_set(err, "%s: out of memory", path);
    }
    sprintf(w->tmp_path, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(w->tmp_path);
    if (fd < 0) {
        int e = errno;
        free(w->tmp_path);
        w->tmp_path = NULL;
        audio_writer_abort(w);
        return ps_error_set(err, "%s: cannot create a file there: %s", path, strerror(e));
    }
    /* mkstemp's 0600 would make outputs private to their owner. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    w->file = sf_open_fd(fd, SFM_WRITE, &info, 1);
    if (!w->file) {
        close(fd);
        audio_writer_abort(w);
        return ps_error_set(err, "%s: %s", path, sf_strerror(NULL));
    }
    /* A float file's PEAK chunk holds the time of writing: without it, output is reproducible. */
    sf_command(w->file, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    if (subtype != SF_FORMAT_FLOAT) sf_command(w->file, SFC_SET_CLIPPING, NULL, SF_TRUE);
    return 0;
}

int audio_writer_write(audio_writer *w, const float *frames, long n, ps_error *err)
{
    sf_count_t done = sf_writef_float(w->file, frames, n);
    if (done != n)
        return ps_error_set(err, "%s: write failed: %s", w->path, sf_strerror(w->file));
    return 0;
}

int audio_writer_commit(audio_writer *w, ps_error *err)
{
    int rc = 0;
    sf_write_sync(w->file); /* fsync: the data is on disk before the rename */
    if (sf_error(w->file))
        rc = ps_error_set(err, "%s: write failed: %s", w->path, sf_strerror(w->file));
    int closed = sf_close(w->file); /* writes the final header sizes */
    w->file = NULL;
    if (!rc && closed)
        rc = ps_error_set(err, "%s: write failed: %s", w->path, sf_error_number(closed));
    if (!rc && rename(w->tmp_path, w->path) != 0)
        rc = ps_error_set(err, "%s: cannot rename the finished file into place: %s", w->path,
                          strerror(errno));
    if (rc) {
        audio_writer_abort(w);
        return rc;
    }
    free(w->tmp_path);
    free(w->path);
    w->tmp_path = w->path = NULL;
    return 0;
}

void audio_writer_abort(audio_writer *w)
{
    if (w->file) sf_close(w->file);
    if (w->tmp_path) unlink(w->tmp_path);
    free(w->tmp_path);
    free(w->path);
    memset(w, 0, sizeof *w);
}
