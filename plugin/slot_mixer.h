/* What the plugin's controls do to the separated sources: per slot a gain in dB, mute and
 * solo, and bypass. Slot k carries source k as it sits in the mixture (w_k s_k, so that
 * the slots add up to the input); bypassed, slot 1 carries that sum (the input, delayed
 * by the plugin's latency: the mixture-consistency projection makes the weighted sources
 * add up to it exactly) and the other slots are silent. Every change glides over about
 * 10 ms so that a control moved mid-note does not click. Real-time safe. */
#ifndef PRIORSEP_SLOT_MIXER_H
#define PRIORSEP_SLOT_MIXER_H

#define SLOTS 4
#define SLOT_GAIN_MIN_DB -60.0f /* and below: silence */
#define SLOT_GAIN_MAX_DB 12.0f

typedef struct slot_controls {
    float gain_db[SLOTS];
    int mute[SLOTS], solo[SLOTS];
    int enabled; /* 0: bypass */
} slot_controls;

typedef struct slot_mixer {
    float coef;            /* one-pole glide per sample */
    float gain[SLOTS];     /* current linear gains (enabled path) */
    float bypass;          /* current bypass amount, 0..1 */
} slot_mixer;

void slot_mixer_init(slot_mixer *m, double rate, const slot_controls *c, int n_sources);
/* The controls as the host sent them, clamped: NaN or absurd values become defaults or
 * limits. raw: gain_db[4], mute[4], solo[4], enabled, each NULL-able (default). */
void slot_controls_read(slot_controls *c, const float *const *gain_db,
                        const float *const *mute, const float *const *solo,
                        const float *enabled);
/* src[k] (k < n_sources) holds n samples of source k (s_k); w its mixing weight. Writes
 * all SLOTS outputs (slots past n_sources are silent; sources past SLOTS are heard only
 * in the bypass sum). out[k] may be src[k]. */
void slot_mixer_run(slot_mixer *m, const slot_controls *c, int n_sources, const float *w,
                    const float *const *src, int n, float *const *out);

#endif
