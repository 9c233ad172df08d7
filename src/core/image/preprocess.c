/*
 * preprocess.c
 *	  Pad-to-square + TF legacy bilinear resize + normalisation, fused.
 */
#include "image/preprocess.h"

/* the resize is specified without FMA contraction (JS semantics) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize ("fp-contract=off")
#endif

#include <math.h>
#include <stdlib.h>

const fi_norm fi_norm_recognition = {FI_NORM_MEAN_255, {122.782f, 117.001f, 104.298f}};
const fi_norm fi_norm_tiny = {FI_NORM_MEAN_255, {117.001f, 114.697f, 97.404f}};
const fi_norm fi_norm_ssd = {FI_NORM_SSD, {0, 0, 0}};

/* Sampling of one output line: source lines (crop coords, -1 = padding) and weight. */
typedef struct tap
{
	int			i0,
				i1;
	double		f;
} tap;

/* Fill taps for n outputs from a square side s, crop extent len placed at `before`. */
static void
make_taps(tap *t, int n, int s, int len, int before)
{
	double		ratio = (double) s / (double) n;

	for (int r = 0; r < n; r++)
	{
		double		sy = ratio * r;
		int			y0 = (int) floor(sy);
		int			y1 = (int) ceil(sy);

		if (y1 > s - 1)
			y1 = s - 1;
		t[r].f = sy - y0;
		y0 -= before;
		y1 -= before;
		t[r].i0 = (y0 >= 0 && y0 < len) ? y0 : -1;
		t[r].i1 = (y1 >= 0 && y1 < len) ? y1 : -1;
	}
}

/*
 * The samples of source line y that output columns [0, cols) read, as
 * doubles: line[6 ox .. 6 ox + 2] the pixel at tx[ox].i0, line[6 ox + 3 ..]
 * the one at tx[ox].i1; 0 for padding (a column or the line y < 0).
 */
static void
load_line(const fi_image *img, const fi_rect *r, int y, const tap *tx, int cols, double *line)
{
	const uint8_t *src = y < 0 ? NULL :
		img->rgb + ((size_t) (r->y + y) * img->width + r->x) * 3;

	for (int ox = 0; ox < cols; ox++, line += 6)
	{
		const uint8_t *p0 = src != NULL && tx[ox].i0 >= 0 ? src + (size_t) tx[ox].i0 * 3 : NULL;
		const uint8_t *p1 = src != NULL && tx[ox].i1 >= 0 ? src + (size_t) tx[ox].i1 * 3 : NULL;

		for (int ch = 0; ch < 3; ch++)
		{
			line[ch] = p0 != NULL ? p0[ch] : 0.0;
			line[3 + ch] = p1 != NULL ? p1[ch] : 0.0;
		}
	}
}

/* Normalise one resized value. */
static inline float
normalise(float v, const fi_norm *norm, int ch)
{
	switch (norm->kind)
	{
		case FI_NORM_MEAN_255:
			return (v - norm->mean[ch]) / 255.0f;
		case FI_NORM_SSD:
			return v / 127.5f - 1.0f;
		default:
			return v;
	}
}

/* Crop, pad to square, resize, normalise. */
fi_status
fi_preprocess(const fi_image *img, const fi_rect *crop, fi_square_policy policy, int n,
			  const fi_norm *norm, float *out, fi_error *err)
{
	return fi_preprocess_part(img, crop, policy, n, n, n, norm, out, err);
}

/* The top-left rows x cols of fi_preprocess's n x n result (out[rows][cols][3]). */
fi_status
fi_preprocess_part(const fi_image *img, const fi_rect *crop, fi_square_policy policy, int n,
				   int rows, int cols, const fi_norm *norm, float *out, fi_error *err)
{
	fi_rect		r = crop != NULL ? *crop : (fi_rect) {0, 0, img->width, img->height};
	int			s,
				diff,
				top = 0,
				left = 0;
	tap		   *ty,
			   *tx;
	double	   *lines;

	if (img->rgb == NULL || img->width <= 0 || img->height <= 0 || n <= 0)
		return fi_set_error(err, FI_ERR_INVALID, "empty image");
	if (rows <= 0 || rows > n || cols <= 0 || cols > n)
		return fi_set_error(err, FI_ERR_INVALID, "resize: part %dx%d of a %dx%d result", rows, cols, n, n);
	if (r.width <= 0 || r.height <= 0 || r.x < 0 || r.y < 0 ||
		r.x > img->width - r.width || r.y > img->height - r.height)
		return fi_set_error(err, FI_ERR_INVALID,
							"crop %dx%d+%d+%d is empty or outside the %dx%d image",
							r.width, r.height, r.x, r.y, img->width, img->height);
	s = r.width > r.height ? r.width : r.height;
	diff = abs(r.width - r.height);
	if (policy == FI_SQUARE_CENTER)
	{
		int			after = (diff + 1) / 2; /* Math.round(diff * 0.5) */
		int			before = diff - after;

		if (r.width < r.height)
			left = before;
		else
			top = before;
	}
	ty = malloc(sizeof(tap) * n);
	tx = malloc(sizeof(tap) * n);
	lines = malloc(sizeof(double) * 2 * 6 * (size_t) cols);
	if (ty == NULL || tx == NULL || lines == NULL)
	{
		free(ty);
		free(tx);
		free(lines);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory resizing an image");
	}
	make_taps(ty, n, s, r.height, top);
	make_taps(tx, n, s, r.width, left);
	{
		double	   *l0 = lines,
				   *l1 = lines + 6 * (size_t) cols;
		int			y0 = -2,
					y1 = -2;	/* lines held in l0, l1 (-2: none) */

		for (int oy = 0; oy < rows; oy++)
		{
			float	   *o = out + (size_t) oy * cols * 3;
			double		fy = ty[oy].f;

			/* the two source lines, reusing what the previous output row loaded */
			if (ty[oy].i0 != y0)
			{
				if (ty[oy].i0 == y1 && ty[oy].i0 >= 0)
				{
					double	   *t = l0;

					l0 = l1;
					l1 = t;
					y0 = y1;
					y1 = -2;
				}
				else
					load_line(img, &r, y0 = ty[oy].i0, tx, cols, l0);
			}
			if (ty[oy].i1 != y1)
				load_line(img, &r, y1 = ty[oy].i1, tx, cols, l1);
			for (int ox = 0; ox < cols; ox++, o += 3)
			{
				const double *a0 = l0 + 6 * (size_t) ox,
						   *a1 = a0 + 3,
						   *b0 = l1 + 6 * (size_t) ox,
						   *b1 = b0 + 3;
				double		fx = tx[ox].f;

				for (int ch = 0; ch < 3; ch++)
				{
					double		t = a0[ch] + (a1[ch] - a0[ch]) * fx;
					double		b = b0[ch] + (b1[ch] - b0[ch]) * fx;
					float		v = (float) (t + (b - t) * fy);

					o[ch] = normalise(v, norm, ch);
				}
			}
		}
	}
	free(lines);
	free(ty);
	free(tx);
	return FI_OK;
}
