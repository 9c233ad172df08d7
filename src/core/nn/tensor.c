/*
 * tensor.c
 *	  Workspace buffers: grown on demand, reused across calls.
 */
#include "nn/tensor.h"

#include <stdlib.h>
#include <string.h>

/* A new, empty workspace. */
fi_workspace *
fi_workspace_new(void)
{
	return calloc(1, sizeof(fi_workspace));
}

/* Free a workspace and everything it holds. */
void
fi_workspace_free(fi_workspace *ws)
{
	if (ws == NULL)
		return;
	for (int i = 0; i < FI_WS_SLOTS; i++)
		free(ws->buf[i]);
	free(ws);
}

/* Grow slot to n floats when needed. */
float *
fi_ws_reserve(fi_workspace *ws, int slot, size_t n, fi_error *err)
{
	void	   *p;

	if (slot < 0 || slot >= FI_WS_SLOTS)
	{
		fi_set_error(err, FI_ERR_INTERNAL, "workspace slot %d out of range", slot);
		return NULL;
	}
	if (n <= ws->cap[slot] && ws->buf[slot] != NULL)
		return ws->buf[slot];
	if (n > FI_WS_MAX_BYTES / sizeof(float))
	{
		fi_set_error(err, FI_ERR_LIMIT, "intermediate buffer of %zu floats exceeds the limit", n);
		return NULL;
	}
	free(ws->buf[slot]);
	ws->buf[slot] = NULL;
	ws->cap[slot] = 0;
	if (posix_memalign(&p, 64, (n > 0 ? n : 1) * sizeof(float)) != 0)
	{
		fi_set_error(err, FI_ERR_NOMEM, "out of memory for a %zu-float buffer", n);
		return NULL;
	}
	ws->buf[slot] = p;
	ws->cap[slot] = n;
	return p;
}

/* Point t at slot with shape h x w x c. */
fi_status
fi_ws_tensor(fi_workspace *ws, int slot, int h, int w, int c, fi_tensor *t, fi_error *err)
{
	float	   *p;

	if (h <= 0 || w <= 0 || c <= 0)
		return fi_set_error(err, FI_ERR_INTERNAL, "bad tensor shape %dx%dx%d", h, w, c);
	p = fi_ws_reserve(ws, slot, (size_t) h * w * c, err);
	if (p == NULL)
		return err != NULL ? err->code : FI_ERR_NOMEM;
	t->h = h;
	t->w = w;
	t->c = c;
	t->data = p;
	return FI_OK;
}

/* Reserve a band of rows: as many as fit in max_floats, at least one. */
float *
fi_ws_reserve_band(fi_workspace *ws, int slot, size_t max_floats, int hout,
				   size_t row_floats, int *band, fi_error *err)
{
	size_t		rows = max_floats / row_floats;

	*band = rows < 1 ? 1 : rows > (size_t) hout ? hout : (int) rows;
	return fi_ws_reserve(ws, slot, (size_t) *band * row_floats, err);
}
