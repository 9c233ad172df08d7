/*
 * pipeline.c
 *	  Detection -> landmark crop -> landmarks -> alignment -> descriptor,
 *	  with face-api's geometry (spec 6) and a similarity-aligned chip.
 */
#include "pipeline.h"

#include "preprocess.h"
#include "ssd.h"
#include "tinyface.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fi_pipeline
{
	const fi_model *m;
	fi_workspace *ws;
	fi_ssd	   *ssd;			/* loaded on first SSD use */
	float	   *chip;			/* 150x150x3 recognition input */
};

/*
 * Canonical chip geometry of the similarity alignment, in 150x150 chip
 * pixels.  Chosen to agree with face-api's dlib-style box (spec 6.4) on an
 * upright face: the centroid of (left eye, right eye, mouth) at
 * (0.5, 0.43) x 150 and the mean eye-to-mouth distance 0.45 x 150; the
 * eye-distance / eye-to-mouth-height ratio is the mean measured on the
 * golden faces' landmarks (0.88).
 */
#define CHIP_RATIO 0.88
#define CHIP_CX 75.0
#define CHIP_CY (0.43 * FI_REC_SIZE)
#define CHIP_D (0.45 * FI_REC_SIZE)

/* Defaults of fi_pipeline_opts. */
void
fi_pipeline_opts_default(fi_pipeline_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->detector = FI_DETECTOR_TINY;
	o->detect_size = 416;
	o->min_score = 0.5;
	o->alignment = FI_ALIGN_SIMILARITY;
	o->embed = true;
	o->retry = true;
}

/* New context. */
fi_status
fi_pipeline_new(const fi_model *m, fi_pipeline **out, fi_error *err)
{
	fi_pipeline *p = calloc(1, sizeof(fi_pipeline));

	*out = NULL;
	if (p == NULL || (p->ws = fi_workspace_new()) == NULL ||
		(p->chip = malloc(sizeof(float) * FI_REC_SIZE * FI_REC_SIZE * 3)) == NULL)
	{
		fi_pipeline_free(p);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory creating the face pipeline");
	}
	p->m = m;
	*out = p;
	return FI_OK;
}

/* Free a context. */
void
fi_pipeline_free(fi_pipeline *p)
{
	if (p == NULL)
		return;
	fi_workspace_free(p->ws);
	fi_ssd_free(p->ssd);
	free(p->chip);
	free(p);
}

/* Accessors. */
const fi_model *
fi_pipeline_model(const fi_pipeline *p)
{
	return p->m;
}

/* The context's workspace. */
fi_workspace *
fi_pipeline_workspace(fi_pipeline *p)
{
	return p->ws;
}

/* spec 6.2: clip to the image, floor each field independently. */
fi_rect
fi_clip_floor(double x, double y, double w, double h, int W, int H)
{
	double		cx = fmax(x, 0),
				cy = fmax(y, 0);
	double		cw = fmin(x + w - cx, W - cx),
				ch = fmin(y + h - cy, H - cy);

	return (fi_rect) {(int) floor(cx), (int) floor(cy), (int) floor(cw), (int) floor(ch)};
}

/* Raw detections of the configured detector. */
fi_status
fi_pipeline_detections(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
					   fi_detection **dets, int *n, const fi_cancel *c, fi_error *err)
{
	fi_status	s;

	if (opts->detector == FI_DETECTOR_SSD)
	{
		if (p->ssd == NULL && (s = fi_ssd_load(p->m, &p->ssd, err)) != FI_OK)
			return s;
		return fi_ssd_detect(p->ssd, p->ws, img, opts->min_score, FI_SSD_MAX_RESULTS,
							 dets, n, c, err);
	}
	return fi_tinyface_detect(p->m, p->ws, img, opts->detect_size, opts->min_score,
							  dets, n, c, err);
}

/* Landmarks on the landmark crop; image coordinates (true or face-api's). */
fi_status
fi_face_landmarks(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
				  fi_face *f, const fi_cancel *c, fi_error *err)
{
	double		pts[2 * FI_LM_POINTS];
	double		ox = opts->faceapi_landmark_quirk ? f->x : f->landmark_crop.x,
				oy = opts->faceapi_landmark_quirk ? f->y : f->landmark_crop.y;
	fi_status	s;

	s = fi_landmarks_detect(p->m, p->ws, opts->tiny_landmarks, img, &f->landmark_crop, pts, c, err);
	if (s != FI_OK)
		return s;
	for (int i = 0; i < FI_LM_POINTS; i++)
	{
		f->landmarks[i][0] = pts[2 * i] + ox;
		f->landmarks[i][1] = pts[2 * i + 1] + oy;
	}
	f->has_landmarks = true;
	f->landmarks_faceapi = opts->faceapi_landmark_quirk;
	return FI_OK;
}

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

/* Bilinear sample of channel ch at (x, y) in pixel-index coordinates; black outside. */
static inline double
sample(const fi_image *img, double x, double y, int ch)
{
	int			x0 = (int) floor(x),
				y0 = (int) floor(y);
	double		fx = x - x0,
				fy = y - y0;
	double		v[2][2];

	for (int dy = 0; dy < 2; dy++)
		for (int dx = 0; dx < 2; dx++)
		{
			int			xx = x0 + dx,
						yy = y0 + dy;

			v[dy][dx] = (xx < 0 || yy < 0 || xx >= img->width || yy >= img->height) ? 0.0 :
				img->rgb[((size_t) yy * img->width + xx) * 3 + ch];
		}
	return (v[0][0] + (v[0][1] - v[0][0]) * fx) * (1 - fy) +
		(v[1][0] + (v[1][1] - v[1][0]) * fx) * fy;
}

/*
 * Least-squares similarity chip -> image from the eye and mouth centres,
 * then bilinear sampling (with n x n supersampling when the chip shrinks
 * the face by more than 1.5x), normalised for the recognition net.
 */
void
fi_similarity_chip(const fi_image *img, const double lm[FI_LM_POINTS][2], float *out)
{
	double		src[3][2],
				dst[3][2];
	double		v = CHIP_D / sqrt(CHIP_RATIO * CHIP_RATIO / 4 + 1);
	double		e = CHIP_RATIO * v / 2;
	double		ye = CHIP_CY - v / 3;
	double		ms[2] = {0, 0},
				md[2] = {0, 0};
	double		num_a = 0,
				num_b = 0,
				den = 0,
				a,
				b,
				tx,
				ty,
				scale;
	int			ns;

	lm_mean(lm, 36, 42, &src[0][0], &src[0][1]);
	lm_mean(lm, 42, 48, &src[1][0], &src[1][1]);
	lm_mean(lm, 48, 68, &src[2][0], &src[2][1]);
	dst[0][0] = CHIP_CX - e;
	dst[0][1] = ye;
	dst[1][0] = CHIP_CX + e;
	dst[1][1] = ye;
	dst[2][0] = CHIP_CX;
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
	tx = ms[0] - (a * md[0] - b * md[1]);
	ty = ms[1] - (b * md[0] + a * md[1]);
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

					for (int ch = 0; ch < 3; ch++)
						acc[ch] += sample(img, x, y, ch);
				}
			for (int ch = 0; ch < 3; ch++)
			{
				float		pv = (float) (acc[ch] / (ns * ns));

				out[((size_t) r * FI_REC_SIZE + q) * 3 + ch] =
					(pv - fi_norm_recognition.mean[ch]) / 255.0f;
			}
		}
}

/* Descriptor with the chosen alignment. */
fi_status
fi_face_descriptor(fi_pipeline *p, const fi_image *img, fi_alignment alignment, fi_face *f,
				   const fi_cancel *c, fi_error *err)
{
	fi_status	s;

	if (alignment == FI_ALIGN_FACEAPI)
	{
		double		x,
					y,
					w,
					h;

		fi_faceapi_descriptor_rect(f, &x, &y, &w, &h);
		f->descriptor_crop = fi_clip_floor(x, y, w, h, img->width, img->height);
		if (f->descriptor_crop.width <= 0 || f->descriptor_crop.height <= 0)
			return fi_set_error(err, FI_ERR_INTERNAL, "empty descriptor crop");
		s = fi_recognition_embed(p->m, p->ws, img, &f->descriptor_crop, f->descriptor, c, err);
	}
	else
	{
		fi_similarity_chip(img, f->landmarks, p->chip);
		s = fi_recognition_forward(p->m, p->ws, p->chip, f->descriptor, NULL, NULL, c, err);
	}
	if (s == FI_OK)
		f->has_descriptor = true;
	return s;
}

/* One pass over img: detect, then landmarks/descriptors for the faces kept. */
static fi_status
detect_once(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
			fi_face **faces, int *nfaces, const fi_cancel *c, fi_error *err)
{
	fi_detection *d = NULL;
	fi_face    *fs = NULL;
	int			nd = 0,
				nf = 0,
				largest = -1;
	fi_status	s;

	*faces = NULL;
	*nfaces = 0;
	if ((s = fi_pipeline_detections(p, img, opts, &d, &nd, c, err)) != FI_OK)
		return s;
	if (nd == 0)
		return FI_OK;
	fs = calloc(nd, sizeof(fi_face));
	if (fs == NULL)
	{
		free(d);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory for %d faces", nd);
	}
	for (int i = 0; i < nd; i++)
	{
		fi_face    *f = &fs[nf];

		f->score = d[i].score;
		f->x = d[i].x;
		f->y = d[i].y;
		f->w = d[i].w;
		f->h = d[i].h;
		f->landmark_crop = fi_clip_floor(f->x, f->y, f->w, f->h, img->width, img->height);
		if (f->landmark_crop.width <= 0 || f->landmark_crop.height <= 0)
			continue;			/* face-api drops these too */
		if (largest < 0 || f->w * f->h > fs[largest].w * fs[largest].h)
			largest = nf;
		nf++;
		if (opts->max_faces > 0 && nf >= opts->max_faces)
			break;
	}
	free(d);
	if (opts->largest_only && nf > 0)
	{
		fs[0] = fs[largest];
		nf = 1;
	}
	for (int i = 0; i < nf; i++)
	{
		if ((s = fi_face_landmarks(p, img, opts, &fs[i], c, err)) != FI_OK ||
			(opts->embed && (s = fi_face_descriptor(p, img, opts->alignment, &fs[i], c, err)) != FI_OK))
		{
			free(fs);
			return s;
		}
	}
	if (nf == 0)
	{
		free(fs);
		fs = NULL;
	}
	*faces = fs;
	*nfaces = nf;
	return FI_OK;
}

/* Shift a face found on a bordered copy back to the photo's coordinates. */
static void
unshift(fi_face *f, int b)
{
	f->x -= b;
	f->y -= b;
	for (int i = 0; i < FI_LM_POINTS; i++)
	{
		f->landmarks[i][0] -= b;
		f->landmarks[i][1] -= b;
	}
	f->landmark_crop.x -= b;
	f->landmark_crop.y -= b;
	f->descriptor_crop.x -= b;
	f->descriptor_crop.y -= b;
}

/* All faces, with the bordered retry when nothing is found. */
fi_status
fi_faces_detect(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
				fi_face **faces, int *nfaces, const fi_cancel *c, fi_error *err)
{
	fi_image	big;
	int			b;
	fi_status	s;

	if (img == NULL || img->rgb == NULL || img->width <= 0 || img->height <= 0)
		return fi_set_error(err, FI_ERR_INVALID, "empty image");
	if ((s = detect_once(p, img, opts, faces, nfaces, c, err)) != FI_OK || *nfaces > 0 ||
		!opts->retry)
		return s;

	/* a face that fills the frame: add a black border of 1/4 of the long side */
	b = (img->width > img->height ? img->width : img->height) / 4;
	big.width = img->width + 2 * b;
	big.height = img->height + 2 * b;
	big.rgb = calloc((size_t) big.width * big.height, 3);
	if (big.rgb == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory adding a border to the image");
	for (int y = 0; y < img->height; y++)
		memcpy(big.rgb + ((size_t) (y + b) * big.width + b) * 3,
			   img->rgb + (size_t) y * img->width * 3, (size_t) img->width * 3);
	s = detect_once(p, &big, opts, faces, nfaces, c, err);
	free(big.rgb);
	for (int i = 0; s == FI_OK && i < *nfaces; i++)
		unshift(&(*faces)[i], b);
	return s;
}

/* Descriptor of the largest face. */
fi_status
fi_face_embed_largest(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
					  float out[FI_REC_DIM], bool *found, fi_face *face,
					  const fi_cancel *c, fi_error *err)
{
	fi_pipeline_opts o = *opts;
	fi_face    *fs = NULL;
	int			n = 0;
	fi_status	s;

	o.embed = true;
	o.largest_only = true;
	*found = false;
	if ((s = fi_faces_detect(p, img, &o, &fs, &n, c, err)) != FI_OK)
		return s;
	if (n > 0)
	{
		memcpy(out, fs[0].descriptor, sizeof(float) * FI_REC_DIM);
		if (face != NULL)
			*face = fs[0];
		*found = true;
	}
	free(fs);
	return FI_OK;
}
