/* Vector quantization with a straight-through gradient and an EMA codebook; see
 * vector_quantizer.h. */
#include "priorsep/vector_quantizer.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "priorsep/gemm.h"

void vq_assign(int *codes, float *scores, const float *z_e, const float *codebook, int T,
               int K, int D)
{
    /* ||z - e_k||^2 = ||z||^2 - 2 z.e_k + ||e_k||^2: the products of all rows with all
     * codes in one gemm; ||z||^2 is the same for every k and drops out of the argmin. */
    ps_gemm_nt(T, K, D, z_e, D, codebook, D, 0.0f, scores, K);
    float *norms = scores + (size_t)T * K;
    for (int k = 0; k < K; k++) {
        const float *e = codebook + (size_t)k * D;
        float s = 0.0f;
        for (int d = 0; d < D; d++) s += e[d] * e[d];
        norms[k] = s;
    }
    for (int t = 0; t < T; t++) {
        const float *row = scores + (size_t)t * K;
        int best = 0;
        float best_d = norms[0] - 2.0f * row[0];
        for (int k = 1; k < K; k++) {
            float d = norms[k] - 2.0f * row[k];
            if (d < best_d) {
                best_d = d;
                best = k;
            }
        }
        codes[t] = best;
    }
}

void vq_lookup(float *z_q, const int *codes, const float *codebook, int T, int D)
{
    for (int t = 0; t < T; t++)
        memcpy(z_q + (size_t)t * D, codebook + (size_t)codes[t] * D, (size_t)D * sizeof(float));
}

double vq_forward(float *z_q, const int *codes, const float *z_e, const float *codebook,
                  int T, int D)
{
    vq_lookup(z_q, codes, codebook, T, D);
    double commit = 0.0;
    for (size_t i = 0; i < (size_t)T * D; i++) {
        double diff = (double)z_e[i] - z_q[i];
        commit += diff * diff;
    }
    return commit;
}

void vq_backward(float *d_z_e, const float *d_z_q, const float *z_e, const float *z_q, int T,
                 int D, float commit_scale)
{
    for (size_t i = 0; i < (size_t)T * D; i++)
        d_z_e[i] += d_z_q[i] + 2.0f * commit_scale * (z_e[i] - z_q[i]);
}

void vq_ema_gather(float *counts, float *sums, const int *codes, const float *z_e, int T,
                   int K, int D)
{
    (void)K;
    for (int t = 0; t < T; t++) {
        counts[codes[t]] += 1.0f;
        float *s = sums + (size_t)codes[t] * D;
        for (int d = 0; d < D; d++) s[d] += z_e[(size_t)t * D + d];
    }
}

void vq_ema_update(float *codebook, float *ema_count, float *ema_sum, const float *counts,
                   const float *sums, int K, int D, float decay, float eps)
{
    double total = 0.0;
    for (int k = 0; k < K; k++) {
        ema_count[k] = decay * ema_count[k] + (1.0f - decay) * counts[k];
        total += ema_count[k];
    }
    for (size_t i = 0; i < (size_t)K * D; i++)
        ema_sum[i] = decay * ema_sum[i] + (1.0f - decay) * sums[i];
    for (int k = 0; k < K; k++) {
        double smoothed = (ema_count[k] + eps) / (total + K * (double)eps) * total;
        /* Only a code that was never used (total 0 too) has nothing to move towards. */
        if (smoothed <= 0.0) continue;
        for (int d = 0; d < D; d++)
            codebook[(size_t)k * D + d] = (float)(ema_sum[(size_t)k * D + d] / smoothed);
    }
}

static double distance2(const float *a, const float *b, int D)
{
    double s = 0.0;
    for (int d = 0; d < D; d++) s += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
    return s;
}

int vq_restart_dead_codes(float *codebook, float *ema_count, float *ema_sum, const float *z_e,
                          int T, int K, int D, float *dist, ps_rng *rng)
{
    int moved = 0;
    for (int k = 0; k < K; k++) {
        if (ema_count[k] >= PS_VQ_DEAD_COUNT) continue;
        if (moved == 0) /* distances to the live codes, once there is a code to move */
            for (int t = 0; t < T; t++) {
                double best = INFINITY;
                for (int j = 0; j < K; j++)
                    if (ema_count[j] >= PS_VQ_DEAD_COUNT)
                        best = fmin(best, distance2(z_e + (size_t)t * D, codebook + (size_t)j * D, D));
                dist[t] = isfinite(best) ? (float)best : 1.0f; /* no live code: uniform */
            }
        double total = 0.0;
        for (int t = 0; t < T; t++) total += dist[t];
        int pick = (int)(ps_rng_u64(rng) % (uint64_t)T); /* every row on a code: uniform */
        if (total > 0.0) {
            double u = ps_rng_uniform(rng) * total;
            for (pick = 0; pick < T - 1 && (u -= dist[pick]) > 0.0; pick++) {}
        }
        const float *row = z_e + (size_t)pick * D;
        memcpy(codebook + (size_t)k * D, row, (size_t)D * sizeof(float));
        memcpy(ema_sum + (size_t)k * D, row, (size_t)D * sizeof(float));
        ema_count[k] = 1.0f;
        for (int t = 0; t < T; t++)
            dist[t] = fminf(dist[t], (float)distance2(z_e + (size_t)t * D, row, D));
        moved++;
    }
    return moved;
}
