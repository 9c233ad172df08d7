/*
 * fastconv.h
 *	  Kernels for the layers that dominate the detectors and the landmark
 *	  nets, where im2col + sgemm is a poor fit:
 *	  - a fused depthwise 3x3 + pointwise 1x1 conv that runs in row bands
 *	    (the depthwise output of a band stays in cache and goes straight to
 *	    sgemm; no full-size intermediate tensor);
 *	  - a direct conv for tiny input channel counts (the RGB stems: 3 -> 16/32),
 *	    vectorised over output channels.
 *	  Both use 8-float GCC vectors (AVX2+FMA clone when the CPU has it) and
 *	  fall back to the generic layers (layers.h) for shapes they do not cover.
 *	  The generic layers stay the reference: test_detect_layers checks both.
 */
#ifndef FI_FASTCONV_H
#define FI_FASTCONV_H

#include "nn/layers.h"

/*
 * act(pw(dw(in) [+ dw_b, dw_act]) + pw_b): depthwise 3x3 with stride/pads,
 * then 1x1 conv cin -> pw->cout.  out->data must hold the result; uses
 * workspace slot FI_WS_IM2COL as band scratch.
 */
fi_status	fi_sep_conv_fused(fi_workspace *ws, const fi_dwconv *dw, const fi_conv *pw,
							  const fi_tensor *in, fi_tensor *out,
							  const fi_cancel *c, fi_error *err);

/* True when fi_sep_conv_fused covers these shapes (3x3 depthwise, C and cout % 8 == 0). */
bool		fi_sep_conv_fusable(const fi_dwconv *dw, const fi_conv *pw, const fi_tensor *in);

/* Conv with cin <= 4 and cout 16 or 32 (else it calls fi_conv2d). */
fi_status	fi_conv2d_smallcin(fi_workspace *ws, const fi_conv *cv, const fi_tensor *in,
							   fi_tensor *out, const fi_cancel *c, fi_error *err);

/* Set to false to route everything through the generic layers (tests, benchmarks). */
extern bool fi_fastconv_enabled;

#endif							/* FI_FASTCONV_H */
