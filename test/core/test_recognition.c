/*
 * test_recognition.c
 *	  The recognition net against the golden files of ../shared/golden:
 *	  every layer on the deterministic input, the descriptor, descriptors of
 *	  real photos on their golden crops (libjpeg decode), the preprocessing
 *	  against a naive pad-then-resize, cancellation, and the model file's
 *	  error paths.
 *
 *	  Env: FACEID_SHARED (default <repo>/../shared), FACEID_WEIGHTS (default
 *	  <repo>/build/faceid_weights.bin, made by src/tools/fetch_weights.sh +
 *	  src/tools/convert_weights.js).
 */
#include "nn/blas.h"
#include "nn/gemm_small.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "image/preprocess.h"
#include "models/recognition.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

static int	n_pass,
			n_fail;

/* Record one check. */
static void
check(bool ok, const char *fmt,...)
{
	va_list		ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		n_pass++;
	else
		n_fail++;
}

/* Whole file into a NUL-terminated buffer (NULL if unreadable). */
static char *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n + 1);
	if (buf == NULL || fread(buf, 1, n, f) != (size_t) n)
	{
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = n;
	return buf;
}

/* Directory holding the repo (from /proc/self/exe = <repo>/test/core/x.bin). */
static void
repo_dir(char *out, size_t n)
{
	char		exe[PATH_MAX];
	ssize_t		k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (k <= 0)
	{
		snprintf(out, n, "../..");
		return;
	}
	exe[k] = '\0';
	for (int i = 0; i < 3; i++)
	{
		char	   *s = strrchr(exe, '/');

		if (s != NULL)
			*s = '\0';
	}
	snprintf(out, n, "%s", exe);
}

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
	buf = slurp(path, &len);
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
		check(false, "layer %s: not in the golden file", name);
		return;
	}
	L->seen = true;
	if (L->ndim == 3)
		shape_ok = L->shape[0] == t->h && L->shape[1] == t->w && L->shape[2] == t->c;
	else
		shape_ok = L->ndim == 1 && L->shape[0] == (int) n;
	if (!shape_ok)
	{
		check(false, "layer %s: shape %dx%dx%d differs from golden", name, t->h, t->w, t->c);
		return;
	}
	ref = golden_bin(g, L, &gn);
	if (ref == NULL || gn != n)
	{
		check(false, "layer %s: golden dump %s missing or wrong size", name, L->bin);
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
	check(maxdiff <= 1e-4 * maxref,
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

/* The deterministic 150x150 golden input image. */
static fi_image
make_pattern(int w, int h)
{
	fi_image	img = {w, h, malloc((size_t) w * h * 3)};

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++)
				img.rgb[((size_t) y * w + x) * 3 + c] = (uint8_t) ((x * 7 + y * 13 + c * 50) % 256);
	return img;
}

/* Layer-by-layer test on the deterministic input. */
static void
test_layers(const fi_model *m, fi_workspace *ws, const char *golden_dir)
{
	char		path[PATH_MAX + 64];
	char	   *json;
	golden		g = {.dir = golden_dir};
	fi_image	img = make_pattern(150, 150);
	float	   *in = malloc(sizeof(float) * 150 * 150 * 3);
	float		out[FI_REC_DIM],
				out2[FI_REC_DIM];
	double		ref[FI_REC_DIM];
	fi_error	err = {0};
	fi_status	s;

	snprintf(path, sizeof(path), "%s/out/layers_recognition.json", golden_dir);
	json = slurp(path, NULL);
	if (json != NULL)
		golden_load(&g, json);
	check(json != NULL && g.n > 0, "read %s (%d layers)", path, g.n);
	if (json == NULL)
	{
		free(img.rgb);
		free(in);
		return;
	}
	s = fi_preprocess(&img, NULL, FI_SQUARE_CENTER, 150, &fi_norm_recognition, in, &err);
	check(s == FI_OK, "preprocess the deterministic input: %s", err.msg);
	s = fi_recognition_forward(m, ws, in, out, compare_layer, &g, NULL, &err);
	check(s == FI_OK, "forward pass: %s", s == FI_OK ? "ok" : err.msg);
	for (int i = 0; i < g.n; i++)
		if (!g.l[i].seen)
			check(false, "golden layer %s was not produced", g.l[i].name);
	{
		const char *top = strstr(json, "\"descriptor\"");
		int			k = top != NULL ? json_nums(top, "\"descriptor\"", ref, FI_REC_DIM) : -1;
		double		d = k == FI_REC_DIM ? dist128(out, ref) : INFINITY;

		check(d <= 1e-4, "descriptor Euclidean distance to golden %.3g (bound 1e-4)", d);
	}
	/* the same through fi_recognition_embed (image path, crop = whole image) */
	s = fi_recognition_embed(m, ws, &img, NULL, out2, NULL, &err);
	check(s == FI_OK && memcmp(out, out2, sizeof(out)) == 0,
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
		json = slurp(path, NULL);
		snprintf(path, sizeof(path), "%s/images/%s.jpg", golden_dir, names[i]);
		if (json == NULL || !decode_jpeg(path, &img))
		{
			check(false, "%s: golden json or jpeg missing", names[i]);
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
			check(s == FI_OK && fabs(sum - want_sum) <= 1e-6 * want_sum,
				  "%s face %d: crop %dx%d+%d+%d resized input sum %.6f vs golden %.6f",
				  names[i], faces, r.width, r.height, r.x, r.y, sum, want_sum);
			s = fi_recognition_embed(m, ws, &img, &r, out, NULL, &err);
			d = (s == FI_OK && json_nums(p, "\"descriptor\": [", ref, FI_REC_DIM) == FI_REC_DIM) ?
				dist128(out, ref) : INFINITY;
			check(d <= 1e-4, "%s face %d: descriptor distance to golden %.3g (bound 1e-4)",
				  names[i], faces, d);
		}
		free(img.rgb);
		free(json);
	}
}

/* Naive reference: materialise the padded square, then TF legacy bilinear. */
static void
naive_preprocess(const fi_image *img, fi_rect r, fi_square_policy pol, int n, float *out)
{
	int			s = r.width > r.height ? r.width : r.height;
	int			diff = abs(r.width - r.height),
				top = 0,
				left = 0;
	double	   *sq = calloc((size_t) s * s * 3, sizeof(double));

	if (pol == FI_SQUARE_CENTER)
	{
		int			before = diff - (int) floor(diff * 0.5 + 0.5);

		if (r.width < r.height)
			left = before;
		else
			top = before;
	}
	for (int y = 0; y < r.height; y++)
		for (int x = 0; x < r.width; x++)
			for (int c = 0; c < 3; c++)
				sq[((size_t) (y + top) * s + x + left) * 3 + c] =
					img->rgb[((size_t) (y + r.y) * img->width + x + r.x) * 3 + c];
	for (int oy = 0; oy < n; oy++)
		for (int ox = 0; ox < n; ox++)
			for (int c = 0; c < 3; c++)
			{
				double		ratio = (double) s / n,
							sy = ratio * oy,
							sx = ratio * ox;
				int			y0 = (int) floor(sy),
							x0 = (int) floor(sx);
				int			y1 = (int) fmin(s - 1, ceil(sy)),
							x1 = (int) fmin(s - 1, ceil(sx));
				double		fy = sy - y0,
							fx = sx - x0;
#define SQ(Y, X) sq[((size_t) (Y) * s + (X)) * 3 + c]
				double		t = SQ(y0, x0) + (SQ(y0, x1) - SQ(y0, x0)) * fx;
				double		b = SQ(y1, x0) + (SQ(y1, x1) - SQ(y1, x0)) * fx;

				out[((size_t) oy * n + ox) * 3 + c] = (float) (t + (b - t) * fy);
			}
	free(sq);
}

/* Fused preprocessing == naive pad-then-resize; thin strips stay small. */
static void
test_preprocess(void)
{
	fi_image	img = make_pattern(97, 61);
	static const struct
	{
		fi_rect		r;
		fi_square_policy p;
		int			n;
	}			cases[] = {
		{{0, 0, 97, 61}, FI_SQUARE_BR, 50}, {{0, 0, 97, 61}, FI_SQUARE_CENTER, 150},
		{{3, 5, 40, 55}, FI_SQUARE_CENTER, 112}, {{10, 2, 33, 33}, FI_SQUARE_CENTER, 150},
		{{1, 1, 2, 51}, FI_SQUARE_BR, 150}, {{7, 0, 90, 1}, FI_SQUARE_CENTER, 17},
	};
	fi_error	err = {0};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int			n = cases[i].n;
		float	   *a = malloc(sizeof(float) * n * n * 3),
				   *b = malloc(sizeof(float) * n * n * 3);
		fi_status	s = fi_preprocess(&img, &cases[i].r, cases[i].p, n,
									  &(fi_norm) {FI_NORM_NONE}, a, &err);

		naive_preprocess(&img, cases[i].r, cases[i].p, n, b);
		check(s == FI_OK && memcmp(a, b, sizeof(float) * n * n * 3) == 0,
			  "preprocess %dx%d crop, %s, -> %d equals naive pad+resize bit for bit",
			  cases[i].r.width, cases[i].r.height,
			  cases[i].p == FI_SQUARE_BR ? "BR" : "centred", n);
		free(a);
		free(b);
	}
	{
		fi_rect		bad = {90, 0, 10, 10};
		float		o[3 * 4];

		check(fi_preprocess(&img, &bad, FI_SQUARE_BR, 2, &fi_norm_ssd, o, &err) == FI_ERR_INVALID,
			  "crop outside the image -> FI_ERR_INVALID (%s)", err.msg);
	}
	free(img.rgb);
	{
		/* a 100000x10 strip: the padded square would be 100000^2 x 3 */
		fi_image	strip = make_pattern(100000, 10);
		float	   *o = malloc(sizeof(float) * 150 * 150 * 3);
		fi_status	s = fi_preprocess(&strip, NULL, FI_SQUARE_CENTER, 150,
									  &fi_norm_recognition, o, &err);

		check(s == FI_OK && o[0] == (0.0f - 122.782f) / 255.0f,
			  "100000x10 strip -> 150x150 without a padded square (corner = padding)");
		free(o);
		free(strip.rgb);
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
	fi_image	img = make_pattern(150, 150);
	float		out[FI_REC_DIM],
				ref[FI_REC_DIM];
	fi_error	err = {0};
	int			left = 5;
	fi_cancel	c = {stop_after, &left};
	fi_status	s1 = fi_recognition_embed(m, ws, &img, NULL, out, &c, &err);
	fi_status	s2 = fi_recognition_embed(m, ws, &img, NULL, out, NULL, &err);
	fi_status	s3 = fi_recognition_embed(m, ws, &img, NULL, ref, NULL, &err);

	check(s1 == FI_CANCELLED, "cancel after 5 polls -> FI_CANCELLED");
	check(s2 == FI_OK && s3 == FI_OK && memcmp(out, ref, sizeof(out)) == 0,
		  "after a cancel the workspace gives the same descriptor again");
	free(img.rgb);
}

/* Own few-row kernel vs OpenBLAS sgemm on random matrices, and on the net. */
static void
test_gemm_small(const fi_model *m, fi_workspace *ws)
{
	const fi_blas *bl = fi_blas_get();
	int			n = 256,
				k = 2304;
	static const int ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 23, 24, 63, 64, 65,
	289, 320};
	float	   *a = malloc(sizeof(float) * 320 * k),
			   *b = malloc(sizeof(float) * k * n),
			   *c1 = malloc(sizeof(float) * 320 * n),
			   *c2 = malloc(sizeof(float) * 320 * n);
	double		worst = 0;
	int			shapes = 0;

	srand(42);
	for (int i = 0; i < 320 * k; i++)
		a[i] = (float) ((double) rand() / RAND_MAX) - 0.5f;
	for (int i = 0; i < k * n; i++)
		b[i] = ((float) ((double) rand() / RAND_MAX) - 0.5f) * 0.05f;
	for (size_t t = 0; t < sizeof(ms) / sizeof(ms[0]); t++)
	{
		int			mm = ms[t];

		if (!fi_gemm_small_ok(mm, n, k))
			continue;
		fi_gemm_small(mm, n, k, a, b, c1, NULL, NULL, false);
		bl->sgemm(FI_CBLAS_ROW_MAJOR, FI_CBLAS_NO_TRANS, FI_CBLAS_NO_TRANS, mm, n, k, 1.0f,
				  a, k, b, n, 0.0f, c2, n);
		for (int i = 0; i < mm * n; i++)
			worst = fmax(worst, fabs((double) c1[i] - c2[i]));
		shapes++;
	}
	if (shapes == 0)
		check(true, "own small-M kernel not used on this CPU (no AVX-512): sgemm only");
	else
		check(worst <= 1e-5, "own small-M kernel == sgemm on %d shapes (M 1..320 x 256 x 2304): "
			  "max|diff| %.3g", shapes, worst);
	free(a);
	free(b);
	free(c1);
	free(c2);
	/* the direct 32-channel conv vs im2col + sgemm, on the net's shapes and odd ones */
	{
		static const struct
		{
			int			h,
						w,
						cin,
						k,
						s;
			fi_padding	pad;
		}			cs[] = {
			{150, 150, 3, 7, 2, FI_PAD_VALID}, {35, 35, 32, 3, 1, FI_PAD_SAME},
			{13, 29, 5, 3, 2, FI_PAD_SAME}, {9, 7, 16, 5, 1, FI_PAD_SAME}, {1, 1, 8, 3, 1, FI_PAD_SAME},
		};
		double		cworst = 0;
		int			ran = 0;

		for (size_t t = 0; t < sizeof(cs) / sizeof(cs[0]); t++)
		{
			fi_conv		cv = {cs[t].k, cs[t].s, cs[t].cin, 32,
			fi_pads_for(cs[t].pad, cs[t].h, cs[t].w, cs[t].k, cs[t].s), NULL, NULL, FI_ACT_RELU};
			size_t		nin = (size_t) cs[t].h * cs[t].w * cs[t].cin,
						nw = (size_t) cs[t].k * cs[t].k * cs[t].cin * 32;
			float	   *x = malloc(sizeof(float) * nin),
					   *w = malloc(sizeof(float) * nw),
					   *bias = malloc(sizeof(float) * 32),
					   *y1 = malloc(sizeof(float) * cs[t].h * cs[t].w * 32),
					   *y2 = malloc(sizeof(float) * cs[t].h * cs[t].w * 32);
			fi_tensor	in = {cs[t].h, cs[t].w, cs[t].cin, x},
						o1 = {0, 0, 0, y1},
						o2 = {0, 0, 0, y2};
			fi_error	err = {0};
			bool		own;

			for (size_t i = 0; i < nin; i++)
				x[i] = (float) ((double) rand() / RAND_MAX) - 0.5f;
			for (size_t i = 0; i < nw; i++)
				w[i] = ((float) ((double) rand() / RAND_MAX) - 0.5f) * 0.1f;
			for (int i = 0; i < 32; i++)
				bias[i] = ((float) ((double) rand() / RAND_MAX) - 0.5f) * 0.1f;
			cv.w = w;
			cv.b = bias;
			if (cs[t].s == 1)	/* SAME stride 1: also the fused residual add */
			{
				float	   *r = malloc(sizeof(float) * cs[t].h * cs[t].w * 32);

				for (int i = 0; i < cs[t].h * cs[t].w * 32; i++)
					r[i] = (float) ((double) rand() / RAND_MAX) - 0.5f;
				cv.res = r;
			}
			own = fi_gemm_small_ok(cs[t].h * cs[t].w, 32, (int) (nw / 32));
			fi_gemm_small_enable(false);
			fi_conv2d(ws, &cv, &in, &o2, NULL, &err);
			fi_gemm_small_enable(true);
			fi_conv2d(ws, &cv, &in, &o1, NULL, &err);
			check(o1.h == o2.h && o1.w == o2.w && o1.c == 32, "conv32 shape %dx%dx32",
				  o1.h, o1.w);
			for (size_t i = 0; i < (size_t) o1.h * o1.w * 32; i++)
				cworst = fmax(cworst, fabs((double) y1[i] - y2[i]));
			ran += own;
			free((void *) cv.res);
			free(x);
			free(w);
			free(bias);
			free(y1);
			free(y2);
		}
		if (ran == 0)
			check(true, "direct 32-channel conv not used on this CPU (no AVX-512): sgemm only");
		else
			check(cworst <= 1e-5, "direct 32-channel conv == im2col + sgemm on %d shapes "
				  "(7x7/2 VALID 150x150x3, 3x3 SAME 35x35x32 + residual, odd sizes): max|diff| %.3g",
				  ran, cworst);
	}
	{
		fi_image	img = make_pattern(150, 150);
		float		o1[FI_REC_DIM],
					o2[FI_REC_DIM];
		double		d = 0;
		fi_error	err = {0};

		fi_gemm_small_enable(false);
		fi_recognition_embed(m, ws, &img, NULL, o1, NULL, &err);
		fi_gemm_small_enable(true);
		fi_recognition_embed(m, ws, &img, NULL, o2, NULL, &err);
		for (int i = 0; i < FI_REC_DIM; i++)
			d += ((double) o1[i] - o2[i]) * ((double) o1[i] - o2[i]);
		check(sqrt(d) <= 1e-5, "descriptor with sgemm only vs with own kernels: distance %.3g",
			  sqrt(d));
		free(img.rgb);
	}
}

/* Copy src to dst, first len bytes, optionally xor one byte at `flip`. */
static bool
copy_file(const char *src, const char *dst, long len, long flip)
{
	size_t		n;
	char	   *buf = slurp(src, &n);
	FILE	   *f;
	bool		ok;

	if (buf == NULL)
		return false;
	if (len < 0 || (size_t) len > n)
		len = n;
	if (flip >= 0 && flip < len)
		buf[flip] ^= 0x10;
	f = fopen(dst, "wb");
	ok = f != NULL && fwrite(buf, 1, len, f) == (size_t) len;
	if (f != NULL)
		fclose(f);
	free(buf);
	return ok;
}

/* Open path and expect code, with the path named in the message. */
static void
expect_open(const char *what, const char *path, fi_status code)
{
	fi_model   *m = NULL;
	fi_error	err = {0};
	fi_status	s = fi_model_open(path, &m, &err);

	check(s == code && m == NULL && strstr(err.msg, path) != NULL,
		  "model %s -> code %d (got %d): %s", what, code, s, err.msg);
	fi_model_close(m);
}

/* Model file error paths and lookups. */
static void
test_model_errors(const fi_model *m, const char *weights)
{
	char		dir[] = "/tmp/faceid_test_XXXXXX";
	char		p[600];
	const float *d;
	fi_error	err = {0};
	int			shape[2] = {256, 128},
				wrong[2] = {128, 256};

	if (mkdtemp(dir) == NULL)
	{
		check(false, "mkdtemp");
		return;
	}
	snprintf(p, sizeof(p), "%s/absent.bin", dir);
	expect_open("missing file", p, FI_ERR_MODEL_MISSING);
	expect_open("directory", dir, FI_ERR_MODEL_MISSING);
	snprintf(p, sizeof(p), "%s/trunc.bin", dir);
	copy_file(weights, p, 1000000, -1);
	expect_open("truncated to 1 MB", p, FI_ERR_MODEL_CORRUPT);
	copy_file(weights, p, 100, -1);
	expect_open("truncated to 100 bytes", p, FI_ERR_MODEL_CORRUPT);
	unlink(p);
	snprintf(p, sizeof(p), "%s/flip.bin", dir);
	copy_file(weights, p, -1, 20000000);
	expect_open("with a flipped data byte", p, FI_ERR_MODEL_CORRUPT);
	copy_file(weights, p, -1, 200);
	expect_open("with a flipped table byte", p, FI_ERR_MODEL_CORRUPT);
	copy_file(weights, p, -1, 8);
	expect_open("with another format version", p, FI_ERR_MODEL_CORRUPT);
	copy_file(weights, p, -1, 0);
	expect_open("with a bad magic", p, FI_ERR_MODEL_CORRUPT);
	unlink(p);
	rmdir(dir);

	check(fi_model_tensor(m, "recognition/fc", 2, shape, &d, NULL, &err) == FI_OK,
		  "tensor recognition/fc [256,128] found");
	check(fi_model_tensor(m, "recognition/fc", 2, wrong, &d, NULL, &err) == FI_ERR_MODEL_CORRUPT,
		  "tensor with an unexpected shape -> FI_ERR_MODEL_CORRUPT (%s)", err.msg);
	check(fi_model_tensor(m, "recognition/nope", -1, NULL, &d, NULL, &err) == FI_ERR_MODEL_CORRUPT,
		  "absent tensor -> FI_ERR_MODEL_CORRUPT (%s)", err.msg);
	check(strcmp(fi_model_version(m), "face-api-1.7.15") == 0, "model version %s",
		  fi_model_version(m));
}

int
main(void)
{
	char		repo[PATH_MAX],
				shared[PATH_MAX + 16],
				golden_dir[PATH_MAX + 32],
				weights[PATH_MAX + 64];
	const char *e;
	fi_model   *m = NULL;
	fi_workspace *ws;
	fi_error	err = {0};
	const fi_blas *bl;

	repo_dir(repo, sizeof(repo));
	e = getenv("FACEID_SHARED");
	snprintf(shared, sizeof(shared), "%s", e != NULL && e[0] ? e : "");
	if (shared[0] == '\0')
		snprintf(shared, sizeof(shared), "%s/../shared", repo);
	snprintf(golden_dir, sizeof(golden_dir), "%s/golden", shared);
	if (access(golden_dir, R_OK) != 0)
	{
		printf("SKIP: ../shared/golden absent (%s)\n", golden_dir);
		return 0;
	}
	e = getenv("FACEID_WEIGHTS");
	if (e != NULL && e[0])
		snprintf(weights, sizeof(weights), "%s", e);
	else
		snprintf(weights, sizeof(weights), "%s/build/faceid_weights.bin", repo);

	test_preprocess();
	if (fi_model_open(weights, &m, &err) != FI_OK)
	{
		check(false, "open weights: %s (make them with src/tools/fetch_weights.sh && "
			  "node src/tools/convert_weights.js, or set FACEID_WEIGHTS)", err.msg);
		printf("%d passed, %d failed\n", n_pass, n_fail);
		return 1;
	}
	check(true, "open %s: %d tensors, checksum %016llx", weights, fi_model_tensor_count(m),
		  (unsigned long long) fi_model_checksum(m));
	fi_blas_load(&bl, &err);
	check(bl != NULL, "load OpenBLAS: %s", bl != NULL ? bl->path : err.msg);
	if (bl != NULL)
		printf("     OpenBLAS core %s (OPENBLAS_CORETYPE=%s, %s), cpu: %s\n", bl->corename,
			   bl->coretype[0] ? bl->coretype : "unset", bl->coretype_origin, bl->cpu_features);
	ws = fi_workspace_new();
	test_layers(m, ws, golden_dir);
	test_photos(m, ws, golden_dir);
	test_cancel(m, ws);
	test_gemm_small(m, ws);
	test_model_errors(m, weights);
	fi_workspace_free(ws);
	fi_model_close(m);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}
