/*
 * tool_crop_png.c
 *	  Test helper: decode a JPEG/PNG with the core decoder, cut a rectangle
 *	  and write it as PNG, hex-encoded for PostgreSQL (\x...) on stdout, so a
 *	  test can feed exact pixels to face_embed_crop through COPY or a query.
 *	    tool_crop_png.bin IMAGE X Y W H      (W or H 0 = whole image)
 */
#include "image/image.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>

#include "toolutil.h"

/* libpng write callback: hex-encode to stdout. */
static void
write_hex(png_structp png, png_bytep data, png_size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (png_size_t i = 0; i < n; i++)
	{
		putchar(hex[data[i] >> 4]);
		putchar(hex[data[i] & 15]);
	}
}

/* Nothing to flush. */
static void
flush_nop(png_structp png)
{
}

/* Decode IMAGE, crop it, write the crop as PNG hex (\\x...) to stdout. */
int
main(int argc, char **argv)
{
	fi_image	img;
	int			x, y, w, h;
	png_structp png;
	png_infop	info;

	if (argc != 6)
	{
		fprintf(stderr, "usage: %s IMAGE X Y W H\n", argv[0]);
		return 2;
	}
	tool_load(argv[1], &img);
	x = atoi(argv[2]);
	y = atoi(argv[3]);
	w = atoi(argv[4]);
	h = atoi(argv[5]);
	if (w == 0 || h == 0)
	{
		x = y = 0;
		w = img.width;
		h = img.height;
	}
	if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > img.width || y + h > img.height)
	{
		fprintf(stderr, "crop %d,%d %dx%d outside %dx%d\n", x, y, w, h, img.width, img.height);
		return 1;
	}
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png_create_info_struct(png);
	png_set_write_fn(png, NULL, write_hex, flush_nop);
	png_set_compression_level(png, 1);
	png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
				 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	fputs("\\x", stdout);
	png_write_info(png, info);
	for (int r = 0; r < h; r++)
		png_write_row(png, img.rgb + ((size_t) (y + r) * img.width + x) * 3);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	putchar('\n');
	fi_image_free(&img);
	return 0;
}
