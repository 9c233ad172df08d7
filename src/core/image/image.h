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

#endif							/* FI_CORE_IMAGE_H */
