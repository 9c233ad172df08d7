/*
 * gemm_small.h
 *	  Our own sgemm for the small-M convs of the later layers
 *	  (C[M][N] = A[M][K] * B[K][N] with M <= 320 output pixels, N a multiple
 *	  of 64: 17x17, 8x8, 4x4, 3x3 and 1x1 outputs against up to 2304x256
 *	  weights).  OpenBLAS packs B on every call, which costs as much as the
 *	  arithmetic when M is this small; this kernel reads B in place with
 *	  software prefetch.  32-channel outputs (any M) have their own blocks and
 *	  a direct conv that skips im2col.  AVX-512 only; the sgemm path stays the
 *	  reference (and the fallback) and is measured against it.
 */
#ifndef FI_GEMM_SMALL_H
#define FI_GEMM_SMALL_H

#include <stdbool.h>

/* True when gemm_small can run this shape on this CPU (and is enabled). */
bool		fi_gemm_small_ok(int m, int n, int k);

/*
 * C = A * B, row-major, lda = k, ldb = ldc = n, then per element
 * ((c + bias[col]) + res[row][col]) and relu, fused into the store
 * (bias / res NULL, relu false: skipped).
 */
void		fi_gemm_small(int m, int n, int k, const float *a, const float *b, float *c,
						  const float *bias, const float *res, bool relu);

/* Largest kernel side of fi_conv32_direct. */
#define FI_CONV32_MAX_K 7

/*
 * Direct conv to 32 output channels (the stem and the 35x35 blocks) when
 * fi_gemm_small_ok(hout*wout, 32, k*k*cin) and k <= FI_CONV32_MAX_K: x is the
 * NHWC input with the padding already in it (win columns), w is HWIO
 * [k][k][cin][32], y is [hout][wout][32].  Same sums, same order as
 * im2col + fi_gemm_small, and the same fused bias / residual / relu.
 */
void		fi_conv32_direct(int hout, int wout, int k, int stride, int cin, int win,
							 const float *x, const float *w, float *y,
							 const float *bias, const float *res, bool relu);

/* Enable/disable the own kernels (default: on unless env FACEID_OWN_KERNELS=0). */
void		fi_gemm_small_enable(bool on);

#endif							/* FI_GEMM_SMALL_H */
