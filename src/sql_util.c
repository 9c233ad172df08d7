/*
 * sql_util.c
 *	  Small catalog and SPI helpers shared by the SQL glue: reading a user
 *	  query's rows in batches (face_verify_train's pairs,
 *	  face_identify_calibrate's gallery passes) and naming a column
 *	  (face_embed_trigger's arguments, a gallery's columns).
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"

#include "sql_util.h"

/* Hand every row of an open cursor to fn, in batches (see sql_util.h). */
void
faceid_cursor_foreach(Portal portal, long batch, faceid_row_fn fn, void *arg)
{
	for (;;)
	{
		SPI_cursor_fetch(portal, true, batch);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
			fn(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
}

/* The attribute number of a user column, or ERROR 42703. */
AttrNumber
faceid_column_attnum(Oid relid, const char *name, const char *prefix)
{
	AttrNumber	att = get_attnum(relid, name);

	/* dropped columns are not found; system columns have negative numbers */
	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%scolumn \"%s\" of relation \"%s\" does not exist",
						prefix, name, get_rel_name(relid))));
	return att;
}
