/* The pitch tools of `data priors`: the crossing-rate pitch of noisy toy waveforms, picks
 * that flatten a clustered pool's pitch histogram (--pool), and the pitch shift by
 * resampling (--shift-octaves). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/pitch_balance.h"
#include "../cli/pitch_shift.h"
#include "priorsep/rng.h"
#include "priorsep/toy.h"

/* Toy sources (all four waveforms, 26 to 1,100 Hz) with white noise of std 0.1, the
 * level the shipped prior samples are drawn at: the rate is the fundamental to within two
 * crossings over the span (a partial period at each end may lose one), 2 rate / n Hz. */
START_TEST(crossing_rate_is_the_fundamental_of_noisy_toy_waveforms)
{
    enum { N = 22050, ITEMS = 40 };
    float *src = malloc(sizeof(float) * PS_TOY_SOURCES * N), *mix = malloc(sizeof(float) * N);
    ps_rng rng;
    ps_rng_seed(&rng, 7);
    for (long i = 0; i < ITEMS; i++) {
        ps_toy_item_params p;
        ps_toy_item(1, PS_TOY_TEST, i, &p, src, mix, N);
        for (int k = 0; k < PS_TOY_SOURCES; k++) {
            float *x = src + (size_t)k * N;
            for (long t = 0; t < N; t++) x[t] += 0.1f * ps_rng_normal(&rng);
            double want = (double)PS_TOY_RATE / p.period[k], got = crossing_rate_hz(x, N, PS_TOY_RATE);
            ck_assert_msg(fabs(got - want) <= 2.0 * PS_TOY_RATE / N + 1e-9, "item %ld %s: %.2f Hz, want %.2f",
                          i, ps_toy_source_names[k], got, want);
        }
    }
    static const float silence[100];
    ck_assert_double_eq(crossing_rate_hz(silence, 100, PS_TOY_RATE), 0.0);
    ck_assert_double_eq(crossing_rate_hz(silence, 1, PS_TOY_RATE), 0.0);
    free(src), free(mix);
}
END_TEST

/* A pool like a prior's: 70 % of the candidates within a third of an octave of 90 Hz,
 * the rest spread over 30 to 1,000 Hz. The picks spread evenly; each candidate is
 * picked at most once; the same pool gives the same picks. */
START_TEST(picks_flatten_a_clustered_pool)
{
    enum { POOL = 1600, PICK = 400, BINS = 16 };
    double *hz = malloc(sizeof(double) * POOL);
    long *picked = malloc(sizeof(long) * PICK), *again = malloc(sizeof(long) * PICK);
    ps_rng rng;
    ps_rng_seed(&rng, 3);
    for (long i = 0; i < POOL; i++)
        hz[i] = ps_rng_uniform(&rng) < 0.7f ? 90.0 * exp2(ps_rng_uniform(&rng) / 3.0 - 1.0 / 6.0)
                                            : 30.0 * exp2(log2(1000.0 / 30.0) * ps_rng_uniform(&rng));
    ck_assert_int_eq(pick_pitch_balanced(hz, POOL, PICK, BINS, picked), 0);
    char *seen = calloc(POOL, 1);
    long cluster = 0, per_octave[6] = {0};
    for (long i = 0; i < PICK; i++) {
        ck_assert(picked[i] >= 0 && picked[i] < POOL && !seen[picked[i]]);
        seen[picked[i]] = 1;
        cluster += fabs(log2(hz[picked[i]] / 90.0)) <= 1.0 / 6.0;
        per_octave[(int)fmin(5.0, floor(log2(hz[picked[i]] / 30.0)))]++;
    }
    /* in the pool the cluster holds 70 %; evenly over the 5 octaves it would hold 7 % */
    ck_assert_msg(cluster < PICK / 5, "%ld of %d picks in the cluster", cluster, PICK);
    for (int o = 0; o < 5; o++) /* even: 80 per octave */
        ck_assert_msg(per_octave[o] >= 50 && per_octave[o] <= 120, "octave %d: %ld picks", o, per_octave[o]);
    ck_assert_int_eq(pick_pitch_balanced(hz, POOL, PICK, BINS, again), 0);
    ck_assert_mem_eq(picked, again, sizeof(long) * PICK);

    /* every candidate wanted: every one is picked, a silent one (no pitch) too */
    hz[5] = 0.0;
    ck_assert_int_eq(pick_pitch_balanced(hz, 50, 50, BINS, picked), 0);
    memset(seen, 0, POOL);
    for (long i = 0; i < 50; i++) seen[picked[i]]++;
    for (long i = 0; i < 50; i++) ck_assert_int_eq(seen[i], 1);
    free(hz), free(picked), free(again), free(seen);
}
END_TEST

/* Nearest-rank deciles of all values, and of those an index list names (in any order). */
START_TEST(deciles_of_all_and_of_a_subset)
{
    double hz[100], q[3];
    for (int i = 0; i < 100; i++) hz[i] = (double)((i * 37) % 100 + 1); /* 1..100, shuffled */
    ck_assert_int_eq(pitch_deciles(hz, NULL, 100, q), 0);
    ck_assert(q[0] == 11.0 && q[1] == 51.0 && q[2] == 90.0);
    long even[50], m = 0; /* the indices of the even values 2..100, last index first */
    for (long i = 99; i >= 0; i--)
        if ((long)hz[i] % 2 == 0) even[m++] = i;
    ck_assert_int_eq(m, 50);
    ck_assert_int_eq(pitch_deciles(hz, even, m, q), 0);
    ck_assert(q[0] == 12.0 && q[1] == 52.0 && q[2] == 90.0);
}
END_TEST

/* A 100 Hz sine read 2^u times as fast, u in [-1, 1]: a sine at 2^u x 100 Hz, n / 2^u
 * samples long (n when slower: the output is cut), of the same amplitude. Tolerances:
 * the pitch to two crossings over the span (as above); the amplitude to 1 %, away from
 * the first and last 64 samples, where the resampling filter meets the cut. */
START_TEST(pitch_shift_moves_a_sine)
{
    enum { N = 14700, RATE = 14700 };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    for (long t = 0; t < N; t++) x[t] = 0.8f * (float)sin(2 * 3.141592653589793 * 100.0 * t / RATE);
    static const double octaves[] = {-1.0, -0.3, 0.0, 0.5, 1.0};
    for (size_t i = 0; i < sizeof octaves / sizeof octaves[0]; i++) {
        double f = exp2(octaves[i]);
        ps_error err;
        long got = pitch_shift(x, N, f, y, N, &err);
        long want = f < 1.0 ? N : lround(N / f);
        ck_assert_msg(labs(got - want) <= 1, "factor %g: %ld samples, want %ld", f, got, want);
        double hz = crossing_rate_hz(y + 64, got - 128, RATE);
        ck_assert_msg(fabs(hz - 100.0 * f) <= 2.0 * RATE / (got - 128), "factor %g: %.2f Hz", f, hz);
        float peak = 0.0f;
        for (long t = 64; t < got - 64; t++) peak = fmaxf(peak, fabsf(y[t]));
        ck_assert_msg(fabsf(peak - 0.8f) < 0.008f, "factor %g: peak %.4f", f, peak);
    }
    ps_error err;
    ck_assert_int_eq(pitch_shift(x, N, 20.0, y, N, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "20"));
    ck_assert_int_eq(pitch_shift(x, N, NAN, y, N, &err), -1);
    free(x), free(y);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("pitch");
    TCase *tc = tcase_create("pitch");
    tcase_add_test(tc, crossing_rate_is_the_fundamental_of_noisy_toy_waveforms);
    tcase_add_test(tc, picks_flatten_a_clustered_pool);
    tcase_add_test(tc, pitch_shift_moves_a_sine);
    tcase_add_test(tc, deciles_of_all_and_of_a_subset);
    suite_add_tcase(s, tc);
    return s;
}
