/*
 * image.c
 *	  JPEG and PNG decoding to 8-bit RGB: the format sniffed from the magic
 *	  bytes, the size limits, and the public entry points of image.h.  The
 *	  decoders are jpeg.c and png.c, EXIF orientation is exif.c.
 *
 * Choices:
 *  - zero bytes are FI_ERR_CORRUPT ("empty image"): an empty bytea is not an
 *    image in any format, and DESIGN.md maps bad bytes to 22P03;
 *  - a format faceid does not read (WebP, GIF, HEIC, ...) is named in the
 *    FI_ERR_UNSUPPORTED message, so the user learns what was sent.
 */
#include "image/decode.h"

#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* ---------------------------------------------------------------------
 * Format sniffing
 * --------------------------------------------------------------------- */

/* True when data starts with the n bytes of magic. */
static bool
starts_with(const uint8_t *data, size_t len, const void *magic, size_t n)
{
	return len >= n && memcmp(data, magic, n) == 0;
}

/* Name of an ISO-BMFF ('ftyp') file from its major brand. */
static const char *
ftyp_name(const uint8_t *brand)
{
	static const char *const heif[] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"};

	for (size_t i = 0; i < sizeof(heif) / sizeof(heif[0]); i++)
		if (memcmp(brand, heif[i], 4) == 0)
			return "HEIC/HEIF";
	if (memcmp(brand, "avif", 4) == 0 || memcmp(brand, "avis", 4) == 0)
		return "AVIF";
	if (memcmp(brand, "crx ", 4) == 0)
		return "Canon CR3 raw";
	return "ISO media file (MP4/MOV/HEIF family)";
}

/* Name of the netpbm flavour "P<c>", or NULL when c is not one. */
static const char *
netpbm_name(uint8_t c)
{
	switch (c)
	{
		case '1':
		case '4':
			return "PBM (netpbm)";
		case '2':
		case '5':
			return "PGM (netpbm)";
		case '3':
		case '6':
			return "PPM (netpbm)";
		case '7':
			return "PAM (netpbm)";
		case 'F':
		case 'f':
			return "PFM (netpbm float)";
		default:
			return NULL;
	}
}

/* Name of a recognised but unsupported image format, or NULL. */
static const char *
unsupported_name(const uint8_t *d, size_t n)
{
	if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
		return "WebP";
	if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6))
		return "GIF";
	if (n >= 14 && d[0] == 'B' && d[1] == 'M')
		return "BMP";
	if (n >= 3 && d[0] == 'P' && netpbm_name(d[1]) != NULL &&
		(d[2] == ' ' || d[2] == '\t' || d[2] == '\n' || d[2] == '\r'))
		return netpbm_name(d[1]);
	if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4))
		return "TIFF";
	if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0)
		return ftyp_name(d + 8);
	if (starts_with(d, n, "\0\0\0\x0cjP  \r\n\x87\n", 12) ||
		starts_with(d, n, "\xff\x4f\xff\x51", 4))
		return "JPEG 2000";
	if (starts_with(d, n, "\xff\x0a", 2) ||
		starts_with(d, n, "\0\0\0\x0cJXL \r\n\x87\n", 12))
		return "JPEG XL";
	if (n >= 6 && (starts_with(d, n, "\0\0\1\0", 4) || starts_with(d, n, "\0\0\2\0", 4)) &&
		(d[4] | d[5]) != 0)
		return "ICO (Windows icon)";
	if (starts_with(d, n, "8BPS", 4))
		return "Photoshop PSD";
	if (starts_with(d, n, "qoif", 4))
		return "QOI";
	if (starts_with(d, n, "%PDF", 4))
		return "PDF";
	if (starts_with(d, n, "<svg", 4) || starts_with(d, n, "<?xml", 5))
		return "SVG/XML";
	return NULL;
}

/* Up to the first 4 bytes of d as hex ("ff d8 ..."), in buf[12]. */
static const char *
hex_prefix(const uint8_t *d, size_t n, char *buf)
{
	size_t		k = n < 4 ? n : 4;

	buf[0] = '\0';
	for (size_t i = 0; i < k; i++)
		snprintf(buf + 3 * i, 4, i + 1 < k ? "%02x " : "%02x", d[i]);
	return buf;
}

/* Decide the format from the magic bytes; errors for everything but JPEG and PNG. */
static fi_status
sniff_format(const uint8_t *d, size_t n, fi_image_format *fmt, fi_error *err)
{
	const char *name;
	char		hex[12];

	*fmt = FI_FORMAT_UNKNOWN;
	if (n == 0)
		return fi_set_error(err, FI_ERR_CORRUPT, "empty image (0 bytes)");
	if (d[0] == 0xFF && (n == 1 || d[1] == 0xD8))
	{
		if (n < 4)
			return fi_set_error(err, FI_ERR_CORRUPT, "truncated JPEG (%zu byte%s)", n, n == 1 ? "" : "s");
		*fmt = FI_FORMAT_JPEG;
		return FI_OK;
	}
	if (memcmp(d, png_signature, n < 8 ? n : 8) == 0)
	{
		if (n < 8)
			return fi_set_error(err, FI_ERR_CORRUPT, "truncated PNG (%zu bytes)", n);
		*fmt = FI_FORMAT_PNG;
		return FI_OK;
	}
	if (starts_with(d, n, "\x89PNG", 4))
		return fi_set_error(err, FI_ERR_CORRUPT,
							"corrupt PNG: damaged signature (was the file transferred in text mode?)");
	name = unsupported_name(d, n);
	if (name != NULL)
		return fi_set_error(err, FI_ERR_UNSUPPORTED,
							"unsupported image format: %s (faceid reads JPEG and PNG)", name);
	return fi_set_error(err, FI_ERR_UNSUPPORTED,
						"unknown image format (first bytes: %s); faceid reads JPEG and PNG",
						hex_prefix(d, n, hex));
}

/* ---------------------------------------------------------------------
 * Size limits
 * --------------------------------------------------------------------- */

/* FI_OK when a w x h image (from a header) is within max_pixels and memory. */
fi_status
fi_image_check_size(const char *fmt, uint64_t w, uint64_t h, int64_t max_pixels, fi_error *err)
{
	uint64_t	pixels;

	if (w == 0 || h == 0)
		return fi_set_error(err, FI_ERR_CORRUPT, "corrupt %s: header gives a size of %llux%llu",
							fmt, (unsigned long long) w, (unsigned long long) h);
	if (w > INT_MAX || h > INT_MAX)
		return fi_set_error(err, FI_ERR_LIMIT, "%s image of %llux%llu pixels is too large",
							fmt, (unsigned long long) w, (unsigned long long) h);
	pixels = w * h;				/* both < 2^31: no overflow */
	if (pixels > (uint64_t) max_pixels)
		return fi_set_error(err, FI_ERR_LIMIT,
							"%s image of %llux%llu = %llu pixels is over the limit of %lld pixels (faceid.max_image_pixels)",
							fmt, (unsigned long long) w, (unsigned long long) h,
							(unsigned long long) pixels, (long long) max_pixels);
	if (pixels > SIZE_MAX / 4 || pixels > PTRDIFF_MAX / 4)
		return fi_set_error(err, FI_ERR_LIMIT, "%s image of %llux%llu pixels does not fit in memory",
							fmt, (unsigned long long) w, (unsigned long long) h);
	return FI_OK;
}

/* End a decode: free its scratch buffer, and the pixels unless st is FI_OK. */
fi_status
fi_decode_release(fi_status st, void *scratch, uint8_t **rgb)
{
	free(scratch);
	if (st != FI_OK)
	{
		free(*rgb);
		*rgb = NULL;
	}
	return st;
}

/* ---------------------------------------------------------------------
 * Public API
 * --------------------------------------------------------------------- */

/* Printable name of a format. */
const char *
fi_image_format_name(fi_image_format fmt)
{
	switch (fmt)
	{
		case FI_FORMAT_JPEG:
			return "JPEG";
		case FI_FORMAT_PNG:
			return "PNG";
		default:
			return "unknown";
	}
}

/* Format and displayed size from the header alone. */
fi_status
fi_image_probe(const uint8_t *data, size_t len, fi_image_format *fmt,
			   int *width, int *height, fi_error *err)
{
	fi_image_format f;
	fi_status	st;
	int			w = 0,
				h = 0,
				orient = 1;

	if (data == NULL && len > 0)
		return fi_set_error(err, FI_ERR_INVALID, "image data is NULL");
	st = sniff_format(data, len, &f, err);
	if (st == FI_OK && f == FI_FORMAT_PNG)
	{
		uint32_t	pw,
					ph;

		st = fi_png_header_size(data, len, &pw, &ph, err);
		if (st == FI_OK && (pw > INT_MAX || ph > INT_MAX))
			st = fi_set_error(err, FI_ERR_LIMIT, "PNG image of %ux%u pixels is too large", pw, ph);
		w = (int) pw, h = (int) ph;
		orient = fi_png_orientation(data, len);
	}
	else if (st == FI_OK)
		st = fi_jpeg_probe(data, len, &w, &h, &orient, err);
	if (st != FI_OK)
		return st;
	if (fmt != NULL)
		*fmt = f;
	fi_oriented_size(orient, w, h, width != NULL ? width : &w, height != NULL ? height : &h);
	return FI_OK;
}

/* Decode JPEG or PNG bytes into 8-bit RGB with EXIF orientation applied. */
fi_status
fi_image_decode(const uint8_t *data, size_t len, int64_t max_pixels,
				fi_image *out, fi_error *err)
{
	fi_image_format fmt;
	fi_status	st;

	if (out == NULL)
		return fi_set_error(err, FI_ERR_INVALID, "no output image given");
	out->width = out->height = 0;
	out->rgb = NULL;
	if (data == NULL && len > 0)
		return fi_set_error(err, FI_ERR_INVALID, "image data is NULL");
	if (max_pixels <= 0)
		return fi_set_error(err, FI_ERR_INVALID, "max_pixels must be positive, not %lld",
							(long long) max_pixels);
	st = sniff_format(data, len, &fmt, err);
	if (st != FI_OK)
		return st;
	if (fmt == FI_FORMAT_JPEG)
		return fi_jpeg_decode(data, len, max_pixels, out, err);
	return fi_png_decode(data, len, max_pixels, out, err);
}

/* Release the pixels of img. */
void
fi_image_free(fi_image *img)
{
	if (img == NULL)
		return;
	free(img->rgb);
	img->rgb = NULL;
	img->width = img->height = 0;
}

/* Decode a photo at 1/scale (JPEG) or full size (PNG, scale 1). */
fi_status
fi_photo_decode(const uint8_t *data, size_t len, int64_t max_pixels, int scale,
				fi_photo *out, fi_error *err)
{
	fi_image_format fmt;
	fi_status	st;

	if (out == NULL)
		return fi_set_error(err, FI_ERR_INVALID, "no output photo given");
	memset(out, 0, sizeof(*out));
	out->scale = 1;
	if (scale <= 1 || data == NULL || len == 0 ||
		sniff_format(data, len, &fmt, NULL) != FI_OK || fmt != FI_FORMAT_JPEG)
		st = fi_image_decode(data, len, max_pixels, &out->img, err);
	else if (max_pixels <= 0)
		st = fi_set_error(err, FI_ERR_INVALID, "max_pixels must be positive, not %lld",
						  (long long) max_pixels);
	else if ((st = fi_image_probe(data, len, NULL, &out->width, &out->height, err)) == FI_OK &&
			 (st = fi_jpeg_decode_scaled(data, len, max_pixels, scale, &out->img, err)) == FI_OK)
	{
		out->scale = scale;
		out->data = data;
		out->len = len;
		out->max_pixels = max_pixels;
		return FI_OK;
	}
	if (st != FI_OK)
		return st;
	out->width = out->img.width;
	out->height = out->img.height;
	return FI_OK;
}

/* A scale-1 photo over the caller's pixels. */
fi_photo
fi_photo_of_image(const fi_image *img)
{
	fi_photo	ph = {*img, 1, img->width, img->height, NULL, 0, 0};

	return ph;
}

/* Full-size pixels of a rect of the photo. */
fi_status
fi_photo_region(const fi_photo *ph, int x, int y, int w, int h, fi_image *out, fi_error *err)
{
	out->width = out->height = 0;
	out->rgb = NULL;
	if (w <= 0 || h <= 0 || x < 0 || y < 0 || x > ph->width - w || y > ph->height - h)
		return fi_set_error(err, FI_ERR_INVALID, "region %dx%d at (%d, %d) is not inside the %dx%d photo",
							w, h, x, y, ph->width, ph->height);
	if (ph->scale > 1)
		return fi_jpeg_decode_region(ph->data, ph->len, ph->max_pixels, x, y, w, h, out, err);
	if ((out->rgb = malloc((size_t) w * h * 3)) == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory for a %dx%d region", w, h);
	out->width = w;
	out->height = h;
	for (int r = 0; r < h; r++)
		memcpy(out->rgb + (size_t) r * w * 3,
			   ph->img.rgb + ((size_t) (y + r) * ph->img.width + x) * 3, (size_t) w * 3);
	return FI_OK;
}

/* Free a photo's pixels. */
void
fi_photo_free(fi_photo *ph)
{
	if (ph != NULL)
		fi_image_free(&ph->img);
}
