#include "priorsep/gemm.h"

#include <string.h>

#if PS_GEMM_OPENBLAS
#include <cblas.h>

void ps_gemm_init(void) { openblas_set_num_threads(1); }

const char *ps_gemm_backend(void) { return "openblas"; }

void ps_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
             const float *bias, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (bias) { /* the BLAS has no bias: put it into C first */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float *c = C + (long)i * ldc + j;
                *c = (beta == 0.0f ? 0.0f : beta * *c) + bias[j];
            }
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb,
                beta, C, ldc);
}

#else

void ps_gemm_init(void) {}

const char *ps_gemm_backend(void) { return "portable"; }

void ps_gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
             const float *bias, float beta, float *C, int ldc)
{
    ps_gemm_rt(M, N, K, A, lda, B, ldb, bias, beta, C, ldc);
}
#endif

/* ---- the engine's kernel -------------------------------------------------------------
 * A tile of MR rows x NV vectors of C stays in registers while k runs: per k, NV vector
 * loads of B's row k and MR broadcasts of A, MR*NV fused multiply-adds; the bias and
 * beta are applied when the tile is loaded. The tile shape is chosen per instruction set
 * so the accumulators fill but do not spill the register file. Columns past the last
 * full tile read B from a zero-padded copy (KC rows at a time, on the stack), so the
 * inner loop never handles edges. Every output is summed over k in order, so the result
 * does not depend on M or on the tile shape. */
#if defined(__GNUC__) && !defined(__clang__)
/* The vector helpers are static and inlined: the vector calling convention GCC warns
 * about never crosses a call. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

enum { KC = 128 };

#define INLINE __attribute__((always_inline)) static inline

#define DEFINE_GEMM_KERNEL(NAME, TARGET, VW, MR, NV)                                       \
    typedef float NAME##_vec __attribute__((vector_size(4 * (VW))));                      \
    enum { NAME##_NR = (VW) * (NV) };                                                      \
    TARGET INLINE NAME##_vec NAME##_load(const float *p, int n)                            \
    {                                                                                      \
        NAME##_vec v = {0};                                                                \
        memcpy(&v, p, sizeof(float) * (size_t)(n < 0 ? 0 : n > (VW) ? (VW) : n));          \
        return v;                                                                          \
    }                                                                                      \
    /* C[rows][ncols] = beta C + bias + A[rows][K] B[K][NR]; B rows are full width. */     \
    TARGET INLINE void NAME##_tile(int rows, int ncols, int K, const float *A, int lda,    \
                                   const float *B, int ldb, const float *bias, float beta, \
                                   float *C, int ldc)                                      \
    {                                                                                      \
        NAME##_vec acc[MR][NV], bv[NV];                                                    \
        for (int v = 0; v < (NV); v++)                                                     \
            bv[v] = bias ? NAME##_load(bias + v * (VW), ncols - v * (VW)) : (NAME##_vec){0}; \
        for (int r = 0; r < rows; r++)                                                     \
            for (int v = 0; v < (NV); v++) {                                               \
                NAME##_vec c = beta == 0.0f ? (NAME##_vec){0}                              \
                               : NAME##_load(C + (long)r * ldc + v * (VW), ncols - v * (VW)); \
                acc[r][v] = (beta == 1.0f ? c : c * beta) + bv[v];                         \
            }                                                                              \
        for (int k = 0; k < K; k++) {                                                      \
            NAME##_vec b[NV];                                                              \
            for (int v = 0; v < (NV); v++) /* one vector load each, kept in registers */   \
                memcpy(&b[v], B + (long)k * ldb + v * (VW), sizeof b[v]);                  \
            for (int r = 0; r < rows; r++) {                                               \
                float a = A[(long)r * lda + k];                                            \
                for (int v = 0; v < (NV); v++) acc[r][v] += a * b[v];                      \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < rows; r++)                                                     \
            for (int v = 0; v < (NV); v++) {                                               \
                int n = ncols - v * (VW);                                                  \
                n = n < 0 ? 0 : n > (VW) ? (VW) : n;                                       \
                memcpy(C + (long)r * ldc + v * (VW), &acc[r][v], sizeof(float) * (size_t)n); \
            }                                                                              \
    }                                                                                      \
    TARGET INLINE void NAME##_rows(int M, int ncols, int K, const float *A, int lda,       \
                                   const float *B, int ldb, const float *bias, float beta, \
                                   float *C, int ldc)                                      \
    {                                                                                      \
        int i = 0;                                                                         \
        for (; i + (MR) <= M; i += (MR))                                                   \
            NAME##_tile(MR, ncols, K, A + (long)i * lda, lda, B, ldb, bias, beta,          \
                        C + (long)i * ldc, ldc);                                           \
        for (; i < M; i++)                                                                 \
            NAME##_tile(1, ncols, K, A + (long)i * lda, lda, B, ldb, bias, beta,           \
                        C + (long)i * ldc, ldc);                                           \
    }                                                                                      \
    TARGET static void NAME(int M, int N, int K, const float *A, int lda, const float *B,  \
                            int ldb, const float *bias, float beta, float *C, int ldc)     \
    {                                                                                      \
        int j = 0;                                                                         \
        for (; j + NAME##_NR <= N; j += NAME##_NR) /* constant width once inlined */       \
            NAME##_rows(M, NAME##_NR, K, A, lda, B + j, ldb, bias ? bias + j : NULL, beta, \
                        C + j, ldc);                                                       \
        if (j == N) return;                                                                \
        _Alignas(64) float pad[KC * NAME##_NR];                                            \
        memset(pad, 0, sizeof pad);                                                        \
        for (int k0 = 0; k0 < K || k0 == 0; k0 += KC) {                                    \
            int kc = K - k0 < KC ? K - k0 : KC;                                            \
            for (int k = 0; k < kc; k++)                                                   \
                memcpy(pad + k * NAME##_NR, B + (long)(k0 + k) * ldb + j,                  \
                       sizeof(float) * (size_t)(N - j));                                   \
            NAME##_rows(M, N - j, kc, A + k0, lda, pad, NAME##_NR,                         \
                        k0 == 0 && bias ? bias + j : NULL, k0 == 0 ? beta : 1.0f, C + j, ldc); \
        }                                                                                  \
    }

/* SSE2 (16 xmm): 4 rows x 2 vectors of 4. */
DEFINE_GEMM_KERNEL(gemm_baseline, , 4, 4, 2)

#if defined(__x86_64__) && defined(__GNUC__)
/* AVX2 + FMA (16 ymm): 6 rows x 2 vectors of 8 = 12 accumulators. */
DEFINE_GEMM_KERNEL(gemm_avx2, __attribute__((target("avx2,fma"))), 8, 6, 2)
/* AVX-512 (32 zmm): 8 rows x 2 vectors of 16 = 16 accumulators. */
DEFINE_GEMM_KERNEL(gemm_avx512, __attribute__((target("avx512f"))), 16, 8, 2)

static ps_gemm_fn pick_kernel(const char **isa)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return *isa = "avx512", gemm_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return *isa = "avx2", gemm_avx2;
    return *isa = "baseline", gemm_baseline;
}
#else
static ps_gemm_fn pick_kernel(const char **isa) { return *isa = "baseline", gemm_baseline; }
#endif

/* The dispatch table has one entry, filled before main() (a constructor) so that the
 * real-time call never races to initialize it. */
static ps_gemm_fn rt_kernel = gemm_baseline;
static const char *rt_isa = "baseline";

__attribute__((constructor)) static void choose_rt_kernel(void) { rt_kernel = pick_kernel(&rt_isa); }

const char *ps_gemm_rt_isa(void) { return rt_isa; }

void ps_gemm_rt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                const float *bias, float beta, float *C, int ldc)
{
    rt_kernel(M, N, K, A, lda, B, ldb, bias, beta, C, ldc);
}

/* ---- transposed products for the backward passes (offline only) ----------------------
 *
 *   ps_gemm_tn   C[M x N] = A^T B + beta C   A stored [K x M] (lda), B [K x N] (ldb)
 *                weight gradients: dW[cin x cout] += X[T x cin]^T dY[T x cout]
 *   ps_gemm_nt   C[M x N] = A B^T + beta C   A stored [M x K] (lda), B [N x K] (ldb)
 *                input gradients: dX[T x cin] += dY[T x cout] W[cin x cout]^T
 *
 * As in BLAS, beta == 0 overwrites C without reading it (NaN or garbage there does not
 * propagate), and K == 0 leaves beta C. With OpenBLAS these are cblas_sgemm with the
 * transpose flags (which take the BLAS lock: never on the audio thread); the portable
 * versions are plain loops that sum every output over k in increasing order, so their
 * results do not depend on M or N. */

/* C = beta C over the M x N block (C not read when beta == 0). */
static void scale_block(int M, int N, float beta, float *C, int ldc)
{
    if (beta == 1.0f) return;
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
}

#if PS_GEMM_OPENBLAS

void ps_gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    /* K == 0 is handled here: nothing to multiply, and the BLAS rejects lda/ldb it would
     * not read. */
    if (K <= 0) {
        scale_block(M, N, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta,
                C, ldc);
}

void ps_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        scale_block(M, N, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, lda, B, ldb, beta,
                C, ldc);
}

#else

/* k outermost: each step adds the outer product of row k of A (M values) and row k of B
 * (N values) to C, one axpy per row of C over contiguous memory (vectorizes). Every
 * C[i][j] receives its K terms in increasing k. For weight gradients C is cin x cout and
 * stays in cache while k runs over the time steps. */
void ps_gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    scale_block(M, N, beta, C, ldc);
    for (int k = 0; k < K; k++) {
        const float *a = A + (long)k * lda, *b = B + (long)k * ldb;
        for (int i = 0; i < M; i++) {
            float aik = a[i], *c = C + (long)i * ldc;
            for (int j = 0; j < N; j++) c[j] += aik * b[j];
        }
    }
}

/* Both operands are read along k (rows of A and rows of B are contiguous), so each output
 * is a dot product. It is summed in DOT_LANES interleaved partial sums (lane l takes
 * k = l, l + DOT_LANES, ...; the compiler keeps them in one vector register) and the
 * lanes are then added in a fixed tree, so the order of the additions depends on K only. */
enum { DOT_LANES = 8 };

static float dot_lanes(const float *a, const float *b, int K)
{
    float acc[DOT_LANES] = {0};
    int k = 0;
    for (; k + DOT_LANES <= K; k += DOT_LANES)
        for (int l = 0; l < DOT_LANES; l++) acc[l] += a[k + l] * b[k + l];
    for (int l = 0; k < K; k++, l++) acc[l] += a[k] * b[k];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void ps_gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    for (int i = 0; i < M; i++) {
        const float *a = A + (long)i * lda;
        float *c = C + (long)i * ldc;
        for (int j = 0; j < N; j++) {
            float d = K > 0 ? dot_lanes(a, B + (long)j * ldb, K) : 0.0f;
            c[j] = (beta == 0.0f ? 0.0f : beta == 1.0f ? c[j] : beta * c[j]) + d;
        }
    }
}

#endif
