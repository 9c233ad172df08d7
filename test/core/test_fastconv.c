/*
 * test_fastconv.c
 *	  The direct small-cin conv (src/core/nn/fastconv.c: the detector and
 *	  landmark stems, whose interior pixels are computed in register blocks)
 *	  against the generic im2col + sgemm conv on random data: the nets'
 *	  shapes and odd ones, so that every edge and block remainder is hit.
 */
#include "nn/blas.h"
#include "nn/fastconv.h"
#include "nn/layers.h"
#include "testutil.h"

#include <math.h>

/* Uniform in [-0.5, 0.5) * scale. */
static float
rnd(float scale)
{
	return ((float) ((double) rand() / RAND_MAX) - 0.5f) * scale;
}

/* One shape: fast vs generic, max |diff| relative to max |out|. */
static void
check_shape(fi_workspace *ws, int h, int w, int cin, int cout, int k, int s, fi_padding pad,
			fi_act act)
{
	fi_conv		cv = {k, s, cin, cout, fi_pads_for(pad, h, w, k, s), NULL, NULL, act};
	size_t		nin = (size_t) h * w * cin,
				nw = (size_t) k * k * cin * cout,
				nout = (size_t) h * w * cout;
	float	   *x = malloc(sizeof(float) * nin),
			   *wt = malloc(sizeof(float) * nw),
			   *b = malloc(sizeof(float) * cout),
			   *y1 = malloc(sizeof(float) * nout),
			   *y2 = malloc(sizeof(float) * nout);
	fi_tensor	in = {h, w, cin, x},
				o1 = {0, 0, 0, y1},
				o2 = {0, 0, 0, y2};
	fi_error	err = {0};
	double		worst = 0,
				maxo = 0;
	fi_status	s1,
				s2;

	for (size_t i = 0; i < nin; i++)
		x[i] = rnd(2.0f);
	for (size_t i = 0; i < nw; i++)
		wt[i] = rnd(0.5f);
	for (int i = 0; i < cout; i++)
		b[i] = rnd(0.2f);
	cv.w = wt;
	cv.b = b;
	fi_fastconv_enabled = true;
	s1 = fi_conv2d_smallcin(ws, &cv, &in, &o1, NULL, &err);
	fi_fastconv_enabled = false;
	s2 = fi_conv2d_smallcin(ws, &cv, &in, &o2, NULL, &err);
	fi_fastconv_enabled = true;
	t_check(s1 == FI_OK && s2 == FI_OK && o1.h == o2.h && o1.w == o2.w && o1.c == cout,
			"%dx%dx%d k%d/%d -> %d: both ran, shapes %dx%dx%d / %dx%dx%d", h, w, cin, k, s, cout,
			o1.h, o1.w, o1.c, o2.h, o2.w, o2.c);
	for (size_t i = 0; s1 == FI_OK && s2 == FI_OK && i < (size_t) o1.h * o1.w * cout; i++)
	{
		worst = fmax(worst, fabs((double) y1[i] - y2[i]));
		maxo = fmax(maxo, fabs((double) y2[i]));
	}
	t_check(maxo > 0 && worst <= 1e-5 * maxo,
			"small-cin conv %dx%dx%d k%d/%d %s -> %d == im2col + sgemm: max|diff| %.3g (max|out| %.3g)",
			h, w, cin, k, s, pad == FI_PAD_SAME ? "SAME" : "VALID", cout, worst, maxo);
	free(x);
	free(wt);
	free(b);
	free(y1);
	free(y2);
}

/* The stems' shapes and odd ones. */
int
main(void)
{
	fi_workspace *ws = fi_workspace_new();
	fi_error	err = {0};
	const fi_blas *bl;

	if (fi_blas_load(&bl, &err) != FI_OK)
	{
		t_check(false, "load OpenBLAS: %s", err.msg);
		return t_done();
	}
	srand(7);
	/* tiny detector conv0 (VALID, leaky) at 256 and 192; landmark stem (SAME /2, relu) */
	check_shape(ws, 256, 256, 3, 16, 3, 1, FI_PAD_VALID, FI_ACT_LEAKY);
	check_shape(ws, 192, 192, 3, 16, 3, 1, FI_PAD_VALID, FI_ACT_LEAKY);
	check_shape(ws, 112, 112, 3, 32, 3, 2, FI_PAD_SAME, FI_ACT_RELU);
	/* odd widths (block remainders), tiny inputs (no interior), cin 1..4 */
	check_shape(ws, 7, 13, 3, 16, 3, 1, FI_PAD_SAME, FI_ACT_NONE);
	check_shape(ws, 9, 11, 1, 32, 3, 2, FI_PAD_SAME, FI_ACT_RELU6);
	check_shape(ws, 5, 6, 4, 32, 3, 1, FI_PAD_VALID, FI_ACT_LEAKY);
	check_shape(ws, 2, 2, 2, 16, 3, 1, FI_PAD_SAME, FI_ACT_NONE);
	check_shape(ws, 17, 3, 3, 32, 3, 2, FI_PAD_SAME, FI_ACT_RELU);
	fi_workspace_free(ws);
	return t_done();
}
