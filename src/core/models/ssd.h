/*
 * ssd.h
 *	  face-api's SSD MobileNet v1 face detector (spec section 4): 512x512
 *	  input, MobileNet v1 backbone, six box predictors, 5118 anchors, box
 *	  decoding and NMS.
 */
#ifndef FI_SSD_H
#define FI_SSD_H

#include "image/fi_image.h"
#include "nn/netops.h"

#define FI_SSD_SIZE 512
#define FI_SSD_ANCHORS 5118
#define FI_SSD_NMS_IOU 0.5
#define FI_SSD_MAX_RESULTS 100

/* The net's weights, with each depthwise batch-norm folded at load time. */
typedef struct fi_ssd fi_ssd;

/* Look the weights up in m and fold the batch-norms (m must outlive it). */
fi_status	fi_ssd_load(const fi_model *m, fi_ssd **out, fi_error *err);

/* Free (NULL is fine). */
void		fi_ssd_free(fi_ssd *ssd);

/*
 * The net on a normalised 512x512x3 input.  boxes[5118][4] receives the
 * decoded (ymin, xmin, ymax, xmax) relative boxes, scores[5118] the
 * sigmoid of class logit 1.  hook sees conv_0, conv_i_depthwise, conv_i,
 * pred_conv_0..7, box_encodings, class_logits, boxes, scores.
 */
fi_status	fi_ssd_forward(const fi_ssd *ssd, fi_workspace *ws, const float *input,
						   float *boxes, float *scores, fi_layer_hook hook, void *hook_arg,
						   const fi_cancel *c, fi_error *err);

/*
 * Whole detector on an image: pad BR, resize to 512, forward, NMS
 * (score > min_score, IoU <= 0.5 with every kept box, at most max_results),
 * boxes in image pixels.  *dets is malloc'd (NULL when *n == 0).
 */
fi_status	fi_ssd_detect(const fi_ssd *ssd, fi_workspace *ws, const fi_image *img,
						  double min_score, int max_results, fi_detection **dets, int *n,
						  const fi_cancel *c, fi_error *err);

#endif							/* FI_SSD_H */
