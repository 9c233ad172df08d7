/*
 * test_detect_layers.c
 *	  Layer-by-layer check of the tiny face detector, the SSD MobileNet v1 and
 *	  both landmark nets against the golden dumps (../shared/golden/out):
 *	  max |ours - golden| <= 1e-4 * max|golden| per layer, from the raw .f32
 *	  dump where it exists, else from the JSON samples and stats.
 */
#include "nn/fastconv.h"
#include "models/landmarks.h"
#include "minijson.h"
#include "image/preprocess.h"
#include "models/ssd.h"
#include "testutil.h"
#include "models/tinyface.h"

#include <math.h>

#define REL_TOL 1e-4

typedef struct golden
{
	const char *shared;
	const char *net;			/* bin/<net>/ folder */
	jnode	   *root;
	int			seen;
} golden;

/* Golden layer record by name. */
static jnode *
find_layer(golden *g, const char *name)
{
	jnode	   *layers = j_get(g->root, "layers");

	for (int i = 0; layers != NULL && i < layers->n; i++)
	{
		jnode	   *nm = j_get(layers->kids[i], "name");

		if (nm != NULL && strcmp(nm->str, name) == 0)
			return layers->kids[i];
	}
	return NULL;
}

/* Compare one layer of ours with the golden record. */
static void
hook(void *arg, const char *name, const fi_tensor *t)
{
	golden	   *g = arg;
	jnode	   *L = find_layer(g, name);
	jnode	   *shape,
			   *stats;
	size_t		n = fi_tensor_size(t);
	char		path[1024];
	size_t		len = 0;
	float	   *ref;
	double		maxref,
				maxdiff = 0;

	if (L == NULL)
		return;
	g->seen++;
	shape = j_get(L, "shape");
	stats = j_get(L, "stats");
	{
		size_t		gn = 1;

		for (int i = 0; i < shape->n; i++)
			gn *= (size_t) shape->kids[i]->num;
		t_check(gn == n, "%s/%s: %zu elements, golden %zu", g->net, name, n, gn);
		if (gn != n)
			return;
	}
	maxref = fmax(fabs(j_num(j_get(stats, "min"))), fabs(j_num(j_get(stats, "max"))));
	snprintf(path, sizeof(path), "%s/golden/out/bin/%s/%s.f32", g->shared, g->net, name);
	ref = (float *) t_read(path, &len);
	if (ref != NULL && len == n * sizeof(float))
	{
		for (size_t i = 0; i < n; i++)
			maxdiff = fmax(maxdiff, fabs((double) t->data[i] - ref[i]));
		t_check(maxdiff <= REL_TOL * maxref, "%s/%s (dump, %zu values): max diff %.3g, max|layer| %.4g, rel %.2g",
				g->net, name, n, maxdiff, maxref, maxdiff / maxref);
	}
	else
	{
		jnode	   *samples = j_get(L, "samples");
		double		sum = 0,
					mn = INFINITY,
					mx = -INFINITY;

		for (int i = 0; samples != NULL && i < samples->n; i++)
		{
			size_t		idx = (size_t) j_num(j_get(samples->kids[i], "index"));

			maxdiff = fmax(maxdiff, fabs(t->data[idx] - j_num(j_get(samples->kids[i], "value"))));
		}
		t_check(maxdiff <= REL_TOL * maxref, "%s/%s (%d samples): max diff %.3g, max|layer| %.4g",
				g->net, name, samples != NULL ? samples->n : 0, maxdiff, maxref);
		for (size_t i = 0; i < n; i++)
		{
			sum += t->data[i];
			mn = fmin(mn, t->data[i]);
			mx = fmax(mx, t->data[i]);
		}
		t_check(fabs(sum - j_num(j_get(stats, "sum"))) <= REL_TOL * j_num(j_get(stats, "sumAbs")) &&
				fabs(mn - j_num(j_get(stats, "min"))) <= REL_TOL * maxref &&
				fabs(mx - j_num(j_get(stats, "max"))) <= REL_TOL * maxref,
				"%s/%s stats: sum %.7g (golden %.7g), min %.6g (%.6g), max %.6g (%.6g)",
				g->net, name, sum, j_num(j_get(stats, "sum")), mn, j_num(j_get(stats, "min")),
				mx, j_num(j_get(stats, "max")));
	}
	free(ref);
}

/* The deterministic input of the golden runner, normalised for a net. */
static float *
det_input(int size, const fi_norm *norm)
{
	fi_image	img = {size, size, malloc((size_t) size * size * 3)};
	float	   *in = malloc(sizeof(float) * size * size * 3);
	fi_error	err;

	for (int y = 0; y < size; y++)
		for (int x = 0; x < size; x++)
			for (int c = 0; c < 3; c++)
				img.rgb[((size_t) y * size + x) * 3 + c] = (uint8_t) ((x * 7 + y * 13 + c * 50) % 256);
	fi_preprocess(&img, NULL, FI_SQUARE_BR, size, norm, in, &err);
	free(img.rgb);
	return in;
}

/* Load layers_<file>.json. */
static int
open_golden(golden *g, const char *shared, const char *file, const char *net)
{
	char		path[1024];

	snprintf(path, sizeof(path), "%s/golden/out/%s", shared, file);
	g->shared = shared;
	g->net = net;
	g->seen = 0;
	g->root = j_load(path);
	t_check(g->root != NULL, "read %s", path);
	return g->root != NULL ? 0 : -1;
}

/* Every net against its golden layers. */
static void
run_nets(fi_model *m, fi_workspace *ws, const char *shared)
{
	fi_error	err = {0};
	golden		g;

	/* tiny face detector at 416 */
	if (open_golden(&g, shared, "layers_tiny_face_detector.json", "tiny_face_detector") == 0)
	{
		float	   *in = det_input(416, &fi_norm_tiny);
		fi_tensor	t = {416, 416, 3, in};
		fi_tensor	out;
		fi_detection *d;
		int			nd;

		hook(&g, "input_normalized", &t);
		t_check(fi_tinyface_forward(m, ws, in, 416, &out, hook, &g, NULL, &err) == FI_OK, "tiny forward: %s", err.msg);
		t_check(g.seen == 14, "tiny: %d layers compared", g.seen);
		/* decodedAll: best box score 0.03389 -> nothing at 0.5, 845 boxes at 0 */
		t_check(fi_tinyface_decode(&out, 416, 416, 416, 0.5, &d, &nd, &err) == FI_OK && nd == 0,
				"tiny: no detection at 0.5 (%d)", nd);
		free(d);
		{
			jnode	   *all = j_get(g.root, "decodedAll");
			double		best = 0;

			for (int i = 0; all != NULL && i < all->n; i++)
				best = fmax(best, j_num(j_get(all->kids[i], "score")));
			fi_tinyface_decode(&out, 416, 416, 416, 0.0, &d, &nd, &err);
			t_check(nd > 0 && fabs(d[0].score - best) < 1e-5, "tiny: best score %.6f (golden %.6f)",
					nd > 0 ? d[0].score : -1, best);
			free(d);
		}
		free(in);
		j_free(g.root);
	}

	/* landmark nets */
	for (int tiny = 0; tiny <= 1; tiny++)
	{
		const char *file = tiny ? "layers_landmark68_tiny.json" : "layers_landmark68.json";
		const char *net = tiny ? "landmark68_tiny" : "landmark68";

		if (open_golden(&g, shared, file, net) == 0)
		{
			float	   *in = det_input(112, &fi_norm_recognition);
			fi_tensor	t = {112, 112, 3, in};
			float		out[136];
			jnode	   *fc = j_get(g.root, "fcRaw");
			double		md = 0;

			hook(&g, "input_normalized", &t);
			t_check(fi_landmarks_forward(m, ws, tiny, in, out, hook, &g, NULL, &err) == FI_OK,
					"%s forward: %s", net, err.msg);
			t_check(g.seen == (tiny ? 9 : 11), "%s: %d layers compared", net, g.seen);
			for (int i = 0; fc != NULL && i < 136 && i < fc->n; i++)
				md = fmax(md, fabs(out[i] - fc->kids[i]->num));
			t_check(fc != NULL && md < 1e-5, "%s: fcRaw max diff %.3g", net, md);
			free(in);
			j_free(g.root);
		}
	}

	/* SSD MobileNet v1 */
	if (open_golden(&g, shared, "layers_ssd_mobilenetv1.json", "ssd_mobilenetv1") == 0)
	{
		float	   *in = det_input(512, &fi_norm_ssd);
		fi_tensor	t = {512, 512, 3, in};
		float	   *boxes = malloc(sizeof(float) * FI_SSD_ANCHORS * 5);
		fi_ssd	   *ssd = NULL;

		hook(&g, "input_normalized", &t);
		t_check(fi_ssd_load(m, &ssd, &err) == FI_OK, "ssd load: %s", err.msg);
		if (ssd != NULL)
		{
			t_check(fi_ssd_forward(ssd, ws, in, boxes, boxes + FI_SSD_ANCHORS * 4, hook, &g, NULL, &err) == FI_OK,
					"ssd forward: %s", err.msg);
			t_check(g.seen == 40, "ssd: %d layers compared", g.seen);
		}
		fi_ssd_free(ssd);
		free(boxes);
		free(in);
		j_free(g.root);
	}
}

/* Fast kernels, then the generic layers. */
int
main(void)
{
	const char *shared = t_shared();
	fi_model   *m = NULL;
	fi_workspace *ws = fi_workspace_new();
	fi_error	err = {0};

	if (shared == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent\n");
		return t_done();
	}
	if (fi_model_open(t_weights(), &m, &err) != FI_OK)
	{
		printf("FAIL: weights: %s (build them: sh src/tools/fetch_weights.sh && node src/tools/convert_weights.js)\n", err.msg);
		t_failed++;
		return t_done();
	}

	/* the fast kernels (fastconv.c), then the generic layers they replace */
	for (int pass = 0; pass < 2; pass++)
	{
		fi_fastconv_enabled = pass == 0;
		printf("%s kernels:\n", pass == 0 ? "fast" : "generic");
		run_nets(m, ws, shared);
	}
	fi_workspace_free(ws);
	fi_model_close(m);
	return t_done();
}
