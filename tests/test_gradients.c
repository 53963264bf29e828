/* Backward passes against central finite differences of the float forward.
 *
 * Every check takes a scalar loss through the engine's own forward function, in float:
 * L = sum r (.) out with r a fixed random array (for the losses, L is the negative
 * log-likelihood itself), summed in double. Each input, weight and bias element p is
 * moved to p + h and p - h and the numeric derivative is
 *     (L(p + h) - L(p - h)) / ((double)(p + h) - (double)(p - h)),
 * dividing by the step actually taken (p + h is rounded to float) rather than by 2h.
 * It is compared with the analytic gradient element by element:
 *     |a - n| <= atol + rtol max(|a|, |n|),   atol = atol_rel * max over the block of |n|
 * (plus, for the losses, a small absolute floor where said).
 * Why the steps and tolerances differ per test is written at each test. Two sources of
 * error bound the numeric derivative:
 *   - truncation, h^2 |L'''| / 6: zero for the convolution, the dense layer and the ReLU
 *     (the forward is affine in every single element, and the ReLU step never crosses
 *     the kink), so for those only rounding is left;
 *   - rounding: each forward output carries a few float ulps, which the difference
 *     divides by 2h. Outputs that do not depend on the perturbed element are recomputed
 *     identically (the products are deterministic) and cancel exactly.
 * The worst errors are printed when PRIORSEP_TEST_VERBOSE is set. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "priorsep/heads.h"
#include "priorsep/layers.h"
#include "test_util.h"

static float *alloc_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static double *alloc_doubles(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    ck_assert_ptr_nonnull(p);
    return p;
}

typedef double (*loss_fn)(void *ctx);

/* Central difference of loss(ctx) with respect to *p, which loss reads. */
static double central_diff(float *p, float h, loss_fn loss, void *ctx)
{
    float keep = *p, up = keep + h, down = keep - h;
    *p = up;
    double lp = loss(ctx);
    *p = down;
    double lm = loss(ctx);
    *p = keep;
    return (lp - lm) / ((double)up - (double)down);
}

/* Asserts the element-wise criterion above for one block of gradients (named `what`).
 * Returns the largest fraction of its tolerance that an element used (<= 1 passes);
 * with PRIORSEP_TEST_VERBOSE it also prints that, the worst relative error among the
 * elements of at least a tenth of the block's scale, and the relative error of the
 * whole block (2-norm). */
static double check_block(const char *what, const float *a, const double *n, size_t count,
                          double rtol, double atol_rel, double atol_abs)
{
    double scale = 0.0;
    for (size_t i = 0; i < count; i++) scale = fmax(scale, fabs(n[i]));
    double atol = atol_rel * scale + atol_abs, used = 0.0, worst = 0.0, diff2 = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < count; i++) {
        double err = fabs(a[i] - n[i]), mag = fmax(fabs(a[i]), fabs(n[i]));
        ck_assert_msg(err <= atol + rtol * mag,
                      "%s[%zu]: analytic %.9g, numeric %.9g (scale %g)", what, i, a[i], n[i], scale);
        double tol = atol + rtol * mag;
        used = fmax(used, tol > 0.0 ? err / tol : 0.0);
        if (mag >= 0.1 * scale && mag > 0.0) worst = fmax(worst, err / mag);
        diff2 += err * err;
        ref2 += n[i] * n[i];
    }
    if (getenv("PRIORSEP_TEST_VERBOSE"))
        printf("%-46s %5zu  tol used %.3f  worst rel %.1e  norm rel %.1e\n", what, count, used,
               worst, ref2 > 0 ? sqrt(diff2 / ref2) : sqrt(diff2));
    return used;
}

/* sum r[t][o] out[t][o] over T rows of `cols` values, rows `stride` apart. */
static double weighted_sum(const float *r, const float *out, int T, int cols, int stride)
{
    double acc = 0.0;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < cols; o++) acc += (double)r[(long)t * stride + o] * out[(long)t * stride + o];
    return acc;
}

/* ---- transposed products against a direct double loop ---------------------------------- */

/* trans_a: A is stored [K x M] (tn); otherwise B is stored [N x K] (nt). */
static void check_transposed_gemm(int tn)
{
    ps_rng rng;
    ps_rng_seed(&rng, tn ? 11 : 12);
    ps_gemm_init();
    /* M, N, K across no particular multiple, K = 0, single rows and columns, long K. */
    int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 13, 29}, {64, 33, 100}, {5, 9, 0},
                       {130, 7, 3}, {2, 200, 19}, {31, 1, 257}, {1, 45, 66}};
    float betas[] = {0.0f, 1.0f, -0.5f, 2.0f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t bi = 0; bi < sizeof betas / sizeof betas[0]; bi++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float beta = betas[bi];
            /* padded strides: A and B rows wider than they are read, C rows wider than N */
            int a_rows = tn ? K : M, a_cols = tn ? M : K, b_rows = tn ? K : N, b_cols = tn ? N : K;
            int lda = a_cols + 3, ldb = b_cols + 2, ldc = N + 5;
            float *A = alloc_floats((size_t)a_rows * lda), *B = alloc_floats((size_t)b_rows * ldb);
            float *C = alloc_floats((size_t)M * ldc), *C0 = alloc_floats((size_t)M * ldc);
            double *ref = alloc_doubles((size_t)M * ldc);
            fill_uniform(A, (size_t)a_rows * lda, -1, 1, &rng);
            fill_uniform(B, (size_t)b_rows * ldb, -1, 1, &rng);
            fill_uniform(C0, (size_t)M * ldc, -1, 1, &rng);
            if (beta == 0.0f) /* beta 0 must not read C: NaN there must not come through */
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) C0[(long)i * ldc + j] = NAN;
            double scale = 0.0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double acc = beta == 0.0f ? 0.0 : (double)beta * C0[(long)i * ldc + j];
                    for (int k = 0; k < K; k++) {
                        double a = tn ? A[(long)k * lda + i] : A[(long)i * lda + k];
                        double b = tn ? B[(long)k * ldb + j] : B[(long)j * ldb + k];
                        acc += a * b;
                    }
                    ref[(long)i * ldc + j] = acc;
                    scale = fmax(scale, fabs(acc));
                }
            memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
            if (tn)
                ps_gemm_tn(M, N, K, A, lda, B, ldb, beta, C, ldc);
            else
                ps_gemm_nt(M, N, K, A, lda, B, ldb, beta, C, ldc);
            /* Float sums of at most a few hundred O(1) products: 1e-5 relative to the
             * output scale is two orders above rounding (as in test_layers). */
            for (int i = 0; i < M; i++)
                for (int j = 0; j < ldc; j++) {
                    long at = (long)i * ldc + j;
                    if (j >= N) { /* padding columns untouched */
                        ck_assert_msg(memcmp(&C[at], &C0[at], sizeof(float)) == 0,
                                      "%s shape %zu beta %g: C[%d][%d] written past N",
                                      tn ? "tn" : "nt", s, beta, i, j);
                        continue;
                    }
                    ck_assert_msg(fabs(C[at] - ref[at]) <= 1e-5 * fmax(scale, 1e-30),
                                  "%s shape %zu (%d x %d x %d) beta %g: C[%d][%d] = %.9g, want %.9g",
                                  tn ? "tn" : "nt", s, M, N, K, beta, i, j, C[at], ref[at]);
                }
            free(A), free(B), free(C), free(C0), free(ref);
        }
}

START_TEST(gemm_tn_matches_definition) { check_transposed_gemm(1); }
END_TEST

START_TEST(gemm_nt_matches_definition) { check_transposed_gemm(0); }
END_TEST

/* ---- convolution ----------------------------------------------------------------------- */

typedef struct {
    float *x; /* time 0; the past rows lie before it */
    float *w, *b, *r, *out;
    int stride, T, cin, cout, kernel, dilation;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    conv1d_forward(ps_gemm, c->out, c->x, c->stride, c->T, c->cin, c->cout, c->kernel, c->dilation,
                   c->w, c->b);
    return weighted_sum(c->r, c->out, c->T, c->cout, c->cout);
}

/* The forward is affine in every input, weight and bias element, so the central
 * difference has no truncation error at any step and only rounding is left: an element
 * reaches at most kernel*cout outputs (inputs) or T outputs (weights), each off by a few
 * ulps of O(1..4), ~1e-7..1e-6 absolute; divided by 2h = 0.2 that is ~1e-6..1e-5
 * against gradients of O(1..10) (observed: at most 1.5e-5 relative). A large step costs
 * nothing here and makes the rounding small relative to it. rtol 1e-3 and atol 1e-4 of
 * the largest gradient leave a margin of over 50x, and stay tight enough that one tap
 * shifted by a row, a tap paired with the wrong weight or a bias summed with the wrong
 * stride fails. */
#define LIN_H 0.1f
#define LIN_RTOL 1e-3
#define LIN_ATOL 1e-4

static void check_conv(int kernel, int dilation, int T, int cin, int cout, int stride, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    ps_gemm_init();
    int past = (kernel - 1) * dilation, rows = past + T;
    size_t nin = (size_t)rows * stride, nw = (size_t)kernel * cin * cout;
    float *in = alloc_floats(nin), *d_in = alloc_floats(nin);
    float *w = alloc_floats(nw), *d_w = alloc_floats(nw), *d_w2 = alloc_floats(nw);
    float *b = alloc_floats((size_t)cout), *d_b = alloc_floats((size_t)cout);
    float *r = alloc_floats((size_t)T * cout), *out = alloc_floats((size_t)T * cout);
    /* the past rows hold values (a streaming cache), so their gradient is not zero */
    fill_uniform(in, nin, -1, 1, &rng);
    fill_uniform(w, nw, -1, 1, &rng);
    fill_uniform(b, (size_t)cout, -1, 1, &rng);
    fill_uniform(r, (size_t)T * cout, -1, 1, &rng);
    conv_ctx c = {in + (size_t)past * stride, w, b, r, out, stride, T, cin, cout, kernel, dilation};

    conv1d_backward(d_in + (size_t)past * stride, d_w, d_b, r, c.x, stride, T, cin, cout, kernel,
                    dilation, w);

    char what[96];
    /* inputs, past rows included; the padding columns of each row get nothing */
    size_t nx = (size_t)rows * cin;
    float *a = alloc_floats(nx);
    double *n = alloc_doubles(nx);
    for (int t = 0; t < rows; t++)
        for (int i = 0; i < stride; i++) {
            size_t at = (size_t)t * stride + i;
            if (i >= cin) {
                ck_assert_float_eq(d_in[at], 0.0f);
                continue;
            }
            a[(size_t)t * cin + i] = d_in[at];
            n[(size_t)t * cin + i] = central_diff(&in[at], LIN_H, conv_loss, &c);
        }
    snprintf(what, sizeof what, "conv k%d d%d %dx%d->%d d_in", kernel, dilation, T, cin, cout);
    check_block(what, a, n, nx, LIN_RTOL, LIN_ATOL, 0.0);
    if (past > 0) { /* the past rows on their own, so that their scale sets their floor */
        snprintf(what, sizeof what, "conv k%d d%d %dx%d->%d d_in (past rows)", kernel, dilation, T,
                 cin, cout);
        check_block(what, a, n, (size_t)past * cin, LIN_RTOL, LIN_ATOL, 0.0);
    }
    free(a), free(n);

    double *nwv = alloc_doubles(nw), *nb = alloc_doubles((size_t)cout);
    for (size_t i = 0; i < nw; i++) nwv[i] = central_diff(&w[i], LIN_H, conv_loss, &c);
    for (int o = 0; o < cout; o++) nb[o] = central_diff(&b[o], LIN_H, conv_loss, &c);
    snprintf(what, sizeof what, "conv k%d d%d %dx%d->%d d_w", kernel, dilation, T, cin, cout);
    check_block(what, d_w, nwv, nw, LIN_RTOL, LIN_ATOL, 0.0);
    snprintf(what, sizeof what, "conv k%d d%d %dx%d->%d d_bias", kernel, dilation, T, cin, cout);
    check_block(what, d_b, nb, (size_t)cout, LIN_RTOL, LIN_ATOL, 0.0);

    /* without an input gradient the weight gradient is the same and nothing is read
     * from d_in */
    conv1d_backward(NULL, d_w2, NULL, r, c.x, stride, T, cin, cout, kernel, dilation, w);
    ck_assert_msg(memcmp(d_w, d_w2, sizeof(float) * nw) == 0, "d_w differs when d_in is NULL");
    free(in), free(d_in), free(w), free(d_w), free(d_w2), free(b), free(d_b);
    free(r), free(out), free(nwv), free(nb);
}

START_TEST(conv1d_backward_matches_finite_differences)
{
    /* every kernel size and dilation, with row strides equal to and wider than cin */
    int kernels[] = {1, 2, 3}, dilations[] = {1, 2, 5};
    uint64_t seed = 100;
    for (int ki = 0; ki < 3; ki++)
        for (int di = 0; di < 3; di++) {
            check_conv(kernels[ki], dilations[di], 12, 3, 4, 3, seed++);
            check_conv(kernels[ki], dilations[di], 9, 5, 2, 7, seed++);
        }
    /* a frame shorter than the history, and shapes past the kernels' tile sizes */
    check_conv(3, 5, 4, 2, 3, 2, seed++);
    check_conv(2, 4, 70, 17, 19, 20, seed++);
    check_conv(3, 2, 33, 40, 9, 40, seed++);
}
END_TEST

/* ---- dense layer ----------------------------------------------------------------------- */

typedef struct {
    float *in, *w, *b, *r, *out;
    int in_stride, out_stride, T, cin, cout;
} linear_ctx;

static double linear_loss(void *p)
{
    linear_ctx *c = p;
    linear_forward(ps_gemm, c->out, c->out_stride, c->in, c->in_stride, c->T, c->cin, c->cout, c->w,
                   c->b, 0);
    return weighted_sum(c->r, c->out, c->T, c->cout, c->out_stride);
}

/* Affine like the convolution: same step and tolerances (LIN_*). */
static void check_linear(int T, int cin, int cout, int in_stride, int out_stride, int d_in_stride,
                         uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    ps_gemm_init();
    size_t nin = (size_t)T * in_stride, nw = (size_t)cin * cout, nout = (size_t)T * out_stride;
    size_t ndin = (size_t)T * d_in_stride;
    float *in = alloc_floats(nin), *d_in = alloc_floats(ndin), *w = alloc_floats(nw);
    float *d_w = alloc_floats(nw), *d_w2 = alloc_floats(nw), *b = alloc_floats((size_t)cout);
    float *d_b = alloc_floats((size_t)cout), *r = alloc_floats(nout), *out = alloc_floats(nout);
    fill_uniform(in, nin, -1, 1, &rng);
    fill_uniform(w, nw, -1, 1, &rng);
    fill_uniform(b, (size_t)cout, -1, 1, &rng);
    fill_uniform(r, nout, -1, 1, &rng); /* values past cout in a row are never read */
    linear_ctx c = {in, w, b, r, out, in_stride, out_stride, T, cin, cout};
    /* d_out = r: the derivative of L with respect to out, with out's stride */
    linear_backward(d_in, d_in_stride, d_w, d_b, r, out_stride, in, in_stride, T, cin, cout, w);

    char what[96];
    float *a = alloc_floats((size_t)T * cin);
    double *n = alloc_doubles((size_t)T * cin);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < d_in_stride; i++) {
            if (i >= cin) {
                ck_assert_float_eq(d_in[(size_t)t * d_in_stride + i], 0.0f);
                continue;
            }
            a[(size_t)t * cin + i] = d_in[(size_t)t * d_in_stride + i];
            n[(size_t)t * cin + i] = central_diff(&in[(size_t)t * in_stride + i], LIN_H, linear_loss, &c);
        }
    snprintf(what, sizeof what, "linear %dx%d->%d strides %d/%d/%d d_in", T, cin, cout, in_stride,
             out_stride, d_in_stride);
    check_block(what, a, n, (size_t)T * cin, LIN_RTOL, LIN_ATOL, 0.0);
    free(a), free(n);

    double *nwv = alloc_doubles(nw), *nb = alloc_doubles((size_t)cout);
    for (size_t i = 0; i < nw; i++) nwv[i] = central_diff(&w[i], LIN_H, linear_loss, &c);
    for (int o = 0; o < cout; o++) nb[o] = central_diff(&b[o], LIN_H, linear_loss, &c);
    snprintf(what, sizeof what, "linear %dx%d->%d d_w", T, cin, cout);
    check_block(what, d_w, nwv, nw, LIN_RTOL, LIN_ATOL, 0.0);
    snprintf(what, sizeof what, "linear %dx%d->%d d_bias", T, cin, cout);
    check_block(what, d_b, nb, (size_t)cout, LIN_RTOL, LIN_ATOL, 0.0);

    linear_backward(NULL, 0, d_w2, NULL, r, out_stride, in, in_stride, T, cin, cout, w);
    ck_assert_msg(memcmp(d_w, d_w2, sizeof(float) * nw) == 0, "d_w differs when d_in is NULL");
    free(in), free(d_in), free(w), free(d_w), free(d_w2), free(b), free(d_b), free(r), free(out);
    free(nwv), free(nb);
}

START_TEST(linear_backward_matches_finite_differences)
{
    check_linear(7, 4, 3, 4, 3, 4, 200);     /* dense rows */
    check_linear(11, 5, 6, 9, 8, 7, 201);    /* every stride wider than its rows */
    check_linear(40, 33, 21, 35, 24, 34, 202); /* past the kernels' tile sizes */
    check_linear(1, 1, 1, 3, 2, 2, 203);
}
END_TEST

/* ---- gate ------------------------------------------------------------------------------ */

typedef struct {
    float *z, *g, *r;
    int T, c;
} gate_ctx;

static double gate_loss(void *p)
{
    gate_ctx *c = p;
    gate_forward(c->g, c->z, c->T, c->c);
    return weighted_sum(c->r, c->g, c->T, c->c, c->c);
}

START_TEST(gate_backward_matches_finite_differences)
{
    /* Each output depends on one filter and one gate value. The forward is smooth but
     * not affine: truncation h^2 |g'''| / 6 with |g'''| <= 2 (tanh''' at 0) is 3e-5 at
     * h = 1e-2. Rounding: the output carries ~2e-7 (the polynomial exp's relative error
     * plus a few ulps), which 2h turns into ~2e-5. Both are below 1e-4 of the O(0.1..1)
     * gradients, so rtol 1e-2 (atol 1e-3 of the largest) has two orders of margin; a
     * wrong sign or a missing factor (sg, 1 - sg) is off by tens of percent. In the
     * saturated region (|z| up to 8) the true gradient (down to 4e-7) is below the
     * rounding of the difference, so there the floor checks only that the analytic
     * value is tiny; gate_backward_in_saturation checks it precisely. The filter stays
     * within 9 - h of the clamp, so the difference never straddles it. */
    enum { T = 6, C = 24 };
    ps_rng rng;
    ps_rng_seed(&rng, 300);
    static float z[T * 2 * C], g[T * C], r[T * C], d_z[T * 2 * C], a[T * 2 * C];
    static double n[T * 2 * C];
    for (int t = 0; t < T; t++)
        for (int i = 0; i < 2 * C; i++) {
            float v = -3.0f + 6.0f * ps_rng_uniform(&rng);
            if (i % C >= C - 6) /* saturated: |z| in [5, 8], both signs */
                v = (v < 0 ? -1.0f : 1.0f) * (5.0f + 3.0f * ps_rng_uniform(&rng));
            z[t * 2 * C + i] = v;
        }
    fill_uniform(r, T * C, -1, 1, &rng);
    gate_ctx c = {z, g, r, T, C};
    gate_backward(d_z, r, z, T, C);
    for (int i = 0; i < T * 2 * C; i++) {
        a[i] = d_z[i];
        n[i] = central_diff(&z[i], 1e-2f, gate_loss, &c);
    }
    check_block("gate d_z", a, n, T * 2 * C, 1e-2, 1e-3, 0.0);
}
END_TEST

START_TEST(gate_backward_in_saturation)
{
    /* Where the finite difference cannot resolve the gradient, compare with the
     * derivative in double: d/df = (1 - tanh^2 f) sigmoid(s), d/ds = tanh f sigmoid'(s)
     * over f in [-9, 9], s in [-30, 30] (the forward's clamps). The float result must
     * hold 1e-5 relative everywhere: the polynomial exp is good to 2e-7 and the backward
     * adds a handful of roundings. Computing 1 - th^2 by subtraction would fail this
     * (at f = 8 it loses all but two digits). */
    enum { N = 241 };
    static float z[2 * N], d_z[2 * N], ones[N];
    for (int i = 0; i < N; i++) {
        z[i] = -9.0f + 18.0f * (float)i / (N - 1);
        z[N + i] = 30.0f - 60.0f * (float)i / (N - 1);
        ones[i] = 1.0f;
    }
    gate_backward(d_z, ones, z, 1, N);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        /* forms without cancellation, also in double: 1 - tanh^2 = 1 / cosh^2 and
         * sigmoid' = e^-|s| / (1 + e^-|s|)^2 */
        double f = z[i], s = z[N + i], th = tanh(f), sg = 1.0 / (1.0 + exp(-s));
        double es_ = exp(-fabs(s)), want_f = sg / (cosh(f) * cosh(f));
        double want_s = th * es_ / ((1.0 + es_) * (1.0 + es_));
        double ef = fabs(d_z[i] - want_f) / fabs(want_f);
        double es = want_s == 0.0 ? fabs(d_z[N + i]) : fabs(d_z[N + i] - want_s) / fabs(want_s);
        ck_assert_msg(ef < 1e-5, "f=%g s=%g: d/df %.9g, want %.9g", f, s, d_z[i], want_f);
        ck_assert_msg(es < 1e-5, "f=%g s=%g: d/ds %.9g, want %.9g", f, s, d_z[N + i], want_s);
        worst = fmax(worst, fmax(ef, es));
    }
    if (getenv("PRIORSEP_TEST_VERBOSE")) printf("%-44s %5d elems  worst rel %.2e\n", "gate saturation vs double", 2 * N, worst);
}
END_TEST

/* ---- ReLU ------------------------------------------------------------------------------ */

typedef struct {
    float *in, *out, *r;
    size_t n;
} relu_ctx;

static double relu_loss(void *p)
{
    relu_ctx *c = p;
    relu_forward(c->out, c->in, c->n);
    return weighted_sum(c->r, c->out, 1, (int)c->n, 0);
}

START_TEST(relu_backward_matches_finite_differences)
{
    /* Inputs at least 0.05 from the kink and h = 1e-2: the difference stays on one
     * linear piece and is exact up to one rounding of r x (LIN_* tolerances). */
    enum { N = 200 };
    ps_rng rng;
    ps_rng_seed(&rng, 400);
    static float in[N], out[N], r[N], d_in[N];
    static double n[N];
    for (int i = 0; i < N; i++) {
        float mag = 0.05f + 0.95f * ps_rng_uniform(&rng);
        in[i] = ps_rng_uniform(&rng) < 0.5f ? -mag : mag;
    }
    fill_uniform(r, N, -1, 1, &rng);
    relu_ctx c = {in, out, r, N};
    relu_forward(out, in, N);
    relu_backward(d_in, r, out, N);
    for (int i = 0; i < N; i++) n[i] = central_diff(&in[i], 1e-2f, relu_loss, &c);
    check_block("relu d_in", d_in, n, N, LIN_RTOL, LIN_ATOL, 0.0);
    /* at the kink (and for -0) the gradient is 0 */
    float kink_in[2] = {0.0f, -0.0f}, kink_out[2], kink_d[2] = {0};
    float ones[2] = {1.0f, 1.0f};
    relu_forward(kink_out, kink_in, 2);
    relu_backward(kink_d, ones, kink_out, 2);
    ck_assert_float_eq(kink_d[0], 0.0f);
    ck_assert_float_eq(kink_d[1], 0.0f);
}
END_TEST

/* ---- categorical NLL ------------------------------------------------------------------- */

typedef struct {
    float *logits;
    int n, bin;
} cat_ctx;

static double cat_loss(void *p)
{
    cat_ctx *c = p;
    return -(double)ps_categorical_logprob(c->logits, c->n, c->bin);
}

START_TEST(categorical_backward_matches_finite_differences)
{
    /* L = -log softmax(logits)[bin], through ps_categorical_logprob in float. Its value
     * (up to ~10) carries about sqrt(n) ulps from the sum of exponentials, ~1e-6 at
     * n = 256; h = 0.1 turns that into ~1e-5 absolute. Truncation: d^3 L / dl_i^3 =
     * p_i (1 - p_i)(1 - 2 p_i), so h^2/6 |L'''| <= 2e-3 p_i, i.e. 0.2% of the gradient
     * p_i. rtol 1e-2 covers the truncation. The rounding is covered by an absolute
     * floor of 2e-5 (4x the estimate) plus 1e-3 of the largest gradient; the floor is
     * what matters where every p_i is small, as in the confident case, whose loss
     * (~1e-2) is the difference of two values near 12, each good to ~1e-6 only. A
     * missing or wrong softmax term (e.g. not subtracting the one-hot) is off by 100%. */
    ps_rng rng;
    ps_rng_seed(&rng, 500);
    int sizes[] = {5, 256, 256, 2};
    for (int s = 0; s < 4; s++) {
        int n = sizes[s];
        float *logits = alloc_floats((size_t)n), *d = alloc_floats((size_t)n);
        double *num = alloc_doubles((size_t)n);
        fill_uniform(logits, (size_t)n, -4, 4, &rng);
        int bin = (int)(ps_rng_uniform(&rng) * n);
        if (s == 2) logits[bin] = 12.0f; /* a confident prediction: p(bin) near 1 */
        cat_ctx c = {logits, n, bin};
        float nll = ps_categorical_nll_backward(logits, n, bin, 1.0f, d);
        ck_assert_float_eq(nll, -ps_categorical_logprob(logits, n, bin));
        for (int i = 0; i < n; i++) num[i] = central_diff(&logits[i], 0.1f, cat_loss, &c);
        char what[64];
        snprintf(what, sizeof what, "categorical n=%d d_logits%s", n, s == 2 ? " (confident)" : "");
        check_block(what, d, num, (size_t)n, 1e-2, 1e-3, 2e-5);
        /* the gradient of a softmax loss sums to zero */
        double total = 0.0;
        for (int i = 0; i < n; i++) total += d[i];
        ck_assert_msg(fabs(total) < 1e-5, "gradient sums to %g", total);
        free(logits), free(d), free(num);
    }
}
END_TEST

/* ---- mixture of logistics NLL ---------------------------------------------------------- */

typedef struct {
    float *params, *x;
    int K;
} mol_ctx;

static double mol_loss(void *p)
{
    mol_ctx *c = p;
    return -(double)ps_mol_logprob(c->params, c->K, *c->x);
}

/* Checks every parameter and x for one row. The natural unit of mu_k is its scale s_k
 * (the density is a function of (x - mu_k) / s_k), so mu_k moves by h s_k and x by
 * h min_k s_k, with h = 1e-2 (logits and log-scales are dimensionless: h = 1e-2).
 * In those units the third derivative of the NLL is O(1), so truncation is ~h^2/6 =
 * 2e-5 relative. Rounding: the NLL (|value| up to ~6) carries a few ulps, ~1e-6; the
 * difference divides it by 2h s, against a gradient of size ~1/s: ~1e-4 relative.
 * rtol 1e-2 and a floor of 1e-3 of each block's largest value leave ample margin, and
 * each block (logits, means, log-scales, x) is checked on its own scale. The logit and
 * log-scale gradients are O(1) at most, and the difference resolves them to ~1e-6 / 2h
 * = 5e-5 absolute: a floor of 1e-4 there keeps a block whose gradients all vanish (one
 * component: pi = w = 1) from being held to its own rounding. */
static void check_mol_row(const char *name, float *params, int K, float x)
{
    float *d = alloc_floats((size_t)3 * K), dx = 0.0f;
    double *num = alloc_doubles((size_t)3 * K), num_x;
    mol_ctx c = {params, &x, K};
    float nll = ps_mol_nll_backward(params, K, x, 1.0f, d, &dx);
    float want = -ps_mol_logprob(params, K, x);
    ck_assert_msg(nll == want, "%s: nll %.9g, -logprob %.9g", name, nll, want);
    float smin = INFINITY;
    for (int k = 0; k < K; k++) {
        float ls = params[2 * K + k] < PS_MOL_LOG_SCALE_MIN ? PS_MOL_LOG_SCALE_MIN : params[2 * K + k];
        float s = expf(ls);
        smin = fminf(smin, s);
        num[k] = central_diff(&params[k], 1e-2f, mol_loss, &c);
        num[K + k] = central_diff(&params[K + k], 1e-2f * s, mol_loss, &c);
        num[2 * K + k] = central_diff(&params[2 * K + k], 1e-2f, mol_loss, &c);
        if (params[2 * K + k] < PS_MOL_LOG_SCALE_MIN - 1e-2f) { /* clamped: exactly flat */
            ck_assert_float_eq(d[2 * K + k], 0.0f);
            ck_assert_double_eq(num[2 * K + k], 0.0);
        }
    }
    num_x = central_diff(&x, 1e-2f * smin, mol_loss, &c);
    char what[96];
    const char *blocks[] = {"d_logit", "d_mu", "d_log_s"};
    for (int b = 0; b < 3; b++) {
        snprintf(what, sizeof what, "mol %s %s", name, blocks[b]);
        check_block(what, d + b * K, num + b * K, (size_t)K, 1e-2, 1e-3, b == 1 ? 0.0 : 1e-4);
    }
    snprintf(what, sizeof what, "mol %s d_x", name);
    check_block(what, &dx, &num_x, 1, 1e-2, 0.0, 0.0);
    /* without d_x the parameter gradient is the same */
    float *d2 = alloc_floats((size_t)3 * K);
    ps_mol_nll_backward(params, K, x, 1.0f, d2, NULL);
    ck_assert(memcmp(d, d2, sizeof(float) * 3 * K) == 0);
    free(d), free(d2), free(num);
}

START_TEST(mol_backward_matches_finite_differences)
{
    ps_rng rng;
    ps_rng_seed(&rng, 600);
    enum { K = 5 };
    float p[3 * K];
    char name[32];
    /* random rows: means over the amplitude range, scales 0.05 .. 0.37 */
    for (int row = 0; row < 12; row++) {
        fill_uniform(p, K, -2, 2, &rng);
        fill_uniform(p + K, K, -0.8f, 0.8f, &rng);
        fill_uniform(p + 2 * K, K, -3, -1, &rng);
        float x = -0.9f + 1.8f * ps_rng_uniform(&rng);
        if (row == 0) x = p[K + 2]; /* exactly on a mean: u = 0 */
        snprintf(name, sizeof name, "row %d", row);
        check_mol_row(name, p, K, x);
    }
    /* a clamped component that carries most of the mass: log_s = -9 acts as -7
     * (s = 9.1e-4), x 1.5 scales from its mean; its log-scale gradient is exactly 0 */
    float q[3 * 3] = {1.0f, 0.0f, -0.5f, 0.2f, -0.3f, 0.5f, -9.0f, -2.0f, -1.5f};
    float xq = 0.2f + 1.5f * expf(PS_MOL_LOG_SCALE_MIN);
    check_mol_row("clamped", q, 3, xq);
    /* just above the clamp: gradient flows (the step stays above -7) */
    q[6] = -6.95f;
    check_mol_row("near clamp", q, 3, xq);
    /* a single component far in the tail (u = 40): the linear tail of the log-density */
    float one[3] = {0.3f, -0.6f, -3.0f};
    check_mol_row("tail", one, 1, -0.6f + 40.0f * expf(-3.0f));
}
END_TEST

/* ---- accumulation ---------------------------------------------------------------------- */

/* second == 2 first, to 1e-6 of the largest value (the products may add the second
 * contribution in another order). */
static void check_doubled(const char *what, const float *first, const float *second, size_t n)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(first[i]));
    ck_assert_msg(scale > 0.0, "%s: no gradient at all", what);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(second[i] - 2.0 * first[i]) <= 1e-6 * scale,
                      "%s[%zu]: once %.9g, twice %.9g", what, i, first[i], second[i]);
}

START_TEST(backward_accumulates)
{
    ps_rng rng;
    ps_rng_seed(&rng, 700);
    ps_gemm_init();
    enum { T = 10, CI = 6, CO = 5, KER = 3, DIL = 2, PAST = (KER - 1) * DIL };
    static float in[(PAST + T) * CI], w[KER * CI * CO], r[T * CO * 2], z[T * 2 * CO];
    fill_uniform(in, sizeof in / sizeof *in, -1, 1, &rng);
    fill_uniform(w, sizeof w / sizeof *w, -1, 1, &rng);
    fill_uniform(r, sizeof r / sizeof *r, -1, 1, &rng);
    fill_uniform(z, sizeof z / sizeof *z, -4, 4, &rng);

    { /* convolution */
        static float di1[(PAST + T) * CI], dw1[KER * CI * CO], db1[CO];
        static float di2[(PAST + T) * CI], dw2[KER * CI * CO], db2[CO];
        conv1d_backward(di1 + PAST * CI, dw1, db1, r, in + PAST * CI, CI, T, CI, CO, KER, DIL, w);
        for (int k = 0; k < 2; k++)
            conv1d_backward(di2 + PAST * CI, dw2, db2, r, in + PAST * CI, CI, T, CI, CO, KER, DIL, w);
        check_doubled("conv d_in", di1, di2, (PAST + T) * CI);
        check_doubled("conv d_w", dw1, dw2, KER * CI * CO);
        check_doubled("conv d_bias", db1, db2, CO);
    }
    { /* dense */
        static float di1[T * CI], dw1[CI * CO], db1[CO], di2[T * CI], dw2[CI * CO], db2[CO];
        linear_backward(di1, CI, dw1, db1, r, CO, in, CI, T, CI, CO, w);
        for (int k = 0; k < 2; k++) linear_backward(di2, CI, dw2, db2, r, CO, in, CI, T, CI, CO, w);
        check_doubled("linear d_in", di1, di2, T * CI);
        check_doubled("linear d_w", dw1, dw2, CI * CO);
        check_doubled("linear d_bias", db1, db2, CO);
    }
    { /* gate and ReLU */
        static float dz1[T * 2 * CO], dz2[T * 2 * CO], d1[T * CI], d2[T * CI];
        gate_backward(dz1, r, z, T, CO);
        for (int k = 0; k < 2; k++) gate_backward(dz2, r, z, T, CO);
        check_doubled("gate d_z", dz1, dz2, T * 2 * CO);
        relu_backward(d1, r, in, T * CI);
        for (int k = 0; k < 2; k++) relu_backward(d2, r, in, T * CI);
        check_doubled("relu d_in", d1, d2, T * CI);
    }
    { /* losses, with a scale */
        float d1[3 * CO] = {0}, d2[3 * CO] = {0}, x1 = 0.0f, x2 = 0.0f, dref[3 * CO] = {0}, xref = 0.0f;
        float params[3 * CO];
        fill_uniform(params, CO, -1, 1, &rng);
        fill_uniform(params + CO, CO, -0.5f, 0.5f, &rng);
        fill_uniform(params + 2 * CO, CO, -3, -1, &rng);
        ps_mol_nll_backward(params, CO, 0.1f, 1.0f, dref, &xref);
        ps_mol_nll_backward(params, CO, 0.1f, -0.75f, d1, &x1);
        /* the scale multiplies the gradient (up to the rounding of where it enters) */
        for (int i = 0; i < 3 * CO; i++)
            ck_assert_msg(fabsf(d1[i] + 0.75f * dref[i]) <= 1e-6f * fabsf(dref[i]), "mol scale [%d]", i);
        ck_assert_msg(fabsf(x1 + 0.75f * xref) <= 1e-6f * fabsf(xref), "mol scale d_x");
        ps_mol_nll_backward(params, CO, 0.1f, -0.75f, d1, &x1);
        for (int k = 0; k < 2; k++) ps_mol_nll_backward(params, CO, 0.1f, -0.75f, d2, &x2);
        ck_assert_float_eq(x2, x1);
        for (int i = 0; i < 3 * CO; i++) ck_assert_float_eq(d2[i], d1[i]);

        float l[7] = {0.5f, -1.0f, 2.0f, 0.0f, -3.0f, 1.0f, 0.25f}, c1[7] = {0}, c2[7] = {0};
        ps_categorical_nll_backward(l, 7, 3, 0.5f, c1);
        for (int k = 0; k < 2; k++) ps_categorical_nll_backward(l, 7, 3, 0.5f, c2);
        check_doubled("categorical d_logits", c1, c2, 7);
        ck_assert_msg(fabsf(c1[3] - 0.5f * (expf(ps_categorical_logprob(l, 7, 3)) - 1.0f)) <= 1e-7f,
                      "categorical scale");
    }
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("gradients");
    TCase *tc = tcase_create("backward");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gemm_tn_matches_definition);
    tcase_add_test(tc, gemm_nt_matches_definition);
    tcase_add_test(tc, conv1d_backward_matches_finite_differences);
    tcase_add_test(tc, linear_backward_matches_finite_differences);
    tcase_add_test(tc, gate_backward_matches_finite_differences);
    tcase_add_test(tc, gate_backward_in_saturation);
    tcase_add_test(tc, relu_backward_matches_finite_differences);
    tcase_add_test(tc, categorical_backward_matches_finite_differences);
    tcase_add_test(tc, mol_backward_matches_finite_differences);
    tcase_add_test(tc, backward_accumulates);
    suite_add_tcase(s, tc);
    return s;
}
