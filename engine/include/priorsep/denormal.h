/* Flush-to-zero / denormals-are-zero for the processing thread. Subnormal floats are
 * 10-100x slower on x86 and appear in decaying recurrent state. */
#ifndef PRIORSEP_DENORMAL_H
#define PRIORSEP_DENORMAL_H

/* Turns FTZ and DAZ on for the calling thread; returns the previous control word so
 * that ps_denormals_restore() can put it back. No system call. */
unsigned ps_denormals_off(void);
void ps_denormals_restore(unsigned saved);
/* Nonzero when the calling thread flushes denormals (both FTZ and DAZ on x86). */
int ps_denormals_are_off(void);

#endif
