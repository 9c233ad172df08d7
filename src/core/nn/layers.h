/*
 * layers.h
 *	  The layers every net is built from, on NHWC float32 tensors: conv
 *	  (im2col + sgemm in bounded row bands; 1x1 stride 1 straight to sgemm),
 *	  depthwise conv, max/avg pooling, activations, add, fully connected.
 *	  Batch-norm/scale is folded into conv weights + bias beforehand.
 *	  The caller provides the output tensor's storage (fi_layer_out_* give the
 *	  shape); the layer sets out->h/w/c.
 */
#ifndef FI_LAYERS_H
#define FI_LAYERS_H

#include "nn/blas.h"
#include "nn/tensor.h"

typedef enum fi_act
{
	FI_ACT_NONE,
	FI_ACT_RELU,				/* max(x, 0) */
	FI_ACT_RELU6,				/* min(max(x, 0), 6) */
	FI_ACT_LEAKY				/* a = 0.1f*x; relu(x - a) + a  (spec 1.4) */
} fi_act;

typedef enum fi_padding
{
	FI_PAD_VALID,
	FI_PAD_SAME					/* TF rule: extra pixel bottom/right */
} fi_padding;

/* Explicit padding of both spatial dims. */
typedef struct fi_pads
{
	int			top,
				bottom,
				left,
				right;
} fi_pads;

/* Conv parameters: HWIO weights [k][k][cin][cout], bias [cout] or NULL. */
typedef struct fi_conv
{
	int			k,
				stride,
				cin,
				cout;
	fi_pads		pad;
	const float *w;
	const float *b;
	fi_act		act;
	const float *res;			/* residual [hout][wout][cout] added before act, or NULL */
} fi_conv;

/* Depthwise conv: weights [k][k][c], bias [c] or NULL. */
typedef struct fi_dwconv
{
	int			k,
				stride,
				c;
	fi_pads		pad;
	const float *w;
	const float *b;
	fi_act		act;
} fi_dwconv;

/* Pads of an h x w input for kernel k, stride s (spec 1.3). */
fi_pads		fi_pads_for(fi_padding p, int h, int w, int k, int s);

/* Output extent of one dim: (n + before + after - k) / s + 1. */
static inline int
fi_out_extent(int n, int k, int s, int before, int after)
{
	return (n + before + after - k) / s + 1;
}

/* Apply an activation in place. */
void		fi_activate(float *x, size_t n, fi_act act);

/* Conv; polls c between row bands. Uses workspace slot FI_WS_IM2COL. */
fi_status	fi_conv2d(fi_workspace *ws, const fi_conv *cv, const fi_tensor *in,
					  fi_tensor *out, const fi_cancel *c, fi_error *err);

/*
 * The same conv on n images of in's shape stored one after another from
 * in->data (cv->res and out->data likewise); out gets one image's shape.
 * Each image's result is the one fi_conv2d gives it alone, bit for bit (the
 * batch shares a GEMM only where the own kernel, row by row, runs it).
 */
fi_status	fi_conv2d_n(fi_workspace *ws, const fi_conv *cv, const fi_tensor *in, int n,
						fi_tensor *out, const fi_cancel *c, fi_error *err);

/* Depthwise conv (channel multiplier 1); polls c between rows. */
fi_status	fi_dwconv2d(const fi_dwconv *dw, const fi_tensor *in, fi_tensor *out,
						const fi_cancel *c, fi_error *err);

/* Max pool k x k, stride s; padded cells are ignored (-inf). */
void		fi_maxpool(const fi_tensor *in, int k, int s, fi_pads pad, fi_tensor *out);

/* Average pool k x k, stride s, VALID. */
void		fi_avgpool(const fi_tensor *in, int k, int s, fi_tensor *out);

/* out = act(a + b), same shapes; out may alias a or b. */
void		fi_add(const fi_tensor *a, const fi_tensor *b, fi_act act, fi_tensor *out);

/* Fully connected: y[o] = b[o] + sum_i x[i] * w[i][o]  (b may be NULL). */
void		fi_fc(const float *x, int nin, const float *w, const float *b, int nout, float *y);

#endif							/* FI_LAYERS_H */
