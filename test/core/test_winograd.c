/*
 * test_winograd.c
 *	  The Winograd F(2x2,3x3) conv (src/core/nn/winograd.c) against a double
 *	  reference on random tensors of every shape the encoder runs and odd ones
 *	  (1 pixel, odd sides, VALID, channels 8 to 256, with and without bias,
 *	  residual and relu), beside the direct conv (fi_conv2d) on the same data.
 *
 *	  The tolerance is the first-order forward error bound of each path, per
 *	  output (Higham, Accuracy and Stability, 3.1; gamma_n = n u / (1 - n u),
 *	  u = 2^-24), so it follows the data instead of a fixed epsilon:
 *	  - direct: gamma_{9 cin + 2} (sum |w x| + |b| + |res|);
 *	  - Winograd: gamma_{cin + 9} times the same sums taken through the
 *	    absolute transforms, |A^T| (sum_ci |G||g||G^T| . |B^T||d||B|) |A|,
 *	    + |b| + |res|: the input transform adds 2 roundings, the rounding of
 *	    U 1, the GEMM cin, the output transform 4, bias and residual 2.
 *	  (The direct checks of 1x1 inputs cover fi_conv2d's centre-tap path.)
 *	  A mistake in a transform, an edge tile or the epilogue shows up as an
 *	  error of the order of the sums themselves, far above these bounds.
 *	  Then: with the model, the recognition net uses the Winograd filters and
 *	  its descriptor stays within 1e-4 of the direct path's; a batch
 *	  (fi_recognition_forward_n: the chip and its mirror, or up to
 *	  FI_REC_MAX_BATCH chips of several faces) gives each input the
 *	  descriptor of its own pass bit for bit; on a random input
 *	  and (when ../shared/faces is there) through face_embed's pipeline on the
 *	  first photo of the first LFW_PEOPLE people of LFW View 1.
 */
#include "nn/blas.h"
#include "nn/gemm_small.h"
#include "nn/layers.h"
#include "nn/winograd.h"
#include "models/recognition.h"
#include "face/pipeline.h"
#include "testutil.h"

#include <dirent.h>
#include <float.h>
#include <math.h>

/* LFW photos compared end to end. */
#define LFW_PEOPLE 40

/* |B^T|, |G| and |A^T| of F(2x2,3x3). */
static const double BTabs[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
static const double Gabs[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, .5, .5}, {0, 0, 1}};
static const double ATabs[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};

/* Uniform in [-0.5, 0.5) * scale. */
static float
rnd(float scale)
{
	return ((float) ((double) rand() / RAND_MAX) - 0.5f) * scale;
}

/* gamma_n of fp32. */
static double
gamma_n(int n)
{
	double		u = FLT_EPSILON / 2;

	return n * u / (1 - n * u);
}

/* Input value at (iy, ix, ci), 0 in the padding. */
static double
px(const fi_tensor *in, int iy, int ix, int ci)
{
	if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w)
		return 0;
	return in->data[((size_t) iy * in->w + ix) * in->c + ci];
}

/*
 * Reference (double) and both bounds for output (oy, ox, co): the direct sum
 * and its absolute sum, the Winograd absolute sum through |transforms|.
 */
static void
reference(const fi_conv *cv, const fi_tensor *in, int oy, int ox, int co,
		  double *ref, double *bd_direct, double *bd_wino)
{
	int			ty = oy / 2,
				tx = ox / 2,
				r = oy % 2,
				q = ox % 2;
	double		s = 0,
				sabs = 0,
				wabs = 0,
				extra;

	for (int ci = 0; ci < cv->cin; ci++)
	{
		double		d[4][4],
					v[4][4] = {{0}},
					t[4][4] = {{0}},
					g[3][3],
					gg[4][3] = {{0}},
					u[4][4] = {{0}};

		for (int ky = 0; ky < 3; ky++)
			for (int kx = 0; kx < 3; kx++)
			{
				double		x = px(in, oy - cv->pad.top + ky, ox - cv->pad.left + kx, ci);

				g[ky][kx] = cv->w[((size_t) (ky * 3 + kx) * cv->cin + ci) * cv->cout + co];
				s += g[ky][kx] * x;
				sabs += fabs(g[ky][kx] * x);
			}
		/* |B^T| |d| |B| over the tile's 4x4 patch */
		for (int a = 0; a < 4; a++)
			for (int b = 0; b < 4; b++)
				d[a][b] = fabs(px(in, 2 * ty - cv->pad.top + a, 2 * tx - cv->pad.left + b, ci));
		for (int i = 0; i < 4; i++)
			for (int b = 0; b < 4; b++)
				for (int a = 0; a < 4; a++)
					t[i][b] += BTabs[i][a] * d[a][b];
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				for (int b = 0; b < 4; b++)
					v[i][j] += t[i][b] * BTabs[j][b];
		/* |G| |g| |G^T| */
		for (int i = 0; i < 4; i++)
			for (int kx = 0; kx < 3; kx++)
				for (int ky = 0; ky < 3; ky++)
					gg[i][kx] += Gabs[i][ky] * fabs(g[ky][kx]);
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				for (int kx = 0; kx < 3; kx++)
					u[i][j] += gg[i][kx] * Gabs[j][kx];
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				wabs += ATabs[r][i] * ATabs[q][j] * u[i][j] * v[i][j];
	}
	extra = 0;
	if (cv->b != NULL)
	{
		s += cv->b[co];
		extra += fabs(cv->b[co]);
	}
	if (cv->res != NULL)
	{
		int			wout = fi_out_extent(in->w, 3, 1, cv->pad.left, cv->pad.right);
		double		rv = cv->res[((size_t) oy * wout + ox) * cv->cout + co];

		s += rv;
		extra += fabs(rv);
	}
	if (cv->act == FI_ACT_RELU && s < 0)
		s = 0;
	*ref = s;
	*bd_direct = gamma_n(9 * cv->cin + 2) * (sabs + extra);
	*bd_wino = gamma_n(cv->cin + 9) * (wabs + extra);
}

/* Largest |a - b| over n floats. */
static double
max_diff(const float *a, const float *b, size_t n)
{
	double		d = 0;

	for (size_t i = 0; i < n; i++)
		d = fmax(d, fabs((double) a[i] - b[i]));
	return d;
}

/*
 * Both paths on a batch of two images (x, then a new random one): each half
 * equals the single-image result bit for bit where the own GEMM kernels run
 * (each output row is one FMA chain, whatever the rows around it); OpenBLAS
 * (the other channel counts) may round differently with M, so there the
 * halves agree within 1e-5 of the largest output.  yd/yw hold x's results.
 */
static void
check_batch(fi_workspace *ws, const fi_conv *cv1, const float *u, const fi_tensor *in,
			const float *yd, const float *yw, size_t nout)
{
	size_t		nin = fi_tensor_size(in);
	float	   *x2 = malloc(sizeof(float) * 2 * nin),
			   *res2 = malloc(sizeof(float) * 2 * nout),
			   *y1 = malloc(sizeof(float) * 2 * nout),
			   *yb = malloc(sizeof(float) * 2 * nout);
	fi_conv		cv = *cv1;
	fi_tensor	two = {in->h, in->w, in->c, x2},
				second = {in->h, in->w, in->c, x2 + nin},
				o = {0, 0, 0, yb},
				o1 = {0, 0, 0, y1};
	fi_error	err = {0};
	bool		ok = true,
				exact;
	double		maxo = 1e-30;

	for (size_t i = 0; i < nout; i++)
		maxo = fmax(maxo, fabs(yd[i]));
	memcpy(x2, in->data, sizeof(float) * nin);
	for (size_t i = 0; i < nin; i++)
		x2[nin + i] = rnd(2.0f);
	for (size_t i = 0; i < 2 * nout; i++)
		res2[i] = cv1->res != NULL ? (i < nout ? cv1->res[i] : rnd(2.0f)) : 0;
	for (int path = 0; path < 2; path++)
	{
		fi_conv		one = cv;

		cv.res = cv1->res != NULL ? res2 : NULL;
		one.res = cv1->res != NULL ? res2 + nout : NULL;
		/* the direct batch uses one GEMM only where the own kernel runs */
		exact = path == 0 || fi_gemm_small_ok(1, cv.cout, cv.cin);
		if (path == 0)
			ok = fi_conv2d(ws, &one, &second, &o1, NULL, &err) == FI_OK &&
				fi_conv2d_n(ws, &cv, &two, 2, &o, NULL, &err) == FI_OK;
		else
			ok = fi_conv2d_wino(ws, &one, u, &second, 1, &o1, NULL, &err) == FI_OK &&
				fi_conv2d_wino(ws, &cv, u, &two, 2, &o, NULL, &err) == FI_OK;
		if (exact)
			ok = ok && memcmp(yb, path ? yw : yd, sizeof(float) * nout) == 0 &&
				memcmp(yb + nout, y1, sizeof(float) * nout) == 0;
		else
			ok = ok && max_diff(yb, yw, nout) <= 1e-5 * maxo &&
				max_diff(yb + nout, y1, nout) <= 1e-5 * maxo;
		t_check(ok, "%s %dx%dx%d -> %d: a batch of 2 equals two single passes %s",
				path ? "winograd" : "direct", in->h, in->w, in->c, cv.cout,
				exact ? "bit for bit" : "within 1e-5 (OpenBLAS)");
	}
	free(x2);
	free(res2);
	free(y1);
	free(yb);
}

/* One shape: Winograd and direct against the reference. */
static void
check_shape(fi_workspace *ws, int h, int w, int cin, int cout, fi_padding pad, fi_act act,
			bool bias, bool residual)
{
	fi_conv		cv = {3, 1, cin, cout, fi_pads_for(pad, h, w, 3, 1), NULL, NULL, act, NULL};
	int			hout = fi_out_extent(h, 3, 1, cv.pad.top, cv.pad.bottom),
				wout = fi_out_extent(w, 3, 1, cv.pad.left, cv.pad.right);
	size_t		nin = (size_t) h * w * cin,
				nw = (size_t) 9 * cin * cout,
				nout = (size_t) hout * wout * cout;
	float	   *x = malloc(sizeof(float) * nin),
			   *wt = malloc(sizeof(float) * nw),
			   *u = malloc(sizeof(float) * FI_WINO_POINTS * cin * cout),
			   *b = malloc(sizeof(float) * cout),
			   *res = malloc(sizeof(float) * nout),
			   *yd = malloc(sizeof(float) * nout),
			   *yw = malloc(sizeof(float) * nout);
	fi_tensor	in = {h, w, cin, x},
				od = {0, 0, 0, yd},
				ow = {0, 0, 0, yw};
	fi_error	err = {0};
	fi_status	sd,
				sw;
	int			bad_d = 0,
				bad_w = 0;
	double		worst_w = 0,	/* largest error / bound */
				worst_d = 0,
				e2w = 0,
				e2d = 0,
				maxo = 0;

	for (size_t i = 0; i < nin; i++)
		x[i] = rnd(2.0f);
	for (size_t i = 0; i < nw; i++)
		wt[i] = rnd(1.0f / sqrtf((float) cin));
	for (int i = 0; i < cout; i++)
		b[i] = rnd(1.0f);
	for (size_t i = 0; i < nout; i++)
		res[i] = rnd(2.0f);
	cv.w = wt;
	cv.b = bias ? b : NULL;
	cv.res = residual ? res : NULL;
	fi_wino_filter(wt, cin, cout, u);
	sd = fi_conv2d(ws, &cv, &in, &od, NULL, &err);
	sw = fi_conv2d_wino(ws, &cv, u, &in, 1, &ow, NULL, &err);
	t_check(fi_wino_ok(&cv, &in) && sd == FI_OK && sw == FI_OK && ow.h == hout && ow.w == wout &&
			ow.c == cout, "%dx%dx%d -> %d: both ran (%s), shape %dx%dx%d", h, w, cin, cout,
			err.msg, ow.h, ow.w, ow.c);
	if (sd != FI_OK || sw != FI_OK)
		goto done;
	for (int oy = 0; oy < hout; oy++)
		for (int ox = 0; ox < wout; ox++)
			for (int co = 0; co < cout; co++)
			{
				size_t		i = ((size_t) oy * wout + ox) * cout + co;
				double		ref,
							bdd,
							bdw,
							ed,
							ew;

				reference(&cv, &in, oy, ox, co, &ref, &bdd, &bdw);
				ed = fabs(yd[i] - ref);
				ew = fabs(yw[i] - ref);
				bad_d += ed > bdd;
				bad_w += ew > bdw;
				worst_d = fmax(worst_d, bdd > 0 ? ed / bdd : ed);
				worst_w = fmax(worst_w, bdw > 0 ? ew / bdw : ew);
				e2d += ed * ed;
				e2w += ew * ew;
				maxo = fmax(maxo, fabs(ref));
			}
	t_check(maxo > 0 && bad_d == 0,
			"direct %dx%dx%d -> %d within its bound (%d outside; worst error/bound %.3f)",
			h, w, cin, cout, bad_d, worst_d);
	t_check(maxo > 0 && bad_w == 0,
			"winograd %dx%dx%d -> %d %s%s%s%s within its bound (%d outside; worst error/bound %.3f; "
			"rms error %.3g vs direct %.3g)", h, w, cin, cout,
			pad == FI_PAD_SAME ? "SAME" : "VALID", act == FI_ACT_RELU ? " relu" : "",
			bias ? " bias" : "", residual ? " res" : "", bad_w, worst_w,
			sqrt(e2w / nout), sqrt(e2d / nout));
	check_batch(ws, &cv, u, &in, yd, yw, nout);
done:
	free(x);
	free(wt);
	free(u);
	free(b);
	free(res);
	free(yd);
	free(yw);
}

/* Unsupported convs are refused with an error, not computed wrongly. */
static void
check_refusals(fi_workspace *ws)
{
	float		x[5 * 5 * 8] = {0},
				y[5 * 5 * 8],
				w[9 * 8 * 8] = {0},
				u[16 * 8 * 8] = {0};
	fi_tensor	in = {5, 5, 8, x},
				out = {0, 0, 0, y};
	fi_conv		s2 = {3, 2, 8, 8, {0, 0, 0, 0}, w, NULL, FI_ACT_NONE, NULL},
				odd = {3, 1, 8, 8, {1, 1, 1, 1}, w, NULL, FI_ACT_LEAKY, NULL};
	fi_error	err = {0};

	t_check(!fi_wino_ok(&s2, &in) &&
			fi_conv2d_wino(ws, &s2, u, &in, 1, &out, NULL, &err) == FI_ERR_INTERNAL,
			"stride 2 refused: %s", err.msg);
	t_check(!fi_wino_ok(&odd, &in) &&
			fi_conv2d_wino(ws, &odd, u, &in, 1, &out, NULL, &err) == FI_ERR_INTERNAL,
			"leaky activation refused: %s", err.msg);
}

/* The net on its deterministic input, Winograd on and off. */
static void
check_net(fi_workspace *ws)
{
	fi_model   *m = t_open_model();
	float	   *in = malloc(sizeof(float) * 150 * 150 * 3),
				dw[FI_REC_DIM],
				dd[FI_REC_DIM];
	fi_error	err = {0};
	double		worst = 0;
	bool		exact;
	fi_status	s1,
				s2;

	if (m == NULL)
		return;
	for (int i = 0; i < 150 * 150 * 3; i++)
		in[i] = rnd(1.0f);
	t_check(fi_model_has(m, "recognition/conv32_1/conv1/filters@wino") &&
			fi_model_has(m, "recognition/conv128_2/conv2/filters@wino") &&
			fi_model_has(m, "recognition/conv64_down/conv2/filters@wino") &&
			!fi_model_has(m, "recognition/conv64_down/conv1/filters@wino"),
			"the model holds the Winograd filters of the stride-1 convs only");
	s1 = fi_recognition_forward(m, ws, in, dw, NULL, NULL, NULL, &err);
	fi_wino_enabled = false;
	s2 = fi_recognition_forward(m, ws, in, dd, NULL, NULL, NULL, &err);
	fi_wino_enabled = true;
	for (int i = 0; i < FI_REC_DIM; i++)
		worst = fmax(worst, fabs((double) dw[i] - dd[i]));
	t_check(s1 == FI_OK && s2 == FI_OK && worst > 0 && worst < 1e-4,
			"net: Winograd descriptor within 1e-4 of the direct one and not the same path "
			"(max |diff| %.3g)", worst);
	for (int wino = 1; wino >= 0; wino--)
	{
		enum { NB = FI_REC_MAX_BATCH };
		size_t		chip = (size_t) 150 * 150 * 3;
		float	   *imgs = malloc(sizeof(float) * NB * chip),
					single[NB][FI_REC_DIM],
					batch[NB][FI_REC_DIM],
					batch2[2][FI_REC_DIM];

		fi_wino_enabled = wino;
		for (size_t i = 0; i < chip; i++)
		{
			imgs[i] = in[i];
			for (int k = 1; k < NB; k++)
				imgs[k * chip + i] = rnd(1.0f);
		}
		s1 = FI_OK;
		for (int k = 0; k < NB && s1 == FI_OK; k++)
			s1 = fi_recognition_forward(m, ws, imgs + k * chip, single[k], NULL, NULL, NULL, &err);
		/* bit for bit with the own GEMM kernels; OpenBLAS may round differently with M */
		exact = fi_gemm_small_ok(1, 64, 64);
		s1 = s1 == FI_OK ?
			fi_recognition_forward_n(m, ws, imgs, 2, batch2[0], NULL, NULL, NULL, &err) : s1;
		s1 = s1 == FI_OK ?
			fi_recognition_forward_n(m, ws, imgs, NB, batch[0], NULL, NULL, NULL, &err) : s1;
		t_check(s1 == FI_OK && memcmp(single[0], single[1], sizeof(single[0])) != 0 &&
				(exact ? memcmp(single, batch2, sizeof(batch2)) == 0 &&
				 memcmp(single, batch, sizeof(batch)) == 0 :
				 max_diff(single[0], batch2[0], 2 * FI_REC_DIM) < 1e-5 &&
				 max_diff(single[0], batch[0], NB * FI_REC_DIM) < 1e-5),
				"net (%s): batches of 2 and %d give each input its own pass's descriptor %s",
				wino ? "Winograd" : "direct", NB, exact ? "bit for bit" : "within 1e-5 (OpenBLAS)");
		t_check(fi_recognition_forward_n(m, ws, imgs, NB + 1, batch[0], NULL, NULL, NULL, &err) ==
				FI_ERR_INTERNAL, "a batch of %d is refused: %s", NB + 1, err.msg);
		free(imgs);
	}
	fi_wino_enabled = true;
	free(in);
	fi_model_close(m);
}

/* qsort order of C strings. */
static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* face_embed's descriptor of LFW photos, Winograd on and off. */
static void
check_lfw(void)
{
	const char *shared = t_shared();
	char		dir[1100],
				path[1400];
	char	   *names[4096];
	int			n = 0,
				done = 0,
				found_both = 0;
	double		worst = 0;
	DIR		   *d;
	struct dirent *e;
	fi_model   *m;
	fi_pipeline *p = NULL;
	fi_pipeline_opts o;
	fi_error	err = {0};

	snprintf(dir, sizeof(dir), "%s/faces/lfw-view1", shared ? shared : "..");
	if (shared == NULL || (d = opendir(dir)) == NULL)
	{
		printf("SKIP: LFW end-to-end comparison: %s is absent\n", dir);
		return;
	}
	while ((e = readdir(d)) != NULL && n < 4096)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(char *), strp_cmp);
	m = t_open_model();
	if (m == NULL || fi_pipeline_new(m, &p, &err) != FI_OK)
	{
		t_check(false, "pipeline: %s", err.msg);
		n = 0;
	}
	fi_pipeline_opts_default(&o);
	for (int i = 0; i < n && done < LFW_PEOPLE; i++)
	{
		fi_image	img;
		float		dw[FI_REC_DIM],
					dd[FI_REC_DIM];
		bool		fw = false,
					fd = false;
		fi_status	s1,
					s2;

		snprintf(path, sizeof(path), "%s/%s/%s_0001.jpg", dir, names[i], names[i]);
		if (t_load_image(path, &img) != 0)
			continue;
		s1 = fi_face_embed_primary(p, &img, &o, dw, &fw, NULL, NULL, &err);
		fi_wino_enabled = false;
		s2 = fi_face_embed_primary(p, &img, &o, dd, &fd, NULL, NULL, &err);
		fi_wino_enabled = true;
		t_check(s1 == FI_OK && s2 == FI_OK && fw == fd, "%s: both paths ran and agree on a face", path);
		for (int k = 0; fw && fd && k < FI_REC_DIM; k++)
			worst = fmax(worst, fabs((double) dw[k] - dd[k]));
		found_both += fw && fd;
		fi_image_free(&img);
		done++;
	}
	t_check(done == LFW_PEOPLE && found_both > LFW_PEOPLE / 2 && worst < 1e-4,
			"LFW: face_embed with Winograd within 1e-4 of the direct path on %d photos "
			"(%d with a face; max |diff| %.3g)", done, found_both, worst);
	printf("LFW: %d photos, max |descriptor diff| Winograd vs direct %.3g\n", done, worst);
	for (int i = 0; i < n; i++)
		free(names[i]);
	fi_pipeline_free(p);
	fi_model_close(m);
}

/* The encoder's shapes, then odd ones. */
int
main(void)
{
	fi_workspace *ws = fi_workspace_new();
	fi_error	err = {0};

	if (fi_blas_load(NULL, &err) != FI_OK)
	{
		printf("FAIL: %s\n", err.msg);
		return 1;
	}
	srand(13);
	/* the encoder: residual blocks (relu + res), the down blocks' conv2 (no act) */
	check_shape(ws, 35, 35, 32, 32, FI_PAD_SAME, FI_ACT_RELU, true, false);
	check_shape(ws, 35, 35, 32, 32, FI_PAD_SAME, FI_ACT_RELU, true, true);
	check_shape(ws, 17, 17, 64, 64, FI_PAD_SAME, FI_ACT_NONE, true, false);
	check_shape(ws, 17, 17, 64, 64, FI_PAD_SAME, FI_ACT_RELU, true, true);
	check_shape(ws, 8, 8, 128, 128, FI_PAD_SAME, FI_ACT_NONE, true, false);
	check_shape(ws, 8, 8, 128, 128, FI_PAD_SAME, FI_ACT_RELU, true, true);
	check_shape(ws, 3, 3, 256, 256, FI_PAD_SAME, FI_ACT_RELU, true, true);
	check_shape(ws, 1, 1, 256, 256, FI_PAD_SAME, FI_ACT_NONE, true, false);
	/* edges, odd sizes, VALID, channel counts that are not the encoder's */
	check_shape(ws, 1, 1, 8, 8, FI_PAD_SAME, FI_ACT_RELU, false, false);
	check_shape(ws, 2, 3, 8, 16, FI_PAD_SAME, FI_ACT_NONE, true, true);
	check_shape(ws, 5, 7, 16, 24, FI_PAD_SAME, FI_ACT_RELU, true, true);
	check_shape(ws, 6, 9, 40, 8, FI_PAD_VALID, FI_ACT_RELU, true, false);
	check_shape(ws, 7, 4, 8, 48, FI_PAD_VALID, FI_ACT_NONE, false, true);
	check_shape(ws, 36, 34, 32, 64, FI_PAD_SAME, FI_ACT_RELU, true, true);
	check_shape(ws, 4, 4, 8, 8, FI_PAD_VALID, FI_ACT_NONE, true, false);
	check_refusals(ws);
	check_net(ws);
	check_lfw();
	fi_workspace_free(ws);
	return t_done();
}
