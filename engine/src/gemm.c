#include "priorsep/gemm.h"

#include <string.h>

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

void ps_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    ps_gemm_nt_rt(M, N, K, A, lda, B, ldb, beta, C, ldc);
}
#endif

/* ---- the engine's kernel -------------------------------------------------------------
 * B is transposed, one panel of at most PANEL_K x PANEL_N at a time, into a stack buffer
 * (16 KiB), so that the micro-kernel is a sum of outer products: MR rows of A times a
 * 16-column vector of the panel, accumulated in registers. The vector type is generic
 * (GCC/clang vector extensions); each clone of the function compiles it for its
 * instruction set (one zmm with AVX-512, two ymm with AVX2, four xmm with SSE2). Every
 * output is summed over k in order, so results do not depend on M. */
typedef float v16 __attribute__((vector_size(64)));
#if defined(__GNUC__) && !defined(__clang__)
/* The helpers below are static and always inlined into the clones: the vector calling
 * convention GCC warns about never crosses a call. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
enum { VW = 16, MR = 4, PANEL_K = 64, PANEL_N = 64 };

static inline v16 load_cols(const float *p, int n)
{
    v16 v = {0};
    memcpy(&v, p, sizeof(float) * (size_t)n);
    return v;
}

static inline void store_cols(float *p, v16 v, int n) { memcpy(p, &v, sizeof(float) * (size_t)n); }

/* acc for `mr` rows: C block on entry (scaled by beta on the first panel), += A B^T. */
static inline void micro_kernel(int mr, int kb, const float *A, int lda, const float *bt,
                                float *C, int ldc, int ncols, float beta, int first)
{
    v16 acc[MR];
    for (int r = 0; r < mr; r++) {
        v16 c = load_cols(C + (long)r * ldc, ncols);
        acc[r] = first ? (beta == 0.0f ? (v16){0} : c * beta) : c;
    }
    for (int k = 0; k < kb; k++) {
        v16 b;
        memcpy(&b, bt + (long)k * PANEL_N, sizeof b);
        for (int r = 0; r < mr; r++) acc[r] += A[(long)r * lda + k] * b;
    }
    for (int r = 0; r < mr; r++) store_cols(C + (long)r * ldc, acc[r], ncols);
}

PS_SIMD_CLONES
void ps_gemm_nt_rt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc)
{
    _Alignas(64) float bt[PANEL_K * PANEL_N];
    for (int j0 = 0; j0 < N; j0 += PANEL_N) {
        int nb = N - j0 < PANEL_N ? N - j0 : PANEL_N;
        for (int k0 = 0; k0 < K || k0 == 0; k0 += PANEL_K) {
            int kb = K - k0 < PANEL_K ? K - k0 : PANEL_K;
            memset(bt, 0, sizeof bt);
            for (int j = 0; j < nb; j++)
                for (int k = 0; k < kb; k++) bt[k * PANEL_N + j] = B[(long)(j0 + j) * ldb + k0 + k];
            for (int i = 0; i < M; i += MR) {
                int mr = M - i < MR ? M - i : MR;
                for (int jj = 0; jj < nb; jj += VW) {
                    int ncols = nb - jj < VW ? nb - jj : VW;
                    float *c = C + (long)i * ldc + j0 + jj;
                    if (mr == MR)
                        micro_kernel(MR, kb, A + (long)i * lda + k0, lda, bt + jj, c, ldc, ncols, beta, k0 == 0);
                    else
                        micro_kernel(mr, kb, A + (long)i * lda + k0, lda, bt + jj, c, ldc, ncols, beta, k0 == 0);
                }
            }
        }
    }
}
