/* The one matrix product every layer is built on.
 *
 *   C[M x N] = A[M x K] * B[N x K]^T + beta * C        (row-major, explicit strides)
 *
 * A holds one time step per row (channels contiguous), B is a weight matrix stored
 * [out features x in features]. The backend (BLAS or the portable kernel) is chosen at
 * build time with the meson option `blas`. Both are single-threaded: real-time paths
 * must not wake worker threads, and the trainer parallelizes over batches itself. */
#ifndef PRIORSEP_GEMM_H
#define PRIORSEP_GEMM_H

void ps_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);

/* Pins the BLAS to one thread. Call once off the audio thread before any product;
 * idempotent, a no-op for the portable backend. */
void ps_gemm_init(void);

/* Name of the compiled-in backend, for benchmark reports ("openblas" or "portable"). */
const char *ps_gemm_backend(void);

#endif
