/*
 * toolutil.h
 *	  Shared by the test tools (tool_*.c): small file helpers.
 */
#ifndef FI_TOOLUTIL_H
#define FI_TOOLUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "image/image.h"

/* Read a whole file into memory; exit(1) with a message when it cannot. */
static inline uint8_t *
tool_slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	long		n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
	{
		perror(path);
		exit(1);
	}
	rewind(f);
	buf = malloc(n > 0 ? n : 1);
	if (buf == NULL || fread(buf, 1, n, f) != (size_t) n)
	{
		perror(path);
		exit(1);
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Read and decode a photo with the core decoder; exit(1) with a message when it cannot. */
static inline void
tool_load(const char *path, fi_image *img)
{
	size_t		len;
	uint8_t    *data = tool_slurp(path, &len);
	fi_error	err;

	if (fi_image_decode(data, len, 100000000, img, &err) != FI_OK)
	{
		fprintf(stderr, "%s: %s\n", path, err.msg);
		exit(1);
	}
	free(data);
}

/* True when (x0, y0, cw, ch) lies inside img and holds at least one s x s box. */
static inline bool
tool_rect_ok(const fi_image *img, int x0, int y0, int cw, int ch, int s)
{
	return s >= 1 && x0 >= 0 && y0 >= 0 && cw >= s && ch >= s &&
		x0 + cw <= img->width && y0 + ch <= img->height;
}

/*
 * The rectangle (x0, y0, cw, ch) of img shrunk s times by box averaging:
 * a malloc'd RGB buffer of (cw / s) x (ch / s) pixels, sizes in *w, *h.
 */
static inline uint8_t *
tool_crop_scale(const fi_image *img, int x0, int y0, int cw, int ch, int s, int *w, int *h)
{
	uint8_t    *out;

	*w = cw / s;
	*h = ch / s;
	out = malloc((size_t) *w * *h * 3);
	for (int y = 0; y < *h; y++)
		for (int x = 0; x < *w; x++)
			for (int k = 0; k < 3; k++)
			{
				unsigned	sum = 0;

				for (int dy = 0; dy < s; dy++)
					for (int dx = 0; dx < s; dx++)
						sum += img->rgb[((size_t) (y0 + y * s + dy) * img->width + (x0 + x * s + dx)) * 3 + k];
				out[((size_t) y * *w + x) * 3 + k] = (uint8_t) ((sum + s * s / 2) / (s * s));
			}
	return out;
}

#endif							/* FI_TOOLUTIL_H */
