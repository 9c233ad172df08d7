/*
 * fi_error.c
 *	  Error reporting of the core: a status code plus a formatted message.
 */
#include "fi_core.h"

#include <stdarg.h>
#include <stdio.h>

/* Record an error in *err and return its code. */
fi_status
fi_set_error(fi_error *err, fi_status code, const char *fmt,...)
{
	if (err != NULL)
	{
		va_list		ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}
