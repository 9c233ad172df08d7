/*
 * toolutil.h
 *	  Shared by the test tools (tool_*.c): small file helpers.
 */
#ifndef FI_TOOLUTIL_H
#define FI_TOOLUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif							/* FI_TOOLUTIL_H */
