/*
 * tinyface.c
 *	  The tiny face detector as a description over the shared layers:
 *	  conv0 + five depthwise-separable convs, each followed by a 2x2 max pool,
 *	  then a 1x1 conv to 5 anchors x (tx, ty, tw, th, objectness).
 */
#include "models/tinyface.h"

#include "nn/fastconv.h"
#include "image/preprocess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Workspace slots: 0 input, 1..3 activations (FI_WS_IM2COL is the layers'). */
enum { SLOT_IN = 0, SLOT_A = 1, SLOT_B = 2, SLOT_C = 3 };

static const double anchors[FI_TINY_ANCHORS][2] = {
	{1.603231, 2.094468}, {6.041143, 7.080126}, {2.882459, 3.518061},
	{4.266906, 5.178857}, {9.041765, 10.66308}
};

/* The net on a square input. */
fi_status
fi_tinyface_forward(const fi_model *m, fi_workspace *ws, const float *input, int size,
					fi_tensor *out, fi_layer_hook hook, void *hook_arg,
					const fi_cancel *c, fi_error *err)
{
	return fi_tinyface_forward_hw(m, ws, input, size, size, out, hook, hook_arg, c, err);
}

/* The net: conv0, pool0, then conv_i (dw pad 1 + pw + bias + leaky), pool_i. */
fi_status
fi_tinyface_forward_hw(const fi_model *m, fi_workspace *ws, const float *input, int h, int w,
					   fi_tensor *out, fi_layer_hook hook, void *hook_arg,
					   const fi_cancel *c, fi_error *err)
{
	fi_tensor	in = {h, w, 3, (float *) input};
	fi_tensor	a,
				b;
	fi_conv		cv = {3, 1, 3, 16, {0, 0, 0, 0}, NULL, NULL, FI_ACT_LEAKY};
	int			wsh[4] = {3, 3, 3, 16},
				bsh[1] = {16};
	int			cin = 16;
	fi_status	s;

	if (h < 32 || h % 32 != 0 || w < 32 || w % 32 != 0)
		return fi_set_error(err, FI_ERR_INVALID, "tiny detector input %dx%d is not a multiple of 32", w, h);
	if ((s = fi_blas_load(NULL, err)) != FI_OK)
		return s;
	if ((s = fi_net_tensor(m, "tiny", "conv0/filters", 4, wsh, &cv.w, err)) != FI_OK ||
		(s = fi_net_tensor(m, "tiny", "conv0/bias", 1, bsh, &cv.b, err)) != FI_OK)
		return s;
	if ((s = fi_ws_tensor(ws, SLOT_A, h - 2, w - 2, 16, &a, err)) != FI_OK ||
		(s = fi_conv2d_smallcin(ws, &cv, &in, &a, c, err)) != FI_OK)
		return s;
	fi_hook(hook, hook_arg, "conv0", &a);
	if ((s = fi_ws_tensor(ws, SLOT_B, (a.h + 1) / 2, (a.w + 1) / 2, 16, &b, err)) != FI_OK)
		return s;
	fi_maxpool(&a, 2, 2, fi_pads_for(FI_PAD_SAME, a.h, a.w, 2, 2), &b);
	fi_hook(hook, hook_arg, "pool0", &b);

	for (int i = 1; i <= 5; i++)
	{
		char		nm[32];
		int			cout = cin * 2,
					stride = i < 5 ? 2 : 1;
		int			dsh[4] = {3, 3, cin, 1},
					psh[4] = {1, 1, cin, cout},
					osh[1] = {cout};
		const float *dw,
				   *pw,
				   *pb;
		fi_pads		one = {1, 1, 1, 1};

		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		snprintf(nm, sizeof(nm), "conv%d/depthwise_filter", i);
		if ((s = fi_net_tensor(m, "tiny", nm, 4, dsh, &dw, err)) != FI_OK)
			return s;
		snprintf(nm, sizeof(nm), "conv%d/pointwise_filter", i);
		if ((s = fi_net_tensor(m, "tiny", nm, 4, psh, &pw, err)) != FI_OK)
			return s;
		snprintf(nm, sizeof(nm), "conv%d/bias", i);
		if ((s = fi_net_tensor(m, "tiny", nm, 1, osh, &pb, err)) != FI_OK)
			return s;
		if ((s = fi_sep_conv(ws, &b, 1, one, dw, NULL, FI_ACT_NONE, pw, pb, cout,
							 FI_ACT_LEAKY, SLOT_A, SLOT_C, &a, c, err)) != FI_OK)
			return s;
		snprintf(nm, sizeof(nm), "conv%d", i);
		fi_hook(hook, hook_arg, nm, &a);
		if ((s = fi_ws_tensor(ws, SLOT_B, (a.h + stride - 1) / stride,
							  (a.w + stride - 1) / stride, cout, &b, err)) != FI_OK)
			return s;
		fi_maxpool(&a, 2, stride, fi_pads_for(FI_PAD_SAME, a.h, a.w, 2, stride), &b);
		snprintf(nm, sizeof(nm), "pool%d", i);
		fi_hook(hook, hook_arg, nm, &b);
		cin = cout;
	}

	{
		int			wsh8[4] = {1, 1, 512, 25},
					bsh8[1] = {25};
		fi_conv		c8 = {1, 1, 512, 25, {0, 0, 0, 0}, NULL, NULL, FI_ACT_NONE};

		if ((s = fi_net_tensor(m, "tiny", "conv8/filters", 4, wsh8, &c8.w, err)) != FI_OK ||
			(s = fi_net_tensor(m, "tiny", "conv8/bias", 1, bsh8, &c8.b, err)) != FI_OK)
			return s;
		if ((s = fi_ws_tensor(ws, SLOT_A, b.h, b.w, 25, out, err)) != FI_OK ||
			(s = fi_conv2d(ws, &c8, &b, out, c, err)) != FI_OK)
			return s;
	}
	fi_hook(hook, hook_arg, "conv8", out);
	return FI_OK;
}

/*
 * Decode boxes (spec 3.3) and run face-api's NMS.  conv8 may cover only the
 * top-left part of the size x size grid (fi_tinyface_detect leaves out the
 * padding lines); cells keep their place in the full grid.
 */
fi_status
fi_tinyface_decode(const fi_tensor *conv8, int size, int W, int H, double min_score,
				   fi_detection **dets, int *n, fi_error *err)
{
	int			g = size / 32,
				gh = conv8->h,
				gw = conv8->w;
	double		scale = (double) size / (double) (W > H ? W : H);
	double		rw = round(W * scale),
				rh = round(H * scale);
	double		mx = rw > rh ? rw : rh;
	double		cfx = mx / rw,
				cfy = mx / rh;
	fi_ranked  *cs;
	bool	   *gone;
	fi_detection *out;
	int			nc = 0,
				nout = 0;

	*dets = NULL;
	*n = 0;
	if (conv8->c != FI_TINY_ANCHORS * 5 || gh > g || gw > g || gh < 1 || gw < 1)
		return fi_set_error(err, FI_ERR_INTERNAL, "tiny detector: unexpected output shape");
	cs = malloc(sizeof(fi_ranked) * gh * gw * FI_TINY_ANCHORS + 1);
	gone = calloc(gh * gw * FI_TINY_ANCHORS + 1, sizeof(bool));
	if (cs == NULL || gone == NULL)
	{
		free(cs);
		free(gone);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory decoding detections");
	}
	for (int row = 0; row < gh; row++)
		for (int col = 0; col < gw; col++)
			for (int a = 0; a < FI_TINY_ANCHORS; a++)
			{
				const float *v = conv8->data + ((size_t) row * gw + col) * conv8->c + a * 5;
				double		score = fi_sigmoid(v[4]);
				double		cx,
							cy,
							w,
							h,
							left,
							top;

				if (!(score > min_score))
					continue;
				cx = ((col + fi_sigmoid(v[0])) / g) * cfx;
				cy = ((row + fi_sigmoid(v[1])) / g) * cfy;
				w = ((exp(v[2]) * anchors[a][0]) / g) * cfx;
				h = ((exp(v[3]) * anchors[a][1]) / g) * cfy;
				left = cx - w / 2;
				top = cy - h / 2;
				cs[nc].d.x = left * W;
				cs[nc].d.y = top * H;
				cs[nc].d.w = ((left + w) - left) * W;
				cs[nc].d.h = ((top + h) - top) * H;
				cs[nc].d.score = score;
				cs[nc].rank = nc;
				nc++;
			}
	qsort(cs, nc, sizeof(fi_ranked), fi_ranked_cmp_asc);
	out = malloc(sizeof(fi_detection) * (nc > 0 ? nc : 1));
	if (out == NULL)
	{
		free(cs);
		free(gone);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory decoding detections");
	}
	/* take the last, drop what overlaps it by IoU > 0.4, repeat */
	for (int i = nc - 1; i >= 0; i--)
	{
		if (gone[i])
			continue;
		out[nout++] = cs[i].d;
		for (int j = i - 1; j >= 0; j--)
			if (!gone[j] && fi_iou(&cs[i].d, &cs[j].d) > FI_TINY_NMS_IOU)
				gone[j] = true;
	}
	free(gone);
	free(cs);
	if (nout == 0)
	{
		free(out);
		return FI_OK;
	}
	*dets = out;
	*n = nout;
	return FI_OK;
}

/*
 * Input lines of one side: the image's extent at `size` rounded up to 32.
 * The lines past it are the square's padding, which the net need not see.
 */
static int
input_extent(int side, int longest, int size)
{
	int			e = (int) ceil((double) side * size / longest);

	e = (e + 31) / 32 * 32;
	return e < 32 ? 32 : (e > size ? size : e);
}

/* Image -> detections on face-api's padded square input. */
fi_status
fi_tinyface_detect(const fi_model *m, fi_workspace *ws, const fi_image *img, int size,
				   double min_score, fi_detection **dets, int *n,
				   const fi_cancel *c, fi_error *err)
{
	return fi_tinyface_detect_in(m, ws, img, size, true, min_score, dets, n, c, err);
}

/* Image -> detections; unless square, without the padding lines (bottom or right). */
fi_status
fi_tinyface_detect_in(const fi_model *m, fi_workspace *ws, const fi_image *img, int size,
					  bool square, double min_score, fi_detection **dets, int *n,
					  const fi_cancel *c, fi_error *err)
{
	float	   *in;
	fi_tensor	out;
	fi_status	s;
	int			longest = img->width > img->height ? img->width : img->height;
	int			h,
				w;

	*dets = NULL;
	*n = 0;
	if (size < 32 || size % 32 != 0)
		return fi_set_error(err, FI_ERR_INVALID, "tiny detector input size %d is not a multiple of 32", size);
	if (img->rgb == NULL || img->width <= 0 || img->height <= 0)
		return fi_set_error(err, FI_ERR_INVALID, "empty image");
	h = square ? size : input_extent(img->height, longest, size);
	w = square ? size : input_extent(img->width, longest, size);
	if ((in = fi_ws_reserve(ws, SLOT_IN, (size_t) h * w * 3, err)) == NULL)
		return err != NULL ? err->code : FI_ERR_NOMEM;
	if ((s = fi_preprocess_part(img, NULL, FI_SQUARE_BR, size, h, w, &fi_norm_tiny, in,
								err)) != FI_OK)
		return s;
	if ((s = fi_tinyface_forward_hw(m, ws, in, h, w, &out, NULL, NULL, c, err)) != FI_OK)
		return s;
	return fi_tinyface_decode(&out, size, img->width, img->height, min_score, dets, n, err);
}
