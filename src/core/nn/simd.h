/*
 * simd.h
 *	  GCC vector types and the function-clone attribute shared by the
 *	  hand-vectorised conv kernels (fastconv.c, winograd.c).
 */
#ifndef FI_SIMD_H
#define FI_SIMD_H

/* 8 floats; the "u" type allows unaligned loads/stores. */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
typedef int vi8 __attribute__((vector_size(32)));

#pragma GCC diagnostic ignored "-Wpsabi"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FI_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FI_CLONES
#endif

#endif							/* FI_SIMD_H */
