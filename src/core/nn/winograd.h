/*
 * winograd.h
 *	  3x3 stride-1 convs by Winograd F(2x2,3x3) (Lavin & Gray 2015): each 2x2
 *	  block of outputs comes from a 4x4 input tile, so a layer costs 16
 *	  element-wise products per tile instead of 36 multiplies, done as 16
 *	  GEMMs (tiles x cin) * (cin x cout).  The filters are transformed once,
 *	  when the model is opened (fi_wino_filter); per call the input tiles are
 *	  transformed, multiplied and inverse-transformed with the conv's bias /
 *	  residual / relu fused into the last step.  fi_conv2d (layers.h) stays the
 *	  reference: test_winograd compares the two on every encoder shape.
 */
#ifndef FI_WINOGRAD_H
#define FI_WINOGRAD_H

#include "nn/layers.h"

/* Points of the transformed 4x4 tile. */
#define FI_WINO_POINTS 16

/*
 * U[16][cin][cout] = G g G^T of the HWIO filters w[3][3][cin][cout]
 * (computed in double, rounded once).  u holds 16 * cin * cout floats.
 */
void		fi_wino_filter(const float *w, int cin, int cout, float *u);

/* True when fi_conv2d_wino covers this conv (3x3, stride 1, cin and cout % 8, act none/relu). */
bool		fi_wino_ok(const fi_conv *cv, const fi_tensor *in);

/*
 * The conv cv (its w unused) with the transformed filters u on n images of
 * in's shape stored one after another from in->data (cv->res, out->data
 * likewise: n images of out's shape); out gets one image's shape.  Uses
 * workspace slot FI_WS_IM2COL; polls c between bands of tile rows.
 */
fi_status	fi_conv2d_wino(fi_workspace *ws, const fi_conv *cv, const float *u,
						   const fi_tensor *in, int n, fi_tensor *out, const fi_cancel *c,
						   fi_error *err);

/* Set to false to run the direct convs instead (tests, benchmarks). */
extern bool fi_wino_enabled;

#endif							/* FI_WINOGRAD_H */
