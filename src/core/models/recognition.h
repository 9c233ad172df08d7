/*
 * recognition.h
 *	  The face recognition net (spec section 2): 150x150x3 -> 128 floats
 *	  (raw, not L2-normalised).
 */
#ifndef FI_RECOGNITION_H
#define FI_RECOGNITION_H

#include "fi_core.h"
#include "image/fi_image.h"
#include "nn/model.h"
#include "image/preprocess.h"
#include "nn/tensor.h"

#define FI_REC_SIZE 150
#define FI_REC_DIM 128
/*
 * Most images fi_recognition_forward_n takes at once: 3 faces' chips and
 * mirrors.  Per image, a batch of 6 costs 0.90x a batch of 2 on AVX2 (the
 * late layers read their weights once); 8 or 12 gain no more and each image
 * holds 2.3 MB of activations in the workspace.
 */
#define FI_REC_MAX_BATCH 6

/* Called after each named layer (golden tests); t is only valid during the call. */
typedef void (*fi_layer_hook) (void *arg, const char *name, const fi_tensor *t);

/*
 * What the net precomputes from its weights, attached to m (fi_model_open
 * calls it): the Winograd-transformed filters of its 3x3 stride-1 convs.
 * A file without the recognition tensors is left as it is.
 */
fi_status	fi_recognition_prepare(fi_model *m, fi_error *err);

/*
 * Run the net on an already normalised 150x150x3 NHWC input.  hook (may be
 * NULL) sees input_normalized, conv32_down, maxpool, every block output,
 * global_avg and descriptor.  Loads OpenBLAS on first use.
 */
fi_status	fi_recognition_forward(const fi_model *m, fi_workspace *ws, const float *input,
								   float out[FI_REC_DIM], fi_layer_hook hook, void *hook_arg,
								   const fi_cancel *c, fi_error *err);

/*
 * The net on n (1..FI_REC_MAX_BATCH) inputs stored one after another
 * (input: n x 150x150x3, out: n x FI_REC_DIM): the layers whose weights are
 * the cost read them once for all n.  Each descriptor is the one
 * fi_recognition_forward gives its input alone (bit for bit where the own
 * GEMM kernels run, gemm_small.h).  hook sees the first image.
 */
fi_status	fi_recognition_forward_n(const fi_model *m, fi_workspace *ws, const float *input,
									 int n, float *out, fi_layer_hook hook, void *hook_arg,
									 const fi_cancel *c, fi_error *err);

/*
 * Descriptor of crop (NULL = whole image) of img: pad centred to a square,
 * resize to 150, normalise (spec 2.1), run the net.
 */
fi_status	fi_recognition_embed(const fi_model *m, fi_workspace *ws, const fi_image *img,
								 const fi_rect *crop, float out[FI_REC_DIM],
								 const fi_cancel *c, fi_error *err);

#endif							/* FI_RECOGNITION_H */
