/*
 * test_image.c
 *	  Unit tests of the image decoder (src/core/image/): decoded pixels of
 *	  every JPEG and PNG flavour, the header probe, and (when
 *	  ../shared/golden/images exists, or $FACEID_SHARED/golden/images) the
 *	  sample JPEGs compared byte for byte with a decode done the way the
 *	  golden runner's jpeg2ppm.c does it.  Orientation: test_image_exif.c;
 *	  bad input and limits: test_image_errors.c.
 *
 *	  make -C test/core test_image.bin && ./test/core/test_image.bin
 */
#include "image_fixtures.h"

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

/* Every decode test, then the golden JPEGs when present. */
int
main(void)
{
	test_png_roundtrip();
	test_jpeg_basic();
	test_grey_jpeg();
	test_cmyk_jpeg();
	test_progressive_jpeg();
	test_png_variants();
	test_jpeg_flavours();
	test_probe();
	test_golden();
	return fixtures_done();
}
