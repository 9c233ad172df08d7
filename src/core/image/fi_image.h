/*
 * fi_image.h
 *	  The decoded image every part of the core exchanges: 8-bit RGB, row-major,
 *	  3 bytes per pixel, no row padding (pixel (x, y) at rgb[(y*width + x)*3]).
 */
#ifndef FI_IMAGE_H
#define FI_IMAGE_H

#include <stdint.h>

typedef struct fi_image { int width, height; uint8_t *rgb; } fi_image;

#endif							/* FI_IMAGE_H */
