/* PixelRNN, both kinds (Row LSTM and Diagonal BiLSTM; each test loops over them): the
 * shared checks of every image model (autoregressive property, exact normalization,
 * finite-difference gradients, training beats the independent-pixel baseline, sampling
 * frequencies), plus the receptive fields that tell the two apart: the Diagonal BiLSTM
 * sees every earlier pixel, the Row LSTM only a triangle above the pixel. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_checks.h"
#include "priorsep/image_train.h"

static const char *const kinds[] = {"row-lstm", "diagonal-bilstm"};

static ps_image_model *make(const char *kind, int height, int width, int levels, int hidden,
                            int layers, uint64_t seed)
{
    ps_image_config cfg = {.height = height, .width = width, .levels = levels, .hidden = hidden,
                           .layers = layers};
    ps_error err;
    ps_image_model *m = ps_image_model_create(kind, &cfg, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, seed);
    return m;
}

START_TEST(autoregressive)
{
    long later = 0;
    ps_image_model *m = make(kinds[_i], 5, 5, 2, 4, 2, 1);
    ck_assert_int_eq(image_check_autoregressive(m, 7, &later), 0);
    ck_assert_int_gt(later, 0);
    ps_image_model_destroy(m);
    m = make(kinds[_i], 4, 4, 256, 4, 2, 2);
    ck_assert_int_eq(image_check_autoregressive(m, 8, &later), 0);
    ck_assert_int_gt(later, 0);
    ps_image_model_destroy(m);
}
END_TEST

/* unseen[i * D + j] = 1 for the earlier pixels j (j < i) whose flip left the conditional
 * of pixel i unchanged in every one of four random images (several images, because on
 * one image an output ReLU that is off can cut a path that exists). Returns their count. */
static int unseen_earlier(ps_image_model *m, int *unseen)
{
    const ps_image_config *cfg = ps_image_model_config(m);
    int D = cfg->height * cfg->width, count = 0;
    uint8_t *x = malloc(D);
    float *base = malloc(2 * D * sizeof(float)), *pert = malloc(2 * D * sizeof(float));
    ps_rng rng;
    ps_rng_seed(&rng, 5);
    for (int k = 0; k < D * D; k++) unseen[k] = 1;
    for (int image = 0; image < 4; image++) {
        for (int k = 0; k < D; k++) x[k] = (uint8_t)(ps_rng_u64(&rng) & 1);
        ps_image_model_conditionals(m, x, base);
        for (int j = 0; j < D; j++) {
            x[j] ^= 1;
            ps_image_model_conditionals(m, x, pert);
            x[j] ^= 1;
            for (int i = j + 1; i < D; i++)
                if (memcmp(base + 2 * i, pert + 2 * i, 2 * sizeof(float)) != 0) unseen[i * D + j] = 0;
        }
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j < i; j++) count += unseen[i * D + j];
    free(x);
    free(base);
    free(pert);
    return count;
}

START_TEST(receptive_field)
{
    int unseen[24 * 24];
    if (strcmp(kinds[_i], "diagonal-bilstm") == 0) {
        /* 4x4, one layer: every earlier pixel. (On wider images the last pixel of the row
         * above reaches pixel (i, c) only through the 7x7 mask-A window, i.e. for
         * c >= W - 4: see diagonal_bilstm.h.) */
        ps_image_model *m = make(kinds[_i], 4, 4, 2, 4, 1, 3);
        ck_assert_int_eq(unseen_earlier(m, unseen), 0);
        ps_image_model_destroy(m);
    } else {
        /* 3x8, one layer: pixel (2, 7) sees row 1 through the states at columns 6..7 and
         * row 0 through those at columns 5..7 and the mask-A windows, down to column 1
         * at the least; the top-left pixel lies outside that triangle */
        ps_image_model *m = make(kinds[_i], 3, 8, 2, 4, 1, 3);
        ck_assert_int_gt(unseen_earlier(m, unseen), 0);
        ck_assert_int_eq(unseen[(2 * 8 + 7) * 24 + 0], 1);
        ps_image_model_destroy(m);
    }
}
END_TEST

START_TEST(normalized)
{
    ps_image_model *m = make(kinds[_i], 3, 3, 2, 4, 2, 4);
    /* each pixel's two probabilities come from the same logit in double precision, so
     * they sum to 1 up to double rounding: 1e-5 is the brief's bound, far above it */
    ck_assert_double_lt(fabs(image_check_normalization(m) - 1.0), 1e-5);
    ps_image_model_destroy(m);
}
END_TEST

/* Finite differences of the whole loss, off the initialization: with its zero biases the
 * first pixel's features are exactly 0 and the output ReLU sits on its kink, where a
 * central difference straddles two slopes. */
static double gradient_error(const char *kind, int height, int width, int levels, int n,
                             double floor)
{
    ps_image_model *m = make(kind, height, width, levels, 3, 2, 5);
    int D = height * width;
    uint8_t *x = malloc((size_t)n * D);
    ps_rng rng;
    ps_rng_seed(&rng, 9);
    for (int k = 0; k < n * D; k++) x[k] = (uint8_t)(ps_rng_u64(&rng) % (uint64_t)levels);
    float *params = ps_image_model_params(m);
    for (size_t k = 0; k < ps_image_model_param_count(m); k++) params[k] += 0.1f * ps_rng_normal(&rng);
    double worst = image_check_gradients(m, x, n, 300, 1e-3, floor, 11);
    free(x);
    ps_image_model_destroy(m);
    return worst;
}

START_TEST(gradients)
{
    /* Binary: the loss is summed in double from float logits, ~1e-6 of rounding over 24
     * pixels, so h = 1e-3 leaves ~5e-4 of absolute noise in the central difference (a
     * larger h crosses ReLU kinks); the floor 1e-2 keeps that below 5e-2 relative for
     * tiny gradients and far below for the rest. */
    double binary = gradient_error(kinds[_i], 3, 4, 2, 2, 1e-2);
    ck_assert_msg(binary < 5e-2, "%s binary: worst relative error %g", kinds[_i], binary);
    /* 8-bit: heads.h returns each pixel's nll in float (~5.5 nats, ulp 5e-7), so a 2x3
     * image keeps the loss's rounding near 2e-6, 1e-3 in the central difference; the
     * floor 5e-2 keeps that at 2e-2 relative */
    double byte = gradient_error(kinds[_i], 2, 3, 256, 1, 5e-2);
    ck_assert_msg(byte < 5e-2, "%s 8-bit: worst relative error %g", kinds[_i], byte);
}
END_TEST

START_TEST(training_beats_baseline)
{
    ps_image_model *m = make(kinds[_i], 7, 7, 2, 8, 1, 6);
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 300;
    o.lr = 1e-2f;
    o.warmup = 20;
    image_training t = image_check_training(m, &o);
    ck_assert_msg(t.trained == 0, "%s", t.err.msg);
    printf("%s: test nll %.3f -> %.3f nats, independent pixels %.3f\n", kinds[_i], t.before,
           t.after, t.baseline);
    ck_assert_double_lt(t.after, t.baseline);
    ck_assert_int_eq(t.invalid, 0);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(sample_frequencies)
{
    ps_image_model *m = make(kinds[_i], 2, 2, 2, 4, 2, 7);
    image_sample_fit fit = image_check_sample_frequencies(m, NULL, 20000, 12);
    printf("%s: sampling chi-square %.2f (15 dof)\n", kinds[_i], fit.chi_square);
    ck_assert_int_eq(fit.invalid, 0);
    ck_assert_double_gt(fit.min_expected, 5.0); /* the chi-square approximation holds */
    /* 15 degrees of freedom: P(chi2 > 37.7) = 0.001 for a correct sampler (seeded, so
     * the figure is fixed; a sampler off by a few percent in any cell lands far above) */
    ck_assert_msg(fit.chi_square < 37.7, "chi-square %g", fit.chi_square);
    ps_image_model_destroy(m);
}
END_TEST

const char *suite_skip_reason(void) { return image_fashion_missing(); }

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("pixelrnn");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, autoregressive, 0, 2);
    tcase_add_loop_test(tc, receptive_field, 0, 2);
    tcase_add_loop_test(tc, normalized, 0, 2);
    tcase_add_loop_test(tc, gradients, 0, 2);
    tcase_add_loop_test(tc, training_beats_baseline, 0, 2);
    tcase_add_loop_test(tc, sample_frequencies, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
