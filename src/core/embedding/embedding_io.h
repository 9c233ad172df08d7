/*
 * embedding_io.h
 *	  Text and binary forms of a 128-d encoding, parsed and checked in the
 *	  core so the fuzzers can reach them without a server.
 */
#ifndef FI_EMBEDDING_IO_H
#define FI_EMBEDDING_IO_H

#include "fi_core.h"
#include "embedding/distance.h"

/*
 * Parse '[v1,...,v128]' (whitespace allowed around elements and brackets).
 * FI_ERR_SYNTAX for malformed text or a wrong element count, FI_ERR_INVALID
 * for NaN/Infinity, FI_ERR_RANGE for a value outside float's range (an
 * underflow to zero included; denormals are kept).  err->msg is a detail
 * sentence ("Element 3 is not a number.").
 */
fi_status	fi_embedding_parse(const char *str, float out[FI_DIM], fi_error *err);

/* Longest text fi_embedding_format writes, terminating NUL included. */
#define FI_EMBEDDING_TEXT_MAX (FI_DIM * 17 + 3)

/*
 * Read 128 big-endian IEEE float32 (the binary wire form) from len bytes.
 * FI_ERR_CORRUPT when len is not 512, FI_ERR_INVALID for NaN/Infinity.
 */
fi_status	fi_embedding_from_wire(const unsigned char *data, size_t len,
								   float out[FI_DIM], fi_error *err);

/* FI_ERR_INVALID naming the first non-finite element, else FI_OK. */
fi_status	fi_embedding_check_finite(const float x[FI_DIM], fi_error *err);

#endif							/* FI_EMBEDDING_IO_H */
