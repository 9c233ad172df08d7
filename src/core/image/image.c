/*
 * image.c
 *	  JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB.
 *
 * Both libraries report fatal errors through a callback that must not
 * return; ours longjmp back to a setjmp inside this file, so no jump ever
 * leaves the decoder.  Everything a decode owns lives in a "job" struct that
 * the setjmp function reaches through a pointer, so a longjmp cannot clobber
 * it and the cleanup after the jump frees exactly what was allocated.
 *
 * Choices:
 *  - zero bytes are FI_ERR_CORRUPT ("empty image"): an empty bytea is not an
 *    image in any format, and DESIGN.md maps bad bytes to 22P03;
 *  - every libjpeg warning that means lost pixel data (premature end of file,
 *    bad Huffman code, hit marker, ...) is an error, because libjpeg would
 *    otherwise fill the rest with grey.  A JPEG without its final EOI marker
 *    is therefore "truncated".  Harmless warnings (unknown JFIF revision,
 *    unknown Adobe transform, junk bytes just before EOI) are ignored;
 *  - PNG alpha and tRNS are dropped (not composited), as face-api/tf.node
 *    does; a CRC error in any chunk, critical or ancillary, is an error;
 *  - PNG 16-bit samples are scaled to 8 bits with rounding (png_set_scale_16);
 *  - CMYK/YCCK JPEGs with an Adobe APP14 marker are taken as inverted CMYK
 *    (what Photoshop writes), others as plain CMYK;
 *  - EXIF orientation comes from the first APP1 "Exif" segment of a JPEG or
 *    the eXIf chunk of a PNG (IFD0 tag 0x0112); a missing or malformed value
 *    means 1 (as stored).
 */
#include "image/image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

/* A progressive JPEG with more scans than this is a CPU bomb, not a photo. */
#define FI_JPEG_MAX_SCANS 500

/* libpng's cap on one ancillary chunk (iCCP, text, eXIf), in bytes. */
#define FI_PNG_CHUNK_MAX 8000000

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
 * EXIF orientation
 * --------------------------------------------------------------------- */

/* 16-bit TIFF integer at p in the file's byte order. */
static uint32_t
tiff_u16(const uint8_t *p, bool big_endian)
{
	return big_endian ? ((uint32_t) p[0] << 8 | p[1]) : ((uint32_t) p[1] << 8 | p[0]);
}

/* 32-bit TIFF integer at p in the file's byte order. */
static uint32_t
tiff_u32(const uint8_t *p, bool big_endian)
{
	return big_endian
		? ((uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3])
		: ((uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0]);
}

/* Orientation value of one IFD entry (tag 0x0112), or 1 when unusable. */
static int
tiff_orientation_value(const uint8_t *e, bool be)
{
	uint32_t	type = tiff_u16(e + 2, be);
	uint32_t	count = tiff_u32(e + 4, be);
	uint32_t	v;

	if (count < 1)
		return 1;
	if (type == 3)				/* SHORT, the only type the standard allows */
		v = tiff_u16(e + 8, be);
	else if (type == 4)			/* LONG, written by some broken tools */
		v = tiff_u32(e + 8, be);
	else if (type == 1)			/* BYTE */
		v = e[8];
	else
		return 1;
	return (v >= 1 && v <= 8) ? (int) v : 1;
}

/* Orientation (1-8) from a TIFF structure; 1 when absent or malformed. */
static int
tiff_orientation(const uint8_t *t, size_t n)
{
	bool		be;
	uint32_t	ifd;
	size_t		count;

	if (n < 8)
		return 1;
	if (t[0] == 'I' && t[1] == 'I')
		be = false;
	else if (t[0] == 'M' && t[1] == 'M')
		be = true;
	else
		return 1;
	if (tiff_u16(t + 2, be) != 42)
		return 1;
	ifd = tiff_u32(t + 4, be);
	if (ifd < 8 || ifd > n - 2)
		return 1;
	count = tiff_u16(t + ifd, be);
	if (count > (n - ifd - 2) / 12)
		count = (n - ifd - 2) / 12; /* a cut IFD: read what is there */
	for (size_t i = 0; i < count; i++)
	{
		const uint8_t *e = t + ifd + 2 + 12 * i;

		if (tiff_u16(e, be) == 0x0112)
			return tiff_orientation_value(e, be);
	}
	return 1;
}

/* Orientation from an Exif block: "Exif\0\0" + TIFF (JPEG APP1) or bare TIFF (PNG eXIf). */
static int
exif_orientation(const uint8_t *p, size_t n)
{
	if (n >= 6 && memcmp(p, "Exif\0", 5) == 0)
		return tiff_orientation(p + 6, n - 6);
	return tiff_orientation(p, n);
}

/* Size of the image once an orientation is applied (5-8 swap the axes). */
static void
oriented_size(int orient, int w, int h, int *ow, int *oh)
{
	bool		swap = orient >= 5 && orient <= 8;

	*ow = swap ? h : w;
	*oh = swap ? w : h;
}

/*
 * Copy stored row y (w RGB pixels of a w x h image) to where orientation
 * orient puts it in dst: pixel x lands at pixel index start + x * step.
 */
static void
place_row(uint8_t *dst, const uint8_t *row, int orient, int w, int h, int y)
{
	ptrdiff_t	ow = (orient >= 5) ? h : w;
	ptrdiff_t	start,
				step;

	switch (orient)
	{
		case 2:					/* mirrored left-right */
			start = y * ow + (w - 1), step = -1;
			break;
		case 3:					/* rotated 180 */
			start = (ptrdiff_t) (h - 1 - y) * ow + (w - 1), step = -1;
			break;
		case 4:					/* mirrored top-bottom */
			start = (ptrdiff_t) (h - 1 - y) * ow, step = 1;
			break;
		case 5:					/* transposed */
			start = y, step = ow;
			break;
		case 6:					/* shown rotated 90 clockwise */
			start = h - 1 - y, step = ow;
			break;
		case 7:					/* transverse */
			start = (ptrdiff_t) (w - 1) * ow + (h - 1 - y), step = -ow;
			break;
		case 8:					/* shown rotated 90 counter-clockwise */
			start = (ptrdiff_t) (w - 1) * ow + y, step = -ow;
			break;
		default:				/* 1: as stored */
			memcpy(dst + (size_t) y * w * 3, row, (size_t) w * 3);
			return;
	}
	for (int x = 0; x < w; x++)
	{
		uint8_t    *p = dst + (start + x * step) * 3;

		p[0] = row[3 * x];
		p[1] = row[3 * x + 1];
		p[2] = row[3 * x + 2];
	}
}

/* ---------------------------------------------------------------------
 * Size limits
 * --------------------------------------------------------------------- */

/* FI_OK when a w x h image (from a header) is within max_pixels and memory. */
static fi_status
check_size(const char *fmt, uint64_t w, uint64_t h, int64_t max_pixels, fi_error *err)
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

/* ---------------------------------------------------------------------
 * JPEG
 * --------------------------------------------------------------------- */

typedef struct jd_errmgr
{
	struct jpeg_error_mgr pub;	/* must be first: libjpeg sees only this */
	jmp_buf		jump;
	fi_status	code;
	char		msg[JMSG_LENGTH_MAX + 64];
} jd_errmgr;

/* Everything one JPEG decode owns, reached by pointer across the longjmp. */
typedef struct jd_job
{
	struct jpeg_decompress_struct cinfo;
	jd_errmgr err;
	struct jpeg_progress_mgr progress;
	const uint8_t *data;
	size_t		len;
	int64_t		max_pixels;
	int			width,
				height,
				orientation;
	uint8_t    *rgb;
	uint8_t    *row;
} jd_job;

/* Record status and message, then jump back to the decoder's setjmp. */
static void
jd_fail(j_common_ptr c, fi_status code, const char *prefix)
{
	jd_errmgr *e = (jd_errmgr *) c->err;
	char		buf[JMSG_LENGTH_MAX];

	c->err->format_message(c, buf);
	e->code = code;
	snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, buf);
	longjmp(e->jump, 1);
}

/* libjpeg fatal error: classify it and leave libjpeg. */
static void
jd_on_error(j_common_ptr c)
{
	switch (c->err->msg_code)
	{
		case JERR_OUT_OF_MEMORY:
			jd_fail(c, FI_ERR_NOMEM, "out of memory decoding JPEG");
			break;
		case JERR_BAD_PRECISION:
		case JERR_SOF_UNSUPPORTED:
		case JERR_CONVERSION_NOTIMPL:
		case JERR_NOT_COMPILED:
		case JERR_ARITH_NOTIMPL:
			jd_fail(c, FI_ERR_UNSUPPORTED, "unsupported JPEG");
			break;
		case JERR_IMAGE_TOO_BIG:
		case JERR_WIDTH_OVERFLOW:
			jd_fail(c, FI_ERR_LIMIT, "JPEG too large");
			break;
		case JERR_NO_BACKING_STORE:
			jd_fail(c, FI_ERR_LIMIT, "JPEG needs more working memory than its size allows");
			break;
		default:
			jd_fail(c, FI_ERR_CORRUPT, "corrupt JPEG");
			break;
	}
}

/* True for libjpeg warnings that do not mean lost pixel data. */
static bool
jd_warning_is_harmless(const struct jpeg_error_mgr *e)
{
	switch (e->msg_code)
	{
		case JWRN_JFIF_MAJOR:
		case JWRN_ADOBE_XFORM:
		case JWRN_BOGUS_ICC:
			return true;
		case JWRN_EXTRANEOUS_DATA:
			/* junk between the last scan and EOI: every pixel was decoded */
			return e->msg_parm.i[1] == (JPEG_EOI & 0xFF);
		default:
			return false;
	}
}

/* libjpeg message: traces are ignored, data-loss warnings become errors. */
static void
jd_on_message(j_common_ptr c, int level)
{
	if (level >= 0 || jd_warning_is_harmless(c->err))
		return;
	jd_fail(c, FI_ERR_CORRUPT, "corrupt or truncated JPEG");
}

/* libjpeg wants to print: never, the message travels in the fi_error. */
static void
jd_silent(j_common_ptr c)
{
}

/* Progress callback: stop JPEGs with an absurd number of progressive scans. */
static void
jd_on_progress(j_common_ptr c)
{
	j_decompress_ptr d = (j_decompress_ptr) c;
	jd_errmgr *e = (jd_errmgr *) c->err;

	if (d->input_scan_number > FI_JPEG_MAX_SCANS)
	{
		e->code = FI_ERR_LIMIT;
		snprintf(e->msg, sizeof(e->msg), "JPEG has more than %d scans", FI_JPEG_MAX_SCANS);
		longjmp(e->jump, 1);
	}
}

/* Orientation from the first APP1 Exif segment that libjpeg saved. */
static int
jd_orientation(j_decompress_ptr ci)
{
	for (jpeg_saved_marker_ptr m = ci->marker_list; m != NULL; m = m->next)
		if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
			memcmp(m->data, "Exif\0", 5) == 0)
			return exif_orientation(m->data, m->data_length);
	return 1;
}

/* CMYK samples to RGB, in place (RGB is shorter, so a forward pass is safe). */
static void
cmyk_to_rgb(uint8_t *row, int w, bool inverted)
{
	for (int x = 0; x < w; x++)
	{
		unsigned	c = row[4 * x],
					m = row[4 * x + 1],
					y = row[4 * x + 2],
					k = row[4 * x + 3];

		if (!inverted)
			c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
		/* now c,m,y,k are "amount of light left": R = (1-C)(1-K) */
		row[3 * x] = (uint8_t) ((c * k + 127) / 255);
		row[3 * x + 1] = (uint8_t) ((m * k + 127) / 255);
		row[3 * x + 2] = (uint8_t) ((y * k + 127) / 255);
	}
}

/*
 * libjpeg's working-memory cap for this image: the whole-image coefficient
 * arrays a multi-scan JPEG needs (padded to whole MCUs, 64 JCOEFs a block)
 * plus room for the row buffers and tables.  Above it libjpeg would want a
 * backing store and fails, so no JPEG gets memory out of proportion to the
 * size that check_size() accepted.
 */
static long
jd_memory_bound(j_decompress_ptr ci)
{
	size_t		need = 16 * 1024 * 1024 + (size_t) ci->image_width * 64 * ci->num_components;

	for (int i = 0; i < ci->num_components; i++)
	{
		const jpeg_component_info *c = &ci->comp_info[i];
		size_t		bw = (c->width_in_blocks + c->h_samp_factor - 1) / c->h_samp_factor * c->h_samp_factor;
		size_t		bh = (c->height_in_blocks + c->v_samp_factor - 1) / c->v_samp_factor * c->v_samp_factor;

		need += bw * bh * DCTSIZE2 * sizeof(JCOEF);
	}
	return need > LONG_MAX ? LONG_MAX : (long) need;
}

/* Decode the pixels after jpeg_read_header; longjmps out on libjpeg errors. */
static fi_status
jd_read_pixels(jd_job *job, fi_error *err)
{
	j_decompress_ptr ci = &job->cinfo;
	bool		cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
	int			comps = cmyk ? 4 : 3;
	int			w = job->width,
				h = job->height;

	ci->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	ci->mem->max_memory_to_use = jd_memory_bound(ci);
	jpeg_start_decompress(ci);
	if ((int) ci->output_width != w || (int) ci->output_height != h ||
		ci->output_components != comps)
		return fi_set_error(err, FI_ERR_INTERNAL, "libjpeg output is %ux%u x %d, expected %dx%d x %d",
							ci->output_width, ci->output_height, ci->output_components, w, h, comps);
	job->rgb = malloc((size_t) w * h * 3);
	job->row = malloc((size_t) w * comps);
	if (job->rgb == NULL || job->row == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory for a %dx%d JPEG", w, h);
	while (ci->output_scanline < ci->output_height)
	{
		int			y = (int) ci->output_scanline;
		JSAMPROW	rows[1] = {job->row};

		if (jpeg_read_scanlines(ci, rows, 1) != 1)
			return fi_set_error(err, FI_ERR_CORRUPT, "corrupt JPEG: no data for row %d", y);
		if (cmyk)
			cmyk_to_rgb(job->row, w, ci->saw_Adobe_marker);
		place_row(job->rgb, job->row, job->orientation, w, h, y);
	}
	jpeg_finish_decompress(ci);
	return FI_OK;
}

/* Create the decompressor, read the header and, unless header_only, the pixels. */
static fi_status
jd_steps(jd_job *job, bool header_only, fi_error *err)
{
	j_decompress_ptr ci = &job->cinfo;
	fi_status	st;

	jpeg_create_decompress(ci);
	job->progress.progress_monitor = jd_on_progress;
	ci->progress = &job->progress;
	jpeg_mem_src(ci, job->data, (unsigned long) job->len);
	jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
	jpeg_read_header(ci, TRUE);
	job->width = (int) ci->image_width;
	job->height = (int) ci->image_height;
	job->orientation = jd_orientation(ci);
	if (header_only)
		return FI_OK;
	st = check_size("JPEG", ci->image_width, ci->image_height, job->max_pixels, err);
	if (st != FI_OK)
		return st;
	return jd_read_pixels(job, err);
}

/* Release libjpeg and the row buffer; the pixels too unless st is FI_OK. */
static fi_status
jd_cleanup(jd_job *job, fi_status st)
{
	jpeg_destroy_decompress(&job->cinfo);
	free(job->row);
	job->row = NULL;
	if (st != FI_OK)
	{
		free(job->rgb);
		job->rgb = NULL;
	}
	return st;
}

/* Run one JPEG job; the only setjmp of the JPEG path. */
static fi_status
jd_run(jd_job *job, bool header_only, fi_error *err)
{
	job->cinfo.err = jpeg_std_error(&job->err.pub);
	job->err.pub.error_exit = jd_on_error;
	job->err.pub.emit_message = jd_on_message;
	job->err.pub.output_message = jd_silent;
	if (setjmp(job->err.jump))
	{
		fi_set_error(err, job->err.code, "%s", job->err.msg);
		return jd_cleanup(job, job->err.code);
	}
	return jd_cleanup(job, jd_steps(job, header_only, err));
}

/* ---------------------------------------------------------------------
 * PNG
 * --------------------------------------------------------------------- */

/* Everything one PNG decode owns, reached by pointer across the longjmp. */
typedef struct pd_job
{
	const uint8_t *data;
	size_t		len;
	size_t		pos;
	int64_t		max_pixels;
	bool		armed;			/* the setjmp below is live */
	jmp_buf		jump;
	char		msg[256];
	png_structp png;
	png_infop	info;
	png_bytep  *rows;
	uint8_t    *rgb;
	int			width,
				height;
} pd_job;

/* libpng fatal error: keep the message and jump back to the decoder. */
static void
pd_on_error(png_structp png, png_const_charp msg)
{
	pd_job    *job = png_get_error_ptr(png);

	if (job == NULL || !job->armed)
		return;					/* during png_create_*: libpng's own handler takes over */
	snprintf(job->msg, sizeof(job->msg), "%s", msg);
	longjmp(job->jump, 1);
}

/* libpng warning (bad ancillary data it skips): not worth reporting. */
static void
pd_on_warning(png_structp png, png_const_charp msg)
{
}

/* libpng read callback over the input bytes; running out is "truncated". */
static void
pd_read_mem(png_structp png, png_bytep out, size_t n)
{
	pd_job    *job = png_get_io_ptr(png);

	if (n > job->len - job->pos)
		png_error(png, "unexpected end of data (truncated file)");
	memcpy(out, job->data + job->pos, n);
	job->pos += n;
}

/* Big-endian 32-bit integer at p. */
static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* Width and height from the IHDR that must follow the signature. */
static fi_status
pd_header_size(const uint8_t *d, size_t n, uint32_t *w, uint32_t *h, fi_error *err)
{
	if (n < 8 + 8 + 13 + 4)
		return fi_set_error(err, FI_ERR_CORRUPT, "truncated PNG (%zu bytes, no complete IHDR)", n);
	if (be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0)
		return fi_set_error(err, FI_ERR_CORRUPT, "corrupt PNG: first chunk is not a 13-byte IHDR");
	*w = be32(d + 16);
	*h = be32(d + 20);
	if (*w == 0 || *h == 0 || *w > PNG_UINT_31_MAX || *h > PNG_UINT_31_MAX)
		return fi_set_error(err, FI_ERR_CORRUPT, "corrupt PNG: IHDR gives a size of %ux%u", *w, *h);
	return FI_OK;
}

/* Orientation from the first eXIf chunk, found by walking the chunk list. */
static int
pd_orientation(const uint8_t *d, size_t n)
{
	size_t		pos = 8;

	while (n - pos >= 12)
	{
		uint32_t	clen = be32(d + pos);
		const uint8_t *type = d + pos + 4;

		if (clen > n - pos - 12)
			return 1;			/* cut chunk: libpng will complain about it */
		if (memcmp(type, "eXIf", 4) == 0)
			return exif_orientation(d + pos + 8, clen);
		if (memcmp(type, "IEND", 4) == 0)
			return 1;
		pos += 12 + (size_t) clen;
	}
	return 1;
}

/* Ask libpng for 8-bit RGB whatever the stored colour type, alpha dropped. */
static void
pd_want_rgb8(png_structp png, png_infop info)
{
	int			type = png_get_color_type(png, info);
	int			depth = png_get_bit_depth(png, info);

	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (depth == 16)
		png_set_scale_16(png);
	if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA)
		png_set_gray_to_rgb(png);
	png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
}

/* Decode after png_read_info; longjmps out on libpng errors. */
static fi_status
pd_read_pixels(pd_job *job, fi_error *err)
{
	png_structp png = job->png;
	png_infop	info = job->info;
	fi_status	st;
	size_t		stride;

	job->width = (int) png_get_image_width(png, info);
	job->height = (int) png_get_image_height(png, info);
	st = check_size("PNG", png_get_image_width(png, info), png_get_image_height(png, info),
					job->max_pixels, err);
	if (st != FI_OK)
		return st;
	pd_want_rgb8(png, info);
	stride = (size_t) job->width * 3;
	if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
		png_get_rowbytes(png, info) != stride)
		return fi_set_error(err, FI_ERR_INTERNAL, "libpng gives %d channels of %d bits, expected 8-bit RGB",
							png_get_channels(png, info), png_get_bit_depth(png, info));
	job->rgb = malloc(stride * job->height);
	job->rows = malloc(sizeof(png_bytep) * job->height);
	if (job->rgb == NULL || job->rows == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory for a %dx%d PNG", job->width, job->height);
	for (int y = 0; y < job->height; y++)
		job->rows[y] = job->rgb + stride * y;
	png_read_image(png, job->rows);
	png_read_end(png, info);	/* checks the CRCs and chunks up to IEND */
	return FI_OK;
}

/* Map a libpng error message to a status. */
static fi_status
pd_error_status(const char *msg)
{
	if (strstr(msg, "memory") != NULL)
		return FI_ERR_NOMEM;
	if (strstr(msg, "exceeds user limit") != NULL)
		return FI_ERR_LIMIT;
	return FI_ERR_CORRUPT;
}

/* Configure libpng for our input and limits, then decode. */
static fi_status
pd_steps(pd_job *job, fi_error *err)
{
	png_uint_32 dim_max = job->max_pixels > PNG_UINT_31_MAX
		? PNG_UINT_31_MAX : (png_uint_32) job->max_pixels;

	png_set_read_fn(job->png, job, pd_read_mem);
	png_set_user_limits(job->png, dim_max, dim_max);
	png_set_chunk_malloc_max(job->png, FI_PNG_CHUNK_MAX);
	png_set_crc_action(job->png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
	png_read_info(job->png, job->info);
	return pd_read_pixels(job, err);
}

/* Release libpng and the row pointers; the pixels too unless st is FI_OK. */
static fi_status
pd_cleanup(pd_job *job, fi_status st)
{
	job->armed = false;
	png_destroy_read_struct(&job->png, &job->info, NULL);
	free(job->rows);
	job->rows = NULL;
	if (st != FI_OK)
	{
		free(job->rgb);
		job->rgb = NULL;
	}
	return st;
}

/* Run one PNG job up to the stored-orientation pixels; the only setjmp of the PNG path. */
static fi_status
pd_run(pd_job *job, fi_error *err)
{
	job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, pd_on_error, pd_on_warning);
	if (job->png == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory creating the PNG decoder");
	job->info = png_create_info_struct(job->png);
	if (job->info == NULL)
	{
		png_destroy_read_struct(&job->png, NULL, NULL);
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory creating the PNG decoder");
	}
	job->armed = true;
	if (setjmp(job->jump))
	{
		fi_status	code = pd_error_status(job->msg);

		fi_set_error(err, code, "%s PNG: %s",
					 code == FI_ERR_CORRUPT ? "corrupt" : "cannot decode", job->msg);
		return pd_cleanup(job, code);
	}
	return pd_cleanup(job, pd_steps(job, err));
}

/* Decode a PNG into *out, orientation applied. */
static fi_status
pd_decode(const uint8_t *data, size_t len, int64_t max_pixels, fi_image *out, fi_error *err)
{
	pd_job		job;
	uint32_t	w,
				h;
	int			orient;
	fi_status	st;

	st = pd_header_size(data, len, &w, &h, err);
	if (st == FI_OK)
		st = check_size("PNG", w, h, max_pixels, err);	/* before libpng allocates anything */
	if (st != FI_OK)
		return st;
	memset(&job, 0, sizeof(job));
	job.data = data;
	job.len = len;
	job.max_pixels = max_pixels;
	st = pd_run(&job, err);
	if (st != FI_OK)
		return st;
	orient = pd_orientation(data, len);
	if (orient != 1)
	{
		uint8_t    *turned = malloc((size_t) job.width * job.height * 3);

		if (turned == NULL)
		{
			free(job.rgb);
			return fi_set_error(err, FI_ERR_NOMEM, "out of memory rotating a %dx%d PNG", job.width, job.height);
		}
		for (int y = 0; y < job.height; y++)
			place_row(turned, job.rgb + (size_t) y * job.width * 3, orient, job.width, job.height, y);
		free(job.rgb);
		job.rgb = turned;
	}
	oriented_size(orient, job.width, job.height, &out->width, &out->height);
	out->rgb = job.rgb;
	return FI_OK;
}

/* Decode a JPEG into *out, orientation applied. */
static fi_status
jd_decode(const uint8_t *data, size_t len, int64_t max_pixels, fi_image *out, fi_error *err)
{
	jd_job   *job = calloc(1, sizeof(jd_job));	/* ~1 kB of libjpeg state */
	fi_status	st;

	if (job == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory creating the JPEG decoder");
	job->data = data;
	job->len = len;
	job->max_pixels = max_pixels;
	st = jd_run(job, false, err);
	if (st == FI_OK)
	{
		oriented_size(job->orientation, job->width, job->height, &out->width, &out->height);
		out->rgb = job->rgb;
	}
	free(job);
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

		st = pd_header_size(data, len, &pw, &ph, err);
		if (st == FI_OK && (pw > INT_MAX || ph > INT_MAX))
			st = fi_set_error(err, FI_ERR_LIMIT, "PNG image of %ux%u pixels is too large", pw, ph);
		w = (int) pw, h = (int) ph;
		orient = pd_orientation(data, len);
	}
	else if (st == FI_OK)
	{
		jd_job   *job = calloc(1, sizeof(jd_job));

		if (job == NULL)
			return fi_set_error(err, FI_ERR_NOMEM, "out of memory creating the JPEG decoder");
		job->data = data;
		job->len = len;
		st = jd_run(job, true, err);
		w = job->width, h = job->height, orient = job->orientation;
		free(job);
	}
	if (st != FI_OK)
		return st;
	if (fmt != NULL)
		*fmt = f;
	oriented_size(orient, w, h, width != NULL ? width : &w, height != NULL ? height : &h);
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
		return jd_decode(data, len, max_pixels, out, err);
	return pd_decode(data, len, max_pixels, out, err);
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
