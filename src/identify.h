/*
 * identify.h
 *	  Open-set identification (1:K): face_identify and face_identify_calibrate.
 *
 *	  The decision score of a probe is
 *	      s = d1 / mean(d2 .. d(1+K))
 *	  where d1 is the distance to the nearest enrolled person (that person's
 *	  nearest row) and d2 .. d(1+K) the distances to the next K different
 *	  people.  The calibration stores the sorted scores of leave-one-label-out
 *	  "strangers" (a row of an enrolled person against the gallery without
 *	  that person); false_accept(s) is their empirical distribution function,
 *	  with a power tail below the smallest of them.
 */
#ifndef FACEID_IDENTIFY_H
#define FACEID_IDENTIFY_H

#include "postgres.h"

#include "access/attnum.h"

/* K: the next different people the score compares the nearest one with. */
#define IDENTIFY_NEXT_LABELS	5
/* Rows face_identify reads at most before it stops looking for new people. */
#define IDENTIFY_MAX_ROWS		1000
/* Fewest labels face_identify_calibrate accepts. */
#define IDENTIFY_MIN_LABELS		10
/* Most leave-one-label-out strangers a calibration samples. */
#define IDENTIFY_MAX_SAMPLES	1000
/* Seed of the sampling hash: every calibration of the same rows agrees. */
#define IDENTIFY_SEED			UINT64CONST(0x66616365)
#define IDENTIFY_TABLE			"faceid_identify_calibration"
/* Bounds of the lower tail's exponent (LFW strangers: about 28-31). */
#define IDENTIFY_TAIL_MIN		5.0
#define IDENTIFY_TAIL_MAX		60.0

/* A gallery and its two columns, checked and quoted. */
typedef struct IdentifyGallery
{
	Oid			relid;
	const char *label_col;
	const char *emb_col;
	AttrNumber	label_att;
	AttrNumber	emb_att;
	Oid			embtype;		/* faceembedding */
	char	   *rel_q;			/* schema-qualified, quoted relation */
	char	   *label_q;		/* quoted columns */
	char	   *emb_q;
	char	   *dist_op;		/* OPERATOR(schema.<->) */
} IdentifyGallery;

/* faceid.false_accept_rate */
extern double faceid_false_accept_rate;

/* Define faceid.false_accept_rate (called from _PG_init). */
extern void identify_init(void);

/* Check the gallery (kind, columns, privileges, type) and fill g; raises. */
extern void identify_gallery(IdentifyGallery *g, Oid relid, const char *label_col,
							 const char *emb_col, Oid fn_oid);

/* The calibration table's key parameters: the number of values it fills. */
#define IDENTIFY_KEY_ARGS		4

/*
 * Fill the calibration table's key (gallery, label column, embedding column,
 * settings) as SPI parameters $1..$4: types REGCLASS, NAME, NAME, TEXT.
 * names must live as long as values (it holds the two NameData).
 */
extern void identify_key_params(const IdentifyGallery *g, const char *settings,
								NameData names[2], Oid *argtypes, Datum *values);

/* The settings that made the encodings: model checksum and pipeline GUCs. */
extern char *identify_settings(void);

/*
 * The score of distances d[0] <= d[1] <= ... (d[0]: the nearest person,
 * then the next different people, n in all); 1 when n < 2.
 */
extern double identify_score(const double *d, int n);

/* The exponent k of the lower tail F(s) ~ s^k of the sorted scores. */
extern double identify_tail_exponent(const double *scores, int n);

/* false_accept of score s under the sorted calibration scores[0..n-1]. */
extern double identify_false_accept(const double *scores, int n, double k, double s);

#endif							/* FACEID_IDENTIFY_H */
