/*
 * preprocess.h
 *	  Image (or a crop of it) -> network input (spec 1.5): pad to square with
 *	  zeros, TF legacy bilinear resize to n x n (in double), normalise.  The
 *	  padded square is never materialised: each output pixel reads the crop
 *	  directly, so memory is O(n^2) whatever the crop's shape.
 */
#ifndef FI_PREPROCESS_H
#define FI_PREPROCESS_H

#include "fi_core.h"
#include "image/fi_image.h"

typedef enum fi_square_policy
{
	FI_SQUARE_BR,				/* image top-left, padding bottom/right (detectors) */
	FI_SQUARE_CENTER			/* centred, odd extra line bottom/right (landmarks, recognition) */
} fi_square_policy;

typedef enum fi_norm_kind
{
	FI_NORM_NONE,				/* resized pixel values 0..255 */
	FI_NORM_MEAN_255,			/* (p - mean[c]) / 255 */
	FI_NORM_SSD					/* p / 127.5 - 1 */
} fi_norm_kind;

typedef struct fi_norm
{
	fi_norm_kind kind;
	float		mean[3];
} fi_norm;

/* Normalisations of the nets (spec 2.1, 3.1, 4.1, 5.1). */
extern const fi_norm fi_norm_recognition;	/* also the landmark nets */
extern const fi_norm fi_norm_tiny;
extern const fi_norm fi_norm_ssd;

/* A pixel rectangle of an image. */
typedef struct fi_rect
{
	int			x,
				y,
				width,
				height;
} fi_rect;

/*
 * Crop `crop` (NULL = whole image) of img, pad it to a square by `policy`,
 * resize to n x n, normalise into out[n][n][3].  FI_ERR_INVALID when the crop
 * is empty or not inside the image.
 */
fi_status	fi_preprocess(const fi_image *img, const fi_rect *crop,
						  fi_square_policy policy, int n, const fi_norm *norm,
						  float *out, fi_error *err);

/*
 * The top-left rows x cols of fi_preprocess's n x n result, into
 * out[rows][cols][3]: the same values, without the padding lines a
 * detector does not need.
 */
fi_status	fi_preprocess_part(const fi_image *img, const fi_rect *crop,
							   fi_square_policy policy, int n, int rows, int cols,
							   const fi_norm *norm, float *out, fi_error *err);

#endif							/* FI_PREPROCESS_H */
