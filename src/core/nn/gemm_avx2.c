/*
 * gemm_avx2.c
 *	  gemm_small for AVX2 + FMA (gemm_avx2.h): for each 16-column panel of B
 *	  (which stays in L1/L2), blocks of 6 rows; one FMA chain per
 *	  accumulator along k, in (tap, ci) order like im2col.
 */
#include "nn/gemm_avx2.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3")
#endif

#include <immintrin.h>
#include <stddef.h>

/* Rows of a block: 6 x 2 ymm accumulators + 2 of B + 1 broadcast of A = 15 registers. */
#define MR_MAX 6

/* Store one accumulator: ((acc + bias) + res), then relu: the order of layers.c's bias_act. */
__attribute__((target("avx2,fma"))) static inline void
store8(float *c, __m256 v, const ep *e, int col, size_t at)
{
	if (e->bias != NULL)
		v = _mm256_add_ps(v, _mm256_loadu_ps(e->bias + col));
	if (e->res != NULL)
		v = _mm256_add_ps(v, _mm256_loadu_ps(e->res + at));
	if (e->relu)
		v = _mm256_max_ps(v, _mm256_setzero_ps());	/* -0 and NaN -> +0, as x > 0 ? x : 0 */
	_mm256_storeu_ps(c, v);
}

/* Row i of a block: acc_i0/1 += a[i] * (b0, b1), if the block has that row. */
#define ROW_FMA(i) \
	if (mr_ > i) \
	{ \
		__m256		ai = _mm256_broadcast_ss(at + (size_t) (i) * lda + ci); \
		acc##i##0 = _mm256_fmadd_ps(ai, b0, acc##i##0); \
		acc##i##1 = _mm256_fmadd_ps(ai, b1, acc##i##1); \
	}

/* Store row i of a block. */
#define ROW_STORE(i) \
	if (mr_ > i) \
	{ \
		store8(c + (size_t) (i) * n, acc##i##0, e, 0, (size_t) (i) * n); \
		store8(c + (size_t) (i) * n + 8, acc##i##1, e, 8, (size_t) (i) * n + 8); \
	}

/*
 * One block of MR rows x 16 columns; MR is a compile-time constant.  The
 * accumulators are named variables, not an array: GCC spills an array of
 * 12 ymm to the stack in the inner loop.
 */
#define BLOCK(MR) \
__attribute__((target("avx2,fma"))) static void \
block_##MR(int ntap, const int *off, int cin, int lda, const float *a, const float *b, \
		   int n, float *c, const ep *e) \
{ \
	const int	mr_ = MR; \
	__m256		acc00 = _mm256_setzero_ps(), acc01 = acc00, acc10 = acc00, acc11 = acc00, \
				acc20 = acc00, acc21 = acc00, acc30 = acc00, acc31 = acc00, \
				acc40 = acc00, acc41 = acc00, acc50 = acc00, acc51 = acc00; \
	for (int t = 0; t < ntap; t++) \
	{ \
		const float *at = a + off[t]; \
		for (int ci = 0; ci < cin; ci++, b += n) \
		{ \
			__m256		b0 = _mm256_loadu_ps(b), \
						b1 = _mm256_loadu_ps(b + 8); \
			ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5) \
		} \
	} \
	ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5) \
}

BLOCK(1)
BLOCK(2)
BLOCK(3)
BLOCK(4)
BLOCK(5)
BLOCK(6)

typedef void (*block_fn) (int, const int *, int, int, const float *, const float *, int,
						  float *, const ep *);
static const block_fn blocks[MR_MAX + 1] = {NULL, block_1, block_2, block_3, block_4, block_5,
block_6};

/* C = A * B over 16-column panels (outer) and 6-row blocks (inner). */
void
fi_gemm_small_avx2(int m, int n, int ntap, const int *off, int cin, int lda,
				   const float *a, const float *b, float *c,
				   const float *bias, const float *res, bool relu)
{
	for (int j = 0; j < n; j += 16)
		for (int i = 0; i < m; i += MR_MAX)
		{
			int			mr = m - i < MR_MAX ? m - i : MR_MAX;
			ep			e = {bias ? bias + j : NULL, res ? res + (size_t) i * n + j : NULL, relu};

			blocks[mr] (ntap, off, cin, lda, a + (size_t) i * lda, b + j, n,
						c + (size_t) i * n + j, &e);
		}
}
