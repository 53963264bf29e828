/* priorsep eval separation as a user runs it, on a tiny random model set and three toy
 * test items: the Markdown, CSV and JSON tables agree; offline and streaming (K = 0)
 * separation score the same; refinement (K > 0) runs; bad usage and broken data are
 * refused clearly. The metrics themselves are tested against known answers in
 * test_metrics.c. PRIORSEP is the path of the built binary. */
#include <check.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_harness.h"
#include "priorsep/model_file.h"
#include "priorsep/wavenet.h"

#define SOURCES 4
#define METRICS 5
static const char *const names[SOURCES] = {"sine", "square", "sawtooth", "triangle"};
static const char *const keys[METRICS] = {"si_sdr", "si_sdri", "sdr", "sir", "sar"};

typedef double table[SOURCES][METRICS];

/* dir/m/<name>.safetensors: a tiny WaveNet with random weights. */
static void save_model(const char *name, ps_head_kind head, int mixtures, int cond,
                       const ps_model_info *info, uint64_t seed)
{
    ps_wavenet_config c = {.stacks = 1, .layers = 3, .kernel = 2, .input_kernel = 2, .residual = 4,
                           .skip = 4, .hidden = 4, .cond = cond, .head = head, .mixtures = mixtures};
    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&c, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    ps_wavenet_init_random(net, seed);
    char path[512];
    snprintf(path, sizeof path, "%s/m/%s.safetensors", dir, name);
    ck_assert_msg(ps_model_save(path, net, info, &err) == 0, "%s", err.msg);
    ps_wavenet_destroy(net);
}

/* A model folder m (separator and four priors) and three toy test items in test/. */
static void setup(void)
{
    cli_dir_create("/tmp/priorsep-evalsep-XXXXXX");
    ck_assert_int_eq(shell("mkdir m"), 0);
    ps_model_info sep = {.sample_rate = 14700, .n_sources = SOURCES, .lookahead = 5};
    for (int k = 0; k < SOURCES; k++) {
        snprintf(sep.sources[k], sizeof sep.sources[k], "%s", names[k]);
        sep.weights[k] = 0.25f;
    }
    save_model("separator", PS_HEAD_GAUSSIAN, SOURCES, 0, &sep, 1);
    for (int k = 0; k < SOURCES; k++) {
        ps_model_info prior = {.sample_rate = 14700, .noise_levels = 10, .sigma_max = 1.0f, .sigma_min = 0.01f};
        snprintf(prior.source, sizeof prior.source, "%s", names[k]);
        save_model(names[k], PS_HEAD_MOL, 2, 1, &prior, 2 + (uint64_t)k);
    }
    ck_assert_int_eq(run("data toy --out test --split test --items 3 --quiet"), 0);
}

/* priorsep eval separation ARGS with its stdout in dir/<md>; returns the exit status. */
static int eval_to(const char *md, const char *args)
{
    return shell("%s eval separation %s > %s 2>stderr.txt", getenv("PRIORSEP"), args, md);
}

static char *slurp(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* The Markdown table: exactly one row per source, in order, five values each. */
static void read_markdown(const char *md, table v)
{
    char *text = slurp(md), *line = text;
    int rows = 0;
    for (char *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (strncmp(line, "| ", 2) != 0 || strncmp(line, "| source |", 10) == 0) continue;
        ck_assert_int_lt(rows, SOURCES);
        char name[32];
        int got = sscanf(line, "| %31s | %lf | %lf | %lf | %lf | %lf |", name, &v[rows][0], &v[rows][1],
                         &v[rows][2], &v[rows][3], &v[rows][4]);
        ck_assert_msg(got == 6, "%s: row \"%s\"", md, line);
        ck_assert_str_eq(name, names[rows]);
        rows++;
    }
    ck_assert_int_eq(rows, SOURCES);
}

static void read_csv(const char *csv, table v)
{
    char *text = slurp(csv), *line = strtok(text, "\n");
    ck_assert_str_eq(line, "source,si_sdr_db,si_sdri_db,sdr_db,sir_db,sar_db");
    for (int k = 0; k < SOURCES; k++) {
        ck_assert_ptr_nonnull(line = strtok(NULL, "\n"));
        char name[32];
        ck_assert_int_eq(sscanf(line, "%31[^,],%lf,%lf,%lf,%lf,%lf", name, &v[k][0], &v[k][1], &v[k][2],
                                &v[k][3], &v[k][4]), 6);
        ck_assert_str_eq(name, names[k]);
    }
    ck_assert_ptr_null(strtok(NULL, "\n"));
}

/* The JSON's medians (the first object per source: medians come before per_item), its
 * item count, per-item entries and mixture consistency. */
static void read_json(const char *json, table v, int items, double *consistency)
{
    char *text = slurp(json), want[64];
    snprintf(want, sizeof want, "\"items\": %d,", items);
    ck_assert_ptr_nonnull(strstr(text, want));
    char *c = strstr(text, "\"mixture_consistency\": ");
    ck_assert_ptr_nonnull(c);
    *consistency = strtod(c + strlen("\"mixture_consistency\": "), NULL);
    char *medians = strstr(text, "\"medians\": [");
    ck_assert_ptr_nonnull(medians);
    for (int k = 0; k < SOURCES; k++) {
        snprintf(want, sizeof want, "{\"source\": \"%s\"", names[k]);
        char *obj = strstr(medians, want);
        ck_assert_ptr_nonnull(obj);
        for (int j = 0; j < METRICS; j++) {
            snprintf(want, sizeof want, "\"%s\": ", keys[j]);
            char *at = strstr(obj, want), *end;
            ck_assert_ptr_nonnull(at);
            v[k][j] = strtod(at + strlen(want), &end);
            ck_assert_msg(end != at + strlen(want), "%s: %s of %s is not a number", json, keys[j], names[k]);
        }
    }
    int n = 0;
    for (char *p = text; (p = strstr(p, "{\"item\": ")); p++) n++;
    ck_assert_int_eq(n, items);
}

static void assert_close(table a, table b, double tol, const char *what)
{
    for (int k = 0; k < SOURCES; k++)
        for (int j = 0; j < METRICS; j++) {
            ck_assert_msg(isfinite(a[k][j]) && isfinite(b[k][j]), "%s: %s %s not finite", what, names[k], keys[j]);
            ck_assert_msg(fabs(a[k][j] - b[k][j]) <= tol, "%s: %s %s: %.6f vs %.6f", what, names[k], keys[j],
                          a[k][j], b[k][j]);
        }
}

START_TEST(tables_agree_and_offline_equals_streaming)
{
    ck_assert_int_eq(eval_to("s.md", "--model m --data test --csv s.csv --json s.json --quiet"), 0);
    table md, csv, json, off;
    read_markdown("s.md", md);
    read_csv("s.csv", csv);
    double consistency;
    read_json("s.json", json, 3, &consistency);
    assert_close(md, csv, 0.005 + 1e-9, "Markdown vs CSV"); /* 2 decimals vs 6 */
    assert_close(csv, json, 1e-9, "CSV vs JSON");
    ck_assert_msg(consistency < 1e-5, "mixture consistency %g", consistency);
    const char *text = slurp("s.md");
    ck_assert_ptr_nonnull(strstr(text, "median over 3 items"));
    ck_assert_ptr_nonnull(strstr(text, "model m, K = 0, frame 256 (streaming)"));
    ck_assert_ptr_nonnull(strstr(text, "mixture consistency: max |sum_k w_k s_k - m| = "));
    /* the note on BSS Eval's inconsistent items: counted in the JSON, printed iff any */
    const char *key = strstr(slurp("s.json"), "\"bss_inconsistent_items\": ");
    ck_assert_ptr_nonnull(key);
    long inconsistent = strtol(key + strlen("\"bss_inconsistent_items\": "), NULL, 10);
    ck_assert(inconsistent >= 0 && inconsistent <= 3);
    char *note = strstr(slurp("s.md"), "note: on ");
    ck_assert_msg((note != NULL) == (inconsistent > 0), "%ld inconsistent items, note %s", inconsistent,
                  note ? "printed" : "missing");
    if (note) ck_assert_int_eq(strtol(note + strlen("note: on "), NULL, 10), inconsistent);
    ck_assert_int_ne(shell("ls | grep -q tmp"), 0); /* no temporaries left */
    ck_assert_int_eq(shell("command -v python3 >/dev/null || exit 0; python3 -c 'import json; "
                           "d = json.load(open(\"s.json\")); assert len(d[\"per_item\"]) == 3; "
                           "assert [len(i[\"sources\"]) for i in d[\"per_item\"]] == [4, 4, 4]'"), 0);

    /* items are scored in --threads workers (default 2), each item into its own row: the
     * same tables, per item, byte for byte, with one worker or one per item */
    ck_assert_int_eq(eval_to("t1.md", "--model m --data test --json t1.json --threads 1 --quiet"), 0);
    ck_assert_int_eq(eval_to("t3.md", "--model m --data test --json t3.json --threads 3 --quiet"), 0);
    ck_assert_int_eq(shell("cmp s.json t1.json && cmp s.json t3.json && cmp s.md t1.md"), 0);

    /* offline, and streaming in frames that do not divide the item: the same medians */
    ck_assert_int_eq(eval_to("o.md", "--model m --data test --offline --csv o.csv"), 0);
    ck_assert_ptr_nonnull(strstr(slurp("o.md"), "offline"));
    read_csv("o.csv", off);
    assert_close(csv, off, 0.01, "streaming vs offline");
    ck_assert_int_eq(eval_to("f.md", "--model m --data test --frame 100 --csv f.csv"), 0);
    read_csv("f.csv", off);
    assert_close(csv, off, 0.01, "frames of 256 vs 100");
}
END_TEST

START_TEST(refinement_and_item_counts)
{
    ck_assert_int_eq(eval_to("k.md", "--model m/separator.safetensors --data test --items 1 --refine 2 "
                                     "--frame 128 --json k.json"), 0);
    ck_assert_ptr_nonnull(strstr(slurp("k.md"), "median over 1 item "));
    ck_assert_ptr_nonnull(strstr(slurp("k.md"), "K = 2, frame 128"));
    table md, json;
    read_markdown("k.md", md);
    double consistency;
    read_json("k.json", json, 1, &consistency);
    assert_close(md, json, 0.005 + 1e-9, "Markdown vs JSON, K = 2");
    ck_assert_msg(consistency < 1e-5, "mixture consistency %g", consistency);
    /* only the first items are read: a broken later item does not matter */
    ck_assert_int_eq(shell("rm test/00002/sine.wav"), 0);
    ck_assert_int_eq(eval_to("two.md", "--model m --data test --items 2"), 0);
    ck_assert_ptr_nonnull(strstr(slurp("two.md"), "median over 2 items"));
}
END_TEST

/* dir/<name>: a mono float WAV at 14,700 Hz of n samples of a sine. */
static void write_wav(const char *name, long n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    SF_INFO info = {.samplerate = 14700, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    ck_assert_msg(f != NULL, "%s: %s", path, sf_strerror(NULL));
    for (long t = 0; t < n; t++) {
        float x = (float)sin(0.05 * (double)t);
        ck_assert_int_eq(sf_writef_float(f, &x, 1), 1);
    }
    sf_close(f);
}

START_TEST(refusals)
{
    ck_assert_int_eq(shell("cp -r test nosrc && rm nosrc/00001/square.wav"), 0);
    ck_assert_int_eq(shell("cp -r test short && mkdir empty"), 0);
    write_wav("short/00000/sawtooth.wav", 1000);
    ck_assert_int_eq(shell("cp -r test junk && echo junk > junk/00000/mix.wav"), 0);
    ck_assert_int_eq(shell("cp -r test junk2 && echo junk > junk2/00002/mix.wav"), 0);
    ck_assert_int_eq(shell("mkdir nomodel"), 0);
    const cli_case cases[] = {
        {"eval separation --data test", 2, "priorsep: --model: missing", NULL},
        {"eval separation --model m", 2, "priorsep: --data: missing", NULL},
        {"eval separation --model m --data test --offline --refine 2", 2, "priorsep: --offline: ", "--refine 2"},
        {"eval separation --model m --data test --refine 9", 2, "--refine", NULL},
        {"eval separation --model m --data test --frame 0", 2, "--frame", NULL},
        {"eval separation --model m --data test --items 0", 2, "--items", NULL},
        {"eval separation --model m --data test extra", 2, "extra", NULL},
        {"eval separation --model m --data test --bogus", 2, NULL, NULL},
        {"eval separation --model nowhere --data test", 1, "priorsep: nowhere: ", NULL},
        {"eval separation --model nomodel --data test", 1, "nomodel", "separator.safetensors"},
        {"eval separation --model m/sine.safetensors --data test", 1, "not a separator", NULL},
        {"eval separation --model m --data nodata", 1, "priorsep: nodata: ", NULL},
        {"eval separation --model m --data empty", 1, "priorsep: empty: no item folders", NULL},
        {"eval separation --model m --data test --items 4", 1, "priorsep: test: holds 3 items", "--items"},
        {"eval separation --model m --data nosrc", 1, "priorsep: nosrc/00001/square.wav: missing", NULL},
        {"eval separation --model m --data short", 1, "priorsep: short/00000/sawtooth.wav: 1000 samples", "48000"},
        {"eval separation --model m --data junk", 1, "priorsep: junk/00000/mix.wav: not a readable audio file", NULL},
        {"eval separation --model m --data junk2 --threads 3 --csv j.csv", 1,
         "priorsep: junk2/00002/mix.wav: not a readable audio file", NULL},
        {"eval separation --model m --data test --threads 0", 2, "--threads", NULL},
        {"eval separation --model m --data test --threads 17", 2, "--threads", NULL},
        {"eval separation --model m --data test --items 1 --csv nodir/s.csv", 1, "priorsep: nodir/s.csv: cannot write", NULL},
        {"eval separation --help", 0, NULL, NULL},
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);
    ck_assert_int_ne(shell("test -e j.csv"), 0); /* a failed item: no table */
    ck_assert_int_eq(shell("%s eval separation --help | grep -q '^example: priorsep eval separation'",
                           getenv("PRIORSEP")), 0);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("cli_eval_separation");
    TCase *tc = tcase_create("eval separation");
    tcase_add_checked_fixture(tc, setup, cli_dir_remove);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, tables_agree_and_offline_equals_streaming);
    tcase_add_test(tc, refinement_and_item_counts);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return s;
}
