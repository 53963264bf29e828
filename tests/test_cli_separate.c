/* priorsep separate as a user runs it, with a tiny random model set built here: the
 * outputs' names, rates, channels, formats and lengths; their weighted sum gives back the
 * input (mixture consistency, which also shows they are time-aligned); awkward inputs;
 * refusals; and no file left behind by a failure. PRIORSEP is the path of the binary. */
#include <check.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio_files.h"
#include "cli_harness.h"
#include "two_source_model.h"

#define RATE TWO_SOURCE_RATE
#define PI 3.14159265f

/* The two-source model set in folder `name` of the test folder. */
static void make_model(const char *name, const char *b_source)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    two_source_model(path, b_source);
}

static void setup(void)
{
    cli_dir_create("/tmp/priorsep-separate-XXXXXX");
    make_model("model", "b");
}

/* Writes an audio file into the test folder: format as SF_INFO.format, x interleaved. */
static void write_audio(const char *name, int format, int rate, int channels, const float *x,
                        long frames)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    ck_assert_msg(f != NULL, "%s: %s", path, sf_strerror(NULL));
    sf_command(f, SFC_SET_CLIPPING, NULL, SF_TRUE); /* beyond full scale: clipped, not wrapped */
    ck_assert_int_eq(sf_writef_float(f, x, frames), frames);
    sf_close(f);
}

/* A test signal: two tones and a little of everything else, different per channel. */
static float *tones(long frames, int channels, int rate)
{
    float *x = malloc(sizeof(float) * (size_t)(frames * channels + 1));
    for (long t = 0; t < frames; t++)
        for (int c = 0; c < channels; c++)
            x[t * channels + c] = 0.4f * sinf(2.0f * PI * 220.0f * (1 + c) * t / rate) +
                                  0.2f * sinf(2.0f * PI * 330.0f * t / rate + c);
    return x;
}

/* An audio file of the test folder: its header in *info, its samples (interleaved). */
static float *read_audio(const char *name, SF_INFO *info)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return audio_file_read(path, info);
}

/* The outputs out/<stem>.a.wav and .b.wav: rate, channels, length and format as asked,
 * finite, and (a + b) / 2 within tol of want (not checked if NULL) but for `edge` frames
 * at either end (resampling smears where the signal starts and stops). The random model's
 * estimates go beyond full scale, where PCM outputs clip: those samples are skipped, but
 * most must be checked. */
static void check_outputs(const char *stem, int format, int rate, int channels, long frames,
                          const float *want, double tol, long edge)
{
    char name[256];
    SF_INFO info[2];
    float *s[2];
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "out/%s.%c.wav", stem, "ab"[k]);
        s[k] = read_audio(name, &info[k]);
        ck_assert_int_eq(info[k].format, format);
        ck_assert_int_eq(info[k].samplerate, rate);
        ck_assert_int_eq(info[k].channels, channels);
        ck_assert_int_eq(info[k].frames, frames);
    }
    double worst = 0;
    long checked = 0;
    int pcm = (format & SF_FORMAT_SUBMASK) != SF_FORMAT_FLOAT;
    for (long i = 0; i < frames * channels; i++) {
        ck_assert_msg(isfinite(s[0][i]) && isfinite(s[1][i]), "%s: sample %ld", stem, i);
        if (!want || i / channels < edge || i / channels >= frames - edge ||
            (pcm && (fabsf(s[0][i]) > 0.999f || fabsf(s[1][i]) > 0.999f)))
            continue;
        worst = fmax(worst, fabs(0.5 * s[0][i] + 0.5 * s[1][i] - want[i]));
        checked++;
    }
    ck_assert_msg(worst <= tol, "%s: the sources add up to the input within %g, not %g", stem,
                  worst, tol);
    ck_assert_msg(!want || checked * 2 >= (frames - 2 * edge) * channels,
                  "%s: %ld samples clipped", stem, (frames - 2 * edge) * channels - checked);
    free(s[0]);
    free(s[1]);
}

static int exists(const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static int no_temporaries_in_out(void) { return shell("ls out | grep -q tmp-") != 0; }

START_TEST(sources_add_up_to_the_input)
{
    long T = 9001; /* more than two read blocks, not a multiple of anything */
    float *x = tones(T, 1, RATE);
    write_audio("mix.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, T);
    ck_assert_int_eq(run("separate --model model --out out --quiet mix.wav"), 0);
    check_outputs("mix", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, T, x, 1e-4, 0);
    /* refinement changes the estimates but not their sum */
    ck_assert_int_eq(run("separate --model model --out out --refine 2 --frame 64 --force "
                         "--quiet mix.wav"), 0);
    check_outputs("mix", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, T, x, 1e-4, 0);
    ck_assert(no_temporaries_in_out());
    free(x);
}
END_TEST

START_TEST(other_rates_channels_and_formats)
{
    long T = 3000;
    float *x = tones(T, 2, 8000);
    write_audio("low.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 2, x, T);
    free(x);
    x = tones(T, 6, 192000);
    write_audio("high.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 192000, 6, x, T);
    free(x);
    x = tones(T, 1, 44100);
    write_audio("cd.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 1, x, T);
    free(x);
    ck_assert_int_eq(run("separate --model model --out out --quiet low.wav high.wav cd.flac"), 0);
    /* resampling there and back keeps these tones but for the first and last 5 ms */
    SF_INFO info;
    const char *names[3] = {"low.wav", "high.wav", "cd.flac"};
    const char *stems[3] = {"low", "high", "cd"};
    int formats[3] = {SF_FORMAT_WAV | SF_FORMAT_PCM_16, SF_FORMAT_WAV | SF_FORMAT_PCM_24,
                      SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    for (int i = 0; i < 3; i++) {
        x = read_audio(names[i], &info);
        check_outputs(stems[i], formats[i], info.samplerate, info.channels, T, x, 0.01,
                      info.samplerate / 200);
        free(x);
    }
    /* --downmix: one stream, mono outputs */
    ck_assert_int_eq(run("separate --model model --out out/mono --downmix --quiet low.wav"), 0);
    float *a = read_audio("out/mono/low.a.wav", &info);
    ck_assert_int_eq(info.channels, 1);
    ck_assert_int_eq(info.frames, T);
    free(a);
}
END_TEST

START_TEST(awkward_inputs_are_separated)
{
    static float x[4000];
    write_audio("silent.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 4000);
    for (int t = 0; t < 4000; t++) x[t] = t % 50 < 25 ? 1.5f : -1.5f; /* beyond full scale */
    write_audio("loud.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 4000);
    write_audio("clip.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, x, 4000);
    write_audio("one.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 1);
    write_audio("one8k.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, x, 1);
    write_audio("empty.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 0);
    ck_assert_int_eq(run("separate --model model --out out --quiet silent.wav loud.wav clip.wav "
                         "one.wav one8k.wav empty.wav"),
                     0);
    static float zero[4000];
    check_outputs("silent", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 4000, zero, 1e-6, 0);
    check_outputs("loud", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 4000, x, 1e-4, 0);
    check_outputs("clip", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, 4000, NULL, 0, 0);
    check_outputs("one", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 1, x, 1e-4, 0);
    check_outputs("one8k", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 1, NULL, 0, 0);
    check_outputs("empty", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 0, NULL, 0, 0);
}
END_TEST

START_TEST(non_finite_samples_are_zeroed_and_reported)
{
    static float x[2000], want[2000];
    for (int t = 0; t < 2000; t++) x[t] = want[t] = 0.5f * sinf(0.05f * t);
    x[10] = NAN, x[500] = INFINITY, x[1999] = -INFINITY;
    want[10] = want[500] = want[1999] = 0.0f;
    write_audio("nan.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 2000);
    ck_assert_int_eq(run("separate --model model --out out --quiet nan.wav"), 0);
    ck_assert_msg(strstr(last_stderr, "nan.wav: 3 NaN or infinite samples"), "%s", last_stderr);
    check_outputs("nan", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 2000, want, 1e-4, 0);
}
END_TEST

START_TEST(bad_usage_and_bad_files_are_refused)
{
    static float x[100];
    write_audio("ok.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 100);
    ck_assert_int_eq(shell("head -c 3000 /dev/urandom > noise.wav"), 0);
    ck_assert_int_eq(shell("head -c 30 ok.wav > cut.wav"), 0);
    make_model("mismatch", "c");
    ck_assert_int_eq(shell("mkdir nomodel && cp model/a.safetensors nomodel/"), 0);
    static const cli_case cases[] = {
        {"separate --model model", 2, "expected audio files", NULL},
        {"separate --model model --refine 9 ok.wav", 2, "--refine", "0..8"},
        {"separate --model model --frame 0 ok.wav", 2, "--frame", NULL},
        {"separate --model model --bogus ok.wav", 2, "usage", NULL},
        {"separate --model model --out '' ok.wav", 2, "--out", NULL},
        {"separate --model model --out out ok.wav sub/ok.wav", 2, "sub/ok.wav", "replace"},
        {"separate --model model --out out noise.wav", 1, "noise.wav: not a readable audio file",
         NULL},
        {"separate --model model --out out cut.wav", 1, "cut.wav", NULL},
        {"separate --model model --out out missing.wav", 1, "missing.wav", NULL},
        {"separate --model nowhere --out out ok.wav", 1, "nowhere: no such model folder", NULL},
        {"separate --model nomodel --out out ok.wav", 1, "nomodel: no separator.safetensors", NULL},
        {"separate --model mismatch --out out ok.wav", 1, "mismatch/b.safetensors",
         "another source"},
        /* the first file is fine, the second is not: nothing is written */
        {"separate --model model --out out ok.wav noise.wav", 1, "noise.wav", NULL},
    };
    ck_assert_int_eq(shell("mkdir sub && cp ok.wav sub/"), 0);
    expect_cases(cases, sizeof cases / sizeof cases[0]);
    ck_assert(!exists("out"));
    ck_assert(no_temporaries_left());
}
END_TEST

START_TEST(outputs_are_not_replaced_without_force)
{
    static float x[500];
    for (int t = 0; t < 500; t++) x[t] = 0.3f * sinf(0.1f * t);
    write_audio("x.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 500);
    write_audio("y.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 500);
    /* an output of the second input exists: refused before anything is written */
    ck_assert_int_eq(shell("mkdir out && echo keep > out/y.b.wav"), 0);
    ck_assert_int_eq(run("separate --model model --out out --quiet x.wav y.wav"), 1);
    ck_assert_msg(strstr(last_stderr, "out/y.b.wav: exists (use --force"), "%s", last_stderr);
    ck_assert(!exists("out/x.a.wav") && !exists("out/y.a.wav"));
    ck_assert_int_eq(shell("grep -q keep out/y.b.wav"), 0);
    ck_assert_int_eq(run("separate --model model --out out --quiet --force x.wav y.wav"), 0);
    check_outputs("x", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 500, x, 1e-4, 0);
    check_outputs("y", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, 500, x, 1e-4, 0);
    /* an input is never replaced, even with --force */
    ck_assert_int_eq(shell("cp x.wav out/z.a.wav && cp x.wav z.wav"), 0);
    ck_assert_int_eq(run("separate --model model --out out --force out/z.a.wav z.wav"), 2);
    ck_assert_msg(strstr(last_stderr, "is an input"), "%s", last_stderr);
    /* the default folder is the current one */
    ck_assert_int_eq(run("separate --model model --quiet x.wav"), 0);
    ck_assert(exists("x.a.wav") && exists("x.b.wav"));
}
END_TEST

START_TEST(a_failed_file_leaves_no_output)
{
    static float x[500];
    write_audio("x.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, RATE, 1, x, 500);
    /* b's output cannot be renamed over a folder: a's, already in place, is taken back */
    ck_assert_int_eq(shell("mkdir -p out/x.b.wav"), 0);
    ck_assert_int_eq(run("separate --model model --out out --force --quiet x.wav"), 1);
    ck_assert_msg(strstr(last_stderr, "out/x.b.wav"), "%s", last_stderr);
    ck_assert(!exists("out/x.a.wav"));
    ck_assert(no_temporaries_in_out());
}
END_TEST

/* data priors: items sampled from the model's priors, mixed with the weights given; the
 * same seed gives the same samples. */
START_TEST(data_priors_writes_mixed_prior_samples)
{
    ck_assert_int_eq(run("data priors --priors model --sources a,b --weights 0.3,0.7 "
                         "--items 2 --seconds 0.01 --out items --quiet"), 0);
    SF_INFO im, ia, ib;
    float *m = read_audio("items/00001/mix.wav", &im), *a = read_audio("items/00001/a.wav", &ia),
          *b = read_audio("items/00001/b.wav", &ib);
    ck_assert_int_eq(im.samplerate, RATE);
    ck_assert_int_eq(im.frames, 147);
    ck_assert_int_eq(ia.frames, 147);
    for (long t = 0; t < im.frames; t++) {
        ck_assert(fabsf(a[t]) <= 1.0f && fabsf(b[t]) <= 1.0f); /* MoL samples are clamped */
        ck_assert_float_eq_tol(m[t], 0.3f * a[t] + 0.7f * b[t], 1e-6f);
    }
    /* existing items are kept without --force; the same seed gives the same items */
    ck_assert_int_eq(run("data priors --priors model --sources a,b --items 2 --seconds 0.01 "
                         "--out items --quiet"), 1);
    ck_assert_int_eq(run("data priors --priors model --sources a,b --weights 0.3,0.7 "
                         "--items 2 --seconds 0.01 --out items --force --quiet"), 0);
    SF_INFO again;
    float *a2 = read_audio("items/00001/a.wav", &again);
    ck_assert_mem_eq(a, a2, sizeof(float) * (size_t)ia.frames);
    ck_assert_int_eq(run("data priors --priors model --sources a,c --out x --quiet"), 1);
    ck_assert_int_eq(run("data priors --priors model --weights 1 --out x --quiet"), 2);
    /* --pool 2: each source of an item is one of the candidates that items 0..5 would
     * hold, each candidate kept at most once, mixed with the weights */
    ck_assert_int_eq(run("data priors --priors model --sources a,b --items 6 --seconds 0.01 --out plain --quiet"), 0);
    ck_assert_int_eq(run("data priors --priors model --sources a,b --weights 0.3,0.7 --items 3 --seconds 0.01 "
                         "--pool 2 --out pooled --quiet"), 0);
    for (int k = 0; k < 2; k++) {
        int used[6] = {0};
        for (int i = 0; i < 3; i++) {
            char path[64];
            snprintf(path, sizeof path, "pooled/%05d/%c.wav", i, "ab"[k]);
            SF_INFO pi, ci;
            float *p = read_audio(path, &pi);
            int found = -1;
            for (int c = 0; c < 6 && found < 0; c++) {
                snprintf(path, sizeof path, "plain/%05d/%c.wav", c, "ab"[k]);
                float *cand = read_audio(path, &ci);
                if (ci.frames == pi.frames && memcmp(p, cand, sizeof(float) * (size_t)pi.frames) == 0) found = c;
                free(cand);
            }
            ck_assert_msg(found >= 0 && !used[found], "item %d source %c: candidate %d", i, "ab"[k], found);
            used[found] = 1;
            free(p);
        }
    }
    float *pm = read_audio("pooled/00002/mix.wav", &im), *pa = read_audio("pooled/00002/a.wav", &ia),
          *pb = read_audio("pooled/00002/b.wav", &ib);
    for (long t = 0; t < im.frames; t++) ck_assert_float_eq_tol(pm[t], 0.3f * pa[t] + 0.7f * pb[t], 1e-6f);
    free(pm), free(pa), free(pb);
    /* --shift-octaves 1: every source of an item as long as the shortest, n/2 .. n */
    ck_assert_int_eq(run("data priors --priors model --sources a,b --weights 0.3,0.7 --items 4 --seconds 0.05 "
                         "--shift-octaves 1 --out shifted --quiet"), 0);
    long lengths_seen = 0, last_len = -1;
    for (int i = 0; i < 4; i++) {
        char path[64];
        SF_INFO si, sa, sb;
        snprintf(path, sizeof path, "shifted/%05d/mix.wav", i);
        float *sm = read_audio(path, &si);
        snprintf(path, sizeof path, "shifted/%05d/a.wav", i);
        float *sa_ = read_audio(path, &sa);
        snprintf(path, sizeof path, "shifted/%05d/b.wav", i);
        float *sb_ = read_audio(path, &sb);
        ck_assert(si.frames == sa.frames && si.frames == sb.frames);
        ck_assert_msg(si.frames >= 735 / 2 && si.frames <= 735, "item %d: %ld samples", i, (long)si.frames);
        for (long t = 0; t < si.frames; t++) ck_assert_float_eq_tol(sm[t], 0.3f * sa_[t] + 0.7f * sb_[t], 1e-6f);
        lengths_seen += si.frames != last_len;
        last_len = si.frames;
        free(sm), free(sa_), free(sb_);
    }
    ck_assert_msg(lengths_seen > 1, "every item as long: no shift drawn?");
    ck_assert_int_eq(run("data priors --priors model --shift-octaves 3 --out x --quiet"), 2);
    ck_assert_int_eq(run("data priors --priors model --pool 0 --out x --quiet"), 2);
    ck_assert_int_eq(run("data priors --priors model --pool 65 --out x --quiet"), 2);
    ck_assert_int_eq(run("data priors --priors model --sources a,b --items 100000 --pool 64 --seconds 10 "
                         "--out x --quiet"), 2);
    ck_assert_msg(strstr(last_stderr, "GiB of samples at once"), "%s", last_stderr);
    ck_assert(!exists("x"));
    /* a separator is not a prior to sample from */
    ck_assert_int_eq(run("generate --model model/separator.safetensors --seconds 0.01 g.wav"), 2);
    free(m), free(a), free(b), free(a2);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("cli_separate");
    TCase *tc = tcase_create("separate");
    tcase_add_checked_fixture(tc, setup, cli_dir_remove);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sources_add_up_to_the_input);
    tcase_add_test(tc, other_rates_channels_and_formats);
    tcase_add_test(tc, awkward_inputs_are_separated);
    tcase_add_test(tc, non_finite_samples_are_zeroed_and_reported);
    tcase_add_test(tc, bad_usage_and_bad_files_are_refused);
    tcase_add_test(tc, outputs_are_not_replaced_without_force);
    tcase_add_test(tc, a_failed_file_leaves_no_output);
    tcase_add_test(tc, data_priors_writes_mixed_prior_samples);
    suite_add_tcase(s, tc);
    return s;
}
