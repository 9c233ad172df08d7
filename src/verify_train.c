/*
 * verify_train.c
 *	  face_verify_train(verifier, pairs_query [, l2]): fit the verification
 *	  head's w and b by Newton's method on the caller's labelled pairs (the
 *	  Hessian by dsyrk, the Newton system by dposv, from the core's OpenBLAS),
 *	  and store it in faceid_verifier.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "verify.h"
#include "engine.h"
#include "owner_spi.h"
#include "sql_util.h"

#define TRAIN_MIN_PAIRS		10
#define TRAIN_MAX_ITER		50
#define TRAIN_FETCH			1000
#define TRAIN_BLOCK			2048	/* rows per dsyrk call */

PG_FUNCTION_INFO_V1(face_verify_train);

/* ------------------------------------------------------------------------
 * LAPACK / BLAS access: the core's OpenBLAS (src/core/nn/blas.c), loaded once
 * per process after it has chosen the kernel set.  Double precision
 * (dposv_, dsyrk_): the Newton step needs it.
 * ------------------------------------------------------------------------
 */

/* The loaded OpenBLAS; raise when it cannot be loaded. */
static const fi_blas *
verify_lapack(void)
{
	const fi_blas *blas;
	fi_error	err;
	fi_status	st = fi_blas_load(&blas, &err);

	if (st != FI_OK)
		faceid_report(st, &err, "loading OpenBLAS");
	return blas;
}

/* ------------------------------------------------------------------------
 * Training.
 * ------------------------------------------------------------------------
 */

/* The pairs as features: row i is |a - b| (128 values) then 1 (the bias). */
typedef struct TrainData
{
	int			n;
	int			cap;
	double	   *x;				/* n rows of VERIFY_NPARAM */
	double	   *y;				/* 1 = same person, 0 = different */
	int			positives;
} TrainData;

/* Append one pair to td. */
static void
train_add(TrainData *td, const FaceEmbedding *a, const FaceEmbedding *b, bool same)
{
	double	   *row;

	if (td->n == td->cap)
	{
		if (td->cap >= INT_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many pairs for face_verify_train")));
		td->cap = td->cap == 0 ? 1024 : td->cap * 2;
		if (td->x == NULL)
		{
			td->x = palloc_extended(sizeof(double) * VERIFY_NPARAM * td->cap, MCXT_ALLOC_HUGE);
			td->y = palloc_extended(sizeof(double) * td->cap, MCXT_ALLOC_HUGE);
		}
		else
		{
			td->x = repalloc_huge(td->x, sizeof(double) * VERIFY_NPARAM * td->cap);
			td->y = repalloc_huge(td->y, sizeof(double) * td->cap);
		}
	}
	row = td->x + (size_t) td->n * VERIFY_NPARAM;
	for (int k = 0; k < FI_DIM; k++)
		row[k] = fabs((double) a->x[k] - (double) b->x[k]);
	row[FI_DIM] = 1.0;
	td->y[td->n] = same ? 1.0 : 0.0;
	td->positives += same ? 1 : 0;
	td->n++;
}

/* Raise unless the query returns (faceembedding, faceembedding, boolean). */
static void
train_check_columns(TupleDesc desc, Oid embtype)
{
	StringInfoData got;

	if (desc->natts == 3 &&
		TupleDescAttr(desc, 0)->atttypid == embtype &&
		TupleDescAttr(desc, 1)->atttypid == embtype &&
		TupleDescAttr(desc, 2)->atttypid == BOOLOID)
		return;

	initStringInfo(&got);
	for (int i = 0; i < desc->natts; i++)
		appendStringInfo(&got, "%s%s %s", i > 0 ? ", " : "",
						 quote_identifier(NameStr(TupleDescAttr(desc, i)->attname)),
						 format_type_be(TupleDescAttr(desc, i)->atttypid));
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("the pairs query must return three columns (a faceembedding, b faceembedding, same boolean)"),
			 errdetail("It returns (%s).", got.data)));
}

/* Raise if the SELECT writes (data-modifying WITH) or locks rows (FOR UPDATE). */
static void
train_check_select(List *queries)
{
	ListCell   *lc;

	foreach(lc, queries)
	{
		Query	   *q = lfirst_node(Query, lc);

		if (q->hasModifyingCTE || q->rowMarks != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the pairs query must be a single SELECT"),
					 errdetail("It may not modify data (WITH ... DELETE/UPDATE/INSERT) or lock rows (FOR UPDATE/SHARE).")));
	}
}

/* One row of the pairs query: (a, b, same), none of them NULL. */
static void
train_read_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	TrainData  *td = (TrainData *) arg;
	Datum		v[3];
	bool		isnull;

	for (int c = 0; c < 3; c++)
	{
		v[c] = SPI_getbinval(tup, desc, c + 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the pairs query returned NULL in column \"%s\" of row %d",
							NameStr(TupleDescAttr(desc, c)->attname), td->n + 1),
					 errhint("Filter out incomplete pairs, e.g. WHERE a IS NOT NULL AND b IS NOT NULL.")));
	}
	train_add(td, DatumGetFaceEmbedding(v[0]), DatumGetFaceEmbedding(v[1]), DatumGetBool(v[2]));
}

/* Run pairs_query (SPI, caller's rights) and collect its rows. */
static void
train_read_pairs(const char *query, Oid embtype, TrainData *td)
{
	SPIPlanPtr	plan = SPI_prepare(query, 0, NULL);
	Portal		portal;
	List	   *sources;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	/* one SELECT, run read-only: no DML, no data-modifying CTE, no FOR UPDATE */
	sources = SPI_plan_get_plan_sources(plan);
	if (list_length(sources) != 1 ||
		((CachedPlanSource *) linitial(sources))->commandTag != CMDTAG_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the pairs query must be a single SELECT")));
	train_check_select(((CachedPlanSource *) linitial(sources))->query_list);
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	train_check_columns(portal->tupDesc, embtype);

	faceid_cursor_foreach(portal, TRAIN_FETCH, train_read_row, td);
}

/* Raise unless td can be fitted: enough pairs, both classes. */
static void
train_check_data(const TrainData *td)
{
	if (td->n < TRAIN_MIN_PAIRS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("face_verify_train needs at least %d pairs, the query returned %d",
						TRAIN_MIN_PAIRS, td->n)));
	if (td->positives == 0 || td->positives == td->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the pairs query returned only %s pairs",
						td->positives == 0 ? "different-person" : "same-person"),
				 errdetail("Training needs both classes: same = true and same = false.")));
}

/* theta . row */
static inline double
dot_row(const double *row, const double *theta)
{
	double		s = 0.0;

	for (int k = 0; k < VERIFY_NPARAM; k++)
		s += row[k] * theta[k];
	return s;
}

/* The objective: mean log-loss + l2 * |w|^2 (the bias is not penalised). */
static double
train_objective(const TrainData *td, const double *theta, double l2)
{
	double		loss = 0.0,
				pen = 0.0;

	for (int i = 0; i < td->n; i++)
	{
		double		z = dot_row(td->x + (size_t) i * VERIFY_NPARAM, theta);

		loss += softplus(z) - td->y[i] * z;
	}
	for (int k = 0; k < FI_DIM; k++)
		pen += theta[k] * theta[k];
	return loss / td->n + l2 * pen;
}

/*
 * Gradient g and Hessian H (column-major, lower triangle) of the objective
 * at theta.  H = sum_i z_i z_i^T with z_i = sqrt(p_i (1 - p_i) / n) x_i, by
 * dsyrk over blocks of TRAIN_BLOCK rows in the scratch zbuf (so memory does
 * not grow with n), plus 2 l2 on the weights' diagonal.
 */
static void
train_derivatives(const TrainData *td, const double *theta, double l2,
				  double *zbuf, double *g, double *h)
{
	const fi_blas *lapack = verify_lapack();
	const int	np = VERIFY_NPARAM;
	const double one = 1.0,
				zero = 0.0;

	memset(g, 0, sizeof(double) * np);
	for (int start = 0; start < td->n; start += TRAIN_BLOCK)
	{
		int			rows = Min(TRAIN_BLOCK, td->n - start);

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < rows; j++)
		{
			const double *row = td->x + (size_t) (start + j) * np;
			double	   *zr = zbuf + (size_t) j * np;
			double		p = sigmoid(dot_row(row, theta));
			double		r = p - td->y[start + j];
			double		s = sqrt(p * (1.0 - p) / td->n);

			for (int k = 0; k < np; k++)
			{
				g[k] += r * row[k];
				zr[k] = s * row[k];
			}
		}
		lapack->dsyrk("L", "N", &np, &rows, &one, zbuf, &np,
					  start == 0 ? &zero : &one, h, &np, 1, 1);
	}
	for (int k = 0; k < np; k++)
		g[k] /= td->n;
	for (int k = 0; k < FI_DIM; k++)
	{
		g[k] += 2.0 * l2 * theta[k];
		h[k * np + k] += 2.0 * l2;
	}
}

/*
 * Solve H step = g with dposv.  When H is not numerically positive definite
 * (separable data without l2: p(1-p) underflows), add a growing ridge.
 */
static void
train_solve(const double *h, const double *g, double *step)
{
	const fi_blas *lapack = verify_lapack();
	const int	np = VERIFY_NPARAM,
				nrhs = 1;
	double	   *a = palloc(sizeof(double) * np * np);
	double		scale = 0.0,
				ridge = 0.0;

	for (int k = 0; k < np; k++)
		scale += h[k * np + k];
	scale = Max(scale / np, 1e-300);

	for (int attempt = 0; attempt < 20; attempt++)
	{
		int			info;

		memcpy(a, h, sizeof(double) * np * np);
		memcpy(step, g, sizeof(double) * np);
		for (int k = 0; k < np; k++)
			a[k * np + k] += ridge;
		lapack->dposv("L", &np, &nrhs, a, &np, step, &np, &info, 1);
		if (info == 0)
		{
			pfree(a);
			return;
		}
		if (info < 0)
			elog(ERROR, "dposv: illegal argument %d", -info);
		ridge = ridge == 0.0 ? 1e-12 * scale : ridge * 100.0;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("face_verify_train could not solve the Newton system"),
			 errhint("Use a larger l2.")));
}

/* Newton's method with a backtracking line search; returns the steps taken. */
static int
train_newton(const TrainData *td, double l2, double *theta)
{
	double	   *zbuf = palloc(sizeof(double) * VERIFY_NPARAM * TRAIN_BLOCK);
	double	   *h = palloc(sizeof(double) * VERIFY_NPARAM * VERIFY_NPARAM);
	double		g[VERIFY_NPARAM],
				step[VERIFY_NPARAM],
				cand[VERIFY_NPARAM];
	double		f;
	int			iter;

	/* start from w = 0 and the bias of the class balance */
	memset(theta, 0, sizeof(double) * VERIFY_NPARAM);
	theta[FI_DIM] = log((double) td->positives / (td->n - td->positives));
	f = train_objective(td, theta, l2);

	for (iter = 0; iter < TRAIN_MAX_ITER; iter++)
	{
		double		decrement = 0.0,
					t = 1.0,
					fc = f;
		bool		accepted = false;

		CHECK_FOR_INTERRUPTS();
		train_derivatives(td, theta, l2, zbuf, g, h);
		train_solve(h, g, step);
		for (int k = 0; k < VERIFY_NPARAM; k++)
			decrement += g[k] * step[k];
		/* Newton decrement: f - min of the local quadratic model */
		if (!(decrement / 2.0 > 1e-14))
			break;

		for (int ls = 0; ls < 40 && !accepted; ls++, t *= 0.5)
		{
			for (int k = 0; k < VERIFY_NPARAM; k++)
				cand[k] = theta[k] - t * step[k];
			fc = train_objective(td, cand, l2);
			accepted = fc <= f - 1e-4 * t * decrement;
		}
		if (!accepted)
			break;				/* no further progress in double precision */
		memcpy(theta, cand, sizeof(cand));
		f = fc;
	}
	pfree(zbuf);
	pfree(h);
	return iter;
}

/* Accuracy (p >= 0.5 means same) and mean log-loss of the stored head. */
static void
train_metrics(const TrainData *td, const double *w, double bias,
			  double *accuracy, double *log_loss)
{
	int			right = 0;
	double		loss = 0.0;

	for (int i = 0; i < td->n; i++)
	{
		const double *row = td->x + (size_t) i * VERIFY_NPARAM;
		double		sum = 0.0,
					z;

		/* the same arithmetic as head_logit() */
		for (int k = 0; k < FI_DIM; k++)
			sum += w[k] * row[k];
		z = sum + bias;
		right += ((sigmoid(z) >= 0.5) == (td->y[i] == 1.0));
		loss += softplus(z) - td->y[i] * z;
	}
	*accuracy = (double) right / td->n;
	*log_loss = loss / td->n;
}

/* Raise unless the caller may train a head under this name. */
static void
train_check_name(const char *name)
{
	if (name[0] == '\0' || strlen(name) > VERIFY_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a verifier name must have 1 to %d bytes", VERIFY_NAME_MAX)));
	if (strcmp(name, VERIFY_DEFAULT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("verifier name \"%s\" is reserved", VERIFY_DEFAULT),
				 errdetail("The default verifier ships with the extension and is never replaced."),
				 errhint("Train under another name and pass it to face_verify(a, b, verifier).")));
}

/*
 * Insert or replace the head, as the owner of faceid_verifier (the extension
 * owner) with a safe search_path.  ON CONFLICT ... WHERE makes the owner
 * check and the write one atomic statement.
 */
static void
train_store(Oid relid, const char *name, const float4 *w, float4 bias,
			const char *query, int pairs, double accuracy)
{
	Oid			caller = GetUserId();
	int			ret;
	Datum		elems[FI_DIM];
	Oid			argtypes[8] = {TEXTOID, REGROLEOID, FLOAT4ARRAYOID, FLOAT4OID,
	TEXTOID, INT4OID, FLOAT4OID, BOOLOID};
	Datum		values[8];
	char	   *sql;

	for (int k = 0; k < FI_DIM; k++)
		elems[k] = Float4GetDatum(w[k]);
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(caller);
	values[2] = PointerGetDatum(construct_array(elems, FI_DIM, FLOAT4OID, sizeof(float4),
												true, TYPALIGN_INT));
	values[3] = Float4GetDatum(bias);
	values[4] = CStringGetTextDatum(query);
	values[5] = Int32GetDatum(pairs);
	values[6] = Float4GetDatum((float4) accuracy);
	values[7] = BoolGetDatum(superuser_arg(caller));

	sql = psprintf("INSERT INTO %s AS v (name, owner, weights, bias, trained_on, pairs, accuracy, created) "
				   "VALUES ($1, $2, $3, $4, $5, $6, $7, pg_catalog.now()) "
				   "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, weights = excluded.weights, "
				   "bias = excluded.bias, trained_on = excluded.trained_on, pairs = excluded.pairs, "
				   "accuracy = excluded.accuracy, created = excluded.created "
				   "WHERE v.owner OPERATOR(pg_catalog.=) excluded.owner OR $8",
				   faceid_extension_table_name(relid));
	ret = faceid_spi_execute_as_owner(relid, sql, 8, argtypes, values, NULL);

	if (ret != SPI_OK_INSERT)
		elog(ERROR, "storing the verifier failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("verifier \"%s\" belongs to another role", name),
				 errdetail("Only its owner (the role that trained it) or a superuser can replace it.")));
}

/* face_verify_train(verifier, pairs_query, l2): fit and store a head. */
Datum
face_verify_train(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	double		l2 = PG_GETARG_FLOAT8(2);
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			relid = faceid_verifier_relid(fcinfo->flinfo->fn_oid);
	Oid			embtype = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										  CStringGetDatum("faceembedding"),
										  ObjectIdGetDatum(nsp));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TrainData	td = {0};
	double		theta[VERIFY_NPARAM],
				w[FI_DIM],
				accuracy,
				log_loss;
	float4		w4[FI_DIM],
				bias4;
	int			iterations;
	Datum		out[4];
	bool		nulls[4] = {false, false, false, false};

	train_check_name(name);
	if (!isfinite(l2) || l2 < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("l2 must be a finite number >= 0, not %g", l2)));
	if (!OidIsValid(embtype))
		elog(ERROR, "type faceembedding not found");

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	train_read_pairs(query, embtype, &td);
	train_check_data(&td);
	iterations = train_newton(&td, l2, theta);

	/* the head as stored (real), and its metrics as face_verify will see it */
	for (int k = 0; k < FI_DIM; k++)
	{
		w4[k] = (float4) theta[k];
		w[k] = w4[k];
	}
	bias4 = (float4) theta[FI_DIM];
	for (int k = 0; k <= FI_DIM; k++)
		if (!isfinite(k < FI_DIM ? w4[k] : bias4))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("face_verify_train diverged: a weight does not fit in real"),
					 errhint("Use a larger l2.")));
	train_metrics(&td, w, bias4, &accuracy, &log_loss);
	train_store(relid, name, w4, bias4, query, td.n, accuracy);

	SPI_finish();

	out[0] = Int32GetDatum(td.n);
	out[1] = Int32GetDatum(iterations);
	out[2] = Float8GetDatum(accuracy);
	out[3] = Float8GetDatum(log_loss);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
	return (Datum) 0;
}
