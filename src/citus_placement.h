/*
 * citus_placement.h
 *	  Where the rows of an extension table live on this node (itself, or the
 *	  local placement of its shard once Citus made it a reference table).
 */
#ifndef FACEID_CITUS_PLACEMENT_H
#define FACEID_CITUS_PLACEMENT_H

#include "postgres.h"

/*
 * relid itself, or, when relid is a Citus reference table, its shard's
 * placement on this node; raises when this node has none.
 */
extern Oid	faceid_local_rows_relid(Oid relid);

/*
 * Is relid a Citus table?  Its local statistics then describe an empty
 * shell, not its rows.
 */
extern bool faceid_citus_table(Oid relid);

#endif							/* FACEID_CITUS_PLACEMENT_H */
