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
 *  - EXIF orientation comes from the first APP1 "Exif" segment.
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

/* Decode a JPEG into *out, orientation applied. */
fi_status
fi_jpeg_decode(const uint8_t *data, size_t len, int64_t max_pixels, fi_image *out, fi_error *err)
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
		fi_oriented_size(job->orientation, job->width, job->height, &out->width, &out->height);
		out->rgb = job->rgb;
	}
	free(job);
	return st;
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
