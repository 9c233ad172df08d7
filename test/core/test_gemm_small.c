/*
 * test_gemm_small.c
 *	  Our small-M sgemm (src/core/nn/gemm_small.c) against OpenBLAS's sgemm
 *	  on random matrices, and the recognition net with it on and off.
 */
#include "nn/blas.h"
#include "nn/gemm_small.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "models/recognition.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		t_check(true, "own small-M kernel not used on this CPU (no AVX-512): sgemm only");
	else
		t_check(worst <= 1e-5, "own small-M kernel == sgemm on %d shapes (M 1..320 x 256 x 2304): "
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
			t_check(o1.h == o2.h && o1.w == o2.w && o1.c == 32, "conv32 shape %dx%dx32",
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
			t_check(true, "direct 32-channel conv not used on this CPU (no AVX-512): sgemm only");
		else
			t_check(cworst <= 1e-5, "direct 32-channel conv == im2col + sgemm on %d shapes "
				  "(7x7/2 VALID 150x150x3, 3x3 SAME 35x35x32 + residual, odd sizes): max|diff| %.3g",
				  ran, cworst);
	}
	{
		fi_image	img = t_pattern(150, 150);
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
		t_check(sqrt(d) <= 1e-5, "descriptor with sgemm only vs with own kernels: distance %.3g",
			  sqrt(d));
		free(img.rgb);
	}
}

/* Open the weights and OpenBLAS, then compare the kernels. */
int
main(void)
{
	fi_model   *m;
	fi_workspace *ws;
	fi_error	err = {0};
	const fi_blas *bl;

	if ((m = t_open_model()) == NULL)
		return t_done();
	fi_blas_load(&bl, &err);
	t_check(bl != NULL, "load OpenBLAS: %s", bl != NULL ? bl->path : err.msg);
	if (bl != NULL)
		printf("     OpenBLAS core %s (OPENBLAS_CORETYPE=%s, %s), cpu: %s\n", bl->corename,
			   bl->coretype[0] ? bl->coretype : "unset", bl->coretype_origin, bl->cpu_features);
	ws = fi_workspace_new();
	test_gemm_small(m, ws);
	fi_workspace_free(ws);
	fi_model_close(m);
	return t_done();
}
