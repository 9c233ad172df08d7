/*
 * type_embedding.c
 *	  The faceembedding type: text and binary I/O, casts, distance,
 *	  comparison, hashing, avg() and the triplet loss.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"

#include "type_embedding.h"
#include "core/embedding/embedding_io.h"
#include "faceid.h"

#define AVG_STATE_LEN (FI_DIM + 1)

PG_FUNCTION_INFO_V1(faceembedding_in);
PG_FUNCTION_INFO_V1(faceembedding_out);
PG_FUNCTION_INFO_V1(faceembedding_recv);
PG_FUNCTION_INFO_V1(faceembedding_send);
PG_FUNCTION_INFO_V1(faceembedding_from_real_array);
PG_FUNCTION_INFO_V1(faceembedding_from_float8_array);
PG_FUNCTION_INFO_V1(faceembedding_to_real_array);
PG_FUNCTION_INFO_V1(face_distance);
PG_FUNCTION_INFO_V1(face_match_threshold);
PG_FUNCTION_INFO_V1(face_match_default);
PG_FUNCTION_INFO_V1(face_triplet_loss);
PG_FUNCTION_INFO_V1(faceembedding_eq);
PG_FUNCTION_INFO_V1(faceembedding_ne);
PG_FUNCTION_INFO_V1(faceembedding_lt);
PG_FUNCTION_INFO_V1(faceembedding_le);
PG_FUNCTION_INFO_V1(faceembedding_gt);
PG_FUNCTION_INFO_V1(faceembedding_ge);
PG_FUNCTION_INFO_V1(faceembedding_cmp);
PG_FUNCTION_INFO_V1(faceembedding_hash);
PG_FUNCTION_INFO_V1(faceembedding_hash_extended);
PG_FUNCTION_INFO_V1(faceembedding_accum);
PG_FUNCTION_INFO_V1(faceembedding_combine);
PG_FUNCTION_INFO_V1(faceembedding_avg);

/* Raise ERROR unless every element is finite. */
void
face_embedding_check_finite(const float4 *x)
{
	fi_error	err;

	if (fi_embedding_check_finite(x, &err) != FI_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", err.msg)));
}

/* Text input: '[v1,v2,...,v128]', parsed by the core. */
Datum
faceembedding_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	FaceEmbedding *result = palloc(FACE_EMBEDDING_SIZE);
	fi_error	err;

	fi_status	st = fi_embedding_parse(str, result->x, &err);

	if (st != FI_OK)
	{
		int			code = ERRCODE_INVALID_TEXT_REPRESENTATION;
		const char *what = "invalid input syntax";

		if (st == FI_ERR_RANGE)
		{
			code = ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
			what = "value out of range";
		}
		else if (st == FI_ERR_INVALID)
		{
			code = ERRCODE_INVALID_PARAMETER_VALUE;
			what = "invalid value";
		}
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s for type faceembedding: \"%s\"", what, str),
				 errdetail("%s", err.msg)));
	}
	PG_RETURN_FACEEMBEDDING(result);
}

/* Text output: the shortest text that reads back to the same bits. */
Datum
faceembedding_out(PG_FUNCTION_ARGS)
{
	FaceEmbedding *e = PG_GETARG_FACEEMBEDDING(0);
	char	   *buf = palloc(FI_DIM * (FLOAT_SHORTEST_DECIMAL_LEN + 1) + 3);
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < FI_DIM; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(e->x[i], p);
	}
	*p++ = ']';
	*p = '\0';
	PG_RETURN_CSTRING(buf);
}

/* Binary input: exactly 128 network-order float4. */
Datum
faceembedding_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	FaceEmbedding *result = palloc(FACE_EMBEDDING_SIZE);
	fi_error	err;
	fi_status	st;

	st = fi_embedding_from_wire((const unsigned char *) buf->data + buf->cursor,
								buf->len - buf->cursor, result->x, &err);
	if (st != FI_OK)
		ereport(ERROR,
				(errcode(st == FI_ERR_INVALID ? ERRCODE_INVALID_PARAMETER_VALUE
						 : ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("%s", err.msg)));
	buf->cursor = buf->len;
	PG_RETURN_FACEEMBEDDING(result);
}

/* Binary output: 128 network-order float4. */
Datum
faceembedding_send(PG_FUNCTION_ARGS)
{
	FaceEmbedding *e = PG_GETARG_FACEEMBEDDING(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	for (int i = 0; i < FI_DIM; i++)
		pq_sendfloat4(&buf, e->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Check that an array is one-dimensional, NULL-free and of length 128. */
static void
check_array_shape(ArrayType *a)
{
	int			n;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("cannot cast a %d-dimensional array to faceembedding", ARR_NDIM(a)),
				 errhint("Use a one-dimensional array of %d elements.", FI_DIM)));
	if (array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot cast an array containing NULLs to faceembedding")));
	n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (n != FI_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("a faceembedding has exactly %d elements, not %d", FI_DIM, n)));
}

/* Cast real[] to faceembedding. */
Datum
faceembedding_from_real_array(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	FaceEmbedding *result = palloc(FACE_EMBEDDING_SIZE);

	check_array_shape(a);
	memcpy(result->x, ARR_DATA_PTR(a), FACE_EMBEDDING_SIZE);
	face_embedding_check_finite(result->x);
	PG_RETURN_FACEEMBEDDING(result);
}

/* Cast double precision[] to faceembedding; values must fit in real. */
Datum
faceembedding_from_float8_array(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	FaceEmbedding *result = palloc(FACE_EMBEDDING_SIZE);
	const float8 *src;

	check_array_shape(a);
	src = (const float8 *) ARR_DATA_PTR(a);
	for (int i = 0; i < FI_DIM; i++)
	{
		if (isfinite(src[i]) && (fabs(src[i]) > FLT_MAX ||
								 (src[i] != 0.0 && (float4) src[i] == 0.0f)))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("faceembedding element %d is out of range for type real", i + 1)));
		result->x[i] = (float4) src[i];
	}
	face_embedding_check_finite(result->x);
	PG_RETURN_FACEEMBEDDING(result);
}

/* Cast faceembedding to real[]. */
Datum
faceembedding_to_real_array(PG_FUNCTION_ARGS)
{
	FaceEmbedding *e = PG_GETARG_FACEEMBEDDING(0);
	Datum		elems[FI_DIM];

	for (int i = 0; i < FI_DIM; i++)
		elems[i] = Float4GetDatum(e->x[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, FI_DIM, FLOAT4OID,
										  sizeof(float4), true, TYPALIGN_INT));
}

/* a <-> b: Euclidean distance. */
Datum
face_distance(PG_FUNCTION_ARGS)
{
	FaceEmbedding *a = PG_GETARG_FACEEMBEDDING(0);
	FaceEmbedding *b = PG_GETARG_FACEEMBEDDING(1);

	PG_RETURN_FLOAT8(sqrt((double) face_embedding_distance_sq(a, b)));
}

/* Shared body of both face_match variants. */
static bool
match_at(FaceEmbedding *a, FaceEmbedding *b, double threshold)
{
	if (isnan(threshold))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("face_match threshold must not be NaN")));
	return sqrt((double) face_embedding_distance_sq(a, b)) <= threshold;
}

/* face_match(a, b, threshold): a <-> b <= threshold. */
Datum
face_match_threshold(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(match_at(PG_GETARG_FACEEMBEDDING(0), PG_GETARG_FACEEMBEDDING(1),
							PG_GETARG_FLOAT8(2)));
}

/* face_match(a, b): a <-> b <= faceid.match_threshold. */
Datum
face_match_default(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(match_at(PG_GETARG_FACEEMBEDDING(0), PG_GETARG_FACEEMBEDDING(1),
							faceid_match_threshold));
}

/* max(|A-P|^2 - |A-N|^2 + margin, 0). */
Datum
face_triplet_loss(PG_FUNCTION_ARGS)
{
	FaceEmbedding *a = PG_GETARG_FACEEMBEDDING(0);
	FaceEmbedding *p = PG_GETARG_FACEEMBEDDING(1);
	FaceEmbedding *n = PG_GETARG_FACEEMBEDDING(2);
	float8		margin = PG_GETARG_FLOAT8(3);
	float8		loss;

	if (!isfinite(margin))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("face_triplet_loss margin must be finite")));
	loss = (double) face_embedding_distance_sq(a, p) -
		(double) face_embedding_distance_sq(a, n) + margin;
	PG_RETURN_FLOAT8(loss > 0 ? loss : 0.0);
}

/* Lexicographic IEEE comparison (-0 equals 0). */
static int
embedding_cmp(const FaceEmbedding *a, const FaceEmbedding *b)
{
	for (int i = 0; i < FI_DIM; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	return 0;
}

/* One comparison operator (name) from embedding_cmp's result c. */
#define CMP_FUNC(name, expr) \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	int			c = embedding_cmp(PG_GETARG_FACEEMBEDDING(0), PG_GETARG_FACEEMBEDDING(1)); \
	PG_RETURN_BOOL(expr); \
}

/* The six comparison operators. */
CMP_FUNC(faceembedding_eq, c == 0)
CMP_FUNC(faceembedding_ne, c != 0)
CMP_FUNC(faceembedding_lt, c < 0)
CMP_FUNC(faceembedding_le, c <= 0)
CMP_FUNC(faceembedding_gt, c > 0)
CMP_FUNC(faceembedding_ge, c >= 0)

/* btree support: three-way comparison. */
Datum
faceembedding_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(embedding_cmp(PG_GETARG_FACEEMBEDDING(0), PG_GETARG_FACEEMBEDDING(1)));
}

/* Copy e with -0 turned into +0, so equal values hash alike. */
static void
normalize_zeros(const FaceEmbedding *e, FaceEmbedding *out)
{
	for (int i = 0; i < FI_DIM; i++)
		out->x[i] = (e->x[i] == 0.0f) ? 0.0f : e->x[i];
}

/* hash support 1: 32-bit hash agreeing with =. */
Datum
faceembedding_hash(PG_FUNCTION_ARGS)
{
	FaceEmbedding norm;

	normalize_zeros(PG_GETARG_FACEEMBEDDING(0), &norm);
	return hash_any((const unsigned char *) &norm, FACE_EMBEDDING_SIZE);
}

/* hash support 2: seeded 64-bit hash agreeing with =. */
Datum
faceembedding_hash_extended(PG_FUNCTION_ARGS)
{
	FaceEmbedding norm;

	normalize_zeros(PG_GETARG_FACEEMBEDDING(0), &norm);
	return hash_any_extended((const unsigned char *) &norm, FACE_EMBEDDING_SIZE,
							 PG_GETARG_INT64(1));
}

/* Validate an avg() state array and return its data. */
static float8 *
avg_state(ArrayType *a, const char *caller)
{
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != AVG_STATE_LEN ||
		ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: expected a float8[%d] state without NULLs", caller, AVG_STATE_LEN)));
	return (float8 *) ARR_DATA_PTR(a);
}

/* The state to update: in place inside an aggregate, else a copy. */
static ArrayType *
avg_writable_state(FunctionCallInfo fcinfo, int argno)
{
	if (AggCheckCallContext(fcinfo, NULL))
		return PG_GETARG_ARRAYTYPE_P(argno);
	return PG_GETARG_ARRAYTYPE_P_COPY(argno);
}

/* avg() transition: count and element-wise sums in double. */
Datum
faceembedding_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = avg_writable_state(fcinfo, 0);
	FaceEmbedding *e = PG_GETARG_FACEEMBEDDING(1);
	float8	   *s = avg_state(state, "faceembedding_accum");

	s[0] += 1;
	for (int i = 0; i < FI_DIM; i++)
		s[i + 1] += e->x[i];
	PG_RETURN_ARRAYTYPE_P(state);
}

/* avg() combine: add two partial states (parallel aggregation). */
Datum
faceembedding_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state = avg_writable_state(fcinfo, 0);
	float8	   *s1 = avg_state(state, "faceembedding_combine");
	float8	   *s2 = avg_state(PG_GETARG_ARRAYTYPE_P(1), "faceembedding_combine");

	for (int i = 0; i < AVG_STATE_LEN; i++)
		s1[i] += s2[i];
	PG_RETURN_ARRAYTYPE_P(state);
}

/* avg() final: the mean, or NULL over no rows. */
Datum
faceembedding_avg(PG_FUNCTION_ARGS)
{
	float8	   *s = avg_state(PG_GETARG_ARRAYTYPE_P(0), "faceembedding_avg");
	FaceEmbedding *result;

	if (s[0] == 0)
		PG_RETURN_NULL();
	result = palloc(FACE_EMBEDDING_SIZE);
	for (int i = 0; i < FI_DIM; i++)
		result->x[i] = (float4) (s[i + 1] / s[0]);
	face_embedding_check_finite(result->x);
	PG_RETURN_FACEEMBEDDING(result);
}
