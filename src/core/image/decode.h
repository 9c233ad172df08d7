/*
 * decode.h
 *	  What the files of the image decoder share (private to src/core/image):
 *	  the size check, EXIF orientation, and the JPEG and PNG decoders behind
 *	  image.h's entry points.
 */
#ifndef FI_CORE_IMAGE_DECODE_H
#define FI_CORE_IMAGE_DECODE_H

#include <stdbool.h>

#include "image/image.h"

/* image.c */
extern fi_status fi_image_check_size(const char *fmt, uint64_t w, uint64_t h,
									 int64_t max_pixels, fi_error *err);

extern fi_status fi_decode_release(fi_status st, void *scratch, uint8_t **rgb);

/* exif.c */
extern int	fi_exif_orientation(const uint8_t *p, size_t n);
extern void fi_oriented_size(int orient, int w, int h, int *ow, int *oh);
extern void fi_oriented_rect_to_stored(int orient, int w, int h, int x, int y,
									   int rw, int rh, int *sx, int *sy, int *sw,
									   int *sh);
extern void fi_place_row(uint8_t *dst, const uint8_t *row, int orient, int w,
						 int h, int y);

/* jpeg.c */
extern fi_status fi_jpeg_decode(const uint8_t *data, size_t len,
								int64_t max_pixels, fi_image *out,
								fi_error *err);
extern fi_status fi_jpeg_decode_scaled(const uint8_t *data, size_t len,
									   int64_t max_pixels, int scale,
									   fi_image *out, fi_error *err);
extern fi_status fi_jpeg_decode_region(const uint8_t *data, size_t len,
									   int64_t max_pixels, int x, int y, int w,
									   int h, fi_image *out, fi_error *err);
extern fi_status fi_jpeg_probe(const uint8_t *data, size_t len, int *w, int *h,
							   int *orient, fi_error *err);

/* png.c */
extern fi_status fi_png_decode(const uint8_t *data, size_t len,
							   int64_t max_pixels, fi_image *out,
							   fi_error *err);
extern fi_status fi_png_header_size(const uint8_t *d, size_t n, uint32_t *w,
									uint32_t *h, fi_error *err);
extern int	fi_png_orientation(const uint8_t *d, size_t n);

#endif							/* FI_CORE_IMAGE_DECODE_H */
