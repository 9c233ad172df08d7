/*
 * tool_tile.c
 *	  Test helper: a photo with many faces, for tests that need one long
 *	  face_embed_all/face_detect call (cancellation, memory).  Cuts the
 *	  rectangle X Y W H from PHOTO, shrinks it by the integer SCALE (box
 *	  average), tiles it COLS x ROWS and writes the result as a JPEG:
 *	    tool_tile.bin PHOTO X Y W H SCALE COLS ROWS OUT.jpg
 *	  e.g. (face 1 of the first demo photo, 64 times, 1224x1144):
 *	    tool_tile.bin build/faceid_sample1.jpg 700 350 460 430 3 8 8 /tmp/tiled.jpg
 */
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

#include "toolutil.h"

/* Tile a shrunk crop of a photo COLS x ROWS times into one JPEG. */
int
main(int argc, char **argv)
{
	fi_image	img;
	uint8_t    *tile,
			   *row;
	int			x0, y0, cw, ch, s, cols, rows, w, h;
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	FILE	   *f;

	if (argc != 10)
	{
		fprintf(stderr, "usage: %s PHOTO X Y W H SCALE COLS ROWS OUT.jpg\n", argv[0]);
		return 2;
	}
	tool_load(argv[1], &img);
	x0 = atoi(argv[2]), y0 = atoi(argv[3]), cw = atoi(argv[4]), ch = atoi(argv[5]);
	s = atoi(argv[6]), cols = atoi(argv[7]), rows = atoi(argv[8]);
	if (!tool_rect_ok(&img, x0, y0, cw, ch, s) ||
		cols < 1 || rows < 1 || cols > 64 || rows > 64)
	{
		fprintf(stderr, "rectangle, scale or grid out of range\n");
		return 2;
	}
	tile = tool_crop_scale(&img, x0, y0, cw, ch, s, &w, &h);
	row = malloc((size_t) w * cols * 3);
	f = fopen(argv[9], "wb");
	if (f == NULL)
	{
		perror(argv[9]);
		return 1;
	}
	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = w * cols;
	c.image_height = h * rows;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 90, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height)
	{
		JSAMPROW	rp = row;
		int			ty = c.next_scanline % h;

		for (int i = 0; i < cols; i++)
			for (int b = 0; b < w * 3; b++)
				row[(size_t) i * w * 3 + b] = tile[(size_t) ty * w * 3 + b];
		jpeg_write_scanlines(&c, &rp, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	fclose(f);
	printf("%s: %dx%d, %d tiles\n", argv[9], w * cols, h * rows, cols * rows);
	fi_image_free(&img);
	free(tile);
	free(row);
	return 0;
}
