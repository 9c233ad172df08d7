/*
 * landmarks.h
 *	  face-api's 68-point landmark nets (spec section 5): the full net (four
 *	  dense blocks) and the tiny one (three blocks of three convs), 112x112
 *	  input, 136 outputs relative to the padded square.
 */
#ifndef FI_LANDMARKS_H
#define FI_LANDMARKS_H

#include "image/fi_image.h"
#include "nn/netops.h"
#include "image/preprocess.h"

#define FI_LM_SIZE 112
#define FI_LM_POINTS 68

/*
 * The net on a normalised 112x112x3 input: out[136] = (x0, y0, x1, ...)
 * relative to the input square.  hook sees denseK_out1, denseK, avgpool, fc.
 */
fi_status	fi_landmarks_forward(const fi_model *m, fi_workspace *ws, bool tiny,
								 const float *input, float out[2 * FI_LM_POINTS],
								 fi_layer_hook hook, void *hook_arg,
								 const fi_cancel *c, fi_error *err);

/*
 * Landmarks of the face in `crop` of img: pad centred, resize to 112,
 * normalise, run, and map back to crop pixels (spec 5.3, including
 * face-api's diff/2 centring assumption).  pts[2*i], pts[2*i+1] = x, y
 * relative to the crop's top-left corner.
 */
fi_status	fi_landmarks_detect(const fi_model *m, fi_workspace *ws, bool tiny,
								const fi_image *img, const fi_rect *crop,
								double pts[2 * FI_LM_POINTS],
								const fi_cancel *c, fi_error *err);

#endif							/* FI_LANDMARKS_H */
