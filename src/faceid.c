/*
 * faceid.c
 *	  Module entry point: GUCs and one-time initialisation.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "faceid.h"
#include "core/distance.h"
#include "faceid_engine.h"
#include "hnsw.h"

PG_MODULE_MAGIC;

double		faceid_match_threshold = 0.6;

void		_PG_init(void);

/* Define the GUCs and pick the CPU-specific kernels. */
void
_PG_init(void)
{
	fi_distance_init();

	DefineCustomRealVariable("faceid.match_threshold",
							 "Default distance threshold of face_match(a, b): same person when a <-> b <= threshold.",
							 NULL,
							 &faceid_match_threshold,
							 0.6, 0.0, 100.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	faceid_engine_init();
	hnsw_init();

	MarkGUCPrefixReserved("faceid");
}
