/* The plain and the gated PixelCNN: every check of the image models (autoregressive
 * property, exact normalization, gradients, training against the independent-pixel
 * baseline, sampling frequencies), for both kinds (loop index 0 = plain, 1 = gated),
 * and the receptive fields: the plain one has the blind spot, the gated one does not. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_checks.h"
#include "priorsep/image_train.h"

static const char *const kinds[] = {"pixelcnn", "gated-pixelcnn"};

static ps_image_model *make(int kind, int H, int W, int levels, int hidden, int layers,
                            int components, uint64_t seed)
{
    ps_image_config c = {.height = H, .width = W, .levels = levels, .hidden = hidden,
                         .layers = layers, .components = components};
    ps_error err;
    ps_image_model *m = ps_image_model_create(kinds[kind], &c, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, seed);
    return m;
}

START_TEST(autoregressive_binary_and_8bit)
{
    ps_image_model *m = make(_i, 5, 5, 2, 8, 2, 0, 1);
    long later = 0, bad = image_check_autoregressive(m, 7, &later);
    ck_assert_msg(bad == 0 && later > 0, "%s 5x5 binary: %ld violations, %ld later changed",
                  kinds[_i], bad, later);
    ps_image_model_destroy(m);
    m = make(_i, 4, 4, 256, 8, 1, 3, 2);
    bad = image_check_autoregressive(m, 8, &later);
    ck_assert_msg(bad == 0 && later > 0, "%s 4x4 8-bit: %ld violations, %ld later changed",
                  kinds[_i], bad, later);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(normalized_over_all_binary_images)
{
    /* 512 images of 9 float per-pixel terms each, summed in double: rounding stays near
     * 1e-6, so 1e-5 would catch a missing or double-counted pixel term at once. */
    ps_image_model *m = make(_i, 3, 3, 2, 8, 2, 0, 3);
    double total = image_check_normalization(m);
    ck_assert_msg(fabs(total - 1.0) < 1e-5, "%s: sum p(x) = %.9f", kinds[_i], total);
    ps_image_model_destroy(m);
}
END_TEST

/* A generic point: at initialization the biases are zero and the first pixels see only
 * zero padding, which puts pre-activations exactly on the ReLUs' kinks (or, with small
 * parameters, within 1e-4 of them). Uniform +-0.5 on every parameter moves them O(1)
 * away. */
static void jitter(ps_image_model *m, uint64_t seed) { image_jitter_params(m, 1.0f, seed); }

/* Central differences of a float32 forward with h = 1e-3: the loss (a few dozen pixel
 * terms of O(1), summed in double) carries rounding of ~1e-6, so the difference is good
 * to ~1e-3 absolute; curvature adds O(h^2), and a ReLU pre-activation within h of its
 * kink (a few of the ~700 units per probe sit that close) adds more: up to 3.4e-2
 * measured (the head's ReLUs, so the gated model too). Relative errors are taken
 * against a floor of 0.05 (smaller gradients are dominated by the rounding). 6e-2
 * leaves room for both while a wrong backward (a missing term, a wrong tap) gives errors
 * of order 1; the layers' own tests check each piece tightly. */
START_TEST(gradients_match_finite_differences)
{
    ps_image_model *m = make(_i, 4, 4, 2, 6, 2, 0, 4);
    jitter(m, 1);
    uint8_t x[3 * 16];
    ps_rng rng;
    ps_rng_seed(&rng, 5);
    for (int i = 0; i < 3 * 16; i++) x[i] = (uint8_t)(ps_rng_u64(&rng) & 1);
    double e = image_check_gradients(m, x, 3, 300, 1e-3, 0.05, 11);
    printf("%s binary: worst relative gradient error %.2e\n", kinds[_i], e);
    ck_assert_msg(e < 6e-2, "%s binary: worst relative error %g", kinds[_i], e);
    ps_image_model_destroy(m);

    m = make(_i, 3, 3, 256, 6, 1, 2, 6);
    jitter(m, 2);
    uint8_t y[2 * 9];
    for (int i = 0; i < 2 * 9; i++) y[i] = (uint8_t)(ps_rng_u64(&rng) & 255);
    e = image_check_gradients(m, y, 2, 300, 1e-3, 0.05, 12);
    printf("%s 8-bit: worst relative gradient error %.2e\n", kinds[_i], e);
    ck_assert_msg(e < 6e-2, "%s 8-bit: worst relative error %g", kinds[_i], e);
    ps_image_model_destroy(m);
}
END_TEST

START_TEST(training_beats_independent_pixels)
{
    ps_image_model *m = make(_i, 7, 7, 2, 16, 2, 0, 7);
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 300;
    o.lr = 3e-3f;
    o.warmup = 20;
    image_training t = image_check_training(m, &o);
    ck_assert_msg(t.trained == 0, "%s", t.err.msg);
    printf("%s 7x7: test nll %.3f -> %.3f nats, independent pixels %.3f\n", kinds[_i], t.before,
           t.after, t.baseline);
    ck_assert_msg(t.after < t.baseline, "%s: %.3f not below the baseline %.3f", kinds[_i],
                  t.after, t.baseline);
    ck_assert_int_eq(t.invalid, 0);
    ps_image_model_destroy(m);
}
END_TEST

/* Empirical frequency of every binary image over `draws` samples against exp(-nll):
 * 5 binomial standard deviations per image (a correct sampler fails one of 128 images
 * about once in 30,000 runs; seeded, so the outcome is fixed anyway). Per image rather
 * than chi-square: the 7-pixel case has images expecting fewer than 5 samples. */
static void check_sample_frequencies(ps_image_model *m, int draws)
{
    image_sample_fit fit = image_check_sample_frequencies(m, NULL, draws, 9);
    printf("%s %dx%d: sampling worst deviation %.2f sd\n", ps_image_model_kind(m),
           ps_image_model_config(m)->height, ps_image_model_config(m)->width, fit.worst_z);
    ck_assert_int_eq(fit.invalid, 0);
    ck_assert_msg(fit.worst_z < 5.0, "%s: an image off by %.2f sd", ps_image_model_kind(m),
                  fit.worst_z);
}

START_TEST(samples_follow_the_model)
{
    ps_image_model *m = make(_i, 2, 2, 2, 8, 1, 0, 10);
    check_sample_frequencies(m, 20000);
    ps_image_model_destroy(m);
    /* 7 rows, one 3 x 3 layer: each forward runs over a window of 5 (plain) or 6 (gated)
     * rows, so this also checks that the window holds everything a row depends on. */
    m = make(_i, 7, 1, 2, 8, 1, 0, 11);
    check_sample_frequencies(m, 20000);
    ps_image_model_destroy(m);
}
END_TEST

/* changed[i * D + j]: the conditional of pixel i changes when binary pixel j flips. */
static void dependencies(ps_image_model *m, int D, uint8_t *changed)
{
    uint8_t x[64];
    float *base = malloc((size_t)D * 2 * sizeof(float)), *pert = malloc((size_t)D * 2 * sizeof(float));
    ps_rng rng;
    ps_rng_seed(&rng, 13);
    for (int i = 0; i < D; i++) x[i] = (uint8_t)(ps_rng_u64(&rng) & 1);
    ps_image_model_conditionals(m, x, base);
    for (int j = 0; j < D; j++) {
        x[j] ^= 1;
        ps_image_model_conditionals(m, x, pert);
        x[j] ^= 1;
        for (int i = 0; i < D; i++)
            changed[i * D + j] = memcmp(base + 2 * i, pert + 2 * i, 2 * sizeof(float)) != 0;
    }
    free(base), free(pert);
}

/* 7 x 7 images, the 7 x 7 first layer and 4 more 3 x 3 layers. Stacked masked
 * convolutions never reach (y-1, x+4) although they reach (y-2, x+4) (the blind spot);
 * the two gated stacks reach every earlier pixel of the image. */
START_TEST(plain_has_the_blind_spot_gated_does_not)
{
    enum { S = 7, D = S * S };
    uint8_t changed[D * D];
    ps_image_model *m = make(0, S, S, 2, 8, 4, 0, 14);
    dependencies(m, D, changed);
    int hidden_seen = 0, reached = 0, pixels = 0;
    for (int y = 2; y < S; y++)
        for (int x = 0; x + 4 < S; x++) {
            int i = y * S + x;
            pixels++;
            hidden_seen += changed[i * D + (y - 1) * S + x + 4];
            reached += changed[i * D + (y - 2) * S + x + 4];
        }
    ck_assert_msg(hidden_seen == 0, "pixelcnn: %d pixels see their blind spot", hidden_seen);
    ck_assert_msg(reached == pixels, "pixelcnn: only %d of %d pixels see (y-2, x+4)", reached,
                  pixels);
    ps_image_model_destroy(m);

    m = make(1, S, S, 2, 8, 4, 0, 14);
    dependencies(m, D, changed);
    int missing = 0;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < i; j++) missing += !changed[i * D + j];
    ck_assert_msg(missing == 0, "gated-pixelcnn: %d (pixel, earlier pixel) pairs unseen", missing);
    ps_image_model_destroy(m);
}
END_TEST

/* With one 3 x 3 layer, row y depends on rows y-4.. (plain) or y-5.. (gated) and no
 * further up: what the windowed sampler relies on. */
START_TEST(reach_up_is_exact)
{
    enum { S = 7, D = S * S };
    uint8_t changed[D * D];
    ps_image_model *m = make(_i, S, S, 2, 8, 1, 0, 15);
    int reach = _i == 0 ? 4 : 5;
    dependencies(m, D, changed);
    int beyond = 0, at_edge = 0;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            int up = i / S - j / S;
            beyond += up > reach && changed[i * D + j];
            at_edge += up == reach && changed[i * D + j];
        }
    ck_assert_msg(beyond == 0 && at_edge > 0, "%s: %d pairs beyond %d rows, %d at it",
                  kinds[_i], beyond, reach, at_edge);
    ps_image_model_destroy(m);
}
END_TEST

const char *suite_skip_reason(void) { return image_fashion_missing(); }

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("pixelcnn");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, autoregressive_binary_and_8bit, 0, 2);
    tcase_add_loop_test(tc, normalized_over_all_binary_images, 0, 2);
    tcase_add_loop_test(tc, gradients_match_finite_differences, 0, 2);
    tcase_add_loop_test(tc, training_beats_independent_pixels, 0, 2);
    tcase_add_loop_test(tc, samples_follow_the_model, 0, 2);
    tcase_add_test(tc, plain_has_the_blind_spot_gated_does_not);
    tcase_add_loop_test(tc, reach_up_is_exact, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
