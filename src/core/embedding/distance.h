/*
 * distance.h
 *	  Deterministic squared Euclidean distance between two 128-d encodings.
 *
 * Every implementation (AVX-512, AVX2, SSE2, scalar) returns the same bits:
 * lane l of 16 accumulates (a[j]-b[j])^2 for j = l, l+16, ... in order of j,
 * with a separate multiply and add (never a fused multiply-add), and the 16
 * lanes are combined by the fixed tree s[l] += s[l+8], s[l+4], s[l+2], s[l+1].
 */
#ifndef FI_DISTANCE_H
#define FI_DISTANCE_H

#define FI_DIM 128

typedef float (*fi_distance_fn) (const float *a, const float *b);

typedef enum fi_distance_impl
{
	FI_DIST_SCALAR = 0,
	FI_DIST_SSE2,
	FI_DIST_AVX2,
	FI_DIST_AVX512,
	FI_DIST_NIMPL
} fi_distance_impl;

/* Combine 16 lane sums in the fixed tree order (see above). */
static inline float
fi_reduce16(float *s)
{
	for (int l = 0; l < 8; l++)
		s[l] = s[l] + s[l + 8];
	for (int l = 0; l < 4; l++)
		s[l] = s[l] + s[l + 4];
	for (int l = 0; l < 2; l++)
		s[l] = s[l] + s[l + 2];
	return s[0] + s[1];
}

/* The fastest implementation this CPU supports (chosen once). */
extern fi_distance_fn fi_distance_sq;

/* Pick the implementation from cpuid; idempotent. */
void		fi_distance_init(void);

/* A given implementation, or NULL when the CPU lacks it (for tests). */
fi_distance_fn fi_distance_get(fi_distance_impl impl);

/* Name of the implementation fi_distance_sq points to. */
const char *fi_distance_name(void);

#endif							/* FI_DISTANCE_H */
