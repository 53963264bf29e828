/* Masked dense layer: see masked_dense.h. */
#include "priorsep/masked_dense.h"

#include <stddef.h>

#include "priorsep/gemm.h"

void masked_dense_weights(float *wm, const float *w, const float *mask, int cin, int cout)
{
    size_t n = (size_t)cin * cout;
    for (size_t i = 0; i < n; i++) wm[i] = w[i] * mask[i];
}

void masked_dense_forward(float *out, const float *in, int T, int cin, int cout, const float *wm,
                          const float *bias, int accumulate)
{
    ps_gemm(T, cout, cin, in, cin, wm, cout, bias, accumulate ? 1.0f : 0.0f, out, cout);
}

void masked_dense_backward(float *d_in, float *d_w, float *d_bias, float *scratch,
                           const float *d_out, const float *in, int T, int cin, int cout,
                           const float *wm, const float *mask)
{
    if (T <= 0) return;
    if (d_bias)
        for (int t = 0; t < T; t++)
            for (int o = 0; o < cout; o++) d_bias[o] += d_out[(size_t)t * cout + o];
    if (d_w) {
        ps_gemm_tn(cin, cout, T, in, cin, d_out, cout, 0.0f, scratch, cout);
        size_t n = (size_t)cin * cout;
        for (size_t i = 0; i < n; i++) d_w[i] += mask[i] * scratch[i];
    }
    if (d_in) ps_gemm_nt(T, cin, cout, d_out, cout, wm, cout, 1.0f, d_in, cin);
}
