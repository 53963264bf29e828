/* priorsep train separator end to end, on two toy items and tiny architectures: each
 * objective trains and writes a separator that separate can use; the unsupervised one
 * needs no source file at all (its data folder holds mixtures only), the supervised one
 * refuses such a folder; the refusals of bad usage. The trainer loop itself (resume,
 * threads, Ctrl-C) is checked by test_train_prior.c. */
#include <check.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cli_harness.h"
#include "priorsep/model_file.h"
#include "priorsep/separator.h"

#define TINY "--stacks 1 --layers 3 --residual 4 --skip 4 --hidden 4 --batch 2 --crop 600 " \
             "--lookahead 8 --steps 3 --warmup 1 --val-every 2 --quiet"

/* Tiny noise-conditioned MoL priors of the four toy sources in dir/priors. */
static void make_priors(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/priors", dir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    ps_wavenet_config cfg = {.stacks = 1, .layers = 2, .kernel = 2, .input_kernel = 2, .residual = 4,
                             .skip = 4, .hidden = 4, .cond = 1, .head = PS_HEAD_MOL, .mixtures = 2};
    const char *names[4] = {"sine", "square", "sawtooth", "triangle"};
    for (int k = 0; k < 4; k++) {
        ps_model_info info = {.sample_rate = 14700, .noise_levels = 10, .sigma_max = 1.0f,
                              .sigma_min = 0.01f};
        snprintf(info.source, sizeof info.source, "%s", names[k]);
        ps_error err;
        ps_wavenet *net = ps_wavenet_create(&cfg, &err);
        ck_assert_msg(net != NULL, "%s", err.msg);
        ps_wavenet_init_random(net, 11 + (uint64_t)k);
        snprintf(path, sizeof path, "%s/priors/%s.safetensors", dir, names[k]);
        ck_assert_msg(ps_model_save(path, net, &info, &err) == 0, "%s", err.msg);
        ps_wavenet_destroy(net);
    }
}

static void setup(void)
{
    cli_dir_create("/tmp/priorsep-train-sep-XXXXXX");
    make_priors();
    ck_assert_int_eq(run("data toy --out items --split train --items 2 --quiet"), 0);
    /* the same mixtures without their sources */
    ck_assert_int_eq(shell("mkdir -p mixes/a mixes/b && cp items/00000/mix.wav mixes/a/ && "
                           "cp items/00001/mix.wav mixes/b/"), 0);
}

/* The model loads as a separator of the four toy sources with the lookahead asked. */
static void check_separator(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ps_model_info info;
    ps_error err;
    ps_wavenet *net = ps_model_load(path, &info, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    ck_assert_int_eq(ps_wavenet_config_of(net)->head, PS_HEAD_GAUSSIAN);
    ck_assert_int_eq(info.n_sources, 4);
    ck_assert_str_eq(info.sources[3], "triangle");
    ck_assert_int_eq(info.lookahead, 8);
    ck_assert_float_eq(info.weights[0], 0.25f);
    ck_assert_ptr_nonnull(strstr(info.recipe, "train separator"));
    ps_wavenet_destroy(net);
}

START_TEST(each_objective_trains_a_usable_separator)
{
    ck_assert_int_eq(run("train separator --data items --out priors/separator.safetensors "
                         "--si-sdr-weight 0.1 " TINY), 0);
    check_separator("priors/separator.safetensors");
    /* the model folder (separator + priors) separates a file */
    ck_assert_int_eq(run("separate --model priors --out out --refine 1 --quiet items/00000/mix.wav"), 0);
    ck_assert_int_eq(shell("test -s out/mix.triangle.wav"), 0);

    ck_assert_int_eq(run("train separator --objective unsupervised --priors priors --data mixes "
                         "--out uns.safetensors " TINY), 0);
    check_separator("uns.safetensors");
    ck_assert_int_eq(run("train separator --objective semi --priors priors --data items "
                         "--mixtures mixes --out semi.safetensors " TINY), 0);
    check_separator("semi.safetensors");
    /* --init continues from a model's weights; another architecture is refused */
    ck_assert_int_eq(run("train separator --data items --out init.safetensors "
                         "--init uns.safetensors " TINY), 0);
    ck_assert_int_eq(run("train separator --data items --out init.safetensors --force "
                         "--init uns.safetensors " TINY " --residual 5"), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "another architecture"));
}
END_TEST

/* A --drop data set has silent sources, which have no SI-SDR: validation averages over
 * the others instead of becoming NaN. Trained with --nll-beta, which the model's recipe records. */
START_TEST(validation_skips_silent_sources)
{
    ck_assert_int_eq(run("data toy --out dropped --split train --items 2 --drop sine "
                         "--drop-prob 1 --quiet"), 0);
    ck_assert_int_eq(run("train separator --data dropped --out d.safetensors --log d.csv "
                         "--nll-beta 1 " TINY), 0);
    ck_assert_int_eq(shell("awk -F, 'NR > 1 && $5 != \"\" {print $5}' d.csv | grep -q . && "
                           "! grep -qi nan d.csv"), 0);
    ck_assert_int_eq(shell("grep -aq -- '--nll-beta 1' d.safetensors"), 0); /* the recipe */
}
END_TEST

/* Held-out parts shorter than a crop leave nothing to validate on: said on stderr, for
 * the supervised (sources) and the unsupervised (mixtures) loader; not said otherwise. */
START_TEST(held_out_parts_shorter_than_a_crop_are_reported)
{
    /* items of 48,000 samples: their last 1 % is 480 samples, a crop 600 */
    ck_assert_int_eq(run("train separator --data items --out v.safetensors --log v.csv "
                         "--val-fraction 0.01 " TINY), 0);
    ck_assert_ptr_nonnull(strstr(last_stderr, "without validation"));
    ck_assert_int_eq(shell("awk -F, 'NR > 1 && $5 != \"\" {print $5}' v.csv | grep -qi nan"), 0);
    ck_assert_int_eq(run("train separator --objective unsupervised --priors priors --data mixes "
                         "--out u.safetensors --val-fraction 0.01 " TINY), 0);
    ck_assert_ptr_nonnull(strstr(last_stderr, "mixes: the longest held-out part"));
    ck_assert_int_eq(run("train separator --data items --out w.safetensors " TINY), 0);
    ck_assert_ptr_null(strstr(last_stderr, "warning"));
}
END_TEST

START_TEST(supervised_needs_sources_unsupervised_needs_priors)
{
    ck_assert_int_eq(run("train separator --data mixes --out s.safetensors " TINY), 1);
    ck_assert_ptr_nonnull(strstr(last_stderr, "sine"));
    const cli_case cases[] = {
        {"train separator --objective unsupervised --data mixes --out u.safetensors", 2, "--priors", NULL},
        {"train separator --objective semi --priors priors --data items --out u.safetensors", 2, "--mixtures", NULL},
        {"train separator --priors priors --data items --mixtures mixes --out u.safetensors", 2, "--mixtures", NULL},
        {"train separator --objective magic --data items --out u.safetensors", 2, "--objective", NULL},
        {"train separator --data items --out u.safetensors --crop 8 --lookahead 8", 2, "--crop", NULL},
        {"train separator --data items --out u.safetensors --weights 1,2", 2, "--weights", NULL},
        {"train separator --out u.safetensors", 2, "--data", NULL},
        {"train separator --objective unsupervised --priors nowhere --data mixes --out u.safetensors " TINY,
         1, "nowhere/sine.safetensors", NULL},
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("train separator");
    TCase *tc = tcase_create("train separator");
    tcase_add_checked_fixture(tc, setup, cli_dir_remove);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, each_objective_trains_a_usable_separator);
    tcase_add_test(tc, validation_skips_silent_sources);
    tcase_add_test(tc, held_out_parts_shorter_than_a_crop_are_reported);
    tcase_add_test(tc, supervised_needs_sources_unsupervised_needs_priors);
    suite_add_tcase(s, tc);
    return s;
}
