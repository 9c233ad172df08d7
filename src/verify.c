/*
 * verify.c
 *	  The verification head: face_verify(a, b [, verifier]) gives
 *	  sigma(sum_k w_k * |a_k - b_k| + b), the probability that two encodings
 *	  show the same person (training: verify_train.c).
 *
 *	  Heads live in the extension's table faceid_verifier.  face_verify reads
 *	  a head once per query (fn_extra) with the query's snapshot, so every
 *	  statement sees the heads committed before it, whoever wrote them and
 *	  on whichever node it runs: no backend cache, no trigger to keep one
 *	  valid.  Under Citus the table is a reference table and the rows are
 *	  read from this node's placement (citus_placement.c).
 */
#include "postgres.h"

#include <math.h>

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "citus_placement.h"
#include "owner_spi.h"
#include "verify.h"

/* Columns of faceid_verifier, in the order the extension script creates them. */
#define ATT_NAME			1
#define ATT_WEIGHTS			3
#define ATT_BIAS			4

PG_FUNCTION_INFO_V1(face_verify);

/* The head one query uses (fn_extra): read once per query and name. */
typedef struct VerifyState
{
	Oid			relid;			/* faceid_verifier */
	bool		loaded;
	char		name[NAMEDATALEN];
	double		w[FI_DIM];
	double		bias;
} VerifyState;

/* The OID of faceid_verifier: it lives in the schema of the calling function. */
Oid
faceid_verifier_relid(Oid fn_oid)
{
	return faceid_extension_table(fn_oid, VERIFY_TABLE);
}

/* Raise the error for a head that does not exist. */
static void
verifier_missing(const char *name)
{
	if (strcmp(name, VERIFY_DEFAULT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the default verifier is not installed yet"),
				 errhint("Train a verifier with face_verify_train() and pass its name as the third argument of face_verify().")));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("verifier \"%s\" does not exist", name),
			 errhint("The heads are listed in table %s.", VERIFY_TABLE)));
}

/* Copy a stored weights array into w[128]; raise on a malformed one. */
static void
weights_from_array(ArrayType *arr, const char *name, double *w)
{
	float4	   *x = (float4 *) ARR_DATA_PTR(arr);

	if (ARR_NDIM(arr) != 1 || ARR_DIMS(arr)[0] != FI_DIM || ARR_HASNULL(arr) ||
		ARR_ELEMTYPE(arr) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("verifier \"%s\" does not have %d weights", name, FI_DIM)));
	for (int k = 0; k < FI_DIM; k++)
	{
		if (!isfinite(x[k]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("weight %d of verifier \"%s\" is not finite", k + 1, name)));
		w[k] = x[k];
	}
}

/* Scan faceid_verifier for head "name" with snapshot snap; false if absent. */
static bool
verifier_read(Oid relid, const char *name, Snapshot snap, double *w, double *bias)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	size_t		len = strlen(name);
	bool		found = false;

	while (!found && table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, ATT_NAME, &isnull);
		text	   *t;

		if (isnull)
			continue;
		t = DatumGetTextPP(d);
		if (VARSIZE_ANY_EXHDR(t) != len || memcmp(VARDATA_ANY(t), name, len) != 0)
			continue;
		d = slot_getattr(slot, ATT_WEIGHTS, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("verifier \"%s\" has no weights", name)));
		weights_from_array(DatumGetArrayTypeP(d), name, w);
		d = slot_getattr(slot, ATT_BIAS, &isnull);
		if (isnull || !isfinite(DatumGetFloat4(d)))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("verifier \"%s\" has no finite bias", name)));
		*bias = DatumGetFloat4(d);
		found = true;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Find head "name" with the query's snapshot, in this node's rows of
 * faceid_verifier (its Citus placement when it is a reference table).
 */
static void
verifier_lookup(Oid relid, const char *name, double *w, double *bias)
{
	Oid			rows = faceid_local_rows_relid(relid);
	Snapshot	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();

	if (!verifier_read(rows, name, snap, w, bias))
		verifier_missing(name);
}

/* The head this call uses: the query's fn_extra, filled once per name. */
static VerifyState *
verify_state(FunctionCallInfo fcinfo, text *verifier)
{
	VerifyState *st = (VerifyState *) fcinfo->flinfo->fn_extra;
	size_t		len = VARSIZE_ANY_EXHDR(verifier);

	if (st != NULL && st->loaded && strlen(st->name) == len &&
		memcmp(st->name, VARDATA_ANY(verifier), len) == 0)
		return st;

	if (st == NULL)
	{
		st = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(VerifyState));
		st->relid = faceid_verifier_relid(fcinfo->flinfo->fn_oid);
		fcinfo->flinfo->fn_extra = st;
	}

	st->loaded = false;
	if (len > VERIFY_NAME_MAX)
		verifier_missing(text_to_cstring(verifier));
	memcpy(st->name, VARDATA_ANY(verifier), len);
	st->name[len] = '\0';
	verifier_lookup(st->relid, st->name, st->w, &st->bias);
	st->loaded = true;
	return st;
}

/* face_verify(a, b, verifier): probability that a and b show the same person. */
Datum
face_verify(PG_FUNCTION_ARGS)
{
	FaceEmbedding *a = PG_GETARG_FACEEMBEDDING(0);
	FaceEmbedding *b = PG_GETARG_FACEEMBEDDING(1);
	VerifyState *st = verify_state(fcinfo, PG_GETARG_TEXT_PP(2));

	PG_RETURN_FLOAT8(sigmoid(head_logit(st->w, st->bias, a->x, b->x)));
}
