/*
 * netops.h
 *	  Small compositions of the shared layers that the detector and landmark
 *	  nets have in common (depthwise-separable conv, weight look-up by
 *	  "<net>/<layer>/<tensor>" name), and the detection record they return.
 */
#ifndef FI_NETOPS_H
#define FI_NETOPS_H

#include "nn/layers.h"
#include "nn/model.h"
#include "image/preprocess.h"
#include "models/recognition.h"		/* fi_layer_hook */

/* One detected face: box in image pixels (not clipped), score in 0..1. */
typedef struct fi_detection
{
	double		x,
				y,
				w,
				h;
	double		score;
} fi_detection;

/* Tensor "<prefix>/<name>" with ndim dims of shape (entries < 0 = any). */
fi_status	fi_net_tensor(const fi_model *m, const char *prefix, const char *name,
						  int ndim, const int *shape, const float **data, fi_error *err);

/*
 * The weights [k][k][cin][cout] "<prefix>/<scope>/<wname>" and the bias
 * [cout] "<prefix>/<scope>/<bname>" of one conv.
 */
fi_status	fi_net_conv_params(const fi_model *m, const char *prefix, const char *scope,
							   const char *wname, const char *bname, int k, int cin,
							   int cout, const float **w, const float **b, fi_error *err);

/*
 * A net's input: img (or its crop) preprocessed into an n x n x 3 tensor in
 * workspace slot; *in points at it.
 */
fi_status	fi_net_input(fi_workspace *ws, int slot, const fi_image *img,
						 const fi_rect *crop, fi_square_policy policy, int n,
						 const fi_norm *norm, float **in, fi_error *err);

/*
 * Depthwise-separable conv: depthwise k x k (weights dw_w, optional per-channel
 * dw_b and dw_act, stride, padding mode) into workspace slot tmp_slot, then
 * 1x1 conv (pw_w [cin][cout] + pw_b, act) into slot out_slot.
 */
fi_status	fi_sep_conv(fi_workspace *ws, const fi_tensor *in, int stride, fi_pads dwpad,
						const float *dw_w, const float *dw_b, fi_act dw_act,
						const float *pw_w, const float *pw_b, int cout, fi_act act,
						int tmp_slot, int out_slot, fi_tensor *out,
						const fi_cancel *c, fi_error *err);

/* Report a layer to the hook, if any. */
static inline void
fi_hook(fi_layer_hook hook, void *arg, const char *name, const fi_tensor *t)
{
	if (hook != NULL)
		hook(arg, name, t);
}

/* A detection with its rank in the net's stable order (anchor, grid cell). */
typedef struct fi_ranked
{
	fi_detection d;
	int			rank;
} fi_ranked;

/* qsort comparators of fi_ranked: by score, ties by rank ascending. */
int			fi_ranked_cmp_asc(const void *pa, const void *pb);
int			fi_ranked_cmp_desc(const void *pa, const void *pb);

/* 1/(1+exp(-x)) in double. */
double		fi_sigmoid(double x);

/* Intersection over union of two (x, y, w, h) boxes; 0 when the union is empty. */
double		fi_iou(const fi_detection *a, const fi_detection *b);

#endif							/* FI_NETOPS_H */
