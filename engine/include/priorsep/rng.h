/* Small seeded PRNG (xoshiro128+ style state advanced by splitmix64) so that every
 * random choice in priorsep is reproducible from one 64-bit seed. */
#ifndef PRIORSEP_RNG_H
#define PRIORSEP_RNG_H
#include <stddef.h>
#include <stdint.h>

typedef struct ps_rng {
    uint64_t s[2];
} ps_rng;

void ps_rng_seed(ps_rng *r, uint64_t seed);
uint64_t ps_rng_u64(ps_rng *r);
float ps_rng_uniform(ps_rng *r);   /* in the open interval (0, 1) */
float ps_rng_normal(ps_rng *r);    /* standard normal */
/* v[0..n-1] = std * ps_rng_normal(r), drawn in index order. */
void ps_rng_fill_normal(ps_rng *r, float *v, size_t n, float std);

#endif
