/* The gated PixelCNN layer: backward against finite differences, and causality (its
 * horizontal output never depends on the pixel itself or on anything after it). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer_fd.h"
#include "priorsep/gated_pixelcnn_layer.h"
#include "priorsep/gemm.h"
#include "test_util.h"

enum { N = 2, H = 4, W = 5, C = 3 };

typedef struct fixture {
    ps_gated_layer L;
    float *params, *grads, *v_in, *h_in, *d_v_in, *d_h_in, *Rv, *Rh, *acts_mem, *scratch;
    ps_gated_weights w, dw;
    ps_gated_acts a;
    size_t np, P;
} fixture;

static fixture make(int first, uint64_t seed)
{
    fixture f;
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    int cin = first ? 1 : C;
    f.L = gated_layer_make(cin, C, first ? 7 : 3, first);
    f.np = gated_layer_param_count(&f.L);
    f.P = (size_t)N * H * W;
    f.params = malloc(f.np * sizeof(float));
    f.grads = calloc(f.np, sizeof(float));
    f.v_in = malloc(f.P * cin * sizeof(float));
    f.h_in = malloc(f.P * cin * sizeof(float));
    f.d_v_in = calloc(f.P * cin, sizeof(float));
    f.d_h_in = calloc(f.P * cin, sizeof(float));
    f.Rv = malloc(f.P * C * sizeof(float));
    f.Rh = malloc(f.P * C * sizeof(float));
    f.acts_mem = malloc(f.P * gated_layer_acts_per_pixel(&f.L) * sizeof(float));
    f.scratch = malloc(gated_layer_scratch(&f.L, N, H, W) * sizeof(float));
    fill_uniform(f.params, f.np, -0.5f, 0.5f, &rng);
    fill_uniform(f.v_in, f.P * cin, -1, 1, &rng);
    fill_uniform(f.h_in, f.P * cin, -1, 1, &rng);
    fill_uniform(f.Rv, f.P * C, -1, 1, &rng);
    fill_uniform(f.Rh, f.P * C, -1, 1, &rng);
    gated_layer_bind(&f.L, f.params, &f.w);
    gated_layer_bind(&f.L, f.grads, &f.dw);
    gated_layer_acts(&f.L, f.P, f.acts_mem, &f.a);
    return f;
}

static void release(fixture *f)
{
    free(f->params), free(f->grads), free(f->v_in), free(f->h_in), free(f->d_v_in);
    free(f->d_h_in), free(f->Rv), free(f->Rh), free(f->acts_mem), free(f->scratch);
}

/* L = sum v Rv + sum h Rh, in double (f: the fixture). */
static double loss(void *ctx)
{
    fixture *f = ctx;
    gated_layer_forward(&f->L, &f->w, N, H, W, f->v_in, f->h_in, &f->a, f->scratch);
    double L = 0.0;
    for (size_t i = 0; i < f->P * C; i++) L += (double)f->a.v[i] * f->Rv[i] + (double)f->a.h[i] * f->Rh[i];
    return L;
}

/* Smooth in everything (tanh, sigmoid, products): with h = 1e-3 the central difference
 * is off by O(h^2) ~ 1e-6 from curvature and by the float rounding of the loss (~1e-5
 * over 120 outputs) / 2h ~ 5e-3 absolute at worst; gradients here are O(0.1-1). */
static double worst_fd(fixture *f, float *v, const float *g, size_t count)
{
    const float h = 1e-3f;
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        double fd = layer_fd_central(loss, f, v, i, h);
        worst = fmax(worst, fabs(fd - g[i]) / fmax(fabs(fd) + fabs(g[i]), 0.1));
    }
    return worst;
}

START_TEST(backward_matches_finite_differences)
{
    ps_gemm_init();
    fixture f = make(_i, 3 + _i);
    loss(&f);
    gated_layer_backward(&f.L, &f.w, &f.dw, N, H, W, f.v_in, f.h_in, &f.a, f.Rv, f.Rh, f.d_v_in,
                         f.d_h_in, f.scratch);
    size_t nin = f.P * f.L.cin;
    double e_p = worst_fd(&f, f.params, f.grads, f.np);
    double e_v = worst_fd(&f, f.v_in, f.d_v_in, nin);
    double e_h = worst_fd(&f, f.h_in, f.d_h_in, nin);
    ck_assert_msg(e_p < 1e-2 && e_v < 1e-2 && e_h < 1e-2,
                  "%s layer: relative errors params %g v_in %g h_in %g",
                  _i ? "first" : "inner", e_p, e_v, e_h);
    release(&f);
}
END_TEST

/* The first layer reads the image through both stacks: perturbing pixel (y, x) must
 * leave h at (y, x) and at every pixel before it unchanged, and v above row y. */
START_TEST(first_layer_is_causal)
{
    ps_gemm_init();
    fixture f = make(1, 7);
    loss(&f);
    float *h0 = malloc(f.P * C * sizeof(float)), *v0 = malloc(f.P * C * sizeof(float));
    memcpy(h0, f.a.h, f.P * C * sizeof(float));
    memcpy(v0, f.a.v, f.P * C * sizeof(float));
    int bad = 0, later = 0;
    for (int j = 0; j < H * W; j++) {
        f.v_in[j] += 1.0f, f.h_in[j] += 1.0f; /* image 0, pixel j, in both stacks */
        loss(&f);
        f.v_in[j] -= 1.0f, f.h_in[j] -= 1.0f;
        for (int i = 0; i < H * W; i++) {
            int h_same = memcmp(h0 + i * C, f.a.h + i * C, C * sizeof(float)) == 0;
            int v_same = memcmp(v0 + i * C, f.a.v + i * C, C * sizeof(float)) == 0;
            if (i <= j) bad += !h_same;
            else later += !h_same;
            if (i / W < j / W) bad += !v_same;
        }
    }
    ck_assert_msg(bad == 0 && later > 0, "%d causality violations, %d later changes", bad, later);
    free(h0), free(v0);
    release(&f);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("gated_pixelcnn_layer");
    tcase_add_loop_test(tc, backward_matches_finite_differences, 0, 2);
    tcase_add_test(tc, first_layer_is_causal);
    suite_add_tcase(s, tc);
    return s;
}
