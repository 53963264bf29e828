/* Full-sequence mode: each sequence of the batch is run whole, from silence. Two
 * residual buffers are swapped layer by layer; the rows before time 0 stay zero and
 * serve as every layer's past. */
#include <stdlib.h>
#include <string.h>

#include "priorsep/gemm.h"
#include "wavenet_internal.h"

int ps_wavenet_forward(const ps_wavenet *net, const float *x, int batch, int T,
                       const float *cond, float *out, ps_error *err)
{
    const ps_wavenet_config *c = &net->cfg;
    if (batch <= 0 || T <= 0)
        return ps_error_set(err, "wavenet forward: batch %d x %d samples is empty", batch, T);
    if (c->cond > 0 && !cond)
        return ps_error_set(err, "wavenet forward: the model needs a conditioning vector");
    ps_gemm_init();

    int R = c->residual, S = c->skip, H = c->hidden, O = net->out_dim;
    int pad_x = c->input_kernel - 1, pad_h = (c->kernel - 1) * (1 << (c->layers - 1));
    size_t rows = (size_t)pad_h + (size_t)T;
    float *xbuf = calloc((size_t)pad_x + (size_t)T, sizeof(float));
    float *hbuf[2] = {calloc(rows * R, sizeof(float)), calloc(rows * R, sizeof(float))};
    float *z = malloc(sizeof(float) * (size_t)T * 2 * R);
    float *g = malloc(sizeof(float) * (size_t)T * R);
    float *skip = malloc(sizeof(float) * (size_t)T * S);
    float *a2 = malloc(sizeof(float) * (size_t)T * H);
    float *zbias = malloc(sizeof(float) * 2 * R);
    int rc = 0;
    if (!xbuf || !hbuf[0] || !hbuf[1] || !z || !g || !skip || !a2 || !zbias) {
        rc = ps_error_set(err, "wavenet forward: out of memory for %d samples", T);
        goto done;
    }
    for (int b = 0; b < batch; b++) {
        const float *cond_b = c->cond > 0 ? cond + (size_t)b * c->cond : NULL;
        memcpy(xbuf + pad_x, x + (size_t)b * T, sizeof(float) * (size_t)T);
        float *h[2] = {hbuf[0] + (size_t)pad_h * R, hbuf[1] + (size_t)pad_h * R};
        wavenet_input_forward(ps_gemm, net, xbuf + pad_x, T, h[0]);
        for (int l = 0; l < net->n_layers; l++) {
            wavenet_gate_bias(net, l, cond_b, zbias);
            wavenet_layer_forward(ps_gemm, net, l, zbias, h[l & 1], T, z, g, skip, h[(l + 1) & 1]);
        }
        wavenet_head_forward(ps_gemm, net, skip, T, skip, a2, out + (size_t)b * T * O);
    }
done:
    free(xbuf);
    free(hbuf[0]);
    free(hbuf[1]);
    free(z);
    free(g);
    free(skip);
    free(a2);
    free(zbias);
    return rc;
}
