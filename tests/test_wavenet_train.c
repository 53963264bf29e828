/* The WaveNet's training mode: its forward equals the full-sequence forward, and its
 * backward matches central finite differences for every parameter and every input
 * sample, for both heads, with conditioning. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/wavenet_train.h"
#include "test_util.h"

/* kernel 3 with dilations up to 4 and T = 40: every layer's past matters and the
 * gradient flows through the zero history rows; 2 stacks x 3 layers, cond 2. */
static ps_wavenet_config tiny(ps_head_kind head)
{
    return (ps_wavenet_config){.stacks = 2, .layers = 3, .kernel = 3, .input_kernel = 2,
                               .residual = 4, .skip = 3, .hidden = 5, .cond = 2,
                               .head = head, .mixtures = 2};
}

enum { T = 40 };

/* L = sum_t,o r[t][o] out[t][o], accumulated in double. */
static double projected_loss(const ps_wavenet *net, ps_wavenet_acts *a, const float *x,
                             const float *cond, const float *r)
{
    const float *out = ps_wavenet_train_forward(net, a, x, cond, T);
    size_t n = (size_t)T * ps_wavenet_out_dim(ps_wavenet_config_of(net));
    double L = 0;
    for (size_t i = 0; i < n; i++) L += (double)r[i] * out[i];
    return L;
}

/* Finite differences in float: h = 1e-2 keeps the rounding noise of L (~1e-6 relative
 * over a few hundred O(1) terms) below 1e-4 of the quotient, and the O(h^2) truncation
 * error of the central difference at ~1e-4 for these smooth activations (ReLU kinks
 * aside: a pre-activation within h of 0 would break one element; with random inits at
 * this size none is, and a kink would show as a failure, not pass silently).
 * Per element: |analytic - numeric| <= 1e-2 * max(|a|, |n|) + 1e-3 * max |numeric|. */
static void assert_close(const char *what, int i, double analytic, double numeric, double scale)
{
    double tol = 1e-2 * fmax(fabs(analytic), fabs(numeric)) + 1e-3 * scale;
    ck_assert_msg(fabs(analytic - numeric) <= tol, "%s[%d]: analytic %.6g, numeric %.6g", what, i,
                  analytic, numeric);
}

/* Central differences of the projected loss with respect to each of v[0..n-1] (model
 * parameters or input samples); returns max |numeric|. */
static double numeric_gradient(float *v, size_t n, double *numeric, const ps_wavenet *net,
                               ps_wavenet_acts *a, const float *x, const float *cond, const float *r)
{
    const float h = 1e-2f;
    double scale = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        v[i] = keep + h;
        double up = projected_loss(net, a, x, cond, r);
        v[i] = keep - h;
        double down = projected_loss(net, a, x, cond, r);
        v[i] = keep;
        numeric[i] = (up - down) / (2 * h);
        scale = fmax(scale, fabs(numeric[i]));
    }
    return scale;
}

static void check_gradients(ps_head_kind head)
{
    ps_error err;
    ps_wavenet_config cfg = tiny(head);
    ps_wavenet *net = ps_wavenet_create(&cfg, &err), *grad = ps_wavenet_create(&cfg, &err);
    ps_wavenet_init_random(net, 3);
    ps_wavenet_acts *a = ps_wavenet_acts_create(net, T, &err);
    ck_assert_ptr_nonnull(a);
    ps_rng rng;
    ps_rng_seed(&rng, 4);
    int O = ps_wavenet_out_dim(&cfg);
    float x[T], cond[2], d_x[T] = {0}, *r = malloc(sizeof(float) * T * (size_t)O);
    fill_uniform(x, T, -1, 1, &rng);
    fill_uniform(cond, 2, -1, 1, &rng);
    fill_uniform(r, (size_t)T * O, -1, 1, &rng);

    /* training forward == full-sequence forward */
    float *full = malloc(sizeof(float) * T * (size_t)O);
    ck_assert_int_eq(ps_wavenet_forward(net, x, 1, T, cond, full, &err), 0);
    const float *out = ps_wavenet_train_forward(net, a, x, cond, T);
    ck_assert(rel_error(out, full, (size_t)T * O) < 1e-6);

    ps_wavenet_train_backward(net, a, r, grad, d_x);

    float *p = ps_wavenet_params(net), *g = ps_wavenet_params(grad);
    size_t n = ps_wavenet_num_params(net);
    double *numeric = malloc(sizeof(double) * n);
    double scale = numeric_gradient(p, n, numeric, net, a, x, cond, r);
    ck_assert(scale > 0);
    for (size_t i = 0; i < n; i++) assert_close("param", (int)i, g[i], numeric[i], scale);

    double xnum[T];
    double xs = numeric_gradient(x, T, xnum, net, a, x, cond, r);
    for (int t = 0; t < T; t++) assert_close("x", t, d_x[t], xnum[t], xs);

    /* backward accumulates: a second call doubles the gradient */
    float *once = malloc(sizeof(float) * n);
    memcpy(once, g, sizeof(float) * n);
    ps_wavenet_train_forward(net, a, x, cond, T); /* the differences left other activations */
    ps_wavenet_train_backward(net, a, r, grad, NULL);
    for (size_t i = 0; i < n; i++) ck_assert_float_eq_tol(g[i], 2 * once[i], 1e-5f * (1 + fabsf(once[i])));

    free(once), free(numeric), free(full), free(r);
    ps_wavenet_acts_destroy(a);
    ps_wavenet_destroy(net);
    ps_wavenet_destroy(grad);
}

START_TEST(mol_wavenet_gradients) { check_gradients(PS_HEAD_MOL); }
END_TEST

START_TEST(categorical_wavenet_gradients) { check_gradients(PS_HEAD_CATEGORICAL); }
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("wavenet_train");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, mol_wavenet_gradients);
    tcase_add_test(tc, categorical_wavenet_gradients);
    suite_add_tcase(s, tc);
    return s;
}
