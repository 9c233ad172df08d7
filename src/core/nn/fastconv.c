/*
 * fastconv.c
 *	  Fused depthwise+pointwise conv in row bands, direct small-cin conv.
 */
#include "nn/fastconv.h"

#include "nn/gemm_small.h"
#include "nn/simd.h"

#include <string.h>

bool		fi_fastconv_enabled = true;

/* Band scratch for the depthwise rows, in floats (128 KB: fits L2). */
#define BAND_FLOATS (32 * 1024)

/* Element-wise max of two vectors (comparisons give all-ones masks). */
static inline __attribute__((always_inline)) v8
vmax(v8 a, v8 b)
{
	vi8			m = a > b;

	return (v8) (((vi8) a & m) | ((vi8) b & ~m));
}

/* Element-wise min. */
static inline __attribute__((always_inline)) v8
vmin(v8 a, v8 b)
{
	vi8			m = a < b;

	return (v8) (((vi8) a & m) | ((vi8) b & ~m));
}

/* Activation of one vector (leaky as in spec 1.4). */
static inline __attribute__((always_inline)) v8
act8(v8 x, fi_act act)
{
	v8			zero = {0};

	if (act == FI_ACT_RELU)
		return vmax(x, zero);
	if (act == FI_ACT_RELU6)
		return vmin(vmax(x, zero), zero + 6.0f);
	if (act == FI_ACT_LEAKY)
	{
		v8			a = x * 0.1f;

		return vmax(x - a, zero) + a;
	}
	return x;
}

/*
 * One output row of a 3x3 depthwise conv (C % 8 == 0) into dst[wout][C]:
 * per pixel and 8-channel chunk, the valid taps accumulate in a register.
 */
FI_CLONES static void
dw_row(const fi_dwconv *dw, const fi_tensor *in, int oy, int wout, float *restrict dst)
{
	int			C = in->c,
				W = in->w,
				s = dw->stride;
	const float *rows[3];
	int			nky = 0,
				kys[3];

	for (int ky = 0; ky < 3; ky++)
	{
		int			iy = oy * s - dw->pad.top + ky;

		if (iy >= 0 && iy < in->h)
		{
			rows[nky] = in->data + (size_t) iy * W * C;
			kys[nky++] = ky;
		}
	}
	for (int ox = 0; ox < wout; ox++)
	{
		int			ix0 = ox * s - dw->pad.left;
		int			kx0 = ix0 < 0 ? -ix0 : 0;
		int			kx1 = ix0 + 3 > W ? W - ix0 : 3;
		float	   *y = dst + (size_t) ox * C;

		for (int ch = 0; ch < C; ch += 8)
		{
			v8			acc = {0};

			if (dw->b != NULL)
				acc = *(const v8u *) (dw->b + ch);
			for (int r = 0; r < nky; r++)
			{
				/* first valid tap: never form a pointer before the row */
				const float *xr = rows[r] + (size_t) (ix0 + kx0) * C + ch;
				const float *wr = dw->w + (size_t) (kys[r] * 3 + kx0) * C + ch;

				for (int kx = 0; kx < kx1 - kx0; kx++)
					acc += *(const v8u *) (xr + (size_t) kx * C) * *(const v8u *) (wr + (size_t) kx * C);
			}
			*(v8u *) (y + ch) = act8(acc, dw->act);
		}
	}
}

/* y[r][o] = act(y[r][o] + b[o]) for rows x cout (cout % 8 == 0). */
FI_CLONES static void
bias_act8(float *restrict y, size_t rows, int cout, const float *b, fi_act act)
{
	for (size_t r = 0; r < rows; r++, y += cout)
		for (int o = 0; o < cout; o += 8)
		{
			v8			v = *(v8u *) (y + o);

			if (b != NULL)
				v += *(const v8u *) (b + o);
			*(v8u *) (y + o) = act8(v, act);
		}
}

/* Shapes the fused kernel handles. */
bool
fi_sep_conv_fusable(const fi_dwconv *dw, const fi_conv *pw, const fi_tensor *in)
{
	return fi_fastconv_enabled && fi_blas_get() != NULL && dw->k == 3 && in->c % 8 == 0 &&
		pw->cout % 8 == 0 && pw->k == 1 && pw->stride == 1 && pw->cin == in->c && dw->c == in->c;
}

/* Fused separable conv in bands of output rows. */
fi_status
fi_sep_conv_fused(fi_workspace *ws, const fi_dwconv *dw, const fi_conv *pw,
				  const fi_tensor *in, fi_tensor *out, const fi_cancel *c, fi_error *err)
{
	const fi_blas *bl = fi_blas_get();
	int			C = in->c;
	int			hout = fi_out_extent(in->h, 3, dw->stride, dw->pad.top, dw->pad.bottom);
	int			wout = fi_out_extent(in->w, 3, dw->stride, dw->pad.left, dw->pad.right);
	int			band;
	float	   *buf;

	if (!fi_sep_conv_fusable(dw, pw, in))
		return fi_set_error(err, FI_ERR_INTERNAL, "fused separable conv: unsupported shape");
	if (hout <= 0 || wout <= 0)
		return fi_set_error(err, FI_ERR_INTERNAL, "separable conv: empty output");
	buf = fi_ws_reserve_band(ws, FI_WS_IM2COL, BAND_FLOATS, hout, (size_t) wout * C, &band, err);
	if (buf == NULL)
		return err != NULL ? err->code : FI_ERR_NOMEM;
	out->h = hout;
	out->w = wout;
	out->c = pw->cout;
	for (int oy0 = 0; oy0 < hout; oy0 += band)
	{
		int			oy1 = oy0 + band < hout ? oy0 + band : hout;
		int			m = (oy1 - oy0) * wout;
		float	   *y = out->data + (size_t) oy0 * wout * pw->cout;

		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		for (int oy = oy0; oy < oy1; oy++)
			dw_row(dw, in, oy, wout, buf + (size_t) (oy - oy0) * wout * C);
		if (fi_gemm_small_ok(m, pw->cout, C))
		{
			/* bias and relu fuse into the store; other activations after it */
			bool		fused = pw->act == FI_ACT_NONE || pw->act == FI_ACT_RELU;

			fi_gemm_small(m, pw->cout, C, buf, pw->w, y, fused ? pw->b : NULL, NULL,
						  pw->act == FI_ACT_RELU);
			if (!fused)
				bias_act8(y, (size_t) m, pw->cout, pw->b, pw->act);
			continue;
		}
		bl->sgemm(FI_CBLAS_ROW_MAJOR, FI_CBLAS_NO_TRANS, FI_CBLAS_NO_TRANS,
				  m, pw->cout, C, 1.0f, buf, C, pw->w, pw->cout, 0.0f, y, pw->cout);
		bias_act8(y, (size_t) m, pw->cout, pw->b, pw->act);
	}
	return FI_OK;
}

/*
 * Direct conv rows for cin <= 4 and cout = 8*NV, accumulators in registers;
 * instantiated for NV = 2 (16 outputs) and 4 (32 outputs).  Where every
 * tap of a row lies inside the input, P neighbouring output pixels share
 * each weight load (the stem is load-bound otherwise); each pixel still
 * sums its taps in the same order as at the edges, where only the valid
 * taps are visited, so the result is the same bit for bit.
 */
#define DEFINE_SMALLCIN(NV, P) \
static inline __attribute__((always_inline)) void \
smallcin_px_##NV(const fi_conv *cv, const fi_tensor *in, int oy, int ox, fi_tensor *out) \
{ \
	int			k = cv->k, \
				s = cv->stride, \
				cin = cv->cin, \
				cout = 8 * NV; \
	v8			acc[NV]; \
	float	   *y = out->data + ((size_t) oy * out->w + ox) * cout; \
 \
	_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
		acc[j] = cv->b != NULL ? *(const v8u *) (cv->b + 8 * j) : (v8) {0}; \
	for (int ky = 0; ky < k; ky++) \
	{ \
		int			iy = oy * s - cv->pad.top + ky; \
 \
		if (iy < 0 || iy >= in->h) \
			continue; \
		for (int kx = 0; kx < k; kx++) \
		{ \
			int			ix = ox * s - cv->pad.left + kx; \
			const float *xp, \
					   *wp; \
 \
			if (ix < 0 || ix >= in->w) \
				continue; \
			xp = in->data + ((size_t) iy * in->w + ix) * cin; \
			wp = cv->w + (size_t) ((ky * k + kx) * cin) * cout; \
			for (int ci = 0; ci < cin; ci++, wp += cout) \
			{ \
				v8			xv = (v8) {0} + xp[ci]; \
 \
				_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
					acc[j] += xv * *(const v8u *) (wp + 8 * j); \
			} \
		} \
	} \
	_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
		*(v8u *) (y + 8 * j) = act8(acc[j], cv->act); \
} \
 \
static inline __attribute__((always_inline)) void \
smallcin_block_##NV(const fi_conv *cv, const fi_tensor *in, int oy, int ox, fi_tensor *out) \
{ \
	int			k = cv->k, \
				s = cv->stride, \
				cin = cv->cin, \
				cout = 8 * NV; \
	v8			acc[P][NV]; \
	const float *x0 = in->data + ((size_t) ox * s - cv->pad.left) * cin; \
 \
	_Pragma("GCC unroll 4") for (int p = 0; p < P; p++) \
		_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
			acc[p][j] = cv->b != NULL ? *(const v8u *) (cv->b + 8 * j) : (v8) {0}; \
	for (int ky = 0; ky < k; ky++) \
	{ \
		int			iy = oy * s - cv->pad.top + ky; \
 \
		if (iy < 0 || iy >= in->h) \
			continue; \
		for (int kx = 0; kx < k; kx++) \
		{ \
			const float *xp = x0 + ((size_t) iy * in->w + kx) * cin; \
			const float *wp = cv->w + (size_t) ((ky * k + kx) * cin) * cout; \
 \
			for (int ci = 0; ci < cin; ci++, wp += cout) \
			{ \
				v8			w[NV]; \
 \
				_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
					w[j] = *(const v8u *) (wp + 8 * j); \
				_Pragma("GCC unroll 4") for (int p = 0; p < P; p++) \
				{ \
					v8			xv = (v8) {0} + xp[(size_t) p * s * cin + ci]; \
 \
					_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
						acc[p][j] += xv * w[j]; \
				} \
			} \
		} \
	} \
	_Pragma("GCC unroll 4") for (int p = 0; p < P; p++) \
	{ \
		float	   *y = out->data + ((size_t) oy * out->w + ox + p) * cout; \
 \
		_Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) \
			*(v8u *) (y + 8 * j) = act8(acc[p][j], cv->act); \
	} \
} \
 \
FI_CLONES static void \
conv_smallcin_rows_##NV(const fi_conv *cv, const fi_tensor *in, int oy0, int oy1, fi_tensor *out) \
{ \
	int			s = cv->stride; \
	/* output columns whose taps all lie inside the input: [lo, hi) */ \
	int			lo = (cv->pad.left + s - 1) / s, \
				hi = (in->w - cv->k + cv->pad.left) / s + 1; \
 \
	if (hi > out->w) \
		hi = out->w; \
	if (lo > hi) \
		lo = hi; \
	for (int oy = oy0; oy < oy1; oy++) \
	{ \
		int			ox = 0; \
 \
		for (; ox < lo; ox++) \
			smallcin_px_##NV(cv, in, oy, ox, out); \
		for (; ox + P <= hi; ox += P) \
			smallcin_block_##NV(cv, in, oy, ox, out); \
		for (; ox < out->w; ox++) \
			smallcin_px_##NV(cv, in, oy, ox, out); \
	} \
}

DEFINE_SMALLCIN(2, 4)
DEFINE_SMALLCIN(4, 2)

/* Small-cin conv, polling c every 16 rows. */
fi_status
fi_conv2d_smallcin(fi_workspace *ws, const fi_conv *cv, const fi_tensor *in, fi_tensor *out,
				   const fi_cancel *c, fi_error *err)
{
	int			hout = fi_out_extent(in->h, cv->k, cv->stride, cv->pad.top, cv->pad.bottom);
	int			wout = fi_out_extent(in->w, cv->k, cv->stride, cv->pad.left, cv->pad.right);

	if (!fi_fastconv_enabled || cv->cin > 4 || (cv->cout != 16 && cv->cout != 32) || in->c != cv->cin)
		return fi_conv2d(ws, cv, in, out, c, err);
	if (hout <= 0 || wout <= 0)
		return fi_set_error(err, FI_ERR_INTERNAL, "conv: empty output");
	out->h = hout;
	out->w = wout;
	out->c = cv->cout;
	for (int oy = 0; oy < hout; oy += 16)
	{
		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		if (cv->cout == 16)
			conv_smallcin_rows_2(cv, in, oy, oy + 16 < hout ? oy + 16 : hout, out);
		else
			conv_smallcin_rows_4(cv, in, oy, oy + 16 < hout ? oy + 16 : hout, out);
	}
	return FI_OK;
}
