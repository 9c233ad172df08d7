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

/* Floats of one recognition input. */
#define CHIP_FLOATS ((size_t) FI_REC_SIZE * FI_REC_SIZE * 3)

struct fi_pipeline
{
	const fi_model *m;
	fi_workspace *ws;
	fi_ssd	   *ssd;			/* loaded on first SSD use */
	float	   *chip;			/* FI_REC_MAX_BATCH x 150x150x3 recognition inputs: each
								 * face's chip, then its mirror */
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
	o->ssd_fallback = false;
	o->flip_average = true;
}

/*
 * Tiny detector input for a photo: detect_size, except that a photo whose
 * long side is at most native_max is fed at its own resolution (long side
 * rounded up to 32, at least 160): neither upscaled (LFW's 250 px photos run
 * at 256, 2.6x cheaper than 416) nor downscaled (small faces in 500 px group
 * photos: dlib testing.xml recall 0.68 -> 1.0 with the box correction).
 */
int
fi_pipeline_tiny_size(const fi_pipeline_opts *opts, int width, int height)
{
	int			longest = width > height ? width : height;
	int			s = (longest + 31) / 32 * 32;

	if (longest > opts->native_max)
		return opts->detect_size;
	return s < 160 ? 160 : s;
}

/* Tiny detector input for img. */
static int
tiny_size(const fi_image *img, const fi_pipeline_opts *opts)
{
	return fi_pipeline_tiny_size(opts, img->width, img->height);
}

/*
 * How much smaller a JPEG may be decoded: the photo pass reads the photo
 * at the tiny input (or the SSD's 512, also when the SSD is the tiny
 * detector's fallback), so a decode whose long side stays at or above that
 * is never enlarged for the detector; the frame pass and the retries read
 * smaller inputs still.  A factor of 8 is libjpeg-turbo's smallest scale.
 */
int
fi_pipeline_decode_scale(const fi_pipeline_opts *opts, int width, int height)
{
	int			longest = width > height ? width : height;
	int			need = opts->detector == FI_DETECTOR_TINY ?
		fi_pipeline_tiny_size(opts, width, height) : FI_SSD_SIZE;
	int			s = 1;

	if (opts->detector == FI_DETECTOR_TINY && opts->ssd_fallback && need < FI_SSD_SIZE)
		need = FI_SSD_SIZE;

	if (opts->alignment == FI_ALIGN_FACEAPI || need <= 0)
		return 1;
	while (s < 8 && (longest + 2 * s - 1) / (2 * s) >= need)
		s *= 2;
	return s;
}

/* New context. */
fi_status
fi_pipeline_new(const fi_model *m, fi_pipeline **out, fi_error *err)
{
	fi_pipeline *p = calloc(1, sizeof(fi_pipeline));

	*out = NULL;
	if (p == NULL || (p->ws = fi_workspace_new()) == NULL ||
		(p->chip = malloc(sizeof(float) * FI_REC_MAX_BATCH * CHIP_FLOATS)) == NULL)
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
	return fi_tinyface_detect_in(p->m, p->ws, img, tiny_size(img, opts), opts->tiny_square,
								 opts->min_score, dets, n, c, err);
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

/* Face f's recognition input on img (and its mirror after it with flip_average). */
static fi_status
face_chips(const fi_image *img, const fi_pipeline_opts *opts, fi_face *f, float *chip,
		   fi_error *err)
{
	if (opts->alignment == FI_ALIGN_FACEAPI)
	{
		double		x,
					y,
					w,
					h;
		fi_status	s;

		fi_faceapi_descriptor_rect(f, &x, &y, &w, &h);
		f->descriptor_crop = fi_clip_floor(x, y, w, h, img->width, img->height);
		if (f->descriptor_crop.width <= 0 || f->descriptor_crop.height <= 0)
			return fi_set_error(err, FI_ERR_INTERNAL, "empty descriptor crop");
		s = fi_preprocess(img, &f->descriptor_crop, FI_SQUARE_CENTER, FI_REC_SIZE,
						  &fi_norm_recognition, chip, err);
		if (s != FI_OK)
			return s;
	}
	else
		fi_similarity_chip(img, f->landmarks, NULL, chip);
	if (opts->flip_average)
	{
		memcpy(chip + CHIP_FLOATS, chip, sizeof(float) * CHIP_FLOATS);
		mirror_chip(chip + CHIP_FLOATS);
	}
	return FI_OK;
}

/*
 * Descriptors of faces f[0..n-1] (landmarks set), face i on imgs[i]: their
 * chips (and mirrors) go through the encoder in batches of up to
 * FI_REC_MAX_BATCH.  fi_recognition_forward_n gives each image the bits it
 * gives it alone, so a face's descriptor does not depend on its batch.
 */
fi_status
fi_face_descriptors(fi_pipeline *p, const fi_image *const *imgs, const fi_pipeline_opts *opts,
					fi_face *f, int n, const fi_cancel *c, fi_error *err)
{
	int			per = opts->flip_average ? 2 : 1,
				group = FI_REC_MAX_BATCH / per;
	float		d[FI_REC_MAX_BATCH][FI_REC_DIM];
	fi_status	s;

	for (int i0 = 0; i0 < n; i0 += group)
	{
		int			g = n - i0 < group ? n - i0 : group;

		for (int j = 0; j < g; j++)
			if ((s = face_chips(imgs[i0 + j], opts, &f[i0 + j], p->chip + (size_t) j * per * CHIP_FLOATS,
								err)) != FI_OK)
				return s;
		p->encoder_runs += g * per;
		if ((s = fi_recognition_forward_n(p->m, p->ws, p->chip, g * per, d[0], NULL, NULL,
										  c, err)) != FI_OK)
			return s;
		for (int j = 0; j < g; j++)
		{
			float	   *out = f[i0 + j].descriptor;

			for (int k = 0; k < FI_REC_DIM; k++)
				out[k] = per == 1 ? d[j][k] : (d[2 * j][k] + d[2 * j + 1][k]) / 2;
			f[i0 + j].has_descriptor = true;
		}
	}
	return FI_OK;
}

/* Descriptor of one face (fi_face_descriptors of one). */
fi_status
fi_face_descriptor(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
				   fi_face *f, const fi_cancel *c, fi_error *err)
{
	return fi_face_descriptors(p, &img, opts, f, 1, c, err);
}
