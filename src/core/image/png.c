/*
 * png.c
 *	  PNG decoding to 8-bit RGB with libpng, EXIF orientation applied.
 *
 * The library reports fatal errors through a callback that must not return;
 * ours longjmps back to a setjmp inside this file, so no jump ever leaves
 * the decoder.  Everything a decode owns lives in a "job" struct that the
 * setjmp function reaches through a pointer, so a longjmp cannot clobber it
 * and the cleanup after the jump frees exactly what was allocated.
 *
 * Choices:
 *  - alpha and tRNS are dropped (not composited), as face-api/tf.node does;
 *    a CRC error in any chunk, critical or ancillary, is an error;
 *  - 16-bit samples are scaled to 8 bits with rounding (png_set_scale_16);
 *  - EXIF orientation comes from the eXIf chunk.
 */
#include "image/decode.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

/* libpng's cap on one ancillary chunk (iCCP, text, eXIf), in bytes. */
#define FI_PNG_CHUNK_MAX 8000000

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
fi_status
fi_png_header_size(const uint8_t *d, size_t n, uint32_t *w, uint32_t *h, fi_error *err)
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
int
fi_png_orientation(const uint8_t *d, size_t n)
{
	size_t		pos = 8;

	while (n - pos >= 12)
	{
		uint32_t	clen = be32(d + pos);
		const uint8_t *type = d + pos + 4;

		if (clen > n - pos - 12)
			return 1;			/* cut chunk: libpng will complain about it */
		if (memcmp(type, "eXIf", 4) == 0)
			return fi_exif_orientation(d + pos + 8, clen);
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
	st = fi_image_check_size("PNG", png_get_image_width(png, info), png_get_image_height(png, info),
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
	st = fi_decode_release(st, job->rows, &job->rgb);
	job->rows = NULL;
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
fi_status
fi_png_decode(const uint8_t *data, size_t len, int64_t max_pixels, fi_image *out, fi_error *err)
{
	pd_job		job;
	uint32_t	w,
				h;
	int			orient;
	fi_status	st;

	st = fi_png_header_size(data, len, &w, &h, err);
	if (st == FI_OK)
		st = fi_image_check_size("PNG", w, h, max_pixels, err);	/* before libpng allocates anything */
	if (st != FI_OK)
		return st;
	memset(&job, 0, sizeof(job));
	job.data = data;
	job.len = len;
	job.max_pixels = max_pixels;
	st = pd_run(&job, err);
	if (st != FI_OK)
		return st;
	orient = fi_png_orientation(data, len);
	if (orient != 1)
	{
		uint8_t    *turned = malloc((size_t) job.width * job.height * 3);

		if (turned == NULL)
		{
			free(job.rgb);
			return fi_set_error(err, FI_ERR_NOMEM, "out of memory rotating a %dx%d PNG", job.width, job.height);
		}
		for (int y = 0; y < job.height; y++)
			fi_place_row(turned, job.rgb + (size_t) y * job.width * 3, orient, job.width, job.height, y);
		free(job.rgb);
		job.rgb = turned;
	}
	fi_oriented_size(orient, job.width, job.height, &out->width, &out->height);
	out->rgb = job.rgb;
	return FI_OK;
}
