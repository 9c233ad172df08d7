/*
 * exif.c
 *	  EXIF orientation (IFD0 tag 0x0112) from a TIFF block, and placing
 *	  decoded rows so the pixels come out the way a phone shows the photo.
 *	  A missing or malformed value means 1 (as stored).
 */
#include "image/decode.h"

#include <string.h>

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
int
fi_exif_orientation(const uint8_t *p, size_t n)
{
	if (n >= 6 && memcmp(p, "Exif\0", 5) == 0)
		return tiff_orientation(p + 6, n - 6);
	return tiff_orientation(p, n);
}

/* Size of the image once an orientation is applied (5-8 swap the axes). */
void
fi_oriented_size(int orient, int w, int h, int *ow, int *oh)
{
	bool		swap = orient >= 5 && orient <= 8;

	*ow = swap ? h : w;
	*oh = swap ? w : h;
}

/*
 * The stored rect (*sx, *sy, *sw, *sh) of a stored w x h image that
 * orientation orient shows as the rect (x, y, rw, rh); the crop of the
 * stored image, oriented alone, is the shown rect.
 */
void
fi_oriented_rect_to_stored(int orient, int w, int h, int x, int y, int rw, int rh,
						   int *sx, int *sy, int *sw, int *sh)
{
	bool		swap = orient >= 5 && orient <= 8;
	/* the shown rect's extent along the stored x and y axes */
	int			ex = swap ? rh : rw,
				ey = swap ? rw : rh;
	/* its start along them, before any flip */
	int			px = swap ? y : x,
				py = swap ? x : y;
	/* which stored axes run backwards on screen */
	bool		flip_x = orient == 2 || orient == 3 || orient == 7 || orient == 8,
				flip_y = orient == 3 || orient == 4 || orient == 6 || orient == 7;

	*sw = ex;
	*sh = ey;
	*sx = flip_x ? w - px - ex : px;
	*sy = flip_y ? h - py - ey : py;
}

/*
 * Copy stored row y (w RGB pixels of a w x h image) to where orientation
 * orient puts it in dst: pixel x lands at pixel index start + x * step.
 */
void
fi_place_row(uint8_t *dst, const uint8_t *row, int orient, int w, int h, int y)
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

