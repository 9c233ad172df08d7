/*
 * ssd.c
 *	  SSD MobileNet v1 as a description over the shared layers: a table of the
 *	  13 backbone steps and the 8 extra feature convs, six 1x1 box predictors.
 */
#include "models/ssd.h"

#include "nn/fastconv.h"
#include "image/preprocess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Workspace slots: 0 input, 1/2 ping-pong, 3 C11, 4 C13, 5 depthwise scratch, 6 outputs. */
enum { SLOT_IN = 0, SLOT_A = 1, SLOT_B = 2, SLOT_C11 = 3, SLOT_C13 = 4, SLOT_DW = 5, SLOT_OUT = 6 };

/* Backbone pointwise output channels for layers 1..13 and depthwise strides. */
static const int bb_cout[14] = {32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
static const int bb_stride[14] = {2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};
/* Extra feature layers: kernel, output channels (stride 2 for the 3x3 ones). */
static const int ex_k[8] = {1, 3, 1, 3, 1, 3, 1, 3};
static const int ex_cout[8] = {256, 512, 128, 256, 128, 256, 64, 128};
/* Box predictors: input channels and anchors per cell. */
static const int bp_cin[6] = {512, 1024, 512, 256, 256, 128};
static const int bp_anchors[6] = {3, 6, 6, 6, 6, 6};

struct fi_ssd
{
	const float *conv0_w,
			   *conv0_b;
	float	   *dw_w[14],		/* folded depthwise [3][3][C] (index 1..13) */
			   *dw_b[14];
	const float *pw_w[14],
			   *pw_b[14];
	const float *ex_w[8],
			   *ex_b[8];
	const float *box_w[6],
			   *box_b[6],
			   *cls_w[6],
			   *cls_b[6];
	const float *anchors;		/* [5118][4] ymin, xmin, ymax, xmax */
};

/* Free the folded weights and the struct. */
void
fi_ssd_free(fi_ssd *ssd)
{
	if (ssd == NULL)
		return;
	for (int i = 0; i < 14; i++)
	{
		free(ssd->dw_w[i]);
		free(ssd->dw_b[i]);
	}
	free(ssd);
}

/*
 * Fold y = (dw(x) - mean) * gamma / sqrt(var + eps) + beta into the
 * depthwise weights and a bias.
 */
static fi_status
fold_dw(const fi_model *m, fi_ssd *ssd, int i, int C, fi_error *err)
{
	char		nm[96];
	int			wsh[4] = {3, 3, C, 1},
				vsh[1] = {C};
	const float *w,
			   *g,
			   *be,
			   *mu,
			   *var;
	fi_status	s;

	snprintf(nm, sizeof(nm), "MobilenetV1/Conv2d_%d_depthwise/depthwise_weights", i);
	if ((s = fi_net_tensor(m, "ssd", nm, 4, wsh, &w, err)) != FI_OK)
		return s;
#define BN(var_, part) \
	snprintf(nm, sizeof(nm), "MobilenetV1/Conv2d_%d_depthwise/BatchNorm/%s", i, part); \
	if ((s = fi_net_tensor(m, "ssd", nm, 1, vsh, &var_, err)) != FI_OK) \
		return s
	BN(g, "gamma");
	BN(be, "beta");
	BN(mu, "moving_mean");
	BN(var, "moving_variance");
#undef BN
	ssd->dw_w[i] = malloc(sizeof(float) * 9 * C);
	ssd->dw_b[i] = malloc(sizeof(float) * C);
	if (ssd->dw_w[i] == NULL || ssd->dw_b[i] == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory loading the SSD weights");
	for (int ch = 0; ch < C; ch++)
	{
		float		k = g[ch] / sqrtf(var[ch] + 0.001f);

		for (int t = 0; t < 9; t++)
			ssd->dw_w[i][t * C + ch] = w[t * C + ch] * k;
		ssd->dw_b[i][ch] = be[ch] - mu[ch] * k;
	}
	return FI_OK;
}

/* Look up every tensor, fold the batch-norms. */
fi_status
fi_ssd_load(const fi_model *m, fi_ssd **out, fi_error *err)
{
	fi_ssd	   *ssd = calloc(1, sizeof(fi_ssd));
	char		nm[96];
	fi_status	s = FI_OK;
	int			cin = 32;

	*out = NULL;
	if (ssd == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory loading the SSD weights");
	if ((s = fi_net_conv_params(m, "ssd", "MobilenetV1/Conv2d_0_pointwise", "weights",
								"convolution_bn_offset", 3, 3, 32, &ssd->conv0_w,
								&ssd->conv0_b, err)) != FI_OK)
		goto fail;
	for (int i = 1; i <= 13; i++)
	{
		if ((s = fold_dw(m, ssd, i, cin, err)) != FI_OK)
			goto fail;
		snprintf(nm, sizeof(nm), "MobilenetV1/Conv2d_%d_pointwise", i);
		if ((s = fi_net_conv_params(m, "ssd", nm, "weights", "convolution_bn_offset", 1, cin,
									bb_cout[i], &ssd->pw_w[i], &ssd->pw_b[i], err)) != FI_OK)
			goto fail;
		cin = bb_cout[i];
	}
	for (int j = 0; j < 8; j++)
	{
		snprintf(nm, sizeof(nm), "Prediction/Conv2d_%d_pointwise", j);
		if ((s = fi_net_conv_params(m, "ssd", nm, "weights", "convolution_bn_offset", ex_k[j],
									cin, ex_cout[j], &ssd->ex_w[j], &ssd->ex_b[j], err)) != FI_OK)
			goto fail;
		cin = ex_cout[j];
	}
	for (int k = 0; k < 6; k++)
	{
		snprintf(nm, sizeof(nm), "Prediction/BoxPredictor_%d/BoxEncodingPredictor", k);
		if ((s = fi_net_conv_params(m, "ssd", nm, "weights", "biases", 1, bp_cin[k],
									4 * bp_anchors[k], &ssd->box_w[k], &ssd->box_b[k],
									err)) != FI_OK)
			goto fail;
		snprintf(nm, sizeof(nm), "Prediction/BoxPredictor_%d/ClassPredictor", k);
		if ((s = fi_net_conv_params(m, "ssd", nm, "weights", "biases", 1, bp_cin[k],
									3 * bp_anchors[k], &ssd->cls_w[k], &ssd->cls_b[k],
									err)) != FI_OK)
			goto fail;
	}
	{
		int			ash[3] = {1, FI_SSD_ANCHORS, 4};

		if ((s = fi_net_tensor(m, "ssd", "Output/extra_dim", 3, ash, &ssd->anchors, err)) != FI_OK)
			goto fail;
	}
	*out = ssd;
	return FI_OK;
fail:
	fi_ssd_free(ssd);
	return s;
}

/* A 1x1 conv + bias, no activation, written straight into dst rows. */
static fi_status
predict(fi_workspace *ws, const fi_tensor *x, const float *w, const float *b, int cout,
		float *dst, const fi_cancel *c, fi_error *err)
{
	fi_conv		cv = {1, 1, x->c, cout, {0, 0, 0, 0}, w, b, FI_ACT_NONE};
	fi_tensor	o = {0, 0, 0, dst};

	return fi_conv2d(ws, &cv, x, &o, c, err);
}

/* The net, box decoding and scores. */
fi_status
fi_ssd_forward(const fi_ssd *ssd, fi_workspace *ws, const float *input, float *boxes,
			   float *scores, fi_layer_hook hook, void *hook_arg,
			   const fi_cancel *c, fi_error *err)
{
	fi_tensor	in = {FI_SSD_SIZE, FI_SSD_SIZE, 3, (float *) input};
	fi_tensor	x,
				y,
				c11,
				c13,
				feat[6];
	float	   *enc,
			   *logit;
	char		nm[48];
	fi_status	s;
	int			slot = SLOT_A,
				off;

	if ((s = fi_blas_load(NULL, err)) != FI_OK)
		return s;
	{
		fi_conv		cv = {3, 2, 3, 32, fi_pads_for(FI_PAD_SAME, 512, 512, 3, 2),
		ssd->conv0_w, ssd->conv0_b, FI_ACT_RELU6};

		if ((s = fi_ws_tensor(ws, slot, 256, 256, 32, &x, err)) != FI_OK ||
			(s = fi_conv2d_smallcin(ws, &cv, &in, &x, c, err)) != FI_OK)
			return s;
		fi_hook(hook, hook_arg, "conv_0", &x);
	}
	for (int i = 1; i <= 13; i++)
	{
		int			st = bb_stride[i];
		fi_pads		p = fi_pads_for(FI_PAD_SAME, x.h, x.w, 3, st);
		int			dst = i == 11 ? SLOT_C11 : i == 13 ? SLOT_C13 : (slot == SLOT_A ? SLOT_B : SLOT_A);

		if (fi_cancelled(c))
			return fi_set_error(err, FI_CANCELLED, "canceled");
		if (hook == NULL)
			s = fi_sep_conv(ws, &x, st, p, ssd->dw_w[i], ssd->dw_b[i], FI_ACT_RELU6,
							ssd->pw_w[i], ssd->pw_b[i], bb_cout[i], FI_ACT_RELU6,
							SLOT_DW, dst, &y, c, err);
		else
		{
			/* the same two layers, with the depthwise output reported */
			fi_dwconv	dw = {3, st, x.c, p, ssd->dw_w[i], ssd->dw_b[i], FI_ACT_RELU6};
			fi_conv		pw = {1, 1, x.c, bb_cout[i], {0, 0, 0, 0}, ssd->pw_w[i], ssd->pw_b[i], FI_ACT_RELU6};
			fi_tensor	mid;
			int			ho = fi_out_extent(x.h, 3, st, p.top, p.bottom);

			if ((s = fi_ws_tensor(ws, SLOT_DW, ho, ho, x.c, &mid, err)) != FI_OK ||
				(s = fi_dwconv2d(&dw, &x, &mid, c, err)) != FI_OK)
				return s;
			snprintf(nm, sizeof(nm), "conv_%d_depthwise", i);
			fi_hook(hook, hook_arg, nm, &mid);
			if ((s = fi_ws_tensor(ws, dst, ho, ho, bb_cout[i], &y, err)) != FI_OK)
				return s;
			s = fi_conv2d(ws, &pw, &mid, &y, c, err);
		}
		if (s != FI_OK)
			return s;
		snprintf(nm, sizeof(nm), "conv_%d", i);
		fi_hook(hook, hook_arg, nm, &y);
		x = y;
		if (dst == SLOT_A || dst == SLOT_B)
			slot = dst;
		if (i == 11)
			c11 = y;
	}
	c13 = x;
	feat[0] = c11;
	feat[1] = c13;
	/* outputs: encodings, logits, and room for P7 (1x1x128) at the tail */
	enc = fi_ws_reserve(ws, SLOT_OUT, (size_t) FI_SSD_ANCHORS * 7 + 128, err);
	if (enc == NULL)
		return err != NULL ? err->code : FI_ERR_NOMEM;
	logit = enc + (size_t) FI_SSD_ANCHORS * 4;
	for (int j = 0; j < 8; j++)
	{
		/* even j: scratch in A; odd j: P1 -> B, P3 -> IN (input done), P5 -> DW, P7 -> OUT tail */
		static const int keep[4] = {SLOT_B, SLOT_IN, SLOT_DW, -1};
		int			st = ex_k[j] == 3 ? 2 : 1;
		fi_conv		cv = {ex_k[j], st, x.c, ex_cout[j],
		fi_pads_for(FI_PAD_SAME, x.h, x.w, ex_k[j], st), ssd->ex_w[j], ssd->ex_b[j], FI_ACT_RELU6};
		int			dst = (j % 2 == 0) ? SLOT_A : keep[j / 2];
		int			ho = (x.h + st - 1) / st;

		if (dst >= 0)
		{
			if ((s = fi_ws_tensor(ws, dst, ho, ho, ex_cout[j], &y, err)) != FI_OK)
				return s;
		}
		else
			y = (fi_tensor) {ho, ho, ex_cout[j], logit + (size_t) FI_SSD_ANCHORS * 3};
		if ((s = fi_conv2d(ws, &cv, &x, &y, c, err)) != FI_OK)
			return s;
		snprintf(nm, sizeof(nm), "pred_conv_%d", j);
		fi_hook(hook, hook_arg, nm, &y);
		if (j % 2 == 1)
			feat[2 + j / 2] = y;
		x = y;
	}

	/* box predictors straight into the flat [5118][4] / [5118][3] outputs */
	off = 0;
	for (int k = 0; k < 6; k++)
	{
		int			A = bp_anchors[k];

		if ((s = predict(ws, &feat[k], ssd->box_w[k], ssd->box_b[k], 4 * A,
						 enc + (size_t) off * 4, c, err)) != FI_OK ||
			(s = predict(ws, &feat[k], ssd->cls_w[k], ssd->cls_b[k], 3 * A,
						 logit + (size_t) off * 3, c, err)) != FI_OK)
			return s;
		off += feat[k].h * feat[k].w * A;
	}
	if (off != FI_SSD_ANCHORS)
		return fi_set_error(err, FI_ERR_INTERNAL, "SSD: %d anchors instead of %d", off, FI_SSD_ANCHORS);
	{
		fi_tensor	te = {FI_SSD_ANCHORS, 1, 4, enc},
					tl = {FI_SSD_ANCHORS, 1, 3, logit};

		fi_hook(hook, hook_arg, "box_encodings", &te);
		fi_hook(hook, hook_arg, "class_logits", &tl);
	}
	for (int i = 0; i < FI_SSD_ANCHORS; i++)
	{
		const float *a = ssd->anchors + (size_t) i * 4;
		const float *t = enc + (size_t) i * 4;
		float		ha = a[2] - a[0],
					wa = a[3] - a[1];
		float		cya = a[0] + ha / 2.0f,
					cxa = a[1] + wa / 2.0f;
		float		cy = t[0] / 10.0f * ha + cya,
					cx = t[1] / 10.0f * wa + cxa;
		float		hh = expf(t[2] / 5.0f) * ha / 2.0f,
					hw = expf(t[3] / 5.0f) * wa / 2.0f;

		boxes[i * 4 + 0] = cy - hh;
		boxes[i * 4 + 1] = cx - hw;
		boxes[i * 4 + 2] = cy + hh;
		boxes[i * 4 + 3] = cx + hw;
		scores[i] = (float) (1.0 / (1.0 + exp(-(double) logit[i * 3 + 1])));
	}
	{
		fi_tensor	tb = {FI_SSD_ANCHORS, 1, 4, boxes},
					ts = {FI_SSD_ANCHORS, 1, 1, scores};

		fi_hook(hook, hook_arg, "boxes", &tb);
		fi_hook(hook, hook_arg, "scores", &ts);
	}
	return FI_OK;
}

/* IoU of two relative (ymin, xmin, ymax, xmax) boxes, 0 for empty boxes (spec 4.3). */
static double
iou_rel(const float *a, const float *b)
{
	double		ay0 = fmin(a[0], a[2]), ax0 = fmin(a[1], a[3]), ay1 = fmax(a[0], a[2]), ax1 = fmax(a[1], a[3]);
	double		by0 = fmin(b[0], b[2]), bx0 = fmin(b[1], b[3]), by1 = fmax(b[0], b[2]), bx1 = fmax(b[1], b[3]);
	double		aa = (ay1 - ay0) * (ax1 - ax0),
				ab = (by1 - by0) * (bx1 - bx0);
	double		ih,
				iw;

	if (aa <= 0 || ab <= 0)
		return 0.0;
	ih = fmax(fmin(ay1, by1) - fmax(ay0, by0), 0.0);
	iw = fmax(fmin(ax1, bx1) - fmax(ax0, bx0), 0.0);
	return ih * iw / (aa + ab - ih * iw);
}

/* Image -> detections in pixels. */
fi_status
fi_ssd_detect(const fi_ssd *ssd, fi_workspace *ws, const fi_image *img, double min_score,
			  int max_results, fi_detection **dets, int *n,
			  const fi_cancel *c, fi_error *err)
{
	float	   *in,
			   *boxes = NULL,
			   *scores;
	fi_ranked  *cand = NULL;
	int		   *kept = NULL;
	int			nc = 0,
				nk = 0;
	int			W = img->width,
				H = img->height;
	double		scale,
				padX,
				padY;
	fi_status	s;

	*dets = NULL;
	*n = 0;
	if ((s = fi_net_input(ws, SLOT_IN, img, NULL, FI_SQUARE_BR, FI_SSD_SIZE, &fi_norm_ssd,
						  &in, err)) != FI_OK)
		return s;
	boxes = malloc(sizeof(float) * FI_SSD_ANCHORS * 5);
	cand = malloc(sizeof(fi_ranked) * FI_SSD_ANCHORS);
	kept = malloc(sizeof(int) * FI_SSD_ANCHORS);
	if (boxes == NULL || cand == NULL || kept == NULL)
	{
		s = fi_set_error(err, FI_ERR_NOMEM, "out of memory in the SSD detector");
		goto done;
	}
	scores = boxes + FI_SSD_ANCHORS * 4;
	if ((s = fi_ssd_forward(ssd, ws, in, boxes, scores, NULL, NULL, c, err)) != FI_OK)
		goto done;
	for (int i = 0; i < FI_SSD_ANCHORS; i++)
		if (scores[i] > min_score)
		{
			cand[nc].d.score = scores[i];
			cand[nc].rank = i;
			nc++;
		}
	qsort(cand, nc, sizeof(fi_ranked), fi_ranked_cmp_desc);
	if (max_results <= 0 || max_results > FI_SSD_ANCHORS)
		max_results = FI_SSD_ANCHORS;
	for (int i = 0; i < nc && nk < max_results; i++)
	{
		bool		ok = true;

		for (int j = 0; j < nk && ok; j++)
			if (iou_rel(boxes + cand[i].rank * 4, boxes + kept[j] * 4) > FI_SSD_NMS_IOU)
				ok = false;
		if (ok)
			kept[nk++] = cand[i].rank;
	}
	if (nk == 0)
		goto done;
	*dets = malloc(sizeof(fi_detection) * nk);
	if (*dets == NULL)
	{
		s = fi_set_error(err, FI_ERR_NOMEM, "out of memory in the SSD detector");
		goto done;
	}
	scale = (double) FI_SSD_SIZE / (W > H ? W : H);
	padX = FI_SSD_SIZE / round(W * scale);
	padY = FI_SSD_SIZE / round(H * scale);
	for (int i = 0; i < nk; i++)
	{
		const float *b = boxes + kept[i] * 4;
		double		top = fmax(0.0, b[0]) * padY,
					bottom = fmin(1.0, b[2]) * padY,
					left = fmax(0.0, b[1]) * padX,
					right = fmin(1.0, b[3]) * padX;

		(*dets)[i].x = left * W;
		(*dets)[i].y = top * H;
		(*dets)[i].w = (right - left) * W;
		(*dets)[i].h = (bottom - top) * H;
		(*dets)[i].score = scores[kept[i]];
	}
	*n = nk;
done:
	free(boxes);
	free(cand);
	free(kept);
	return s;
}
