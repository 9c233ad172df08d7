/*
 * type_embedding.h
 *	  The faceembedding type: 128 float4, a fixed-length (512-byte,
 *	  pass-by-reference, no varlena header) value.
 */
#ifndef FACEID_EMBEDDING_H
#define FACEID_EMBEDDING_H

#include "postgres.h"
#include "fmgr.h"

#include "core/embedding/distance.h"

typedef struct FaceEmbedding
{
	float4		x[FI_DIM];
} FaceEmbedding;

#define FACE_EMBEDDING_SIZE			((int) sizeof(FaceEmbedding))
#define DatumGetFaceEmbedding(d)	((FaceEmbedding *) DatumGetPointer(d))
#define PG_GETARG_FACEEMBEDDING(n)	DatumGetFaceEmbedding(PG_GETARG_DATUM(n))
#define PG_RETURN_FACEEMBEDDING(p)	PG_RETURN_POINTER(p)

/* Squared Euclidean distance with the deterministic kernel. */
static inline float4
face_embedding_distance_sq(const FaceEmbedding *a, const FaceEmbedding *b)
{
	return fi_distance_sq(a->x, b->x);
}

/* Raise ERROR unless every element is finite. */
extern void face_embedding_check_finite(const float4 *x);

#endif							/* FACEID_EMBEDDING_H */
