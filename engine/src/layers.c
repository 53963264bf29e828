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
