/*
 * test_pipeline.c
 *	  End-to-end check of the face pipeline against the golden image files
 *	  (../shared/golden/out/image_*.json, never the *.jpeg-js.json ones), tiny
 *	  detector at 320/416/608 and SSD, with face-api's alignment and landmark
 *	  quirk: same faces in the same order, boxes within 1e-2 px, landmarks
 *	  (full and tiny net) within 5e-2 px, descriptors within 1e-3 (Euclidean).
 *	  A floored crop may differ from the golden one by 1 px (spec 9); then the
 *	  difference is asserted to be at most 1 px and the next step runs on the
 *	  golden crop.  Also: the one-call API (true landmark positions) agrees
 *	  with the steps, the
 *	  similarity alignment, the retry on a frame-filling face, many faces.
 */
#include "minijson.h"
#include "face/pipeline.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>

#define BOX_TOL 1e-2
#define LM_TOL 5e-2
#define DESC_TOL 1e-3

static int	crops_shifted;

/* Rect from a golden {x, y, width, height}. */
static fi_rect
grect(const jnode *r)
{
	return (fi_rect) {(int) j_num(j_get(r, "x")), (int) j_num(j_get(r, "y")),
	(int) j_num(j_get(r, "width")), (int) j_num(j_get(r, "height"))};
}

/* Largest field difference of two rects. */
static int
rect_diff(fi_rect a, fi_rect b)
{
	int			d = abs(a.x - b.x);

	d = abs(a.y - b.y) > d ? abs(a.y - b.y) : d;
	d = abs(a.width - b.width) > d ? abs(a.width - b.width) : d;
	return abs(a.height - b.height) > d ? abs(a.height - b.height) : d;
}

/* Max distance of 68 points to golden [[x, y], ...]. */
static double
lm_diff(const double lm[FI_LM_POINTS][2], const jnode *g)
{
	double		md = 0;

	for (int i = 0; i < FI_LM_POINTS; i++)
	{
		jnode	   *pt = j_at(g, i);

		md = fmax(md, fabs(lm[i][0] - j_num(j_at(pt, 0))));
		md = fmax(md, fabs(lm[i][1] - j_num(j_at(pt, 1))));
	}
	return md;
}

/* Euclidean distance of a descriptor to a golden one. */
static double
desc_dist(const float *d, const jnode *g)
{
	double		s = 0;

	for (int i = 0; i < FI_REC_DIM; i++)
	{
		double		v = d[i] - j_num(j_at(g, i));

		s += v * v;
	}
	return sqrt(s);
}

/* One pipeline (ssd or tiny at a size) of one golden file, step by step. */
static void
check_pipeline(fi_pipeline *p, const fi_image *img, const char *tag, const jnode *gp,
			   const fi_pipeline_opts *opts)
{
	jnode	   *gf = j_get(gp, "faces");
	fi_detection *d = NULL;
	int			nd = 0;
	fi_error	err = {0};
	fi_face    *all = NULL;
	int			nall = 0;

	t_check(fi_pipeline_detections(p, img, opts, &d, &nd, NULL, &err) == FI_OK, "%s: detect: %s", tag, err.msg);
	t_check(nd == gf->n, "%s: %d faces, golden %d", tag, nd, gf->n);
	for (int i = 0; i < nd && i < gf->n; i++)
	{
		jnode	   *g = gf->kids[i];
		jnode	   *gb = j_get(g, "box");
		fi_face		f = {0};
		fi_pipeline_opts o = *opts;
		fi_rect		gcrop = grect(j_get(g, "landmarkCrop"));
		double		bd = fmax(fmax(fabs(d[i].x - j_num(j_get(gb, "x"))), fabs(d[i].y - j_num(j_get(gb, "y")))),
							  fmax(fabs(d[i].w - j_num(j_get(gb, "width"))), fabs(d[i].h - j_num(j_get(gb, "height")))));
		double		x,
					y,
					w,
					h;

		t_check(bd <= BOX_TOL && fabs(d[i].score - j_num(j_get(g, "score"))) < 1e-4,
				"%s face %d: box diff %.2g px, score %.6f vs %.6f", tag, i, bd, d[i].score, j_num(j_get(g, "score")));
		f.score = d[i].score;
		f.x = d[i].x;
		f.y = d[i].y;
		f.w = d[i].w;
		f.h = d[i].h;
		f.landmark_crop = fi_clip_floor(f.x, f.y, f.w, f.h, img->width, img->height);
		if (rect_diff(f.landmark_crop, gcrop) != 0)
		{
			crops_shifted++;
			t_check(rect_diff(f.landmark_crop, gcrop) <= 1, "%s face %d: landmark crop off by %d px",
					tag, i, rect_diff(f.landmark_crop, gcrop));
			f.landmark_crop = gcrop;
		}
		o.faceapi_landmark_quirk = true;
		o.tiny_landmarks = true;
		t_check(fi_face_landmarks(p, img, &o, &f, NULL, &err) == FI_OK, "%s: landmarks: %s", tag, err.msg);
		t_check(lm_diff(f.landmarks, j_get(g, "landmarksTiny")) <= LM_TOL,
				"%s face %d: tiny-net landmarks diff %.2g px", tag, i, lm_diff(f.landmarks, j_get(g, "landmarksTiny")));
		o.tiny_landmarks = false;
		t_check(fi_face_landmarks(p, img, &o, &f, NULL, &err) == FI_OK, "%s: landmarks: %s", tag, err.msg);
		t_check(lm_diff(f.landmarks, j_get(g, "landmarks")) <= LM_TOL,
				"%s face %d: landmarks diff %.2g px", tag, i, lm_diff(f.landmarks, j_get(g, "landmarks")));

		fi_faceapi_descriptor_rect(&f, &x, &y, &w, &h);
		{
			fi_rect		dc = fi_clip_floor(x, y, w, h, img->width, img->height);
			fi_rect		gdc = grect(j_get(g, "descriptorCrop"));
			float		desc[FI_REC_DIM];
			double		dd;

			if (rect_diff(dc, gdc) != 0)
			{
				crops_shifted++;
				t_check(rect_diff(dc, gdc) <= 1, "%s face %d: descriptor crop off by %d px",
						tag, i, rect_diff(dc, gdc));
				dc = gdc;
			}
			t_check(fi_recognition_embed(fi_pipeline_model(p), fi_pipeline_workspace(p), img, &dc,
										 desc, NULL, &err) == FI_OK, "%s: embed: %s", tag, err.msg);
			dd = desc_dist(desc, j_get(g, "descriptor"));
			t_check(dd <= DESC_TOL, "%s face %d: descriptor distance %.3g", tag, i, dd);
		}
	}
	free(d);

	/* the one-call API: same faces, and the same descriptors where the crops agree */
	{
		fi_pipeline_opts o = *opts;

		o.alignment = FI_ALIGN_FACEAPI;
		o.faceapi_landmark_quirk = false;	/* true positions; the crop must not change */
		o.retry = false;
		t_check(fi_faces_detect(p, img, &o, &all, &nall, NULL, &err) == FI_OK, "%s: faces_detect: %s", tag, err.msg);
		t_check(nall == gf->n, "%s: faces_detect found %d faces, golden %d", tag, nall, gf->n);
		for (int i = 0; i < nall && i < gf->n; i++)
		{
			jnode	   *g = gf->kids[i];

			if (rect_diff(all[i].descriptor_crop, grect(j_get(g, "descriptorCrop"))) == 0)
				t_check(desc_dist(all[i].descriptor, j_get(g, "descriptor")) <= DESC_TOL,
						"%s face %d: faces_detect descriptor distance %.3g", tag, i,
						desc_dist(all[i].descriptor, j_get(g, "descriptor")));
			{
				/* true positions = face-api's minus its box-origin shift, plus the crop origin */
				jnode	   *gl = j_get(g, "landmarks");
				double		sx = all[i].x - all[i].landmark_crop.x,
							sy = all[i].y - all[i].landmark_crop.y,
							md = 0;

				for (int k = 0; k < FI_LM_POINTS; k++)
				{
					md = fmax(md, fabs(all[i].landmarks[k][0] + sx - j_num(j_at(j_at(gl, k), 0))));
					md = fmax(md, fabs(all[i].landmarks[k][1] + sy - j_num(j_at(j_at(gl, k), 1))));
				}
				t_check(md <= LM_TOL, "%s face %d: true-position landmarks diff %.2g px", tag, i, md);
			}
			if (i > 0)
				t_check(all[i].score <= all[i - 1].score, "%s: faces sorted by score", tag);
		}
		free(all);
	}
}

/*
 * The default tiny input (only the lines that hold the photo) against
 * face-api's padded square: the same faces, boxes overlapping by IoU >= 0.8
 * (cells near the bottom/right edge see zero padding instead, so scores move
 * a little there).
 */
static void
check_trimmed(fi_pipeline *p, const fi_image *img, const char *tag, const fi_pipeline_opts *opts)
{
	fi_pipeline_opts o = *opts;
	fi_detection *sq = NULL,
			   *tr = NULL;
	int			nsq = 0,
				ntr = 0,
				matched = 0;
	fi_error	err = {0};

	o.tiny_square = true;
	fi_pipeline_detections(p, img, &o, &sq, &nsq, NULL, &err);
	o.tiny_square = false;
	t_check(fi_pipeline_detections(p, img, &o, &tr, &ntr, NULL, &err) == FI_OK,
			"%s trimmed input: detect: %s", tag, err.msg);
	for (int i = 0; i < nsq; i++)
	{
		bool		hit = false;

		for (int j = 0; j < ntr && !hit; j++)
			hit = fi_iou(&sq[i], &tr[j]) >= 0.8;
		matched += hit;
	}
	t_check(ntr == nsq && matched == nsq,
			"%s trimmed input (%dx%d photo): %d faces, square %d, %d matched at IoU >= 0.8",
			tag, img->width, img->height, ntr, nsq, matched);
	free(sq);
	free(tr);
}

/* The 30-face mosaic: 6 x 5 cells of CELL px, each a centred TILE px crop of an LFW photo. */
#define CELL 200
#define TILE 160

/* Cancel after `left` polls. */
static bool
stop_after(void *arg)
{
	int		   *left = arg;

	return --(*left) < 0;
}

/* Copy a w x h block of src at (sx, sy) into dst at (dx, dy). */
static void
blit(fi_image *dst, int dx, int dy, const fi_image *src, int sx, int sy, int w, int h)
{
	for (int y = 0; y < h; y++)
		memcpy(dst->rgb + ((size_t) (dy + y) * dst->width + dx) * 3,
			   src->rgb + ((size_t) (sy + y) * src->width + sx) * 3, (size_t) w * 3);
}

/* Rotate img by deg degrees about its centre (bilinear, black outside). */
static fi_image
rotate(const fi_image *img, double deg)
{
	fi_image	o = {img->width, img->height, calloc((size_t) img->width * img->height, 3)};
	double		a = deg * M_PI / 180,
				cx = img->width / 2.0,
				cy = img->height / 2.0;

	for (int y = 0; y < o.height; y++)
		for (int x = 0; x < o.width; x++)
		{
			double		sx = cos(a) * (x - cx) + sin(a) * (y - cy) + cx;
			double		sy = -sin(a) * (x - cx) + cos(a) * (y - cy) + cy;
			int			x0 = (int) floor(sx),
						y0 = (int) floor(sy);
			double		fx = sx - x0,
						fy = sy - y0;

			if (x0 < 0 || y0 < 0 || x0 + 1 >= img->width || y0 + 1 >= img->height)
				continue;
			for (int c = 0; c < 3; c++)
			{
				const uint8_t *p = img->rgb + ((size_t) y0 * img->width + x0) * 3 + c;
				double		v = (p[0] * (1 - fx) + p[3] * fx) * (1 - fy) +
					(p[img->width * 3] * (1 - fx) + p[img->width * 3 + 3] * fx) * fy;

				o.rgb[((size_t) y * o.width + x) * 3 + c] = (uint8_t) (v + 0.5);
			}
		}
	return o;
}

/*
 * fi_faces_detect on img (default options but flip and size) encodes all
 * faces as one batch (in groups of FI_REC_MAX_BATCH chips): each descriptor
 * must be, bit for bit, the one fi_face_descriptor gives the face alone.
 */
static void
check_batch(fi_pipeline *p, const fi_image *img, bool flip, int size, const char *what)
{
	fi_pipeline_opts o;
	fi_face    *fs = NULL;
	int			n = 0,
				same = 0,
				photo = 0;
	int64_t		r0,
				r1,
				e0,
				e1;
	fi_error	err = {0};

	fi_pipeline_opts_default(&o);
	o.flip_average = flip;
	o.detect_size = size;
	fi_pipeline_counters(p, &r0, &e0);
	if (fi_faces_detect(p, img, &o, &fs, &n, NULL, &err) != FI_OK)
		n = 0;
	fi_pipeline_counters(p, &r1, &e1);
	for (int i = 0; i < n; i++)
	{
		fi_face		one = fs[i];

		if (fs[i].attempt != FI_PASS_PHOTO)
			continue;			/* its chip comes from the bordered copy */
		photo++;
		memset(one.descriptor, 0, sizeof(one.descriptor));
		if (fi_face_descriptor(p, img, &o, &one, NULL, &err) == FI_OK &&
			memcmp(one.descriptor, fs[i].descriptor, sizeof(one.descriptor)) == 0)
			same++;
	}
	t_check(n >= 3 && photo >= 3 && same == photo && e1 - e0 == (int64_t) n * (flip ? 2 : 1),
			"%s, flip %d: %d of %d faces (%d found by the photo pass) have the descriptor they get "
			"alone, bit for bit; %lld encoder images", what, flip, same, n, photo,
			(long long) (e1 - e0));
	free(fs);
}

/*
 * face_embed skips the frame pass when the photo pass found a face it cannot
 * outweigh: on LFW photos where it fires, the chosen face and its
 * descriptor are those of both passes, bit for bit; on Ethan_Hawke_0004 (a
 * background face found confidently by the photo pass, the subject only by
 * the frame pass) it must not fire.
 */
static void
check_frame_skip(fi_pipeline *p, const char *shared)
{
	static const char *const photos[] = {
		"Aaron_Peirsol/Aaron_Peirsol_0001", "Angela_Bassett/Angela_Bassett_0006",
		"Colin_Farrell/Colin_Farrell_0003", "Jason_Kidd/Jason_Kidd_0009",
		"Ethan_Hawke/Ethan_Hawke_0004", "Billy_Crystal/Billy_Crystal_0005",
	};
	int			nphotos = sizeof(photos) / sizeof(photos[0]);

	for (int i = 0; i < nphotos; i++)
	{
		char		path[1024];
		fi_image	img;
		float		d[2][FI_REC_DIM];
		bool		found[2] = {false, false};
		fi_face		f[2];
		int			runs[2] = {0, 0};
		bool		subject_in_frame = i >= nphotos - 2;
		fi_error	err = {0};

		snprintf(path, sizeof(path), "%s/faces/lfw-view1/%s.jpg", shared, photos[i]);
		if (t_load_image(path, &img) != 0)
		{
			t_check(0, "decode %s", path);
			continue;
		}
		for (int k = 0; k < 2; k++)
		{
			fi_pipeline_opts o;
			int64_t		r0,
						r1,
						e;

			fi_pipeline_opts_default(&o);
			o.frame_always = k == 0;
			fi_pipeline_counters(p, &r0, &e);
			if (fi_face_embed_primary(p, &img, &o, d[k], &found[k], &f[k], NULL, &err) != FI_OK)
				found[k] = false;
			fi_pipeline_counters(p, &r1, &e);
			runs[k] = (int) (r1 - r0);
		}
		t_check(found[0] && found[1] && memcmp(d[0], d[1], sizeof(d[0])) == 0 &&
				f[0].attempt == f[1].attempt && f[0].x == f[1].x && f[0].y == f[1].y &&
				runs[0] == 2 &&
				(subject_in_frame ? runs[1] == 2 && f[1].attempt == FI_PASS_FRAME : runs[1] == 1),
				"frame-pass skip on %s: detector runs %d -> %d, main face from pass %d -> %d, "
				"same descriptor bits %d", photos[i], runs[0], runs[1], f[0].attempt,
				f[1].attempt, memcmp(d[0], d[1], sizeof(d[0])) == 0);
		fi_image_free(&img);
	}
}

/* Behaviour beyond the golden files: alignment, retry, many faces, cancel, bad input. */
static void
check_behaviour(fi_pipeline *p, const char *shared)
{
	char		path[1024];
	fi_image	img,
				lfw;
	fi_pipeline_opts o;
	fi_face    *fs = NULL;
	int			n = 0;
	fi_error	err = {0};

	fi_pipeline_opts_default(&o);
	snprintf(path, sizeof(path), "%s/golden/images/sample1.jpg", shared);
	if (t_load_image(path, &img) != 0)
	{
		t_check(0, "decode %s", path);
		return;
	}

	/* defaults: 3 faces on sample1, true-position landmarks inside their boxes */
	n = -1;
	if (fi_faces_detect(p, &img, &o, &fs, &n, NULL, &err) != FI_OK)
		n = -1;
	t_check(n == 3,
			"sample1 default options: %d faces (%s)", n, err.msg);
	for (int i = 0; i < n; i++)
	{
		int			inside = 0;

		for (int k = 0; k < FI_LM_POINTS; k++)
			inside += fs[i].landmarks[k][0] >= fs[i].x - 0.1 * fs[i].w &&
				fs[i].landmarks[k][0] <= fs[i].x + 1.1 * fs[i].w &&
				fs[i].landmarks[k][1] >= fs[i].y - 0.1 * fs[i].h &&
				fs[i].landmarks[k][1] <= fs[i].y + 1.1 * fs[i].h;
		t_check(inside == FI_LM_POINTS && fs[i].has_descriptor, "sample1 face %d: landmarks in the box (%d/68)", i, inside);
	}

	/* all faces' chips as one encoder batch: each descriptor as the face alone gets it */
	for (int flip = 1; flip >= 0 && n > 0; flip--)
		check_batch(p, &img, flip, 416, "sample1");

	/* similarity alignment undoes roll: a 25-degree rotation of the photo moves it less */
	if (n > 0)
	{
		fi_face		f0 = fs[0];
		fi_image	rot = rotate(&img, 25);
		fi_face    *rs = NULL;
		int			nr = 0;
		double		dsim = -1,
					dapi = -1;

		for (int al = 0; al < 2; al++)
		{
			fi_pipeline_opts ro = o;
			float		d0[FI_REC_DIM];

			ro.alignment = al == 0 ? FI_ALIGN_SIMILARITY : FI_ALIGN_FACEAPI;
			fi_face_descriptor(p, &img, &ro, &f0, NULL, &err);
			memcpy(d0, f0.descriptor, sizeof(d0));
			if (fi_faces_detect(p, &rot, &ro, &rs, &nr, NULL, &err) == FI_OK && nr > 0)
			{
				double		best = 1e9;

				for (int i = 0; i < nr; i++)
					best = fmin(best, t_dist(d0, rs[i].descriptor));
				if (al == 0)
					dsim = best;
				else
					dapi = best;
			}
			free(rs);
		}
		t_check(dsim >= 0 && dsim < 0.3 && (dapi < 0 || dsim < dapi),
				"25-degree roll: same-face distance similarity %.3f, faceapi %.3f", dsim, dapi);
		fi_image_free(&rot);
	}
	free(fs);

	/* a face that fills the frame is still found (retry) */
	snprintf(path, sizeof(path), "%s/faces/lfw-view1/Aaron_Peirsol/Aaron_Peirsol_0001.jpg", shared);
	if (t_load_image(path, &lfw) == 0)
	{
		fi_image	tight = {120, 150, malloc(120 * 150 * 3)};
		bool		found = false;
		float		d[FI_REC_DIM];
		fi_face		f;

		blit(&tight, 0, 0, &lfw, 65, 60, 120, 150);
		fi_status	st = fi_face_embed_primary(p, &tight, &o, d, &found, &f, NULL, &err);

		t_check(st == FI_OK && found,
				"frame-filling 120x150 face crop: found (attempt %d)", found ? f.attempt : -1);

		/* the same, 12x larger (1440x1800): the retry's bordered copy is shrunk first */
		{
			fi_image	huge = {120 * 12, 150 * 12, malloc((size_t) 120 * 12 * 150 * 12 * 3)};
			float		d2[FI_REC_DIM];
			fi_face		f2;
			bool		found2 = false;

			for (int y = 0; y < huge.height; y++)
				for (int x = 0; x < huge.width; x++)
					memcpy(huge.rgb + ((size_t) y * huge.width + x) * 3,
						   tight.rgb + ((size_t) (y / 12) * 120 + x / 12) * 3, 3);
			st = fi_face_embed_primary(p, &huge, &o, d2, &found2, &f2, NULL, &err);
			t_check(st == FI_OK && found2 &&
					t_dist(d, d2) < 0.4 && f2.w > 600,
					"frame-filling 1440x1800 face: found (attempt %d, box width %.0f), distance to the small one %.3f",
					found2 ? f2.attempt : -1, found2 ? f2.w : 0, found2 ? t_dist(d, d2) : -1);
			free(huge.rgb);
		}

		/* 30 faces in one photo: 6 x 5 tiles of LFW crops */
		{
			fi_image	mosaic = {6 * CELL, 5 * CELL, malloc(6 * CELL * 5 * CELL * 3)};
			struct dirent **people = NULL;
			int			npeople;
			int			tiles = 0;
			bool		ok = true;

			memset(mosaic.rgb, 128, (size_t) mosaic.width * mosaic.height * 3);

			snprintf(path, sizeof(path), "%s/faces/lfw-view1", shared);
			npeople = scandir(path, &people, NULL, alphasort);
			for (int t = 0, k = 0; t < 30 && k < npeople; k++)
			{
				fi_image	src;

				if (people[k]->d_name[0] == '.' || strstr(people[k]->d_name, ".txt") != NULL)
					continue;
				snprintf(path, sizeof(path), "%s/faces/lfw-view1/%s/%s_0001.jpg", shared,
						 people[k]->d_name, people[k]->d_name);
				if (t_load_image(path, &src) != 0)
					continue;
				blit(&mosaic, (t % 6) * CELL + (CELL - TILE) / 2, (t / 6) * CELL + (CELL - TILE) / 2, &src, 125 - TILE / 2, 125 - TILE / 2, TILE, TILE);
				fi_image_free(&src);
				tiles++;
				t++;
			}
			for (int k = 0; k < npeople; k++)
				free(people[k]);
			free(people);
			o.detect_size = 608;
			t_check(fi_faces_detect(p, &mosaic, &o, &fs, &n, NULL, &err) == FI_OK, "mosaic: %s", err.msg);
			for (int i = 0; i < n; i++)
				ok = ok && fs[i].has_descriptor && (i == 0 || fs[i].score <= fs[i - 1].score);
			t_check(tiles == 30 && n >= 28 && n <= 30 && ok, "30-face mosaic (608): %d faces found, sorted, embedded", n);
			free(fs);
			check_batch(p, &mosaic, true, 608, "30-face mosaic");

			/* cancellation mid-way: FI_CANCELLED, nothing returned (ASan checks leaks) */
			{
				int			left = 20;
				fi_cancel	cc = {stop_after, &left};

				fs = NULL;
				n = 0;
				t_check(fi_faces_detect(p, &mosaic, &o, &fs, &n, &cc, &err) == FI_CANCELLED && fs == NULL && n == 0,
						"cancel: FI_CANCELLED (%s)", err.msg);
			}
			o.detect_size = 416;
			fi_image_free(&mosaic);
		}
		fi_image_free(&tight);
		fi_image_free(&lfw);
	}

	check_frame_skip(p, shared);

	/* no face on any photo of negatives_nonface/plain (default options, retries included) */
	{
		char		dir[1024];
		struct dirent **ents = NULL;
		int			ne,
					photos = 0,
					false_faces = 0;

		snprintf(dir, sizeof(dir), "%s/faces/negatives_nonface/plain", shared);
		ne = scandir(dir, &ents, NULL, alphasort);
		for (int i = 0; i < ne; i++)
		{
			fi_image	neg;

			snprintf(path, sizeof(path), "%.700s/%.255s", dir, ents[i]->d_name);
			if (strstr(ents[i]->d_name, ".jpg") != NULL && t_load_image(path, &neg) == 0)
			{
				fs = NULL;
				n = 0;
				o.embed = false;
				if (fi_faces_detect(p, &neg, &o, &fs, &n, NULL, &err) == FI_OK)
					false_faces += n;
				if (n > 0)
					printf("false face on %s\n", ents[i]->d_name);
				o.embed = true;
				free(fs);
				fi_image_free(&neg);
				photos++;
			}
			free(ents[i]);
		}
		free(ents);
		if (ne >= 0)
			t_check(photos == 44 && false_faces == 0, "negatives_nonface/plain: %d false faces on %d photos",
					false_faces, photos);
	}

	/* a photo without a face: no face, not an error */
	{
		fi_image	grey = {640, 480, malloc(640 * 480 * 3)};
		bool		found = true;
		float		d[FI_REC_DIM];

		memset(grey.rgb, 128, 640 * 480 * 3);
		t_check(fi_face_embed_primary(p, &grey, &o, d, &found, NULL, NULL, &err) == FI_OK && !found,
				"grey photo: no face");
		free(grey.rgb);
	}
	fi_image_free(&img);
}

/* Golden image files, then the behaviour checks. */
int
main(void)
{
	const char *shared = t_shared();
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};
	char		dir[1024];
	DIR		   *dh;
	struct dirent *de;
	int			files = 0;

	if (shared == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent\n");
		return t_done();
	}
	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		printf("FAIL: weights: %s (build them: sh src/tools/fetch_weights.sh && node src/tools/convert_weights.js)\n", err.msg);
		t_failed++;
		return t_done();
	}
	snprintf(dir, sizeof(dir), "%s/golden/out", shared);
	dh = opendir(dir);
	while (dh != NULL && (de = readdir(dh)) != NULL)
	{
		char		path[2048],
					ipath[2048],
					tag[600];
		jnode	   *root;
		const char *file;
		fi_image	img;
		fi_pipeline_opts o;
		const char *base;
		int			tsize;
		bool		tiny_only;

		if (strncmp(de->d_name, "image_", 6) != 0 || strstr(de->d_name, "jpeg-js") != NULL ||
			strstr(de->d_name, ".json") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		root = j_load(path);
		file = j_get(j_get(root, "image"), "file")->str;
		base = strrchr(file, '/') != NULL ? strrchr(file, '/') + 1 : file;
		snprintf(ipath, sizeof(ipath), "%s/golden/images/%.*s.jpg", shared,
				 (int) (strrchr(base, '.') - base), base);
		if (t_load_image(ipath, &img) != 0)
		{
			t_check(0, "decode %s", ipath);
			j_free(root);
			continue;
		}
		files++;
		tsize = (int) j_num(j_get(j_get(j_get(root, "options"), "tiny"), "inputSize"));
		tiny_only = strstr(de->d_name, ".tiny") != NULL;
		fi_pipeline_opts_default(&o);
		o.native_max = 0;		/* face-api resizes every photo to the input size */
		o.tiny_square = true;	/* and feeds the tiny detector the whole padded square */
		o.flip_average = false; /* nor does it average with the mirror */
		if (!tiny_only)
		{
			o.detector = FI_DETECTOR_SSD;
			snprintf(tag, sizeof(tag), "%s ssd", de->d_name);
			check_pipeline(p, &img, tag, j_get(j_get(root, "pipelines"), "ssd"), &o);
		}
		o.detector = FI_DETECTOR_TINY;
		o.detect_size = tsize;
		snprintf(tag, sizeof(tag), "%s tiny%d", de->d_name, tsize);
		check_pipeline(p, &img, tag, j_get(j_get(root, "pipelines"), "tiny"), &o);
		check_trimmed(p, &img, tag, &o);
		fi_image_free(&img);
		j_free(root);
	}
	if (dh != NULL)
		closedir(dh);
	t_check(files >= 19, "%d golden image files checked", files);
	check_behaviour(p, shared);
	printf("crops that differed by 1 px from the golden ones (golden crop used downstream): %d\n", crops_shifted);
	fi_pipeline_free(p);
	fi_model_close(m);
	return t_done();
}
