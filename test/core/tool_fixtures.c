/*
 * tool_fixtures.c
 *	  Test helper: make the two "unusual but valid" photos of
 *	  sql/badinput.sql from a demo photo, with libjpeg and libpng directly
 *	  (no ImageMagick on the build machines):
 *	    tool_fixtures.bin PHOTO X Y W H SCALE OUTDIR
 *	  cuts the rectangle, shrinks it by the integer SCALE (box average) and
 *	  writes
 *	    OUTDIR/cmyk.jpg    a 4-component JPEG with an Adobe APP14 marker,
 *	                       inverted CMYK as Photoshop writes it (K = 255 -
 *	                       max(R,G,B) of ink, C/M/Y scaled against it);
 *	    OUTDIR/grey16.png  16-bit greyscale PNG (BT.601 luma, v * 257).
 *	  The committed test/data files were made with
 *	    make -C test/core tools
 *	    test/core/tool_fixtures.bin build/faceid_sample1.jpg 700 350 460 430 3 test/data
 */
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
#include <png.h>

#include "toolutil.h"

/* Write an inverted-CMYK JPEG (Adobe marker) of the w x h RGB pixels. */
static void
write_cmyk(const char *path, const uint8_t *rgb, int w, int h)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	FILE	   *f = fopen(path, "wb");
	uint8_t    *row = malloc((size_t) w * 4);

	if (f == NULL || row == NULL)
	{
		perror(path);
		exit(1);
	}
	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = w;
	c.image_height = h;
	c.input_components = 4;
	c.in_color_space = JCS_CMYK;
	jpeg_set_defaults(&c);
	jpeg_set_colorspace(&c, JCS_CMYK);	/* writes the Adobe marker */
	jpeg_set_quality(&c, 90, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < (JDIMENSION) h)
	{
		const uint8_t *p = rgb + (size_t) c.next_scanline * w * 3;
		JSAMPROW	rp = row;

		for (int x = 0; x < w; x++)
		{
			unsigned	r = p[3 * x], g = p[3 * x + 1], b = p[3 * x + 2];
			unsigned	k = r > g ? (r > b ? r : b) : (g > b ? g : b);

			/* stored (inverted) values: light left, R = C * K / 255 */
			row[4 * x] = k ? (uint8_t) ((r * 255 + k / 2) / k) : 0;
			row[4 * x + 1] = k ? (uint8_t) ((g * 255 + k / 2) / k) : 0;
			row[4 * x + 2] = k ? (uint8_t) ((b * 255 + k / 2) / k) : 0;
			row[4 * x + 3] = (uint8_t) k;
		}
		jpeg_write_scanlines(&c, &rp, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	fclose(f);
	free(row);
}

/* Write a 16-bit greyscale PNG of the w x h RGB pixels. */
static void
write_grey16(const char *path, const uint8_t *rgb, int w, int h)
{
	FILE	   *f = fopen(path, "wb");
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop	info = png_create_info_struct(png);
	uint8_t    *row = malloc((size_t) w * 2);

	if (f == NULL || png == NULL || info == NULL || row == NULL || setjmp(png_jmpbuf(png)))
	{
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	png_init_io(png, f);
	png_set_compression_level(png, 9);
	png_set_IHDR(png, info, w, h, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
				 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < h; y++)
	{
		const uint8_t *p = rgb + (size_t) y * w * 3;

		for (int x = 0; x < w; x++)
		{
			unsigned	v = (299 * p[3 * x] + 587 * p[3 * x + 1] + 114 * p[3 * x + 2] + 500) / 1000;
			unsigned	v16 = v * 257;

			row[2 * x] = (uint8_t) (v16 >> 8);	/* PNG is big-endian */
			row[2 * x + 1] = (uint8_t) v16;
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	fclose(f);
	free(row);
}

/* Cut the rectangle, shrink it, write cmyk.jpg and grey16.png into OUTDIR. */
int
main(int argc, char **argv)
{
	fi_image	img;
	uint8_t    *out;
	int			x0, y0, cw, ch, s, w, h;
	char		path[4096];

	if (argc != 8)
	{
		fprintf(stderr, "usage: %s PHOTO X Y W H SCALE OUTDIR\n", argv[0]);
		return 2;
	}
	tool_load(argv[1], &img);
	x0 = atoi(argv[2]), y0 = atoi(argv[3]), cw = atoi(argv[4]), ch = atoi(argv[5]), s = atoi(argv[6]);
	if (!tool_rect_ok(&img, x0, y0, cw, ch, s))
	{
		fprintf(stderr, "rectangle or scale out of range\n");
		return 2;
	}
	out = tool_crop_scale(&img, x0, y0, cw, ch, s, &w, &h);
	snprintf(path, sizeof(path), "%s/cmyk.jpg", argv[7]);
	write_cmyk(path, out, w, h);
	snprintf(path, sizeof(path), "%s/grey16.png", argv[7]);
	write_grey16(path, out, w, h);
	fi_image_free(&img);
	free(out);
	return 0;
}
