/* One tap of a 1-D convolution along a line; see line_tap.h. */
#include "line_tap.h"

#include <stddef.h>

#include "priorsep/gemm.h"

/* The positions the tap reaches: out from out0, in from in0, count of them. */
static int reach(int len, int d, int *out0, int *in0)
{
    *out0 = d < 0 ? -d : 0;
    *in0 = d > 0 ? d : 0;
    return len - (d < 0 ? -d : d);
}

void line_tap_forward(float *out, const float *in, int len, int n, int cin, int cout, int d,
                      const float *w)
{
    int o, i, count = reach(len, d, &o, &i);
    if (count <= 0) return;
    ps_gemm(count * n, cout, cin, in + (size_t)i * n * cin, cin, w, cout, NULL, 1.0f,
            out + (size_t)o * n * cout, cout);
}

void line_tap_backward(float *d_in, float *d_w, const float *d_out, const float *in, int len,
                       int n, int cin, int cout, int d, const float *w)
{
    int o, i, count = reach(len, d, &o, &i);
    if (count <= 0) return;
    const float *dy = d_out + (size_t)o * n * cout;
    if (d_in)
        ps_gemm_nt(count * n, cin, cout, dy, cout, w, cout, 1.0f, d_in + (size_t)i * n * cin, cin);
    if (d_w) ps_gemm_tn(cin, cout, count * n, in + (size_t)i * n * cin, cin, dy, cout, 1.0f, d_w, cout);
}
