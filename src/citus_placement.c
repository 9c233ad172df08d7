/*
 * citus_placement.c
 *	  Where the rows of one of the extension's tables live on this node.
 *
 *	  Without Citus, in the table itself.  Once Citus has made the table a
 *	  reference table (create_reference_table), the table on each node is a
 *	  shell and the rows live in the node's placement of its one shard,
 *	  "<table>_<shardid>" in the same schema.  Functions that run inside
 *	  queries Citus pushes to a worker (face_verify) cannot ask Citus to route
 *	  a query for them (nested distributed execution is refused there), so
 *	  they read the local placement directly.  This file reads Citus'
 *	  catalog pg_dist_shard by name only: faceid neither links to Citus nor
 *	  needs it.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "citus_placement.h"

/* Citus' shard catalog and its index on logicalrelid (absent without Citus). */
#define DIST_SHARD			"pg_dist_shard"
#define DIST_SHARD_INDEX	"pg_dist_shard_logical_relid_index"

/*
 * The shard ids pg_dist_shard lists for relid: how many (0 when relid is not
 * a Citus table), and the first one in *shardid.
 */
static int
citus_shards_of(Oid relid, int64 *shardid)
{
	Oid			catalog = get_relname_relid(DIST_SHARD, PG_CATALOG_NAMESPACE);
	Oid			index;
	AttrNumber	att_rel,
				att_shard;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	int			n = 0;

	if (!OidIsValid(catalog))
		return 0;
	att_rel = get_attnum(catalog, "logicalrelid");
	att_shard = get_attnum(catalog, "shardid");
	if (att_rel == InvalidAttrNumber || att_shard == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_catalog.%s has no columns logicalrelid and shardid", DIST_SHARD),
				 errdetail("faceid reads the shard catalog of Citus 11 or later.")));
	index = get_relname_relid(DIST_SHARD_INDEX, PG_CATALOG_NAMESPACE);

	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, att_rel, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, att_shard, RelationGetDescr(rel), &isnull);

		if (n++ == 0 && !isnull)
			*shardid = DatumGetInt64(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return n;
}

/* Is relid a Citus table (distributed, reference or Citus local)? */
bool
faceid_citus_table(Oid relid)
{
	int64		shardid;

	return citus_shards_of(relid, &shardid) > 0;
}

/* The relation that holds relid's rows on this node (see the file header). */
Oid
faceid_local_rows_relid(Oid relid)
{
	int64		shardid = 0;
	int			nshards = citus_shards_of(relid, &shardid);
	char	   *relname;
	char	   *shardname;
	Oid			shard;

	if (nshards == 0)
		return relid;
	relname = get_rel_name(relid);
	if (nshards > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is distributed over %d shards", relname, nshards),
				 errhint("Make it a reference table: SELECT undistribute_table('%s'); SELECT create_reference_table('%s');",
						 relname, relname)));
	shardname = psprintf("%s_" INT64_FORMAT, relname, shardid);
	shard = get_relname_relid(shardname, get_rel_namespace(relid));
	if (!OidIsValid(shard))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no placement of \"%s\" (shard %s)", relname, shardname),
				 errhint("Reference tables are copied to every node in pg_dist_node; on the coordinator, register it with citus_set_coordinator_host().")));
	return shard;
}
