/* SI-SDR and BSS Eval v4; see priorsep/metrics.h for the definitions implemented. */
#include "priorsep/metrics.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Sums run in blocks of this many terms, each block in its own accumulator, so that the
 * rounding error grows with BLOCK + n / BLOCK rather than with n. */
#define BLOCK 4096

/* ---------------------------------------------------------------- SI-SDR ------------ */

static double mean_of(const float *x, long n)
{
    double total = 0.0;
    for (long b = 0; b < n; b += BLOCK) {
        long e = n - b < BLOCK ? n : b + BLOCK;
        double s = 0.0;
        for (long i = b; i < e; i++) s += x[i];
        total += s;
    }
    return total / (double)n;
}

static int all_finite(const float *x, long n)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static double clamp_db(double v)
{
    if (v > PS_SI_SDR_CAP_DB) return PS_SI_SDR_CAP_DB;
    if (v < -PS_SI_SDR_CAP_DB) return -PS_SI_SDR_CAP_DB;
    return v;
}

double ps_si_sdr(const float *est, const float *ref, long n)
{
    if (!est || !ref || n < 1 || n > PS_METRICS_MAX_SAMPLES) return NAN;
    if (!all_finite(est, n) || !all_finite(ref, n)) return NAN;
    double me = mean_of(est, n), mr = mean_of(ref, n);

    double ss = 0.0, es = 0.0;
    for (long b = 0; b < n; b += BLOCK) {
        long e = n - b < BLOCK ? n : b + BLOCK;
        double bss = 0.0, bes = 0.0;
        for (long i = b; i < e; i++) {
            double s = (double)ref[i] - mr, x = (double)est[i] - me;
            bss += s * s;
            bes += x * s;
        }
        ss += bss;
        es += bes;
    }
    if (!(ss > 0.0)) return NAN; /* silent (constant) reference: undefined */
    double alpha = es / ss;

    /* The residual is summed directly, not expanded, to avoid cancellation. */
    double res = 0.0;
    for (long b = 0; b < n; b += BLOCK) {
        long e = n - b < BLOCK ? n : b + BLOCK;
        double br = 0.0;
        for (long i = b; i < e; i++) {
            double d = alpha * ((double)ref[i] - mr) - ((double)est[i] - me);
            br += d * d;
        }
        res += br;
    }
    double num = alpha * alpha * ss;
    if (num == 0.0) return -PS_SI_SDR_CAP_DB; /* silent or orthogonal estimate */
    if (res == 0.0) return PS_SI_SDR_CAP_DB;
    return clamp_db(10.0 * log10(num / res));
}

double ps_si_sdri(const float *est, const float *mix, const float *ref, long n)
{
    double a = ps_si_sdr(est, ref, n), b = ps_si_sdr(mix, ref, n);
    if (isnan(a) || isnan(b)) return NAN;
    return a - b;
}

/* ---------------------------------------------------------------- BSS Eval v4 ------- */

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

ps_bss_options ps_bss_default_options(int rate)
{
    ps_bss_options o = {rate, rate, PS_BSS_FILTER_LEN, 0};
    return o;
}

long ps_bss_n_windows(long n_samples, long window, long hop)
{
    if (n_samples < 1 || window < 1 || hop < 1) return 0;
    if (window >= n_samples) return 1; /* museval: one window, the whole track */
    return (n_samples - window + hop) / hop;
}

void ps_bss_result_free(ps_bss_result *out, int n_sources)
{
    if (!out) return;
    for (int j = 0; j < n_sources; j++) {
        free(out[j].win_sdr); /* one allocation holds the four arrays */
        out[j].win_sdr = out[j].win_sir = out[j].win_sar = out[j].win_isr = NULL;
    }
}

/* museval's _safe_db. */
static double safe_db(double num, double den)
{
    if (den == 0.0) return INFINITY;
    return 10.0 * log10(num / den);
}

/* Smallest m >= x whose prime factors are 2, 3, 5 and 7 (FFTW's fast sizes). */
static long fast_size(long x)
{
    for (long m = x > 1 ? x : 1;; m++) {
        long r = m;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3;
        while (r % 5 == 0) r /= 5;
        while (r % 7 == 0) r /= 7;
        if (r == 1) return m;
    }
}

/* acc += conj(x) * y over nf bins. */
static void cmac_conj(fftw_complex *restrict acc, const fftw_complex *restrict x,
                      const fftw_complex *restrict y, long nf)
{
    for (long f = 0; f < nf; f++) {
        acc[f][0] += x[f][0] * y[f][0] + x[f][1] * y[f][1];
        acc[f][1] += x[f][0] * y[f][1] - x[f][1] * y[f][0];
    }
}

/* acc (+)= x * y over nf bins. */
static void cmul(fftw_complex *restrict acc, const fftw_complex *restrict x,
                 const fftw_complex *restrict y, long nf, int add)
{
    for (long f = 0; f < nf; f++) {
        double re = x[f][0] * y[f][0] - x[f][1] * y[f][1];
        double im = x[f][0] * y[f][1] + x[f][1] * y[f][0];
        if (add) acc[f][0] += re, acc[f][1] += im;
        else acc[f][0] = re, acc[f][1] = im;
    }
}

/* FFT plans on dedicated buffers; data are copied in and out. */
typedef struct fft_pair {
    long m, nf;
    double *re;
    fftw_complex *spec;
    fftw_plan fwd, inv;
} fft_pair;

static int fft_pair_init(fft_pair *p, long m)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    p->nf = m / 2 + 1;
    p->re = fftw_malloc(sizeof(double) * (size_t)m);
    p->spec = fftw_malloc(sizeof(fftw_complex) * (size_t)p->nf);
    if (!p->re || !p->spec) return -1;
    pthread_mutex_lock(&plan_lock);
    p->fwd = fftw_plan_dft_r2c_1d((int)m, p->re, p->spec, FFTW_ESTIMATE);
    p->inv = fftw_plan_dft_c2r_1d((int)m, p->spec, p->re, FFTW_ESTIMATE);
    pthread_mutex_unlock(&plan_lock);
    return p->fwd && p->inv ? 0 : -1;
}

static void fft_pair_free(fft_pair *p)
{
    pthread_mutex_lock(&plan_lock);
    if (p->fwd) fftw_destroy_plan(p->fwd);
    if (p->inv) fftw_destroy_plan(p->inv);
    pthread_mutex_unlock(&plan_lock);
    fftw_free(p->re);
    fftw_free(p->spec);
    memset(p, 0, sizeof *p);
}

/* Spectrum of x[0..len) zero padded to p->m, written to out. */
static void forward_float(fft_pair *p, const float *x, long len, fftw_complex *out)
{
    for (long i = 0; i < len; i++) p->re[i] = x[i];
    for (long i = len; i < p->m; i++) p->re[i] = 0.0;
    fftw_execute(p->fwd);
    memcpy(out, p->spec, sizeof(fftw_complex) * (size_t)p->nf);
}

/* Step 1 of the header: r_rr[(i*N + k)*L + a] = sum_t s_i(t) s_k(t + a) and
 * r_re[(k*N + j)*L + a] = sum_t s_k(t) est_j(t + a), a = 0..L-1 (zero beyond the track).
 * The track is cut into blocks of B samples; a block's x part is s(b..b+B) and its y part
 * y(b..b+B+L-1), both zero padded to M >= B + L - 1, so the circular correlation of the
 * two has no wrap-around at lags 0..L-1. The cross spectra of all blocks are summed and
 * transformed back once. */
static int correlations(const float *const *refs, const float *const *ests, int N, long n,
                        int L, double *r_rr, double *r_re)
{
    long M = 1024;
    while (M < 16L * L) M *= 2;
    long B = M - (L - 1);
    fft_pair p;
    int rc = -1;
    size_t nf = (size_t)(M / 2 + 1), NN = (size_t)N * (size_t)N;
    fftw_complex *xs = NULL, *yr = NULL, *ye = NULL, *arr = NULL, *are = NULL;
    if (fft_pair_init(&p, M)) goto out;
    xs = fftw_malloc(sizeof(fftw_complex) * nf * (size_t)N);
    yr = fftw_malloc(sizeof(fftw_complex) * nf * (size_t)N);
    ye = fftw_malloc(sizeof(fftw_complex) * nf * (size_t)N);
    arr = fftw_malloc(sizeof(fftw_complex) * nf * NN);
    are = fftw_malloc(sizeof(fftw_complex) * nf * NN);
    if (!xs || !yr || !ye || !arr || !are) goto out;
    memset(arr, 0, sizeof(fftw_complex) * nf * NN);
    memset(are, 0, sizeof(fftw_complex) * nf * NN);

    for (long b = 0; b < n; b += B) {
        long xl = n - b < B ? n - b : B;
        long yl = n - b < B + L - 1 ? n - b : B + L - 1;
        for (int k = 0; k < N; k++) {
            forward_float(&p, refs[k] + b, xl, xs + nf * (size_t)k);
            forward_float(&p, refs[k] + b, yl, yr + nf * (size_t)k);
            forward_float(&p, ests[k] + b, yl, ye + nf * (size_t)k);
        }
        for (int i = 0; i < N; i++)
            for (int k = 0; k < N; k++) {
                cmac_conj(arr + nf * ((size_t)i * N + k), xs + nf * (size_t)i,
                          yr + nf * (size_t)k, (long)nf);
                cmac_conj(are + nf * ((size_t)i * N + k), xs + nf * (size_t)i,
                          ye + nf * (size_t)k, (long)nf);
            }
    }
    for (size_t q = 0; q < 2 * NN; q++) {
        const fftw_complex *a = q < NN ? arr + nf * q : are + nf * (q - NN);
        double *r = q < NN ? r_rr + (size_t)L * q : r_re + (size_t)L * (q - NN);
        memcpy(p.spec, a, sizeof(fftw_complex) * nf);
        fftw_execute(p.inv);
        for (int d = 0; d < L; d++) r[d] = p.re[d] / (double)M;
    }
    rc = 0;
out:
    fft_pair_free(&p);
    fftw_free(xs);
    fftw_free(yr);
    fftw_free(ye);
    fftw_free(arr);
    fftw_free(are);
    return rc;
}

#define PACKED(i, j) ((size_t)(i) * ((size_t)(i) + 1) / 2 + (size_t)(j))

/* Packed lower triangle of the Gram matrix of "reference src[u] delayed by a",
 * row u*L + a: G[(i,a),(k,b)] = r_ik(a - b) for a >= b, r_ki(b - a) otherwise. */
static void build_gram(double *g, const double *r_rr, int N, int L, const int *src, int m)
{
    for (int u = 0; u < m; u++)
        for (int a = 0; a < L; a++) {
            long row = (long)u * L + a;
            double *gr = g + PACKED(row, 0);
            for (int v = 0; v <= u; v++) {
                int i = src[u], k = src[v];
                const double *rik = r_rr + (size_t)L * ((size_t)i * N + k);
                const double *rki = r_rr + (size_t)L * ((size_t)k * N + i);
                int bmax = v == u ? a : L - 1;
                for (int b = 0; b <= bmax; b++)
                    gr[(long)v * L + b] = a >= b ? rik[a - b] : rki[b - a];
            }
        }
}

static double dot(const double *restrict x, const double *restrict y, long n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
    }
    for (; i < n; i++) s0 += x[i] * y[i];
    return (s0 + s1) + (s2 + s3);
}

/* In-place Cholesky of a packed lower triangle (row-oriented, rows in blocks of 32 so
 * that each earlier row is read once per block). Fails (-1) on a pivot that is not above
 * n eps times its diagonal entry (the size of the rounding errors of the elimination):
 * G is then singular to working precision. */
static int cholesky(double *g, long n)
{
    const long bs = 32;
    const double tol = (double)n * DBL_EPSILON;
    for (long i0 = 0; i0 < n; i0 += bs) {
        long i1 = i0 + bs < n ? i0 + bs : n;
        for (long j = 0; j < i1; j++) {
            const double *lj = g + PACKED(j, 0);
            for (long i = j > i0 ? j : i0; i < i1; i++) {
                double *li = g + PACKED(i, 0);
                double s = li[j] - dot(li, lj, j);
                if (i == j) {
                    if (!(s > tol * li[j]) || !isfinite(s)) return -1;
                    li[j] = sqrt(s);
                } else {
                    li[j] = s / lj[j];
                }
            }
        }
    }
    return 0;
}

/* Solves L L^T x = b in place (x overwrites b). */
static void cholesky_solve(const double *g, long n, double *x)
{
    for (long i = 0; i < n; i++) {
        const double *li = g + PACKED(i, 0);
        x[i] = (x[i] - dot(li, x, i)) / li[i];
    }
    for (long i = n - 1; i >= 0; i--) {
        const double *li = g + PACKED(i, 0);
        x[i] /= li[i];
        for (long k = 0; k < i; k++) x[k] -= li[k] * x[i];
    }
}

/* Step 2: builds the Gram matrix of the given references, adds museval's eps and, when
 * needed, a growing ridge, and factors it. *ridge gets the relative ridge used. */
static int factor_gram(double *g, const double *r_rr, int N, int L, const int *src, int m,
                       double *ridge)
{
    static const double ridges[] = {0.0, 1e-12, 1e-10, 1e-8, 1e-6};
    long n = (long)m * L;
    for (size_t t = 0; t < sizeof ridges / sizeof ridges[0]; t++) {
        build_gram(g, r_rr, N, L, src, m);
        double dmax = 0.0;
        for (long i = 0; i < n; i++) dmax = fmax(dmax, g[PACKED(i, i)]);
        for (long i = 0; i < n; i++) g[PACKED(i, i)] += DBL_EPSILON + ridges[t] * dmax;
        if (cholesky(g, n) == 0) {
            *ridge = ridges[t];
            return 0;
        }
    }
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

double ps_nanmedian(const double *v, long n, double *tmp)
{
    long m = 0;
    for (long i = 0; i < n; i++)
        if (!isnan(v[i])) tmp[m++] = v[i];
    if (m == 0) return NAN;
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_double);
    return m % 2 ? tmp[m / 2] : 0.5 * (tmp[m / 2 - 1] + tmp[m / 2]);
}

static int all_zero(const float *x, long n)
{
    for (long i = 0; i < n; i++)
        if (x[i] != 0.0f) return 0;
    return 1;
}

static int validate(const float *const *refs, const float *const *ests, int N, long n,
                    const ps_bss_options *opt, ps_error *err)
{
    if (!refs || !ests || !opt) return ps_error_set(err, "bss_eval: NULL argument");
    if (N < 1 || N > PS_BSS_MAX_SOURCES)
        return ps_error_set(err, "bss_eval: %d sources, want 1..%d", N, PS_BSS_MAX_SOURCES);
    if (n < 512 || n > PS_METRICS_MAX_SAMPLES)
        return ps_error_set(err, "bss_eval: %ld samples, want 512..%ld", n,
                            (long)PS_METRICS_MAX_SAMPLES);
    if (opt->filter_len < 1 || opt->filter_len > PS_BSS_MAX_FILTER)
        return ps_error_set(err, "bss_eval: filter length %d, want 1..%d", opt->filter_len,
                            PS_BSS_MAX_FILTER);
    if (opt->window < 1 || opt->hop < 1 || opt->window > PS_METRICS_MAX_SAMPLES ||
        opt->hop > PS_METRICS_MAX_SAMPLES)
        return ps_error_set(err, "bss_eval: window %ld / hop %ld samples, want 1..%ld",
                            opt->window, opt->hop, (long)PS_METRICS_MAX_SAMPLES);
    if (opt->sources_version != 0 && opt->sources_version != 1)
        return ps_error_set(err, "bss_eval: sources_version %d, want 0 or 1",
                            opt->sources_version);
    for (int k = 0; k < N; k++) {
        if (!refs[k] || !ests[k])
            return ps_error_set(err, "bss_eval: source %d: NULL signal", k);
        if (!all_finite(refs[k], n))
            return ps_error_set(err, "bss_eval: reference %d has a non-finite sample", k);
        if (!all_finite(ests[k], n))
            return ps_error_set(err, "bss_eval: estimate %d has a non-finite sample", k);
        if (all_zero(refs[k], n))
            return ps_error_set(err, "bss_eval: reference %d is silent over the whole track"
                                     " (museval refuses it)", k);
        if (all_zero(ests[k], n))
            return ps_error_set(err, "bss_eval: estimate %d is silent over the whole track"
                                     " (museval refuses it)", k);
    }
    return 0;
}

/* Everything allocated by one evaluation, so that one function frees it. */
typedef struct work {
    double *r_rr, *r_re, *gram, *c_all, *c_own, *p_own, *p_all, *tmp;
    fftw_complex *h_all, *h_own, *rs;
    fft_pair fp;
    int have_fp;
} work;

static void work_free(work *w)
{
    free(w->r_rr);
    free(w->r_re);
    free(w->gram);
    free(w->c_all);
    free(w->c_own);
    free(w->p_own);
    free(w->p_all);
    free(w->tmp);
    fftw_free(w->h_all);
    fftw_free(w->h_own);
    fftw_free(w->rs);
    if (w->have_fp) fft_pair_free(&w->fp);
}

int ps_bss_eval(const float *const *refs, const float *const *ests, int N, long n,
                const ps_bss_options *opt, ps_bss_result *out, ps_error *err)
{
    if (!out) return ps_error_set(err, "bss_eval: NULL result");
    for (int j = 0; j < N && j < PS_BSS_MAX_SOURCES; j++) memset(&out[j], 0, sizeof out[j]);
    if (validate(refs, ests, N, n, opt, err)) return -1;

    const int L = opt->filter_len;
    const long NL = (long)N * L;
    const long nwin = ps_bss_n_windows(n, opt->window, opt->hop);
    const long wlen = opt->window < n ? opt->window : n;
    const long hop = opt->hop;
    work w;
    memset(&w, 0, sizeof w);

    w.r_rr = malloc(sizeof(double) * (size_t)N * (size_t)N * (size_t)L);
    w.r_re = malloc(sizeof(double) * (size_t)N * (size_t)N * (size_t)L);
    w.gram = malloc(sizeof(double) * (size_t)NL * ((size_t)NL + 1) / 2);
    w.c_all = malloc(sizeof(double) * (size_t)N * (size_t)NL);
    w.c_own = malloc(sizeof(double) * (size_t)N * (size_t)L);
    if (!w.r_rr || !w.r_re || !w.gram || !w.c_all || !w.c_own) goto oom;
    for (int j = 0; j < N; j++) {
        out[j].win_sdr = malloc(sizeof(double) * 4 * (size_t)nwin);
        if (!out[j].win_sdr) goto oom;
        out[j].win_sir = out[j].win_sdr + nwin;
        out[j].win_sar = out[j].win_sdr + 2 * nwin;
        out[j].win_isr = out[j].win_sdr + 3 * nwin;
        out[j].n_windows = nwin;
    }

    /* Steps 1 and 2. */
    if (correlations(refs, ests, N, n, L, w.r_rr, w.r_re)) goto oom;
    int src[PS_BSS_MAX_SOURCES];
    for (int k = 0; k < N; k++) src[k] = k;
    double ridge_all;
    if (factor_gram(w.gram, w.r_rr, N, L, src, N, &ridge_all)) {
        ps_error_set(err, "bss_eval: the references' Gram matrix is singular even with a"
                          " ridge of 1e-6 (are references zero in all but a few samples?)");
        goto fail;
    }
    for (int j = 0; j < N; j++) {
        double *c = w.c_all + (size_t)j * (size_t)NL; /* C_j[k][a] at k*L + a */
        for (int k = 0; k < N; k++)
            memcpy(c + (size_t)k * L, w.r_re + (size_t)L * ((size_t)k * N + j),
                   sizeof(double) * (size_t)L);
        cholesky_solve(w.gram, NL, c);
    }
    for (int j = 0; j < N; j++) {
        double ridge_own;
        if (factor_gram(w.gram, w.r_rr, N, L, &src[j], 1, &ridge_own)) {
            ps_error_set(err, "bss_eval: reference %d: delayed copies are linearly dependent"
                              " even with a ridge of 1e-6", j);
            goto fail;
        }
        double *c = w.c_own + (size_t)j * L;
        memcpy(c, w.r_re + (size_t)L * ((size_t)j * N + j), sizeof(double) * (size_t)L);
        cholesky_solve(w.gram, L, c);
        out[j].ridge = fmax(ridge_all, ridge_own);
    }
    free(w.gram);
    w.gram = NULL;

    /* Steps 3 and 4: filter spectra once, then per window the references' spectra. */
    const long plen = wlen + L - 1;
    const long mw = fast_size(plen);
    w.have_fp = 1; /* fft_pair_free undoes a partial fft_pair_init */
    if (fft_pair_init(&w.fp, mw)) goto oom;
    const size_t nf = (size_t)w.fp.nf;
    w.h_all = fftw_malloc(sizeof(fftw_complex) * nf * (size_t)N * (size_t)N);
    w.h_own = fftw_malloc(sizeof(fftw_complex) * nf * (size_t)N);
    w.rs = fftw_malloc(sizeof(fftw_complex) * nf * (size_t)N);
    w.p_own = malloc(sizeof(double) * (size_t)plen);
    w.p_all = malloc(sizeof(double) * (size_t)plen);
    w.tmp = malloc(sizeof(double) * (size_t)nwin);
    if (!w.h_all || !w.h_own || !w.rs || !w.p_own || !w.p_all || !w.tmp) goto oom;
    for (int j = 0; j < N; j++) {
        for (int k = 0; k < N; k++) {
            memset(w.fp.re, 0, sizeof(double) * (size_t)mw);
            memcpy(w.fp.re, w.c_all + (size_t)j * NL + (size_t)k * L, sizeof(double) * (size_t)L);
            fftw_execute(w.fp.fwd);
            memcpy(w.h_all + nf * ((size_t)j * N + k), w.fp.spec, sizeof(fftw_complex) * nf);
        }
        memset(w.fp.re, 0, sizeof(double) * (size_t)mw);
        memcpy(w.fp.re, w.c_own + (size_t)j * L, sizeof(double) * (size_t)L);
        fftw_execute(w.fp.fwd);
        memcpy(w.h_own + nf * (size_t)j, w.fp.spec, sizeof(fftw_complex) * nf);
    }

    const double scale = 1.0 / (double)mw;
    for (long t = 0; t < nwin; t++) {
        long t0 = t * hop;
        int silent = 0;
        for (int k = 0; k < N && !silent; k++)
            silent = all_zero(refs[k] + t0, wlen) || all_zero(ests[k] + t0, wlen);
        if (silent) {
            for (int j = 0; j < N; j++)
                out[j].win_sdr[t] = out[j].win_sir[t] = out[j].win_sar[t] =
                    out[j].win_isr[t] = NAN;
            continue;
        }
        for (int k = 0; k < N; k++) forward_float(&w.fp, refs[k] + t0, wlen, w.rs + nf * (size_t)k);
        for (int j = 0; j < N; j++) {
            cmul(w.fp.spec, w.h_own + nf * (size_t)j, w.rs + nf * (size_t)j, (long)nf, 0);
            fftw_execute(w.fp.inv);
            for (long i = 0; i < plen; i++) w.p_own[i] = w.fp.re[i] * scale;
            for (int k = 0; k < N; k++)
                cmul(w.fp.spec, w.h_all + nf * ((size_t)j * N + k), w.rs + nf * (size_t)k,
                     (long)nf, k > 0);
            fftw_execute(w.fp.inv);
            for (long i = 0; i < plen; i++) w.p_all[i] = w.fp.re[i] * scale;

            const float *s = refs[j] + t0, *e = ests[j] + t0;
            double e_s = 0, e_es = 0, e_own = 0, e_spat = 0, e_int = 0, e_all = 0, e_art = 0,
                   e_eo = 0;
            for (long i = 0; i < plen; i++) {
                double si = i < wlen ? s[i] : 0.0, ei = i < wlen ? e[i] : 0.0;
                double po = w.p_own[i], pa = w.p_all[i];
                e_s += si * si;
                e_es += (ei - si) * (ei - si);
                e_own += po * po;
                e_spat += (po - si) * (po - si);
                e_int += (pa - po) * (pa - po);
                e_all += pa * pa;
                e_art += (ei - pa) * (ei - pa);
                e_eo += (ei - po) * (ei - po);
            }
            out[j].win_sir[t] = safe_db(e_own, e_int);
            out[j].win_sar[t] = safe_db(e_all, e_art);
            if (opt->sources_version) {
                out[j].win_sdr[t] = safe_db(e_own, e_eo);
                out[j].win_isr[t] = NAN;
            } else {
                out[j].win_sdr[t] = safe_db(e_s, e_es);
                out[j].win_isr[t] = safe_db(e_s, e_spat);
            }
        }
    }

    /* Step 5. */
    for (int j = 0; j < N; j++) {
        long valid = 0;
        for (long t = 0; t < nwin; t++) valid += !isnan(out[j].win_sir[t]);
        out[j].n_valid = valid;
        out[j].sdr = ps_nanmedian(out[j].win_sdr, nwin, w.tmp);
        out[j].sir = ps_nanmedian(out[j].win_sir, nwin, w.tmp);
        out[j].sar = ps_nanmedian(out[j].win_sar, nwin, w.tmp);
        out[j].isr = ps_nanmedian(out[j].win_isr, nwin, w.tmp);
    }
    work_free(&w);
    return 0;

oom:
    ps_error_set(err, "bss_eval: out of memory (%d sources, %ld samples)", N, n);
fail:
    work_free(&w);
    ps_bss_result_free(out, N);
    for (int j = 0; j < N; j++) memset(&out[j], 0, sizeof out[j]);
    return -1;
}

int ps_bss_eval_v4(const float *const *refs, const float *const *ests, int n_sources,
                   long n_samples, int rate, ps_bss_result *out, ps_error *err)
{
    if (rate < PS_BSS_MIN_RATE || rate > PS_BSS_MAX_RATE) {
        if (out)
            for (int j = 0; j < n_sources && j < PS_BSS_MAX_SOURCES; j++)
                memset(&out[j], 0, sizeof out[j]);
        return ps_error_set(err, "bss_eval: sample rate %d Hz, want %d..%d", rate,
                            PS_BSS_MIN_RATE, PS_BSS_MAX_RATE);
    }
    ps_bss_options o = ps_bss_default_options(rate);
    return ps_bss_eval(refs, ests, n_sources, n_samples, &o, out, err);
}
