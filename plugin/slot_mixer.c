#include "slot_mixer.h"

#include <math.h>
#include <string.h>

#define GLIDE_SECONDS 0.01
/* This close (-80 dB), a glide lands on its target, so that a muted slot is 0. Float
 * steps near 1 are 6e-8: at 192 kHz (coef 5e-4) the glide would stall from 1e-4 on. */
#define GLIDE_SNAP 1e-4f

static float glide(float now, float target, float coef)
{
    now += coef * (target - now);
    return fabsf(target - now) < GLIDE_SNAP ? target : now;
}

/* The linear gain each slot is heading for. */
static void targets(const slot_controls *c, int n_sources, float *g)
{
    int any_solo = 0;
    for (int k = 0; k < n_sources && k < SLOTS; k++) any_solo |= c->solo[k];
    for (int k = 0; k < SLOTS; k++) {
        int audible = k < n_sources && !c->mute[k] && (!any_solo || c->solo[k]);
        g[k] = audible && c->gain_db[k] > SLOT_GAIN_MIN_DB ? powf(10.0f, c->gain_db[k] / 20.0f)
                                                          : 0.0f;
    }
}

void slot_mixer_init(slot_mixer *m, double rate, const slot_controls *c, int n_sources)
{
    m->coef = (float)(1.0 - exp(-1.0 / (GLIDE_SECONDS * rate)));
    targets(c, n_sources, m->gain);
    m->bypass = c->enabled ? 0.0f : 1.0f;
}

static float clampf(float v, float lo, float hi, float fallback)
{
    if (isnan(v)) return fallback;
    return v < lo ? lo : v > hi ? hi : v;
}

static int toggle(const float *v, int fallback)
{
    return v && !isnan(*v) ? *v > 0.5f : fallback;
}

void slot_controls_read(slot_controls *c, const float *const *gain_db,
                        const float *const *mute, const float *const *solo,
                        const float *enabled)
{
    for (int k = 0; k < SLOTS; k++) {
        c->gain_db[k] =
            gain_db[k] ? clampf(*gain_db[k], SLOT_GAIN_MIN_DB, SLOT_GAIN_MAX_DB, 0.0f) : 0.0f;
        c->mute[k] = toggle(mute[k], 0);
        c->solo[k] = toggle(solo[k], 0);
    }
    c->enabled = toggle(enabled, 1);
}

void slot_mixer_run(slot_mixer *m, const slot_controls *c, int n_sources, const float *w,
                    const float *const *src, int n, float *const *out)
{
    float g_to[SLOTS], b_to = c->enabled ? 0.0f : 1.0f;
    targets(c, n_sources, g_to);
    int N = n_sources < SLOTS ? n_sources : SLOTS;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < SLOTS; k++) m->gain[k] = glide(m->gain[k], g_to[k], m->coef);
        m->bypass = glide(m->bypass, b_to, m->coef);
        float part[SLOTS] = {0}, sum = 0.0f;
        for (int k = 0; k < n_sources; k++) {
            float v = w[k] * src[k][i];
            if (k < N) part[k] = v;
            sum += v;
        }
        for (int k = 0; k < SLOTS; k++)
            out[k][i] = (1.0f - m->bypass) * m->gain[k] * part[k] +
                        (k == 0 ? m->bypass * sum : 0.0f);
    }
}
