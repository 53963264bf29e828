/* Vector quantization (VQ-VAE, van den Oord et al. 2017): each encoder output z_e (a row
 * of D floats) is replaced by its nearest codebook vector e_k (K rows of D):
 *
 *   k = argmin_k ||z_e - e_k||^2,   z_q = e_k
 *
 * The backward pass is the straight-through estimator: d z_e = d z_q, which is by
 * definition not the derivative of the loss (z_q is piecewise constant in z_e, so that
 * derivative is zero almost everywhere); plus the commitment loss beta ||z_e - sg(e_k)||^2,
 * whose gradient 2 beta (z_e - e_k) is a true derivative.
 *
 * The codebook gets no gradient: it follows exponential moving averages of the encoder
 * outputs assigned to each code (the paper's appendix A.1):
 *
 *   N_k <- gamma N_k + (1 - gamma) n_k,   M_k <- gamma M_k + (1 - gamma) sum_{i->k} z_e,i
 *   e_k = M_k / N~_k,  N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j
 *
 * where n_k counts the batch's rows assigned to k and N~ is N Laplace-smoothed, so that a
 * code nobody chose is never divided by zero. */
#ifndef PRIORSEP_VECTOR_QUANTIZER_H
#define PRIORSEP_VECTOR_QUANTIZER_H
#include "priorsep/rng.h"

#define PS_VQ_EMA_DECAY 0.99f
#define PS_VQ_LAPLACE_EPS 1e-5f
/* A code whose moving-average count fell below this (used less than once in a hundred
 * batches, on average) is dead; vq_restart_dead_codes moves it onto the data. */
#define PS_VQ_DEAD_COUNT 1e-2f

/* codes[t] = the nearest of the K codebook rows to z_e row t (the first on a tie, up to
 * float rounding of ||e||^2 - 2 z.e). scores: (T + 1) x K floats of scratch. */
void vq_assign(int *codes, float *scores, const float *z_e, const float *codebook, int T,
               int K, int D);

/* z_q[t] = codebook[codes[t]]: the decoder's input for given codes. */
void vq_lookup(float *z_q, const int *codes, const float *codebook, int T, int D);

/* vq_lookup, and returns sum_t ||z_e[t] - z_q[t]||^2 (in double), the
 * commitment loss before its weight beta. */
double vq_forward(float *z_q, const int *codes, const float *z_e, const float *codebook,
                  int T, int D);

/* ADDS into d_z_e: the straight-through d_z_q plus the commitment gradient
 * 2 commit_scale (z_e - z_q), where commit_scale is beta times the loss's scale. */
void vq_backward(float *d_z_e, const float *d_z_q, const float *z_e, const float *z_q, int T,
                 int D, float commit_scale);

/* The batch statistics of the EMA update: ADDS counts[k] += rows assigned to k and
 * sums[k] += those rows of z_e (K x D). */
void vq_ema_gather(float *counts, float *sums, const int *codes, const float *z_e, int T,
                   int K, int D);

/* One EMA step (equations above) from a batch's counts and sums: updates ema_count (K),
 * ema_sum (K x D) and the codebook. */
void vq_ema_update(float *codebook, float *ema_count, float *ema_sum, const float *counts,
                   const float *sums, int K, int D, float decay, float eps);

/* Beyond the paper (as in later VQ-VAE work): every code whose ema_count is below
 * PS_VQ_DEAD_COUNT is moved onto a row of z_e, with the moving averages of a code that was
 * just assigned that one row (count 1, sum the row). The row is drawn with probability
 * proportional to its squared distance from the nearest code (k-means++ seeding), so that
 * restarted codes go where the codebook quantizes worst rather than onto the commonest
 * rows, which already have codes. dist: T floats of scratch. Returns how many moved. */
int vq_restart_dead_codes(float *codebook, float *ema_count, float *ema_sum, const float *z_e,
                          int T, int K, int D, float *dist, ps_rng *rng);

#endif
