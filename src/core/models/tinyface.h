/*
 * tinyface.h
 *	  face-api's tiny face detector (spec section 3): a Tiny-YOLOv2-like net
 *	  with depthwise-separable convs, one class, five anchors, at input 320,
 *	  416 or 608 (any multiple of 32 works).
 */
#ifndef FI_TINYFACE_H
#define FI_TINYFACE_H

#include "image/fi_image.h"
#include "nn/netops.h"

#define FI_TINY_ANCHORS 5
#define FI_TINY_NMS_IOU 0.4

/*
 * The net on a normalised size x size x 3 input; *out points into the
 * workspace (grid x grid x 25, valid until the workspace is reused).  hook
 * sees conv0, pool0, conv1, pool1, ..., conv5, pool5, conv8.
 */
fi_status	fi_tinyface_forward(const fi_model *m, fi_workspace *ws, const float *input,
								int size, fi_tensor *out, fi_layer_hook hook, void *hook_arg,
								const fi_cancel *c, fi_error *err);

/* The same on an h x w input (each a multiple of 32): grid h/32 x w/32. */
fi_status	fi_tinyface_forward_hw(const fi_model *m, fi_workspace *ws, const float *input,
								   int h, int w, fi_tensor *out, fi_layer_hook hook,
								   void *hook_arg, const fi_cancel *c, fi_error *err);

/*
 * Decode conv8 (spec 3.3) for an image of W x H fed at `size`: every
 * row/col/anchor box with score > min_score, then NMS (IoU > 0.4 suppresses).
 * *dets (malloc'd, caller frees; NULL when *n == 0), highest score first.
 */
fi_status	fi_tinyface_decode(const fi_tensor *conv8, int size, int W, int H, double min_score,
							   fi_detection **dets, int *n, fi_error *err);

/* Whole detector on an image as face-api runs it: pad BR, resize, normalise, forward, decode. */
fi_status	fi_tinyface_detect(const fi_model *m, fi_workspace *ws, const fi_image *img,
							   int size, double min_score, fi_detection **dets, int *n,
							   const fi_cancel *c, fi_error *err);

/*
 * The same; unless square, only the lines of the size x size input that
 * hold the image (rounded up to 32) are fed: a 3:2 photo costs 2/3 of the
 * square.  Cells near the image's bottom (right) edge then see the conv's
 * zero padding instead of the square's padding pixels, so their scores
 * differ slightly from face-api's.
 */
fi_status	fi_tinyface_detect_in(const fi_model *m, fi_workspace *ws, const fi_image *img,
								  int size, bool square, double min_score,
								  fi_detection **dets, int *n, const fi_cancel *c,
								  fi_error *err);

#endif							/* FI_TINYFACE_H */
