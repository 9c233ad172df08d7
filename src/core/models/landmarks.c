/*
 * landmarks.c
 *	  The landmark nets as a description over the shared layers: dense blocks
 *	  of separable convs whose outputs are summed, a global average, an fc.
 */
#include "models/landmarks.h"

#include "nn/fastconv.h"
#include "nn/simd.h"

#include <stdio.h>
#include <string.h>

/* Workspace slots: 0 input, 1..4 out1..out4, 5 running sum, 6 depthwise scratch. */
enum { SLOT_IN = 0, SLOT_OUT1 = 1, SLOT_SUM = 5, SLOT_DW = 6 };

/* sep(x, <net>/<block>/conv<j>, stride) of spec 5.2, then act, into slot `slot`. */
static fi_status
sep(const fi_model *m, fi_workspace *ws, const char *net, int blk, int j, const fi_tensor *x,
	int stride, int cout, fi_act act, int slot, fi_tensor *out, const fi_cancel *c,
	fi_error *err)
{
	char		nm[64];
	int			dsh[4] = {3, 3, x->c, 1},
				psh[4] = {1, 1, x->c, cout},
				bsh[1] = {cout};
	const float *dw,
			   *pw,
			   *pb;
	fi_status	s;

	snprintf(nm, sizeof(nm), "dense%d/conv%d/depthwise_filter", blk, j);
	if ((s = fi_net_tensor(m, net, nm, 4, dsh, &dw, err)) != FI_OK)
		return s;
	snprintf(nm, sizeof(nm), "dense%d/conv%d/pointwise_filter", blk, j);
	if ((s = fi_net_tensor(m, net, nm, 4, psh, &pw, err)) != FI_OK)
		return s;
	snprintf(nm, sizeof(nm), "dense%d/conv%d/bias", blk, j);
	if ((s = fi_net_tensor(m, net, nm, 1, bsh, &pb, err)) != FI_OK)
		return s;
	return fi_sep_conv(ws, x, stride, fi_pads_for(FI_PAD_SAME, x->h, x->w, 3, stride),
					   dw, NULL, FI_ACT_NONE, pw, pb, cout, act,
					   SLOT_DW, slot, out, c, err);
}

/*
 * out = relu(sum of t[0..n-1]) evaluated as t0 + (t1 + (... + tn-1)).  The
 * loop is vectorised by hand (-O2 leaves it scalar) and cloned for AVX2:
 * without it the 8-wide compare is split into scalar compares and cmovs,
 * and this sum was 27% of the net (perf).
 */
FI_CLONES static void
dense_sum(const fi_tensor *t, int n, fi_tensor *out)
{
	size_t		len = fi_tensor_size(&t[0]),
				i = 0;

	out->h = t[0].h;
	out->w = t[0].w;
	out->c = t[0].c;
	for (; i + 8 <= len; i += 8)
	{
		v8u		v = *(const v8u *) (t[n - 1].data + i),
					zero = {0};

		for (int k = n - 2; k >= 0; k--)
			v = *(const v8u *) (t[k].data + i) + v;
		*(v8u *) (out->data + i) = (v8u) ((vi8) v & (v > zero));
	}
	for (; i < len; i++)
	{
		float		v = t[n - 1].data[i];

		for (int k = n - 2; k >= 0; k--)
			v = t[k].data[i] + v;
		out->data[i] = v > 0.0f ? v : 0.0f;
	}
}

/* The net: dense blocks, global average, fc. */
fi_status
fi_landmarks_forward(const fi_model *m, fi_workspace *ws, bool tiny, const float *input,
					 float out[2 * FI_LM_POINTS], fi_layer_hook hook, void *hook_arg,
					 const fi_cancel *c, fi_error *err)
{
	const char *net = tiny ? "landmark68_tiny" : "landmark68";
	int			nblocks = tiny ? 3 : 4,
				nconv = tiny ? 3 : 4;
	fi_tensor	x = {FI_LM_SIZE, FI_LM_SIZE, 3, (float *) input};
	fi_tensor	o[4],
				sum;
	char		nm[32];
	fi_status	s;
	float		avg[256];
	const float *fw,
			   *fb;

	if ((s = fi_blas_load(NULL, err)) != FI_OK)
		return s;
	for (int blk = 0; blk < nblocks; blk++)
	{
		int			cout = 32 << blk;

		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		if (blk == 0)
		{
			int			wsh[4] = {3, 3, 3, 32},
						bsh[1] = {32};
			fi_conv		cv = {3, 2, 3, 32, fi_pads_for(FI_PAD_SAME, x.h, x.w, 3, 2),
			NULL, NULL, FI_ACT_RELU};

			if ((s = fi_net_tensor(m, net, "dense0/conv0/filters", 4, wsh, &cv.w, err)) != FI_OK ||
				(s = fi_net_tensor(m, net, "dense0/conv0/bias", 1, bsh, &cv.b, err)) != FI_OK ||
				(s = fi_ws_tensor(ws, SLOT_OUT1, x.h / 2, x.w / 2, 32, &o[0], err)) != FI_OK ||
				(s = fi_conv2d_smallcin(ws, &cv, &x, &o[0], c, err)) != FI_OK)
				return s;
		}
		else
		{
			/* relu fused into the pointwise store: the same bits as a separate pass */
			if ((s = sep(m, ws, net, blk, 0, &x, 2, cout, FI_ACT_RELU, SLOT_OUT1, &o[0],
						 c, err)) != FI_OK)
				return s;
		}
		snprintf(nm, sizeof(nm), "dense%d_out1", blk);
		fi_hook(hook, hook_arg, nm, &o[0]);
		if ((s = sep(m, ws, net, blk, 1, &o[0], 1, cout, FI_ACT_NONE, SLOT_OUT1 + 1, &o[1],
					 c, err)) != FI_OK ||
			(s = fi_ws_tensor(ws, SLOT_SUM, o[0].h, o[0].w, cout, &sum, err)) != FI_OK)
			return s;
		for (int j = 2; j < nconv; j++)
		{
			dense_sum(o, j, &sum);
			if ((s = sep(m, ws, net, blk, j, &sum, 1, cout, FI_ACT_NONE, SLOT_OUT1 + j, &o[j],
						 c, err)) != FI_OK)
				return s;
		}
		dense_sum(o, nconv, &sum);
		snprintf(nm, sizeof(nm), "dense%d", blk);
		fi_hook(hook, hook_arg, nm, &sum);
		/* the block output becomes the next input (slot IN: the input is consumed) */
		if ((s = fi_ws_tensor(ws, SLOT_IN, sum.h, sum.w, sum.c, &x, err)) != FI_OK)
			return s;
		memcpy(x.data, sum.data, sizeof(float) * fi_tensor_size(&sum));
	}
	{
		fi_tensor	g = {1, 1, x.c, avg};
		int			fsh[2] = {x.c, 2 * FI_LM_POINTS},
					bsh[1] = {2 * FI_LM_POINTS};
		fi_tensor	f = {1, 1, 2 * FI_LM_POINTS, out};

		fi_avgpool(&x, x.h, 2, &g);
		fi_hook(hook, hook_arg, "avgpool", &g);
		if ((s = fi_net_tensor(m, net, "fc/weights", 2, fsh, &fw, err)) != FI_OK ||
			(s = fi_net_tensor(m, net, "fc/bias", 1, bsh, &fb, err)) != FI_OK)
			return s;
		fi_fc(avg, x.c, fw, fb, 2 * FI_LM_POINTS, out);
		fi_hook(hook, hook_arg, "fc", &f);
	}
	return FI_OK;
}

/* Crop -> 112 input -> net -> crop pixel coordinates (spec 5.3). */
fi_status
fi_landmarks_detect(const fi_model *m, fi_workspace *ws, bool tiny, const fi_image *img,
					const fi_rect *crop, double pts[2 * FI_LM_POINTS],
					const fi_cancel *c, fi_error *err)
{
	float		out[2 * FI_LM_POINTS];
	float	   *in;
	double		cw = crop->width,
				ch = crop->height;
	double		sc = FI_LM_SIZE / (cw > ch ? cw : ch);
	double		sw = cw * sc,
				sh = ch * sc;
	double		px = sw < sh ? (sh - sw) / 2 : 0,
				py = sh < sw ? (sw - sh) / 2 : 0;
	fi_status	s;

	if ((s = fi_net_input(ws, SLOT_IN, img, crop, FI_SQUARE_CENTER, FI_LM_SIZE,
						  &fi_norm_recognition, &in, err)) != FI_OK)
		return s;
	if ((s = fi_landmarks_forward(m, ws, tiny, in, out, NULL, NULL, c, err)) != FI_OK)
		return s;
	for (int i = 0; i < FI_LM_POINTS; i++)
	{
		pts[2 * i] = ((out[2 * i] * (double) FI_LM_SIZE - px) / sw) * cw;
		pts[2 * i + 1] = ((out[2 * i + 1] * (double) FI_LM_SIZE - py) / sh) * ch;
	}
	return FI_OK;
}
