/* The matrix product every layer is built on.
 *
 *   C[M x N] = A[M x K] * B[K x N] + beta * C + bias   (row-major, explicit strides)
 *
 * A holds one time step per row (channels contiguous), B is a weight matrix stored
 * [in features x out features]; bias (N values, added to every row) may be NULL. Two
 * implementations share this signature:
 *
 *   ps_gemm        the build-time backend (meson option `blas`): OpenBLAS pinned to one
 *                  thread, or the engine's kernel. For offline paths (full sequences,
 *                  training): OpenBLAS guards its buffer pool with a mutex on every
 *                  call, which a real-time thread must not take.
 *   ps_gemm_rt     the engine's own kernel (register-blocked per instruction set, picked
 *                  once at load time): no allocation, no lock, no system call.
 */
#ifndef PRIORSEP_GEMM_H
#define PRIORSEP_GEMM_H

typedef void (*ps_gemm_fn)(int M, int N, int K, const float *A, int lda, const float *B,
                           int ldb, const float *bias, float beta, float *C, int ldc);

void ps_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
             const float *bias, float beta, float *C, int ldc);
void ps_gemm_rt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                const float *bias, float beta, float *C, int ldc);

/* Transposed products for the backward passes (offline only: with OpenBLAS they take its
 * lock like ps_gemm). No bias; beta == 0 overwrites C without reading it.
 *   ps_gemm_tn   C[M x N] = A^T B + beta C, A stored [K x M] (lda >= M), B [K x N]
 *                (weight gradients: dW += X^T dY)
 *   ps_gemm_nt   C[M x N] = A B^T + beta C, A stored [M x K], B [N x K] (ldb >= K)
 *                (input gradients: dX += dY W^T) */
void ps_gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);
void ps_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);

/* Pins the BLAS to one thread. Call off the audio thread before any product;
 * idempotent, a no-op for the portable backend. */
void ps_gemm_init(void);

/* Names of the build-time backend ("openblas" or "portable") and of the instruction set
 * the engine's kernel runs with ("avx512", "avx2" or "baseline"), for reports. */
const char *ps_gemm_backend(void);
const char *ps_gemm_rt_isa(void);

#endif
