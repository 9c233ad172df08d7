/*
 * fuzz_text.c
 *	  libFuzzer target: the faceembedding text form (fi_embedding_parse).
 *	  Any input must give FI_OK with 128 finite values or a clean error.
 */
#include "embedding/embedding_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: NUL-terminate a copy and parse it. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	float		out[FI_DIM];
	fi_error	err;
	fi_status	st;

	memcpy(s, data, size);
	s[size] = '\0';
	st = fi_embedding_parse(s, out, &err);
	if (st == FI_OK)
		for (int i = 0; i < FI_DIM; i++)
			if (!isfinite(out[i]))
				abort();
	if (st != FI_OK && err.msg[0] == '\0')
		abort();
	free(s);
	return 0;
}
