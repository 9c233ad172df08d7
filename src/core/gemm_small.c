/*
 * gemm_small.c
 *	  Small-M sgemm with AVX-512: register blocks of 6 rows x 64 columns
 *	  (24 zmm accumulators), B read straight from the weights, one FMA chain
 *	  per accumulator along k (in order).
 */
#include "gemm_small.h"

/* the row loops must be unrolled so the accumulators live in registers */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3", "unroll-loops")
#endif

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define MAX_M 320			/* measured: above ~300 rows OpenBLAS's packed kernels win */
#ifndef PF
#define PF 16				/* prefetch distance in rows of B */
#endif				/* above this OpenBLAS's packed kernels win */

static int	g_state = -1;		/* -1 unknown, 0 off, 1 on */

/* Enable or disable the kernel (tests and benchmarks compare both paths). */
void
fi_gemm_small_enable(bool on)
{
	g_state = on && __builtin_cpu_supports("avx512f") ? 1 : 0;
}

/* Whether this shape goes to gemm_small. */
bool
fi_gemm_small_ok(int m, int n, int k)
{
	if (g_state < 0)
	{
		const char *e = getenv("FACEID_OWN_KERNELS");

		fi_gemm_small_enable(e == NULL || strcmp(e, "0") != 0);
	}
	return g_state == 1 && m >= 1 && m <= MAX_M && n % 64 == 0 && k >= 1;
}

/* One block: rows [0, MR) x 64 columns; MR is a compile-time constant. */
#define BLOCK(MR) \
__attribute__((target("avx512f"))) static void \
block_##MR(int k, int n, const float *a, const float *b, float *c) \
{ \
	__m512		acc[MR][4]; \
	_Pragma("GCC unroll 8") \
	for (int i = 0; i < MR; i++) \
		for (int j = 0; j < 4; j++) \
			acc[i][j] = _mm512_setzero_ps(); \
	for (int p = 0; p < k; p++) \
	{ \
		const float *br = b + (size_t) p * n; \
		__m512		b0 = _mm512_loadu_ps(br), \
					b1 = _mm512_loadu_ps(br + 16), \
					b2 = _mm512_loadu_ps(br + 32), \
					b3 = _mm512_loadu_ps(br + 48); \
		_mm_prefetch((const char *) (br + PF * n), _MM_HINT_T0); \
		_mm_prefetch((const char *) (br + PF * n + 16), _MM_HINT_T0); \
		_mm_prefetch((const char *) (br + PF * n + 32), _MM_HINT_T0); \
		_mm_prefetch((const char *) (br + PF * n + 48), _MM_HINT_T0); \
		_Pragma("GCC unroll 8") \
		for (int i = 0; i < MR; i++) \
		{ \
			__m512		ai = _mm512_set1_ps(a[(size_t) i * k + p]); \
			acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]); \
			acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]); \
			acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]); \
			acc[i][3] = _mm512_fmadd_ps(ai, b3, acc[i][3]); \
		} \
	} \
	for (int i = 0; i < MR; i++) \
		for (int j = 0; j < 4; j++) \
			_mm512_storeu_ps(c + (size_t) i * n + 16 * j, acc[i][j]); \
}

BLOCK(1)
BLOCK(2)
BLOCK(3)
BLOCK(4)
BLOCK(5)
BLOCK(6)

typedef void (*block_fn) (int, int, const float *, const float *, float *);
static const block_fn blocks[7] = {NULL, block_1, block_2, block_3, block_4, block_5, block_6};

/* C = A * B: 64-column panels outer (B panel stays in L2), 6-row blocks inner. */
void
fi_gemm_small(int m, int n, int k, const float *a, const float *b, float *c)
{
	for (int j = 0; j < n; j += 64)
		for (int i = 0; i < m; i += 6)
		{
			int			mr = m - i < 6 ? m - i : 6;

			blocks[mr] (k, n, a + (size_t) i * k, b + j, c + (size_t) i * n + j);
		}
}
