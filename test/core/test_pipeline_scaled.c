/*
 * test_pipeline_scaled.c
 *	  The face pipeline on a JPEG decoded at 1/scale (fi_faces_detect_photo)
 *	  against the same photo decoded at full size (fi_faces_detect), on
 *	  phone-size photos generated here from ../shared/faces (3x upscales,
 *	  4098 and 3411 px long, so decoded at 1/8):
 *	  - the same faces are found (IoU >= 0.6) and each face's descriptor lies
 *	    within SCALED_TOL of the full decode's;
 *	  - face_embed's descriptor is bit for bit face_embed_all's for its face,
 *	    though each decodes its own full-size region;
 *	  - an EXIF-rotated copy (pixels stored sideways, orientation 6) gives the
 *	    faces of the upright photo;
 *	  - a photo with no face never decodes anything at full size (its bytes
 *	    are cut short after the scaled decode and detection still succeeds),
 *	    while a photo with a face does (the same cut fails it).
 *	  Needs ../shared (prints SKIP without it) and the weights file.
 *
 *	  make -C test/core test_pipeline_scaled.bin && ./test/core/test_pipeline_scaled.bin
 */
#include "face/pipeline.h"
#include "nn/netops.h"
#include "testutil.h"

#include <jpeglib.h>

/*
 * Largest descriptor distance allowed between a face on the full decode and
 * on the scaled one.  The detector reads a DCT-scaled photo instead of a
 * point-sampled one, so boxes move by a few pixels and the landmarks and chip
 * follow: tool_scaled measured, over the 36 photos with a face that are
 * decoded smaller (../shared/faces above 832 px, the six samples, a phone-size
 * upscale), a median of 0.049 for a photo's largest distance and a maximum of
 * 0.22 (a face of the bald_guys collage).  The photos here measure 0.03-0.12:
 * 0.15 holds them with room and stays far below faceid.match_threshold
 * (0.5874).
 */
#define SCALED_TOL 0.15

/* A photo as JPEG bytes. */
typedef struct jpg
{
	unsigned char *data;
	unsigned long len;
} jpg;

/* Encode RGB pixels as a JPEG (quality 92), with an EXIF orientation when orient > 1. */
static jpg
encode(const uint8_t *rgb, int w, int h, int orient)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	jpg			j = {NULL, 0};
	/* "Exif\0\0", little-endian TIFF header, one IFD entry: Orientation SHORT 1 */
	uint8_t		exif[6 + 8 + 2 + 12 + 4] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
	1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t) orient, 0, 0, 0, 0, 0, 0, 0};

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &j.data, &j.len);
	c.image_width = w;
	c.image_height = h;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 92, TRUE);
	jpeg_start_compress(&c, TRUE);
	if (orient > 1)
		jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof(exif));
	while (c.next_scanline < c.image_height)
	{
		JSAMPROW	row = (JSAMPROW) (rgb + (size_t) c.next_scanline * w * 3);

		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	return j;
}

/* img enlarged f times, bilinear (pixel centres aligned). */
static fi_image
upscale(const fi_image *img, int f)
{
	fi_image	o = {img->width * f, img->height * f, NULL};

	o.rgb = malloc((size_t) o.width * o.height * 3);
	for (int y = 0; y < o.height; y++)
	{
		double		sy = fmin(fmax((y + 0.5) / f - 0.5, 0), img->height - 1);
		int			y0 = (int) sy,
					y1 = y0 + 1 < img->height ? y0 + 1 : y0;
		double		fy = sy - y0;

		for (int x = 0; x < o.width; x++)
		{
			double		sx = fmin(fmax((x + 0.5) / f - 0.5, 0), img->width - 1);
			int			x0 = (int) sx,
						x1 = x0 + 1 < img->width ? x0 + 1 : x0;
			double		fx = sx - x0;

			for (int ch = 0; ch < 3; ch++)
			{
#define P(xx, yy) img->rgb[((size_t) (yy) * img->width + (xx)) * 3 + ch]
				double		v = (P(x0, y0) * (1 - fx) + P(x1, y0) * fx) * (1 - fy) +
					(P(x0, y1) * (1 - fx) + P(x1, y1) * fx) * fy;
#undef P

				o.rgb[((size_t) y * o.width + x) * 3 + ch] = (uint8_t) lround(v);
			}
		}
	}
	return o;
}

/* img rotated 90 degrees counter-clockwise (what orientation 6 turns back upright). */
static fi_image
rotate_ccw(const fi_image *img)
{
	fi_image	o = {img->height, img->width, malloc((size_t) img->width * img->height * 3)};

	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width; x++)
			memcpy(o.rgb + ((size_t) (img->width - 1 - x) * o.width + y) * 3,
				   img->rgb + ((size_t) y * img->width + x) * 3, 3);
	return o;
}

/* A photo of ../shared/faces enlarged f times, as JPEG bytes (orientation 1 or 6). */
static bool
phone_photo(const char *rel, int f, int orient, jpg *out, fi_image *shown)
{
	char		path[2048];
	fi_image	src,
				big,
				stored;

	snprintf(path, sizeof(path), "%s/faces/%s", t_shared(), rel);
	if (t_load_image(path, &src) != 0)
		return false;
	big = upscale(&src, f);
	fi_image_free(&src);
	stored = orient == 6 ? rotate_ccw(&big) : big;
	*out = encode(stored.rgb, stored.width, stored.height, orient);
	if (stored.rgb != big.rgb)
		fi_image_free(&stored);
	if (shown != NULL)
		*shown = big;
	else
		fi_image_free(&big);
	return true;
}

/* The faces of a JPEG decoded at 1/scale (0: the scale the pipeline picks). */
static fi_status
faces_at(fi_pipeline *p, const jpg *j, int scale, fi_face **fs, int *n, int *used, fi_error *err)
{
	fi_pipeline_opts o;
	fi_photo	ph;
	fi_status	s;
	int			w = 0,
				h = 0;

	fi_pipeline_opts_default(&o);
	if (scale == 0 && (s = fi_image_probe(j->data, j->len, NULL, &w, &h, err)) != FI_OK)
		return s;
	if (scale == 0)
		scale = fi_pipeline_decode_scale(&o, w, h);
	if ((s = fi_photo_decode(j->data, j->len, 50000000, scale, &ph, err)) != FI_OK)
		return s;
	*used = ph.scale;
	s = fi_faces_detect_photo(p, &ph, &o, fs, n, NULL, err);
	fi_photo_free(&ph);
	return s;
}

/* Index of the face of b that is a's (IoU >= 0.6), or -1. */
static int
match(const fi_face *a, const fi_face *b, int nb)
{
	fi_detection da = {a->x, a->y, a->w, a->h, a->score};

	for (int j = 0; j < nb; j++)
	{
		fi_detection db = {b[j].x, b[j].y, b[j].w, b[j].h, b[j].score};

		if (fi_iou(&da, &db) >= 0.6)
			return j;
	}
	return -1;
}

/* Every face of ref is in got, its descriptor within SCALED_TOL; the same count. */
static void
same_faces(const char *what, const fi_face *ref, int nref, const fi_face *got, int ngot)
{
	double		maxd = 0;

	t_check(nref > 0 && ngot == nref, "%s: %d faces, full decode %d", what, ngot, nref);
	for (int i = 0; i < nref; i++)
	{
		int			j = match(&ref[i], got, ngot);

		t_check(j >= 0, "%s: face %d (%.0f,%.0f %.0fx%.0f) found", what, i, ref[i].x, ref[i].y,
				ref[i].w, ref[i].h);
		if (j >= 0)
			maxd = fmax(maxd, t_dist(ref[i].descriptor, got[j].descriptor));
	}
	t_check(maxd <= SCALED_TOL, "%s: descriptor distance to the full decode %.4f <= %.2f", what,
			maxd, SCALED_TOL);
	printf("%s: %d faces, largest descriptor distance to the full decode %.4f\n", what, ngot, maxd);
}

/* Full vs scaled decode on one generated phone photo; face_embed equals face_embed_all. */
static void
test_photo(fi_pipeline *p, const char *rel, int f)
{
	jpg			j,
				jr;
	fi_face    *full = NULL,
			   *sc = NULL,
			   *rot = NULL;
	int			nfull = 0,
				nsc = 0,
				nrot = 0,
				used = 0;
	fi_error	err = {0};
	char		what[256];

	if (!phone_photo(rel, f, 1, &j, NULL))
	{
		t_check(0, "%s: cannot read", rel);
		return;
	}
	t_check(faces_at(p, &j, 1, &full, &nfull, &used, &err) == FI_OK, "%s full: %s", rel, err.msg);
	t_check(faces_at(p, &j, 0, &sc, &nsc, &used, &err) == FI_OK && used == 8,
			"%s scaled: decoded at 1/%d (%s)", rel, used, err.msg);
	snprintf(what, sizeof(what), "%s x%d at 1/8", rel, f);
	same_faces(what, full, nfull, sc, nsc);
	{
		/* face_embed's face: bit for bit its face_embed_all descriptor */
		fi_pipeline_opts o;
		fi_photo	ph;
		float		d[FI_REC_DIM];
		bool		found = false;
		fi_face		pf;

		fi_pipeline_opts_default(&o);
		if (fi_photo_decode(j.data, j.len, 50000000, 8, &ph, &err) == FI_OK)
		{
			int			k;

			t_check(fi_face_embed_primary_photo(p, &ph, &o, d, &found, &pf, NULL, &err) == FI_OK && found,
					"%s: face_embed (%s)", rel, err.msg);
			k = found ? match(&pf, sc, nsc) : -1;
			t_check(k >= 0 && memcmp(d, sc[k].descriptor, sizeof(d)) == 0,
					"%s: face_embed's descriptor is face_embed_all's bit for bit", rel);
			fi_photo_free(&ph);
		}
	}
	/* the same photo stored sideways with EXIF orientation 6 */
	if (phone_photo(rel, f, 6, &jr, NULL))
	{
		t_check(faces_at(p, &jr, 0, &rot, &nrot, &used, &err) == FI_OK && used == 8,
				"%s rotated: decoded at 1/%d (%s)", rel, used, err.msg);
		snprintf(what, sizeof(what), "%s x%d, EXIF 6, at 1/8", rel, f);
		same_faces(what, full, nfull, rot, nrot);
		free(jr.data);
	}
	free(full);
	free(sc);
	free(rot);
	free(j.data);
}

/*
 * Decode at 1/8, then cut the photo's bytes short a little after its scan
 * header (any later decode of them fails), and run the pipeline.
 */
static fi_status
spoilt_run(fi_pipeline *p, const jpg *j, int *n, fi_error *err)
{
	fi_pipeline_opts o;
	fi_photo	ph;
	fi_face    *fs = NULL;
	fi_status	s;
	size_t		sos = 2;

	fi_pipeline_opts_default(&o);
	*n = 0;
	if ((s = fi_photo_decode(j->data, j->len, 50000000, 8, &ph, err)) != FI_OK)
		return s;
	while (sos + 1 < j->len && !(j->data[sos] == 0xFF && j->data[sos + 1] == 0xDA))
		sos++;
	ph.len = sos + 512 < j->len ? sos + 512 : j->len;
	s = fi_faces_detect_photo(p, &ph, &o, &fs, n, NULL, err);
	free(fs);
	fi_photo_free(&ph);
	return s;
}

/* A photo without a face is never decoded at full size; one with a face is, for its region. */
static void
test_no_full_decode(fi_pipeline *p)
{
	jpg			neg,
				pos;
	int			n = 0;
	fi_error	err = {0};
	fi_status	s;

	if (!phone_photo("negatives_nonface/plain/mate_Storm.jpg", 2, 1, &neg, NULL) ||
		!phone_photo("face_recognition_examples/examples/obama.jpg", 3, 1, &pos, NULL))
	{
		t_check(0, "photos missing");
		return;
	}
	s = spoilt_run(p, &neg, &n, &err);
	t_check(s == FI_OK && n == 0, "no face, bytes cut after the scaled decode: status %d, %d faces (%s)", s, n, err.msg);
	s = spoilt_run(p, &pos, &n, &err);
	t_check(s == FI_ERR_CORRUPT, "a face, bytes cut after the scaled decode: its region is decoded, status %d", s);
	free(neg.data);
	free(pos.data);
}

/* Run every test on the shared photos. */
int
main(void)
{
	fi_model   *m;
	fi_pipeline *p = NULL;
	fi_error	err = {0};

	if (t_shared() == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent: the scaled-decode pipeline tests need its photos\n");
		return 0;
	}
	if ((m = t_open_model()) == NULL)
		return t_done();
	if (fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		t_check(0, "pipeline: %s", err.msg);
		return t_done();
	}
	test_photo(p, "face_recognition_examples/examples/obama.jpg", 3);
	test_photo(p, "faceapi_bbt/examples/images/bbt1.jpg", 3);
	test_no_full_decode(p);
	fi_pipeline_free(p);
	fi_model_close(m);
	return t_done();
}
