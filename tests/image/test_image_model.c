/* The image-model dispatcher over every kind: refusals name what is wrong, and a loss is
 * a function of the parameters, the images and the rng alone (scratch left by an
 * evaluation of another batch size must not leak into it: the VRAE's once did). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "priorsep/image_model.h"

START_TEST(refusals_name_the_problem)
{
    ps_error err;
    ps_image_config cfg = {.height = 4, .width = 4, .levels = 2};
    ck_assert_ptr_null(ps_image_model_create("pixelcnm", &cfg, &err));
    ck_assert_msg(strstr(err.msg, "pixelcnm") && strstr(err.msg, "made"), "%s", err.msg);
    cfg.levels = 3;
    ck_assert_ptr_null(ps_image_model_create("made", &cfg, &err));
    ck_assert_msg(strstr(err.msg, "levels"), "%s", err.msg);
    cfg.levels = 2;
    cfg.height = 0;
    ck_assert_ptr_null(ps_image_model_create("made", &cfg, &err));
    ck_assert_msg(strstr(err.msg, "size"), "%s", err.msg);
}
END_TEST

static double loss_with_seed(ps_image_model *m, const uint8_t *x, int n, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    return ps_image_model_loss(m, x, n, 1.0f, 0, &rng);
}

START_TEST(loss_does_not_depend_on_earlier_calls)
{
    char kinds[256];
    snprintf(kinds, sizeof kinds, "%s", ps_image_model_kinds());
    int count = 0;
    for (char *save = NULL, *kind = strtok_r(kinds, " ", &save); kind;
         kind = strtok_r(NULL, " ", &save), count++) {
        ps_error err;
        ps_image_config cfg = {.height = 4, .width = 4, .levels = 2, .hidden = 8};
        ps_image_model *m = ps_image_model_create(kind, &cfg, &err);
        ck_assert_msg(m != NULL, "%s: %s", kind, err.msg);
        ps_image_model_init(m, 3);
        enum { SMALL = 2, LARGE = 24 };
        uint8_t x[LARGE * 16];
        ps_rng rng;
        ps_rng_seed(&rng, 5);
        for (size_t i = 0; i < sizeof x; i++) x[i] = (uint8_t)(ps_rng_u64(&rng) & 1);
        /* scoring fewer images, then more, than the loss's batch */
        int scored[2] = {1, LARGE}, batch[2] = {LARGE, SMALL};
        for (int t = 0; t < 2; t++) {
            double before = loss_with_seed(m, x, batch[t], 11);
            double nll[LARGE];
            ps_image_model_nll(m, x, scored[t], nll, &rng);
            double after = loss_with_seed(m, x, batch[t], 11);
            ck_assert_msg(before == after, "%s: loss of %d images %.9g, then %.9g after scoring %d",
                          kind, batch[t], before, after, scored[t]);
        }
        ps_image_model_destroy(m);
    }
    ck_assert_int_eq(count, 9);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("image_model");
    TCase *tc = tcase_create("dispatch");
    tcase_add_test(tc, refusals_name_the_problem);
    tcase_add_test(tc, loss_does_not_depend_on_earlier_calls);
    suite_add_tcase(s, tc);
    return s;
}
