#include "priorsep/layers.h"

#include <stdint.h>
#include <string.h>

#include "simd.h"

void conv1d_forward(ps_gemm_fn gemm, float *out, const float *in, int in_stride, int T, int cin,
                    int cout, int kernel, int dilation, const float *w, const float *bias)
{
    /* One matrix product per tap over the whole frame (the rows of the past are read in
     * place, no im2col copy); the first tap writes, with the bias, the others add. */
    for (int j = 0; j < kernel; j++) {
        const float *tap = in - (long)(kernel - 1 - j) * dilation * in_stride;
        gemm(T, cout, cin, tap, in_stride, w + (long)j * cin * cout, cout, j == 0 ? bias : NULL,
             j == 0 ? 0.0f : 1.0f, out, cout);
    }
}

void linear_forward(ps_gemm_fn gemm, float *out, int out_stride, const float *in, int in_stride, int T,
                    int cin, int cout, const float *w, const float *bias, int accumulate)
{
    gemm(T, cout, cin, in, in_stride, w, cout, bias, accumulate ? 1.0f : 0.0f, out, out_stride);
}

/* exp(x) for the activations, vectorizable (no libm call, no branches): x = n ln2 + r,
 * 2^(r/ln2) by a degree-6 polynomial on |r/ln2| <= 1/2 (relative error < 2e-7), 2^n
 * put into the exponent bits. Inputs are clamped to the float range. */
static inline float exp_approx(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504088896341f;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest, exact for |t| < 2^22 */
    float f = t - n;
    float p = 1.5403530393381606e-4f;
    p = p * f + 1.3333558146428443e-3f;
    p = p * f + 9.6181291076284772e-3f;
    p = p * f + 5.5504108664821580e-2f;
    p = p * f + 2.4022650695910071e-1f;
    p = p * f + 6.9314718055994531e-1f;
    p = p * f + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh(f) sigmoid(s) = (1 - e^-2f) / ((1 + e^-2f)(1 + e^-s)): one division, not two.
 * The arguments are clamped where both functions are flat to float precision (tanh is
 * 1 - 3e-8 at 9; sigmoid(-30) = 9e-14), which also keeps the product finite. */
PS_SIMD_CLONES
void gate_forward(float *g, const float *z, int T, int c)
{
    for (int t = 0; t < T; t++) {
        const float *f = z + (long)t * 2 * c, *s = f + c;
        float *o = g + (long)t * c;
        for (int i = 0; i < c; i++) {
            float fi = f[i] < -9.0f ? -9.0f : f[i] > 9.0f ? 9.0f : f[i];
            float si = s[i] < -30.0f ? -30.0f : s[i] > 30.0f ? 30.0f : s[i];
            float e = exp_approx(-2.0f * fi);
            o[i] = (1.0f - e) / ((1.0f + e) * (1.0f + exp_approx(-si)));
        }
    }
}

PS_SIMD_CLONES
void relu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

/* ---- backward passes ------------------------------------------------------------------
 * Each adds its gradients into the buffers it is given (callers zero them first), so
 * that a layer whose input feeds several consumers collects all their contributions.
 * The products run on the offline backend (ps_gemm_tn / ps_gemm_nt). */

/* d_out rows are cout floats apart, as conv1d_forward writes out.
 *   d_bias += sum_t d_out[t]
 *   d_W_j  += tap_j^T d_out        tap_j = the input rows (kernel-1-j)*dilation earlier
 *   d_tap_j += d_out W_j^T
 * The taps overlap, so d_in collects from every tap in turn, including the rows before
 * time 0. */
void conv1d_backward(float *d_in, float *d_w, float *d_bias, const float *d_out, const float *in,
                     int in_stride, int T, int cin, int cout, int kernel, int dilation,
                     const float *w)
{
    if (T <= 0) return;
    if (d_bias)
        for (int t = 0; t < T; t++) {
            const float *g = d_out + (long)t * cout;
            for (int o = 0; o < cout; o++) d_bias[o] += g[o];
        }
    for (int j = 0; j < kernel; j++) {
        long back = (long)(kernel - 1 - j) * dilation * in_stride;
        if (d_w)
            ps_gemm_tn(cin, cout, T, in - back, in_stride, d_out, cout, 1.0f,
                       d_w + (long)j * cin * cout, cout);
        if (d_in)
            ps_gemm_nt(T, cin, cout, d_out, cout, w + (long)j * cin * cout, cout, 1.0f,
                       d_in - back, in_stride);
    }
}

void linear_backward(float *d_in, int d_in_stride, float *d_w, float *d_bias, const float *d_out,
                     int d_out_stride, const float *in, int in_stride, int T, int cin, int cout,
                     const float *w)
{
    if (T <= 0) return;
    if (d_bias)
        for (int t = 0; t < T; t++) {
            const float *g = d_out + (long)t * d_out_stride;
            for (int o = 0; o < cout; o++) d_bias[o] += g[o];
        }
    if (d_w) ps_gemm_tn(cin, cout, T, in, in_stride, d_out, d_out_stride, 1.0f, d_w, cout);
    if (d_in) ps_gemm_nt(T, cin, cout, d_out, d_out_stride, w, cout, 1.0f, d_in, d_in_stride);
}

/* With th = tanh(f) and sg = sigmoid(s) recomputed as the forward computes them (same
 * clamps, same exp), g = th sg gives
 *   dg/df = (1 - th^2) sg     1 - th^2 = 4e / (1 + e)^2,   e = exp(-2f)
 *   dg/ds = th sg (1 - sg)    sg (1 - sg) = es / (1 + es)^2, es = exp(-s)
 * The right-hand forms are the same quantities without the cancellation of 1 - th^2
 * and 1 - sg near saturation. Past the clamps the forward is flat; the backward then
 * returns the derivative at the clamp (below 7e-8 for tanh, 1e-13 for sigmoid). */
PS_SIMD_CLONES
void gate_backward(float *d_z, const float *d_g, const float *z, int T, int c)
{
    for (int t = 0; t < T; t++) {
        const float *f = z + (long)t * 2 * c, *s = f + c, *dg = d_g + (long)t * c;
        float *df = d_z + (long)t * 2 * c, *ds = df + c;
        for (int i = 0; i < c; i++) {
            float fi = f[i] < -9.0f ? -9.0f : f[i] > 9.0f ? 9.0f : f[i];
            float si = s[i] < -30.0f ? -30.0f : s[i] > 30.0f ? 30.0f : s[i];
            float e = exp_approx(-2.0f * fi), es = exp_approx(-si);
            float inv = 1.0f / (1.0f + e), sg = 1.0f / (1.0f + es);
            float th = (1.0f - e) * inv;
            df[i] += dg[i] * (4.0f * e * inv * inv) * sg;
            ds[i] += dg[i] * th * (es * sg * sg);
        }
    }
}

/* The mask comes from the forward output: out > 0 exactly where in > 0 (at in == 0 the
 * gradient is taken as 0). */
PS_SIMD_CLONES
void relu_backward(float *d_in, const float *d_out, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) d_in[i] += out[i] > 0.0f ? d_out[i] : 0.0f;
}
