/*
 * embedding_io.c
 *	  Parsing of the text and binary forms of a 128-d encoding.
 */
#include "embedding/embedding_io.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Skip ASCII whitespace. */
static const char *
skip_space(const char *p)
{
	while (isspace((unsigned char) *p))
		p++;
	return p;
}

/* Parse one element at *pp; advance *pp past it. */
static fi_status
parse_element(const char **pp, int index, float *v, fi_error *err)
{
	const char *p = skip_space(*pp);
	char	   *end;

	if (*p == '\0' || *p == ',' || *p == ']')
		return fi_set_error(err, FI_ERR_SYNTAX, "Element %d is empty.", index + 1);
	errno = 0;
	*v = strtof(p, &end);
	if (end == p)
		return fi_set_error(err, FI_ERR_SYNTAX, "Element %d is not a number.", index + 1);
	if (isinf(*v) && errno == ERANGE)
		return fi_set_error(err, FI_ERR_RANGE, "Element %d is out of range for type real.", index + 1);
	if (isnan(*v) || isinf(*v))
		return fi_set_error(err, FI_ERR_INVALID, "Element %d is %s; NaN and Infinity are not allowed.",
							index + 1, isnan(*v) ? "NaN" : "infinite");
	/* an underflow to zero loses the value; a denormal result is kept */
	if (errno == ERANGE && *v == 0.0f)
		return fi_set_error(err, FI_ERR_RANGE, "Element %d is out of range for type real.", index + 1);
	*pp = end;
	return FI_OK;
}

/* Parse the text form '[v1,...,v128]'. */
fi_status
fi_embedding_parse(const char *str, float out[FI_DIM], fi_error *err)
{
	const char *p = skip_space(str);
	int			n = 0;
	fi_status	st;

	if (*p != '[')
		return fi_set_error(err, FI_ERR_SYNTAX, "A faceembedding must start with \"[\".");
	p++;
	for (;;)
	{
		float		v = 0.0f;

		if ((st = parse_element(&p, n, &v, err)) != FI_OK)
			return st;
		if (n >= FI_DIM)
			return fi_set_error(err, FI_ERR_SYNTAX,
								"A faceembedding has exactly %d elements; more were given.", FI_DIM);
		out[n++] = v;
		p = skip_space(p);
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p == ']')
			break;
		return fi_set_error(err, FI_ERR_SYNTAX, "Expected \",\" or \"]\" after element %d.", n);
	}
	p = skip_space(p + 1);
	if (*p != '\0')
		return fi_set_error(err, FI_ERR_SYNTAX, "Junk after the closing \"]\".");
	if (n != FI_DIM)
		return fi_set_error(err, FI_ERR_SYNTAX,
							"A faceembedding has exactly %d elements, not %d.", FI_DIM, n);
	return FI_OK;
}

/* Check every element is finite. */
fi_status
fi_embedding_check_finite(const float x[FI_DIM], fi_error *err)
{
	for (int i = 0; i < FI_DIM; i++)
		if (!isfinite(x[i]))
			return fi_set_error(err, FI_ERR_INVALID,
								"faceembedding element %d is %s; NaN and Infinity are not allowed",
								i + 1, isnan(x[i]) ? "NaN" : "infinite");
	return FI_OK;
}

/* Read the binary wire form: 128 big-endian float32. */
fi_status
fi_embedding_from_wire(const unsigned char *data, size_t len, float out[FI_DIM], fi_error *err)
{
	if (len != FI_DIM * 4)
		return fi_set_error(err, FI_ERR_CORRUPT,
							"invalid binary faceembedding: %zu bytes, expected %d", len, FI_DIM * 4);
	for (int i = 0; i < FI_DIM; i++)
	{
		const unsigned char *b = data + 4 * i;
		uint32_t	u = ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) |
			((uint32_t) b[2] << 8) | (uint32_t) b[3];

		memcpy(&out[i], &u, sizeof(float));
	}
	return fi_embedding_check_finite(out, err);
}
