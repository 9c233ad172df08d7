/*
 * hnsw.c
 *	  faceid_hnsw: the access method handler, reloptions, GUCs, cost
 *	  estimation and opclass validation.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/amvalidate.h"
#include "access/relscan.h"
#include "catalog/index.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "optimizer/optimizer.h"
#include "utils/catcache.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

#include "hnsw.h"

int			hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;
bool		hnsw_iterative_scan = true;
int			hnsw_build_prune = HNSW_PRUNE_FAST;

static const struct config_enum_entry hnsw_build_prune_options[] = {
	{"fast", HNSW_PRUNE_FAST, false},
	{"full", HNSW_PRUNE_FULL, false},
	{"check", HNSW_PRUNE_CHECK, false},
	{NULL, 0, false}
};

static relopt_kind hnsw_relopt_kind;

/* Register the reloptions and GUCs; called once from _PG_init. */
void
hnsw_init(void)
{
	hnsw_relopt_kind = add_reloption_kind();
	add_int_reloption(hnsw_relopt_kind, "m",
					  "Maximum number of links per element on the levels above 1 (2 * m on levels 0 and 1)",
					  HNSW_DEFAULT_M, HNSW_MIN_M, HNSW_MAX_M, AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "ef_construction",
					  "Size of the candidate list while building the graph",
					  HNSW_DEFAULT_EF_CONSTRUCTION, HNSW_MIN_EF_CONSTRUCTION,
					  HNSW_MAX_EF_CONSTRUCTION, AccessExclusiveLock);

	DefineCustomIntVariable("faceid.ef_search",
							"Size of the candidate list of faceid_hnsw index scans.",
							"Larger values find the true nearest neighbours more often, at more cost.",
							&hnsw_ef_search, HNSW_DEFAULT_EF_SEARCH, 1, HNSW_MAX_EF_SEARCH,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("faceid.iterative_scan",
							 "Lets faceid_hnsw index scans continue past ef_search rows.",
							 "With it, a filtered ORDER BY ... LIMIT k returns k rows whenever k rows qualify.",
							 &hnsw_iterative_scan, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("faceid.hnsw_build_prune",
							 "Developer setting: how CREATE INDEX USING faceid_hnsw prunes a full neighbour list.",
							 "fast chooses a sorted list again only where the new link can change it, full always from scratch, check does both and raises an error at the first difference. The index is the same with each.",
							 &hnsw_build_prune, HNSW_PRUNE_FAST, hnsw_build_prune_options,
							 PGC_USERSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
}

/* amoptions */
static bytea *
hnswoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, efConstruction)},
	};

	return (bytea *) build_reloptions(reloptions, validate, hnsw_relopt_kind,
									  sizeof(HnswOptions), tab, lengthof(tab));
}

/* The m of an index's reloptions (the graph's own m is in its metapage). */
int
HnswGetM(Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;

	return opts ? opts->m : HNSW_DEFAULT_M;
}

/* The ef_construction of an index's reloptions. */
int
HnswGetEfConstruction(Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;

	return opts ? opts->efConstruction : HNSW_DEFAULT_EF_CONSTRUCTION;
}

/* ambuildphasename */
static char *
hnswbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case HNSW_PHASE_LOAD:
			return "loading tuples";
		case HNSW_PHASE_WRITE:
			return "writing graph";
		case HNSW_PHASE_REFINE:
			return "refining upper levels";
		default:
			return NULL;
	}
}

/*
 * The candidate list of a scan of a graph of about this many elements:
 * efSearch, times elements / HNSW_WIDTH_ELEMENTS when that is above 1, at
 * most HNSW_MAX_EF_SEARCH.
 */
int
hnsw_search_width(int efSearch, double elements)
{
	double		ef = efSearch;

	if (elements > HNSW_WIDTH_ELEMENTS)
		ef = ceil(ef * elements / HNSW_WIDTH_ELEMENTS);
	return (int) Min(ef, (double) Max(efSearch, HNSW_MAX_EF_SEARCH));
}

/*
 * amcostestimate: an index scan is useful only for ORDER BY <->.  The whole
 * search runs before the first row, so startup cost is the total: about
 * width expansions of 2m neighbours each on level 0, plus the descent.
 */
static void
hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	GenericCosts costs;
	Relation	rel;
	int			m;
	double		visited;

	if (path->indexorderbys == NIL)
	{
		/* no quals it could use: never choose it */
		*indexStartupCost = 1.0e10;
		*indexTotalCost = 1.0e10;
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}

	rel = index_open(index->indexoid, NoLock);
	m = HnswGetM(rel);
	index_close(rel, NoLock);

	visited = (double) hnsw_search_width(hnsw_ef_search, index->tuples) * 2 * m;
	if (index->tuples > 1)
		visited += log(index->tuples) / log((double) m) * m;

	MemSet(&costs, 0, sizeof(costs));
	costs.numIndexTuples = Max(1.0, Min(index->tuples, visited));
	genericcostestimate(root, path, loop_count, &costs);

	*indexStartupCost = costs.indexTotalCost;
	*indexTotalCost = costs.indexTotalCost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0;
	*indexPages = costs.numIndexPages;
}

/* Report an opclass problem at INFO, as the core validators do. */
#define hnsw_invalid(...) \
	ereport(INFO, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION), errmsg(__VA_ARGS__)))

/*
 * amvalidate: the opclass is for a 512-byte fixed-length type, and has
 * exactly one member, operator 1, an ORDER BY operator returning float8
 * sorted by a btree family; faceid_hnsw uses no support functions.
 */
static bool
hnswvalidate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	char	   *opclassname;
	CatCList   *oprlist;
	CatCList   *proclist;
	bool		found = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;
	opclassname = NameStr(classform->opcname);

	if (get_typlen(opcintype) != FACE_EMBEDDING_SIZE || get_typbyval(opcintype))
	{
		hnsw_invalid("faceid_hnsw operator class \"%s\" is not for a %d-byte fixed-length type",
					 opclassname, FACE_EMBEDDING_SIZE);
		result = false;
	}

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amopstrategy != 1 || op->amoppurpose != AMOP_ORDER)
		{
			hnsw_invalid("faceid_hnsw operator family of \"%s\" has operator %s with strategy %d: only ORDER BY strategy 1 is supported",
						 opclassname, format_operator(op->amopopr), op->amopstrategy);
			result = false;
			continue;
		}
		if (!OidIsValid(op->amopsortfamily) ||
			!opfamily_can_sort_type(op->amopsortfamily, FLOAT8OID))
		{
			hnsw_invalid("faceid_hnsw operator family of \"%s\" has operator %s without a float8 sort family",
						 opclassname, format_operator(op->amopopr));
			result = false;
		}
		if (!check_amop_signature(op->amopopr, FLOAT8OID, opcintype, opcintype))
		{
			hnsw_invalid("faceid_hnsw operator family of \"%s\" has operator %s with a wrong signature",
						 opclassname, format_operator(op->amopopr));
			result = false;
		}
		if (op->amoplefttype == opcintype && op->amoprighttype == opcintype)
			found = true;
	}
	ReleaseCatCacheList(oprlist);
	if (!found)
	{
		hnsw_invalid("faceid_hnsw operator class \"%s\" lacks its ORDER BY operator 1",
					 opclassname);
		result = false;
	}

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	if (proclist->n_members > 0)
	{
		hnsw_invalid("faceid_hnsw operator family of \"%s\" has support functions, but faceid_hnsw uses none",
					 opclassname);
		result = false;
	}
	ReleaseCatCacheList(proclist);

	ReleaseSysCache(classtup);
	return result;
}

PG_FUNCTION_INFO_V1(faceid_hnsw_handler);

/* The index access method handler. */
Datum
faceid_hnsw_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = 0;
	am->amsupport = 0;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = false;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;

	am->ambuild = hnswbuild;
	am->ambuildempty = hnswbuildempty;
	am->aminsert = hnswinsert;
	am->ambulkdelete = hnswbulkdelete;
	am->amvacuumcleanup = hnswvacuumcleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = hnswcostestimate;
	am->amoptions = hnswoptions;
	am->amproperty = NULL;
	am->ambuildphasename = hnswbuildphasename;
	am->amvalidate = hnswvalidate;
	am->amadjustmembers = NULL;
	am->ambeginscan = hnswbeginscan;
	am->amrescan = hnswrescan;
	am->amgettuple = hnswgettuple;
	am->amgetbitmap = NULL;
	am->amendscan = hnswendscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;

	PG_RETURN_POINTER(am);
}
