#include "priorsep/gemm.h"

#include "simd.h"

#if PS_GEMM_OPENBLAS
#include <cblas.h>

void ps_gemm_init(void) { openblas_set_num_threads(1); }

const char *ps_gemm_backend(void) { return "openblas"; }

void ps_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, lda, B, ldb,
                beta, C, ldc);
}

#else

void ps_gemm_init(void) {}

const char *ps_gemm_backend(void) { return "portable"; }

/* Portable kernel: B is transposed panel by panel into a small stack buffer so that the
 * inner loop is an axpy over contiguous output columns, which compilers vectorize
 * without reassociating sums (results stay deterministic). */
enum { PANEL_N = 64, PANEL_K = 64 };

PS_SIMD_CLONES
void ps_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    float bt[PANEL_K][PANEL_N];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(long)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(long)i * ldc + j];
    for (int j0 = 0; j0 < N; j0 += PANEL_N) {
        int nb = N - j0 < PANEL_N ? N - j0 : PANEL_N;
        for (int k0 = 0; k0 < K; k0 += PANEL_K) {
            int kb = K - k0 < PANEL_K ? K - k0 : PANEL_K;
            for (int j = 0; j < nb; j++)
                for (int k = 0; k < kb; k++) bt[k][j] = B[(long)(j0 + j) * ldb + k0 + k];
            for (int i = 0; i < M; i++) {
                const float *a = A + (long)i * lda + k0;
                float *c = C + (long)i * ldc + j0;
                for (int k = 0; k < kb; k++) {
                    float aik = a[k];
                    for (int j = 0; j < nb; j++) c[j] += aik * bt[k][j];
                }
            }
        }
    }
}
#endif
