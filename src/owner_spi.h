/*
 * owner_spi.h
 *	  Writing the extension's own tables from a function that otherwise runs
 *	  with the caller's rights (face_verify_train, face_identify_calibrate).
 */
#ifndef FACEID_OWNER_SPI_H
#define FACEID_OWNER_SPI_H

#include "postgres.h"

/* The OID of the extension table "name" in the schema of function fn_oid. */
extern Oid	faceid_extension_table(Oid fn_oid, const char *name);

/* The schema-qualified, quoted name of the extension table relid. */
extern char *faceid_extension_table_name(Oid relid);

/*
 * Run sql through SPI (already connected) as the owner of relid (the
 * extension owner), with search_path pg_catalog, pg_temp and a restricted
 * security context; returns SPI_execute_with_args' result code.
 */
extern int	faceid_spi_execute_as_owner(Oid relid, const char *sql, int nargs,
										Oid *argtypes, Datum *values,
										const char *nulls);

#endif							/* FACEID_OWNER_SPI_H */
