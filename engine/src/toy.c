#include "priorsep/toy.h"

#include <math.h>
#include <string.h>

#include "priorsep/rng.h"

const char *const ps_toy_source_names[PS_TOY_SOURCES] = {"sine", "square", "sawtooth",
                                                         "triangle"};

int ps_toy_split_parse(const char *name, ps_toy_split *out)
{
    if (strcmp(name, "train") == 0) *out = PS_TOY_TRAIN;
    else if (strcmp(name, "test") == 0) *out = PS_TOY_TEST;
    else return -1;
    return 0;
}

const char *ps_toy_split_name(ps_toy_split split)
{
    return split == PS_TOY_TRAIN ? "train" : "test";
}

/* splitmix64's finalizer: chaining it over (seed, split, index) gives every item its own
 * well-mixed PRNG seed, so an item never depends on the ones drawn before it. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in 0..n-1 without modulo bias: draws below 2^64 mod n are rejected, which
 * leaves a multiple of n equally likely values. */
static int uniform_below(ps_rng *rng, int n)
{
    uint64_t reject = (0 - (uint64_t)n) % (uint64_t)n, x;
    do x = ps_rng_u64(rng);
    while (x < reject);
    return (int)(x % (uint64_t)n);
}

/* One period of the unit waveform at u = r / P. Every value but the sine is a single
 * division of exact integers, so it is the same in every build (FMA contraction or not). */
static double wave(int source, int r, int P)
{
    switch (source) {
    case 0: return sin(6.283185307179586476925 * r / P);
    case 1: return 2 * r < P ? 1.0 : -1.0;
    case 2: return (double)(2 * r - P) / P;
    default: return 2 * r < P ? (double)(4 * r - P) / P : (double)(3 * P - 4 * r) / P;
    }
}

void ps_toy_item(uint64_t seed, ps_toy_split split, long index, ps_toy_item_params *p,
                 float *sources, float *mix, int n)
{
    ps_rng rng;
    ps_rng_seed(&rng, mix64(mix64(mix64(seed) ^ (uint64_t)split) ^ (uint64_t)index));
    for (int k = 0; k < PS_TOY_SOURCES; k++) {
        int m = 1 + uniform_below(&rng, PS_TOY_KEYS);
        p->key_tenths[k] = m;
        p->key[k] = m / 10.0;
        p->freq[k] = 440.0 * exp2((m - 490) / 120.0);
        /* floor(14700 / f) is at least 6.7e-6 (relative) away from an integer for every
         * key, far beyond any libm's error: the period is the same everywhere. */
        int P = (int)floor(PS_TOY_RATE / p->freq[k]);
        p->period[k] = P;
        p->phase[k] = uniform_below(&rng, P);
        /* (4 + u) / 5 rather than 0.8 + 0.2 u: no multiply-add to contract. */
        p->amp[k] = (float)((4.0 + (double)ps_rng_uniform(&rng)) / 5.0);

        /* One period is computed; the rest repeats it, exactly periodic by construction. */
        float *s = sources + (size_t)k * (size_t)n;
        int r = p->phase[k];
        for (int t = 0; t < n && t < P; t++) {
            s[t] = (float)(p->amp[k] * wave(k, r, P));
            if (++r == P) r = 0;
        }
        for (int t = P; t < n; t++) s[t] = s[t - P];
    }
    ps_toy_mix(sources, mix, n);
}

void ps_toy_mix(const float *sources, float *mix, int n)
{
    for (int t = 0; t < n; t++) {
        double sum = 0.0; /* four floats sum almost exactly in double: mix is the mean */
        for (int k = 0; k < PS_TOY_SOURCES; k++) sum += sources[(size_t)k * (size_t)n + t];
        mix[t] = (float)(sum / PS_TOY_SOURCES);
    }
}
