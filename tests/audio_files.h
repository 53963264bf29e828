/* Audio files in the tests that compare outputs (libsndfile): read whole, or write a mono
 * float WAV. A failure fails the running Check test. */
#ifndef PRIORSEP_AUDIO_FILES_H
#define PRIORSEP_AUDIO_FILES_H
#include <check.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>

/* The file's header in *info and its samples, interleaved (free them). */
static inline float *audio_file_read(const char *path, SF_INFO *info)
{
    memset(info, 0, sizeof *info);
    SNDFILE *f = sf_open(path, SFM_READ, info);
    ck_assert_msg(f != NULL, "%s: %s", path, sf_strerror(NULL));
    float *x = malloc(sizeof(float) * (size_t)(info->frames * info->channels + 1));
    ck_assert_int_eq(sf_readf_float(f, x, info->frames), info->frames);
    sf_close(f);
    return x;
}

static inline void audio_file_write_mono(const char *path, int rate, const float *x, long n)
{
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    ck_assert_msg(f != NULL, "%s: %s", path, sf_strerror(NULL));
    ck_assert_int_eq(sf_writef_float(f, x, n), n);
    sf_close(f);
}

#endif
