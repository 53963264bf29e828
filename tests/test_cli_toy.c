/* priorsep data toy as a user runs it: the files it writes, read back with libsndfile,
 * hold exactly the engine's items; reruns are byte-identical; bad usage and existing data
 * sets are refused. PRIORSEP is the path of the built binary. */
#include <check.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_harness.h"
#include "priorsep/toy.h"

#define N PS_TOY_ITEM_SAMPLES
#define S PS_TOY_SOURCES

static void setup(void) { cli_dir_create("/tmp/priorsep-toy-XXXXXX"); }

/* Reads a whole item file: must be mono 32-bit float WAV at 14,700 Hz, N frames. */
static void read_item_file(const char *name, float *samples)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    ck_assert_msg(f != NULL, "%s: %s", path, sf_strerror(NULL));
    ck_assert_int_eq(info.format, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    ck_assert_int_eq(info.channels, 1);
    ck_assert_int_eq(info.samplerate, PS_TOY_RATE);
    ck_assert_int_eq(info.frames, N);
    ck_assert_int_eq(sf_readf_float(f, samples, N), N);
    sf_close(f);
}

/* The files of item `index` under folder `out` equal the engine's item, sample for
 * sample, and the mixture file is the mean of the source files. */
static void check_item(const char *out, ps_toy_split split, long seed, long index)
{
    static float want_src[S * N], want_mix[N], got[N], got_src[S * N];
    ps_toy_item_params p;
    ps_toy_item((uint64_t)seed, split, index, &p, want_src, want_mix, N);
    char name[256];
    for (int k = 0; k < S; k++) {
        snprintf(name, sizeof name, "%s/%05ld/%s.wav", out, index, ps_toy_source_names[k]);
        read_item_file(name, got_src + (size_t)k * N);
    }
    ck_assert_mem_eq(got_src, want_src, sizeof want_src);
    snprintf(name, sizeof name, "%s/%05ld/mix.wav", out, index);
    read_item_file(name, got);
    ck_assert_mem_eq(got, want_mix, sizeof want_mix);
    for (int t = 0; t < N; t++) {
        double mean = 0.0;
        for (int k = 0; k < S; k++) mean += got_src[(size_t)k * N + t];
        if (!(fabs(got[t] - mean / S) <= 1e-7)) ck_abort_msg("mix.wav t=%d is not the mean", t);
    }
}

/* The manifest row of each item agrees with the engine's parameters, field by field. */
static void check_manifest(const char *out, ps_toy_split split, long seed, long first, int items)
{
    char path[512], line[2048];
    snprintf(path, sizeof path, "%s/%s/manifest.csv", dir, out);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_ptr_nonnull(strstr(line, "index,split,seed,sine_key,sine_frequency_hz,sine_period,"
                                       "sine_phase,sine_amplitude,square_key"));
    ck_assert_ptr_nonnull(strstr(line, ",triangle_amplitude\n"));
    for (int i = 0; i < items; i++) {
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        ps_toy_item_params p;
        float s1[S], m1[1];
        ps_toy_item((uint64_t)seed, split, first + i, &p, s1, m1, 1);
        char *field = strtok(line, ",\n");
        ck_assert_int_eq(atol(field), first + i);
        ck_assert_str_eq(strtok(NULL, ",\n"), ps_toy_split_name(split));
        ck_assert_int_eq(atol(strtok(NULL, ",\n")), seed);
        for (int k = 0; k < S; k++) {
            ck_assert(strtod(strtok(NULL, ",\n"), NULL) == p.key[k]);
            ck_assert(strtod(strtok(NULL, ",\n"), NULL) == p.freq[k]);
            ck_assert_int_eq(atoi(strtok(NULL, ",\n")), p.period[k]);
            ck_assert_int_eq(atoi(strtok(NULL, ",\n")), p.phase[k]);
            ck_assert(strtof(strtok(NULL, ",\n"), NULL) == p.amp[k]);
        }
        ck_assert_ptr_null(strtok(NULL, ",\n"));
    }
    ck_assert_ptr_null(fgets(line, sizeof line, f));
    fclose(f);
}

START_TEST(items_are_the_engine_items)
{
    umask(022);
    ck_assert_int_eq(run("data toy --out d --split test --items 3 --seed 9 --quiet"), 0);
    struct stat st; /* the usual permissions, not mkstemp's 0600 */
    char path[512];
    snprintf(path, sizeof path, "%s/d/00002/mix.wav", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    snprintf(path, sizeof path, "%s/d/manifest.csv", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    for (long i = 0; i < 3; i++) {
        ck_assert_int_eq(shell("test $(ls d/%05ld | wc -l) -eq 5", i), 0);
        check_item("d", PS_TOY_TEST, 9, i);
    }
    ck_assert_int_eq(shell("test $(ls d | wc -l) -eq 4"), 0); /* 3 folders + manifest */
    check_manifest("d", PS_TOY_TEST, 9, 0, 3);
}
END_TEST

START_TEST(reruns_are_byte_identical_and_subsets_match)
{
    ck_assert_int_eq(run("data toy --out a --split train --items 3 --seed 4 --quiet"), 0);
    sleep(1); /* a time of writing in the files would differ */
    ck_assert_int_eq(run("data toy --out b --split train --items 3 --seed 4 --quiet"), 0);
    ck_assert_int_eq(shell("diff -r a b >/dev/null"), 0);
    /* --first: a part of the split is the same part of the whole */
    ck_assert_int_eq(run("data toy --out c/sub --split train --first 2 --items 1 --seed 4"), 0);
    ck_assert_int_eq(shell("diff -r a/00002 c/sub/00002 >/dev/null"), 0);
    ck_assert_int_eq(shell("ls c/sub | tr '\\n' ' ' | grep -qx '00002 manifest.csv '"), 0);
    check_manifest("c/sub", PS_TOY_TRAIN, 4, 2, 1);
    ck_assert_int_eq(shell("sed -n 4p a/manifest.csv > row && "
                           "sed -n 2p c/sub/manifest.csv | cmp -s - row"), 0);
    /* another seed or split gives other items */
    ck_assert_int_eq(run("data toy --out e --split train --items 1 --seed 5"), 0);
    ck_assert_int_ne(shell("cmp -s a/00000/mix.wav e/00000/mix.wav"), 0);
    ck_assert_int_eq(run("data toy --out f --split test --items 1 --seed 4"), 0);
    ck_assert_int_ne(shell("cmp -s a/00000/mix.wav f/00000/mix.wav"), 0);
    ck_assert_int_ne(shell("ls -R . | grep -q tmp-"), 0); /* no temporaries left */
}
END_TEST

/* --drop: the named sources are silenced in some items, the others are the plain
 * items' sources, and the mixture is the mean of what the files hold. */
START_TEST(dropped_sources_are_silent_and_the_rest_unchanged)
{
    enum { ITEMS = 8 };
    ck_assert_int_eq(run("data toy --out plain --split train --items %d --seed 4 --quiet", ITEMS), 0);
    ck_assert_int_eq(run("data toy --out drop --split train --items %d --seed 4 --quiet "
                         "--drop square,sawtooth --drop-prob 0.5", ITEMS), 0);
    static float plain[S][N], got[S][N], mix[N];
    int dropped = 0, kept = 0;
    char name[256];
    for (long i = 0; i < ITEMS; i++) {
        for (int k = 0; k < S; k++) {
            snprintf(name, sizeof name, "plain/%05ld/%s.wav", i, ps_toy_source_names[k]);
            read_item_file(name, plain[k]);
            snprintf(name, sizeof name, "drop/%05ld/%s.wav", i, ps_toy_source_names[k]);
            read_item_file(name, got[k]);
            int same = memcmp(got[k], plain[k], sizeof got[k]) == 0, silent = 1;
            for (int t = 0; t < N; t++) silent &= got[k][t] == 0.0f;
            if (k == 0 || k == 3) ck_assert_msg(same, "item %ld: %s changed", i, ps_toy_source_names[k]);
            else ck_assert_msg(same || silent, "item %ld: %s neither kept nor silent", i,
                               ps_toy_source_names[k]);
            if (k == 1 || k == 2) dropped += silent, kept += same;
            /* the manifest's amplitude column of source k is field 8 + 5k */
            ck_assert_int_eq(shell("sed -n %ldp drop/manifest.csv | cut -d, -f%d | grep -qx '%s'",
                                   i + 2, 8 + 5 * k, silent ? "0" : "0\\.[0-9]*"), 0);
        }
        snprintf(name, sizeof name, "drop/%05ld/mix.wav", i);
        read_item_file(name, mix);
        for (int t = 0; t < N; t++) {
            double mean = (got[0][t] + (double)got[1][t] + got[2][t] + got[3][t]) / S;
            if (!(fabs(mix[t] - mean) <= 1e-7)) ck_abort_msg("item %ld t=%d: mix is not the mean", i, t);
        }
    }
    /* 16 draws at 1/2: both outcomes occur (for this seed; the draws are fixed) */
    ck_assert(dropped > 0 && kept > 0 && dropped + kept == 2 * ITEMS);
    /* probability 0 is the plain data set; 1 silences every named source */
    ck_assert_int_eq(run("data toy --out none --split train --items %d --seed 4 --quiet "
                         "--drop square --drop-prob 0", ITEMS), 0);
    ck_assert_int_eq(shell("diff -r plain none >/dev/null"), 0);
    ck_assert_int_eq(run("data toy --out all --split train --items 2 --seed 4 --quiet "
                         "--drop sine --drop-prob 1"), 0);
    ck_assert_int_eq(shell("cut -d, -f8 all/manifest.csv | tr '\\n' ' ' | grep -qx 'sine_amplitude 0 0 '"), 0);
}
END_TEST

START_TEST(usage_errors_exit_2_and_name_the_option)
{
    const cli_case cases[] = {
        {"data toy --split test --items 1", 2, "--out", NULL},
        {"data toy --out d --items 1", 2, "--split", NULL},
        {"data toy --out d --split valid --items 1", 2, "--split", "valid"},
        {"data toy --out d --split test --items 0", 2, "--items", NULL},
        {"data toy --out d --split test --items abc", 2, "--items", NULL},
        {"data toy --out d --split test --items 1000001", 2, NULL, NULL},
        {"data toy --out d --split test --items 1 --seed -1", 2, "--seed", NULL},
        {"data toy --out d --split test --items 1 --seed 2147483648", 2, NULL, NULL},
        {"data toy --out d --split test --items 1 --first x", 2, "--first", NULL},
        {"data toy --out d --split test --items 1 extra", 2, "extra", NULL},
        {"data toy --out d --split test --items 1 --drop piano", 2, "--drop", "piano"},
        {"data toy --out d --split test --items 1 --drop sine --drop-prob 1.5", 2, "--drop-prob", NULL},
        {"data toy --out d --split test --items 1 --drop-prob 0.5", 2, "--drop-prob", "--drop "},
        {"data toy --out d --split test --bogus", 2, NULL, NULL},
        {"data --out d", 2, NULL, NULL},
        {"data toy --help", 0, NULL, NULL},
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);
    ck_assert_int_ne(shell("test -e d"), 0); /* nothing was written */
}
END_TEST

START_TEST(existing_data_sets_need_force)
{
    ck_assert_int_eq(run("data toy --out d --split test --items 2 --seed 1 --quiet"), 0);
    ck_assert_int_eq(shell("cp -a d before"), 0);
    ck_assert_int_eq(run("data toy --out d --split test --items 2 --seed 2 --quiet"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "priorsep: d/manifest.csv: "));
    ck_assert_ptr_nonnull(strstr(last_stderr, "--force"));
    ck_assert_int_eq(shell("diff -r d before >/dev/null"), 0); /* untouched */
    ck_assert_int_eq(run("data toy --out d --split test --items 2 --seed 2 --force --quiet"), 0);
    check_item("d", PS_TOY_TEST, 2, 1);
    check_manifest("d", PS_TOY_TEST, 2, 0, 2);
    /* a replacement that fails half-way leaves no manifest: the set is not finished */
    ck_assert_int_eq(shell("rm -r d/00001 && touch d/00001"), 0);
    ck_assert_int_eq(run("data toy --out d --split test --items 2 --seed 3 --force --quiet"), 1);
    ck_assert_int_ne(shell("test -e d/manifest.csv"), 0);
}
END_TEST

START_TEST(runtime_errors_exit_1_and_name_the_path)
{
    ck_assert_int_eq(shell("touch plain"), 0);
    ck_assert_int_eq(run("data toy --out plain/d --split test --items 1"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "priorsep: plain/d: "));
    ck_assert_int_eq(run("data toy --out plain --split test --items 1"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "priorsep: plain: "));
    /* an item path taken by a file: the manifest, the mark of a finished set, is not written */
    ck_assert_int_eq(shell("mkdir d && touch d/00001"), 0);
    ck_assert_int_eq(run("data toy --out d --split test --items 2"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "d/00001"));
    ck_assert_int_ne(shell("test -e d/manifest.csv"), 0);
    ck_assert_int_ne(shell("ls -R d | grep -q tmp-"), 0);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("cli_toy");
    TCase *tc = tcase_create("data toy");
    tcase_add_checked_fixture(tc, setup, cli_dir_remove);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, items_are_the_engine_items);
    tcase_add_test(tc, reruns_are_byte_identical_and_subsets_match);
    tcase_add_test(tc, dropped_sources_are_silent_and_the_rest_unchanged);
    tcase_add_test(tc, usage_errors_exit_2_and_name_the_option);
    tcase_add_test(tc, existing_data_sets_need_force);
    tcase_add_test(tc, runtime_errors_exit_1_and_name_the_path);
    suite_add_tcase(s, tc);
    return s;
}
