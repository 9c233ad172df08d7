/*
 * test_image_scaled.c
 *	  Unit tests of the scaled JPEG decode and the full-size region decode
 *	  (fi_photo_decode, fi_photo_region): sizes at 1/2, 1/4 and 1/8 with every
 *	  EXIF orientation, region pixels equal to the full decode's bit for bit
 *	  (edges, odd offsets, 4:2:0 and 4:4:4, baseline and progressive), the
 *	  errors of a truncated or oversized JPEG through the scaled path, PNG
 *	  left at full size, and regions outside the photo refused.
 *
 *	  make -C test/core test_image_scaled.bin && ./test/core/test_image_scaled.bin
 */
#include "image_fixtures.h"

/* A textured w x h RGB image: gradients plus noise, so every block differs. */
static uint8_t *
make_texture(int w, int h, uint32_t seed)
{
	uint8_t    *p = malloc((size_t) w * h * 3);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++)
				p[((size_t) y * w + x) * 3 + c] =
					(uint8_t) ((x * (c + 1) + y * (3 - c)) / 4 + (rnd(&seed) % 48));
	return p;
}

/* Whether region (x, y, rw, rh) of ph equals that rect of the full decode full. */
static bool
region_matches(const fi_photo *ph, const fi_image *full, int x, int y, int rw, int rh,
			   const char *what)
{
	fi_image	r;
	fi_error	err = {0};
	int			bad = 0;

	if (!CHECK(fi_photo_region(ph, x, y, rw, rh, &r, &err) == FI_OK, "%s region %dx%d at (%d,%d): %s",
			   what, rw, rh, x, y, err.msg))
		return false;
	if (CHECK(r.width == rw && r.height == rh, "%s region size %dx%d", what, r.width, r.height))
		for (int yy = 0; yy < rh; yy++)
			bad += memcmp(px(&r, 0, yy), px(full, x, y + yy), (size_t) rw * 3) != 0;
	fi_image_free(&r);
	return CHECK(bad == 0, "%s region %dx%d at (%d,%d): %d rows differ from the full decode",
				 what, rw, rh, x, y, bad);
}

/* Regions at the corners, the middle and odd offsets of a photo, against its full decode. */
static void
check_regions(const bytes *b, const char *what)
{
	fi_image	full;
	fi_photo	ph;
	fi_error	err = {0};

	if (!CHECK(decode(b, &full, &err) == FI_OK, "%s: full decode: %s", what, err.msg))
		return;
	if (CHECK(fi_photo_decode(b->data, b->len, 50000000, 4, &ph, &err) == FI_OK && ph.scale == 4,
			  "%s: scaled decode: %s", what, err.msg))
	{
		int			W = full.width,
					H = full.height;
		int			rects[][4] = {{0, 0, 37, 29}, {W - 41, H - 23, 41, 23}, {W / 3 + 1, H / 2 - 7, 123, 77},
		{17, H - 100, W - 40, 60}, {W - 1, 0, 1, H}, {0, 0, W, H}};

		CHECK(ph.width == W && ph.height == H, "%s: full size %dx%d, expected %dx%d", what,
			  ph.width, ph.height, W, H);
		for (size_t i = 0; i < sizeof(rects) / sizeof(rects[0]); i++)
			region_matches(&ph, &full, rects[i][0], rects[i][1], rects[i][2], rects[i][3], what);
		fi_photo_free(&ph);
	}
	fi_image_free(&full);
}

/* Sizes of the scaled decodes (each side rounded up), every orientation; regions are exact. */
static void
test_scaled_orientations(void)
{
	int			w = 403,
				h = 251;
	uint8_t    *pix = make_texture(w, h, 7);

	for (int o = 1; o <= 8; o++)
	{
		uint8_t		app1[64];
		jpeg_spec	s = {.comps = 3, .in_space = JCS_RGB, .quality = 90, .app1 = app1};
		bytes		b;
		char		what[64];

		s.app1_len = make_exif(app1, o, o % 2 == 0, true);
		b = encode_jpeg(pix, w, h, &s);
		for (int sc = 1; sc <= 8; sc *= 2)
		{
			fi_photo	ph;
			fi_error	err = {0};
			int			sw = (w + sc - 1) / sc,
						sh = (h + sc - 1) / sc;
			bool		swap = o >= 5;

			if (!CHECK(fi_photo_decode(b.data, b.len, 50000000, sc, &ph, &err) == FI_OK,
					   "orientation %d scale %d: %s", o, sc, err.msg))
				continue;
			CHECK(ph.scale == sc && ph.img.width == (swap ? sh : sw) && ph.img.height == (swap ? sw : sh) &&
				  ph.width == (swap ? h : w) && ph.height == (swap ? w : h),
				  "orientation %d scale %d: %dx%d of %dx%d", o, sc, ph.img.width, ph.img.height,
				  ph.width, ph.height);
			fi_photo_free(&ph);
		}
		snprintf(what, sizeof(what), "orientation %d", o);
		check_regions(&b, what);
		free(b.data);
	}
	free(pix);
	section("scaled decode sizes and exact regions, EXIF orientations 1-8");
}

/* Regions of 4:4:4, progressive and grey JPEGs are exact too. */
static void
test_region_kinds(void)
{
	int			w = 517,
				h = 333;
	uint8_t    *pix = make_texture(w, h, 11);
	jpeg_spec	prog = {.comps = 3, .in_space = JCS_RGB, .quality = 85, .progressive = true};
	bytes		b = encode_jpeg(pix, w, h, &prog);
	struct jpeg_compress_struct c;

	check_regions(&b, "progressive");
	free(b.data);
	{
		/* 4:4:4: no chroma upsampling at all */
		struct jpeg_error_mgr jerr;
		unsigned char *out = NULL;
		unsigned long outlen = 0;
		bytes		b2 = {0};

		c.err = jpeg_std_error(&jerr);
		jpeg_create_compress(&c);
		jpeg_mem_dest(&c, &out, &outlen);
		c.image_width = w;
		c.image_height = h;
		c.input_components = 3;
		c.in_color_space = JCS_RGB;
		jpeg_set_defaults(&c);
		c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 1;
		jpeg_start_compress(&c, TRUE);
		while (c.next_scanline < c.image_height)
		{
			JSAMPROW	row = pix + (size_t) c.next_scanline * w * 3;

			jpeg_write_scanlines(&c, &row, 1);
		}
		jpeg_finish_compress(&c);
		jpeg_destroy_compress(&c);
		bytes_add(&b2, out, outlen);
		free(out);
		check_regions(&b2, "4:4:4");
		free(b2.data);
	}
	free(pix);
	section("exact regions of progressive and 4:4:4 JPEGs");
}

/* A truncated or oversized JPEG fails through the scaled path as through the full one. */
static void
test_scaled_errors(void)
{
	int			w = 1600,
				h = 1200;
	uint8_t    *pix = make_texture(w, h, 3);
	bytes		b = encode_rgb_jpeg(pix, w, h, 90);
	fi_photo	ph;
	fi_error	err = {0};
	fi_status	st;

	for (int sc = 2; sc <= 8; sc *= 2)
	{
		st = fi_photo_decode(b.data, b.len * 2 / 3, 50000000, sc, &ph, &err);
		CHECK(st == FI_ERR_CORRUPT && ph.img.rgb == NULL, "truncated at 1/%d: status %d (%s)", sc, st, err.msg);
		st = fi_photo_decode(b.data, b.len - 2, 50000000, sc, &ph, &err);	/* no EOI */
		CHECK(st == FI_ERR_CORRUPT && ph.img.rgb == NULL, "no EOI at 1/%d: status %d (%s)", sc, st, err.msg);
		st = fi_photo_decode(b.data, b.len, (int64_t) w * h - 1, sc, &ph, &err);
		CHECK(st == FI_ERR_LIMIT && ph.img.rgb == NULL, "over max_pixels at 1/%d: status %d", sc, st);
	}
	st = fi_photo_decode(b.data, b.len, 50000000, 3, &ph, &err);
	CHECK(st == FI_ERR_INVALID, "scale 3 refused: status %d", st);
	if (CHECK(fi_photo_decode(b.data, b.len, 50000000, 8, &ph, &err) == FI_OK, "1/8: %s", err.msg))
	{
		fi_image	r;

		CHECK(fi_photo_region(&ph, w - 10, 0, 11, 5, &r, &err) == FI_ERR_INVALID && r.rgb == NULL,
			  "a region past the right edge is refused");
		CHECK(fi_photo_region(&ph, 0, -1, 5, 5, &r, &err) == FI_ERR_INVALID, "a negative origin is refused");
		CHECK(fi_photo_region(&ph, 0, 0, 0, 5, &r, &err) == FI_ERR_INVALID, "an empty region is refused");
		fi_photo_free(&ph);
	}
	free(b.data);
	free(pix);
	section("truncated, oversized and bad requests through the scaled path");
}

/* A PNG is decoded at full size whatever scale is asked; its regions are cut from it. */
static void
test_png_full_size(void)
{
	int			w = 300,
				h = 200;
	uint8_t    *pix = make_texture(w, h, 5);
	bytes		b = encode_rgb_png(pix, w, h, false);
	fi_photo	ph;
	fi_image	full;
	fi_error	err = {0};

	if (CHECK(fi_photo_decode(b.data, b.len, 50000000, 8, &ph, &err) == FI_OK, "png: %s", err.msg))
	{
		CHECK(ph.scale == 1 && ph.img.width == w && ph.img.height == h && ph.width == w,
			  "png stays at full size: scale %d, %dx%d", ph.scale, ph.img.width, ph.img.height);
		if (CHECK(decode(&b, &full, &err) == FI_OK, "png decode"))
		{
			region_matches(&ph, &full, 13, 17, 100, 50, "png");
			fi_image_free(&full);
		}
		fi_photo_free(&ph);
	}
	free(b.data);
	free(pix);
	section("PNG: full size, regions cut from the pixels");
}

/* Run every test. */
int
main(void)
{
	test_scaled_orientations();
	test_region_kinds();
	test_scaled_errors();
	test_png_full_size();
	return fixtures_done();
}
