/*
 * jpeg.c
 *	  JPEG decoding to 8-bit RGB with libjpeg-turbo, EXIF orientation applied.
 *
 * The library reports fatal errors through a callback that must not return;
 * ours longjmps back to a setjmp inside this file, so no jump ever leaves
 * the decoder.  Everything a decode owns lives in a "job" struct that the
 * setjmp function reaches through a pointer, so a longjmp cannot clobber it
 * and the cleanup after the jump frees exactly what was allocated.
 *
 * Choices:
 *  - every libjpeg warning that means lost pixel data (premature end of file,
 *    bad Huffman code, hit marker, ...) is an error, because libjpeg would
 *    otherwise fill the rest with grey.  A JPEG without its final EOI marker
 *    is therefore "truncated".  Harmless warnings (unknown JFIF revision,
 *    unknown Adobe transform, junk bytes just before EOI) are ignored;
 *  - CMYK/YCCK JPEGs with an Adobe APP14 marker are taken as inverted CMYK
 *    (what Photoshop writes), others as plain CMYK;
 *  - EXIF orientation comes from the first APP1 "Exif" segment;
 *  - a scaled decode (1/2, 1/4, 1/8: libjpeg-turbo's reduced IDCTs) still
 *    reads every scan to the EOI, so it finds exactly the corrupt and
 *    truncated files the full decode finds; a region decode (the pixels of
 *    one rectangle at full size, for the faces found on a scaled decode)
 *    skips the rows above it without their IDCT and stops after its last
 *    row.  Both check the header's size against max_pixels as the full
 *    decode does.
 */
#include "image/decode.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* A progressive JPEG with more scans than this is a CPU bomb, not a photo. */
#define FI_JPEG_MAX_SCANS 500

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
	int			scale;			/* decode at 1/scale (1, 2, 4 or 8) */
	bool		region;			/* decode only rect (stored, full-size coordinates) */
	int			rx,
				ry,
				rw,
				rh;
	int			out_w,
				out_h;			/* stored size of what was decoded */
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
			return fi_exif_orientation(m->data, m->data_length);
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
 * size that fi_image_check_size() accepted.
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

/* Allocate the output and the row buffer of a w x h (stored) decode. */
static fi_status
jd_alloc(jd_job *job, int w, int h, int row_px, int comps, fi_error *err)
{
	job->out_w = w;
	job->out_h = h;
	job->rgb = malloc((size_t) w * h * 3);
	job->row = malloc((size_t) row_px * comps);
	if (job->rgb == NULL || job->row == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory for a %dx%d JPEG", w, h);
	return FI_OK;
}

/* Read one scanline into job->row, as RGB; longjmps out on libjpeg errors. */
static fi_status
jd_read_row(jd_job *job, bool cmyk, int w, fi_error *err)
{
	j_decompress_ptr ci = &job->cinfo;
	JSAMPROW	rows[1] = {job->row};
	int			y = (int) ci->output_scanline;

	if (jpeg_read_scanlines(ci, rows, 1) != 1)
		return fi_set_error(err, FI_ERR_CORRUPT, "corrupt JPEG: no data for row %d", y);
	if (cmyk)
		cmyk_to_rgb(job->row, w, ci->saw_Adobe_marker);
	return FI_OK;
}

/*
 * Margin decoded around a region: libjpeg's fancy upsampling treats the
 * edges of a cropped or skipped-to band as image edges, so the pixels next
 * to them differ from the full decode's (test_image_scaled: up to every row
 * of a region without margin).  With a margin they are the full decode's,
 * bit for bit: the tests pass from 8 on with 4:2:0; 32 is one iMCU of the
 * widest sampling (4:1:1).
 */
#define REGION_PAD 32

/*
 * The rows and columns of job's rect only: libjpeg-turbo crops the
 * scanlines to whole iMCUs around the rect's columns (plus REGION_PAD)
 * and skips the rows above it (less REGION_PAD); the rect's pixels are
 * then cut out of the rows read.
 */
static fi_status
jd_read_region(jd_job *job, bool cmyk, int comps, fi_error *err)
{
	j_decompress_ptr ci = &job->cinfo;
	int			x0 = job->rx > REGION_PAD ? job->rx - REGION_PAD : 0,
				x1 = job->rx + job->rw + REGION_PAD < job->width ? job->rx + job->rw + REGION_PAD : job->width,
				y0 = job->ry > REGION_PAD ? job->ry - REGION_PAD : 0,
				y1 = job->ry + job->rh + REGION_PAD < job->height ? job->ry + job->rh + REGION_PAD : job->height;
	JDIMENSION	xoff = (JDIMENSION) x0,
				cw = (JDIMENSION) (x1 - x0);
	fi_status	st;

	jpeg_crop_scanline(ci, &xoff, &cw);
	if ((int) xoff > job->rx || (int) (xoff + cw) < job->rx + job->rw)
		return fi_set_error(err, FI_ERR_INTERNAL, "libjpeg cropped columns %u..%u, not around %d..%d",
							xoff, xoff + cw, job->rx, job->rx + job->rw);
	if ((st = jd_alloc(job, job->rw, job->rh, (int) cw, comps, err)) != FI_OK)
		return st;
	if (y0 > 0 && jpeg_skip_scanlines(ci, (JDIMENSION) y0) != (JDIMENSION) y0)
		return fi_set_error(err, FI_ERR_CORRUPT, "corrupt JPEG: rows above %d missing", y0);
	for (int y = y0; y < y1; y++)
	{
		if ((st = jd_read_row(job, cmyk, (int) cw, err)) != FI_OK)
			return st;
		if (y >= job->ry && y < job->ry + job->rh)
			fi_place_row(job->rgb, job->row + (size_t) (job->rx - (int) xoff) * 3, job->orientation,
						 job->rw, job->rh, y - job->ry);
	}
	jpeg_abort_decompress(ci);	/* the rows below are not needed */
	return FI_OK;
}

/* Decode the pixels after jpeg_read_header; longjmps out on libjpeg errors. */
static fi_status
jd_read_pixels(jd_job *job, fi_error *err)
{
	j_decompress_ptr ci = &job->cinfo;
	bool		cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
	int			comps = cmyk ? 4 : 3;
	int			s = job->scale;
	int			w = (job->width + s - 1) / s,
				h = (job->height + s - 1) / s;
	fi_status	st;

	ci->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	ci->scale_num = 1;
	ci->scale_denom = (unsigned) s;
	ci->mem->max_memory_to_use = jd_memory_bound(ci);
	jpeg_start_decompress(ci);
	if ((int) ci->output_width != w || (int) ci->output_height != h ||
		ci->output_components != comps)
		return fi_set_error(err, FI_ERR_INTERNAL, "libjpeg output is %ux%u x %d, expected %dx%d x %d",
							ci->output_width, ci->output_height, ci->output_components, w, h, comps);
	if (job->region)
		return jd_read_region(job, cmyk, comps, err);
	if ((st = jd_alloc(job, w, h, w, comps, err)) != FI_OK)
		return st;
	while (ci->output_scanline < ci->output_height)
	{
		int			y = (int) ci->output_scanline;

		if ((st = jd_read_row(job, cmyk, w, err)) != FI_OK)
			return st;
		fi_place_row(job->rgb, job->row, job->orientation, w, h, y);
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
	st = fi_image_check_size("JPEG", ci->image_width, ci->image_height, job->max_pixels, err);
	if (st != FI_OK)
		return st;
	return jd_read_pixels(job, err);
}

/* Release libjpeg and the row buffer; the pixels too unless st is FI_OK. */
static fi_status
jd_cleanup(jd_job *job, fi_status st)
{
	jpeg_destroy_decompress(&job->cinfo);
	st = fi_decode_release(st, job->row, &job->rgb);
	job->row = NULL;
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

/* Run a decode job set up by the caller; on success hand its pixels to *out. */
static fi_status
jd_decode_job(jd_job *job, fi_image *out, fi_error *err)
{
	fi_status	st = jd_run(job, false, err);

	if (st == FI_OK)
	{
		fi_oriented_size(job->orientation, job->out_w, job->out_h, &out->width, &out->height);
		out->rgb = job->rgb;
	}
	free(job);
	return st;
}

/* A new job on data, or NULL when out of memory (then err is set). */
static jd_job *
jd_new(const uint8_t *data, size_t len, int64_t max_pixels, fi_error *err)
{
	jd_job	   *job = calloc(1, sizeof(jd_job));	/* ~1 kB of libjpeg state */

	if (job == NULL)
	{
		fi_set_error(err, FI_ERR_NOMEM, "out of memory creating the JPEG decoder");
		return NULL;
	}
	job->data = data;
	job->len = len;
	job->max_pixels = max_pixels;
	job->scale = 1;
	return job;
}

/* Decode a JPEG into *out, orientation applied. */
fi_status
fi_jpeg_decode(const uint8_t *data, size_t len, int64_t max_pixels, fi_image *out, fi_error *err)
{
	return fi_jpeg_decode_scaled(data, len, max_pixels, 1, out, err);
}

/* Decode a JPEG at 1/scale (each side rounded up), orientation applied. */
fi_status
fi_jpeg_decode_scaled(const uint8_t *data, size_t len, int64_t max_pixels, int scale,
					  fi_image *out, fi_error *err)
{
	jd_job	   *job;

	if (scale != 1 && scale != 2 && scale != 4 && scale != 8)
		return fi_set_error(err, FI_ERR_INVALID, "JPEG scale 1/%d is not 1, 1/2, 1/4 or 1/8", scale);
	if ((job = jd_new(data, len, max_pixels, err)) == NULL)
		return FI_ERR_NOMEM;
	job->scale = scale;
	return jd_decode_job(job, out, err);
}

/*
 * The full-size pixels of the rect (x, y, w, h) of the photo as shown
 * (orientation applied), which must lie inside it: the rect is mapped to
 * the stored image, decoded alone and oriented.
 */
fi_status
fi_jpeg_decode_region(const uint8_t *data, size_t len, int64_t max_pixels, int x, int y,
					  int w, int h, fi_image *out, fi_error *err)
{
	int			sw,
				sh,
				orient,
				ow,
				oh;
	jd_job	   *job;
	fi_status	st;

	if ((st = fi_jpeg_probe(data, len, &sw, &sh, &orient, err)) != FI_OK)
		return st;
	fi_oriented_size(orient, sw, sh, &ow, &oh);
	if (w <= 0 || h <= 0 || x < 0 || y < 0 || x > ow - w || y > oh - h)
		return fi_set_error(err, FI_ERR_INVALID, "region %dx%d at (%d, %d) is not inside the %dx%d JPEG",
							w, h, x, y, ow, oh);
	if ((job = jd_new(data, len, max_pixels, err)) == NULL)
		return FI_ERR_NOMEM;
	job->region = true;
	fi_oriented_rect_to_stored(orient, sw, sh, x, y, w, h, &job->rx, &job->ry, &job->rw, &job->rh);
	return jd_decode_job(job, out, err);
}

/* Stored size and EXIF orientation of a JPEG, from its header alone. */
fi_status
fi_jpeg_probe(const uint8_t *data, size_t len, int *w, int *h, int *orient,
			  fi_error *err)
{
	jd_job	   *job = calloc(1, sizeof(jd_job));
	fi_status	st;

	if (job == NULL)
		return fi_set_error(err, FI_ERR_NOMEM, "out of memory creating the JPEG decoder");
	job->data = data;
	job->len = len;
	st = jd_run(job, true, err);
	*w = job->width, *h = job->height, *orient = job->orientation;
	free(job);
	return st;
}
