/*
 * fi_image.h
 *	  A decoded image: width x height pixels, 8-bit RGB, row-major, no padding.
 */
#ifndef FI_IMAGE_H
#define FI_IMAGE_H

#include <stdint.h>

typedef struct fi_image { int width, height; uint8_t *rgb; } fi_image;

#endif							/* FI_IMAGE_H */
