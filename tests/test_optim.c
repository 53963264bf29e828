/* AdamW, clipping and the schedule against their definitions. */
#include <check.h>
#include <math.h>

#include "priorsep/optim.h"

START_TEST(adamw_matches_the_update_rule)
{
    /* Three steps on two parameters, against the textbook formulas in double. */
    ps_adamw o = ps_adamw_default();
    o.lr = 0.01f, o.weight_decay = 0.1f;
    float p[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0};
    double P[2] = {1.0, -2.0}, M[2] = {0}, V[2] = {0};
    const float g[3][2] = {{0.5f, -1.0f}, {0.2f, 3.0f}, {-0.7f, 0.0f}};
    for (int s = 1; s <= 3; s++) {
        ps_adamw_step(&o, s, p, g[s - 1], m, v, 2);
        for (int i = 0; i < 2; i++) {
            M[i] = 0.9 * M[i] + 0.1 * g[s - 1][i];
            V[i] = 0.999 * V[i] + 0.001 * g[s - 1][i] * g[s - 1][i];
            double mh = M[i] / (1 - pow(0.9, s)), vh = V[i] / (1 - pow(0.999, s));
            P[i] -= 0.01 * (mh / (sqrt(vh) + 1e-8) + 0.1 * P[i]);
            ck_assert_double_eq_tol(p[i], P[i], 1e-6);
        }
    }
}
END_TEST

START_TEST(first_adam_step_moves_by_lr)
{
    /* With no decay the first step is lr * sign(g) (mhat / sqrt(vhat) = g / |g|). */
    ps_adamw o = ps_adamw_default();
    float p[3] = {0, 0, 0}, m[3] = {0}, v[3] = {0}, g[3] = {1e-3f, -5.0f, 123.0f};
    ps_adamw_step(&o, 1, p, g, m, v, 3);
    ck_assert_double_eq_tol(p[0], -1e-3, 1e-7);
    ck_assert_double_eq_tol(p[1], 1e-3, 1e-7);
    ck_assert_double_eq_tol(p[2], -1e-3, 1e-7);
}
END_TEST

START_TEST(clipping_bounds_the_norm)
{
    float g[2] = {3.0f, 4.0f};
    ck_assert_double_eq_tol(ps_clip_grad_norm(g, 2, 10.0), 5.0, 1e-12);
    ck_assert_float_eq(g[0], 3.0f); /* under the bound: untouched */
    ck_assert_double_eq_tol(ps_clip_grad_norm(g, 2, 1.0), 5.0, 1e-12);
    ck_assert_double_eq_tol(hypot(g[0], g[1]), 1.0, 1e-6);
    ck_assert_double_eq_tol(g[0] / g[1], 0.75, 1e-6); /* direction kept */
}
END_TEST

START_TEST(schedule_warms_up_then_decays)
{
    ck_assert_double_eq_tol(ps_lr_schedule(0, 100, 10, 1.0f, 0.1f), 0.1, 1e-6);
    ck_assert_double_eq_tol(ps_lr_schedule(9, 100, 10, 1.0f, 0.1f), 1.0, 1e-6);
    ck_assert_double_eq_tol(ps_lr_schedule(10, 100, 10, 1.0f, 0.1f), 1.0, 1e-6);
    ck_assert_double_eq_tol(ps_lr_schedule(55, 100, 10, 1.0f, 0.1f), 0.55, 1e-6); /* half way */
    ck_assert_double_eq_tol(ps_lr_schedule(100, 100, 10, 1.0f, 0.1f), 0.1, 1e-6);
    for (long s = 11; s <= 100; s++)
        ck_assert(ps_lr_schedule(s, 100, 10, 1.0f, 0.1f) <= ps_lr_schedule(s - 1, 100, 10, 1.0f, 0.1f));
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, adamw_matches_the_update_rule);
    tcase_add_test(tc, first_adam_step_moves_by_lr);
    tcase_add_test(tc, clipping_bounds_the_norm);
    tcase_add_test(tc, schedule_warms_up_then_decays);
    suite_add_tcase(s, tc);
    return s;
}
