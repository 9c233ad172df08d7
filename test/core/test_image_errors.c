/*
 * test_image_errors.c
 *	  Unit tests of the image decoder on bad input: size limits checked
 *	  from the header, corrupt and truncated bytes, random mutations,
 *	  formats faceid does not read, and extreme shapes.
 *
 *	  make -C test/core test_image_errors.bin && ./test/core/test_image_errors.bin
 */
#include "image_fixtures.h"

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
		CHECK(now() - t0 < 5.0, "65500x65500 JPEG took %.3f s (decoded pixels before the header limit?)", now() - t0);
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
	CHECK(now() - t0 < 5.0, "65500x65500 PNG took %.3f s (decoded pixels before the header limit?)", now() - t0);

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

/* Every bad-input test. */
int
main(void)
{
	test_limits();
	test_corrupt();
	test_mutations();
	test_formats();
	test_shapes();
	return fixtures_done();
}
