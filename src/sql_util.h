/*
 * sql_util.h
 *	  Small catalog and SPI helpers shared by the SQL glue.
 */
#ifndef FACEID_SQL_UTIL_H
#define FACEID_SQL_UTIL_H

#include "postgres.h"

#include "access/attnum.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/portal.h"

/* What faceid_cursor_foreach calls on each row; it must not run SPI itself. */
typedef void (*faceid_row_fn) (HeapTuple tup, TupleDesc desc, void *arg);

/*
 * Fetch every row of an open SPI cursor, batch rows at a time, hand each to
 * fn, free each batch, honour interrupts between batches, and close it.
 */
extern void faceid_cursor_foreach(Portal portal, long batch, faceid_row_fn fn, void *arg);

/*
 * The attribute number of user column "name" of relid; 42703 when there is
 * none.  prefix (may be "") starts the message, e.g. the trigger's name.
 */
extern AttrNumber faceid_column_attnum(Oid relid, const char *name, const char *prefix);

#endif							/* FACEID_SQL_UTIL_H */
