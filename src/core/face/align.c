/*
 * align.c
 *	  From 68 landmarks to the recognition net's 150x150 input: face-api's
 *	  descriptor box (spec 6.4), or a similarity-aligned chip sampled
 *	  bilinearly from the photo.
 */
#include "face/pipeline.h"

#include "image/preprocess.h"

#include <math.h>

/*
 * Canonical chip geometry of the similarity alignment.  Chosen to agree with
 * face-api's dlib-style box (spec 6.4) on an upright face: the centroid of
 * (left eye, right eye, mouth) at (0.5, 0.43) of the side and the mean
 * eye-to-mouth distance 0.45 of the side; the eye-distance /
 * eye-to-mouth-height ratio is the mean measured on the golden faces'
 * landmarks (0.88).
 */
const fi_chip_geometry fi_chip_default = {0.5, 0.43, 0.45, 0.88};

/* Mean of landmarks [a, b). */
static void
lm_mean(const double lm[FI_LM_POINTS][2], int a, int b, double *x, double *y)
{
	double		sx = 0,
				sy = 0;

	for (int i = a; i < b; i++)
	{
		sx += lm[i][0];
		sy += lm[i][1];
	}
	*x = sx / (b - a);
	*y = sy / (b - a);
}

/* spec 6.4, before clip_floor. */
void
fi_faceapi_descriptor_rect(const fi_face *f, double *x, double *y, double *w, double *h)
{
	double		lex,
				ley,
				rex,
				rey,
				mx,
				my;
	double		d,
				size,
				refx,
				refy;
	double		sx = f->landmarks_faceapi ? 0 : f->x - f->landmark_crop.x,
				sy = f->landmarks_faceapi ? 0 : f->y - f->landmark_crop.y;

	lm_mean(f->landmarks, 36, 42, &lex, &ley);
	lm_mean(f->landmarks, 42, 48, &rex, &rey);
	lm_mean(f->landmarks, 48, 68, &mx, &my);
	lex += sx;
	rex += sx;
	mx += sx;
	ley += sy;
	rey += sy;
	my += sy;
	d = (hypot(mx - lex, my - ley) + hypot(mx - rex, my - rey)) / 2;
	size = floor(d / 0.45);
	refx = (lex + rex + mx) / 3;
	refy = (ley + rey + my) / 3;
	*x = floor(fmax(0, refx - 0.5 * size));
	*y = floor(fmax(0, refy - 0.43 * size));
	*w = fmin(size, f->landmark_crop.width + *x);
	*h = fmin(size, f->landmark_crop.height + *y);
}

/*
 * Bilinear sample of the three channels at (x, y) in pixel-index
 * coordinates, added to acc; black outside.  The four taps are located
 * once for the three channels.
 */
static inline void
sample_add(const fi_image *img, double x, double y, double acc[3])
{
	int			x0 = (int) floor(x),
				y0 = (int) floor(y);
	double		fx = x - x0,
				fy = y - y0;
	const uint8_t *p[2][2];

	for (int dy = 0; dy < 2; dy++)
		for (int dx = 0; dx < 2; dx++)
		{
			int			xx = x0 + dx,
						yy = y0 + dy;

			p[dy][dx] = (xx < 0 || yy < 0 || xx >= img->width || yy >= img->height) ? NULL :
				img->rgb + ((size_t) yy * img->width + xx) * 3;
		}
	for (int ch = 0; ch < 3; ch++)
	{
		double		v00 = p[0][0] != NULL ? p[0][0][ch] : 0.0,
					v01 = p[0][1] != NULL ? p[0][1][ch] : 0.0,
					v10 = p[1][0] != NULL ? p[1][0][ch] : 0.0,
					v11 = p[1][1] != NULL ? p[1][1][ch] : 0.0;

		acc[ch] += (v00 + (v01 - v00) * fx) * (1 - fy) + (v10 + (v11 - v10) * fx) * fy;
	}
}

/* The least-squares similarity chip -> image: x = a u - b w + tx, y = b u + a w + ty. */
static void
chip_transform(const double lm[FI_LM_POINTS][2], const fi_chip_geometry *geom, double *pa,
			   double *pb, double *ptx, double *pty)
{
	const fi_chip_geometry *g = geom != NULL ? geom : &fi_chip_default;
	double		src[3][2],
				dst[3][2];
	double		v = g->d * FI_REC_SIZE / sqrt(g->ratio * g->ratio / 4 + 1);
	double		e = g->ratio * v / 2;
	double		ye = g->cy * FI_REC_SIZE - v / 3;
	double		xc = g->cx * FI_REC_SIZE;
	double		ms[2] = {0, 0},
				md[2] = {0, 0};
	double		num_a = 0,
				num_b = 0,
				den = 0,
				a,
				b;

	lm_mean(lm, 36, 42, &src[0][0], &src[0][1]);
	lm_mean(lm, 42, 48, &src[1][0], &src[1][1]);
	lm_mean(lm, 48, 68, &src[2][0], &src[2][1]);
	dst[0][0] = xc - e;
	dst[0][1] = ye;
	dst[1][0] = xc + e;
	dst[1][1] = ye;
	dst[2][0] = xc;
	dst[2][1] = ye + v;
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++)
		{
			ms[k] += src[i][k] / 3;
			md[k] += dst[i][k] / 3;
		}
	for (int i = 0; i < 3; i++)
	{
		double		dx = dst[i][0] - md[0],
					dy = dst[i][1] - md[1];
		double		sx = src[i][0] - ms[0],
					sy = src[i][1] - ms[1];

		num_a += dx * sx + dy * sy;
		num_b += dx * sy - dy * sx;
		den += dx * dx + dy * dy;
	}
	a = num_a / den;
	b = num_b / den;
	*pa = a;
	*pb = b;
	*ptx = ms[0] - (a * md[0] - b * md[1]);
	*pty = ms[1] - (b * md[0] + a * md[1]);
}

/*
 * The pixels fi_similarity_chip may read: every bilinear tap of every
 * (super)sample lies in columns x0..x1 and rows y0..y1 (inclusive).
 */
void
fi_similarity_chip_extent(const double lm[FI_LM_POINTS][2], const fi_chip_geometry *geom,
						  int *x0, int *y0, int *x1, int *y1)
{
	double		a,
				b,
				tx,
				ty;
	double		lo[2] = {INFINITY, INFINITY},
				hi[2] = {-INFINITY, -INFINITY};

	chip_transform(lm, geom, &a, &b, &tx, &ty);
	/* the samples' chip coordinates lie in [-0.5, FI_REC_SIZE - 0.5] */
	for (int i = 0; i < 4; i++)
	{
		double		u = (i & 1) ? FI_REC_SIZE - 0.5 : -0.5,
					w = (i & 2) ? FI_REC_SIZE - 0.5 : -0.5;
		double		p[2] = {a * u - b * w + tx, b * u + a * w + ty};

		for (int k = 0; k < 2; k++)
		{
			lo[k] = fmin(lo[k], p[k]);
			hi[k] = fmax(hi[k], p[k]);
		}
	}
	/* one pixel of slack each way for rounding, plus the second tap */
	*x0 = (int) floor(lo[0]) - 1;
	*y0 = (int) floor(lo[1]) - 1;
	*x1 = (int) floor(hi[0]) + 2;
	*y1 = (int) floor(hi[1]) + 2;
}

/*
 * Least-squares similarity chip -> image from the eye and mouth centres,
 * then bilinear sampling (with n x n supersampling when the chip shrinks
 * the face by more than 1.5x), normalised for the recognition net.
 */
void
fi_similarity_chip(const fi_image *img, const double lm[FI_LM_POINTS][2],
				   const fi_chip_geometry *geom, float *out)
{
	double		a,
				b,
				tx,
				ty,
				scale;
	int			ns;

	chip_transform(lm, geom, &a, &b, &tx, &ty);
	scale = hypot(a, b);
	ns = scale > 1.5 ? (int) ceil(scale) : 1;
	for (int r = 0; r < FI_REC_SIZE; r++)
		for (int q = 0; q < FI_REC_SIZE; q++)
		{
			double		acc[3] = {0, 0, 0};

			for (int sy = 0; sy < ns; sy++)
				for (int sx = 0; sx < ns; sx++)
				{
					double		u = q + (ns > 1 ? (sx + 0.5) / ns - 0.5 : 0);
					double		w = r + (ns > 1 ? (sy + 0.5) / ns - 0.5 : 0);
					double		x = a * u - b * w + tx,
								y = b * u + a * w + ty;

					sample_add(img, x, y, acc);
				}
			for (int ch = 0; ch < 3; ch++)
			{
				float		pv = (float) (acc[ch] / (ns * ns));

				out[((size_t) r * FI_REC_SIZE + q) * 3 + ch] =
					(pv - fi_norm_recognition.mean[ch]) / 255.0f;
			}
		}
}
