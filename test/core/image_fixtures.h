/*
 * image_fixtures.h
 *	  What the image decoder tests (test_image*.c) share: check counting,
 *	  synthetic pixels, JPEG and PNG encoders with every option a test needs,
 *	  byte-level patching, and helpers on decode results.  Every fixture is
 *	  generated from synthetic pixels; no binary fixture is committed.
 *	  Header-only.
 */
#ifndef IMAGE_FIXTURES_H
#define IMAGE_FIXTURES_H

#pragma GCC diagnostic ignored "-Wunused-function"

#include "image/image.h"

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

static int	n_pass,
			n_fail,
			section_fails;

/* Close a test: "ok - name" when none of its checks failed since the last one. */
static void
section(const char *fmt,...)
{
	va_list		ap;

	printf("%s - ", n_fail == section_fails ? "ok" : "FAILED");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	section_fails = n_fail;
}

/* Count one check; print it when it fails (and a summary line per test). */
static bool
check(bool ok, int line, const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		n_pass++;
		return true;
	}
	n_fail++;
	printf("FAIL (line %d): ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return false;
}

#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)

/* A growable byte buffer for encoded images. */
typedef struct bytes
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} bytes;

/* Append n bytes to b. */
static void
bytes_add(bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		b->cap = (b->len + n) * 2 + 64;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
			abort();
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Seconds on a monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Deterministic pseudo-random numbers (xorshift). */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* ------------------------------------------------------------------ */
/* Synthetic pixels                                                    */
/* ------------------------------------------------------------------ */

static const uint8_t quad_colour[4][3] = {
	{220, 30, 30},				/* top-left: red */
	{30, 200, 40},				/* top-right: green */
	{30, 40, 210},				/* bottom-left: blue */
	{230, 220, 40},				/* bottom-right: yellow */
};

/* A w x h RGB image with one flat colour per quadrant: asymmetric under every flip. */
static uint8_t *
make_quadrants(int w, int h)
{
	uint8_t    *p = malloc((size_t) w * h * 3);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			memcpy(p + ((size_t) y * w + x) * 3, quad_colour[(y >= h / 2) * 2 + (x >= w / 2)], 3);
	return p;
}

/* A smooth RGB gradient that JPEG reproduces closely. */
static uint8_t *
make_gradient(int w, int h)
{
	uint8_t    *p = malloc((size_t) w * h * 3);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
		{
			uint8_t    *q = p + ((size_t) y * w + x) * 3;

			q[0] = (uint8_t) (40 + 170 * x / (w > 1 ? w - 1 : 1));
			q[1] = (uint8_t) (40 + 170 * y / (h > 1 ? h - 1 : 1));
			q[2] = (uint8_t) (200 - 100 * (x + y) / (w + h));
		}
	return p;
}

/* n random bytes. */
static uint8_t *
make_noise(size_t n, uint32_t seed)
{
	uint8_t    *p = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t) (rnd(&seed) >> 24);
	return p;
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */
/* ------------------------------------------------------------------ */

typedef struct jpeg_spec
{
	int			comps;			/* 1, 3 or 4 */
	J_COLOR_SPACE in_space;		/* JCS_GRAYSCALE, JCS_RGB, JCS_CMYK */
	J_COLOR_SPACE jpeg_space;	/* 0: libjpeg default; JCS_YCCK to force it */
	int			quality;
	bool		progressive;
	bool		scan_bomb;		/* a 704-scan progressive script (grey only) */
	bool		arith;			/* arithmetic coding instead of Huffman */
	const uint8_t *app1;		/* APP1 payload or NULL */
	size_t		app1_len;
} jpeg_spec;

/* A grey image scan script with one spectral band per coefficient, each refined bit by bit (704 scans). */
static jpeg_scan_info *
bomb_script(int *nscans)
{
	jpeg_scan_info *s = calloc(64 * 11, sizeof(jpeg_scan_info));
	int			n = 0;

	for (int k = 0; k < 64; k++)
		for (int al = 10; al >= 0; al--, n++)
		{
			s[n].comps_in_scan = 1;
			s[n].component_index[0] = 0;
			s[n].Ss = s[n].Se = k;
			s[n].Ah = (al == 10) ? 0 : al + 1;
			s[n].Al = al;
		}
	*nscans = n;
	return s;
}

/* Encode pix (w x h x spec->comps) as a JPEG with libjpeg. */
static bytes
encode_jpeg(const uint8_t *pix, int w, int h, const jpeg_spec *spec)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *out = NULL;
	unsigned long outlen = 0;
	jpeg_scan_info *script = NULL;
	bytes		b = {0};

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &out, &outlen);
	c.image_width = w;
	c.image_height = h;
	c.input_components = spec->comps;
	c.in_color_space = spec->in_space;
	jpeg_set_defaults(&c);
	if (spec->jpeg_space)
		jpeg_set_colorspace(&c, spec->jpeg_space);
	jpeg_set_quality(&c, spec->quality ? spec->quality : 90, TRUE);
	if (spec->progressive)
		jpeg_simple_progression(&c);
	if (spec->arith)
		c.arith_code = TRUE;
	if (spec->scan_bomb)
	{
		script = bomb_script(&c.num_scans);
		c.scan_info = script;
	}
	jpeg_start_compress(&c, TRUE);
	if (spec->app1)
		jpeg_write_marker(&c, JPEG_APP0 + 1, spec->app1, (unsigned) spec->app1_len);
	while (c.next_scanline < c.image_height)
	{
		JSAMPROW	row = (JSAMPROW) (pix + (size_t) c.next_scanline * w * spec->comps);

		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(script);
	bytes_add(&b, out, outlen);
	free(out);
	return b;
}

/* Encode RGB pixels as a baseline JPEG of the given quality. */
static bytes
encode_rgb_jpeg(const uint8_t *pix, int w, int h, int quality)
{
	jpeg_spec	s = {.comps = 3, .in_space = JCS_RGB, .quality = quality};

	return encode_jpeg(pix, w, h, &s);
}

/* Decode a JPEG exactly as the golden runner's jpeg2ppm.c does (libjpeg defaults, JCS_RGB). */
static uint8_t *
reference_decode(const uint8_t *data, size_t len, int *w, int *h)
{
	struct jpeg_decompress_struct d;
	struct jpeg_error_mgr jerr;
	uint8_t    *buf;

	d.err = jpeg_std_error(&jerr);
	jpeg_create_decompress(&d);
	jpeg_mem_src(&d, data, (unsigned long) len);
	jpeg_read_header(&d, TRUE);
	d.out_color_space = JCS_RGB;
	jpeg_start_decompress(&d);
	*w = d.output_width;
	*h = d.output_height;
	buf = malloc((size_t) *w * *h * 3);
	while (d.output_scanline < d.output_height)
	{
		JSAMPROW	row = buf + (size_t) d.output_scanline * *w * 3;

		jpeg_read_scanlines(&d, &row, 1);
	}
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	return buf;
}

typedef struct png_spec
{
	int			color_type;
	int			depth;
	bool		interlace;
	const png_color *palette;
	int			npalette;
	const png_byte *trans;		/* palette alpha */
	int			ntrans;
	const png_color_16 *trans_colour;	/* grey / RGB tRNS */
	const uint8_t *exif;
	int			exif_len;
	bool		text;			/* add a tEXt chunk */
} png_spec;

/* libpng write callback into a bytes buffer. */
static void
png_write_mem(png_structp png, png_bytep p, size_t n)
{
	bytes_add(png_get_io_ptr(png), p, n);
}

/* libpng flush callback: nothing to flush. */
static void
png_flush_mem(png_structp png)
{
}

/* Encode raw rows (already in the PNG sample layout, 16-bit big-endian) as a PNG. */
static bytes
encode_png(const uint8_t *raw, int w, int h, const png_spec *spec)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop	info = png_create_info_struct(png);
	bytes		b = {0};
	size_t		rowbytes;

	png_set_write_fn(png, &b, png_write_mem, png_flush_mem);
	png_set_IHDR(png, info, w, h, spec->depth, spec->color_type,
				 spec->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
				 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (spec->palette)
		png_set_PLTE(png, info, spec->palette, spec->npalette);
	if (spec->trans || spec->trans_colour)
		png_set_tRNS(png, info, spec->trans, spec->ntrans, spec->trans_colour);
	if (spec->exif)
		png_set_eXIf_1(png, info, spec->exif_len, (png_bytep) spec->exif);
	if (spec->text)
	{
		png_text	t = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Comment", .text = "faceid test"};

		png_set_text(png, info, &t, 1);
	}
	png_write_info(png, info);
	rowbytes = png_get_rowbytes(png, info);
	{
		png_bytep  *rows = malloc(sizeof(png_bytep) * h);

		for (int y = 0; y < h; y++)
			rows[y] = (png_bytep) raw + rowbytes * y;
		png_write_image(png, rows);
		free(rows);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return b;
}

/* Encode 8-bit RGB pixels as a PNG. */
static bytes
encode_rgb_png(const uint8_t *pix, int w, int h, bool interlace)
{
	png_spec	s = {.color_type = PNG_COLOR_TYPE_RGB, .depth = 8, .interlace = interlace};

	return encode_png(pix, w, h, &s);
}

/* CRC-32 of PNG chunks (bitwise; tests only). */
static uint32_t
crc32_png(const uint8_t *p, size_t n)
{
	uint32_t	c = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++)
	{
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return c ^ 0xFFFFFFFFu;
}

/* Store v big-endian at p. */
static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

/* Offset of the first chunk of the given type in a PNG, or 0. */
static size_t
png_chunk(const bytes *b, const char *type)
{
	size_t		pos = 8;

	while (pos + 12 <= b->len)
	{
		uint32_t	n = (uint32_t) b->data[pos] << 24 | b->data[pos + 1] << 16 |
		b->data[pos + 2] << 8 | b->data[pos + 3];

		if (memcmp(b->data + pos + 4, type, 4) == 0)
			return pos;
		pos += 12 + (size_t) n;
	}
	return 0;
}

/* Offset of the first JPEG marker FF <m>, or 0. */
static size_t
jpeg_marker(const bytes *b, uint8_t m)
{
	for (size_t i = 2; i + 1 < b->len; i++)
		if (b->data[i] == 0xFF && b->data[i + 1] == m)
			return i;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers on decode results                                           */
/* ------------------------------------------------------------------ */

/* Decode with a generous limit; the image must be freed by the caller. */
static fi_status
decode(const bytes *b, fi_image *img, fi_error *err)
{
	return fi_image_decode(b->data, b->len, 50000000, img, err);
}

/* Largest per-channel difference between two colours. */
static int
colour_diff(const uint8_t *a, const uint8_t *b)
{
	int			d = 0;

	for (int i = 0; i < 3; i++)
		d = abs(a[i] - b[i]) > d ? abs(a[i] - b[i]) : d;
	return d;
}

/* Pixel (x, y) of img. */
static const uint8_t *
px(const fi_image *img, int x, int y)
{
	return img->rgb + ((size_t) y * img->width + x) * 3;
}

/* Mean and maximum absolute difference of two RGB buffers. */
static void
diff_stats(const uint8_t *a, const uint8_t *b, size_t n, double *mean, int *max)
{
	double		sum = 0;

	*max = 0;
	for (size_t i = 0; i < n; i++)
	{
		int			d = abs(a[i] - b[i]);

		sum += d;
		*max = d > *max ? d : *max;
	}
	*mean = n ? sum / n : 0;
}

/* Expect st to be a given error whose message contains needle (may be NULL). */
static void
expect_error(const char *what, fi_status st, fi_status want, const fi_error *err, const char *needle)
{
	CHECK(st == want, "%s: status %d, expected %d (%s)", what, st, want, st ? err->msg : "");
	if (needle != NULL && st != FI_OK)
		CHECK(strstr(err->msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err->msg, needle);
}

/* Decode b expecting an error; the image must stay empty. */
static void
expect_decode_error(const char *what, const bytes *b, fi_status want, const char *needle)
{
	fi_image	img = {1, 1, (uint8_t *) 1};
	fi_error	err = {0};
	fi_status	st = decode(b, &img, &err);

	expect_error(what, st, want, &err, needle);
	if (getenv("TEST_VERBOSE"))
		printf("   %-32s -> %s\n", what, st ? err.msg : "OK");
	CHECK(img.rgb == NULL && img.width == 0 && img.height == 0, "%s: output not reset", what);
	if (st == FI_OK)
		fi_image_free(&img);
}

/* An APP1 Exif payload with orientation o, in either byte order, after a dummy entry. */
static size_t
make_exif(uint8_t *p, int o, bool big_endian, bool with_prefix)
{
	size_t		n = 0;
	uint8_t		tiff[8 + 2 + 24 + 4];

	/* header */
	memcpy(tiff, big_endian ? "MM\0*" : "II*\0", 4);
	/* IFD at 8, 2 entries: ImageWidth (0x0100, LONG) then Orientation (0x0112, SHORT) */
	uint16_t	e[2][2] = {{0x0100, 4}, {0x0112, 3}};
	uint32_t	val[2] = {640, (uint32_t) o};

#define PUT16(q, v) do { if (big_endian) { (q)[0] = (v) >> 8; (q)[1] = (v); } else { (q)[0] = (v); (q)[1] = (v) >> 8; } } while (0)
#define PUT32(q, v) do { if (big_endian) { (q)[0] = (v) >> 24; (q)[1] = (v) >> 16; (q)[2] = (v) >> 8; (q)[3] = (v); } \
						 else { (q)[0] = (v); (q)[1] = (v) >> 8; (q)[2] = (v) >> 16; (q)[3] = (v) >> 24; } } while (0)
	PUT32(tiff + 4, 8u);
	PUT16(tiff + 8, 2u);
	for (int i = 0; i < 2; i++)
	{
		uint8_t    *q = tiff + 10 + 12 * i;

		memset(q, 0, 12);
		PUT16(q, e[i][0]);
		PUT16(q + 2, e[i][1]);
		PUT32(q + 4, 1u);
		if (e[i][1] == 3)
			PUT16(q + 8, val[i]);
		else
			PUT32(q + 8, val[i]);
	}
	PUT32(tiff + 34, 0u);
#undef PUT16
#undef PUT32
	if (with_prefix)
	{
		memcpy(p, "Exif\0\0", 6);
		n = 6;
	}
	memcpy(p + n, tiff, sizeof(tiff));
	return n + sizeof(tiff);
}

/* Print the summary line; the exit code of a test binary. */
static int
fixtures_done(void)
{
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}

#endif							/* IMAGE_FIXTURES_H */
