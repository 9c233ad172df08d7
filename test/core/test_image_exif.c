/*
 * test_image_exif.c
 *	  Unit tests of EXIF orientation (src/core/image/exif.c): all eight
 *	  orientations in JPEG (APP1) and PNG (eXIf), both byte orders, and
 *	  malformed EXIF blocks, which must mean "as stored".
 *
 *	  make -C test/core test_image_exif.bin && ./test/core/test_image_exif.bin
 */
#include "image_fixtures.h"

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

/* Every orientation test. */
int
main(void)
{
	test_exif_jpeg();
	test_exif_png();
	test_exif_malformed();
	return fixtures_done();
}
