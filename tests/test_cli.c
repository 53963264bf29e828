/* The priorsep command as a user runs it: exit codes, messages, and the files it
 * writes (read back with libsndfile). PRIORSEP is the path of the built binary. */
#include <check.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_harness.h"

static void setup(void) { cli_dir_create("/tmp/priorsep-cli-XXXXXX"); }

/* Frames, rate and samples of an audio file in the test folder. */
static long read_audio(const char *name, int *rate, float **samples)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    ck_assert_msg(f != NULL, "%s: %s", path, sf_strerror(NULL));
    ck_assert_int_eq(info.channels, 1);
    *rate = info.samplerate;
    *samples = malloc(sizeof(float) * (size_t)info.frames);
    ck_assert_int_eq(sf_readf_float(f, *samples, info.frames), info.frames);
    sf_close(f);
    return (long)info.frames;
}

/* Writes `text` into the file `name` of the test folder. */
static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s", path);
    fputs(text, f);
    fclose(f);
}

START_TEST(generate_writes_the_requested_length)
{
    ck_assert_int_eq(run("init prior --out m.safetensors --sample-rate 16000 --layers 4 --stacks 1"), 0);
    ck_assert_int_eq(run("generate --model m.safetensors --seconds 0.25 --quiet out.wav"), 0);
    int rate;
    float *y;
    long n = read_audio("out.wav", &rate, &y);
    ck_assert_int_eq(rate, 16000);
    ck_assert_int_eq(n, 4000);
    float lo = 1, hi = -1;
    for (long i = 0; i < n; i++) {
        ck_assert(isfinite(y[i]) && y[i] >= -1.0f && y[i] <= 1.0f);
        lo = fminf(lo, y[i]), hi = fmaxf(hi, y[i]);
    }
    ck_assert_msg(hi > lo, "silence");
    free(y);
    ck_assert(no_temporaries_left());
}
END_TEST

START_TEST(generate_categorical_flac_and_seeds)
{
    ck_assert_int_eq(run("init prior --out c.safetensors --head categorical --layers 3 --stacks 1 --residual 8 --skip 8 --hidden 8"), 0);
    ck_assert_int_eq(run("generate --model c.safetensors --seconds 0.1 --seed 5 a.flac"), 0);
    ck_assert_int_eq(run("generate --model c.safetensors --seconds 0.1 --seed 5 b.flac"), 0);
    ck_assert_int_eq(run("generate --model c.safetensors --seconds 0.1 --seed 6 c.flac"), 0);
    int rate;
    float *a, *b, *c;
    long n = read_audio("a.flac", &rate, &a);
    ck_assert_int_eq(n, 1470); /* 0.1 s at the default 14,700 Hz */
    ck_assert_int_eq(read_audio("b.flac", &rate, &b), n);
    ck_assert_int_eq(read_audio("c.flac", &rate, &c), n);
    ck_assert_mem_eq(a, b, sizeof(float) * (size_t)n);
    ck_assert(memcmp(a, c, sizeof(float) * (size_t)n) != 0);
    free(a), free(b), free(c);
}
END_TEST

START_TEST(usage_errors_exit_2_and_name_the_option)
{
    const cli_case cases[] = {
        {"generate --seconds 1 out.wav", 2, "--model", NULL},
        {"generate --model m --seconds abc out.wav", 2, "--seconds", NULL},
        {"generate --model m --seconds 1e9 out.wav", 2, NULL, NULL},
        {"generate --model m --seconds -1 out.wav", 2, NULL, NULL},
        {"init prior --out x --residual 0", 2, "--residual", NULL},
        {"frobnicate", 2, "frobnicate", NULL},
        {"generate --help", 0, NULL, NULL},
        {"--help", 0, NULL, NULL},
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(runtime_errors_exit_1_and_name_the_file)
{
    ck_assert_int_eq(run("generate --model missing.safetensors --seconds 1 out.wav"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "missing.safetensors"));
    ck_assert_ptr_nonnull(strstr(last_stderr, "priorsep: "));
    ck_assert_int_eq(run("init prior --out m.safetensors --layers 2 --stacks 1"), 0);
    ck_assert_int_eq(run("generate --model m.safetensors --seconds 0.01 nodir/out.wav"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "nodir/out.wav"));
    ck_assert_int_eq(run("generate --model m.safetensors --seconds 0.01 out.xyz"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "format"));
    /* a model file that is not one */
    write_text("junk.safetensors", "not a model");
    ck_assert_int_eq(run("generate --model junk.safetensors --seconds 0.01 out.wav"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "junk.safetensors"));
    ck_assert(no_temporaries_left());
}
END_TEST

START_TEST(outputs_are_not_overwritten_without_force)
{
    ck_assert_int_eq(run("init prior --out m.safetensors --layers 2 --stacks 1"), 0);
    ck_assert_int_eq(run("init prior --out m.safetensors --layers 2 --stacks 1"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "--force"));
    write_text("out.wav", "precious");
    char path[512];
    snprintf(path, sizeof path, "%s/out.wav", dir);
    ck_assert_int_eq(run("generate --model m.safetensors --seconds 0.01 out.wav"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "--force"));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 8); /* untouched */
    ck_assert_int_eq(run("generate --model m.safetensors --seconds 0.01 --force out.wav"), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_gt(st.st_size, 8);
}
END_TEST

START_TEST(full_disk_leaves_no_file)
{
    /* /dev/full accepts opens and fails every write with ENOSPC; a writable folder is
     * needed for the temporary, so the test writes a model "into" a path whose folder
     * is a 4 KiB tmpfs when one can be mounted, and is skipped otherwise. */
    if (geteuid() != 0 || system("command -v unshare >/dev/null") != 0) return;
    ck_assert_int_eq(run("init prior --out m.safetensors --layers 2 --stacks 1"), 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir small && unshare -m sh -c 'mount -t tmpfs -o size=4k tmpfs small && "
             "%s generate --model m.safetensors --seconds 5 --quiet small/out.wav 2>err.txt; "
             "echo $? > rc.txt; ls small > left.txt'",
             dir, getenv("PRIORSEP"));
    if (system(cmd) != 0) return; /* no mount namespace here */
    char path[512], buf[256] = "";
    snprintf(path, sizeof path, "%s/rc.txt", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    ck_assert_int_eq(atoi(buf), 1);
    snprintf(path, sizeof path, "%s/left.txt", dir);
    f = fopen(path, "r");
    ck_assert_ptr_null(fgets(buf, sizeof buf, f)); /* neither output nor temporary */
    fclose(f);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("priorsep");
    tcase_add_checked_fixture(tc, setup, cli_dir_remove);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, generate_writes_the_requested_length);
    tcase_add_test(tc, generate_categorical_flac_and_seeds);
    tcase_add_test(tc, usage_errors_exit_2_and_name_the_option);
    tcase_add_test(tc, runtime_errors_exit_1_and_name_the_file);
    tcase_add_test(tc, outputs_are_not_overwritten_without_force);
    tcase_add_test(tc, full_disk_leaves_no_file);
    suite_add_tcase(s, tc);
    return s;
}
