#include "priorsep/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ps_rng_seed(ps_rng *r, uint64_t seed)
{
    r->s[0] = splitmix64(&seed);
    r->s[1] = splitmix64(&seed);
}

/* xoroshiro128+ */
uint64_t ps_rng_u64(ps_rng *r)
{
    uint64_t s0 = r->s[0], s1 = r->s[1];
    uint64_t out = s0 + s1;
    s1 ^= s0;
    r->s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    r->s[1] = (s1 << 37) | (s1 >> 27);
    return out;
}

float ps_rng_uniform(ps_rng *r)
{
    /* 24 random bits, offset by half a step: never exactly 0 or 1. */
    return ((float)(ps_rng_u64(r) >> 40) + 0.5f) * (1.0f / 16777216.0f);
}

float ps_rng_normal(ps_rng *r)
{
    /* Box-Muller; one of the pair is dropped to keep the state a plain PRNG. */
    float u1 = ps_rng_uniform(r), u2 = ps_rng_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

void ps_rng_fill_normal(ps_rng *r, float *v, size_t n, float std)
{
    for (size_t i = 0; i < n; i++) v[i] = std * ps_rng_normal(r);
}
