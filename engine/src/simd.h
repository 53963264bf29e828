/* Compile a hot loop for several instruction sets and pick one at load time (GCC/clang
 * function multiversioning, resolved once through an ifunc: no cost per call). The
 * baseline build targets plain x86-64 so Debian packages run everywhere. */
#ifndef PRIORSEP_SIMD_H
#define PRIORSEP_SIMD_H

#if defined(__x86_64__) && defined(__ELF__) && !defined(__clang__)
#define PS_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__ELF__) && defined(__clang__) && __clang_major__ >= 14
#define PS_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define PS_SIMD_CLONES
#endif

#endif
