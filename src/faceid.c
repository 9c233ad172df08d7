/*
 * faceid.c
 *	  Module entry point: GUCs and one-time initialisation.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "faceid.h"
#include "core/embedding/distance.h"
#include "engine.h"
#include "hnsw/hnsw.h"
#include "identify.h"

PG_MODULE_MAGIC;

/*
 * Default threshold of face_match: the distance that maximises accuracy on
 * LFW View 1 DevTrain with the default pipeline (test/core/eval_lfw.c prints
 * it; DevTest is never used for it).  face-api's customary value is 0.6.
 */
double		faceid_match_threshold = 0.5874;

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
							 0.5874, 0.0, 100.0,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	faceid_engine_init();
	hnsw_init();
	identify_init();

	MarkGUCPrefixReserved("faceid");
}
