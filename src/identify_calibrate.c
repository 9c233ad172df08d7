/*
 * identify_calibrate.c
 *	  face_identify_calibrate(gallery, label_column, embedding_column): the
 *	  gallery calibrates itself.  For a seeded sample of its labels (at most
 *	  IDENTIFY_MAX_SAMPLES), one row of that person plays a stranger against
 *	  the gallery without that person (leave one label out); the sorted
 *	  scores of those strangers are stored in faceid_identify_calibration,
 *	  and face_identify reads false_accept(s) off their distribution.
 *
 *	  Three passes over the gallery, all with the caller's rights:
 *	  1. the labels (GROUP BY): counts, and the sample: the labels with the
 *	     smallest seeded hash of their text;
 *	  2. the rows of the sampled labels: for each, the row with the smallest
 *	     seeded hash of its encoding is its stranger;
 *	  3. every row against every stranger (the deterministic distance
 *	     kernel): each stranger keeps its 1 + K nearest other people.
 *	  The sample depends only on the labels and encodings, never on the scan
 *	  order, so every calibration of the same rows stores the same scores.
 *	  Cost: rows x samples distances (1M rows x 1,000 strangers: see the
 *	  benchmark in test/bench/bench_identify.sh).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "type_embedding.h"
#include "identify.h"
#include "owner_spi.h"
#include "sql_util.h"

#define CALIBRATE_FETCH		1000	/* rows per cursor fetch */

PG_FUNCTION_INFO_V1(face_identify_calibrate);
PG_FUNCTION_INFO_V1(faceid_identify_forget_dropped);

/* One leave-one-label-out stranger and the people nearest to it. */
typedef struct Stranger
{
	char	   *label;
	uint32		label_hash;
	uint64		sample_hash;	/* of the label: picks the sample */
	uint64		row_hash;		/* of the chosen row's encoding */
	bool		has_row;
	FaceEmbedding emb;
	int			n;				/* people kept, nearest first */
	float4		dist_sq[1 + IDENTIFY_NEXT_LABELS];
	char	   *near[1 + IDENTIFY_NEXT_LABELS];
} Stranger;

/* The sample of strangers. */
typedef struct Sample
{
	Stranger   *s;
	int			n;
	int			max;
	int64		labels;
	int64		photos;
} Sample;

/* Seeded hash of a label's text. */
static uint64
label_sample_hash(const char *label)
{
	return hash_bytes_extended((const unsigned char *) label, strlen(label), IDENTIFY_SEED);
}

/* Order of the sample: smaller hash first, then the label text. */
static int
stranger_cmp(const Stranger *a, const Stranger *b)
{
	if (a->sample_hash != b->sample_hash)
		return a->sample_hash < b->sample_hash ? -1 : 1;
	return strcmp(a->label, b->label);
}

/* Restore the max-heap (by stranger_cmp) below position i. */
static void
heap_sift_down(Sample *sm, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					m = i;
		Stranger	tmp;

		if (l < sm->n && stranger_cmp(&sm->s[l], &sm->s[m]) > 0)
			m = l;
		if (r < sm->n && stranger_cmp(&sm->s[r], &sm->s[m]) > 0)
			m = r;
		if (m == i)
			return;
		tmp = sm->s[i];
		sm->s[i] = sm->s[m];
		sm->s[m] = tmp;
		i = m;
	}
}

/* Offer a label to the sample: keep the sm->max smallest hashes. */
static void
sample_offer(Sample *sm, const char *label)
{
	Stranger	c = {0};

	c.sample_hash = label_sample_hash(label);
	c.label = (char *) label;
	if (sm->n == sm->max && stranger_cmp(&c, &sm->s[0]) >= 0)
		return;
	c.label = pstrdup(label);
	c.label_hash = hash_bytes((const unsigned char *) label, strlen(label));
	if (sm->n < sm->max)
	{
		/* sift up */
		int			i = sm->n++;

		sm->s[i] = c;
		while (i > 0 && stranger_cmp(&sm->s[(i - 1) / 2], &sm->s[i]) < 0)
		{
			Stranger	tmp = sm->s[i];

			sm->s[i] = sm->s[(i - 1) / 2];
			sm->s[(i - 1) / 2] = tmp;
			i = (i - 1) / 2;
		}
	}
	else
	{
		pfree(sm->s[0].label);
		sm->s[0] = c;
		heap_sift_down(sm, 0);
	}
}

/* Pass 1 row: (label, its row count). */
static void
label_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	Sample	   *sm = (Sample *) arg;
	bool		isnull;
	char	   *label = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));

	sm->labels++;
	sm->photos += DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	sample_offer(sm, label);
	pfree(label);
}

/* Pass 1: count labels and rows, and choose the sampled labels. */
static void
pass_labels(const IdentifyGallery *g, Sample *sm)
{
	char	   *sql = psprintf("SELECT (%s)::pg_catalog.text, pg_catalog.count(*) FROM %s "
							   "WHERE %s IS NOT NULL AND %s IS NOT NULL GROUP BY 1",
							   g->label_q, g->rel_q, g->label_q, g->emb_q);

	sm->max = IDENTIFY_MAX_SAMPLES;
	sm->s = palloc(sizeof(Stranger) * sm->max);
	faceid_cursor_foreach(SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0),
						  CALIBRATE_FETCH, label_row, sm);
}

/* The sampled stranger with this label, or NULL (binary search, sorted). */
static Stranger *
sample_find(Sample *sm, const char *label)
{
	Stranger	key = {0};
	int			lo = 0,
				hi = sm->n - 1;

	key.sample_hash = label_sample_hash(label);
	key.label = (char *) label;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = stranger_cmp(&key, &sm->s[mid]);

		if (c == 0)
			return &sm->s[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* What scan_rows hands each (label, embedding) row to. */
typedef struct GalleryScan
{
	void		(*fn) (Sample *, const char *, const FaceEmbedding *);
	Sample	   *sm;
} GalleryScan;

/* One (label, embedding) row of a gallery query, for scan_rows. */
static void
gallery_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	GalleryScan *gs = (GalleryScan *) arg;
	bool		isnull;
	char	   *label = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));

	gs->fn(gs->sm, label, DatumGetFaceEmbedding(SPI_getbinval(tup, desc, 2, &isnull)));
	pfree(label);
}

/* Run a gallery query as a cursor and hand every (label, embedding) to fn. */
static void
scan_rows(const char *sql, int nargs, Oid *argtypes, Datum *values,
		  void (*fn) (Sample *, const char *, const FaceEmbedding *), Sample *sm)
{
	GalleryScan gs = {fn, sm};

	faceid_cursor_foreach(SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, values,
													NULL, true, 0),
						  CALIBRATE_FETCH, gallery_row, &gs);
}

/* Pass 2 row: keep the row with the smallest seeded hash per sampled label. */
static void
choose_row(Sample *sm, const char *label, const FaceEmbedding *e)
{
	Stranger   *s = sample_find(sm, label);
	uint64		h;

	if (s == NULL)
		return;
	h = hash_bytes_extended((const unsigned char *) e, FACE_EMBEDDING_SIZE, IDENTIFY_SEED);
	if (!s->has_row || h < s->row_hash ||
		(h == s->row_hash && memcmp(e, &s->emb, FACE_EMBEDDING_SIZE) < 0))
	{
		s->has_row = true;
		s->row_hash = h;
		memcpy(&s->emb, e, FACE_EMBEDDING_SIZE);
	}
}

/* Pass 2: the rows of the sampled labels. */
static void
pass_choose_rows(const IdentifyGallery *g, Sample *sm)
{
	Datum	   *elems = palloc(sizeof(Datum) * sm->n);
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1];
	char	   *sql;

	for (int i = 0; i < sm->n; i++)
		elems[i] = CStringGetTextDatum(sm->s[i].label);
	values[0] = PointerGetDatum(construct_array(elems, sm->n, TEXTOID, -1, false, TYPALIGN_INT));
	sql = psprintf("SELECT (%s)::pg_catalog.text, %s FROM %s "
				   "WHERE %s IS NOT NULL AND (%s)::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)",
				   g->label_q, g->emb_q, g->rel_q, g->emb_q, g->label_q);
	scan_rows(sql, 1, argtypes, values, choose_row, sm);
}

/* Offer person "label" at squared distance d to a stranger's nearest list. */
static void
stranger_offer(Stranger *s, const char *label, float4 d)
{
	int			i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->near[i], label) == 0)
			break;
	if (i < s->n)
	{
		if (d >= s->dist_sq[i])
			return;
		pfree(s->near[i]);		/* re-inserted below at its new place */
		for (; i + 1 < s->n; i++)
		{
			s->near[i] = s->near[i + 1];
			s->dist_sq[i] = s->dist_sq[i + 1];
		}
		s->n--;
	}
	else if (s->n == 1 + IDENTIFY_NEXT_LABELS)
	{
		pfree(s->near[s->n - 1]);
		s->n--;
	}
	/* insert in order */
	for (i = s->n; i > 0 && s->dist_sq[i - 1] > d; i--)
	{
		s->near[i] = s->near[i - 1];
		s->dist_sq[i] = s->dist_sq[i - 1];
	}
	s->near[i] = pstrdup(label);
	s->dist_sq[i] = d;
	s->n++;
}

/* Pass 3 row: offer it to every stranger of another label. */
static void
compare_row(Sample *sm, const char *label, const FaceEmbedding *e)
{
	uint32		h = hash_bytes((const unsigned char *) label, strlen(label));

	for (int i = 0; i < sm->n; i++)
	{
		Stranger   *s = &sm->s[i];
		float4		d;

		if (s->label_hash == h && strcmp(s->label, label) == 0)
			continue;
		d = face_embedding_distance_sq(&s->emb, e);
		if (s->n == 1 + IDENTIFY_NEXT_LABELS && d >= s->dist_sq[s->n - 1])
			continue;
		stranger_offer(s, label, d);
	}
}

/* Pass 3: every row of the gallery against every stranger. */
static void
pass_compare(const IdentifyGallery *g, Sample *sm)
{
	char	   *sql = psprintf("SELECT (%s)::pg_catalog.text, %s FROM %s WHERE %s IS NOT NULL AND %s IS NOT NULL",
							   g->label_q, g->emb_q, g->rel_q, g->label_q, g->emb_q);

	scan_rows(sql, 0, NULL, NULL, compare_row, sm);
}

/* Compare two doubles for qsort. */
static int
double_cmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The sorted scores of the strangers. */
static double *
sample_scores(const Sample *sm)
{
	double	   *scores = palloc(sizeof(double) * sm->n);

	for (int i = 0; i < sm->n; i++)
	{
		const Stranger *s = &sm->s[i];
		double		d[1 + IDENTIFY_NEXT_LABELS];

		for (int k = 0; k < s->n; k++)
			d[k] = sqrt((double) s->dist_sq[k]);
		scores[i] = identify_score(d, s->n);
	}
	qsort(scores, sm->n, sizeof(double), double_cmp);
	return scores;
}

/* Insert or replace the calibration row, as the owner of the table. */
static void
calibration_store(Oid caltable, const IdentifyGallery *g, const char *settings,
				  const Sample *sm, const double *scores)
{
	Oid			argtypes[IDENTIFY_KEY_ARGS + 3];
	Datum		values[IDENTIFY_KEY_ARGS + 3];
	Datum	   *elems = palloc(sizeof(Datum) * sm->n);
	NameData	names[2];
	char	   *sql;
	int			ret;

	for (int i = 0; i < sm->n; i++)
		elems[i] = Float8GetDatum(scores[i]);
	identify_key_params(g, settings, names, argtypes, values);
	argtypes[4] = INT8OID;
	argtypes[5] = INT8OID;
	argtypes[6] = FLOAT8ARRAYOID;
	values[4] = Int64GetDatum(sm->labels);
	values[5] = Int64GetDatum(sm->photos);
	values[6] = PointerGetDatum(construct_array(elems, sm->n, FLOAT8OID, sizeof(float8),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	/* one statement: concurrent calibrations leave one consistent row */
	sql = psprintf("INSERT INTO %s AS c (gallery, label_column, embedding_column, settings, labels, photos, "
				   "scores, calibrated_by, calibrated_at) "
				   "VALUES ($1, $2, $3, $4, $5, $6, $7, pg_catalog.session_user(), pg_catalog.now()) "
				   "ON CONFLICT (gallery, label_column, embedding_column, settings) DO UPDATE SET "
				   "labels = excluded.labels, photos = excluded.photos, scores = excluded.scores, "
				   "calibrated_by = excluded.calibrated_by, calibrated_at = excluded.calibrated_at",
				   faceid_extension_table_name(caltable));
	ret = faceid_spi_execute_as_owner(caltable, sql, IDENTIFY_KEY_ARGS + 3, argtypes, values, NULL);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "storing the calibration failed: %s", SPI_result_code_string(ret));
}

/*
 * Drop strangers whose label lost every row between pass 1 and pass 2
 * (each pass has its own snapshot under READ COMMITTED).
 */
static void
sample_drop_rowless(Sample *sm)
{
	int			kept = 0;

	for (int i = 0; i < sm->n; i++)
		if (sm->s[i].has_row)
			sm->s[kept++] = sm->s[i];
	sm->n = kept;
}

/* The largest score face_identify accepts at faceid.false_accept_rate. */
static double
score_at_rate(const double *scores, int n)
{
	double		lo = 0.0,
				hi = 1.0,
				k = identify_tail_exponent(scores, n);

	/* false_accept is continuous and non-decreasing: bisect */
	for (int it = 0; it < 60; it++)
	{
		double		mid = (lo + hi) / 2;

		if (identify_false_accept(scores, n, k, mid) <= faceid_false_accept_rate)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* face_identify_calibrate(gallery, label_column, embedding_column) */
Datum
face_identify_calibrate(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *label_col = NameStr(*PG_GETARG_NAME(1));
	char	   *emb_col = NameStr(*PG_GETARG_NAME(2));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			caltable = faceid_extension_table(fcinfo->flinfo->fn_oid, IDENTIFY_TABLE);
	IdentifyGallery g;
	Sample		sm = {0};
	double	   *scores;
	char	   *settings;
	Datum		out[5];
	bool		nulls[5] = {false, false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	identify_gallery(&g, relid, label_col, emb_col, fcinfo->flinfo->fn_oid);
	settings = identify_settings();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pass_labels(&g, &sm);
	if (sm.labels < IDENTIFY_MIN_LABELS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("gallery \"%s\" has %lld labels with an embedding; calibrating needs at least %d",
						get_rel_name(relid), (long long) sm.labels, IDENTIFY_MIN_LABELS),
				 errdetail("Each enrolled person plays a stranger against the others, so the gallery must hold several people.")));
	/* sorted by the sample order, for sample_find */
	qsort(sm.s, sm.n, sizeof(Stranger), (int (*) (const void *, const void *)) stranger_cmp);
	pass_choose_rows(&g, &sm);
	sample_drop_rowless(&sm);
	pass_compare(&g, &sm);
	scores = sample_scores(&sm);
	calibration_store(caltable, &g, settings, &sm, scores);
	/* scores live in SPI's memory: use them before SPI_finish frees it */
	out[3] = Float8GetDatum(score_at_rate(scores, sm.n));
	SPI_finish();

	out[0] = Int64GetDatum(sm.labels);
	out[1] = Int64GetDatum(sm.photos);
	out[2] = Int32GetDatum(sm.n);
	out[4] = CStringGetTextDatum(settings);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
	return (Datum) 0;
}

/*
 * sql_drop event trigger: delete the calibrations of dropped galleries and
 * of galleries that lost their label or embedding column, as the owner of
 * the table (whoever drops a table need not be able to write it).
 */
Datum
faceid_identify_forget_dropped(PG_FUNCTION_ARGS)
{
	Oid			caltable;
	char	   *sql;
	int			ret;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("faceid_identify_forget_dropped() must be called as an event trigger")));

	caltable = get_relname_relid(IDENTIFY_TABLE, get_func_namespace(fcinfo->flinfo->fn_oid));
	if (!OidIsValid(caltable))
		PG_RETURN_VOID();		/* the extension itself is being dropped */

	sql = psprintf("DELETE FROM %s c USING pg_catalog.pg_event_trigger_dropped_objects() o "
				   "WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
				   "AND c.gallery::pg_catalog.oid OPERATOR(pg_catalog.=) o.objid "
				   "AND (o.objsubid OPERATOR(pg_catalog.=) 0 OR "
				   "o.address_names[pg_catalog.array_length(o.address_names, 1)] "
				   "OPERATOR(pg_catalog.=) ANY (ARRAY[c.label_column::pg_catalog.text, c.embedding_column::pg_catalog.text]))",
				   faceid_extension_table_name(caltable));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = faceid_spi_execute_as_owner(caltable, sql, 0, NULL, NULL, NULL);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "forgetting dropped galleries failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	PG_RETURN_VOID();
}
