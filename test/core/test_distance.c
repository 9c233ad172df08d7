/*
 * test_distance.c
 *	  Every distance implementation returns the same bits, and the value is
 *	  the squared Euclidean distance.
 */
#include "embedding/distance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	passed,
			failed;

/* Record one check. */
static void
check(int ok, const char *what)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAIL: %s\n", what);
	}
}

/* A random float of varied magnitude, including denormals and zeros. */
static float
rnd(unsigned *seed)
{
	int			kind = rand_r(seed) % 10;
	float		u = (float) rand_r(seed) / RAND_MAX - 0.5f;

	if (kind == 0)
		return 0.0f;
	if (kind == 1)
		return u * 1e-40f;
	if (kind == 2)
		return u * 1e18f;
	return u;
}

/* Every implementation against the reference order, then edge values. */
int
main(void)
{
	unsigned	seed = 12345;
	float		a[FI_DIM],
				b[FI_DIM];
	int			mismatches = 0,
				wrong = 0;
	fi_distance_fn ref = fi_distance_get(FI_DIST_SCALAR);

	fi_distance_init();
	printf("chosen implementation: %s\n", fi_distance_name());
	for (int iter = 0; iter < 100000; iter++)
	{
		double		exact = 0;
		float		r;

		for (int i = 0; i < FI_DIM; i++)
		{
			a[i] = rnd(&seed);
			b[i] = rnd(&seed);
			exact += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
		}
		r = ref(a, b);
		if (fabs(r - exact) > 1e-5 * exact + 1e-30)
			wrong++;
		for (int impl = 0; impl < FI_DIST_NIMPL; impl++)
		{
			fi_distance_fn f = fi_distance_get((fi_distance_impl) impl);
			float		v;

			if (f == NULL)
				continue;
			v = f(a, b);
			if (memcmp(&v, &r, sizeof(float)) != 0)
				mismatches++;
		}
	}
	check(wrong == 0, "scalar distance agrees with double-precision sum");
	check(mismatches == 0, "all implementations give identical bits");
	for (int impl = 0; impl < FI_DIST_NIMPL; impl++)
		printf("impl %d: %s\n", impl, fi_distance_get((fi_distance_impl) impl) ? "tested" : "not on this CPU");
	memset(a, 0, sizeof(a));
	check(fi_distance_sq(a, a) == 0.0f, "distance to itself is 0");
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
