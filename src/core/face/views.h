/*
 * views.h
 *	  Shared by detect.c (where faces are looked for) and describe.c (their
 *	  landmarks and descriptors): the images the detector passes ran on and
 *	  the faces found on them.  Internal to src/core/face.
 */
#ifndef FI_FACE_VIEWS_H
#define FI_FACE_VIEWS_H

#include "face/pipeline.h"

/* What the detector ran on: the photo, or the bordered copy (border b, shrunk by k). */
typedef struct view
{
	fi_image	img;
	int			b,
				k;
} view;

/* The faces found so far, in the coordinates of the view each came from. */
typedef struct found
{
	fi_face    *f;
	int			n,
				cap;
} found;

/* The view a pass runs on: 0 the photo, 1 the bordered copy. */
static inline int
pass_view(int attempt)
{
	return attempt == FI_PASS_FRAME || attempt == FI_PASS_RETRY_BORDER ||
		attempt == FI_PASS_SSD_BORDER;
}

void		fi_view_unshift(fi_face *f, const view *v);
fi_status	fi_faces_describe(fi_pipeline *p, const fi_photo *ph, const fi_pipeline_opts *opts,
							  const view *views, found *fd, const fi_cancel *c, fi_error *err);

#endif							/* FI_FACE_VIEWS_H */
