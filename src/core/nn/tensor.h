/*
 * tensor.h
 *	  NHWC float32 tensors (batch 1) and the workspace: scratch buffers that a
 *	  caller keeps across calls so a net allocates only on its first run.
 */
#ifndef FI_TENSOR_H
#define FI_TENSOR_H

#include "fi_core.h"

/* Activation, batch 1, row-major [h][w][c] (channel fastest). */
typedef struct fi_tensor
{
	int			h,
				w,
				c;
	float	   *data;
} fi_tensor;

/* Elements of a tensor. */
static inline size_t
fi_tensor_size(const fi_tensor *t)
{
	return (size_t) t->h * t->w * t->c;
}

/* Slots of a workspace; the last one is the layers' own im2col scratch. */
#define FI_WS_SLOTS 8
#define FI_WS_IM2COL (FI_WS_SLOTS - 1)
/* Largest single buffer a workspace hands out (bytes): a safety bound. */
#define FI_WS_MAX_BYTES ((size_t) 1 << 31)

typedef struct fi_workspace
{
	float	   *buf[FI_WS_SLOTS];
	size_t		cap[FI_WS_SLOTS];	/* floats */
} fi_workspace;

/* A new, empty workspace (NULL when out of memory). */
fi_workspace *fi_workspace_new(void);

/* Free a workspace and its buffers (NULL is fine). */
void		fi_workspace_free(fi_workspace *ws);

/*
 * Make slot hold at least n floats (64-byte aligned) and return it; the old
 * contents are not kept when it grows.  NULL + FI_ERR_NOMEM/FI_ERR_LIMIT.
 */
float	   *fi_ws_reserve(fi_workspace *ws, int slot, size_t n, fi_error *err);

/*
 * Slot for a band of output rows: as many rows (1 to hout) of row_floats
 * each as fit in max_floats; *band gets the number of rows.
 */
float	   *fi_ws_reserve_band(fi_workspace *ws, int slot, size_t max_floats, int hout,
							   size_t row_floats, int *band, fi_error *err);

/* Point t at slot, sized h x w x c. */
fi_status	fi_ws_tensor(fi_workspace *ws, int slot, int h, int w, int c,
						 fi_tensor *t, fi_error *err);

#endif							/* FI_TENSOR_H */
