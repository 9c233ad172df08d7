/*
 * netops.c
 *	  Compositions of the shared layers used by several nets.
 */
#include "nn/netops.h"

#include "nn/fastconv.h"

#include <math.h>
#include <stdio.h>

/* Look up "<prefix>/<name>" with a shape check. */
fi_status
fi_net_tensor(const fi_model *m, const char *prefix, const char *name, int ndim,
			  const int *shape, const float **data, fi_error *err)
{
	char		buf[160];

	snprintf(buf, sizeof(buf), "%s/%s", prefix, name);
	return fi_model_tensor(m, buf, ndim, shape, data, NULL, err);
}

/* Reserve the input tensor of a net in the workspace and preprocess into it. */
fi_status
fi_net_input(fi_workspace *ws, int slot, const fi_image *img, const fi_rect *crop,
			 fi_square_policy policy, int n, const fi_norm *norm, float **in,
			 fi_error *err)
{
	*in = fi_ws_reserve(ws, slot, (size_t) n * n * 3, err);
	if (*in == NULL)
		return err != NULL ? err->code : FI_ERR_NOMEM;
	return fi_preprocess(img, crop, policy, n, norm, *in, err);
}

/* Ascending score, ties by rank. */
int
fi_ranked_cmp_asc(const void *pa, const void *pb)
{
	const fi_ranked *a = pa,
			   *b = pb;

	if (a->d.score != b->d.score)
		return a->d.score < b->d.score ? -1 : 1;
	return a->rank - b->rank;
}

/* Descending score, ties by rank. */
int
fi_ranked_cmp_desc(const void *pa, const void *pb)
{
	const fi_ranked *a = pa,
			   *b = pb;

	if (a->d.score != b->d.score)
		return a->d.score > b->d.score ? -1 : 1;
	return a->rank - b->rank;
}

/* Weights and bias of one conv, looked up and shape-checked together. */
fi_status
fi_net_conv_params(const fi_model *m, const char *prefix, const char *scope,
				   const char *wname, const char *bname, int k, int cin, int cout,
				   const float **w, const float **b, fi_error *err)
{
	char		buf[128];		/* the longest name is 54 bytes */
	int			wsh[4] = {k, k, cin, cout},
				bsh[1] = {cout};
	fi_status	s;

	snprintf(buf, sizeof(buf), "%s/%s", scope, wname);
	if ((s = fi_net_tensor(m, prefix, buf, 4, wsh, w, err)) != FI_OK)
		return s;
	snprintf(buf, sizeof(buf), "%s/%s", scope, bname);
	return fi_net_tensor(m, prefix, buf, 1, bsh, b, err);
}

/* Depthwise 3x3 then pointwise 1x1: fused in row bands, else through two slots. */
fi_status
fi_sep_conv(fi_workspace *ws, const fi_tensor *in, int stride, fi_pads dwpad,
			const float *dw_w, const float *dw_b, fi_act dw_act,
			const float *pw_w, const float *pw_b, int cout, fi_act act,
			int tmp_slot, int out_slot, fi_tensor *out,
			const fi_cancel *c, fi_error *err)
{
	fi_dwconv	dw = {3, stride, in->c, dwpad, dw_w, dw_b, dw_act};
	fi_conv		pw = {1, 1, in->c, cout, {0, 0, 0, 0}, pw_w, pw_b, act};
	int			ho = fi_out_extent(in->h, 3, stride, dwpad.top, dwpad.bottom);
	int			wo = fi_out_extent(in->w, 3, stride, dwpad.left, dwpad.right);
	fi_tensor	mid;
	fi_status	s;

	if (fi_sep_conv_fusable(&dw, &pw, in))
	{
		if ((s = fi_ws_tensor(ws, out_slot, ho, wo, cout, out, err)) != FI_OK)
			return s;
		return fi_sep_conv_fused(ws, &dw, &pw, in, out, c, err);
	}
	if ((s = fi_ws_tensor(ws, tmp_slot, ho, wo, in->c, &mid, err)) != FI_OK)
		return s;
	if ((s = fi_dwconv2d(&dw, in, &mid, c, err)) != FI_OK)
		return s;
	if ((s = fi_ws_tensor(ws, out_slot, ho, wo, cout, out, err)) != FI_OK)
		return s;
	return fi_conv2d(ws, &pw, &mid, out, c, err);
}

/* Logistic function. */
double
fi_sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* IoU of two pixel boxes. */
double
fi_iou(const fi_detection *a, const fi_detection *b)
{
	double		iw = fmin(a->x + a->w, b->x + b->w) - fmax(a->x, b->x);
	double		ih = fmin(a->y + a->h, b->y + b->h) - fmax(a->y, b->y);
	double		inter = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
	double		uni = a->w * a->h + b->w * b->h - inter;

	return uni > 0 ? inter / uni : 0.0;
}
