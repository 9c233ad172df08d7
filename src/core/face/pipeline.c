/*
 * pipeline.c
 *	  Detection -> landmark crop -> landmarks -> alignment (align.c) ->
 *	  descriptor, with face-api's geometry (spec 6).
 */
#include "face/pipeline.h"

#include "image/preprocess.h"
#include "models/ssd.h"
#include "models/tinyface.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fi_pipeline
{
	const fi_model *m;
	fi_workspace *ws;
	fi_ssd	   *ssd;			/* loaded on first SSD use */
	float	   *chip;			/* 150x150x3 recognition input */
	int64_t		detector_runs,
				encoder_runs;
};

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
	o->native_max = 640;
	o->ssd_fallback = true;
	o->flip_average = true;
}

/*
 * Tiny detector input for a photo: detect_size, except that a photo whose
 * long side is at most native_max is fed at its own resolution (long side
 * rounded up to 32, at least 160): neither upscaled (LFW's 250 px photos run
 * at 256, 2.6x cheaper than 416) nor downscaled (small faces in 500 px group
 * photos: dlib testing.xml recall 0.68 -> 1.0 with the box correction).
 */
static int
tiny_size(const fi_image *img, const fi_pipeline_opts *opts)
{
	int			longest = img->width > img->height ? img->width : img->height;
	int			s = (longest + 31) / 32 * 32;

	if (longest > opts->native_max)
		return opts->detect_size;
	return s < 160 ? 160 : s;
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

/* Run counters (faceid_stats). */
void
fi_pipeline_counters(const fi_pipeline *p, int64_t *detector_runs, int64_t *encoder_runs)
{
	*detector_runs = p->detector_runs;
	*encoder_runs = p->encoder_runs;
}

/* The context's model. */
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

	p->detector_runs++;
	if (opts->detector == FI_DETECTOR_SSD)
	{
		if (p->ssd == NULL && (s = fi_ssd_load(p->m, &p->ssd, err)) != FI_OK)
			return s;
		return fi_ssd_detect(p->ssd, p->ws, img, opts->min_score, FI_SSD_MAX_RESULTS,
							 dets, n, c, err);
	}
	return fi_tinyface_detect(p->m, p->ws, img, tiny_size(img, opts), opts->min_score,
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

/* Mirror a 150x150x3 chip left-right in place. */
static void
mirror_chip(float *chip)
{
	for (int r = 0; r < FI_REC_SIZE; r++)
		for (int q = 0; q < FI_REC_SIZE / 2; q++)
			for (int ch = 0; ch < 3; ch++)
			{
				float	   *a = chip + ((size_t) r * FI_REC_SIZE + q) * 3 + ch;
				float	   *b = chip + ((size_t) r * FI_REC_SIZE + FI_REC_SIZE - 1 - q) * 3 + ch;
				float		t = *a;

				*a = *b;
				*b = t;
			}
}

/* Descriptor with the chosen alignment (and the mirrored chip when flip_average). */
fi_status
fi_face_descriptor(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
				   fi_face *f, const fi_cancel *c, fi_error *err)
{
	fi_status	s;

	p->encoder_runs++;
	if (opts->alignment == FI_ALIGN_FACEAPI)
	{
		double		x,
					y,
					w,
					h;

		fi_faceapi_descriptor_rect(f, &x, &y, &w, &h);
		f->descriptor_crop = fi_clip_floor(x, y, w, h, img->width, img->height);
		if (f->descriptor_crop.width <= 0 || f->descriptor_crop.height <= 0)
			return fi_set_error(err, FI_ERR_INTERNAL, "empty descriptor crop");
		s = fi_preprocess(img, &f->descriptor_crop, FI_SQUARE_CENTER, FI_REC_SIZE,
						  &fi_norm_recognition, p->chip, err);
	}
	else
	{
		fi_similarity_chip(img, f->landmarks, NULL, p->chip);
		s = FI_OK;
	}
	if (s == FI_OK)
		s = fi_recognition_forward(p->m, p->ws, p->chip, f->descriptor, NULL, NULL, c, err);
	if (s == FI_OK && opts->flip_average)
	{
		float		d2[FI_REC_DIM];

		p->encoder_runs++;
		mirror_chip(p->chip);
		s = fi_recognition_forward(p->m, p->ws, p->chip, d2, NULL, NULL, c, err);
		for (int k = 0; s == FI_OK && k < FI_REC_DIM; k++)
			f->descriptor[k] = (f->descriptor[k] + d2[k]) / 2;
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
			(opts->embed && (s = fi_face_descriptor(p, img, opts, &fs[i], c, err)) != FI_OK))
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

/* Map a face found on a bordered copy (border b, scale 1/k) back to the photo. */
static void
unshift(fi_face *f, int b, int k)
{
	f->x = (f->x - b) * k;
	f->y = (f->y - b) * k;
	f->w *= k;
	f->h *= k;
	for (int i = 0; i < FI_LM_POINTS; i++)
	{
		f->landmarks[i][0] = (f->landmarks[i][0] - b) * k;
		f->landmarks[i][1] = (f->landmarks[i][1] - b) * k;
	}
	f->landmark_crop = (fi_rect) {(f->landmark_crop.x - b) * k, (f->landmark_crop.y - b) * k,
	f->landmark_crop.width * k, f->landmark_crop.height * k};
	f->descriptor_crop = (fi_rect) {(f->descriptor_crop.x - b) * k, (f->descriptor_crop.y - b) * k,
	f->descriptor_crop.width * k, f->descriptor_crop.height * k};
}

/*
 * A retry runs only where nothing was found, i.e. on every photo without a
 * face, so it asks for a slightly higher score: min_score + 0.05 keeps 323 of
 * the 327 rescues on LFW DevTrain photos (at +0) and removes the two false
 * faces the retries found on negatives_nonface/plain (scores 0.505, 0.522).
 */
#define RETRY_SCORE_MARGIN 0.05

/* Score the SSD fallback asks for. */
#define SSD_FALLBACK_SCORE 0.7

/* Longest side of the bordered copy before it is shrunk by an integer factor. */
#define RETRY_MAX_SIDE 1024

/*
 * The photo shrunk by k (k x k box average) inside a black border of b
 * pixels: what the retry runs on.  Memory stays O(RETRY_MAX_SIDE^2).
 */
static fi_status
bordered_copy(const fi_image *img, int k, int b, fi_image *out, fi_error *err)
{
	int			w = img->width / k,
				h = img->height / k;

	out->width = w + 2 * b;
	out->height = h + 2 * b;
	out->rgb = calloc((size_t) out->width * out->height, 3);
	if (out->rgb == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory adding a border to the image");
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int ch = 0; ch < 3; ch++)
			{
				unsigned	sum = 0;

				for (int dy = 0; dy < k; dy++)
					for (int dx = 0; dx < k; dx++)
						sum += img->rgb[((size_t) (y * k + dy) * img->width + x * k + dx) * 3 + ch];
				out->rgb[((size_t) (y + b) * out->width + x + b) * 3 + ch] =
					(uint8_t) ((sum + k * k / 2) / (k * k));
			}
	return FI_OK;
}

/* All faces, with the retries when nothing is found. */
fi_status
fi_faces_detect(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
				fi_face **faces, int *nfaces, const fi_cancel *c, fi_error *err)
{
	fi_image	big;
	fi_pipeline_opts o;
	int			longest,
				k,
				b;
	fi_status	s;

	if (img == NULL || img->rgb == NULL || img->width <= 0 || img->height <= 0)
		return fi_set_error(err, FI_ERR_INVALID, "empty image");
	if ((s = detect_once(p, img, opts, faces, nfaces, c, err)) != FI_OK || *nfaces > 0 ||
		!opts->retry)
		return s;

	/*
	 * A face that fills the frame: a black border of 1/4 of the long side
	 * (the photo first shrunk by an integer factor when the bordered copy
	 * would exceed RETRY_MAX_SIDE).
	 */
	longest = img->width > img->height ? img->width : img->height;
	k = (longest * 3 / 2 + RETRY_MAX_SIDE - 1) / RETRY_MAX_SIDE;
	if (k < 1)
		k = 1;
	b = longest / k / 4;
	if (img->width / k < 1 || img->height / k < 1)
		k = 1;
	if ((s = bordered_copy(img, k, b, &big, err)) != FI_OK)
		return s;
	o = *opts;
	o.native_max = 0;
	o.min_score = opts->min_score + RETRY_SCORE_MARGIN;
	if (o.detector == FI_DETECTOR_TINY)
		o.detect_size = 320;
	s = detect_once(p, &big, &o, faces, nfaces, c, err);
	free(big.rgb);
	for (int i = 0; s == FI_OK && i < *nfaces; i++)
	{
		unshift(&(*faces)[i], b, k);
		(*faces)[i].attempt = 1;
	}
	if (s != FI_OK || *nfaces > 0 || o.detector != FI_DETECTOR_TINY)
		return s;
	/* the photo itself at a coarse grid */
	o.detect_size = 224;
	s = detect_once(p, img, &o, faces, nfaces, c, err);
	for (int i = 0; s == FI_OK && i < *nfaces; i++)
		(*faces)[i].attempt = 2;
	if (s != FI_OK || *nfaces > 0 || !opts->ssd_fallback)
		return s;

	/* last, the other detector, demanding a high score (0.7: none on the plain negatives) */
	o = *opts;
	o.detector = FI_DETECTOR_SSD;
	o.min_score = opts->min_score > SSD_FALLBACK_SCORE ? opts->min_score : SSD_FALLBACK_SCORE;
	o.ssd_fallback = false;
	o.retry = true;
	s = fi_faces_detect(p, img, &o, faces, nfaces, c, err);
	for (int i = 0; s == FI_OK && i < *nfaces; i++)
		(*faces)[i].attempt += 3;
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
