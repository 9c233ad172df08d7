/*
 * detect.c
 *	  Where the faces of a photo are looked for.  The first look runs the
 *	  tiny detector twice: on the photo (small faces) and on a bordered,
 *	  shrunk copy at a small input (faces that fill the frame, as LFW's and
 *	  badge photos'); the two lists are merged (for face_embed the frame
 *	  pass is skipped when the photo pass found a face it cannot outweigh).
 *	  Only when both find nothing do the retries run.  Then the face
 *	  face_embed encodes is chosen (choose.c) and landmarks and descriptors
 *	  are computed for the faces kept (describe.c).
 */
#include "face/views.h"
#include "nn/simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Input of the frame pass (the bordered copy, 1.5x the photo's long side).
 * Probe of every input on the 4,992 LFW View 1 photos (score > 0.5): the
 * photo pass alone (LFW's 250 px photos run at 256) misses 507; with the
 * frame pass at 192, 10 (at 224, 15; at 256, 49; at 320, 35; a border of
 * 1/8 at 224 or 256, 26-28).  At 192 the pass is also the cheapest, and it
 * finds nothing above 0.17 on the 49 negatives (224: the fish of
 * negatives_nonface/hard at 0.78).
 */
#define FRAME_SIZE 192

/*
 * When only the main face is wanted (face_embed, the trigger), the frame
 * pass is skipped once the photo pass has a face whose weight (the choice
 * rule of choose.c: side x nearness to the centre) is at least this
 * fraction of the photo's long side.  The frame pass finds only large faces,
 * and on the photos where one of them becomes the main face the photo
 * pass's best weighs little: on LFW View 1 the 18 photos whose main face
 * comes from the frame pass although the photo pass found a face have a
 * photo-pass best of at most 0.26 (a background face or a poor box of the
 * subject); skipping at 0.25 changes one chosen face, at 0.30 none, at 0.35
 * none and fires on 4,412 of the 4,992 photos (88%).  face_detect and
 * face_embed_all keep both passes: there the frame pass still adds the
 * partial faces at the photo's edges (67 LFW photos).
 */
#define FRAME_SKIP_WEIGHT 0.35

/*
 * The retries' inputs: the bordered copy at 256, then the photo at 192.
 * Each alone rescues all 10 photos the first look misses on LFW (at 0.55).
 */
#define RETRY_BORDER_SIZE 256
#define RETRY_SMALL_SIZE 192

/*
 * A retry runs only where nothing was found, i.e. on every photo without a
 * face, so it asks for a slightly higher score: min_score + 0.05 removes the
 * two false faces the retries found on negatives_nonface/plain (scores
 * 0.505, 0.522).
 */
#define RETRY_SCORE_MARGIN 0.05

/* Score the SSD fallback asks for. */
#define SSD_FALLBACK_SCORE 0.7

/* Longest side of the bordered copy before it is shrunk by an integer factor. */
#define BORDER_MAX_SIDE 1024

/*
 * Two detections of different passes are one face when their IoU exceeds
 * this or the centre of either lies inside the other (a face seen at two
 * scales gives boxes of different sizes).
 */
#define MERGE_IOU 0.3

/* A face's box in photo coordinates. */
static fi_detection
photo_box(const fi_face *f, const view *views)
{
	const view *v = &views[pass_view(f->attempt)];

	return (fi_detection) {(f->x - v->b) * v->k, (f->y - v->b) * v->k, f->w * v->k, f->h * v->k,
	f->score};
}

/* Whether point (x, y) lies inside box d. */
static bool
inside(double x, double y, const fi_detection *d)
{
	return x >= d->x && x <= d->x + d->w && y >= d->y && y <= d->y + d->h;
}

/* Whether two photo boxes are one face (see MERGE_IOU). */
static bool
same_face(const fi_detection *a, const fi_detection *b)
{
	return fi_iou(a, b) > MERGE_IOU ||
		inside(a->x + a->w / 2, a->y + a->h / 2, b) ||
		inside(b->x + b->w / 2, b->y + b->h / 2, a);
}

/*
 * One row of the shrunk copy: the sums of k source rows from src (the
 * first of them) added column by column into cols (w k 3 values: a
 * contiguous loop, vectorised in the AVX2 clone), then k columns at a
 * time, rounded.  The sums are integers and the division is done in double,
 * where it is exact (the quotient's floor is the integer quotient), so the
 * result is the integer box average whatever the order or the clone.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize ("O3")		/* -O2 leaves the column sums scalar */
#endif
FI_CLONES static void
shrink_row(const uint8_t *restrict src, int stride, int w, int k, unsigned *restrict cols,
		   uint8_t *restrict out)
{
	size_t		n = (size_t) w * k * 3;
	double		area = (double) k * k;
	unsigned	half = k * k / 2;

	memset(cols, 0, sizeof(unsigned) * n);
	for (int dy = 0; dy < k; dy++)
	{
		const uint8_t *restrict row = src + (size_t) dy * stride;

		for (size_t i = 0; i < n; i++)
			cols[i] += row[i];
	}
	for (int x = 0; x < w; x++)
		for (int ch = 0; ch < 3; ch++)
		{
			unsigned	sum = half;

			for (int dx = 0; dx < k; dx++)
				sum += cols[((size_t) x * k + dx) * 3 + ch];
			out[(size_t) x * 3 + ch] = (uint8_t) ((double) sum / area);
		}
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/*
 * The photo shrunk by k (k x k box average) inside a black border of b
 * pixels.  Memory stays O(BORDER_MAX_SIDE^2).
 */
static fi_status
bordered_copy(const fi_image *img, int k, int b, fi_image *out, fi_error *err)
{
	int			w = img->width / k,
				h = img->height / k;
	unsigned   *cols;

	out->width = w + 2 * b;
	out->height = h + 2 * b;
	out->rgb = calloc((size_t) out->width * out->height, 3);
	if (out->rgb == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory adding a border to the image");
	if (k == 1)					/* no shrinking: copy the rows */
	{
		for (int y = 0; y < h; y++)
			memcpy(out->rgb + ((size_t) (y + b) * out->width + b) * 3,
				   img->rgb + (size_t) y * img->width * 3, (size_t) w * 3);
		return FI_OK;
	}
	cols = malloc(sizeof(unsigned) * (size_t) w * k * 3);
	if (cols == NULL)
	{
		free(out->rgb);
		out->rgb = NULL;
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory shrinking the image");
	}
	for (int y = 0; y < h; y++)
		shrink_row(img->rgb + (size_t) y * k * img->width * 3, img->width * 3, w, k, cols,
				   out->rgb + ((size_t) (y + b) * out->width + b) * 3);
	free(cols);
	return FI_OK;
}

/*
 * The bordered view of the photo view v0: a black border of 1/4 of the
 * long side, v0's pixels first shrunk by an integer factor when the copy
 * would exceed BORDER_MAX_SIDE.  Made once, on first use.
 */
static fi_status
border_view(const view *v0, view *v, fi_error *err)
{
	const fi_image *img = &v0->img;
	int			longest = img->width > img->height ? img->width : img->height;
	int			k = (longest * 3 / 2 + BORDER_MAX_SIDE - 1) / BORDER_MAX_SIDE;

	if (v->img.rgb != NULL)
		return FI_OK;
	if (k < 1 || img->width / k < 1 || img->height / k < 1)
		k = 1;
	v->k = k * v0->k;
	v->b = longest / k / 4;
	return bordered_copy(img, k, v->b, &v->img, err);
}

/*
 * One detector pass over a view: opts with detector det, score min_score
 * and, when size > 0, that input size (else opts' own size rule).  Its
 * detections are added unless an earlier pass already has the face.
 */
static fi_status
run_pass(fi_pipeline *p, const fi_pipeline_opts *opts, const view *views, int attempt,
		 fi_detector_kind det, int size, double min_score, found *fd,
		 const fi_cancel *c, fi_error *err)
{
	const view *v = &views[pass_view(attempt)];
	fi_pipeline_opts o = *opts;
	fi_detection *d = NULL;
	int			nd = 0,
				before = fd->n;
	fi_status	s;

	o.detector = det;
	o.min_score = min_score;
	if (size > 0)
	{
		o.detect_size = size;
		o.native_max = 0;
	}
	if ((s = fi_pipeline_detections(p, &v->img, &o, &d, &nd, c, err)) != FI_OK)
		return s;
	if (fd->n + nd > fd->cap)
	{
		fi_face    *nf = realloc(fd->f, sizeof(fi_face) * (fd->n + nd));

		if (nf == NULL)
		{
			free(d);
			return fi_set_error(err, FI_ERR_NOMEM, "out of memory for %d faces", fd->n + nd);
		}
		fd->f = nf;
		fd->cap = fd->n + nd;
	}
	for (int i = 0; i < nd; i++)
	{
		fi_face    *f = &fd->f[fd->n];
		fi_detection pb;
		bool		dup = false;

		memset(f, 0, sizeof(*f));
		f->score = d[i].score;
		f->x = d[i].x;
		f->y = d[i].y;
		f->w = d[i].w;
		f->h = d[i].h;
		f->attempt = attempt;
		f->landmark_crop = fi_clip_floor(f->x, f->y, f->w, f->h, v->img.width, v->img.height);
		if (f->landmark_crop.width <= 0 || f->landmark_crop.height <= 0)
			continue;			/* face-api drops these too */
		pb = photo_box(f, views);
		for (int j = 0; j < before && !dup; j++)
		{
			fi_detection q = photo_box(&fd->f[j], views);

			dup = same_face(&pb, &q);
		}
		if (!dup)
			fd->n++;
	}
	free(d);
	return FI_OK;
}

/* Whether the photo pass found a face no frame-pass face can outweigh (FRAME_SKIP_WEIGHT). */
static bool
frame_pass_needless(const found *fd, const fi_image *img, const fi_pipeline_opts *opts)
{
	int			longest = img->width > img->height ? img->width : img->height;

	if (!opts->largest_only || opts->frame_always)
		return false;
	for (int i = 0; i < fd->n; i++)
		if (fi_face_weight(&fd->f[i], img->width, img->height) >= FRAME_SKIP_WEIGHT * longest)
			return true;
	return false;
}

/*
 * The passes, in order, until one finds a face (the first look's two run
 * unless only the main face is wanted and the photo pass settles it).
 */
static fi_status
look(fi_pipeline *p, const fi_pipeline_opts *opts, view *views, found *fd,
	 const fi_cancel *c, fi_error *err)
{
	const fi_image *img = &views[0].img;
	double		retry_score = opts->min_score + RETRY_SCORE_MARGIN;
	double		ssd_score = opts->min_score > SSD_FALLBACK_SCORE ? opts->min_score : SSD_FALLBACK_SCORE;
	bool		tiny = opts->detector == FI_DETECTOR_TINY;
	fi_status	s;

	/* the first look: the photo (native size rule), and for tiny the frame pass */
	if ((s = run_pass(p, opts, views, FI_PASS_PHOTO, opts->detector, 0, opts->min_score,
					  fd, c, err)) != FI_OK)
		return s;
	if (!opts->retry || frame_pass_needless(fd, img, opts))
		return FI_OK;
	if ((s = border_view(&views[0], &views[1], err)) != FI_OK)
		return s;
	if (tiny && (s = run_pass(p, opts, views, FI_PASS_FRAME, FI_DETECTOR_TINY, FRAME_SIZE,
							  opts->min_score, fd, c, err)) != FI_OK)
		return s;
	/* retries: only when nothing was found */
	if (fd->n == 0 &&
		(s = run_pass(p, opts, views, FI_PASS_RETRY_BORDER, opts->detector,
					  tiny ? RETRY_BORDER_SIZE : 0, retry_score, fd, c, err)) != FI_OK)
		return s;
	if (fd->n == 0 && tiny &&
		(s = run_pass(p, opts, views, FI_PASS_RETRY_SMALL, FI_DETECTOR_TINY, RETRY_SMALL_SIZE,
					  retry_score, fd, c, err)) != FI_OK)
		return s;
	if (fd->n > 0 || !tiny || !opts->ssd_fallback)
		return FI_OK;
	/* last, the other detector, demanding a high score (0.7: none on the plain negatives) */
	if ((s = run_pass(p, opts, views, FI_PASS_SSD_PHOTO, FI_DETECTOR_SSD, 0,
					  ssd_score, fd, c, err)) != FI_OK)
		return s;
	if (fd->n == 0)
		s = run_pass(p, opts, views, FI_PASS_SSD_BORDER, FI_DETECTOR_SSD, 0,
					 ssd_score + RETRY_SCORE_MARGIN, fd, c, err);
	return s;
}

/* Highest score first; ties keep the order found (pass, then detector order). */
static int
score_cmp(const void *pa, const void *pb)
{
	const fi_face *a = pa,
			   *b = pb;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->attempt != b->attempt)
		return a->attempt - b->attempt;
	return a->x < b->x ? -1 : a->x > b->x;
}

/* Keep only the face face_embed encodes (fi_face_primary on photo boxes). */
static fi_status
keep_primary(found *fd, const view *views, int W, int H, fi_error *err)
{
	fi_face    *pf = malloc(sizeof(fi_face) * fd->n);
	int			k;

	if (pf == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory for %d faces", fd->n);
	for (int i = 0; i < fd->n; i++)
	{
		pf[i] = fd->f[i];
		fi_view_unshift(&pf[i], &views[pass_view(pf[i].attempt)]);
	}
	k = fi_face_primary(pf, fd->n, W, H);
	free(pf);
	fd->f[0] = fd->f[k];
	fd->n = 1;
	return FI_OK;
}

/* All faces of a photo decoded at 1/ph->scale, with the retries when nothing is found. */
fi_status
fi_faces_detect_photo(fi_pipeline *p, const fi_photo *ph, const fi_pipeline_opts *opts,
					  fi_face **faces, int *nfaces, const fi_cancel *c, fi_error *err)
{
	view		views[2];
	found		fd = {NULL, 0, 0};
	fi_pipeline_opts o = *opts;
	fi_status	s;

	*faces = NULL;
	*nfaces = 0;
	if (ph == NULL || ph->img.rgb == NULL || ph->img.width <= 0 || ph->img.height <= 0)
		return fi_set_error(err, FI_ERR_INVALID, "empty image");
	if (ph->scale != 1 && (ph->scale < 1 || ph->scale > 8 || ph->data == NULL))
		return fi_set_error(err, FI_ERR_INVALID, "photo scale 1/%d without its bytes", ph->scale);
	if (ph->scale > 1 && opts->alignment == FI_ALIGN_FACEAPI)
		return fi_set_error(err, FI_ERR_INVALID, "the faceapi alignment needs the photo decoded at full size");
	if (ph->scale > 1 && opts->detector == FI_DETECTOR_TINY)
	{
		/* the photo pass reads the input the full-size photo asks for */
		o.detect_size = fi_pipeline_tiny_size(opts, ph->width, ph->height);
		o.native_max = 0;
	}
	views[0] = (view) {ph->img, 0, ph->scale};
	views[1] = (view) {{0}, 0, 1};
	s = look(p, &o, views, &fd, c, err);
	if (s == FI_OK && fd.n > 1)
	{
		qsort(fd.f, fd.n, sizeof(fi_face), score_cmp);
		if (o.max_faces > 0 && fd.n > o.max_faces)
			fd.n = o.max_faces;
		if (o.largest_only)
			s = keep_primary(&fd, views, ph->width, ph->height, err);
	}
	if (s == FI_OK)
		s = fi_faces_describe(p, ph, opts, views, &fd, c, err);
	free(views[1].img.rgb);
	if (s != FI_OK || fd.n == 0)
	{
		free(fd.f);
		return s;
	}
	*faces = fd.f;
	*nfaces = fd.n;
	return FI_OK;
}

/* All faces, with the retries when nothing is found. */
fi_status
fi_faces_detect(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
				fi_face **faces, int *nfaces, const fi_cancel *c, fi_error *err)
{
	fi_photo	ph;

	*faces = NULL;
	*nfaces = 0;
	if (img == NULL)
		return fi_set_error(err, FI_ERR_INVALID, "empty image");
	ph = fi_photo_of_image(img);
	return fi_faces_detect_photo(p, &ph, opts, faces, nfaces, c, err);
}

/* Descriptor of the face face_embed encodes (fi_face_primary), on a scaled decode. */
fi_status
fi_face_embed_primary_photo(fi_pipeline *p, const fi_photo *ph, const fi_pipeline_opts *opts,
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
	if ((s = fi_faces_detect_photo(p, ph, &o, &fs, &n, c, err)) != FI_OK)
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

/* Descriptor of the face face_embed encodes (fi_face_primary). */
fi_status
fi_face_embed_primary(fi_pipeline *p, const fi_image *img, const fi_pipeline_opts *opts,
					  float out[FI_REC_DIM], bool *found, fi_face *face,
					  const fi_cancel *c, fi_error *err)
{
	fi_photo	ph;

	*found = false;
	if (img == NULL)
		return fi_set_error(err, FI_ERR_INVALID, "empty image");
	ph = fi_photo_of_image(img);
	return fi_face_embed_primary_photo(p, &ph, opts, out, found, face, c, err);
}
