/* The training data reader: any libsndfile format, channels averaged, resampled to the
 * model rate with libsoxr; unreadable files refused by name. */
#include <check.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli/audio_reader.h"

static char path[64];

static void write_file(int rate, int channels, int format, long frames, float freq)
{
    strcpy(path, "/tmp/priorsep-reader-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    ck_assert_ptr_nonnull(f);
    float *x = malloc(sizeof(float) * (size_t)frames * channels);
    for (long t = 0; t < frames; t++)
        for (int c = 0; c < channels; c++) /* channel c: a sine of amplitude 0.2 (c + 1) */
            x[t * channels + c] = 0.2f * (c + 1) * sinf(2.0f * 3.14159265f * freq * (float)t / rate);
    ck_assert_int_eq(sf_writef_float(f, x, frames), frames);
    sf_close(f);
    free(x);
}

START_TEST(downmixes_and_resamples)
{
    /* 1 s of stereo FLAC at 22,050 Hz, a 441 Hz sine (0.2 and 0.4 amplitude), read at
     * 14,700 Hz: 14,700 samples of a 441 Hz sine of amplitude 0.3. */
    write_file(22050, 2, SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 22050, 441.0f);
    float *x;
    long n;
    ps_error err;
    ck_assert_msg(audio_read_mono(path, 14700, &x, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 14700);
    /* away from the edges (the resampler's filter rings there) the signal is the sine */
    double worst = 0;
    for (long t = 500; t < n - 500; t++) {
        double want = 0.3 * sin(2 * 3.14159265358979 * 441.0 * (double)t / 14700);
        worst = fmax(worst, fabs(x[t] - want));
    }
    /* soxr's default quality keeps a 441 Hz tone to ~1e-5; 24-bit PCM adds 1e-7 */
    ck_assert_msg(worst < 1e-3, "worst error %g", worst);
    free(x);
    unlink(path);
}
END_TEST

START_TEST(same_rate_is_read_as_is)
{
    write_file(14700, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1000, 100.0f);
    float *x;
    long n;
    ps_error err;
    ck_assert_int_eq(audio_read_mono(path, 14700, &x, &n, &err), 0);
    ck_assert_int_eq(n, 1000);
    ck_assert_float_eq_tol(x[10], 0.2f * sinf(2.0f * 3.14159265f * 100.0f * 10.0f / 14700), 1e-6f);
    free(x);
    unlink(path);
}
END_TEST

START_TEST(refuses_what_is_not_audio)
{
    strcpy(path, "/tmp/priorsep-reader-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_eq(write(fd, "not audio at all", 16), 16);
    close(fd);
    float *x = (float *)1;
    long n = 1;
    ps_error err;
    ck_assert_int_ne(audio_read_mono(path, 14700, &x, &n, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_null(x);
    ck_assert_int_eq(n, 0);
    unlink(path);
    ck_assert_int_ne(audio_read_mono("/nonexistent/x.wav", 14700, &x, &n, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.wav"));
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("audio_reader");
    TCase *tc = tcase_create("audio_reader");
    tcase_add_test(tc, downmixes_and_resamples);
    tcase_add_test(tc, same_rate_is_read_as_is);
    tcase_add_test(tc, refuses_what_is_not_audio);
    suite_add_tcase(s, tc);
    return s;
}
