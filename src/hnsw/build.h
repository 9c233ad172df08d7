/*
 * build.h
 *	  faceid_hnsw: what the files of CREATE INDEX share: the graph in memory
 *	  (build_graph.c), its refine and repair passes (build_refine.c), the
 *	  page writer (build_write.c), the parallel coordination
 *	  (build_parallel.c) and the scan that drives them (build.c).
 */
#ifndef FACEID_HNSW_BUILD_H
#define FACEID_HNSW_BUILD_H

#include "access/parallel.h"
#include "common/pg_prng.h"
#include "nodes/execnodes.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "hnsw.h"

#define HNSW_BUILD_SEED		UINT64CONST(0x66616365696468)	/* "faceidh" */

/*
 * An element of the graph in memory: a fixed header, then the neighbour ids
 * of every level (HnswTotalSlots of them), then as many squared distances,
 * then a bit per slot: did the heuristic keep that neighbour (rather than
 * take it to fill the list)?  The bits of a level are right only while its
 * bit in sorted is set: the list is then in hnsw_sort_candidates' order
 * and is the heuristic's choice over itself, which lets a full list take a
 * new link without choosing again from scratch (build_prune.c).  Every
 * other change of a list clears that bit.  The vector is not here but in
 * HnswBuildState.vecs, indexed by element number: a search reads the
 * vectors of many elements and the lists of few, so the lists pack tighter
 * and a vector's address needs no load of the offset table.
 */
typedef struct BuildElement
{
	uint64		diskid;			/* index TID once the flush placed it */
	ItemPointerData heaptid;
	uint8		level;
	uint8		unused;
	uint16		counts[HNSW_MAX_LEVEL + 1]; /* per level: slots used */
	uint32		sorted;			/* per level: the kept bits are right */
	uint32		ids[FLEXIBLE_ARRAY_MEMBER];
} BuildElement;

#define BuildElementSize(m, level) \
	MAXALIGN(offsetof(BuildElement, ids) + \
			 (sizeof(uint32) + sizeof(float4)) * HnswTotalSlots(m, level) + \
			 (HnswTotalSlots(m, level) + 7) / 8)
#define ElemDists(e, m)		((float4 *) ((e)->ids + HnswTotalSlots(m, (e)->level)))
#define ElemKept(e, m)		((uint8 *) (ElemDists(e, m) + HnswTotalSlots(m, (e)->level)))

/* Does slot i (counted over all levels) hold a neighbour the heuristic kept? */
static inline bool
elem_kept(BuildElement *e, int m, int i)
{
	return (ElemKept(e, m)[i / 8] >> (i % 8)) & 1;
}

/* Set or clear slot i's kept bit. */
static inline void
elem_set_kept(BuildElement *e, int m, int i, bool kept)
{
	uint8	   *b = &ElemKept(e, m)[i / 8];

	*b = kept ? (*b | (1 << (i % 8))) : (*b & ~(1 << (i % 8)));
}

/*
 * The state of the graph in memory.  In a parallel build it sits at the
 * start of the DSM graph chunk, followed by the element locks, the offset
 * table and the arena; in a serial build it is local and only the leader's
 * fields matter.
 */
typedef struct BuildGraph
{
	Size		arenaSize;		/* bytes of arena (serial: allocated so far) */
	int64		capacity;		/* slots of the offset table */
	pg_atomic_uint64 used;		/* arena bytes handed out */
	pg_atomic_uint64 nelems;	/* element numbers handed out */
	pg_atomic_uint32 full;		/* parallel: arena or offset table ran out */
	int			tranche;		/* of the locks below */
	LWLock		entryLock;		/* guards entry and entryLevel */
	int64		entry;			/* -1: empty */
	int			entryLevel;
	bool		refined;		/* mem_refine_upper has run */
	pg_atomic_uint64 refineNext;	/* parallel: next element to refine */
} BuildGraph;

/* Shared state of a parallel build, followed by the parallel heap scan */
typedef struct HnswBuildShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	int			m;
	int			efConstruction;
	pg_atomic_uint64 tuplesDone;	/* tuples added by all participants */
	bool		refining;		/* workers: refine, do not scan */
	pg_atomic_uint32 nfinished; /* workers done */
	slock_t		mutex;			/* guards the sums below */
	double		reltuples;		/* workers' heap tuples */
	double		indtuples;		/* workers' index tuples */
} HnswBuildShared;

/* Element locks of a parallel build: element i uses lock i % this. */
#define HNSW_BUILD_LOCKS	4096

typedef struct HnswBuildState
{
	HnswGraph	g;				/* first: the in-memory graph view */
	Relation	heap;
	Relation	index;
	int			m;
	int			efConstruction;
	int			maxLevel;

	BuildGraph *graph;
	char	   *arena;			/* element i is at arena + offsets[i] */
	float4	   *vecs;			/* its vector at vecs + i * FI_DIM */
	char	   *vecsChunk;		/* serial: the allocation vecs is aligned in */
	pg_atomic_uint64 *offsets;
	LWLock	   *locks;			/* NULL: serial build, no locking */
	HnswBuildShared *shared;	/* parallel build only */
	bool		isLeader;		/* reports progress */

	MemoryContext tmpCtx;		/* reset after every tuple */
	Size		memLimit;
	bool		onDisk;			/* past maintenance_work_mem */

	double		indtuples;
	pg_prng_state prng;
	HnswCandidate *found;		/* search results buffer */
} HnswBuildState;

/* The element numbered id. */
static inline BuildElement *
elem(HnswBuildState *bs, uint64 id)
{
	return (BuildElement *) (bs->arena + pg_atomic_read_u64(&bs->offsets[id]));
}

/* The vector of element id (written once, before the element is published). */
static inline float4 *
elem_vec(HnswBuildState *bs, uint64 id)
{
	return bs->vecs + id * FI_DIM;
}

/* Lock element id's lists (parallel build only). */
static inline void
elem_lock(HnswBuildState *bs, uint64 id, LWLockMode mode)
{
	if (bs->locks)
		LWLockAcquire(&bs->locks[id % HNSW_BUILD_LOCKS], mode);
}

/* Release elem_lock. */
static inline void
elem_unlock(HnswBuildState *bs, uint64 id)
{
	if (bs->locks)
		LWLockRelease(&bs->locks[id % HNSW_BUILD_LOCKS]);
}

/* Ask for the eight cache lines of a vector, so that misses overlap. */
static inline void
prefetch_vector(const float4 *v)
{
	for (size_t b = 0; b < sizeof(float4) * FI_DIM; b += 64)
		__builtin_prefetch((const char *) v + b);
}

/* build.c */
extern void hnsw_build_state_init(HnswBuildState *bs, Relation heap,
								  Relation index, int m, int efConstruction);
extern void hnsw_build_callback(Relation index, ItemPointer tid, Datum *values,
								bool *isnull, bool tupleIsAlive, void *state);

/* build_graph.c */
extern void hnsw_arena_reserve(HnswBuildState *bs, Size bytes);
extern bool hnsw_arena_alloc(HnswBuildState *bs, Size size, Size *off);
extern void hnsw_mem_distances(HnswGraph *g, const float4 *q,
							   HnswCandidate *cs, int n, bool *ok,
							   bool *deleted);
extern int	hnsw_mem_neighbors(HnswGraph *g, uint64 id, int lev, uint64 *out);
extern bool hnsw_mem_vector(HnswGraph *g, uint64 id, float4 *out);
extern BuildElement *hnsw_mem_element_init(HnswBuildState *bs, Size off,
										   ItemPointer heaptid, int level);
extern bool hnsw_mem_add_link(HnswBuildState *bs, uint32 nb, int lev, uint32 x,
							  float4 d, int *indeg, int minin);
extern void hnsw_mem_force_link(HnswBuildState *bs, uint32 nb, int lev,
								uint32 q, float4 d);
extern void hnsw_mem_connect_level(HnswBuildState *bs, uint32 qid, int lev,
								   HnswCandidate *found, int nfound);
extern int	hnsw_mem_drop_self(HnswCandidate *found, int nfound, uint32 qid);
extern void hnsw_mem_insert(HnswBuildState *bs, uint32 qid);

/* build_prune.c */
extern bool hnsw_mem_prune_full_list(HnswBuildState *bs, uint32 nb, int lev,
									 uint32 q, float4 d);
extern void hnsw_mem_set_list(HnswBuildState *bs, BuildElement *e, int lev,
							  const uint32 *ids, const float4 *dists,
							  const bool *kept, int k, bool sorted);
extern void hnsw_prune_stats_reset(void);
extern void hnsw_prune_stats_report(void);

/* build_refine.c */
extern void hnsw_mem_refine_upper(HnswBuildState *bs, pg_atomic_uint64 *next);
extern void hnsw_mem_fix_inlinks(HnswBuildState *bs);
extern void hnsw_mem_report_levels(HnswBuildState *bs);
extern void hnsw_mem_connect_islands(HnswBuildState *bs);

/* build_write.c */
extern void hnsw_build_flush(HnswBuildState *bs);

/* build_parallel.c */
extern bool hnsw_build_parallel_add(HnswBuildState *bs, const float4 *vec,
									ItemPointer tid, int level);
extern bool hnsw_build_parallel(HnswBuildState *bs, IndexInfo *indexInfo,
								int nworkers, double *reltuples);

#endif							/* FACEID_HNSW_BUILD_H */
