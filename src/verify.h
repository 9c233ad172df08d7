/*
 * verify.h
 *	  The verification head, shared by face_verify (verify.c) and
 *	  face_verify_train (verify_train.c): the table of heads, its columns, and
 *	  the logistic model itself.
 */
#ifndef FACEID_VERIFY_H
#define FACEID_VERIFY_H

#include <math.h>

#include "type_embedding.h"

#define VERIFY_NPARAM		(FI_DIM + 1)	/* 128 weights, then the bias */
#define VERIFY_TABLE		"faceid_verifier"
#define VERIFY_DEFAULT		"default"
#define VERIFY_NAME_MAX		(NAMEDATALEN - 1)	/* CHECK on the table too */

/* Logistic function, without overflow for large |z|. */
static inline double
sigmoid(double z)
{
	double		e;

	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	e = exp(z);
	return e / (1.0 + e);
}

/* log(1 + e^z), without overflow for large z. */
static inline double
softplus(double z)
{
	return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

/* sum_k w_k * |a_k - b_k| + bias, in a fixed order (same bits everywhere). */
static inline double
head_logit(const double *w, double bias, const float4 *a, const float4 *b)
{
	double		sum = 0.0;

	for (int k = 0; k < FI_DIM; k++)
		sum += w[k] * fabs((double) a[k] - (double) b[k]);
	return sum + bias;
}

/* verify.c */
extern Oid	faceid_verifier_relid(Oid fn_oid);

#endif							/* FACEID_VERIFY_H */
