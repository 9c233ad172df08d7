/*
 * winograd.c
 *	  F(2x2,3x3) convs in bands of tile rows (of all the images of a batch:
 *	  the GEMMs read each filter once for them all): input transform (B^T d B) into
 *	  V[16][tiles][cin], 16 GEMMs M[p] = V[p] * U[p], inverse transform
 *	  (A^T m A) with the epilogue.  One obvious loop per stage; channels are
 *	  the inner dimension, 8 at a time.
 */
#include "nn/winograd.h"

#include "nn/gemm_small.h"
#include "nn/simd.h"

#include <string.h>

bool		fi_wino_enabled = true;

/* Scratch for V and M of one band, in floats (256 KB: stays in L2). */
#ifndef BAND_FLOATS
#define BAND_FLOATS (64 * 1024)
#endif

/* The transformed filters of one 3x3 conv. */
void
fi_wino_filter(const float *w, int cin, int cout, float *u)
{
	size_t		plane = (size_t) cin * cout;

	for (int ci = 0; ci < cin; ci++)
		for (int co = 0; co < cout; co++)
		{
			double		g[3][3],
						gg[4][3];	/* G g */

			for (int ky = 0; ky < 3; ky++)
				for (int kx = 0; kx < 3; kx++)
					g[ky][kx] = w[(size_t) (ky * 3 + kx) * plane + (size_t) ci * cout + co];
			for (int kx = 0; kx < 3; kx++)
			{
				gg[0][kx] = g[0][kx];
				gg[1][kx] = 0.5 * (g[0][kx] + g[1][kx] + g[2][kx]);
				gg[2][kx] = 0.5 * (g[0][kx] - g[1][kx] + g[2][kx]);
				gg[3][kx] = g[2][kx];
			}
			for (int i = 0; i < 4; i++)
			{
				/* (G g) G^T, row i */
				double		r[4] = {gg[i][0],
									0.5 * (gg[i][0] + gg[i][1] + gg[i][2]),
									0.5 * (gg[i][0] - gg[i][1] + gg[i][2]),
				gg[i][2]};

				for (int j = 0; j < 4; j++)
					u[(size_t) (i * 4 + j) * plane + (size_t) ci * cout + co] = (float) r[j];
			}
		}
}

/* Shapes fi_conv2d_wino handles. */
bool
fi_wino_ok(const fi_conv *cv, const fi_tensor *in)
{
	return fi_wino_enabled && cv->k == 3 && cv->stride == 1 && cv->cin == in->c &&
		cv->cin % 8 == 0 && cv->cout % 8 == 0 &&
		(cv->act == FI_ACT_NONE || cv->act == FI_ACT_RELU);
}

/*
 * V[p][t][ci] = (B^T d B)[p] for the tiles of tile rows [r0, r1) of the
 * batch (row r: image r / th, tile row r % th), tw tiles a row; d is the 4x4
 * input patch at (2ty - top, 2tx - left), zero outside.
 */
FI_CLONES static void
input_transform(const fi_conv *cv, const fi_tensor *in, int th, int r0, int r1, int tw,
				int ntile, float *restrict v)
{
	int			C = in->c;
	size_t		pstride = (size_t) ntile * C;	/* floats between points */

	for (int row = r0; row < r1; row++)
		for (int tx = 0; tx < tw; tx++)
		{
			int			t = (row - r0) * tw + tx,
						ty = row % th;
			const float *img = in->data + (size_t) (row / th) * in->h * in->w * C;
			const float *px[4][4];	/* NULL: padding */

			for (int r = 0; r < 4; r++)
				for (int q = 0; q < 4; q++)
				{
					int			iy = 2 * ty - cv->pad.top + r,
								ix = 2 * tx - cv->pad.left + q;

					px[r][q] = (iy >= 0 && iy < in->h && ix >= 0 && ix < in->w) ?
						img + ((size_t) iy * in->w + ix) * C : NULL;
				}
			for (int ch = 0; ch < C; ch += 8)
			{
				v8			d[4][4],
							b[4][4];
				float	   *dst = v + (size_t) t * C + ch;

				for (int r = 0; r < 4; r++)
					for (int q = 0; q < 4; q++)
						d[r][q] = px[r][q] ? *(const v8u *) (px[r][q] + ch) : (v8) {0};
				for (int q = 0; q < 4; q++)
				{
					/* B^T d, column q */
					b[0][q] = d[0][q] - d[2][q];
					b[1][q] = d[1][q] + d[2][q];
					b[2][q] = d[2][q] - d[1][q];
					b[3][q] = d[1][q] - d[3][q];
				}
				for (int r = 0; r < 4; r++)
				{
					/* (B^T d) B, row r */
					*(v8u *) (dst + (r * 4 + 0) * pstride) = b[r][0] - b[r][2];
					*(v8u *) (dst + (r * 4 + 1) * pstride) = b[r][1] + b[r][2];
					*(v8u *) (dst + (r * 4 + 2) * pstride) = b[r][2] - b[r][1];
					*(v8u *) (dst + (r * 4 + 3) * pstride) = b[r][1] - b[r][3];
				}
			}
		}
}

/* M[p] = V[p] * U[p] for the 16 points: own small GEMM where it runs, else sgemm. */
static void
point_gemms(const fi_blas *bl, int ntile, int cin, int cout, const float *v, const float *u,
			float *m)
{
	bool		own = fi_gemm_small_ok(ntile, cout, cin);

	for (int p = 0; p < FI_WINO_POINTS; p++)
	{
		const float *a = v + (size_t) p * ntile * cin;
		const float *b = u + (size_t) p * cin * cout;
		float	   *c = m + (size_t) p * ntile * cout;

		if (own)
			fi_gemm_small(ntile, cout, cin, a, b, c, NULL, NULL, false);
		else
			bl->sgemm(FI_CBLAS_ROW_MAJOR, FI_CBLAS_NO_TRANS, FI_CBLAS_NO_TRANS,
					  ntile, cout, cin, 1.0f, a, cin, b, cout, 0.0f, c, cout);
	}
}

/* ((y + bias) + res), then relu: the order of layers.c's bias_act. */
static inline __attribute__((always_inline)) v8
epilogue(v8 y, const fi_conv *cv, size_t at, int co)
{
	if (cv->b != NULL)
		y += *(const v8u *) (cv->b + co);
	if (cv->res != NULL)
		y += *(const v8u *) (cv->res + at);
	if (cv->act == FI_ACT_RELU)
	{
		v8			zero = {0};
		vi8			pos = y > zero;	/* -0 and NaN -> +0, as x > 0 ? x : 0 */

		y = (v8) ((vi8) y & pos);
	}
	return y;
}

/*
 * out = A^T m A + epilogue for the tiles of tile rows [r0, r1) of the batch
 * (row r: image r / th, tile row r % th); the outputs of a tile that fall
 * past the bottom/right edge are dropped.
 */
FI_CLONES static void
output_transform(const fi_conv *cv, const float *restrict m, int th, int r0, int r1, int tw,
				 int ntile, fi_tensor *out)
{
	int			K = out->c;
	size_t		pstride = (size_t) ntile * K;

	for (int row = r0; row < r1; row++)
		for (int tx = 0; tx < tw; tx++)
		{
			int			t = (row - r0) * tw + tx,
						ty = row % th;
			size_t		img = (size_t) (row / th) * out->h * out->w * K;
			int			ny = out->h - 2 * ty < 2 ? 1 : 2,
						nx = out->w - 2 * tx < 2 ? 1 : 2;
			for (int co = 0; co < K; co += 8)
			{
				const float *src = m + (size_t) t * K + co;
				v8			s[4][4],
							a[2][4],
							y[2][2];

				for (int p = 0; p < FI_WINO_POINTS; p++)
					s[p / 4][p % 4] = *(const v8u *) (src + p * pstride);
				for (int q = 0; q < 4; q++)
				{
					/* A^T s, column q */
					a[0][q] = s[0][q] + s[1][q] + s[2][q];
					a[1][q] = s[1][q] - s[2][q] - s[3][q];
				}
				for (int r = 0; r < 2; r++)
				{
					/* (A^T s) A, row r */
					y[r][0] = a[r][0] + a[r][1] + a[r][2];
					y[r][1] = a[r][1] - a[r][2] - a[r][3];
				}
				for (int r = 0; r < ny; r++)
					for (int q = 0; q < nx; q++)
					{
						size_t		at = img + ((size_t) (2 * ty + r) * out->w + 2 * tx + q) * K + co;

						*(v8u *) (out->data + at) = epilogue(y[r][q], cv, at, co);
					}
			}
		}
}

/* The conv of n images in bands of tile rows. */
fi_status
fi_conv2d_wino(fi_workspace *ws, const fi_conv *cv, const float *u, const fi_tensor *in, int n,
			   fi_tensor *out, const fi_cancel *c, fi_error *err)
{
	const fi_blas *bl = fi_blas_get();
	int			hout = fi_out_extent(in->h, 3, 1, cv->pad.top, cv->pad.bottom);
	int			wout = fi_out_extent(in->w, 3, 1, cv->pad.left, cv->pad.right);
	int			th = (hout + 1) / 2,
				tw = (wout + 1) / 2;
	size_t		tile_floats = (size_t) FI_WINO_POINTS * (cv->cin + cv->cout);
	int			band;
	float	   *buf;

	if (!fi_wino_ok(cv, in) || n < 1)
		return fi_set_error(err, FI_ERR_INTERNAL, "winograd conv: unsupported shape");
	if (bl == NULL)
		return fi_set_error(err, FI_ERR_INTERNAL, "OpenBLAS is not loaded");
	if (hout <= 0 || wout <= 0)
		return fi_set_error(err, FI_ERR_INTERNAL, "winograd conv: empty output");
	buf = fi_ws_reserve_band(ws, FI_WS_IM2COL, BAND_FLOATS, n * th, tw * tile_floats, &band, err);
	if (buf == NULL)
		return err != NULL ? err->code : FI_ERR_NOMEM;
	out->h = hout;
	out->w = wout;
	out->c = cv->cout;
	for (int r0 = 0; r0 < n * th; r0 += band)
	{
		int			r1 = r0 + band < n * th ? r0 + band : n * th;
		int			ntile = (r1 - r0) * tw;
		float	   *v = buf,
				   *m = buf + (size_t) FI_WINO_POINTS * ntile * cv->cin;

		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		input_transform(cv, in, th, r0, r1, tw, ntile, v);
		point_gemms(bl, ntile, cv->cin, cv->cout, v, u, m);
		output_transform(cv, m, th, r0, r1, tw, ntile, out);
	}
	return FI_OK;
}
