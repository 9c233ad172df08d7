/*
 * gemm_small.h
 *	  Our own sgemm for the small-M convs of the later layers
 *	  (C[M][N] = A[M][K] * B[K][N] with M <= 320 output pixels, N a multiple
 *	  of 64: 17x17, 8x8, 4x4, 3x3 and 1x1 outputs against up to 2304x256
 *	  weights).  OpenBLAS packs B on every call, which costs as much as the
 *	  arithmetic when M is this small; this kernel reads B in place with
 *	  software prefetch.  AVX-512 only; the sgemm path stays the
 *	  reference (and the fallback) and is measured against it.
 */
#ifndef FI_GEMM_SMALL_H
#define FI_GEMM_SMALL_H

#include <stdbool.h>

/* True when gemm_small can run this shape on this CPU (and is enabled). */
bool		fi_gemm_small_ok(int m, int n, int k);

/* C = A * B, row-major, lda = k, ldb = ldc = n. */
void		fi_gemm_small(int m, int n, int k, const float *a, const float *b, float *c);

/* Enable/disable the own kernels (default: on unless env FACEID_OWN_KERNELS=0). */
void		fi_gemm_small_enable(bool on);

#endif							/* FI_GEMM_SMALL_H */
