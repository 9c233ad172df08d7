/*
 * test_preprocess.c
 *	  The fused preprocessing (src/core/image/preprocess.c: pad to square,
 *	  TF legacy bilinear resize, normalise) against a naive pad-then-resize,
 *	  on every square policy, and thin strips.  Needs no weights.
 */
#include "image/preprocess.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Naive reference: materialise the padded square, then TF legacy bilinear. */
static void
naive_preprocess(const fi_image *img, fi_rect r, fi_square_policy pol, int n, float *out)
{
	int			s = r.width > r.height ? r.width : r.height;
	int			diff = abs(r.width - r.height),
				top = 0,
				left = 0;
	double	   *sq = calloc((size_t) s * s * 3, sizeof(double));

	if (pol == FI_SQUARE_CENTER)
	{
		int			before = diff - (int) floor(diff * 0.5 + 0.5);

		if (r.width < r.height)
			left = before;
		else
			top = before;
	}
	for (int y = 0; y < r.height; y++)
		for (int x = 0; x < r.width; x++)
			for (int c = 0; c < 3; c++)
				sq[((size_t) (y + top) * s + x + left) * 3 + c] =
					img->rgb[((size_t) (y + r.y) * img->width + x + r.x) * 3 + c];
	for (int oy = 0; oy < n; oy++)
		for (int ox = 0; ox < n; ox++)
			for (int c = 0; c < 3; c++)
			{
				double		ratio = (double) s / n,
							sy = ratio * oy,
							sx = ratio * ox;
				int			y0 = (int) floor(sy),
							x0 = (int) floor(sx);
				int			y1 = (int) fmin(s - 1, ceil(sy)),
							x1 = (int) fmin(s - 1, ceil(sx));
				double		fy = sy - y0,
							fx = sx - x0;
#define SQ(Y, X) sq[((size_t) (Y) * s + (X)) * 3 + c]
				double		t = SQ(y0, x0) + (SQ(y0, x1) - SQ(y0, x0)) * fx;
				double		b = SQ(y1, x0) + (SQ(y1, x1) - SQ(y1, x0)) * fx;

				out[((size_t) oy * n + ox) * 3 + c] = (float) (t + (b - t) * fy);
			}
	free(sq);
}

/* Fused preprocessing == naive pad-then-resize; thin strips stay small. */
static void
test_preprocess(void)
{
	fi_image	img = t_pattern(97, 61);
	static const struct
	{
		fi_rect		r;
		fi_square_policy p;
		int			n;
	}			cases[] = {
		{{0, 0, 97, 61}, FI_SQUARE_BR, 50}, {{0, 0, 97, 61}, FI_SQUARE_CENTER, 150},
		{{3, 5, 40, 55}, FI_SQUARE_CENTER, 112}, {{10, 2, 33, 33}, FI_SQUARE_CENTER, 150},
		{{1, 1, 2, 51}, FI_SQUARE_BR, 150}, {{7, 0, 90, 1}, FI_SQUARE_CENTER, 17},
	};
	fi_error	err = {0};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int			n = cases[i].n;
		float	   *a = malloc(sizeof(float) * n * n * 3),
				   *b = malloc(sizeof(float) * n * n * 3);
		fi_status	s = fi_preprocess(&img, &cases[i].r, cases[i].p, n,
									  &(fi_norm) {FI_NORM_NONE}, a, &err);

		naive_preprocess(&img, cases[i].r, cases[i].p, n, b);
		t_check(s == FI_OK && memcmp(a, b, sizeof(float) * n * n * 3) == 0,
			  "preprocess %dx%d crop, %s, -> %d equals naive pad+resize bit for bit",
			  cases[i].r.width, cases[i].r.height,
			  cases[i].p == FI_SQUARE_BR ? "BR" : "centred", n);
		free(a);
		free(b);
	}
	{
		fi_rect		bad = {90, 0, 10, 10};
		float		o[3 * 4];

		t_check(fi_preprocess(&img, &bad, FI_SQUARE_BR, 2, &fi_norm_ssd, o, &err) == FI_ERR_INVALID,
			  "crop outside the image -> FI_ERR_INVALID (%s)", err.msg);
	}
	free(img.rgb);
	{
		/* a 100000x10 strip: the padded square would be 100000^2 x 3 */
		fi_image	strip = t_pattern(100000, 10);
		float	   *o = malloc(sizeof(float) * 150 * 150 * 3);
		fi_status	s = fi_preprocess(&strip, NULL, FI_SQUARE_CENTER, 150,
									  &fi_norm_recognition, o, &err);

		t_check(s == FI_OK && o[0] == (0.0f - 122.782f) / 255.0f,
			  "100000x10 strip -> 150x150 without a padded square (corner = padding)");
		free(o);
		free(strip.rgb);
	}
}

/* The preprocessing test (needs no weights). */
int
main(void)
{
	test_preprocess();
	return t_done();
}
