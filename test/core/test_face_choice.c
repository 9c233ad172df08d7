/*
 * test_face_choice.c
 *	  Which face face_embed encodes (fi_face_primary, choose.c): the rule on
 *	  hand-made boxes, then on a synthetic photo made of two real LFW face
 *	  crops of different people: a large face off-centre and a slightly
 *	  smaller one centred.  The centred one must be chosen, although the
 *	  detector's box of the other is the larger (asserted, so the test can
 *	  tell the rule from "largest").
 */
#include "face/pipeline.h"
#include "testutil.h"

#include <math.h>

/* A face with box (x, y, w, h) and score s. */
static fi_face
box(double x, double y, double w, double h, double s)
{
	fi_face		f;

	memset(&f, 0, sizeof(f));
	f.x = x;
	f.y = y;
	f.w = w;
	f.h = h;
	f.score = s;
	return f;
}

/* The rule on boxes of a 480 x 360 photo. */
static void
check_rule(void)
{
	fi_face		fs[3];

	fs[0] = box(200, 130, 80, 100, 0.8);
	t_check(fi_face_primary(fs, 1, 480, 360) == 0, "one face: that face");

	/* large off-centre face, slightly smaller centred face */
	fs[0] = box(10, 10, 144, 180, 0.9);
	fs[1] = box(180, 105, 120, 150, 0.9);
	t_check(fi_face_primary(fs, 2, 480, 360) == 1, "large off-centre vs slightly smaller centred: the centred");

	/* the same faces listed the other way round */
	fs[0] = box(180, 105, 120, 150, 0.9);
	fs[1] = box(10, 10, 144, 180, 0.9);
	t_check(fi_face_primary(fs, 2, 480, 360) == 0, "order does not matter");

	/* a small centred face (a badge on a shirt, a face in the background) loses to a big one */
	fs[0] = box(225, 165, 30, 30, 0.9);
	fs[1] = box(40, 60, 200, 240, 0.9);
	t_check(fi_face_primary(fs, 2, 480, 360) == 1, "tiny centred vs 7x larger off-centre: the large one");

	/* equal sizes: the nearer to the centre */
	fs[0] = box(20, 100, 100, 120, 0.9);
	fs[1] = box(300, 110, 100, 120, 0.9);
	fs[2] = box(180, 200, 100, 120, 0.9);
	t_check(fi_face_primary(fs, 3, 480, 360) == 2, "equal sizes: the nearest to the centre");
}

/* Copy src's (sx, sy, sw, sh) scaled by f (bilinear) into dst at (dx, dy). */
static void
paste(fi_image *dst, int dx, int dy, const fi_image *src, int sx, int sy, int sw, int sh, double f)
{
	int			w = (int) (sw * f),
				h = (int) (sh * f);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
		{
			double		u = sx + (x + 0.5) / f - 0.5,
						v = sy + (y + 0.5) / f - 0.5;
			int			x0 = (int) floor(u),
						y0 = (int) floor(v);
			double		fx = u - x0,
						fy = v - y0;

			if (x0 < 0)
				x0 = 0, fx = 0;
			if (y0 < 0)
				y0 = 0, fy = 0;
			if (x0 + 1 >= src->width)
				x0 = src->width - 2, fx = 1;
			if (y0 + 1 >= src->height)
				y0 = src->height - 2, fy = 1;
			for (int c = 0; c < 3; c++)
			{
				const uint8_t *p = src->rgb + ((size_t) y0 * src->width + x0) * 3 + c;
				double		val = (p[0] * (1 - fx) + p[3] * fx) * (1 - fy) +
					(p[src->width * 3] * (1 - fx) + p[src->width * 3 + 3] * fx) * fy;

				dst->rgb[((size_t) (dy + y) * dst->width + dx + x) * 3 + c] = (uint8_t) (val + 0.5);
			}
		}
}

/* Two real faces on one canvas: the centred one is encoded. */
static void
check_photo(fi_pipeline *p, const char *shared)
{
	char		pa[1024],
				pb[1024];
	fi_image	a,
				b,
				canvas = {480, 360, NULL};
	fi_pipeline_opts o;
	fi_face    *fs = NULL,
				chosen;
	fi_error	err = {0};
	float		d[FI_REC_DIM];
	bool		found = false;
	int			n = 0,
				largest = 0;
	fi_status	st;

	snprintf(pa, sizeof(pa), "%s/faces/lfw-view1/Aaron_Peirsol/Aaron_Peirsol_0001.jpg", shared);
	snprintf(pb, sizeof(pb), "%s/faces/lfw-view1/Aaron_Sorkin/Aaron_Sorkin_0001.jpg", shared);
	if (t_load_image(pa, &a) != 0 || t_load_image(pb, &b) != 0)
	{
		printf("SKIP: %s or %s absent\n", pa, pb);
		return;
	}
	canvas.rgb = malloc((size_t) canvas.width * canvas.height * 3);
	memset(canvas.rgb, 128, (size_t) canvas.width * canvas.height * 3);
	/* the LFW photos' central 130 x 150 (the face with a margin) */
	paste(&canvas, 8, 8, &a, 60, 50, 130, 150, 1.2);	/* 156 x 180, top left */
	paste(&canvas, 175, 105, &b, 60, 50, 130, 150, 1.0);	/* 130 x 150, centred */
	fi_pipeline_opts_default(&o);
	o.embed = false;
	st = fi_faces_detect(p, &canvas, &o, &fs, &n, NULL, &err);
	t_check(st == FI_OK && n == 2,
			"two-face canvas: %d faces found (%s)", n, err.msg);
	for (int i = 1; i < n; i++)
		if (fs[i].w * fs[i].h > fs[largest].w * fs[largest].h)
			largest = i;
	if (n == 2)
		t_check(fs[largest].x + fs[largest].w / 2 < 160,
				"the off-centre face has the larger box (%.0fx%.0f at x %.0f)",
				fs[largest].w, fs[largest].h, fs[largest].x);
	free(fs);
	fi_pipeline_opts_default(&o);
	st = fi_face_embed_primary(p, &canvas, &o, d, &found, &chosen, NULL, &err);
	t_check(st == FI_OK && found &&
			fabs(chosen.x + chosen.w / 2 - 240) < 40 && fabs(chosen.y + chosen.h / 2 - 180) < 40,
			"face_embed encodes the centred face (box centre %.0f, %.0f)",
			found ? chosen.x + chosen.w / 2 : -1, found ? chosen.y + chosen.h / 2 : -1);
	free(canvas.rgb);
	fi_image_free(&a);
	fi_image_free(&b);
}

/* The rule, then the synthetic photo. */
int
main(void)
{
	const char *shared = t_shared();
	fi_model   *m = NULL;
	fi_pipeline *p = NULL;
	fi_error	err = {0};

	check_rule();
	if (shared == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent: the synthetic two-face photo\n");
		return t_done();
	}
	if (fi_model_open(t_weights(), &m, &err) != FI_OK || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		printf("FAIL: weights: %s\n", err.msg);
		t_failed++;
		return t_done();
	}
	check_photo(p, shared);
	fi_pipeline_free(p);
	fi_model_close(m);
	return t_done();
}
