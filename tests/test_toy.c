/* The toy data against design section 5: every drawn parameter and every sample is
 * recomputed here from the specification, independently of the generator's arithmetic. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/toy.h"

#define N PS_TOY_ITEM_SAMPLES
#define S PS_TOY_SOURCES
#define PI 3.14159265358979323846

enum { SINE, SQUARE, SAWTOOTH, TRIANGLE };

static float sources[S * N], mix[N];

/* The specification's frequency of key k, in Hz. */
static double spec_freq(double key) { return 440.0 * pow(2.0, (key - 49.0) / 12.0); }

/* The specification's unit waveform at u in [0, 1). */
static double spec_wave(int source, double u)
{
    switch (source) {
    case SINE: return sin(2.0 * PI * u);
    case SQUARE: return u < 0.5 ? 1.0 : -1.0;
    case SAWTOOTH: return 2.0 * u - 1.0;
    default: return u < 0.5 ? 4.0 * u - 1.0 : 3.0 - 4.0 * u;
    }
}

/* Field by field, so that padding (if the struct ever has some) cannot matter. */
static int same_params(const ps_toy_item_params *a, const ps_toy_item_params *b)
{
    return !memcmp(a->key_tenths, b->key_tenths, sizeof a->key_tenths) &&
           !memcmp(a->key, b->key, sizeof a->key) && !memcmp(a->freq, b->freq, sizeof a->freq) &&
           !memcmp(a->period, b->period, sizeof a->period) &&
           !memcmp(a->phase, b->phase, sizeof a->phase) && !memcmp(a->amp, b->amp, sizeof a->amp);
}

static void check_params(const ps_toy_item_params *p)
{
    for (int k = 0; k < S; k++) {
        double m = p->key[k] * 10.0;
        ck_assert_msg(fabs(m - nearbyint(m)) < 1e-9, "key %.17g is not a tenth", p->key[k]);
        ck_assert(nearbyint(m) == p->key_tenths[k]);
        ck_assert(p->key[k] >= 0.1 - 1e-12 && p->key[k] <= 64.9 + 1e-12);
        double f = spec_freq(p->key[k]);
        ck_assert_msg(fabs(p->freq[k] - f) <= 1e-12 * f, "key %g: %.17g Hz, want %.17g",
                      p->key[k], p->freq[k], f);
        ck_assert_int_eq(p->period[k], (int)floor(14700.0 / f));
        ck_assert(p->phase[k] >= 0 && p->phase[k] < p->period[k]);
        ck_assert(p->amp[k] >= 0.8f && p->amp[k] <= 1.0f);
    }
}

/* Every sample against the formula; exact periodicity; square, sawtooth and triangle
 * reach exactly -amp (at u = 0) and never exceed amp; mix is the mean. ck_assert costs a
 * system call each, hence plain ifs in the per-sample loops. */
static void check_signals(const ps_toy_item_params *p, const float *src, const float *mx, int n)
{
    for (int k = 0; k < S; k++) {
        const float *s = src + (size_t)k * (size_t)n;
        int P = p->period[k];
        double amp = p->amp[k];
        float lo = INFINITY, hi = -INFINITY;
        for (int t = 0; t < n; t++) {
            double u = (double)((t + p->phase[k]) % P) / P;
            double want = amp * spec_wave(k, u);
            if (!(fabs(s[t] - want) <= 1e-6))
                ck_abort_msg("%s t=%d: %.9g, want %.9g", ps_toy_source_names[k], t,
                             (double)s[t], want);
            if (t + P < n && s[t + P] != s[t])
                ck_abort_msg("%s: not periodic at t=%d", ps_toy_source_names[k], t);
            if (k == SQUARE && s[t] != p->amp[k] && s[t] != -p->amp[k])
                ck_abort_msg("square t=%d: %.9g is not +-amp", t, (double)s[t]);
            lo = fminf(lo, s[t]), hi = fmaxf(hi, s[t]);
        }
        ck_assert(hi <= p->amp[k] && lo >= -p->amp[k]);
        if (k != SINE && n >= P) ck_assert(lo == -p->amp[k]);
    }
    for (int t = 0; t < n; t++) {
        double mean = 0.0;
        for (int k = 0; k < S; k++) mean += src[(size_t)k * (size_t)n + t];
        mean /= S;
        if (!(fabs(mx[t] - mean) <= 1e-7))
            ck_abort_msg("mix t=%d: %.9g, want %.9g", t, (double)mx[t], mean);
    }
}

START_TEST(items_follow_the_specification)
{
    for (int i = 0; i < 300; i++) {
        ps_toy_split split = i % 2 ? PS_TOY_TEST : PS_TOY_TRAIN;
        ps_toy_item_params p;
        ps_toy_item(1 + (uint64_t)(i % 3), split, i, &p, sources, mix, N);
        check_params(&p);
        check_signals(&p, sources, mix, N);
    }
}
END_TEST

/* Short items are prefixes of full ones, down to less than one period. */
START_TEST(any_length_is_a_prefix)
{
    static float short_src[S * 1000], short_mix[1000];
    ps_toy_item_params p, q;
    ps_toy_item(7, PS_TOY_TRAIN, 42, &p, sources, mix, N);
    const int lengths[] = {1000, 5, 1};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        int n = lengths[l];
        ps_toy_item(7, PS_TOY_TRAIN, 42, &q, short_src, short_mix, n);
        ck_assert(same_params(&p, &q));
        for (int k = 0; k < S; k++)
            ck_assert_mem_eq(short_src + (size_t)k * n, sources + (size_t)k * N,
                             sizeof(float) * (size_t)n);
        ck_assert_mem_eq(short_mix, mix, sizeof(float) * (size_t)n);
        check_signals(&q, short_src, short_mix, n);
    }
}
END_TEST

START_TEST(keys_amplitudes_and_phases_are_spread_uniformly)
{
    enum { ITEMS = 2000, BINS = 10 };
    int count[BINS] = {0}, expect[BINS] = {0};
    double key_lo = INFINITY, key_hi = 0, amp_lo = 1, amp_hi = 0, amp_sum = 0;
    double phase_lo = 1, phase_hi = 0, phase_sum = 0;
    float s1[S], m1[1];
    for (int m = 1; m <= PS_TOY_KEYS; m++) expect[(m - 1) * BINS / PS_TOY_KEYS] += ITEMS * S;
    for (int i = 0; i < ITEMS; i++) {
        ps_toy_item_params p;
        ps_toy_item(3, i % 2 ? PS_TOY_TEST : PS_TOY_TRAIN, i, &p, s1, m1, 1);
        for (int k = 0; k < S; k++) {
            count[(p.key_tenths[k] - 1) * BINS / PS_TOY_KEYS]++;
            key_lo = fmin(key_lo, p.key[k]), key_hi = fmax(key_hi, p.key[k]);
            amp_lo = fmin(amp_lo, p.amp[k]), amp_hi = fmax(amp_hi, p.amp[k]);
            amp_sum += p.amp[k];
            double phase = (double)p.phase[k] / p.period[k];
            phase_lo = fmin(phase_lo, phase), phase_hi = fmax(phase_hi, phase);
            phase_sum += (p.phase[k] + 0.5) / p.period[k];
        }
    }
    /* Each key is drawn ~12 times: both ends of the grid show up (off-by-ones live there). */
    ck_assert(key_lo == 0.1 && key_hi == 64.9);
    /* expect[] holds ITEMS * S times the bin's number of keys; 9 degrees of freedom have
     * mean 9, and 40 is exceeded with probability ~5e-6. */
    double chi2 = 0;
    for (int b = 0; b < BINS; b++) {
        double e = (double)expect[b] / PS_TOY_KEYS;
        chi2 += (count[b] - e) * (count[b] - e) / e;
    }
    ck_assert_msg(chi2 < 40, "key histogram chi-square %g", chi2);
    /* 8000 draws: the means are within ~0.003 (one standard deviation) of 0.9 and 0.5. */
    ck_assert(amp_lo < 0.81 && amp_hi > 0.99);
    ck_assert(fabs(amp_sum / (ITEMS * S) - 0.9) < 0.005);
    ck_assert(phase_lo == 0 && phase_hi > 0.99);
    ck_assert(fabs(phase_sum / (ITEMS * S) - 0.5) < 0.02);
}
END_TEST

/* An item is a function of (seed, split, index) alone, in any order of calls. */
START_TEST(items_are_reproducible_and_distinct)
{
    static float other_src[S * N], other_mix[N];
    ps_toy_item_params p, q;
    ps_toy_item(11, PS_TOY_TEST, 5, &p, sources, mix, N);
    ps_toy_item(11, PS_TOY_TEST, 3, &q, other_src, other_mix, N);
    ps_toy_item(11, PS_TOY_TEST, 5, &q, other_src, other_mix, N);
    ck_assert(same_params(&p, &q));
    ck_assert_mem_eq(sources, other_src, sizeof sources);
    ck_assert_mem_eq(mix, other_mix, sizeof mix);
    const struct { uint64_t seed; ps_toy_split split; long index; } others[] = {
        {12, PS_TOY_TEST, 5}, {11, PS_TOY_TRAIN, 5}, {11, PS_TOY_TEST, 6}, {11, PS_TOY_TEST, 4}};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        ps_toy_item(others[i].seed, others[i].split, others[i].index, &q, other_src, other_mix, N);
        ck_assert(memcmp(p.key_tenths, q.key_tenths, sizeof p.key_tenths) != 0 ||
                  memcmp(p.phase, q.phase, sizeof p.phase) != 0);
        ck_assert(memcmp(mix, other_mix, sizeof mix) != 0);
    }
}
END_TEST

/* Pins the data set itself: a change here changes every published toy result. */
START_TEST(the_data_set_does_not_change)
{
    ps_toy_item_params p;
    float s1[S], m1[1];
    ps_toy_item(1, PS_TOY_TEST, 0, &p, s1, m1, 1);
    const int keys0[S] = {157, 41, 53, 549}, phases0[S] = {132, 353, 141, 0};
    const float amps0[S] = {0x1.e63516p-1f, 0x1.ca6b4cp-1f, 0x1.9ba81cp-1f, 0x1.c4a5d4p-1f};
    ck_assert_mem_eq(p.key_tenths, keys0, sizeof keys0);
    ck_assert_mem_eq(p.phase, phases0, sizeof phases0);
    ck_assert_mem_eq(p.amp, amps0, sizeof amps0);
    ps_toy_item(1, PS_TOY_TRAIN, 4999, &p, s1, m1, 1);
    const int keys1[S] = {285, 273, 617, 105}, phases1[S] = {51, 2, 3, 300};
    ck_assert_mem_eq(p.key_tenths, keys1, sizeof keys1);
    ck_assert_mem_eq(p.phase, phases1, sizeof phases1);
}
END_TEST

/* The period floor(14700 / f) must not hinge on the last bits of pow: for every key the
 * quotient is well away from an integer. */
START_TEST(periods_do_not_depend_on_rounding)
{
    for (int m = 1; m <= PS_TOY_KEYS; m++) {
        double q = 14700.0 / spec_freq(m / 10.0);
        ck_assert_msg(fabs(q - nearbyint(q)) > 1e-6 * q, "key %g: 14700/f = %.17g", m / 10.0, q);
        ck_assert(q >= 13 && q < 564); /* 26 Hz .. 1.1 kHz */
    }
}
END_TEST

START_TEST(names_and_splits)
{
    const char *names[S] = {"sine", "square", "sawtooth", "triangle"};
    for (int k = 0; k < S; k++) ck_assert_str_eq(ps_toy_source_names[k], names[k]);
    ps_toy_split split = PS_TOY_TEST;
    ck_assert_int_eq(ps_toy_split_parse("train", &split), 0);
    ck_assert_int_eq(split, PS_TOY_TRAIN);
    ck_assert_int_eq(ps_toy_split_parse("test", &split), 0);
    ck_assert_int_eq(split, PS_TOY_TEST);
    ck_assert_int_eq(ps_toy_split_parse("Train", &split), -1);
    ck_assert_int_eq(ps_toy_split_parse("", &split), -1);
    ck_assert_int_eq(split, PS_TOY_TEST);
    ck_assert_str_eq(ps_toy_split_name(PS_TOY_TRAIN), "train");
    ck_assert_str_eq(ps_toy_split_name(PS_TOY_TEST), "test");
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("toy");
    TCase *tc = tcase_create("toy");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, items_follow_the_specification);
    tcase_add_test(tc, any_length_is_a_prefix);
    tcase_add_test(tc, keys_amplitudes_and_phases_are_spread_uniformly);
    tcase_add_test(tc, items_are_reproducible_and_distinct);
    tcase_add_test(tc, the_data_set_does_not_change);
    tcase_add_test(tc, periods_do_not_depend_on_rounding);
    tcase_add_test(tc, names_and_splits);
    suite_add_tcase(s, tc);
    return s;
}
