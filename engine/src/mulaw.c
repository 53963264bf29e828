#include "priorsep/mulaw.h"

#include <math.h>

#define MU 255.0f

int ps_mulaw_encode(float x)
{
    if (!(x > -1.0f)) x = -1.0f; /* also maps NaN to the lowest bin */
    if (x > 1.0f) x = 1.0f;
    float y = copysignf(log1pf(MU * fabsf(x)) / logf(1.0f + MU), x);
    int bin = (int)floorf((y + 1.0f) * 0.5f * (PS_MULAW_BINS - 1) + 0.5f);
    return bin < 0 ? 0 : bin > PS_MULAW_BINS - 1 ? PS_MULAW_BINS - 1 : bin;
}

float ps_mulaw_decode(int bin)
{
    if (bin < 0) bin = 0;
    if (bin > PS_MULAW_BINS - 1) bin = PS_MULAW_BINS - 1;
    float y = 2.0f * (float)bin / (PS_MULAW_BINS - 1) - 1.0f;
    return copysignf((powf(1.0f + MU, fabsf(y)) - 1.0f) / MU, y);
}
