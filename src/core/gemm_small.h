/*
 * gemm_small.h
 *	  Our own sgemm for the few-rows case the late conv layers produce
 *	  (C[M][N] = A[M][K] * B[K][N] with M <= ~16, e.g. 4x4 or 3x3 outputs
 *	  against 256x2304 weights).  OpenBLAS packs B on every call, which costs
 *	  as much as the arithmetic when M is this small; this kernel streams B
 *	  straight from the weights.  AVX-512 only; the sgemm path stays the
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
