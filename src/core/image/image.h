/*
 * image.h
 *	  JPEG and PNG decoding to 8-bit RGB for the PostgreSQL-free core.
 *
 * The format is sniffed from the magic bytes.  JPEG goes through libjpeg-turbo
 * with its default decompression parameters (JDCT_ISLOW, fancy upsampling,
 * JCS_RGB output), so the pixels equal those of the golden runner's
 * jpeg2ppm.c; CMYK/YCCK JPEGs are converted to RGB here.  PNG goes through
 * libpng: 16-bit samples are scaled to 8 bits, palettes and grey are expanded
 * and alpha (including tRNS) is dropped, as face-api/tf.node does.  EXIF
 * orientation (JPEG APP1, PNG eXIf) is applied, so the pixels come out the way
 * a phone shows the photo.
 *
 * Errors: empty, corrupt or truncated bytes (libjpeg warnings included) give
 * FI_ERR_CORRUPT; an unknown or unsupported format gives FI_ERR_UNSUPPORTED
 * with the format's name; an image over max_pixels gives FI_ERR_LIMIT, found
 * from the header before any pixel buffer is allocated.
 *
 * No global state: every call is independent and thread-safe.
 */
#ifndef FI_CORE_IMAGE_H
#define FI_CORE_IMAGE_H

#include "fi_core.h"
#include "image/fi_image.h"

typedef enum fi_image_format
{
	FI_FORMAT_UNKNOWN = 0,
	FI_FORMAT_JPEG,
	FI_FORMAT_PNG
} fi_image_format;

/* "JPEG", "PNG" or "unknown". */
const char *fi_image_format_name(fi_image_format fmt);

/*
 * Read only the header: the format and the size of the image as it will be
 * decoded (EXIF orientation 5-8 swaps width and height).  Allocates no pixels
 * and does not check max_pixels.  Outputs may be NULL.
 */
fi_status	fi_image_probe(const uint8_t *data, size_t len, fi_image_format *fmt,
						   int *width, int *height, fi_error *err);

/*
 * Decode a JPEG or PNG into *out (8-bit RGB, EXIF orientation applied).
 * max_pixels (> 0) bounds width*height and so every buffer of the decode.
 * On error *out is {0, 0, NULL}.  Release the pixels with fi_image_free().
 */
fi_status	fi_image_decode(const uint8_t *data, size_t len, int64_t max_pixels,
							fi_image *out, fi_error *err);

/* Free the pixels of img (NULL-safe) and reset it to {0, 0, NULL}. */
void		fi_image_free(fi_image *img);

/* fi_photo and its functions exist (benchmarks built against older trees test this). */
#define FI_IMAGE_HAS_PHOTO 1

/*
 * A photo for the face pipeline: its pixels decoded at 1/scale of its size
 * (a JPEG through libjpeg-turbo's DCT scaling; each side rounded up), and
 * what fi_photo_region needs to decode any rectangle of it at full size.
 */
typedef struct fi_photo
{
	fi_image	img;			/* the pixels at 1/scale, orientation applied */
	int			scale;			/* 1, 2, 4 or 8 */
	int			width,
				height;			/* the photo's full size, orientation applied */
	const uint8_t *data;		/* the encoded bytes (borrowed; NULL when scale is 1) */
	size_t		len;
	int64_t		max_pixels;
} fi_photo;

/*
 * Decode a photo at 1/scale (scale 1, 2, 4 or 8).  A PNG is always decoded
 * at full size (scale becomes 1).  max_pixels bounds the full size, as for
 * fi_image_decode, and the errors are fi_image_decode's.  The bytes must
 * outlive the photo when the scale is above 1.  Free with fi_photo_free().
 */
fi_status	fi_photo_decode(const uint8_t *data, size_t len, int64_t max_pixels, int scale,
							fi_photo *out, fi_error *err);

/* A photo of scale 1 over pixels the caller keeps (do not fi_photo_free it). */
fi_photo	fi_photo_of_image(const fi_image *img);

/*
 * The full-size pixels of the rect (x, y, w, h) of the photo (inside it) as
 * a w x h image of their own: cut from img at scale 1, else decoded from the
 * bytes.  Free with fi_image_free().
 */
fi_status	fi_photo_region(const fi_photo *ph, int x, int y, int w, int h, fi_image *out,
							fi_error *err);

/* Free the pixels a photo owns (NULL-safe). */
void		fi_photo_free(fi_photo *ph);

#endif							/* FI_CORE_IMAGE_H */
