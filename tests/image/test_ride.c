/* RIDE (spatial LSTM + factorized MCGSM, ensembles over flips): the checks every
 * autoregressive image model passes (design section 9). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "image_checks.h"
#include "priorsep/image_train.h"

static ps_image_model *make_levels(int size, int levels, int hidden, int layers, int ensemble,
                                   uint64_t seed)
{
    ps_image_config cfg = {.height = size, .width = size, .levels = levels, .hidden = hidden,
                           .layers = layers, .components = 3, .ensemble = ensemble};
    ps_error err;
    ps_image_model *m = ps_image_model_create("ride", &cfg, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, seed);
    return m;
}

static ps_image_model *make(int size, int hidden, int layers, int ensemble, uint64_t seed)
{
    return make_levels(size, 2, hidden, layers, ensemble, seed);
}

START_TEST(autoregressive)
{
    /* Two layers, so the second layer's input (the first one's state) is checked too. */
    ps_image_model *m = make(5, 6, 2, 1, 1);
    long later;
    long violations = image_check_autoregressive(m, 2, &later);
    ck_assert_int_eq(violations, 0);
    ck_assert_int_gt(later, 0);
    ps_image_model_destroy(m);
    /* 8-bit: the binned Gaussian experts. */
    m = make_levels(4, 256, 6, 1, 1, 3);
    violations = image_check_autoregressive(m, 4, &later);
    ck_assert_int_eq(violations, 0);
    ck_assert_int_gt(later, 0);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(eight_bit_conditionals_and_samples)
{
    /* Each 8-bit conditional sums to 1 over the 256 levels (double sums of float logs of
     * O(1)..O(10) magnitude: 1e-5 covers the float rounding), and samples are levels. */
    ps_image_model *m = make_levels(3, 256, 5, 1, 1, 5);
    uint8_t x[9] = {0, 255, 17, 128, 3, 250, 90, 91, 200};
    static float cond[9 * 256];
    ps_image_model_conditionals(m, x, cond);
    double nll = 0.0, ref;
    for (int i = 0; i < 9; i++) {
        double sum = 0.0;
        for (int v = 0; v < 256; v++) sum += exp(cond[i * 256 + v]);
        ck_assert_msg(fabs(sum - 1.0) < 1e-5, "pixel %d: sum %.9f", i, sum);
        nll -= cond[i * 256 + x[i]];
    }
    ps_rng rng;
    ps_rng_seed(&rng, 6);
    ps_image_model_nll(m, x, 1, &ref, &rng);
    ck_assert_msg(fabs(nll - ref) < 1e-4 * fabs(ref), "nll %g, conditionals %g", ref, nll);
    uint8_t s[5 * 9];
    ps_image_model_sample(m, s, 5, &rng);
    int distinct = 0;
    for (int i = 1; i < 5 * 9; i++) distinct += s[i] != s[0];
    ck_assert_int_gt(distinct, 0);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(normalized_with_every_ensemble)
{
    /* Every member's p(T_k x) sums to 1 over the 512 images, so their mean does; the
     * conditionals are normalized in double arithmetic, so 1e-5 is the brief's bound
     * with orders of magnitude to spare. */
    const int ensembles[] = {1, 2, 4};
    for (int e = 0; e < 3; e++) {
        ps_image_model *m = make(3, 5, e == 2 ? 2 : 1, ensembles[e], 3 + e);
        double total = image_check_normalization(m);
        ck_assert_msg(fabs(total - 1.0) < 1e-5, "ensemble %d: sum %.9f", ensembles[e], total);
        ps_image_model_destroy(m);
    }
}
END_TEST

START_TEST(ensemble_members_differ)
{
    /* The flips are scored in different orders, so for a random model q(x) differs from
     * p(x): the nll really takes the ensemble path. */
    ps_image_model *one = make(3, 5, 1, 1, 7), *four = make(3, 5, 1, 4, 7);
    uint8_t x[9] = {1, 0, 0, 1, 1, 0, 0, 0, 1};
    double a, b;
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    ps_image_model_nll(one, x, 1, &a, &rng);
    ps_image_model_nll(four, x, 1, &b, &rng);
    ck_assert_msg(fabs(a - b) > 1e-4, "nll %g with one member, %g with four", a, b);
    ps_image_model_destroy(one);
    ps_image_model_destroy(four);
}
END_TEST

START_TEST(gradients)
{
    /* Four flips drawn by the loss's rng (fixed for the differences), two layers. Step
     * 1e-2 on O(1) parameters: the loss (~33 nats over 3 images) sums double
     * conditionals of float states, so rounding (~1e-6 over 2e-2, ~5e-5 absolute) and
     * truncation (O(h^2) ~ 1e-4 relative) stay under the floor 1e-3 and the 1e-2 bound
     * (measured: 1.5e-4). A wrong term shows as an O(1) relative error. */
    ps_image_model *m = make(4, 5, 2, 4, 11);
    ps_rng rng;
    ps_rng_seed(&rng, 12);
    uint8_t x[3 * 16];
    for (int i = 0; i < 3 * 16; i++) x[i] = (uint8_t)(ps_rng_u64(&rng) & 1);
    double worst = image_check_gradients(m, x, 3, 300, 1e-2, 1e-3, 13);
    printf("ride: worst relative gradient error %.2e\n", worst);
    ck_assert_double_lt(worst, 1e-2);
    ps_image_model_destroy(m);
    /* 8-bit (binned Gaussian experts), the same step and bound; the loss is larger
     * (~5 nats per pixel), its rounding still ~1e-4 after dividing by 2e-2. */
    m = make_levels(3, 256, 5, 1, 2, 14);
    for (int i = 0; i < 2 * 9; i++) x[i] = (uint8_t)(ps_rng_u64(&rng) & 255);
    worst = image_check_gradients(m, x, 2, 300, 1e-2, 1e-3, 15);
    printf("ride 8-bit: worst relative gradient error %.2e\n", worst);
    ck_assert_double_lt(worst, 1e-2);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(sampling_frequencies)
{
    /* 2x2 binary: 16 images; 20,000 draws against exp(-nll). Five binomial standard
     * errors per cell: a false alarm in ~1e-5 of seeds over the 16 cells. */
    ps_image_model *m = make(2, 4, 1, 1, 21);
    enum { DRAWS = 20000 };
    uint8_t *s = malloc((size_t)DRAWS * 4);
    ps_rng rng;
    ps_rng_seed(&rng, 22);
    ps_image_model_sample(m, s, DRAWS, &rng);
    int count[16] = {0};
    for (int t = 0; t < DRAWS; t++) {
        int code = 0;
        for (int i = 0; i < 4; i++) {
            ck_assert_uint_le(s[t * 4 + i], 1);
            code |= s[t * 4 + i] << i;
        }
        count[code]++;
    }
    for (int code = 0; code < 16; code++) {
        uint8_t x[4];
        for (int i = 0; i < 4; i++) x[i] = (uint8_t)((code >> i) & 1);
        double nll;
        ps_image_model_nll(m, x, 1, &nll, &rng);
        double p = exp(-nll), se = sqrt(p * (1.0 - p) / DRAWS);
        ck_assert_msg(fabs((double)count[code] / DRAWS - p) < 5.0 * se,
                      "image %d: frequency %g, p %g", code, (double)count[code] / DRAWS, p);
    }
    free(s);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(training_beats_independent_pixels)
{
    ps_image_config cfg = {.height = 7, .width = 7, .levels = 2, .hidden = 16, .components = 4};
    ps_error err;
    ps_image_model *m = ps_image_model_create("ride", &cfg, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, 1);
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 300;
    o.lr = 1e-2f;
    o.report = NULL;
    image_training t = image_check_training(m, &o);
    ck_assert_msg(t.trained == 0, "%s", t.err.msg);
    printf("ride 7x7: test nll %.3f nats, independent pixels %.3f\n", t.after, t.baseline);
    ck_assert_double_lt(t.after, t.baseline);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(eight_bit_training_on_dead_leaves)
{
    /* Dead leaves have flat disks: a pixel mostly repeats a neighbour, which the
     * independent 256-way baseline cannot use. */
    ps_image_set train, test;
    ps_error err;
    ck_assert_msg(ps_dead_leaves(1000, 8, 8, 1, &train, &err) == 0, "%s", err.msg);
    ck_assert_msg(ps_dead_leaves(200, 8, 8, 2, &test, &err) == 0, "%s", err.msg);
    ps_image_config cfg = {.height = 8, .width = 8, .levels = 256, .hidden = 16, .components = 4};
    ps_image_model *m = ps_image_model_create("ride", &cfg, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, 1);
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 300;
    o.lr = 1e-2f;
    o.report = NULL;
    ck_assert_msg(ps_image_train(m, &train, &o, &err) == 0, "%s", err.msg);
    double nll = ps_image_eval(m, &test, 0, 1);
    double base = ps_image_independent_nll(&train, &test);
    printf("ride 8x8 8-bit dead leaves: test nll %.1f nats, independent pixels %.1f\n", nll, base);
    ck_assert_double_lt(nll, base);
    ps_image_model_destroy(m);
    ps_image_set_free(&train);
    ps_image_set_free(&test);
}
END_TEST

START_TEST(rejects_bad_configs)
{
    ps_error err;
    ps_image_config deep = {.height = 4, .width = 4, .levels = 2, .layers = 5};
    ck_assert_ptr_null(ps_image_model_create("ride", &deep, &err));
    ps_image_config three = {.height = 4, .width = 4, .levels = 2, .ensemble = 3};
    ck_assert_ptr_null(ps_image_model_create("ride", &three, &err));
}
END_TEST

const char *suite_skip_reason(void)
{
    ps_image_set s;
    if (image_small_fashion("test", 1, 4, &s) != 0) return "Fashion-MNIST is not installed";
    ps_image_set_free(&s);
    return NULL;
}

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("ride");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, autoregressive);
    tcase_add_test(tc, normalized_with_every_ensemble);
    tcase_add_test(tc, ensemble_members_differ);
    tcase_add_test(tc, eight_bit_conditionals_and_samples);
    tcase_add_test(tc, gradients);
    tcase_add_test(tc, sampling_frequencies);
    tcase_add_test(tc, training_beats_independent_pixels);
    tcase_add_test(tc, eight_bit_training_on_dead_leaves);
    tcase_add_test(tc, rejects_bad_configs);
    suite_add_tcase(s, tc);
    return s;
}
