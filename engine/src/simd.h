/* Compile an elementwise hot loop for several instruction sets and pick one at load time
 * (GCC function multiversioning through an ifunc: no cost per call). The baseline build
 * targets plain x86-64 so Debian packages run everywhere. Clang 14 does not export the
 * versioned function under its plain name to other files, so clang builds (the
 * sanitizer test build) get the baseline loop. The matrix kernel has its own dispatch
 * (gemm.c). */
#ifndef PRIORSEP_SIMD_H
#define PRIORSEP_SIMD_H

#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__)
#define PS_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PS_SIMD_CLONES
#endif

#endif
