/*
 * fuzz_binary.c
 *	  libFuzzer target: the faceembedding binary wire form
 *	  (fi_embedding_from_wire).  Only 512 bytes of finite floats are accepted.
 */
#include "embedding/embedding_io.h"

#include <math.h>
#include <stdlib.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: decode it and check the verdict is consistent. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	float		out[FI_DIM];
	fi_error	err;
	fi_status	st = fi_embedding_from_wire(data, size, out, &err);

	if (st == FI_OK)
	{
		if (size != FI_DIM * 4)
			abort();
		for (int i = 0; i < FI_DIM; i++)
			if (!isfinite(out[i]))
				abort();
	}
	else if (st != FI_ERR_CORRUPT && st != FI_ERR_INVALID)
		abort();
	return 0;
}
