/* Ladder VAE: gradients of the whole loss at fixed noise (three stochastic layers, so a
 * middle layer is checked too); the bound against a precise estimate of -log p(x) on 2x2
 * images (ELBO above it, the importance-weighted bound closing in as
 * k grows, the estimated p(x) summing to 1 over all 16 images, samples matching it); a
 * short training run below the independent-pixel baseline. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "image_checks.h"
#include "latent_checks.h"
#include "priorsep/image_train.h"
#include "test_util.h"

static ps_image_model *make(int height, int width, int hidden, int layers, int latent,
                            int samples)
{
    ps_image_config c = {.height = height, .width = width, .levels = 2, .hidden = hidden,
                         .layers = layers, .latent = latent, .ensemble = samples};
    ps_error err;
    ps_image_model *m = ps_image_model_create("ladder-vae", &c, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, 1);
    return m;
}

START_TEST(gradients_match_finite_differences)
{
    ps_image_model *m = make(3, 4, 5, 3, 3, 1);
    image_jitter_params(m, 0.2f, 9);
    ps_rng rng;
    uint8_t x[3 * 12];
    ps_rng_seed(&rng, 3);
    for (int i = 0; i < 3 * 12; i++) x[i] = ps_rng_u64(&rng) & 1;
    /* h = 1e-3, small enough that no probe moves a ReLU input across zero here (h = 1e-2
     * does, giving one-sided differences). The float forward puts ~1e-6 absolute noise on
     * a loss of ~30 nats, ~5e-4 after dividing by 2h, which the floor of 0.1 turns into
     * 5e-3 relative at worst; truncation O(h^2) is ~1e-6. 2e-2 allows both. */
    double worst = image_check_gradients(m, x, 3, 300, 1e-3, 0.1, 7);
    printf("ladder-vae: gradient worst relative error %g\n", worst);
    ck_assert_msg(worst < 2e-2, "worst relative error %g", worst);
    ps_image_model_destroy(m);
}
END_TEST

/* latent 1: the true posterior is one-dimensional and q's Gaussian can still miss its
 * shape, which the ELBO gap must show */
START_TEST(bound_against_precise_likelihood)
{
    ps_image_config c = {.height = 2, .width = 2, .levels = 2, .hidden = 8, .layers = 2, .latent = 1, .ensemble = 1};
    latent_expect_bound("ladder-vae", &c);
}
END_TEST

START_TEST(training_beats_independent_pixels)
{
    ps_image_model *m = make(7, 7, 64, 2, 16, 16);
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 500;
    o.lr = 3e-3f;
    image_training t = image_check_training(m, &o);
    ck_assert_msg(t.trained == 0, "%s", t.err.msg);
    printf("ladder-vae: test bound (k = 16) %.3f -> %.3f nats, independent pixels %.3f\n",
           t.before, t.after, t.baseline);
    ck_assert_msg(t.after < t.baseline, "bound %g, baseline %g", t.after, t.baseline);
    ck_assert_int_eq(t.invalid, 0);
    ps_image_model_destroy(m);
}
END_TEST

const char *suite_skip_reason(void) { return image_fashion_missing(); }

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("ladder-vae");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gradients_match_finite_differences);
    tcase_add_test(tc, bound_against_precise_likelihood);
    tcase_add_test(tc, training_beats_independent_pixels);
    suite_add_tcase(s, tc);
    return s;
}
