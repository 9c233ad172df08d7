/*
 * test_recognition.c
 *	  The recognition net against the golden files of ../shared/golden:
 *	  every layer on the deterministic input, the descriptor, descriptors of
 *	  real photos on their golden crops (libjpeg decode), and cancellation.
 *	  The preprocessing, the small-M sgemm and the model file have their own
 *	  tests (test_preprocess.c, test_gemm_small.c, test_model.c).
 *
 *	  Env: FACEID_SHARED (default <repo>/../shared), FACEID_WEIGHTS (default
 *	  <repo>/build/faceid_weights.bin, made by src/tools/fetch_weights.sh +
 *	  src/tools/convert_weights.js).
 */
#include "nn/layers.h"
#include "nn/model.h"
#include "image/preprocess.h"
#include "models/recognition.h"
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

/* ---- tiny JSON helpers: enough for names, shapes, binFile, crops ---- */

/* Parse the string value after `key` at or after p; returns end or NULL. */
static const char *
json_str(const char *p, const char *key, char *out, size_t n)
{
	const char *q = strstr(p, key);
	size_t		k = 0;

	if (q == NULL)
		return NULL;
	q = strchr(q + strlen(key), '"');
	if (q == NULL)
		return NULL;
	for (q++; *q && *q != '"' && k + 1 < n; q++)
		out[k++] = *q;
	out[k] = '\0';
	return q;
}

/* Parse up to max numbers of the array after `key`; returns count or -1. */
static int
json_nums(const char *p, const char *key, double *out, int max)
{
	const char *q = strstr(p, key);
	int			k = 0;

	if (q == NULL || (q = strchr(q, '[')) == NULL)
		return -1;
	q++;
	while (k < max)
	{
		char	   *e;

		while (*q == ' ' || *q == '\n' || *q == ',')
			q++;
		if (*q == ']')
			break;
		out[k++] = strtod(q, &e);
		if (e == q)
			return -1;
		q = e;
	}
	return k;
}

/* The number after `key` (object member). */
static double
json_num(const char *p, const char *key)
{
	const char *q = strstr(p, key);

	if (q == NULL || (q = strchr(q, ':')) == NULL)
		return NAN;
	return strtod(q + 1, NULL);
}

/* ---- golden layer comparison through the forward hook ---- */

#define MAX_LAYERS 32
typedef struct golden_layer
{
	char		name[64];
	int			shape[3],
				ndim;
	char		bin[256];
	bool		seen;
} golden_layer;

typedef struct golden
{
	const char *dir;			/* <shared>/golden */
	golden_layer l[MAX_LAYERS];
	int			n;
} golden;

/* Read layer names, shapes and binFiles of layers_recognition.json. */
static bool
golden_load(golden *g, const char *json)
{
	const char *p = strstr(json, "\"layers\"");

	g->n = 0;
	while (p != NULL && g->n < MAX_LAYERS)
	{
		golden_layer *L = &g->l[g->n];
		const char *next;
		double		sh[3];
		char		bin[256];

		p = strstr(p, "\"name\"");
		if (p == NULL)
			break;
		p = json_str(p, "\"name\"", L->name, sizeof(L->name));
		next = strstr(p, "\"name\"");
		L->ndim = json_nums(p, "\"shape\"", sh, 3);
		for (int i = 0; i < L->ndim; i++)
			L->shape[i] = (int) sh[i];
		L->bin[0] = '\0';
		{
			const char *b = json_str(p, "\"binFile\"", bin, sizeof(bin));

			if (b != NULL && (next == NULL || b < next))
				snprintf(L->bin, sizeof(L->bin), "%s", bin);
		}
		g->n++;
	}
	return g->n > 0;
}

/* Golden file path: binFile is "out/bin/..." relative to golden/. */
static float *
golden_bin(const golden *g, const golden_layer *L, size_t *count)
{
	char		path[PATH_MAX + 300];
	size_t		len;
	char	   *buf;

	snprintf(path, sizeof(path), "%s/%s", g->dir, L->bin);
	buf = (char *) t_read(path, &len);
	if (buf == NULL)
		return NULL;
	*count = len / 4;
	return (float *) buf;
}

/* Hook: compare one layer of ours with its golden dump. */
static void
compare_layer(void *arg, const char *name, const fi_tensor *t)
{
	golden	   *g = arg;
	golden_layer *L = NULL;
	size_t		n = fi_tensor_size(t),
				gn = 0;
	float	   *ref;
	double		maxref = 0,
				maxdiff = 0;
	bool		shape_ok;

	for (int i = 0; i < g->n; i++)
		if (strcmp(g->l[i].name, name) == 0)
			L = &g->l[i];
	if (L == NULL)
	{
		t_check(false, "layer %s: not in the golden file", name);
		return;
	}
	L->seen = true;
	if (L->ndim == 3)
		shape_ok = L->shape[0] == t->h && L->shape[1] == t->w && L->shape[2] == t->c;
	else
		shape_ok = L->ndim == 1 && L->shape[0] == (int) n;
	if (!shape_ok)
	{
		t_check(false, "layer %s: shape %dx%dx%d differs from golden", name, t->h, t->w, t->c);
		return;
	}
	ref = golden_bin(g, L, &gn);
	if (ref == NULL || gn != n)
	{
		t_check(false, "layer %s: golden dump %s missing or wrong size", name, L->bin);
		free(ref);
		return;
	}
	for (size_t i = 0; i < n; i++)
	{
		double		d = fabs((double) t->data[i] - ref[i]);

		if (fabs(ref[i]) > maxref)
			maxref = fabs(ref[i]);
		if (!(d <= maxdiff))
			maxdiff = d;
	}
	t_check(maxdiff <= 1e-4 * maxref,
		  "layer %-18s %3dx%3dx%3d  max|diff| %.3g  (%.2g of max|layer| %.4g; bound 1e-4)",
		  name, t->h, t->w, t->c, maxdiff, maxref > 0 ? maxdiff / maxref : 0, maxref);
	free(ref);
}

/* Euclidean distance of two 128-vectors. */
static double
dist128(const float *a, const double *b)
{
	double		s = 0;

	for (int i = 0; i < FI_REC_DIM; i++)
		s += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
	return sqrt(s);
}

/* Layer-by-layer test on the deterministic input. */
static void
test_layers(const fi_model *m, fi_workspace *ws, const char *golden_dir)
{
	char		path[PATH_MAX + 64];
	char	   *json;
	golden		g = {.dir = golden_dir};
	fi_image	img = t_pattern(150, 150);
	float	   *in = malloc(sizeof(float) * 150 * 150 * 3);
	float		out[FI_REC_DIM],
				out2[FI_REC_DIM];
	double		ref[FI_REC_DIM];
	fi_error	err = {0};
	fi_status	s;

	snprintf(path, sizeof(path), "%s/out/layers_recognition.json", golden_dir);
	json = (char *) t_read(path, NULL);
	if (json != NULL)
		golden_load(&g, json);
	t_check(json != NULL && g.n > 0, "read %s (%d layers)", path, g.n);
	if (json == NULL)
	{
		free(img.rgb);
		free(in);
		return;
	}
	s = fi_preprocess(&img, NULL, FI_SQUARE_CENTER, 150, &fi_norm_recognition, in, &err);
	t_check(s == FI_OK, "preprocess the deterministic input: %s", err.msg);
	s = fi_recognition_forward(m, ws, in, out, compare_layer, &g, NULL, &err);
	t_check(s == FI_OK, "forward pass: %s", s == FI_OK ? "ok" : err.msg);
	for (int i = 0; i < g.n; i++)
		if (!g.l[i].seen)
			t_check(false, "golden layer %s was not produced", g.l[i].name);
	{
		const char *top = strstr(json, "\"descriptor\"");
		int			k = top != NULL ? json_nums(top, "\"descriptor\"", ref, FI_REC_DIM) : -1;
		double		d = k == FI_REC_DIM ? dist128(out, ref) : INFINITY;

		t_check(d <= 1e-4, "descriptor Euclidean distance to golden %.3g (bound 1e-4)", d);
	}
	/* the same through fi_recognition_embed (image path, crop = whole image) */
	s = fi_recognition_embed(m, ws, &img, NULL, out2, NULL, &err);
	t_check(s == FI_OK && memcmp(out, out2, sizeof(out)) == 0,
		  "embed(whole 150x150 image) == forward(preprocessed) bit for bit");
	free(json);
	free(img.rgb);
	free(in);
}

/* libjpeg-turbo decode with default parameters (as golden/runner/tools/jpeg2ppm.c). */
static bool
decode_jpeg(const char *path, fi_image *img)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr jerr;
	FILE	   *f = fopen(path, "rb");

	if (f == NULL)
		return false;
	cinfo.err = jpeg_std_error(&jerr);
	jpeg_create_decompress(&cinfo);
	jpeg_stdio_src(&cinfo, f);
	jpeg_read_header(&cinfo, TRUE);
	cinfo.out_color_space = JCS_RGB;
	jpeg_start_decompress(&cinfo);
	img->width = cinfo.output_width;
	img->height = cinfo.output_height;
	img->rgb = malloc((size_t) img->width * img->height * 3);
	while (cinfo.output_scanline < cinfo.output_height)
	{
		JSAMPROW	row = img->rgb + (size_t) cinfo.output_scanline * img->width * 3;

		jpeg_read_scanlines(&cinfo, &row, 1);
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	fclose(f);
	return true;
}

/* Descriptors of real photos on the golden descriptor crops (first faces). */
static void
test_photos(const fi_model *m, fi_workspace *ws, const char *golden_dir)
{
	static const char *names[] = {"sample1", "sample5_portrait", "sample5_edge", "sample1_small"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	{
		char		path[PATH_MAX + 64];
		char	   *json;
		fi_image	img;
		const char *p;
		int			faces = 0;

		snprintf(path, sizeof(path), "%s/out/image_%s.json", golden_dir, names[i]);
		json = (char *) t_read(path, NULL);
		snprintf(path, sizeof(path), "%s/images/%s.jpg", golden_dir, names[i]);
		if (json == NULL || !decode_jpeg(path, &img))
		{
			t_check(false, "%s: golden json or jpeg missing", names[i]);
			free(json);
			continue;
		}
		/* first two faces of each pipeline (ssd, tiny) */
		for (p = strstr(json, "\"descriptorCrop\""); p != NULL && faces < 4;
			 p = strstr(p + 1, "\"descriptorCrop\""), faces++)
		{
			fi_rect		r = {(int) json_num(p, "\"x\""), (int) json_num(p, "\"y\""),
			(int) json_num(p, "\"width\""), (int) json_num(p, "\"height\"")};
			double		want_sum = json_num(p, "\"descriptorInputSum150\"");
			double		ref[FI_REC_DIM],
						sum = 0,
						d;
			float	   *raw = malloc(sizeof(float) * 150 * 150 * 3);
			float		out[FI_REC_DIM];
			fi_error	err = {0};
			fi_status	s;

			s = fi_preprocess(&img, &r, FI_SQUARE_CENTER, 150, &(fi_norm) {FI_NORM_NONE}, raw, &err);
			for (int k = 0; s == FI_OK && k < 150 * 150 * 3; k++)
				sum += raw[k];
			free(raw);
			t_check(s == FI_OK && fabs(sum - want_sum) <= 1e-6 * want_sum,
				  "%s face %d: crop %dx%d+%d+%d resized input sum %.6f vs golden %.6f",
				  names[i], faces, r.width, r.height, r.x, r.y, sum, want_sum);
			s = fi_recognition_embed(m, ws, &img, &r, out, NULL, &err);
			d = (s == FI_OK && json_nums(p, "\"descriptor\": [", ref, FI_REC_DIM) == FI_REC_DIM) ?
				dist128(out, ref) : INFINITY;
			t_check(d <= 1e-4, "%s face %d: descriptor distance to golden %.3g (bound 1e-4)",
				  names[i], faces, d);
		}
		free(img.rgb);
		free(json);
	}
}

/* Cancel callback: stop after `left` polls. */
static bool
stop_after(void *arg)
{
	int		   *left = arg;

	return (*left)-- <= 0;
}

/* Cancellation returns FI_CANCELLED; the workspace still works afterwards. */
static void
test_cancel(const fi_model *m, fi_workspace *ws)
{
	fi_image	img = t_pattern(150, 150);
	float		out[FI_REC_DIM],
				ref[FI_REC_DIM];
	fi_error	err = {0};
	int			left = 5;
	fi_cancel	c = {stop_after, &left};
	fi_status	s1 = fi_recognition_embed(m, ws, &img, NULL, out, &c, &err);
	fi_status	s2 = fi_recognition_embed(m, ws, &img, NULL, out, NULL, &err);
	fi_status	s3 = fi_recognition_embed(m, ws, &img, NULL, ref, NULL, &err);

	t_check(s1 == FI_CANCELLED, "cancel after 5 polls -> FI_CANCELLED");
	t_check(s2 == FI_OK && s3 == FI_OK && memcmp(out, ref, sizeof(out)) == 0,
		  "after a cancel the workspace gives the same descriptor again");
	free(img.rgb);
}

/* Layers, photos and cancellation against ../shared/golden (SKIP when absent). */
int
main(void)
{
	const char *shared = t_shared();
	char		golden_dir[2048];
	fi_model   *m;
	fi_workspace *ws;

	if (shared == NULL)
	{
		printf("SKIP: ../shared (or FACEID_SHARED) absent\n");
		return 0;
	}
	snprintf(golden_dir, sizeof(golden_dir), "%s/golden", shared);
	if ((m = t_open_model()) == NULL)
		return t_done();
	ws = fi_workspace_new();
	test_layers(m, ws, golden_dir);
	test_photos(m, ws, golden_dir);
	test_cancel(m, ws);
	fi_workspace_free(ws);
	fi_model_close(m);
	return t_done();
}
