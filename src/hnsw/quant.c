/*
 * quant.c
 *	  faceid_hnsw: the one-byte-per-dimension codes the graph is walked on.
 *
 * Each dimension d has its own range: lo[d] + step[d] * c for c in 0..255.
 * CREATE INDEX fits the ranges to the rows: from the smallest to the
 * largest value of each dimension, but no further than 8 standard
 * deviations from the mean, so one absurd row cannot coarsen everyone's
 * codes.  An index built empty uses a fixed range that covers face-api
 * descriptors.  A value outside the range is clamped.  Each element stores
 * the norm of its own error (rounded up) and the metapage the largest of
 * them, so the distance from a query to a code gives a true lower bound of
 * the exact distance (triangle inequality), which is what a scan reports
 * for the executor to re-rank.  Without clamping the error is at most half
 * a step per dimension, so the bound is tight: on 1M face-like rows the
 * largest error is about 0.01, against 0.35 between photos of one person.
 * A code is 128 bytes against 512 for the floats.
 */
#include "postgres.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "hnsw.h"

/* Farthest a fitted range reaches from the mean, in standard deviations. */
#define QUANT_SIGMAS		8.0
/* Narrowest step, so a constant dimension still codes. */
#define QUANT_MIN_STEP		1e-6
/* Fixed range of an index built without rows: [-0.5, 0.5]. */
#define QUANT_DEFAULT_LO	(-0.5f)
#define QUANT_DEFAULT_STEP	(1.0f / 255.0f)

/* The value code c stands for in dimension d. */
static inline float4
quant_value(const HnswQuant *qz, int d, uint8 c)
{
	return qz->lo[d] + qz->step[d] * (float4) c;
}

/* The quantiser of an index built empty. */
void
hnsw_quant_default(HnswQuant *qz)
{
	for (int d = 0; d < FI_DIM; d++)
	{
		qz->lo[d] = QUANT_DEFAULT_LO;
		qz->step[d] = QUANT_DEFAULT_STEP;
	}
}

/*
 * Fit the ranges to n vectors with per-dimension sums, sums of squares,
 * minima and maxima.
 */
void
hnsw_quant_fit(HnswQuant *qz, const double *sum, const double *sumsq,
			   const float4 *min, const float4 *max, double n)
{
	if (n < 1)
	{
		hnsw_quant_default(qz);
		return;
	}
	for (int d = 0; d < FI_DIM; d++)
	{
		double		mean = sum[d] / n;
		double		var = Max(sumsq[d] / n - mean * mean, 0.0);
		double		reach = QUANT_SIGMAS * sqrt(var);
		double		lo = Max((double) min[d], mean - reach);
		double		hi = Min((double) max[d], mean + reach);

		qz->lo[d] = (float4) lo;
		qz->step[d] = (float4) Max((hi - lo) / 255.0, QUANT_MIN_STEP);
	}
}

/* Code v; err is the norm of v minus its decoded code, rounded up. */
void
hnsw_quant_encode(const HnswQuant *qz, const float4 *v, uint8 *code,
				  float4 *err)
{
	double		e2 = 0;

	for (int d = 0; d < FI_DIM; d++)
	{
		double		c = rint(((double) v[d] - qz->lo[d]) / qz->step[d]);
		double		diff;

		if (!(c >= 0))			/* also NaN, which the type rejects anyway */
			c = 0;
		if (c > 255)
			c = 255;
		code[d] = (uint8) c;
		diff = (double) v[d] - (double) quant_value(qz, d, code[d]);
		e2 += diff * diff;
	}
	/* round up: the bound must hold despite float rounding elsewhere */
	*err = (float4) (sqrt(e2) * (1.0 + 1e-5) + 1e-7);
}

/* The vector a code stands for. */
void
hnsw_quant_decode(const HnswQuant *qz, const uint8 *code, float4 *out)
{
	for (int d = 0; d < FI_DIM; d++)
		out[d] = quant_value(qz, d, code[d]);
}

/*
 * Squared distance from q to the vector a code stands for: 16 lane sums,
 * each dimension's term added to lane d % 16, then a fixed tree, so the SSE2
 * version (the x86-64 baseline; the walk's hot loop) and the portable one
 * give the same bits.
 */
float4
hnsw_quant_distance(const HnswQuant *qz, const float4 *q, const uint8 *code)
{
	float4		s[16];

#ifdef __SSE2__
	__m128		acc[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
	__m128i		zero = _mm_setzero_si128();

	for (int j = 0; j < FI_DIM; j += 16)
	{
		__m128i		c8 = _mm_loadu_si128((const __m128i *) (code + j));
		__m128i		c16[2] = {_mm_unpacklo_epi8(c8, zero), _mm_unpackhi_epi8(c8, zero)};

		for (int k = 0; k < 4; k++)
		{
			__m128i		c32 = (k & 1) ? _mm_unpackhi_epi16(c16[k >> 1], zero)
				: _mm_unpacklo_epi16(c16[k >> 1], zero);
			__m128		x = _mm_add_ps(_mm_loadu_ps(qz->lo + j + 4 * k),
									   _mm_mul_ps(_mm_loadu_ps(qz->step + j + 4 * k),
												  _mm_cvtepi32_ps(c32)));
			__m128		d = _mm_sub_ps(_mm_loadu_ps(q + j + 4 * k), x);

			acc[k] = _mm_add_ps(acc[k], _mm_mul_ps(d, d));
		}
	}
	for (int k = 0; k < 4; k++)
		_mm_storeu_ps(s + 4 * k, acc[k]);
#else
	memset(s, 0, sizeof(s));
	for (int j = 0; j < FI_DIM; j += 16)
		for (int l = 0; l < 16; l++)
		{
			float4		d = q[j + l] - quant_value(qz, j + l, code[j + l]);
			float4		p = d * d;

			s[l] = s[l] + p;
		}
#endif
	return fi_reduce16(s);
}

/*
 * A lower bound of the exact distance (not squared) for an element at
 * squared code distance dist with error err: |q - x| >= |q - x'| - |x - x'|.
 * errMax (at least the err of every element a scan met so far) replaces
 * err unless err is larger, so the bounds of a scan rise with the code
 * distances, the order the search finds rows in.  The relative margin
 * covers the rounding of both float sums (at worst about 1e-5 of the
 * distance for 128 terms, typically 1e-6) and of the float4 result.
 */
double
hnsw_quant_lower_bound(float4 dist, float4 err, float4 errMax)
{
	double		lb;

	lb = sqrt((double) dist) * (1.0 - 1e-4) - (double) Max(err, errMax);
	return lb > 0 ? lb : 0;
}
