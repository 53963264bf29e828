/* Training throughput of the reference prior R (as a noise-conditioned prior: cond 1)
 * on one thread: forward + backward over batch x crop samples, as samples per second
 * per core and GFLOP/s, against the BLAS on exactly the matrix products that forward
 * and backward perform (forward A·B, input gradients dY·W^T, weight gradients X^T·dY),
 * in the same run. FLOPs count 2 x multiply-adds: 3 x the forward's (the backward does
 * two products for each forward one).
 * Usage: bench_train [batch, default 8] [crop, default 1024] [repeats, default 5] */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "priorsep/gemm.h"
#include "priorsep/prior.h"

/* The products of one forward + backward over T rows of the net, with the backend. */
static void products(const ps_wavenet_config *c, int T, float *a, float *b, float *w)
{
    int R = c->residual, S = c->skip, H = c->hidden, O = ps_wavenet_out_dim(c);
    int n = ps_wavenet_num_layers(c);
    struct { int k, n, times; } shapes[] = {
        {1, R, c->input_kernel}, {R, 2 * R, c->kernel * n}, {R, S, n}, {R, R, n - 1}, {S, H, 1}, {H, O, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int K = shapes[s].k, N = shapes[s].n;
        for (int r = 0; r < shapes[s].times; r++) {
            ps_gemm(T, N, K, a, K, w, N, NULL, 1.0f, b, N);        /* forward   */
            ps_gemm_nt(T, K, N, b, N, w, N, 1.0f, a, K);           /* dX = dY W^T */
            ps_gemm_tn(K, N, T, a, K, b, N, 1.0f, w, N);           /* dW = X^T dY */
        }
    }
}

int main(int argc, char **argv)
{
    int batch = argc > 1 ? atoi(argv[1]) : 8, crop = argc > 2 ? atoi(argv[2]) : 1024;
    int repeats = argc > 3 ? atoi(argv[3]) : 5;
    if (batch < 1 || crop < 2 || repeats < 1 || batch > 4096 || crop > (1 << 20)) {
        fprintf(stderr, "bench_train: usage: bench_train [batch 1..4096] [crop 2..2^20] [repeats >= 1]\n");
        return 2;
    }
    ps_wavenet_config cfg = ps_wavenet_config_reference();
    cfg.cond = PS_PRIOR_COND;
    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&cfg, &err), *grad = ps_wavenet_create(&cfg, &err);
    ps_wavenet_acts *acts = net && grad ? ps_wavenet_acts_create(net, crop, &err) : NULL;
    if (!acts) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    ps_wavenet_init_random(net, 1);
    int O = ps_wavenet_out_dim(&cfg);
    float *x = malloc(sizeof(float) * ((size_t)crop + 1)), *d_out = malloc(sizeof(float) * (size_t)crop * O);
    float *a = malloc(sizeof(float) * (size_t)crop * 64), *b = malloc(sizeof(float) * (size_t)crop * 64);
    float *w = malloc(sizeof(float) * 64 * 64);
    fill(x, (size_t)crop + 1, 1), fill(a, (size_t)crop * 64, 2), fill(b, (size_t)crop * 64, 3), fill(w, 64 * 64, 4);
    for (int i = 0; i <= crop; i++) x[i] *= 0.8f;
    float cond[PS_PRIOR_COND] = {-1.0f};

    ps_prior_nll(net, acts, x, crop, cond, grad, 1.0f, d_out); /* warm up */
    double t0 = cpu_now();
    for (int r = 0; r < repeats; r++)
        for (int i = 0; i < batch; i++) ps_prior_nll(net, acts, x, crop, cond, grad, 1.0f, d_out);
    double t_train = cpu_now() - t0;
    t0 = cpu_now();
    for (int r = 0; r < repeats; r++)
        for (int i = 0; i < batch; i++) products(&cfg, crop, a, b, w);
    double t_blas = cpu_now() - t0;

    double samples = (double)repeats * batch * crop;
    double flops = samples * 3.0 * 2.0 * ps_wavenet_macs_per_sample(&cfg);
    printf("reference prior R (cond 1), batch %d x crop %d = %d samples per step, %d steps, one thread\n",
           batch, crop, batch * crop, repeats);
    printf("BLAS backend: %s\n\n", ps_gemm_backend());
    printf("| samples/s per core | s per step | train GFLOP/s | sgemm GFLOP/s (same products) | train / sgemm |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    printf("| %.0f | %.3f | %.1f | %.1f | %.2f |\n", samples / t_train, t_train / repeats,
           flops / t_train * 1e-9, flops / t_blas * 1e-9, t_blas / t_train);
    ps_wavenet_acts_destroy(acts);
    ps_wavenet_destroy(net), ps_wavenet_destroy(grad);
    free(x), free(d_out), free(a), free(b), free(w);
    return 0;
}
