/*
 * distance.c
 *	  Squared Euclidean distance over 128 floats, one reduction order for all
 *	  instruction sets (see distance.h).  Compiled with -ffp-contract=off so
 *	  the compiler never fuses the multiply and the add.
 */
#include "embedding/distance.h"

#include <immintrin.h>
#include <stddef.h>

static float dist_scalar(const float *a, const float *b);

fi_distance_fn fi_distance_sq = dist_scalar;
static fi_distance_impl chosen = FI_DIST_SCALAR;

/* Portable reference implementation. */
static float
dist_scalar(const float *a, const float *b)
{
	float		s[16] = {0};

	for (int j = 0; j < FI_DIM; j += 16)
		for (int l = 0; l < 16; l++)
		{
			float		d = a[j + l] - b[j + l];
			float		p = d * d;

			s[l] = s[l] + p;
		}
	return fi_reduce16(s);
}

#if defined(__x86_64__)

/* SSE2: four 4-lane accumulators hold lanes 0-3, 4-7, 8-11, 12-15. */
static float
dist_sse2(const float *a, const float *b)
{
	__m128		acc[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
	float		s[16];

	for (int j = 0; j < FI_DIM; j += 16)
		for (int q = 0; q < 4; q++)
		{
			__m128		d = _mm_sub_ps(_mm_loadu_ps(a + j + 4 * q), _mm_loadu_ps(b + j + 4 * q));

			acc[q] = _mm_add_ps(acc[q], _mm_mul_ps(d, d));
		}
	for (int q = 0; q < 4; q++)
		_mm_storeu_ps(s + 4 * q, acc[q]);
	return fi_reduce16(s);
}

/* AVX2: two 8-lane accumulators hold lanes 0-7 and 8-15. */
__attribute__((target("avx2")))
static float
dist_avx2(const float *a, const float *b)
{
	__m256		lo = _mm256_setzero_ps(),
				hi = _mm256_setzero_ps();
	__m128		x;

	for (int j = 0; j < FI_DIM; j += 16)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8));

		lo = _mm256_add_ps(lo, _mm256_mul_ps(d0, d0));
		hi = _mm256_add_ps(hi, _mm256_mul_ps(d1, d1));
	}
	lo = _mm256_add_ps(lo, hi); /* s[l] + s[l+8] */
	x = _mm_add_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps(lo, 1));	/* + s[l+4] */
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));	/* + s[l+2] */
	x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1)); /* + s[l+1] */
	return _mm_cvtss_f32(x);
}

/* AVX-512: one 16-lane accumulator. */
__attribute__((target("avx512f")))
static float
dist_avx512(const float *a, const float *b)
{
	__m512		acc = _mm512_setzero_ps();
	__m256		y;
	__m128		x;

	for (int j = 0; j < FI_DIM; j += 16)
	{
		__m512		d = _mm512_sub_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j));

		acc = _mm512_add_ps(acc, _mm512_mul_ps(d, d));
	}
	y = _mm256_add_ps(_mm512_castps512_ps256(acc),
					  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
	x = _mm_add_ps(_mm256_castps256_ps128(y), _mm256_extractf128_ps(y, 1));
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
	return _mm_cvtss_f32(x);
}
#endif

/* Return the implementation for impl, or NULL if this CPU cannot run it. */
fi_distance_fn
fi_distance_get(fi_distance_impl impl)
{
	switch (impl)
	{
		case FI_DIST_SCALAR:
			return dist_scalar;
#if defined(__x86_64__)
		case FI_DIST_SSE2:
			return dist_sse2;
		case FI_DIST_AVX2:
			__builtin_cpu_init();
			return __builtin_cpu_supports("avx2") ? dist_avx2 : NULL;
		case FI_DIST_AVX512:
			__builtin_cpu_init();
			return __builtin_cpu_supports("avx512f") ? dist_avx512 : NULL;
#endif
		default:
			return NULL;
	}
}

/* Choose the widest implementation the CPU supports. */
void
fi_distance_init(void)
{
	for (int i = FI_DIST_NIMPL - 1; i >= 0; i--)
	{
		fi_distance_fn f = fi_distance_get((fi_distance_impl) i);

		if (f != NULL)
		{
			fi_distance_sq = f;
			chosen = (fi_distance_impl) i;
			return;
		}
	}
}

/* Name of the chosen implementation, for faceid_info(). */
const char *
fi_distance_name(void)
{
	static const char *const names[] = {"scalar", "sse2", "avx2", "avx512"};

	return names[chosen];
}
