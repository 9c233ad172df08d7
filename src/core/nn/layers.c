/*
 * layers.c
 *	  One obvious loop per layer kind; conv goes through im2col + sgemm.
 */
#include "nn/layers.h"

#include "nn/gemm_small.h"

/*
 * The element-wise loops here (channels innermost, unknown trip counts) are
 * only vectorised by GCC at -O3; -O2 (the PGXS default) leaves them scalar.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3")
#endif

#include <math.h>
#include <string.h>

/* Largest im2col band, in floats (4 MB): bounds memory for any input size. */
/* Taps of a max pool window gathered before they are folded (3x3 in every net). */
#define FI_MAXPOOL_MAX_TAPS 9

#define IM2COL_MAX_FLOATS ((size_t) 1 << 20)

/* SAME padding of one dim (spec 1.3): extra pixel after. */
static void
same_pad(int n, int k, int s, int *before, int *after)
{
	int			out = (n + s - 1) / s;
	int			total = (out - 1) * s + k - n;

	if (total < 0)
		total = 0;
	*before = total / 2;
	*after = total - *before;
}

/* Pads for a padding mode. */
fi_pads
fi_pads_for(fi_padding p, int h, int w, int k, int s)
{
	fi_pads		r = {0, 0, 0, 0};

	if (p == FI_PAD_SAME)
	{
		same_pad(h, k, s, &r.top, &r.bottom);
		same_pad(w, k, s, &r.left, &r.right);
	}
	return r;
}

/* One activation value. */
static inline float
act1(float x, fi_act act)
{
	switch (act)
	{
		case FI_ACT_RELU:
			return x > 0.0f ? x : 0.0f;
		case FI_ACT_RELU6:
			return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f;
		case FI_ACT_LEAKY:
			{
				float		a = 0.1f * x;
				float		d = x - a;

				return (d > 0.0f ? d : 0.0f) + a;
			}
		default:
			return x;
	}
}

/* Apply an activation in place. */
void
fi_activate(float *x, size_t n, fi_act act)
{
	if (act == FI_ACT_NONE)
		return;
	for (size_t i = 0; i < n; i++)
		x[i] = act1(x[i], act);
}

/* y[r][o] = act((y[r][o] + b[o]) + res[r][o]) over rows x cout (b, res may be NULL). */
static void
bias_act(float *y, size_t rows, int cout, const float *b, const float *res, fi_act act)
{
	for (size_t r = 0; r < rows; r++, y += cout)
	{
		if (b != NULL)
			for (int o = 0; o < cout; o++)
				y[o] += b[o];
		if (res != NULL)
			for (int o = 0; o < cout; o++)
				y[o] += res[r * cout + o];
		if (act == FI_ACT_RELU)	/* the common case, as a loop GCC vectorises */
			for (int o = 0; o < cout; o++)
				y[o] = y[o] > 0.0f ? y[o] : 0.0f;
		else if (act != FI_ACT_NONE)
			for (int o = 0; o < cout; o++)
				y[o] = act1(y[o], act);
	}
}

/* im2col of output rows [oy0, oy1): one row per output pixel, cols (ky, kx, ci). */
static void
im2col(const fi_conv *cv, const fi_tensor *in, int wout, int oy0, int oy1, float *col)
{
	int			k = cv->k,
				cin = in->c;
	size_t		kcols = (size_t) k * k * cin;

	for (int oy = oy0; oy < oy1; oy++)
		for (int ox = 0; ox < wout; ox++)
		{
			float	   *dst = col + ((size_t) (oy - oy0) * wout + ox) * kcols;
			int			ix0 = ox * cv->stride - cv->pad.left;
			bool		inside = ix0 >= 0 && ix0 + k <= in->w;

			for (int ky = 0; ky < k; ky++, dst += (size_t) k * cin)
			{
				int			iy = oy * cv->stride - cv->pad.top + ky;
				const float *row;

				if (iy < 0 || iy >= in->h)
				{
					memset(dst, 0, (size_t) k * cin * sizeof(float));
					continue;
				}
				row = in->data + (size_t) iy * in->w * cin;
				if (inside)		/* the k taps of a row are contiguous */
					memcpy(dst, row + (size_t) ix0 * cin, (size_t) k * cin * sizeof(float));
				else
					for (int kx = 0; kx < k; kx++)
					{
						int			ix = ix0 + kx;

						if (ix < 0 || ix >= in->w)
							memset(dst + kx * cin, 0, cin * sizeof(float));
						else
							memcpy(dst + kx * cin, row + (size_t) ix * cin, cin * sizeof(float));
					}
			}
		}
}

/* Conv to 32 channels with the direct kernel: zero-pad the input once (if padded), no im2col. */
static fi_status
conv32(fi_workspace *ws, const fi_conv *cv, const fi_tensor *in, fi_tensor *out,
	   const fi_cancel *c, fi_error *err)
{
	const float *x = in->data;
	int			win = in->w;

	if (fi_cancelled(c))
		return fi_set_error(err, FI_CANCELLED, "canceled");
	if (cv->pad.top || cv->pad.bottom || cv->pad.left || cv->pad.right)
	{
		int			hp = in->h + cv->pad.top + cv->pad.bottom;
		size_t		rowf = (size_t) in->w * in->c;
		float	   *p;

		win = in->w + cv->pad.left + cv->pad.right;
		p = fi_ws_reserve(ws, FI_WS_IM2COL, (size_t) hp * win * in->c, err);
		if (p == NULL)
			return err != NULL ? err->code : FI_ERR_NOMEM;
		memset(p, 0, sizeof(float) * hp * win * in->c);
		for (int iy = 0; iy < in->h; iy++)
			memcpy(p + ((size_t) (iy + cv->pad.top) * win + cv->pad.left) * in->c,
				   in->data + iy * rowf, sizeof(float) * rowf);
		x = p;
	}
	fi_conv32_direct(out->h, out->w, cv->k, cv->stride, cv->cin, win, x, cv->w, out->data,
					 cv->b, cv->res, cv->act == FI_ACT_RELU);
	return FI_OK;
}

/*
 * A 1x1 input whose padding centres the kernel: only the centre tap meets
 * data, the others multiply zeros.  A 1x1 conv with the centre weights gives
 * the same sum (the skipped terms are all +-0) without reading the k*k - 1
 * other taps' weights (the encoder's last 3x3 conv: 2.4 MB read for 256 MACs
 * of work per output).
 */
static bool
centre_tap_only(const fi_conv *cv, const fi_tensor *in)
{
	return in->h == 1 && in->w == 1 && cv->k % 2 == 1 && cv->k > 1 &&
		cv->pad.top == cv->k / 2 && cv->pad.left == cv->k / 2 &&
		cv->pad.bottom == cv->k / 2 && cv->pad.right == cv->k / 2;
}

/* The 1x1-input conv of n images with the centre tap's weights. */
static void
conv_centre_tap(const fi_blas *bl, const fi_conv *cv, const fi_tensor *in, int n,
				fi_tensor *out)
{
	const float *w = cv->w + (size_t) ((cv->k / 2) * cv->k + cv->k / 2) * cv->cin * cv->cout;

	if ((cv->act == FI_ACT_NONE || cv->act == FI_ACT_RELU) &&
		fi_gemm_small_ok(n, cv->cout, cv->cin))
	{
		fi_gemm_small(n, cv->cout, cv->cin, in->data, w, out->data, cv->b, cv->res,
					  cv->act == FI_ACT_RELU);
		return;
	}
	bl->sgemm(FI_CBLAS_ROW_MAJOR, FI_CBLAS_NO_TRANS, FI_CBLAS_NO_TRANS,
			  n, cv->cout, cv->cin, 1.0f, in->data, cv->cin, w, cv->cout, 0.0f,
			  out->data, cv->cout);
	bias_act(out->data, n, cv->cout, cv->b, cv->res, cv->act);
}

/* Conv via im2col + sgemm, in bands of output rows. */
fi_status
fi_conv2d(fi_workspace *ws, const fi_conv *cv, const fi_tensor *in, fi_tensor *out,
		  const fi_cancel *c, fi_error *err)
{
	const fi_blas *bl = fi_blas_get();
	int			hout = fi_out_extent(in->h, cv->k, cv->stride, cv->pad.top, cv->pad.bottom);
	int			wout = fi_out_extent(in->w, cv->k, cv->stride, cv->pad.left, cv->pad.right);
	size_t		kcols = (size_t) cv->k * cv->k * cv->cin;
	int			band;
	float	   *col;

	if (bl == NULL)
		return fi_set_error(err, FI_ERR_INTERNAL, "OpenBLAS is not loaded");
	if (in->c != cv->cin || hout <= 0 || wout <= 0)
		return fi_set_error(err, FI_ERR_INTERNAL, "conv: input %dx%dx%d does not fit a %dx%d/%d conv of %d channels",
							in->h, in->w, in->c, cv->k, cv->k, cv->stride, cv->cin);
	out->h = hout;
	out->w = wout;
	out->c = cv->cout;

	if (cv->k == 1 && cv->stride == 1 && hout == in->h && wout == in->w)
	{
		/* 1x1 stride 1 unpadded: the activation already is the im2col matrix */
		bl->sgemm(FI_CBLAS_ROW_MAJOR, FI_CBLAS_NO_TRANS, FI_CBLAS_NO_TRANS,
				  hout * wout, cv->cout, cv->cin, 1.0f, in->data, cv->cin,
				  cv->w, cv->cout, 0.0f, out->data, cv->cout);
		bias_act(out->data, (size_t) hout * wout, cv->cout, cv->b, cv->res, cv->act);
		return fi_cancelled(c) ? fi_set_error(err, FI_CANCELLED, "canceled") : FI_OK;
	}

	if (centre_tap_only(cv, in))
	{
		conv_centre_tap(bl, cv, in, 1, out);
		return fi_cancelled(c) ? fi_set_error(err, FI_CANCELLED, "canceled") : FI_OK;
	}

	if (cv->cout == 32 && cv->k <= FI_CONV32_MAX_K &&
		(cv->act == FI_ACT_NONE || cv->act == FI_ACT_RELU) &&
		fi_gemm_small_ok(hout * wout, cv->cout, (int) kcols))
		return conv32(ws, cv, in, out, c, err);

	col = fi_ws_reserve_band(ws, FI_WS_IM2COL, IM2COL_MAX_FLOATS, hout, (size_t) wout * kcols,
							 &band, err);
	if (col == NULL)
		return err != NULL ? err->code : FI_ERR_NOMEM;
	for (int oy0 = 0; oy0 < hout; oy0 += band)
	{
		int			oy1 = oy0 + band < hout ? oy0 + band : hout;
		int			m = (oy1 - oy0) * wout;
		float	   *y = out->data + (size_t) oy0 * wout * cv->cout;
		bool		own = (cv->act == FI_ACT_NONE || cv->act == FI_ACT_RELU) &&
			fi_gemm_small_ok(m, cv->cout, (int) kcols);
		const float *res = cv->res ? cv->res + (size_t) oy0 * wout * cv->cout : NULL;

		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		im2col(cv, in, wout, oy0, oy1, col);
		if (own)
			fi_gemm_small(m, cv->cout, (int) kcols, col, cv->w, y, cv->b, res,
						  cv->act == FI_ACT_RELU);
		else
		{
			bl->sgemm(FI_CBLAS_ROW_MAJOR, FI_CBLAS_NO_TRANS, FI_CBLAS_NO_TRANS,
					  m, cv->cout, (int) kcols, 1.0f, col, (int) kcols,
					  cv->w, cv->cout, 0.0f, y, cv->cout);
			bias_act(y, (size_t) m, cv->cout, cv->b, res, cv->act);
		}
	}
	return FI_OK;
}

/* Depthwise conv, direct loop: accumulate taps per output pixel, channels innermost. */
fi_status
fi_dwconv2d(const fi_dwconv *dw, const fi_tensor *in, fi_tensor *out,
			const fi_cancel *c, fi_error *err)
{
	int			C = dw->c;
	int			hout = fi_out_extent(in->h, dw->k, dw->stride, dw->pad.top, dw->pad.bottom);
	int			wout = fi_out_extent(in->w, dw->k, dw->stride, dw->pad.left, dw->pad.right);

	if (in->c != C || hout <= 0 || wout <= 0)
		return fi_set_error(err, FI_ERR_INTERNAL, "depthwise conv: bad input %dx%dx%d",
							in->h, in->w, in->c);
	out->h = hout;
	out->w = wout;
	out->c = C;
	for (int oy = 0; oy < hout; oy++)
	{
		if ((oy & 15) == 0 && fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		for (int ox = 0; ox < wout; ox++)
		{
			float	   *y = out->data + ((size_t) oy * wout + ox) * C;

			for (int ch = 0; ch < C; ch++)
				y[ch] = 0.0f;
			for (int ky = 0; ky < dw->k; ky++)
			{
				int			iy = oy * dw->stride - dw->pad.top + ky;

				if (iy < 0 || iy >= in->h)
					continue;
				for (int kx = 0; kx < dw->k; kx++)
				{
					int			ix = ox * dw->stride - dw->pad.left + kx;
					const float *x,
							   *w;

					if (ix < 0 || ix >= in->w)
						continue;
					x = in->data + ((size_t) iy * in->w + ix) * C;
					w = dw->w + (size_t) (ky * dw->k + kx) * C;
					for (int ch = 0; ch < C; ch++)
						y[ch] += x[ch] * w[ch];
				}
			}
		}
		bias_act(out->data + (size_t) oy * wout * C, wout, C, dw->b, NULL, dw->act);
	}
	return FI_OK;
}

/* y[ch] = max over 4 taps in order (x > y ? x : y from -inf); restrict: vectorised. */
static inline void
max4(float *restrict y, const float *restrict a, const float *restrict b,
	 const float *restrict c, const float *restrict d, int C)
{
	for (int ch = 0; ch < C; ch++)
	{
		float		v = -INFINITY;

		v = a[ch] > v ? a[ch] : v;
		v = b[ch] > v ? b[ch] : v;
		v = c[ch] > v ? c[ch] : v;
		y[ch] = d[ch] > v ? d[ch] : v;
	}
}

/* y[ch] = max(x[ch], y[ch]) as x > y ? x : y (restrict: vectorised). */
static inline void
max_into(float *restrict y, const float *restrict x, int C)
{
	for (int ch = 0; ch < C; ch++)
		y[ch] = x[ch] > y[ch] ? x[ch] : y[ch];
}

/* Max pool; windows only visit real cells (SAME padding acts as -inf). */
void
fi_maxpool(const fi_tensor *in, int k, int s, fi_pads pad, fi_tensor *out)
{
	int			C = in->c;

	out->h = fi_out_extent(in->h, k, s, pad.top, pad.bottom);
	out->w = fi_out_extent(in->w, k, s, pad.left, pad.right);
	out->c = C;
	for (int oy = 0; oy < out->h; oy++)
		for (int ox = 0; ox < out->w; ox++)
		{
			float	   *y = out->data + ((size_t) oy * out->w + ox) * C;
			const float *taps[FI_MAXPOOL_MAX_TAPS];
			int			nt = 0,
						t0 = 0;	/* taps already folded into y */

			/* the taps inside the input, in (ky, kx) order */
			for (int ky = 0; ky < k; ky++)
			{
				int			iy = oy * s - pad.top + ky;

				if (iy < 0 || iy >= in->h)
					continue;
				for (int kx = 0; kx < k; kx++)
				{
					int			ix = ox * s - pad.left + kx;

					if (ix < 0 || ix >= in->w)
						continue;
					if (nt == FI_MAXPOOL_MAX_TAPS)	/* a window over 3x3: fold what we have */
					{
						if (t0 == 0)
							for (int ch = 0; ch < C; ch++)
								y[ch] = -INFINITY;
						for (int t = 0; t < nt; t++)
							max_into(y, taps[t], C);
						t0 += nt;
						nt = 0;
					}
					taps[nt++] = in->data + ((size_t) iy * in->w + ix) * C;
				}
			}
			if (nt == 4 && t0 == 0)		/* 2x2 pools (the tiny detector) away from edges */
			{
				max4(y, taps[0], taps[1], taps[2], taps[3], C);
				continue;
			}
			if (t0 == 0)
				for (int ch = 0; ch < C; ch++)
					y[ch] = -INFINITY;
			for (int t = 0; t < nt; t++)
				max_into(y, taps[t], C);
		}
}

/* Average pool, VALID: sum of the k*k window divided by k*k. */
void
fi_avgpool(const fi_tensor *in, int k, int s, fi_tensor *out)
{
	int			C = in->c;
	float		n = (float) (k * k);

	out->h = fi_out_extent(in->h, k, s, 0, 0);
	out->w = fi_out_extent(in->w, k, s, 0, 0);
	out->c = C;
	for (int oy = 0; oy < out->h; oy++)
		for (int ox = 0; ox < out->w; ox++)
		{
			float	   *y = out->data + ((size_t) oy * out->w + ox) * C;

			for (int ch = 0; ch < C; ch++)
				y[ch] = 0.0f;
			for (int ky = 0; ky < k; ky++)
				for (int kx = 0; kx < k; kx++)
				{
					const float *x = in->data + ((size_t) (oy * s + ky) * in->w + ox * s + kx) * C;

					for (int ch = 0; ch < C; ch++)
						y[ch] += x[ch];
				}
			for (int ch = 0; ch < C; ch++)
				y[ch] /= n;
		}
}

/* out = act(a + b). */
void
fi_add(const fi_tensor *a, const fi_tensor *b, fi_act act, fi_tensor *out)
{
	size_t		n = fi_tensor_size(a);

	out->h = a->h;
	out->w = a->w;
	out->c = a->c;
	for (size_t i = 0; i < n; i++)
		out->data[i] = act1(a->data[i] + b->data[i], act);
}

/* Fully connected, inputs outer so the inner loop runs along a weight row. */
void
fi_fc(const float *x, int nin, const float *w, const float *b, int nout, float *y)
{
	for (int o = 0; o < nout; o++)
		y[o] = 0.0f;
	for (int i = 0; i < nin; i++)
	{
		const float *wr = w + (size_t) i * nout;

		for (int o = 0; o < nout; o++)
			y[o] += x[i] * wr[o];
	}
	if (b != NULL)
		for (int o = 0; o < nout; o++)
			y[o] += b[o];
}

/*
 * Conv of n images stored one after another: one GEMM over all their output
 * pixels where the own kernel takes it (the weights are read once for the
 * batch), else image by image.
 */
fi_status
fi_conv2d_n(fi_workspace *ws, const fi_conv *cv, const fi_tensor *in, int n, fi_tensor *out,
			const fi_cancel *c, fi_error *err)
{
	int			hout = fi_out_extent(in->h, cv->k, cv->stride, cv->pad.top, cv->pad.bottom);
	int			wout = fi_out_extent(in->w, cv->k, cv->stride, cv->pad.left, cv->pad.right);
	size_t		kcols = (size_t) cv->k * cv->k * cv->cin,
				mimg = (size_t) hout * wout;
	bool		relu_or_none = cv->act == FI_ACT_NONE || cv->act == FI_ACT_RELU;
	float	   *col;

	if (n <= 1 || fi_blas_get() == NULL || in->c != cv->cin || hout <= 0 || wout <= 0)
		return fi_conv2d(ws, cv, in, out, c, err);
	out->h = hout;
	out->w = wout;
	out->c = cv->cout;
	if (centre_tap_only(cv, in))
	{
		conv_centre_tap(fi_blas_get(), cv, in, n, out);
		return fi_cancelled(c) ? fi_set_error(err, FI_CANCELLED, "canceled") : FI_OK;
	}
	if (cv->cout != 32 && relu_or_none && n * mimg * kcols <= IM2COL_MAX_FLOATS &&
		fi_gemm_small_ok((int) (n * mimg), cv->cout, (int) kcols))
	{
		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		col = fi_ws_reserve(ws, FI_WS_IM2COL, n * mimg * kcols, err);
		if (col == NULL)
			return err != NULL ? err->code : FI_ERR_NOMEM;
		for (int i = 0; i < n; i++)
		{
			fi_tensor	img = *in;

			img.data = in->data + (size_t) i * in->h * in->w * in->c;
			im2col(cv, &img, wout, 0, hout, col + i * mimg * kcols);
		}
		fi_gemm_small((int) (n * mimg), cv->cout, (int) kcols, col, cv->w, out->data, cv->b,
					  cv->res, cv->act == FI_ACT_RELU);
		return FI_OK;
	}
	for (int i = 0; i < n; i++)
	{
		fi_conv		one = *cv;
		fi_tensor	img = *in,
					o = *out;
		fi_status	s;

		img.data = in->data + (size_t) i * in->h * in->w * in->c;
		o.data = out->data + i * mimg * cv->cout;
		if (cv->res != NULL)
			one.res = cv->res + i * mimg * cv->cout;
		if ((s = fi_conv2d(ws, &one, &img, &o, c, err)) != FI_OK)
			return s;
	}
	return FI_OK;
}
