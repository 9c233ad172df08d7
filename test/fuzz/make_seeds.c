/*
 * make_seeds.c
 *	  Writes the seed corpora of the fuzz targets, generated here rather than
 *	  copied from elsewhere:
 *	    <dir>/text/   valid and near-valid faceembedding texts
 *	    <dir>/binary/ wire forms (512 bytes, short, NaN)
 *	    <dir>/image/  small JPEGs (RGB, grey, progressive, CMYK, EXIF) and
 *	                  PNGs (RGB, RGBA, palette, grey, 16-bit)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <png.h>
#include <sys/stat.h>

static char dir[1024];

/* Write len bytes to <dir>/<sub>/<name>. */
static void
put(const char *sub, const char *name, const void *data, size_t len)
{
	char		path[1200];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len)
	{
		perror(path);
		exit(1);
	}
	fclose(f);
}

/* A w x h test pattern with nc channels. */
static unsigned char *
pattern(int w, int h, int nc)
{
	unsigned char *p = malloc((size_t) w * h * nc);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < nc; c++)
				p[((size_t) y * w + x) * nc + c] = (unsigned char) ((x * 7 + y * 13 + c * 50) & 255);
	return p;
}

/* Encode a JPEG; exif_orientation 0 = no APP1 segment. */
static void
jpeg_seed(const char *name, int w, int h, J_COLOR_SPACE cs, int nc, int progressive, int orientation)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *buf = NULL;
	unsigned long len = 0;
	unsigned char *px = pattern(w, h, nc);

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &buf, &len);
	c.image_width = w;
	c.image_height = h;
	c.input_components = nc;
	c.in_color_space = cs;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 80, TRUE);
	if (progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	if (orientation)
	{
		/* Exif\0\0 + little-endian TIFF with one IFD entry: 0x0112 SHORT */
		unsigned char app1[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
			1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (unsigned char) orientation, 0, 0, 0, 0, 0, 0, 0};

		jpeg_write_marker(&c, JPEG_APP0 + 1, app1, sizeof(app1));
	}
	for (int y = 0; y < h; y++)
	{
		JSAMPROW row = px + (size_t) y * w * nc;

		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	put("image", name, buf, len);
	jpeg_destroy_compress(&c);
	free(buf);
	free(px);
}

/* libpng write callback into a growing buffer. */
typedef struct membuf
{
	unsigned char *p;
	size_t		len,
				cap;
} membuf;

/* Append PNG bytes. */
static void
png_write_mem(png_structp png, png_bytep data, png_size_t n)
{
	membuf	   *m = png_get_io_ptr(png);

	if (m->len + n > m->cap)
	{
		m->cap = (m->len + n) * 2;
		m->p = realloc(m->p, m->cap);
	}
	memcpy(m->p + m->len, data, n);
	m->len += n;
}

/* Encode a PNG of the given colour type and bit depth. */
static void
png_seed(const char *name, int w, int h, int color_type, int depth)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop	info = png_create_info_struct(png);
	membuf		m = {0};
	int			nc = color_type == PNG_COLOR_TYPE_RGB ? 3 : color_type == PNG_COLOR_TYPE_RGBA ? 4 :
		color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
	int			bps = depth == 16 ? 2 : 1;
	unsigned char *px = pattern(w * bps, h, nc);

	png_set_write_fn(png, &m, png_write_mem, NULL);
	png_set_IHDR(png, info, w, h, depth, color_type, PNG_INTERLACE_NONE,
				 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (color_type == PNG_COLOR_TYPE_PALETTE)
	{
		png_color	pal[256];

		for (int i = 0; i < 256; i++)
			pal[i].red = pal[i].green = pal[i].blue = (png_byte) i;
		png_set_PLTE(png, info, pal, 256);
	}
	png_write_info(png, info);
	for (int y = 0; y < h; y++)
		png_write_row(png, px + (size_t) y * w * nc * bps);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	put("image", name, m.p, m.len);
	free(m.p);
	free(px);
}

/* Write the seed corpora of the three targets under the directory given. */
int
main(int argc, char **argv)
{
	char		text[4096];
	unsigned char wire[512];
	int			n = 0;

	if (argc != 2)
	{
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	mkdir(dir, 0755);

	n = snprintf(text, sizeof(text), "[");
	for (int i = 0; i < 128; i++)
		n += snprintf(text + n, sizeof(text) - n, "%s%g", i ? "," : "", (i - 64) * 0.0123);
	snprintf(text + n, sizeof(text) - n, "]");
	put("text", "valid", text, strlen(text));
	put("text", "short", "[1,2,3]", 7);
	put("text", "nan", "[NaN, 1e-45, -0, 3.4028235e38, 1e39, 0x1p-3]", 44);
	put("text", "spaces", " [ 1 , 2 ] junk", 15);

	for (int i = 0; i < 512; i++)
		wire[i] = (unsigned char) (i % 4 == 0 ? 0x3f : i);
	put("binary", "valid", wire, 512);
	put("binary", "short", wire, 100);
	memset(wire, 0xff, 4);
	put("binary", "nan", wire, 512);

	jpeg_seed("rgb.jpg", 48, 40, JCS_RGB, 3, 0, 0);
	jpeg_seed("grey.jpg", 33, 17, JCS_GRAYSCALE, 1, 0, 0);
	jpeg_seed("progressive.jpg", 40, 48, JCS_RGB, 3, 1, 0);
	jpeg_seed("cmyk.jpg", 24, 24, JCS_CMYK, 4, 0, 0);
	jpeg_seed("exif6.jpg", 30, 20, JCS_RGB, 3, 0, 6);
	png_seed("rgb.png", 40, 30, PNG_COLOR_TYPE_RGB, 8);
	png_seed("rgba.png", 20, 20, PNG_COLOR_TYPE_RGBA, 8);
	png_seed("palette.png", 16, 16, PNG_COLOR_TYPE_PALETTE, 8);
	png_seed("grey16.png", 20, 12, PNG_COLOR_TYPE_GRAY, 16);
	png_seed("greyalpha.png", 10, 10, PNG_COLOR_TYPE_GRAY_ALPHA, 8);
	printf("seeds written to %s\n", dir);
	return 0;
}
