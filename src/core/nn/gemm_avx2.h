/*
 * gemm_avx2.h
 *	  gemm_small's kernels for CPUs with AVX2 + FMA but no AVX-512: blocks of
 *	  up to 6 rows x 16 columns (12 ymm accumulators), B read in place.
 */
#ifndef FI_GEMM_AVX2_H
#define FI_GEMM_AVX2_H

#include <stdbool.h>

/*
 * The fused epilogue of a block, shared by the AVX-512 (gemm_small.c) and
 * AVX2 kernels: bias, residual, relu (NULL / false = none).
 */
typedef struct ep
{
	const float *bias;			/* [n], this panel's columns */
	const float *res;			/* residual, same layout and offset as c */
	bool		relu;
} ep;

/*
 * C[m][n] = sum over taps t < ntap and ci < cin of
 * A[i*lda + off[t] + ci] * B[(t*cin + ci)*n + col], n % 16 == 0, then
 * ((c + bias[col]) + res[i][col]) and relu as in fi_gemm_small.  A plain
 * matrix is ntap = 1, off = {0}, cin = lda = k; a direct conv reads A from
 * the padded NHWC input (off = the taps' offsets, lda = stride * cin).
 */
void		fi_gemm_small_avx2(int m, int n, int ntap, const int *off, int cin, int lda,
							   const float *a, const float *b, float *c,
							   const float *bias, const float *res, bool relu);

#endif							/* FI_GEMM_AVX2_H */
