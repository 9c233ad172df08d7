/*
 * owner_spi.c
 *	  Writes to the extension's tables as their owner.  The caller's query
 *	  (pairs to train on, a gallery to calibrate) runs with the caller's
 *	  rights; only the final write switches to the table owner, inside a
 *	  SECURITY_RESTRICTED_OPERATION and with a search_path that no user
 *	  object can shadow.
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "owner_spi.h"

/* The OID of the extension table "name": it lives in the schema of fn_oid. */
Oid
faceid_extension_table(Oid fn_oid, const char *name)
{
	Oid			relid = get_relname_relid(name, get_func_namespace(fn_oid));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" of extension faceid is missing", name)));
	return relid;
}

/* The schema-qualified, quoted name of relid. */
char *
faceid_extension_table_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* The owner of relation relid. */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Run sql as the owner of relid with a safe search_path (see owner_spi.h). */
int
faceid_spi_execute_as_owner(Oid relid, const char *sql, int nargs,
							Oid *argtypes, Datum *values, const char *nulls)
{
	Oid			owner = relation_owner(relid);
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
	int			ret;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	AtEOXact_GUC(true, nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);
	return ret;
}
