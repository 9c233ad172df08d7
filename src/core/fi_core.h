/*
 * fi_core.h
 *	  Conventions shared by every file of the PostgreSQL-free core.
 *
 * The core (image decoding, tensors and layers, the nets, the pipeline) never
 * includes a PostgreSQL header, never longjmps and never calls exit().  Every
 * fallible function returns an fi_status and fills an fi_error; the SQL glue
 * turns that into ereport(ERROR) with the SQLSTATE that DESIGN.md assigns to
 * the code.  Long loops poll an fi_cancel callback and return FI_CANCELLED
 * after freeing what they hold.
 */
#ifndef FI_CORE_H
#define FI_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fi_status
{
	FI_OK = 0,
	FI_ERR_CORRUPT,				/* corrupt/truncated bytes: 22P03 */
	FI_ERR_UNSUPPORTED,			/* unknown or unsupported format: 0A000 */
	FI_ERR_LIMIT,				/* over max_image_pixels or another bound: 54000 */
	FI_ERR_INVALID,				/* bad argument: 22023 */
	FI_ERR_NOMEM,				/* allocation failed: 53200 */
	FI_ERR_MODEL_MISSING,		/* model file absent/unreadable: 58P01 */
	FI_ERR_MODEL_CORRUPT,		/* model file corrupt/wrong version: XX001 */
	FI_ERR_INTERNAL,			/* library failure that is not the input's fault: XX000 */
	FI_CANCELLED,				/* the cancel callback asked to stop */
	FI_ERR_SYNTAX,				/* malformed text, wrong element count: 22P02 */
	FI_ERR_RANGE				/* a number out of range of its type: 22003 */
} fi_status;

typedef struct fi_error
{
	fi_status	code;
	char		msg[512];
} fi_error;

/* Set *err (if not NULL) and return code; printf-style message. */
fi_status	fi_set_error(fi_error *err, fi_status code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/*
 * Cancellation: a callback that only *asks* whether to stop.  It must not
 * longjmp.  NULL means "never cancel".
 */
typedef struct fi_cancel
{
	bool		(*should_stop) (void *arg);
	void	   *arg;
} fi_cancel;

/* True when the caller asked to stop. */
static inline bool
fi_cancelled(const fi_cancel *c)
{
	return c != NULL && c->should_stop != NULL && c->should_stop(c->arg);
}

#endif							/* FI_CORE_H */
