/* G.711-style mu-law companding with mu = 255 over amplitudes in [-1, 1] and 256 bins. */
#ifndef PRIORSEP_MULAW_H
#define PRIORSEP_MULAW_H

#define PS_MULAW_BINS 256

int ps_mulaw_encode(float x);      /* amplitude (clamped to [-1, 1]) -> bin 0..255 */
float ps_mulaw_decode(int bin);    /* bin 0..255 -> amplitude at the bin centre */

#endif
