/* The toy data of the design (section 5): four periodic sources per item (sine, square,
 * sawtooth, triangle) at 14,700 Hz and their mixture. An item is a pure function of
 * (seed, split, index), so the trainer and the evaluation make any item directly, with
 * no files and without the items before it, and get the same bits every time. */
#ifndef PRIORSEP_TOY_H
#define PRIORSEP_TOY_H
#include <stdint.h>

#define PS_TOY_SOURCES 4
#define PS_TOY_RATE 14700
#define PS_TOY_ITEM_SAMPLES 48000
#define PS_TOY_TRAIN_ITEMS 5000
#define PS_TOY_TEST_ITEMS 1500
#define PS_TOY_KEYS 649 /* keys 0.1, 0.2, ..., 64.9 */

/* In source order: "sine", "square", "sawtooth", "triangle". */
extern const char *const ps_toy_source_names[PS_TOY_SOURCES];

typedef enum { PS_TOY_TRAIN, PS_TOY_TEST } ps_toy_split;

/* "train" or "test"; returns -1 (and leaves *out alone) for anything else. */
int ps_toy_split_parse(const char *name, ps_toy_split *out);
const char *ps_toy_split_name(ps_toy_split split);

/* What was drawn for each source of an item. key = key_tenths / 10, and
 * freq = 440 * 2^((key - 49) / 12) Hz, computed as 440 * exp2((key_tenths - 490) / 120)
 * so that the exponent is rounded once; period = floor(PS_TOY_RATE / freq) samples;
 * 0 <= phase < period. */
typedef struct ps_toy_item_params {
    int key_tenths[PS_TOY_SOURCES]; /* 1..PS_TOY_KEYS */
    double key[PS_TOY_SOURCES];
    double freq[PS_TOY_SOURCES];
    int period[PS_TOY_SOURCES];
    int phase[PS_TOY_SOURCES];
    float amp[PS_TOY_SOURCES]; /* in [0.8, 1.0] */
} ps_toy_item_params;

/* Item `index` (>= 0) of a split: its parameters, its n >= 1 first samples of every
 * source (sources[k * n + t], k in source order) and of the mixture.
 *
 * Sample t of source k is amp[k] * w_k(u) with u = ((t + phase) mod period) / period:
 * sine sin(2 pi u); square +1 for u < 1/2, else -1; sawtooth 2u - 1; triangle 4u - 1
 * for u < 1/2, else 3 - 4u. The sources are returned scaled by their amplitudes, as the
 * separator must recover them, and mix = sum_k w_k sources[k] with w_k = 1/4 (the mean).
 * A shorter n gives a prefix of a longer one. */
void ps_toy_item(uint64_t seed, ps_toy_split split, long index, ps_toy_item_params *p,
                 float *sources, float *mix, int n);

/* mix[t] = the mean of sources[k * n + t] over the four sources (what ps_toy_item
 * writes); for items whose sources were changed after they were made. */
void ps_toy_mix(const float *sources, float *mix, int n);

#endif
