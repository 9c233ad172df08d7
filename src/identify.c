/*
 * identify.c
 *	  face_identify(probe, gallery, label_column, embedding_column): the
 *	  enrolled person who best matches a probe, with the estimated
 *	  probability that someone not enrolled would match this well, from the
 *	  gallery's calibration (identify_calibrate.c).
 *
 *	  The gallery query runs through SPI with the caller's rights, ordered
 *	  by <-> so that a faceid_hnsw index serves it, and stops as soon as
 *	  1 + IDENTIFY_NEXT_LABELS different labels have appeared, or after
 *	  IDENTIFY_MAX_ROWS rows (people with very many photos): the people not
 *	  seen by then are at least as far as the last row, so the last row's
 *	  distance stands in for them.  That over-estimates the score, which can
 *	  only lower the acceptance, never raise it.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "type_embedding.h"
#include "engine.h"
#include "citus_placement.h"
#include "identify.h"
#include "owner_spi.h"
#include "sql_util.h"

/* Relative change of the label count that makes a calibration stale. */
#define IDENTIFY_STALE_CHANGE	0.2
/* Saved gallery query plans per backend (round-robin replacement). */
#define IDENTIFY_PLAN_CACHE		8

PG_FUNCTION_INFO_V1(face_identify);

double		faceid_false_accept_rate = 0.01;

/* A saved plan and the SQL text it was made from. */
typedef struct PlanSlot
{
	char	   *sql;
	SPIPlanPtr	plan;
} PlanSlot;

static PlanSlot plan_cache[IDENTIFY_PLAN_CACHE];
static int	plan_cache_next = 0;

/* Key of the "stale calibration" NOTICE already given in this backend. */
typedef struct StaleKey
{
	Oid			relid;
	NameData	label_col;
	NameData	emb_col;
} StaleKey;

static HTAB *stale_noticed = NULL;

/* The calibration face_identify uses. */
typedef struct Calibration
{
	double	   *scores;
	int			nscores;
	int64		labels;
	int64		photos;
	bool		settings_match;
	char	   *settings;
} Calibration;

/* Define faceid.false_accept_rate. */
void
identify_init(void)
{
	DefineCustomRealVariable("faceid.false_accept_rate",
							 "Share of people who are not enrolled that face_identify may accept.",
							 NULL,
							 &faceid_false_accept_rate,
							 0.01, 1e-6, 0.5,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * The gallery: checks shared with face_identify_calibrate.
 * ------------------------------------------------------------------------
 */

/* Raise 42501 unless the caller may read both columns of relid. */
static void
gallery_check_privileges(const IdentifyGallery *g)
{
	Oid			userid = GetUserId();
	AttrNumber	atts[2] = {g->label_att, g->emb_att};
	const char *names[2] = {g->label_col, g->emb_col};

	if (pg_class_aclcheck(g->relid, userid, ACL_SELECT) == ACLCHECK_OK)
		return;
	for (int i = 0; i < 2; i++)
		if (pg_attribute_aclcheck(g->relid, atts[i], userid, ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for column \"%s\" of relation \"%s\"",
							names[i], get_rel_name(g->relid))));
}

/* Check the gallery and fill g (see identify.h). */
void
identify_gallery(IdentifyGallery *g, Oid relid, const char *label_col,
				 const char *emb_col, Oid fn_oid)
{
	char		relkind = get_rel_relkind(relid);
	Oid			nsp = get_func_namespace(fn_oid);
	Oid			atttype;

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view", get_rel_name(relid)),
				 errdetail("A gallery is a relation whose rows are (label, embedding).")));

	g->relid = relid;
	g->label_col = label_col;
	g->emb_col = emb_col;
	g->label_att = faceid_column_attnum(relid, label_col, "");
	g->emb_att = faceid_column_attnum(relid, emb_col, "");
	gallery_check_privileges(g);

	g->embtype = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								 CStringGetDatum("faceembedding"), ObjectIdGetDatum(nsp));
	atttype = get_atttype(relid, g->emb_att);
	if (atttype != g->embtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" has type %s, not faceembedding",
						emb_col, get_rel_name(relid), format_type_be(atttype))));

	g->rel_q = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
	g->label_q = pstrdup(quote_identifier(label_col));
	g->emb_q = pstrdup(quote_identifier(emb_col));
	g->dist_op = psprintf("OPERATOR(%s.<->)", quote_identifier(get_namespace_name(nsp)));
}

/* The calibration table's key as SPI parameters (see identify.h). */
void
identify_key_params(const IdentifyGallery *g, const char *settings,
					NameData names[2], Oid *argtypes, Datum *values)
{
	namestrcpy(&names[0], g->label_col);
	namestrcpy(&names[1], g->emb_col);
	argtypes[0] = REGCLASSOID;
	argtypes[1] = NAMEOID;
	argtypes[2] = NAMEOID;
	argtypes[3] = TEXTOID;
	values[0] = ObjectIdGetDatum(g->relid);
	values[1] = NameGetDatum(&names[0]);
	values[2] = NameGetDatum(&names[1]);
	values[3] = CStringGetTextDatum(settings);
}

/* The settings that made the encodings (see identify.h). */
char *
identify_settings(void)
{
	const fi_model *m = faceid_get_model();
	const char *gucs[4] = {"faceid.alignment", "faceid.detector", "faceid.detect_size", "faceid.min_score"};
	char	   *v[4];

	/* GetConfigOption returns a static buffer for non-string options */
	for (int i = 0; i < 4; i++)
		v[i] = pstrdup(GetConfigOption(gucs[i], false, false));
	return psprintf("model fnv1a64:%016llx, alignment=%s, detector=%s, detect_size=%s, min_score=%s",
					(unsigned long long) fi_model_checksum(m), v[0], v[1], v[2], v[3]);
}

/* ------------------------------------------------------------------------
 * The score and its false-accept probability.
 * ------------------------------------------------------------------------
 */

/* d[0] / mean(d[1..n-1]); 1 (nothing to compare with) when n < 2. */
double
identify_score(const double *d, int n)
{
	double		sum = 0.0;

	if (n < 2)
		return 1.0;
	for (int i = 1; i < n; i++)
		sum += d[i];
	if (!(sum > 0.0))
		return 1.0;
	return Min(d[0] / (sum / (n - 1)), 1.0);
}

/*
 * The exponent k of the lower tail F(s) ~ s^k of the sorted calibration
 * scores: the least-squares slope of log F against log s over the lower
 * half of the samples, clipped to [IDENTIFY_TAIL_MIN, IDENTIFY_TAIL_MAX]
 * (a degenerate sample gets the cautious IDENTIFY_TAIL_MIN).
 */
double
identify_tail_exponent(const double *scores, int n)
{
	int			m = Max(3, n / 2);
	double		sx = 0,
				sy = 0,
				sxx = 0,
				sxy = 0,
				k;
	int			used = 0;

	for (int i = 0; i < Min(m, n); i++)
	{
		double		x,
					y;

		if (!(scores[i] > 0.0))
			continue;
		x = log(scores[i]);
		y = log((double) (i + 1) / (n + 1));
		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
		used++;
	}
	if (used < 2 || sxx * used - sx * sx <= 1e-12)
		return IDENTIFY_TAIL_MIN;
	k = (sxy * used - sx * sy) / (sxx * used - sx * sx);
	return Max(IDENTIFY_TAIL_MIN, Min(IDENTIFY_TAIL_MAX, k));
}

/*
 * The share of leave-one-label-out strangers that score s or better: the
 * empirical distribution function of the sorted scores, linear between
 * (scores[i], (i + 1) / (n + 1)) and up to (1, 1); below the smallest score
 * the power tail (1 / (n + 1)) * (s / scores[0])^k, so that a small gallery
 * (few strangers) can still state rates below 1 / (n + 1).
 */
double
identify_false_accept(const double *scores, int n, double k, double s)
{
	int			lo = 0,
				hi = n;
	double		x0,
				y0,
				x1,
				y1;

	if (n <= 0 || s >= 1.0)
		return 1.0;
	if (s <= 0.0)
		return 0.0;
	if (s < scores[0])
		return pow(s / scores[0], k) / (n + 1);
	/* hi: the first score > s (>= 1 here) */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (scores[mid] <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	x0 = scores[hi - 1];
	y0 = (double) hi / (n + 1);
	x1 = hi == n ? 1.0 : scores[hi];
	y1 = hi == n ? 1.0 : (double) (hi + 1) / (n + 1);
	if (x1 <= x0)
		return y0;
	return y0 + (s - x0) / (x1 - x0) * (y1 - y0);
}

/* ------------------------------------------------------------------------
 * Reading the calibration (with the caller's rights: the table's row
 * security shows only galleries the caller may read).
 * ------------------------------------------------------------------------
 */

/* A plan for sql, prepared once per backend and kept. */
static SPIPlanPtr
saved_plan(const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	PlanSlot   *slot;
	SPIPlanPtr	plan;

	for (int i = 0; i < IDENTIFY_PLAN_CACHE; i++)
		if (plan_cache[i].sql != NULL && strcmp(plan_cache[i].sql, sql) == 0)
			return plan_cache[i].plan;

	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");

	slot = &plan_cache[plan_cache_next];
	plan_cache_next = (plan_cache_next + 1) % IDENTIFY_PLAN_CACHE;
	if (slot->sql != NULL)
	{
		SPI_freeplan(slot->plan);
		pfree(slot->sql);
	}
	slot->sql = MemoryContextStrdup(TopMemoryContext, sql);
	slot->plan = plan;
	return plan;
}

/* Copy a float8[] of calibration scores. */
static void
scores_from_array(ArrayType *arr, Calibration *cal)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	cal->scores = palloc(sizeof(double) * Max(n, 1));
	cal->nscores = 0;
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			cal->scores[cal->nscores++] = DatumGetFloat8(elems[i]);
}

/* Find the calibration of g (matching settings first); false if none. */
static bool
calibration_read(const IdentifyGallery *g, Oid fn_oid, const char *settings, Calibration *cal)
{
	Oid			argtypes[IDENTIFY_KEY_ARGS];
	Datum		values[IDENTIFY_KEY_ARGS];
	char	   *sql;
	SPIPlanPtr	plan;
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	NameData	names[2];

	identify_key_params(g, settings, names, argtypes, values);

	sql = psprintf("SELECT scores, labels, photos, settings OPERATOR(pg_catalog.=) $4, settings FROM %s "
				   "WHERE gallery OPERATOR(pg_catalog.=) $1 AND label_column OPERATOR(pg_catalog.=) $2 "
				   "AND embedding_column OPERATOR(pg_catalog.=) $3 "
				   "ORDER BY settings OPERATOR(pg_catalog.=) $4 DESC, calibrated_at DESC LIMIT 1",
				   faceid_extension_table_name(faceid_extension_table(fn_oid, IDENTIFY_TABLE)));
	plan = saved_plan(sql, IDENTIFY_KEY_ARGS, argtypes, 0);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading %s failed", IDENTIFY_TABLE);
	if (SPI_processed == 0)
		return false;

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	scores_from_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 1, &isnull)), cal);
	cal->labels = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	cal->photos = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	cal->settings_match = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	cal->settings = SPI_getvalue(tup, desc, 5);
	return true;
}

/* Raise 55000 for a gallery that was never calibrated. */
static void
calibration_missing(const IdentifyGallery *g)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("gallery \"%s\" (label column \"%s\", embedding column \"%s\") is not calibrated",
					get_rel_name(g->relid), g->label_col, g->emb_col),
			 errhint("Run SELECT * FROM face_identify_calibrate('%s', '%s', '%s') once the people are enrolled.",
					 g->rel_q, g->label_col, g->emb_col)));
}

/*
 * The planner's estimate of the number of labels of g (pg_statistic's
 * n_distinct and pg_class.reltuples); -1 when there are no statistics, as
 * for a Citus table, whose local statistics describe an empty shell.
 */
static double
estimated_labels(const IdentifyGallery *g, const Calibration *cal)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(g->relid));
	Form_pg_class cls;
	double		reltuples;
	char		relkind;
	double		nd = -1;

	if (!HeapTupleIsValid(tup))
		return -1;
	cls = (Form_pg_class) GETSTRUCT(tup);
	reltuples = cls->reltuples;
	relkind = cls->relkind;
	ReleaseSysCache(tup);
	if (reltuples < 0 || relkind == RELKIND_VIEW || relkind == RELKIND_FOREIGN_TABLE ||
		faceid_citus_table(g->relid))
		return -1;

	tup = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(g->relid),
						  Int16GetDatum(g->label_att),
						  BoolGetDatum(relkind == RELKIND_PARTITIONED_TABLE));
	if (HeapTupleIsValid(tup))
	{
		float4		stadistinct = ((Form_pg_statistic) GETSTRUCT(tup))->stadistinct;

		nd = stadistinct > 0 ? stadistinct : -stadistinct * reltuples;
		ReleaseSysCache(tup);
		if (nd > 0)
			return nd;
	}
	/* no statistics on the label column: scale by the row count */
	if (cal->photos > 0 && relkind != RELKIND_PARTITIONED_TABLE)
		return cal->labels * (reltuples / cal->photos);
	return -1;
}

/* Raise the "stale calibration" NOTICE once per backend and gallery. */
static void
calibration_check_stale(const IdentifyGallery *g, const Calibration *cal, const char *settings)
{
	StaleKey	key;
	bool		found;
	double		nd;
	char	   *why;

	if (cal->settings_match)
	{
		nd = estimated_labels(g, cal);
		if (nd < 0 || fabs(nd - cal->labels) <= IDENTIFY_STALE_CHANGE * cal->labels)
			return;
		why = psprintf("It was calibrated on %lld labels; the statistics now estimate %.0f.",
					   (long long) cal->labels, nd);
	}
	else
		why = psprintf("It was calibrated with %s; this session uses %s.", cal->settings, settings);

	if (stale_noticed == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(StaleKey);
		ctl.entrysize = sizeof(StaleKey);
		ctl.hcxt = TopMemoryContext;
		stale_noticed = hash_create("faceid stale calibrations", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.relid = g->relid;
	namestrcpy(&key.label_col, g->label_col);
	namestrcpy(&key.emb_col, g->emb_col);
	hash_search(stale_noticed, &key, HASH_ENTER, &found);
	if (found)
		return;
	ereport(NOTICE,
			(errmsg("the calibration of gallery \"%s\" is stale", get_rel_name(g->relid)),
			 errdetail_internal("%s", why),
			 errhint("Run face_identify_calibrate('%s', '%s', '%s') again.",
					 g->rel_q, g->label_col, g->emb_col)));
}

/* ------------------------------------------------------------------------
 * The gallery query: the nearest rows until 1 + K people have appeared.
 * ------------------------------------------------------------------------
 */

/* The people nearest to the probe, nearest first. */
typedef struct Neighbours
{
	int			n;
	char	   *label[1 + IDENTIFY_NEXT_LABELS];
	double		dist[1 + IDENTIFY_NEXT_LABELS];
} Neighbours;

/* Record a row of label at distance d (a person's first row is its nearest). */
static void
neighbours_add(Neighbours *nb, const char *label, double d)
{
	for (int i = 0; i < nb->n; i++)
		if (strcmp(nb->label[i], label) == 0)
		{
			/* an approximate index may return a nearer row a little later */
			nb->dist[i] = Min(nb->dist[i], d);
			return;
		}
	nb->label[nb->n] = pstrdup(label);
	nb->dist[nb->n] = d;
	nb->n++;
}

/* Sort the people by distance (insertion sort: at most 1 + K of them). */
static void
neighbours_sort(Neighbours *nb)
{
	for (int i = 1; i < nb->n; i++)
		for (int j = i; j > 0 && nb->dist[j] < nb->dist[j - 1]; j--)
		{
			double		d = nb->dist[j];
			char	   *l = nb->label[j];

			nb->dist[j] = nb->dist[j - 1];
			nb->label[j] = nb->label[j - 1];
			nb->dist[j - 1] = d;
			nb->label[j - 1] = l;
		}
}

/*
 * Read the gallery in distance order until 1 + K people have appeared or
 * IDENTIFY_MAX_ROWS rows were read; people not reached by then get the
 * last row's distance (a lower bound of theirs).
 */
static void
gallery_nearest(const IdentifyGallery *g, const FaceEmbedding *probe, Neighbours *nb)
{
	Oid			argtypes[1] = {g->embtype};
	Datum		values[1] = {PointerGetDatum(probe)};
	SPIPlanPtr	plan;
	Portal		portal;
	char	   *sql;
	int64		rows = 0;
	int			batch = 8;
	bool		exhausted = false;
	double		last = 0.0;

	sql = psprintf("SELECT (%s)::pg_catalog.text, %s %s $1 FROM %s "
				   "WHERE %s IS NOT NULL AND %s IS NOT NULL ORDER BY %s %s $1 LIMIT %d",
				   g->label_q, g->emb_q, g->dist_op, g->rel_q,
				   g->label_q, g->emb_q, g->emb_q, g->dist_op, IDENTIFY_MAX_ROWS);
	plan = saved_plan(sql, 1, argtypes, CURSOR_OPT_NO_SCROLL);
	portal = SPI_cursor_open(NULL, plan, values, NULL, true);

	nb->n = 0;
	while (nb->n < 1 + IDENTIFY_NEXT_LABELS && !exhausted)
	{
		SPI_cursor_fetch(portal, true, batch);
		if (SPI_processed == 0)
			exhausted = true;
		for (uint64 i = 0; i < SPI_processed && nb->n < 1 + IDENTIFY_NEXT_LABELS; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			Datum		label = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);

			last = DatumGetFloat8(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			neighbours_add(nb, TextDatumGetCString(label), last);
			rows++;
		}
		SPI_freetuptable(SPI_tuptable);
		if (rows >= IDENTIFY_MAX_ROWS)
			break;
		batch = Min(batch * 4, 256);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);

	neighbours_sort(nb);
	if (!exhausted && rows >= IDENTIFY_MAX_ROWS)
	{
		/* the cap: the people not reached are at least this far */
		while (nb->n < 1 + IDENTIFY_NEXT_LABELS)
		{
			nb->label[nb->n] = NULL;
			nb->dist[nb->n++] = last;
		}
	}
}

/* face_identify(probe, gallery, label_column, embedding_column) */
Datum
face_identify(PG_FUNCTION_ARGS)
{
	FaceEmbedding *probe = PG_GETARG_FACEEMBEDDING(0);
	Oid			relid = PG_GETARG_OID(1);
	char	   *label_col = NameStr(*PG_GETARG_NAME(2));
	char	   *emb_col = NameStr(*PG_GETARG_NAME(3));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	IdentifyGallery g;
	Calibration cal;
	Neighbours	nb;
	char	   *settings;

	InitMaterializedSRF(fcinfo, 0);
	identify_gallery(&g, relid, label_col, emb_col, fcinfo->flinfo->fn_oid);
	settings = identify_settings();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!calibration_read(&g, fcinfo->flinfo->fn_oid, settings, &cal))
		calibration_missing(&g);
	calibration_check_stale(&g, &cal, settings);

	gallery_nearest(&g, probe, &nb);
	if (nb.n > 0)
	{
		double		k = identify_tail_exponent(cal.scores, cal.nscores);
		double		fa = identify_false_accept(cal.scores, cal.nscores, k,
											   identify_score(nb.dist, nb.n));
		Datum		out[4];
		bool		nulls[4] = {false, false, false, false};

		out[0] = CStringGetTextDatum(nb.label[0]);
		out[1] = Float8GetDatum(nb.dist[0]);
		out[2] = Float8GetDatum(fa);
		out[3] = BoolGetDatum(fa <= faceid_false_accept_rate);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
