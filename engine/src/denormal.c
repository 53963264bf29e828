#include "priorsep/denormal.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FTZ_DAZ 0x8040u /* MXCSR bit 15 flush-to-zero, bit 6 denormals-are-zero */

unsigned ps_denormals_off(void)
{
    unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | FTZ_DAZ);
    return saved;
}

void ps_denormals_restore(unsigned saved) { _mm_setcsr(saved); }

int ps_denormals_are_off(void) { return (_mm_getcsr() & FTZ_DAZ) == FTZ_DAZ; }

#elif defined(__aarch64__)
#define FPCR_FZ (1ull << 24)

static unsigned long long get_fpcr(void)
{
    unsigned long long v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}

static void set_fpcr(unsigned long long v) { __asm__ volatile("msr fpcr, %0" : : "r"(v)); }

unsigned ps_denormals_off(void)
{
    unsigned long long saved = get_fpcr();
    set_fpcr(saved | FPCR_FZ);
    return (unsigned)saved;
}

void ps_denormals_restore(unsigned saved) { set_fpcr(saved); }

int ps_denormals_are_off(void) { return (get_fpcr() & FPCR_FZ) != 0; }

#else
#error "priorsep: no flush-to-zero control for this architecture"
#endif
