/*
 * gemm_small.c
 *	  Small-M sgemm with AVX-512: register blocks of 6 rows x 64 columns
 *	  (24 zmm accumulators), B read straight from the weights, one FMA chain
 *	  per accumulator along k (in order).  32-column outputs (any M) use
 *	  blocks of 12 rows x 32 columns, also 24 accumulators.
 */
#include "nn/gemm_small.h"
#include "nn/gemm_avx2.h"

/* the row loops must be unrolled so the accumulators live in registers */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3", "unroll-loops")
#endif

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define MAX_M 320			/* measured: above ~300 rows OpenBLAS's packed kernels win */
#ifndef MAX_M_AVX2
#define MAX_M_AVX2 400		/* with AVX2 the 18x18 (324-row) layers still gain */
#endif
#ifndef PF
#define PF 16				/* prefetch distance in rows of B */
#endif

static int	g_state = -1;		/* -1 unknown, 0 off, 1 AVX-512, 2 AVX2 + FMA */

/* Enable or disable the kernel (tests and benchmarks compare both paths). */
void
fi_gemm_small_enable(bool on)
{
	if (!on)
		g_state = 0;
	else if (__builtin_cpu_supports("avx512f"))
		g_state = 1;
	else
		g_state = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 2 : 0;
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
	if (g_state < 1 || m < 1 || k < 1)
		return false;
	/* 32 columns: B (k x 32) stays in L1/L2 whatever m is, so no packing ever pays off */
	return n == 32 || (m <= (g_state == 2 ? MAX_M_AVX2 : MAX_M) && n % 64 == 0);
}

/* Store one accumulator: ((acc + bias) + res), then relu: the order of layers.c's bias_act. */
__attribute__((target("avx512f"))) static inline void
store(float *c, __m512 v, const ep *e, int col, size_t at)
{
	if (e->bias != NULL)
		v = _mm512_add_ps(v, _mm512_loadu_ps(e->bias + col));
	if (e->res != NULL)
		v = _mm512_add_ps(v, _mm512_loadu_ps(e->res + at));
	if (e->relu)
		v = _mm512_max_ps(v, _mm512_setzero_ps());	/* -0 and NaN -> +0, as x > 0 ? x : 0 */
	_mm512_storeu_ps(c, v);
}

#define PRAGMA(x) _Pragma(#x)

/* acc[i][0..1] += ai * (b0, b1) */
#define FMA2(i, ai) \
	acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]); \
	acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1])

/* acc[i][0..3] += ai * (b0, b1, b2, b3) */
#define FMA4(i, ai) \
	FMA2(i, ai); \
	acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]); \
	acc[i][3] = _mm512_fmadd_ps(ai, b3, acc[i][3])

/*
 * The inner step of both kernels: for each of the MR rows, broadcast its
 * element of A (AROW, an expression in i) and multiply-add it into the NB
 * accumulators of the row (NB = 2 or 4 loaded vectors of B).
 */
#define FMA_ROWS(MR, UNROLL, AROW, NB) \
	PRAGMA(GCC unroll UNROLL) \
	for (int i = 0; i < MR; i++) \
	{ \
		__m512		ai = _mm512_set1_ps(AROW); \
		FMA##NB(i, ai); \
	}

/* One block: rows [0, MR) x 64 columns; MR is a compile-time constant. */
#define BLOCK(MR) \
__attribute__((target("avx512f"))) static void \
block_##MR(int k, int n, const float *a, const float *b, float *c, const ep *e) \
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
		FMA_ROWS(MR, 8, a[(size_t) i * k + p], 4) \
	} \
	for (int i = 0; i < MR; i++) \
		for (int j = 0; j < 4; j++) \
			store(c + (size_t) i * n + 16 * j, acc[i][j], e, 16 * j, (size_t) i * n + 16 * j); \
}

BLOCK(1)
BLOCK(2)
BLOCK(3)
BLOCK(4)
BLOCK(5)
BLOCK(6)

/*
 * One block of MR output pixels x 32 channels: the sum over taps t and input
 * channels ci of a[i*lda + off[t] + ci] * b[(t*cin + ci)*32 + 0..31], i.e. a
 * conv read straight from the (padded) NHWC input, k in (tap, ci) order like
 * im2col.  A plain matrix is ntap = 1, off = {0}, cin = lda = k.
 */
#define BLOCK32(MR) \
__attribute__((target("avx512f"))) static void \
block32_##MR(int ntap, const int *off, int cin, int lda, const float *a, const float *b, \
			 float *c, const ep *e) \
{ \
	__m512		acc[MR][2]; \
	_Pragma("GCC unroll 12") \
	for (int i = 0; i < MR; i++) \
		acc[i][0] = acc[i][1] = _mm512_setzero_ps(); \
	for (int t = 0; t < ntap; t++) \
	{ \
		const float *at = a + off[t]; \
		for (int ci = 0; ci < cin; ci++, b += 32) \
		{ \
			__m512		b0 = _mm512_loadu_ps(b), \
						b1 = _mm512_loadu_ps(b + 16); \
			_mm_prefetch((const char *) (b + PF * 32), _MM_HINT_T0); \
			_mm_prefetch((const char *) (b + PF * 32 + 16), _MM_HINT_T0); \
			FMA_ROWS(MR, 12, at[(size_t) i * lda + ci], 2) \
		} \
	} \
	for (int i = 0; i < MR; i++) \
	{ \
		store(c + (size_t) i * 32, acc[i][0], e, 0, (size_t) i * 32); \
		store(c + (size_t) i * 32 + 16, acc[i][1], e, 16, (size_t) i * 32 + 16); \
	} \
}

/* 32-column outputs (the stem and the 35x35 blocks): 12 rows x 2 zmm = 24 accumulators */
BLOCK32(1)
BLOCK32(2)
BLOCK32(3)
BLOCK32(4)
BLOCK32(5)
BLOCK32(6)
BLOCK32(7)
BLOCK32(8)
BLOCK32(9)
BLOCK32(10)
BLOCK32(11)
BLOCK32(12)

typedef void (*block_fn) (int, int, const float *, const float *, float *, const ep *);
typedef void (*block32_fn) (int, const int *, int, int, const float *, const float *, float *,
							const ep *);
static const block_fn blocks64[7] = {NULL, block_1, block_2, block_3, block_4, block_5, block_6};
static const block32_fn blocks32[13] = {NULL, block32_1, block32_2, block32_3, block32_4,
	block32_5, block32_6, block32_7, block32_8, block32_9, block32_10, block32_11, block32_12};

/* C = A * B: 64-column panels outer (B panel stays in L2), 6-row blocks inner; n = 32: 12-row blocks. */
void
fi_gemm_small(int m, int n, int k, const float *a, const float *b, float *c,
			  const float *bias, const float *res, bool relu)
{
	if (g_state == 2)
	{
		static const int off0 = 0;

		fi_gemm_small_avx2(m, n, 1, &off0, k, k, a, b, c, bias, res, relu);
		return;
	}
	if (n == 32)
	{
		static const int off0 = 0;

		for (int i = 0; i < m; i += 12)
		{
			int			mr = m - i < 12 ? m - i : 12;
			ep			e = {bias, res ? res + (size_t) i * n : NULL, relu};

			blocks32[mr] (1, &off0, k, k, a + (size_t) i * k, b, c + (size_t) i * n, &e);
		}
		return;
	}
	for (int j = 0; j < n; j += 64)
		for (int i = 0; i < m; i += 6)
		{
			int			mr = m - i < 6 ? m - i : 6;
			ep			e = {bias ? bias + j : NULL, res ? res + (size_t) i * n + j : NULL, relu};

			blocks64[mr] (k, n, a + (size_t) i * k, b + j, c + (size_t) i * n + j, &e);
		}
}

/* Direct k x k conv to 32 channels of an NHWC input already padded (win wide): no im2col. */
void
fi_conv32_direct(int hout, int wout, int k, int stride, int cin, int win, const float *x,
				 const float *w, float *y, const float *bias, const float *res, bool relu)
{
	int			off[FI_CONV32_MAX_K * FI_CONV32_MAX_K];

	for (int ky = 0; ky < k; ky++)
		for (int kx = 0; kx < k; kx++)
			off[ky * k + kx] = (ky * win + kx) * cin;
	if (g_state == 2)
	{
		for (int oy = 0; oy < hout; oy++)
		{
			size_t		at = (size_t) oy * wout * 32;

			fi_gemm_small_avx2(wout, 32, k * k, off, cin, stride * cin,
							   x + (size_t) oy * stride * win * cin, w, y + at,
							   bias, res ? res + at : NULL, relu);
		}
		return;
	}
	for (int oy = 0; oy < hout; oy++)
		for (int ox = 0; ox < wout; ox += 12)
		{
			int			mr = wout - ox < 12 ? wout - ox : 12;
			size_t		at = ((size_t) oy * wout + ox) * 32;
			ep			e = {bias, res ? res + at : NULL, relu};

			blocks32[mr] (k * k, off, cin, stride * cin,
						  x + ((size_t) oy * stride * win + (size_t) ox * stride) * cin, w,
						  y + at, &e);
		}
}
