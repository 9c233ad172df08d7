/*
 * describe.c
 *	  Landmarks and descriptors of the faces detect.c kept, each on the view
 *	  it was found on, mapped back to the photo.  When the photo was decoded
 *	  smaller (fi_photo, a scaled JPEG decode), the faces of the photo pass
 *	  get their landmarks and chips from the full-size pixels of their
 *	  region instead (fi_photo_region), decoded again, grown, when a rotated
 *	  chip reads past it.
 */
#include "face/views.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * On a scaled decode, the full-size region first decoded for the faces of
 * the photo pass: their boxes grown by this fraction of their side on every
 * side.  The landmark crop is the box itself; the chip usually fits in the
 * margin, and where it does not (fi_similarity_chip_extent) the region is
 * decoded again around it, so the margin changes cost, never pixels.
 */
#define REGION_MARGIN 0.5

/* Map a face found on view v back to the photo. */
void
fi_view_unshift(fi_face *f, const view *v)
{
	int			b = v->b,
				k = v->k;

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

/* Move a face (box, landmarks, crops) by (dx, dy) pixels. */
static void
shift_face(fi_face *f, int dx, int dy)
{
	f->x += dx;
	f->y += dy;
	for (int i = 0; i < FI_LM_POINTS; i++)
	{
		f->landmarks[i][0] += dx;
		f->landmarks[i][1] += dy;
	}
	f->landmark_crop.x += dx;
	f->landmark_crop.y += dy;
	f->descriptor_crop.x += dx;
	f->descriptor_crop.y += dy;
}

/* A rectangle of photo pixels, x0..x1 and y0..y1 exclusive of x1, y1. */
typedef struct bounds
{
	int			x0,
				y0,
				x1,
				y1;
} bounds;

/* Grow b to hold the rect x0..x1, y0..y1 (exclusive), clipped to W x H. */
static void
bounds_add(bounds *b, double x0, double y0, double x1, double y1, int W, int H)
{
	int			ix0 = (int) fmax(0, floor(x0)),
				iy0 = (int) fmax(0, floor(y0)),
				ix1 = (int) fmin(W, ceil(x1)),
				iy1 = (int) fmin(H, ceil(y1));

	if (ix0 >= ix1 || iy0 >= iy1)
		return;
	if (b->x0 >= b->x1)
	{
		*b = (bounds) {ix0, iy0, ix1, iy1};
		return;
	}
	b->x0 = ix0 < b->x0 ? ix0 : b->x0;
	b->y0 = iy0 < b->y0 ? iy0 : b->y0;
	b->x1 = ix1 > b->x1 ? ix1 : b->x1;
	b->y1 = iy1 > b->y1 ? iy1 : b->y1;
}

/* The full-size pixels of the faces' region, and where it lies in the photo. */
typedef struct region
{
	fi_image	img;
	bounds		at;
} region;

/* Whether face f (region coordinates) reads only pixels of r or outside the photo. */
static bool
chip_inside(const fi_face *f, const region *r, int W, int H)
{
	int			x0,
				y0,
				x1,
				y1;

	fi_similarity_chip_extent(f->landmarks, NULL, &x0, &y0, &x1, &y1);
	/* to photo coordinates, clipped to the photo: outside it the chip reads black */
	x0 = x0 + r->at.x0 < 0 ? 0 : x0 + r->at.x0;
	y0 = y0 + r->at.y0 < 0 ? 0 : y0 + r->at.y0;
	x1 = x1 + r->at.x0 > W - 1 ? W - 1 : x1 + r->at.x0;
	y1 = y1 + r->at.y0 > H - 1 ? H - 1 : y1 + r->at.y0;
	return x0 >= r->at.x0 && y0 >= r->at.y0 && x1 < r->at.x1 && y1 < r->at.y1;
}

/* Decode region b of the photo and move the faces marked in full into it. */
static fi_status
load_region(const fi_photo *ph, bounds b, fi_face *f, const bool *full, int n, region *r,
			fi_error *err)
{
	fi_status	s;

	for (int i = 0; i < n; i++)
		if (full[i] && r->img.rgb != NULL)
			shift_face(&f[i], r->at.x0, r->at.y0);
	fi_image_free(&r->img);
	r->at = b;
	if ((s = fi_photo_region(ph, b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0, &r->img, err)) != FI_OK)
		return s;
	for (int i = 0; i < n; i++)
		if (full[i])
			shift_face(&f[i], -b.x0, -b.y0);
	return FI_OK;
}

/*
 * On a scaled decode: map the photo-pass faces (full[i]) to full size, set
 * their landmark crops there and decode their region (the boxes grown by
 * REGION_MARGIN).
 */
static fi_status
full_size_region(const fi_photo *ph, const view *views, fi_face *f, const bool *full, int n,
				 region *r, fi_error *err)
{
	bounds		b = {0, 0, 0, 0};

	for (int i = 0; i < n; i++)
	{
		double		m;

		if (!full[i])
			continue;
		fi_view_unshift(&f[i], &views[0]);
		f[i].landmark_crop = fi_clip_floor(f[i].x, f[i].y, f[i].w, f[i].h, ph->width, ph->height);
		if (f[i].landmark_crop.width <= 0 || f[i].landmark_crop.height <= 0)
			return fi_set_error(err, FI_ERR_INTERNAL, "face %d has an empty box at full size", i);
		m = REGION_MARGIN * fmax(f[i].w, f[i].h);
		bounds_add(&b, f[i].x - m, f[i].y - m, f[i].x + f[i].w + m, f[i].y + f[i].h + m,
				   ph->width, ph->height);
		bounds_add(&b, f[i].landmark_crop.x, f[i].landmark_crop.y,
				   f[i].landmark_crop.x + f[i].landmark_crop.width,
				   f[i].landmark_crop.y + f[i].landmark_crop.height, ph->width, ph->height);
	}
	return load_region(ph, b, f, full, n, r, err);
}

/* Decode the region again, grown to hold every chip, when one reads past it. */
static fi_status
grow_region(const fi_photo *ph, fi_face *f, const bool *full, int n, region *r, fi_error *err)
{
	bounds		b = r->at;
	bool		grow = false;

	for (int i = 0; i < n; i++)
	{
		int			x0,
					y0,
					x1,
					y1;

		if (!full[i] || chip_inside(&f[i], r, ph->width, ph->height))
			continue;
		fi_similarity_chip_extent(f[i].landmarks, NULL, &x0, &y0, &x1, &y1);
		bounds_add(&b, x0 + r->at.x0, y0 + r->at.y0, x1 + 1 + r->at.x0, y1 + 1 + r->at.y0,
				   ph->width, ph->height);
		grow = true;
	}
	return grow ? load_region(ph, b, f, full, n, r, err) : FI_OK;
}

/*
 * Landmarks and (when opts->embed) descriptors of the faces kept, each on
 * the view it was found on (on a scaled decode, the photo pass's faces on
 * their full-size region), all faces' chips as one encoder batch; then the
 * faces are mapped back to the photo.
 */
fi_status
fi_faces_describe(fi_pipeline *p, const fi_photo *ph, const fi_pipeline_opts *opts,
				  const view *views, found *fd, const fi_cancel *c, fi_error *err)
{
	const fi_image **imgs;
	bool	   *full;
	bool		any = false;
	region		r = {{0}, {0, 0, 0, 0}};
	fi_status	s = FI_OK;

	if (fd->n == 0)
		return FI_OK;
	imgs = malloc(sizeof(fi_image *) * fd->n);
	full = malloc(sizeof(bool) * fd->n);
	if (imgs == NULL || full == NULL)
	{
		free(imgs);
		free(full);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory for %d faces", fd->n);
	}
	for (int i = 0; i < fd->n; i++)
		any |= full[i] = ph->scale > 1 && pass_view(fd->f[i].attempt) == 0;
	if (any)
		s = full_size_region(ph, views, fd->f, full, fd->n, &r, err);
	for (int i = 0; s == FI_OK && i < fd->n; i++)
	{
		imgs[i] = full[i] ? &r.img : &views[pass_view(fd->f[i].attempt)].img;
		s = fi_face_landmarks(p, imgs[i], opts, &fd->f[i], c, err);
	}
	if (s == FI_OK && any && opts->embed)
		s = grow_region(ph, fd->f, full, fd->n, &r, err);
	if (s == FI_OK && opts->embed)
		s = fi_face_descriptors(p, imgs, opts, fd->f, fd->n, c, err);
	for (int i = 0; s == FI_OK && i < fd->n; i++)
	{
		if (full[i])
			shift_face(&fd->f[i], r.at.x0, r.at.y0);
		else
			fi_view_unshift(&fd->f[i], &views[pass_view(fd->f[i].attempt)]);
	}
	fi_image_free(&r.img);
	free(imgs);
	free(full);
	return s;
}
