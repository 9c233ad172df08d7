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

/* One source value (0 for padding). */
static inline double
px(const fi_image *img, const fi_rect *r, int y, int x, int ch)
{
	if (y < 0 || x < 0)
		return 0.0;
	return img->rgb[((size_t) (r->y + y) * img->width + (r->x + x)) * 3 + ch];
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
	fi_rect		r = crop != NULL ? *crop : (fi_rect) {0, 0, img->width, img->height};
	int			s,
				diff,
				top = 0,
				left = 0;
	tap		   *ty,
			   *tx;

	if (img->rgb == NULL || img->width <= 0 || img->height <= 0 || n <= 0)
		return fi_set_error(err, FI_ERR_INVALID, "empty image");
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
	if (ty == NULL || tx == NULL)
	{
		free(ty);
		free(tx);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory resizing an image");
	}
	make_taps(ty, n, s, r.height, top);
	make_taps(tx, n, s, r.width, left);
	for (int oy = 0; oy < n; oy++)
		for (int ox = 0; ox < n; ox++)
			for (int ch = 0; ch < 3; ch++)
			{
				double		tl = px(img, &r, ty[oy].i0, tx[ox].i0, ch);
				double		tr = px(img, &r, ty[oy].i0, tx[ox].i1, ch);
				double		bl = px(img, &r, ty[oy].i1, tx[ox].i0, ch);
				double		br = px(img, &r, ty[oy].i1, tx[ox].i1, ch);
				double		t = tl + (tr - tl) * tx[ox].f;
				double		b = bl + (br - bl) * tx[ox].f;
				float		v = (float) (t + (b - t) * ty[oy].f);

				out[((size_t) oy * n + ox) * 3 + ch] = normalise(v, norm, ch);
			}
	free(ty);
	free(tx);
	return FI_OK;
}
