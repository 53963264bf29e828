/* Separation metrics (design section 6): SI-SDR / SI-SDRi, and BSS Eval version 4 as
 * the MUSDB benchmark computes it (museval's bss_eval with its MUSDB settings).
 *
 * All arithmetic is in double precision; the inputs are float, mono, equally long.
 *
 * ---- SI-SDR ---------------------------------------------------------------------------
 * Both signals are made zero-mean (each one's own mean is subtracted), then
 *     alpha = <est, ref> / <ref, ref>,
 *     SI-SDR = 10 log10(|alpha ref|^2 / |alpha ref - est|^2)  [dB].
 * SI-SDRi(est, mix, ref) = SI-SDR(est, ref) - SI-SDR(mix, ref).
 * Degenerate inputs:
 *   - the result saturates to [-PS_SI_SDR_CAP_DB, +PS_SI_SDR_CAP_DB]: an exact (or
 *     float-rounding-exact) scaled copy of the reference gives +PS_SI_SDR_CAP_DB, never
 *     +inf, so that tables, means and SI-SDRi stay finite;
 *   - an estimate that is silent after mean removal (or orthogonal to the reference,
 *     alpha = 0) gives -PS_SI_SDR_CAP_DB;
 *   - a reference that is silent after mean removal (all samples equal), n < 1,
 *     n > PS_METRICS_MAX_SAMPLES, a NULL pointer or a non-finite sample gives NaN (for
 *     SI-SDRi: NaN whenever either term is NaN).
 *
 * ---- BSS Eval v4 ----------------------------------------------------------------------
 * What is computed is museval.metrics.bss_eval(refs, ests, window, hop,
 * compute_permutation=False, filters_len=L, framewise_filters=False,
 * bsseval_sources_version=False), the call museval.evaluate makes for MUSDB with
 * window = hop = 1 s, followed by the median over windows that ignores NaN windows
 * (museval's per-track aggregate). Step by step, for sources j = 0..N-1 (mono, so the
 * channel axes of museval have size 1):
 *
 * 1. Once over the whole track: the Gram matrix G of the N*L signals "reference k
 *    delayed by d samples" (d = 0..L-1, zero padded at the end, so every delayed copy is
 *    complete), G[(i,a),(k,b)] = sum_t s_i(t-a) s_k(t-b), and for each estimate j the
 *    vector D_j[(k,a)] = sum_t s_k(t-a) est_j(t). Both are exact linear correlations at
 *    lags |a-b| < L, computed with FFTW (double) as museval does with its zero-padded
 *    FFTs; here the track is cut into blocks whose cross spectra are accumulated and
 *    transformed back once, which is the same sum and keeps the working memory
 *    independent of the track's length.
 * 2. Distortion filters, once per source: C_j = (G + eps I)^-1 D_j (all references:
 *    N filters of L taps, museval's C[jest]) and Cj_j = (G_jj + eps I)^-1 D_j|_j (own
 *    reference only, museval's Cj[jtrue, jest] with jest = jtrue; G_jj is the j-th
 *    diagonal block). eps is museval's np.finfo(float).eps = 2.2e-16. The systems are
 *    solved by Cholesky in double precision. If the factorization breaks down (a pivot
 *    not above (N*L) * 2.2e-16 times its diagonal entry: G singular to working
 *    precision, e.g. two identical references) it is retried with a ridge of 1e-12,
 *    1e-10, 1e-8, 1e-6 times the largest diagonal entry, and the ridge used is reported
 *    in ps_bss_result.ridge (0 when only eps was added, the normal case). museval solves
 *    the same systems with LU (and a least-squares fallback); the projections agree up
 *    to rounding whenever G is not singular. (Checked: on a 3-source, 3.5 s, L = 512
 *    case with a silent window, every per-window value agrees with a numpy/scipy
 *    transcription of museval's algorithm to 5e-11 dB.)
 * 3. Windows (museval's Framing): n_windows = floor((n - window + hop) / hop) when
 *    window < n, else 1 window covering the whole track; window t covers samples
 *    [t*hop, min(t*hop + window, n)). With window = hop = rate a trailing partial second
 *    is therefore NOT evaluated (3.5 s -> 3 windows). A window in which ANY reference or
 *    ANY estimate is entirely zero gives NaN for every metric of every source.
 * 4. In each window, with s_k the window's samples of reference k and e the window of
 *    estimate j (all zero padded by L-1 samples at the end), museval's
 *    _bss_decomp_mtifilt convolves the WINDOWED references with the global filters:
 *        P_own = Cj_j * s_j,  P_all = sum_k C_j[k] * s_k   (full convolutions),
 *        s_true = s_j,  e_spat = P_own - s_true,  e_interf = P_all - P_own,
 *        e_artif = e - P_all,
 *    and _bss_crit gives (images version, the default):
 *        SDR = 10 log10(|s_true|^2 / |e_spat + e_interf + e_artif|^2) = |s_j|^2/|e - s_j|^2
 *        ISR = 10 log10(|s_true|^2 / |e_spat|^2)
 *        SIR = 10 log10(|s_true + e_spat|^2 / |e_interf|^2) = |P_own|^2 / |P_all - P_own|^2
 *        SAR = 10 log10(|s_true + e_spat + e_interf|^2 / |e_artif|^2) = |P_all|^2/|e - P_all|^2
 *    A zero denominator gives +inf (museval's _safe_db); a zero numerator -inf.
 *    Because the filters convolve each window's samples only, the first L-1 output
 *    samples of a window miss the previous window's contribution and the last L-1 run
 *    past it: an estimate that is a filtered reference shows a small "artifact" at the
 *    window edges. This is museval's behaviour and is kept.
 *    Mono: museval's "image" of a source is the source itself, so ISR measures the
 *    filtering (spatial-image) distortion of the own-reference projection, and SDR of the
 *    images version does NOT forgive a filter: an estimate h * s_j scores
 *    SDR = |s_j|^2 / |h*s_j - s_j|^2 (equal to ISR up to the window edges).
 *    With sources_version = 1 (museval's bsseval_sources_version=True, BSS Eval v2/v3
 *    bss_eval_sources) the target is the filtered reference s_filt = P_own instead:
 *    SDR = |P_own|^2 / |e - P_own|^2 (a filter is forgiven), SIR and SAR as above, ISR NaN.
 * 5. Per source, each metric's median over the windows that are not NaN (numpy's
 *    nanmedian: mean of the two middle values for an even count; NaN if every window is
 *    NaN). Permutations are not searched (museval's MUSDB default): estimate j is scored
 *    against reference j.
 *
 * Inputs museval refuses are refused here: a reference or an estimate that is zero over
 * the whole track. Also refused: non-finite samples, n_sources outside 1..PS_BSS_MAX_SOURCES,
 * n_samples < 512 or > PS_METRICS_MAX_SAMPLES, L outside 1..PS_BSS_MAX_FILTER (512),
 * window or hop < 1, sources_version other than 0 or 1.
 *
 * Memory: besides the inputs, the Gram factor (packed, (N*L)^2/2 doubles: 4 MiB for
 * N = 2, 16 MiB for N = 4, 64 MiB for N = 8 at L = 512), N^2 + N filter spectra of
 * about window + L complex values each (26 MiB for N = 8 at 44.1 kHz), and 4 doubles per
 * window per source. Time: the Cholesky factorization, (N*L)^3/6 multiply-adds, dominates
 * short tracks; the correlations and projections are O(N^2 n) and O(N^2 n log window)
 * (release build, one core: 4 sources x 3 min at 44.1 kHz in 1.3 s; 8 sources x 30 s in 3.4 s).
 *
 * Thread safety: FFTW's planner is not reentrant; plan creation and destruction are
 * serialized by an internal mutex, so concurrent calls are safe as long as nothing
 * else in the process plans double-precision FFTW transforms concurrently. */
#ifndef PRIORSEP_METRICS_H
#define PRIORSEP_METRICS_H

#include "priorsep/error.h"

#define PS_SI_SDR_CAP_DB 100.0
#define PS_METRICS_MAX_SAMPLES (1L << 30) /* about 6.2 hours at 48 kHz */
#define PS_BSS_MAX_SOURCES 8
#define PS_BSS_FILTER_LEN 512 /* museval's filters_len */
#define PS_BSS_MAX_FILTER 512
#define PS_BSS_MIN_RATE 1000
#define PS_BSS_MAX_RATE 384000

double ps_si_sdr(const float *est, const float *ref, long n);
double ps_si_sdri(const float *est, const float *mix, const float *ref, long n);

typedef struct ps_bss_options {
    long window;          /* samples per window (museval's window) */
    long hop;             /* samples between window starts (museval's hop) */
    int filter_len;       /* distortion filter taps L (museval's filters_len) */
    int sources_version;  /* 0: images version (MUSDB); 1: museval's bsseval_sources_version */
} ps_bss_options;

/* The MUSDB settings at a sample rate: window = hop = rate, L = 512, images version. */
ps_bss_options ps_bss_default_options(int rate);

/* Number of windows museval evaluates (step 3), or 0 for invalid arguments. */
long ps_bss_n_windows(long n_samples, long window, long hop);

typedef struct ps_bss_result {
    double sdr, sir, sar, isr;  /* medians over non-NaN windows (NaN if none) */
    long n_windows;             /* windows evaluated, NaN ones included */
    long n_valid;               /* windows that are not NaN */
    double ridge;               /* relative ridge added beyond eps (0 if none was needed) */
    /* Per-window values, n_windows each (window t starts at sample t * hop); owned by
     * the result, freed by ps_bss_result_free. NaN marks a silent window. */
    double *win_sdr, *win_sir, *win_sar, *win_isr;
} ps_bss_result;

/* refs[k] and ests[k], k < n_sources, each n_samples long. Fills out[0..n_sources-1].
 * Returns 0, or -1 with err set and every out[k] left empty (safe to free). */
int ps_bss_eval(const float *const *refs, const float *const *ests, int n_sources,
                long n_samples, const ps_bss_options *opt, ps_bss_result *out,
                ps_error *err);

/* ps_bss_eval with ps_bss_default_options(rate); rate in PS_BSS_MIN_RATE..MAX_RATE. */
int ps_bss_eval_v4(const float *const *refs, const float *const *ests, int n_sources,
                   long n_samples, int rate, ps_bss_result *out, ps_error *err);

/* numpy's nanmedian: the median of the values of v[0..n-1] that are not NaN (the mean of
 * the two middle ones for an even count), NaN if there are none; tmp holds n doubles.
 * Per window and, for a table, per track (museval's aggregates). */
double ps_nanmedian(const double *v, long n, double *tmp);

/* Frees the per-window arrays of out[0..n_sources-1] and NULLs them; idempotent. */
void ps_bss_result_free(ps_bss_result *out, int n_sources);

#endif
