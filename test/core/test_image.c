/*
 * test_image.c
 *	  Unit tests of the image decoder (src/core/image/).
 *
 * Every fixture is generated here with libjpeg / libpng from synthetic
 * pixels, then patched where a test needs broken bytes; no binary fixture is
 * committed.  When ../shared/golden/images exists (or $FACEID_SHARED/golden/
 * images), the sample JPEGs are also decoded and compared byte for byte with
 * a decode done the way the golden runner's jpeg2ppm.c does it.
 *
 *	  make -C test/core test_image.bin && ./test/core/test_image.bin
 */
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

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* RGB PNG round trip is exact, plain and interlaced. */
static void
test_png_roundtrip(void)
{
	int			w = 37,
				h = 23;
	uint8_t    *pix = make_noise((size_t) w * h * 3, 7);

	for (int il = 0; il <= 1; il++)
	{
		bytes		b = encode_rgb_png(pix, w, h, il);
		fi_image	img;
		fi_error	err;
		fi_status	st = decode(&b, &img, &err);

		if (CHECK(st == FI_OK, "png roundtrip interlace=%d: %s", il, err.msg))
		{
			CHECK(img.width == w && img.height == h, "png roundtrip size %dx%d", img.width, img.height);
			CHECK(memcmp(img.rgb, pix, (size_t) w * h * 3) == 0, "png roundtrip interlace=%d pixels differ", il);
		}
		fi_image_free(&img);
		free(b.data);
	}
	free(pix);
	section("PNG RGB round trip (plain, Adam7)");
}

/* JPEG decode is close to the source and equal to the jpeg2ppm-style decode. */
static void
test_jpeg_basic(void)
{
	int			w = 64,
				h = 48,
				rw,
				rh,
				max;
	double		mean;
	uint8_t    *pix = make_gradient(w, h);
	bytes		b = encode_rgb_jpeg(pix, w, h, 95);
	fi_image	img;
	fi_error	err;
	uint8_t    *ref = reference_decode(b.data, b.len, &rw, &rh);

	if (CHECK(decode(&b, &img, &err) == FI_OK, "jpeg basic: %s", err.msg))
	{
		CHECK(img.width == w && img.height == h, "jpeg size %dx%d", img.width, img.height);
		diff_stats(img.rgb, pix, (size_t) w * h * 3, &mean, &max);
		CHECK(mean < 2.0 && max < 24, "jpeg vs source: mean %.2f max %d", mean, max);
		CHECK(memcmp(img.rgb, ref, (size_t) w * h * 3) == 0, "jpeg differs from the libjpeg-default decode");
	}
	fi_image_free(&img);
	free(ref);
	free(b.data);
	free(pix);
	section("JPEG decode close to source, equal to jpeg2ppm decode");
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

/* Stored coordinates of displayed pixel (dx, dy) under EXIF orientation o (w x h stored). */
static void
stored_of(int o, int w, int h, int dx, int dy, int *sx, int *sy)
{
	*sx = dx, *sy = dy;			/* 1: as stored */
	switch (o)
	{
		case 2: *sx = w - 1 - dx; *sy = dy; break;
		case 3: *sx = w - 1 - dx; *sy = h - 1 - dy; break;
		case 4: *sx = dx; *sy = h - 1 - dy; break;
		case 5: *sx = dy; *sy = dx; break;
		case 6: *sx = dy; *sy = h - 1 - dx; break;
		case 7: *sx = w - 1 - dy; *sy = h - 1 - dx; break;
		case 8: *sx = w - 1 - dy; *sy = dx; break;
	}
}

/* Check img is ref (stored w x h) with orientation o applied; plus where the red quadrant went. */
static void
check_oriented(const char *what, const fi_image *img, const uint8_t *ref, int w, int h, int o, int tol)
{
	/* the stored top-left (red) corner shows at: 1 TL, 2 TR, 3 BR, 4 BL, 5 TL, 6 TR, 7 BR, 8 BL */
	static const int red_at[9][2] = {{0, 0}, {0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}, {1, 0}, {1, 1}, {0, 1}};
	bool		swap = o >= 5;
	int			ow = swap ? h : w,
				oh = swap ? w : h,
				bad = 0;

	if (!CHECK(img->width == ow && img->height == oh, "%s orientation %d: size %dx%d, expected %dx%d",
			   what, o, img->width, img->height, ow, oh))
		return;
	for (int dy = 0; dy < oh; dy++)
		for (int dx = 0; dx < ow; dx++)
		{
			int			sx,
						sy;

			stored_of(o, w, h, dx, dy, &sx, &sy);
			if (colour_diff(px(img, dx, dy), ref + ((size_t) sy * w + sx) * 3) > tol)
				bad++;
		}
	CHECK(bad == 0, "%s orientation %d: %d pixels not where expected", what, o, bad);
	{
		int			cx = red_at[o][0] ? ow - 4 : 3,
					cy = red_at[o][1] ? oh - 4 : 3;

		CHECK(colour_diff(px(img, cx, cy), quad_colour[0]) < 40,
			  "%s orientation %d: red corner not at (%d,%d)", what, o, cx, cy);
	}
}

/* All 8 EXIF orientations of a JPEG, both byte orders; probe agrees on the size. */
static void
test_exif_jpeg(void)
{
	int			w = 48,
				h = 32,
				rw,
				rh;
	uint8_t    *pix = make_quadrants(w, h);

	for (int o = 1; o <= 8; o++)
	{
		uint8_t		app1[64];
		jpeg_spec	s = {.comps = 3, .in_space = JCS_RGB, .quality = 95, .app1 = app1};
		bytes		b;
		fi_image	img;
		fi_error	err;
		uint8_t    *ref;
		int			pw = 0,
					ph = 0;
		fi_image_format fmt = FI_FORMAT_UNKNOWN;

		s.app1_len = make_exif(app1, o, o % 2 == 0, true);
		b = encode_jpeg(pix, w, h, &s);
		ref = reference_decode(b.data, b.len, &rw, &rh);
		if (CHECK(decode(&b, &img, &err) == FI_OK, "exif %d: %s", o, err.msg))
			check_oriented("JPEG", &img, ref, w, h, o, 0);
		CHECK(fi_image_probe(b.data, b.len, &fmt, &pw, &ph, &err) == FI_OK && fmt == FI_FORMAT_JPEG &&
			  pw == img.width && ph == img.height, "probe exif %d: %dx%d", o, pw, ph);
		fi_image_free(&img);
		free(ref);
		free(b.data);
	}
	free(pix);
	section("JPEG EXIF orientations 1-8 (II and MM)");
}

/* PNG eXIf orientations are applied too. */
static void
test_exif_png(void)
{
	int			w = 20,
				h = 12;
	uint8_t    *pix = make_quadrants(w, h);

	for (int o = 1; o <= 8; o++)
	{
		uint8_t		exif[64];
		png_spec	s = {.color_type = PNG_COLOR_TYPE_RGB, .depth = 8, .exif = exif};
		bytes		b;
		fi_image	img;
		fi_error	err;

		s.exif_len = (int) make_exif(exif, o, o > 4, false);
		b = encode_png(pix, w, h, &s);
		if (CHECK(decode(&b, &img, &err) == FI_OK, "png exif %d: %s", o, err.msg))
			check_oriented("PNG", &img, pix, w, h, o, 0);
		fi_image_free(&img);
		free(b.data);
	}
	free(pix);
	section("PNG eXIf orientations 1-8");
}

/* Malformed EXIF blocks never crash and mean orientation 1. */
static void
test_exif_malformed(void)
{
	int			w = 16,
				h = 8;
	uint8_t    *pix = make_quadrants(w, h);
	uint32_t	seed = 99;
	int			ok = 0;

	for (int i = 0; i < 300; i++)
	{
		uint8_t		app1[64];
		size_t		n = make_exif(app1, 6, i % 2, true);
		jpeg_spec	s = {.comps = 3, .in_space = JCS_RGB, .quality = 90, .app1 = app1};
		bytes		b;
		fi_image	img;
		fi_error	err;

		/* cut the block short or scramble bytes of the TIFF part */
		if (i % 3 == 0)
			n = 6 + rnd(&seed) % (n - 6);
		else
			for (int k = 0; k < 3; k++)
				app1[6 + rnd(&seed) % (n - 6)] = (uint8_t) rnd(&seed);
		s.app1_len = n;
		b = encode_jpeg(pix, w, h, &s);
		if (decode(&b, &img, &err) == FI_OK &&
			((img.width == w && img.height == h) || (img.width == h && img.height == w)))
			ok++;
		fi_image_free(&img);
		free(b.data);
	}
	CHECK(ok == 300, "malformed EXIF: only %d of 300 decoded", ok);
	free(pix);
	section("malformed EXIF blocks are ignored safely");
}

/* Greyscale JPEG comes out as R = G = B close to the source. */
static void
test_grey_jpeg(void)
{
	int			w = 40,
				h = 30,
				bad = 0,
				far = 0;
	uint8_t    *g = malloc((size_t) w * h);
	jpeg_spec	s = {.comps = 1, .in_space = JCS_GRAYSCALE, .quality = 95};
	bytes		b;
	fi_image	img;
	fi_error	err;

	for (int i = 0; i < w * h; i++)
		g[i] = (uint8_t) (30 + (i % w) * 4 + (i / w));
	b = encode_jpeg(g, w, h, &s);
	if (CHECK(decode(&b, &img, &err) == FI_OK, "grey jpeg: %s", err.msg))
	{
		for (int i = 0; i < w * h; i++)
		{
			const uint8_t *p = img.rgb + 3 * i;

			bad += p[0] != p[1] || p[1] != p[2];
			far += abs(p[0] - g[i]) > 6;
		}
		CHECK(bad == 0 && far == 0, "grey jpeg: %d non-grey, %d far pixels", bad, far);
	}
	fi_image_free(&img);
	free(b.data);
	free(g);
	section("greyscale JPEG");
}

/* CMYK and YCCK JPEGs (Adobe, inverted as Photoshop writes them) give the right colours. */
static void
test_cmyk_jpeg(void)
{
	int			w = 32,
				h = 32;
	uint8_t    *rgb = make_quadrants(w, h);
	uint8_t    *cmyk = malloc((size_t) w * h * 4);

	/* RGB -> CMYK with K = 1 - max, then inverted (Adobe convention) */
	for (int i = 0; i < w * h; i++)
	{
		const uint8_t *p = rgb + 3 * i;
		int			mx = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2]) : (p[1] > p[2] ? p[1] : p[2]);

		for (int c = 0; c < 3; c++)
			cmyk[4 * i + c] = (uint8_t) (mx ? p[c] * 255 / mx : 0);	/* 255 - C */
		cmyk[4 * i + 3] = (uint8_t) mx; /* 255 - K */
	}
	for (int ycck = 0; ycck <= 1; ycck++)
	{
		jpeg_spec	s = {.comps = 4, .in_space = JCS_CMYK, .jpeg_space = ycck ? JCS_YCCK : JCS_CMYK, .quality = 95};
		bytes		b = encode_jpeg(cmyk, w, h, &s);
		fi_image	img;
		fi_error	err;

		if (CHECK(decode(&b, &img, &err) == FI_OK, "cmyk jpeg: %s", err.msg))
		{
			int			worst = 0;

			for (int q = 0; q < 4; q++)
			{
				int			x = (q % 2) ? w - 4 : 3,
							y = (q / 2) ? h - 4 : 3,
							d = colour_diff(px(&img, x, y), quad_colour[q]);

				worst = d > worst ? d : worst;
			}
			CHECK(worst <= 12, "%s jpeg: colours off by %d", ycck ? "YCCK" : "CMYK", worst);
		}
		fi_image_free(&img);
		free(b.data);
	}
	free(rgb);
	free(cmyk);
	section("CMYK and YCCK JPEG");
}

/* Progressive JPEG decodes like libjpeg's default decode; a 704-scan one is refused. */
static void
test_progressive_jpeg(void)
{
	int			w = 64,
				h = 40,
				rw,
				rh,
				max;
	double		mean;
	uint8_t    *pix = make_gradient(w, h);
	jpeg_spec	s = {.comps = 3, .in_space = JCS_RGB, .quality = 95, .progressive = true};
	bytes		b = encode_jpeg(pix, w, h, &s);
	uint8_t    *ref = reference_decode(b.data, b.len, &rw, &rh);
	fi_image	img;
	fi_error	err;

	CHECK(jpeg_marker(&b, 0xC2) != 0, "progressive jpeg has no SOF2");
	if (CHECK(decode(&b, &img, &err) == FI_OK, "progressive jpeg: %s", err.msg))
	{
		diff_stats(img.rgb, pix, (size_t) w * h * 3, &mean, &max);
		CHECK(mean < 2.0 && max < 24, "progressive vs source: mean %.2f max %d", mean, max);
		CHECK(memcmp(img.rgb, ref, (size_t) w * h * 3) == 0, "progressive differs from the reference decode");
	}
	fi_image_free(&img);
	free(b.data);
	free(ref);

	{
		uint8_t    *g = make_noise((size_t) 16 * 16, 5);
		jpeg_spec	bs = {.comps = 1, .in_space = JCS_GRAYSCALE, .quality = 90, .scan_bomb = true};
		bytes		bb = encode_jpeg(g, 16, 16, &bs);

		expect_decode_error("704-scan JPEG", &bb, FI_ERR_LIMIT, "scans");
		free(bb.data);
		free(g);
	}
	free(pix);
	section("progressive JPEG (and a scan bomb refused)");
}

/* 16-bit, palette (+tRNS), grey of every depth, grey+alpha, RGBA: all come out as 8-bit RGB. */
static void
test_png_variants(void)
{
	int			w = 19,
				h = 7,
				n = w * h;
	uint8_t    *raw = malloc((size_t) n * 8);
	uint8_t    *want = malloc((size_t) n * 3);
	uint32_t	seed = 3;
	fi_image	img;
	fi_error	err;
	bytes		b;

	/* 16-bit RGB: expect round(v / 257) */
	for (int i = 0; i < n * 3; i++)
	{
		unsigned	v = rnd(&seed) & 0xFFFF;

		raw[2 * i] = v >> 8, raw[2 * i + 1] = v & 0xFF;
		want[i] = (uint8_t) ((v + 128) / 257);
	}
	{
		png_spec	s = {.color_type = PNG_COLOR_TYPE_RGB, .depth = 16};
		int			max;
		double		mean;

		b = encode_png(raw, w, h, &s);
		if (CHECK(decode(&b, &img, &err) == FI_OK, "png16: %s", err.msg))
		{
			diff_stats(img.rgb, want, (size_t) n * 3, &mean, &max);
			CHECK(max <= 1, "png16: off by %d", max);
		}
		fi_image_free(&img);
		free(b.data);
	}

	/* 16-bit grey + alpha */
	{
		png_spec	s = {.color_type = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 16};
		int			bad = 0;

		for (int i = 0; i < n; i++)
		{
			unsigned	v = (unsigned) i * 480;

			raw[4 * i] = v >> 8, raw[4 * i + 1] = v & 0xFF;
			raw[4 * i + 2] = (i % 3) ? 0 : 0xFF, raw[4 * i + 3] = 0;
		}
		b = encode_png(raw, w, h, &s);
		if (CHECK(decode(&b, &img, &err) == FI_OK, "png16 grey+alpha: %s", err.msg))
			for (int i = 0; i < n; i++)
				bad += abs(img.rgb[3 * i] - (int) ((i * 480 + 128) / 257)) > 1 ||
					img.rgb[3 * i] != img.rgb[3 * i + 1] || img.rgb[3 * i] != img.rgb[3 * i + 2];
		CHECK(bad == 0, "png16 grey+alpha: %d bad pixels", bad);
		fi_image_free(&img);
		free(b.data);
	}

	/* palette with tRNS: colours come straight from the palette, alpha dropped */
	{
		png_color	pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
		png_byte	trans[4] = {0, 128, 255, 0};
		int			bad = 0;

		for (int depth = 2; depth <= 8; depth += 6)
		{
			png_spec	s = {.color_type = PNG_COLOR_TYPE_PALETTE, .depth = depth, .palette = pal,
			.npalette = 4, .trans = trans, .ntrans = 4};
			int			rowbytes = depth == 8 ? w : (w * 2 + 7) / 8;

			memset(raw, 0, (size_t) rowbytes * h);
			for (int y = 0; y < h; y++)
				for (int x = 0; x < w; x++)
				{
					int			idx = (x + y) % 4;

					if (depth == 8)
						raw[y * rowbytes + x] = idx;
					else
						raw[y * rowbytes + x / 4] |= idx << (6 - 2 * (x % 4));
				}
			b = encode_png(raw, w, h, &s);
			if (CHECK(decode(&b, &img, &err) == FI_OK, "palette png depth %d: %s", depth, err.msg))
				for (int y = 0; y < h; y++)
					for (int x = 0; x < w; x++)
					{
						const png_color *c = &pal[(x + y) % 4];
						const uint8_t *p = px(&img, x, y);

						bad += p[0] != c->red || p[1] != c->green || p[2] != c->blue;
					}
			CHECK(bad == 0, "palette png depth %d: %d bad pixels", depth, bad);
			fi_image_free(&img);
			free(b.data);
		}
	}

	/* grey at 1, 4, 8 bits, 8-bit with a tRNS colour */
	{
		static const int depths[] = {1, 4, 8, 8};

		for (int k = 0; k < 4; k++)
		{
			int			d = depths[k],
						maxv = (1 << d) - 1,
						rowbytes = (w * d + 7) / 8,
						bad = 0;
			png_color_16 tc = {.gray = 3};
			png_spec	s = {.color_type = PNG_COLOR_TYPE_GRAY, .depth = d, .trans_colour = k == 3 ? &tc : NULL};

			memset(raw, 0, (size_t) rowbytes * h);
			for (int y = 0; y < h; y++)
				for (int x = 0; x < w; x++)
				{
					int			v = (x * 7 + y) % (maxv + 1);

					raw[y * rowbytes + x * d / 8] |= v << (8 - d - (x * d) % 8);
				}
			b = encode_png(raw, w, h, &s);
			if (CHECK(decode(&b, &img, &err) == FI_OK, "grey png %d bits: %s", d, err.msg))
				for (int y = 0; y < h; y++)
					for (int x = 0; x < w; x++)
					{
						int			v = (x * 7 + y) % (maxv + 1) * 255 / maxv;
						const uint8_t *p = px(&img, x, y);

						bad += p[0] != v || p[1] != v || p[2] != v;
					}
			CHECK(bad == 0, "grey png %d bits%s: %d bad pixels", d, k == 3 ? " + tRNS" : "", bad);
			fi_image_free(&img);
			free(b.data);
		}
	}

	/* 8-bit grey+alpha and RGBA: alpha is dropped, colour kept even where alpha is 0 */
	{
		png_spec	ga = {.color_type = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 8};
		png_spec	rgba = {.color_type = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 8, .interlace = true};
		int			bad = 0;

		for (int i = 0; i < n; i++)
			raw[2 * i] = (uint8_t) (i * 3), raw[2 * i + 1] = (uint8_t) (i * 11);
		b = encode_png(raw, w, h, &ga);
		if (CHECK(decode(&b, &img, &err) == FI_OK, "grey+alpha png: %s", err.msg))
			for (int i = 0; i < n; i++)
				bad += img.rgb[3 * i] != (uint8_t) (i * 3) || img.rgb[3 * i + 2] != (uint8_t) (i * 3);
		CHECK(bad == 0, "grey+alpha png: %d bad pixels", bad);
		fi_image_free(&img);
		free(b.data);

		for (int i = 0; i < n * 4; i++)
			raw[i] = (uint8_t) (i * 13 + 1);
		b = encode_png(raw, w, h, &rgba);
		bad = 0;
		if (CHECK(decode(&b, &img, &err) == FI_OK, "rgba png: %s", err.msg))
			for (int i = 0; i < n; i++)
				bad += memcmp(img.rgb + 3 * i, raw + 4 * i, 3) != 0;
		CHECK(bad == 0, "rgba png: %d bad pixels", bad);
		fi_image_free(&img);
		free(b.data);
	}
	free(raw);
	free(want);
	section("PNG 16-bit, palette+tRNS, grey 1/4/8 bit, grey+alpha, RGBA");
}

/* Headers claiming 65500x65500 fail fast with FI_ERR_LIMIT; the limit is inclusive. */
static void
test_limits(void)
{
	uint8_t    *pix = make_gradient(100, 100);
	bytes		j = encode_rgb_jpeg(pix, 100, 100, 90);
	bytes		p = encode_rgb_png(pix, 100, 100, false);
	size_t		sof = jpeg_marker(&j, 0xC0);
	fi_image	img;
	fi_error	err;
	fi_status	st;
	double		t0;

	/* exactly at the limit is fine, one pixel less is not */
	st = fi_image_decode(j.data, j.len, 10000, &img, &err);
	CHECK(st == FI_OK, "jpeg at the limit: %s", err.msg);
	fi_image_free(&img);
	st = fi_image_decode(p.data, p.len, 10000, &img, &err);
	CHECK(st == FI_OK, "png at the limit: %s", err.msg);
	fi_image_free(&img);
	st = fi_image_decode(j.data, j.len, 9999, &img, &err);
	expect_error("jpeg over the limit", st, FI_ERR_LIMIT, &err, "max_image_pixels");
	st = fi_image_decode(p.data, p.len, 9999, &img, &err);
	expect_error("png over the limit", st, FI_ERR_LIMIT, &err, "max_image_pixels");

	/* SOF0: FF C0 len(2) precision(1) height(2) width(2) */
	if (CHECK(sof != 0, "no SOF0 in the JPEG"))
	{
		j.data[sof + 5] = 0xFF, j.data[sof + 6] = 0xDC;
		j.data[sof + 7] = 0xFF, j.data[sof + 8] = 0xDC;
		t0 = now();
		st = decode(&j, &img, &err);
		expect_error("65500x65500 JPEG", st, FI_ERR_LIMIT, &err, "65500x65500");
		CHECK(now() - t0 < 0.5, "65500x65500 JPEG took %.3f s", now() - t0);
		{
			int			pw,
						ph;

			CHECK(fi_image_probe(j.data, j.len, NULL, &pw, &ph, &err) == FI_OK && pw == 65500 && ph == 65500,
				  "probe of the 65500x65500 JPEG");
		}
	}
	/* IHDR at offset 8: length(4) "IHDR" width(4) height(4) ... crc(4) at 29 */
	put_be32(p.data + 16, 65500);
	put_be32(p.data + 20, 65500);
	put_be32(p.data + 29, crc32_png(p.data + 12, 17));
	t0 = now();
	st = decode(&p, &img, &err);
	expect_error("65500x65500 PNG", st, FI_ERR_LIMIT, &err, "65500x65500");
	CHECK(now() - t0 < 0.5, "65500x65500 PNG took %.3f s", now() - t0);

	/* with a limit above its size, libpng sees the missing data: corrupt, not a huge allocation */
	put_be32(p.data + 16, 3000);
	put_be32(p.data + 20, 2000);
	put_be32(p.data + 29, crc32_png(p.data + 12, 17));
	st = decode(&p, &img, &err);
	expect_error("3000x2000 PNG with 100x100 data", st, FI_ERR_CORRUPT, &err, NULL);
	fi_image_free(&img);

	st = fi_image_decode(p.data, p.len, 0, &img, &err);
	expect_error("max_pixels 0", st, FI_ERR_INVALID, &err, "max_pixels");
	CHECK(fi_image_decode(p.data, p.len, 10, NULL, &err) == FI_ERR_INVALID, "NULL output");
	free(j.data);
	free(p.data);
	free(pix);
	section("max_pixels from the header (65500x65500 JPEG and PNG fail fast)");
}

/* Truncated JPEG and PNG, a JPEG without EOI, a bad Huffman table, bad CRCs: all FI_ERR_CORRUPT. */
static void
test_corrupt(void)
{
	int			w = 128,
				h = 96;
	uint8_t    *pix = make_noise((size_t) w * h * 3, 11);
	bytes		j = encode_rgb_jpeg(pix, w, h, 90);
	bytes		p = encode_rgb_png(pix, w, h, false);
	static const int pct[] = {10, 50, 99};
	char		what[64];

	for (int i = 0; i < 3; i++)
	{
		bytes		t = {.data = j.data, .len = j.len * pct[i] / 100};

		snprintf(what, sizeof(what), "JPEG cut at %d%%", pct[i]);
		expect_decode_error(what, &t, FI_ERR_CORRUPT, "JPEG");
		t.data = p.data, t.len = p.len * pct[i] / 100;
		snprintf(what, sizeof(what), "PNG cut at %d%%", pct[i]);
		expect_decode_error(what, &t, FI_ERR_CORRUPT, "PNG");
	}
	{
		bytes		t = {.data = j.data, .len = j.len - 2};

		expect_decode_error("JPEG without EOI", &t, FI_ERR_CORRUPT, "Premature end");
		t.data = p.data, t.len = p.len - 12;
		expect_decode_error("PNG without IEND", &t, FI_ERR_CORRUPT, "PNG");
	}

	/* Huffman tables: DHT = FF C4 len(2) class/id(1) counts(16) symbols */
	{
		bytes		t = {0};
		size_t		dht;

		bytes_add(&t, j.data, j.len);
		dht = jpeg_marker(&t, 0xC4);
		if (CHECK(dht != 0, "no DHT"))
		{
			memset(t.data + dht + 5, 0xFF, 16);	/* counts summing far over 256 */
			expect_decode_error("bogus Huffman table", &t, FI_ERR_CORRUPT, "Huffman");
			memcpy(t.data, j.data, j.len);
			/* keep the sizes but move codes to length 1: an over-subscribed code */
			t.data[dht + 5] += 3;
			for (int k = 15, moved = 0; k > 0 && moved < 3; k--)
				while (t.data[dht + 5 + k] > 0 && moved < 3)
					t.data[dht + 5 + k]--, moved++;
			expect_decode_error("over-subscribed Huffman table", &t, FI_ERR_CORRUPT, "JPEG");
		}
		free(t.data);
	}

	/* entropy data overwritten in the middle: libjpeg would only warn */
	{
		bytes		t = {0};
		size_t		sos;

		bytes_add(&t, j.data, j.len);
		sos = jpeg_marker(&t, 0xDA);
		memset(t.data + sos + (t.len - sos) / 2, 0xFF, 64);
		expect_decode_error("scrambled entropy data", &t, FI_ERR_CORRUPT, "JPEG");
		free(t.data);
	}

	/* PNG CRCs: IHDR, IDAT, an ancillary tEXt */
	{
		png_spec	s = {.color_type = PNG_COLOR_TYPE_RGB, .depth = 8, .text = true};
		bytes		t = encode_png(pix, 16, 16, &s);
		bytes		u = {0};
		size_t		idat = png_chunk(&t, "IDAT"),
					text = png_chunk(&t, "tEXt");

		bytes_add(&u, t.data, t.len);
		u.data[29] ^= 1;
		expect_decode_error("PNG IHDR bad CRC", &u, FI_ERR_CORRUPT, "CRC");
		memcpy(u.data, t.data, t.len);
		u.data[idat + 10] ^= 0x40;
		expect_decode_error("PNG IDAT bad CRC", &u, FI_ERR_CORRUPT, "CRC");
		if (CHECK(text != 0, "no tEXt chunk written"))
		{
			memcpy(u.data, t.data, t.len);
			u.data[text + 9] ^= 0x20;
			expect_decode_error("PNG tEXt bad CRC", &u, FI_ERR_CORRUPT, "CRC");
		}
		free(t.data);
		free(u.data);
	}
	free(j.data);
	free(p.data);
	free(pix);
	section("truncated and corrupt JPEG/PNG are FI_ERR_CORRUPT");
}

/* Random single-byte damage never crashes or leaks; any result is OK or an error. */
static void
test_mutations(void)
{
	int			w = 24,
				h = 16;
	uint8_t    *pix = make_noise((size_t) w * h * 3, 21);
	jpeg_spec	ps = {.comps = 3, .in_space = JCS_RGB, .quality = 80, .progressive = true};
	bytes		src[3] = {encode_rgb_jpeg(pix, w, h, 80), encode_jpeg(pix, w, h, &ps),
	encode_rgb_png(pix, w, h, true)};
	uint32_t	seed = 1234;
	int			weird = 0;

	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 200; i++)
		{
			bytes		t = {0};
			fi_image	img;
			fi_error	err;
			fi_status	st;

			bytes_add(&t, src[k].data, src[k].len);
			for (int m = 0; m < 1 + i % 4; m++)
				t.data[rnd(&seed) % t.len] = (uint8_t) rnd(&seed);
			st = decode(&t, &img, &err);
			if (st == FI_OK)
				weird += img.rgb == NULL || img.width <= 0 || img.height <= 0;
			else
				weird += img.rgb != NULL || err.code != st || err.msg[0] == '\0';
			fi_image_free(&img);
			free(t.data);
		}
	CHECK(weird == 0, "mutations: %d inconsistent results", weird);
	for (int k = 0; k < 3; k++)
		free(src[k].data);
	free(pix);
	section("600 damaged files decode or fail cleanly");
}

/* Other formats are named; random, short and empty inputs are errors. */
static void
test_formats(void)
{
	static const struct
	{
		const char *what;
		const char *bytes;
		size_t		len;
		fi_status	want;
		const char *needle;
	}			cases[] = {
		{"WebP", "RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0", 20, FI_ERR_UNSUPPORTED, "WebP"},
		{"GIF", "GIF89a\x01\0\x01\0\x80\0\0", 13, FI_ERR_UNSUPPORTED, "GIF"},
		{"PGM", "P5\n2 2\n255\n\0\0\0\0", 15, FI_ERR_UNSUPPORTED, "PGM"},
		{"PPM", "P6 1 1 255\n\0\0\0", 14, FI_ERR_UNSUPPORTED, "PPM"},
		{"BMP", "BM\x3e\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18, FI_ERR_UNSUPPORTED, "BMP"},
		{"TIFF", "II*\0\x08\0\0\0\0\0", 10, FI_ERR_UNSUPPORTED, "TIFF"},
		{"HEIC", "\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24, FI_ERR_UNSUPPORTED, "HEIC"},
		{"AVIF", "\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1", 24, FI_ERR_UNSUPPORTED, "AVIF"},
		{"JPEG 2000", "\0\0\0\x0cjP  \r\n\x87\n\0\0", 14, FI_ERR_UNSUPPORTED, "JPEG 2000"},
		{"ICO", "\0\0\1\0\1\0\x10\x10\0\0", 10, FI_ERR_UNSUPPORTED, "ICO"},
		{"random", "\x12\x34\x56\x78\x9a\xbc\xde\xf0\x11\x22", 10, FI_ERR_UNSUPPORTED, "first bytes: 12 34 56 78"},
		{"one byte", "\x42", 1, FI_ERR_UNSUPPORTED, "42"},
		{"one byte FF", "\xff", 1, FI_ERR_CORRUPT, "truncated JPEG"},
		{"JPEG SOI only", "\xff\xd8", 2, FI_ERR_CORRUPT, "JPEG"},
		{"JPEG SOI + junk", "\xff\xd8\xff\x00\x01\x02\x03\x04", 8, FI_ERR_CORRUPT, "JPEG"},
		{"PNG signature only", "\x89PNG\r\n\x1a\n", 8, FI_ERR_CORRUPT, "PNG"},
		{"PNG text-mode damage", "\x89PNG\n\x1a\n\0\0\0\x0dIHDR", 16, FI_ERR_CORRUPT, "signature"},
		{"empty", "", 0, FI_ERR_CORRUPT, "empty"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		bytes		b = {.data = (uint8_t *) cases[i].bytes, .len = cases[i].len};

		expect_decode_error(cases[i].what, &b, cases[i].want, cases[i].needle);
	}
	{
		uint8_t    *noise = make_noise(4096, 77);
		bytes		b = {.data = noise, .len = 4096};
		fi_image	img;
		fi_error	err;

		noise[0] = 0x00;		/* make sure it does not start like a JPEG */
		CHECK(decode(&b, &img, &err) != FI_OK && img.rgb == NULL, "4 kB of noise decoded");
		CHECK(fi_image_decode(NULL, 0, 100, &img, &err) == FI_ERR_CORRUPT, "NULL, 0 bytes");
		free(noise);
	}
	section("other formats named, random/short/empty inputs refused");
}

/* 1x1 images and a 10x100000 PNG strip decode. */
static void
test_shapes(void)
{
	uint8_t		one[3] = {200, 100, 50};
	bytes		j = encode_rgb_jpeg(one, 1, 1, 100);
	bytes		p = encode_rgb_png(one, 1, 1, false);
	fi_image	img;
	fi_error	err;

	if (CHECK(decode(&j, &img, &err) == FI_OK, "1x1 jpeg: %s", err.msg))
		CHECK(img.width == 1 && img.height == 1 && colour_diff(img.rgb, one) <= 4, "1x1 jpeg pixel");
	fi_image_free(&img);
	if (CHECK(decode(&p, &img, &err) == FI_OK, "1x1 png: %s", err.msg))
		CHECK(img.width == 1 && img.height == 1 && memcmp(img.rgb, one, 3) == 0, "1x1 png pixel");
	fi_image_free(&img);
	free(j.data);
	free(p.data);

	{
		int			w = 10,
					h = 100000;
		uint8_t    *pix = make_noise((size_t) w * h * 3, 31);
		bytes		b = encode_rgb_png(pix, w, h, false);

		if (CHECK(decode(&b, &img, &err) == FI_OK, "10x100000 png: %s", err.msg))
			CHECK(img.width == w && img.height == h && memcmp(img.rgb, pix, (size_t) w * h * 3) == 0,
				  "10x100000 png pixels");
		fi_image_free(&img);
		free(b.data);
		free(pix);
	}
	{
		int			w = 8,
					h = 65500;
		uint8_t    *pix = make_gradient(w, h);
		bytes		b = encode_rgb_jpeg(pix, w, h, 90);

		if (CHECK(decode(&b, &img, &err) == FI_OK, "8x65500 jpeg: %s", err.msg))
			CHECK(img.width == w && img.height == h, "8x65500 jpeg size");
		fi_image_free(&img);
		free(b.data);
		free(pix);
	}
	fi_image_free(NULL);
	section("1x1 JPEG/PNG, 10x100000 PNG strip, 8x65500 JPEG");
}

/* Splice: b with n bytes of ins inserted at pos. */
static bytes
spliced(const bytes *b, size_t pos, const void *ins, size_t n)
{
	bytes		t = {0};

	bytes_add(&t, b->data, pos);
	bytes_add(&t, ins, n);
	bytes_add(&t, b->data + pos, b->len - pos);
	return t;
}

/* Big progressive JPEGs fit libjpeg's memory cap; odd JPEG flavours get the right status. */
static void
test_jpeg_flavours(void)
{
	static const struct
	{
		int			w,
					h,
					comps;
	}			big[] = {{1500, 1000, 3}, {65500, 8, 3}, {8, 65500, 3}, {1, 65500, 4}, {600, 400, 4}};
	uint8_t    *pix = make_gradient(64, 48);
	bytes		j = encode_rgb_jpeg(pix, 64, 48, 90);
	size_t		sof = jpeg_marker(&j, 0xC0);
	fi_image	img;
	fi_error	err;

	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
	{
		int			w = big[i].w,
					h = big[i].h,
					c = big[i].comps;
		uint8_t    *src = make_noise((size_t) w * h * c, 40 + (uint32_t) i);
		jpeg_spec	s = {.comps = c, .in_space = c == 4 ? JCS_CMYK : JCS_RGB, .quality = 90, .progressive = true};
		bytes		b = encode_jpeg(src, w, h, &s);

		if (CHECK(decode(&b, &img, &err) == FI_OK, "progressive %dx%d x%d: %s", w, h, c, err.msg))
			CHECK(img.width == w && img.height == h, "progressive %dx%d size", w, h);
		fi_image_free(&img);
		free(b.data);
		free(src);
	}
	{
		jpeg_spec	s = {.comps = 3, .in_space = JCS_RGB, .jpeg_space = JCS_RGB, .quality = 95};
		bytes		b = encode_jpeg(pix, 64, 48, &s);
		int			max;
		double		mean;

		if (CHECK(decode(&b, &img, &err) == FI_OK, "RGB-coded (Adobe transform 0) jpeg: %s", err.msg))
		{
			diff_stats(img.rgb, pix, (size_t) 64 * 48 * 3, &mean, &max);
			CHECK(mean < 2.0 && max < 24, "RGB-coded jpeg vs source: mean %.2f max %d", mean, max);
		}
		fi_image_free(&img);
		free(b.data);
	}
	{
		jpeg_spec	s = {.comps = 3, .in_space = JCS_RGB, .quality = 90, .arith = true};
		bytes		b = encode_jpeg(pix, 64, 48, &s);
		int			rw,
					rh;
		uint8_t    *ref = reference_decode(b.data, b.len, &rw, &rh);

		if (CHECK(decode(&b, &img, &err) == FI_OK, "arithmetic-coded jpeg: %s", err.msg))
			CHECK(memcmp(img.rgb, ref, (size_t) rw * rh * 3) == 0, "arithmetic-coded jpeg pixels");
		fi_image_free(&img);
		free(ref);
		free(b.data);
	}
	if (CHECK(sof != 0, "no SOF0"))
	{
		bytes		t = {0};

		bytes_add(&t, j.data, j.len);
		t.data[sof + 4] = 12;	/* 12-bit samples */
		expect_decode_error("12-bit JPEG", &t, FI_ERR_UNSUPPORTED, "precision");
		t.data[sof + 4] = 8;
		t.data[sof + 1] = 0xC3; /* lossless process */
		expect_decode_error("lossless JPEG", &t, FI_ERR_UNSUPPORTED, "SOF type");
		free(t.data);
	}
	{
		bytes		t = spliced(&j, j.len - 2, "\0\0\0", 3);
		bytes		u = spliced(&j, jpeg_marker(&j, 0xDB), "\x12\x34\x56", 3);

		if (CHECK(decode(&t, &img, &err) == FI_OK, "junk before EOI: %s", err.msg))
			CHECK(img.width == 64 && img.height == 48, "junk before EOI: size");
		fi_image_free(&img);
		expect_decode_error("junk between header markers", &u, FI_ERR_CORRUPT, "extraneous");
		free(t.data);
		free(u.data);
	}
	{
		bytes		t = spliced(&j, j.len, "trailing garbage", 16);
		bytes		p = encode_rgb_png(pix, 64, 48, false);
		bytes		u = spliced(&p, p.len, "trailing garbage", 16);

		CHECK(decode(&t, &img, &err) == FI_OK, "jpeg with data after EOI: %s", err.msg);
		fi_image_free(&img);
		CHECK(decode(&u, &img, &err) == FI_OK, "png with data after IEND: %s", err.msg);
		fi_image_free(&img);
		free(t.data);
		free(u.data);
		free(p.data);
	}
	free(j.data);
	free(pix);
	section("big progressive, RGB-coded, arithmetic, 12-bit/lossless refused, junk before EOI, trailing data");
}

/* fi_image_probe: format and displayed size without decoding. */
static void
test_probe(void)
{
	uint8_t    *pix = make_quadrants(20, 12);
	uint8_t		exif[64];
	png_spec	s = {.color_type = PNG_COLOR_TYPE_RGB, .depth = 8, .exif = exif};
	bytes		p;
	fi_image_format fmt = FI_FORMAT_UNKNOWN;
	int			w = 0,
				h = 0;
	fi_error	err;

	s.exif_len = (int) make_exif(exif, 8, true, false);
	p = encode_png(pix, 20, 12, &s);
	CHECK(fi_image_probe(p.data, p.len, &fmt, &w, &h, &err) == FI_OK && fmt == FI_FORMAT_PNG &&
		  w == 12 && h == 20, "probe png with eXIf 8: %s %dx%d", fi_image_format_name(fmt), w, h);
	CHECK(strcmp(fi_image_format_name(FI_FORMAT_JPEG), "JPEG") == 0, "format name");
	CHECK(fi_image_probe((const uint8_t *) "GIF89a\1\0\1\0", 10, &fmt, &w, &h, &err) == FI_ERR_UNSUPPORTED &&
		  strstr(err.msg, "GIF") != NULL, "probe gif: %s", err.msg);
	CHECK(fi_image_probe(p.data, 20, &fmt, &w, &h, &err) == FI_ERR_CORRUPT, "probe of a cut PNG header");
	free(p.data);
	free(pix);
	section("fi_image_probe");
}

/* Directory of the golden images, or NULL when ../shared is absent. */
static const char *
golden_dir(char *buf, size_t n)
{
	const char *env = getenv("FACEID_SHARED");
	char		exe[PATH_MAX - 64];
	ssize_t		k;

	if (env != NULL)
	{
		snprintf(buf, n, "%s/golden/images", env);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	/* the binary is <repo>/test/core/test_image.bin; shared is <repo>/../shared */
	k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k > 0)
	{
		exe[k] = '\0';
		*strrchr(exe, '/') = '\0';
		snprintf(buf, n, "%s/../../../shared/golden/images", exe);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

/* Read a whole file. */
static bytes
read_file(const char *path)
{
	bytes		b = {0};
	FILE	   *f = fopen(path, "rb");
	uint8_t		chunk[65536];
	size_t		k;

	if (f == NULL)
		return b;
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bytes_add(&b, chunk, k);
	fclose(f);
	return b;
}

/* The golden sample JPEGs decode to exactly the pixels jpeg2ppm.c produces. */
static void
test_golden(void)
{
	char		dir[PATH_MAX],
				path[PATH_MAX + 256];
	DIR		   *d;
	struct dirent *e;
	int			count = 0;

	if (golden_dir(dir, sizeof(dir)) == NULL || (d = opendir(dir)) == NULL)
	{
		printf("SKIP - golden images: ../shared/golden/images not found (set FACEID_SHARED)\n");
		return;
	}
	while ((e = readdir(d)) != NULL)
	{
		size_t		nl = strlen(e->d_name);
		bytes		b;
		fi_image	img;
		fi_error	err;
		uint8_t    *ref;
		int			rw,
					rh;

		if (nl < 5 || strcmp(e->d_name + nl - 4, ".jpg") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		b = read_file(path);
		ref = reference_decode(b.data, b.len, &rw, &rh);
		if (CHECK(decode(&b, &img, &err) == FI_OK, "%s: %s", e->d_name, err.msg))
			CHECK(img.width == rw && img.height == rh &&
				  memcmp(img.rgb, ref, (size_t) rw * rh * 3) == 0, "%s differs from the jpeg2ppm decode",
				  e->d_name);
		fi_image_free(&img);
		free(ref);
		free(b.data);
		count++;
	}
	closedir(d);
	CHECK(count > 0, "no .jpg in %s", dir);
	section("%d golden JPEGs equal their jpeg2ppm decode", count);
}

int
main(void)
{
	test_png_roundtrip();
	test_jpeg_basic();
	test_exif_jpeg();
	test_exif_png();
	test_exif_malformed();
	test_grey_jpeg();
	test_cmyk_jpeg();
	test_progressive_jpeg();
	test_png_variants();
	test_limits();
	test_corrupt();
	test_mutations();
	test_formats();
	test_shapes();
	test_jpeg_flavours();
	test_probe();
	test_golden();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}
