/*
 * build_parallel.c
 *	  faceid_hnsw CREATE INDEX with parallel workers.
 *
 * The leader and its workers scan the heap in parallel and insert into one
 * graph in a DSM segment: the BuildGraph header, HNSW_BUILD_LOCKS element
 * locks, the offset table, the vector array and the arena.  An element
 * number and arena space are handed out by atomic counters; an element's
 * lists are read and written under its lock (one at a time: nobody holds
 * two), vectors and heap TIDs are never written after the element is
 * published.  Each participant has its own visited marks.  When the
 * workers are done, the leader alone links islands and writes the pages,
 * as a serial build does.
 *
 * The segment is sized up front from the heap (a faceembedding row takes
 * at least 540 bytes of a page) within maintenance_work_mem.  When the
 * graph would not fit, the build is serial from the start (and spills to
 * disk as always); when it still runs out (an underestimate), the
 * participants stop adding, and the leader discards the graph and builds
 * serially.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "build.h"

#define HNSW_KEY_SHARED			UINT64CONST(0xFA1D000000000001)
#define HNSW_KEY_GRAPH			UINT64CONST(0xFA1D000000000002)
#define HNSW_KEY_QUERY_TEXT		UINT64CONST(0xFA1D000000000003)

#define SharedScan(shared) \
	((ParallelTableScanDesc) ((char *) (shared) + BUFFERALIGN(sizeof(HnswBuildShared))))

/* The lock tranche of this backend's parallel builds (0: none yet). */
static int	hnsw_build_tranche = 0;

/* Bytes of the vector array for capacity elements. */
#define VectorsSize(capacity)	((Size) (capacity) * sizeof(float4) * FI_DIM)

/*
 * Offsets in the graph chunk: locks, offset table, vector array (with a
 * cache line of room to start it on one: graph_attach), arena; returns its
 * size.
 */
static Size
graph_layout(int64 capacity, Size arenaSize, Size *locksOff, Size *offsetsOff,
			 Size *vecsOff, Size *arenaOff)
{
	*locksOff = MAXALIGN(sizeof(BuildGraph));
	*offsetsOff = *locksOff + MAXALIGN(sizeof(LWLock) * HNSW_BUILD_LOCKS);
	*vecsOff = *offsetsOff + MAXALIGN(sizeof(pg_atomic_uint64) * capacity);
	*arenaOff = *vecsOff + PG_CACHE_LINE_SIZE + VectorsSize(capacity);
	return *arenaOff + arenaSize;
}

/* Map the shared graph into bs, with this participant's visited marks. */
static void
graph_attach(HnswBuildState *bs, char *base)
{
	BuildGraph *gr = (BuildGraph *) base;
	Size		locksOff;
	Size		offsetsOff;
	Size		vecsOff;
	Size		arenaOff;

	graph_layout(gr->capacity, gr->arenaSize, &locksOff, &offsetsOff, &vecsOff,
				 &arenaOff);
	bs->graph = gr;
	bs->locks = (LWLock *) (base + locksOff);
	bs->offsets = (pg_atomic_uint64 *) (base + offsetsOff);
	/* segments are mapped page-aligned: every participant agrees on this */
	bs->vecs = (float4 *) TYPEALIGN(PG_CACHE_LINE_SIZE, base + vecsOff);
	bs->arena = base + arenaOff;
	LWLockRegisterTranche(gr->tranche, "faceid_hnsw_build");
	bs->g.epochs = palloc_extended(sizeof(uint32) * gr->capacity,
								   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	bs->g.nepochs = gr->capacity;
	bs->g.epoch = 0;
}

/*
 * Size the shared graph for this heap within maintenance_work_mem: its
 * capacity (elements) and arena bytes; false if it should not be tried.
 */
static bool
graph_plan(HnswBuildState *bs, int64 *capacity, Size *arenaSize)
{
	Size		perPage = (BLCKSZ - SizeOfPageHeaderData) /
		(MAXALIGN(SizeofHeapTupleHeader + sizeof(float4) * FI_DIM) + sizeof(ItemIdData));
	int64		maxTuples = (int64) RelationGetNumberOfBlocks(bs->heap) * perPage + 1;
	Size		elemSize = BuildElementSize(bs->m, 0);
	/* upper levels and promoted copies (4m slots on level 1): half more */
	Size		perElem = elemSize + elemSize / 2;
	/* what each slot of the capacity costs besides the arena */
	Size		perSlot = sizeof(pg_atomic_uint64) + VectorsSize(1);
	Size		fixed;
	Size		offsetsOff;
	Size		vecsOff;
	Size		arenaOff;
	double		expected = bs->heap->rd_rel->reltuples;
	int64		cap;
	Size		tables;

	graph_layout(0, 0, &fixed, &offsetsOff, &vecsOff, &arenaOff);
	fixed = arenaOff;
	if (expected <= 0 || expected > maxTuples)
		expected = maxTuples;
	if (bs->memLimit <= fixed ||
		fixed + expected * (perElem + perSlot) > bs->memLimit)
		return false;
	cap = Min(maxTuples, (int64) ((bs->memLimit - fixed) / (elemSize + perSlot)));
	cap = Min(cap, (int64) PG_UINT32_MAX);
	*capacity = cap;
	tables = graph_layout(cap, 0, &fixed, &offsetsOff, &vecsOff, &arenaOff);
	*arenaSize = Min(bs->memLimit - tables, (Size) cap * perElem);
	return true;
}

/* Leader: wait for the workers, reporting the tuples of all participants. */
static void
wait_for_workers(HnswBuildState *bs, ParallelContext *pcxt)
{
	WaitForParallelWorkersToAttach(pcxt);
	while (pg_atomic_read_u32(&bs->shared->nfinished) < (uint32) pcxt->nworkers_launched)
	{
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) pg_atomic_read_u64(&bs->shared->tuplesDone));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	WaitForParallelWorkersToFinish(pcxt);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
								 (int64) pg_atomic_read_u64(&bs->shared->tuplesDone));
}

/*
 * The second phase of a parallel build: workers launched again, and the
 * leader, refine the upper levels together (hnsw_mem_refine_upper), taking
 * elements from a shared counter.
 */
static void
refine_parallel(HnswBuildState *bs, ParallelContext *pcxt)
{
	BuildGraph *gr = bs->graph;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_REFINE);
	bs->shared->refining = true;
	pg_atomic_write_u32(&bs->shared->nfinished, 0);
	pg_atomic_write_u64(&gr->refineNext, 0);
	ReinitializeParallelDSM(pcxt);
	LaunchParallelWorkers(pcxt);
	hnsw_mem_refine_upper(bs, &gr->refineNext);
	wait_for_workers(bs, pcxt);
	gr->refined = true;
}

/*
 * Build with nworkers workers and the leader; false if the graph did not
 * fit (nothing is written then) or no parallel context could be set up.
 */
bool
hnsw_build_parallel(HnswBuildState *bs, IndexInfo *indexInfo, int nworkers,
			   double *reltuples)
{
	ParallelContext *pcxt;
	Snapshot	snapshot;
	Size		estshared;
	Size		graphSize;
	Size		locksOff;
	Size		offsetsOff;
	Size		vecsOff;
	Size		arenaOff;
	int64		capacity;
	Size		arenaSize;
	HnswBuildShared *shared;
	BuildGraph *gr;
	char	   *sharedquery;
	int			querylen = 0;
	TableScanDesc scan;
	bool		full;

	if (!graph_plan(bs, &capacity, &arenaSize))
		return false;
	graphSize = graph_layout(capacity, arenaSize, &locksOff, &offsetsOff, &vecsOff,
							 &arenaOff);
	if (hnsw_build_tranche == 0)
		hnsw_build_tranche = LWLockNewTrancheId();

	EnterParallelMode();
	/* as MODULE_PATHNAME names it, so extension_destdir finds this copy */
	pcxt = CreateParallelContext("$libdir/faceid", "hnsw_parallel_build_main", nworkers);
	snapshot = indexInfo->ii_Concurrent ?
		RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;

	estshared = BUFFERALIGN(sizeof(HnswBuildShared)) +
		table_parallelscan_estimate(bs->heap, snapshot);
	shm_toc_estimate_chunk(&pcxt->estimator, estshared);
	shm_toc_estimate_chunk(&pcxt->estimator, graphSize);
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	if (debug_query_string)
	{
		querylen = strlen(debug_query_string);
		shm_toc_estimate_chunk(&pcxt->estimator, querylen + 1);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return false;
	}

	shared = shm_toc_allocate(pcxt->toc, estshared);
	shared->heaprelid = RelationGetRelid(bs->heap);
	shared->indexrelid = RelationGetRelid(bs->index);
	shared->isconcurrent = indexInfo->ii_Concurrent;
	shared->refining = false;
	shared->m = bs->m;
	shared->efConstruction = bs->efConstruction;
	pg_atomic_init_u64(&shared->tuplesDone, 0);
	pg_atomic_init_u32(&shared->nfinished, 0);
	SpinLockInit(&shared->mutex);
	shared->reltuples = 0;
	shared->indtuples = 0;
	table_parallelscan_initialize(bs->heap, SharedScan(shared), snapshot);
	shm_toc_insert(pcxt->toc, HNSW_KEY_SHARED, shared);

	gr = shm_toc_allocate(pcxt->toc, graphSize);
	gr->arenaSize = arenaSize;
	gr->capacity = capacity;
	pg_atomic_init_u64(&gr->used, 0);
	pg_atomic_init_u64(&gr->nelems, 0);
	pg_atomic_init_u32(&gr->full, 0);
	gr->tranche = hnsw_build_tranche;
	LWLockInitialize(&gr->entryLock, gr->tranche);
	gr->entry = -1;
	gr->entryLevel = -1;
	gr->refined = false;
	pg_atomic_init_u64(&gr->refineNext, 0);
	for (int i = 0; i < HNSW_BUILD_LOCKS; i++)
		LWLockInitialize((LWLock *) ((char *) gr + locksOff) + i, gr->tranche);
	shm_toc_insert(pcxt->toc, HNSW_KEY_GRAPH, gr);

	if (debug_query_string)
	{
		sharedquery = shm_toc_allocate(pcxt->toc, querylen + 1);
		memcpy(sharedquery, debug_query_string, querylen + 1);
		shm_toc_insert(pcxt->toc, HNSW_KEY_QUERY_TEXT, sharedquery);
	}

	LaunchParallelWorkers(pcxt);
	ereport(DEBUG1,
			(errmsg_internal("faceid_hnsw build: %d of %d workers launched, graph segment %zu bytes for " INT64_FORMAT " elements",
							 pcxt->nworkers_launched, nworkers, graphSize, capacity)));

	/* the leader takes part */
	bs->shared = shared;
	graph_attach(bs, (char *) gr);
	scan = table_beginscan_parallel(bs->heap, SharedScan(shared));
	*reltuples = table_index_build_scan(bs->heap, bs->index, indexInfo, true, true,
										hnsw_build_callback, (void *) bs, scan);
	wait_for_workers(bs, pcxt);
	ereport(DEBUG1,
			(errmsg_internal("faceid_hnsw build: participants done, " INT64_FORMAT " elements",
							 (int64) pg_atomic_read_u64(&gr->nelems))));
	*reltuples += shared->reltuples;
	bs->indtuples += shared->indtuples;

	full = pg_atomic_read_u32(&gr->full) != 0;
	if (!full)
	{
		refine_parallel(bs, pcxt);
		/* from here on the leader is alone: no locking */
		bs->locks = NULL;
		hnsw_build_flush(bs);
	}
	pfree(bs->g.epochs);
	bs->g.epochs = NULL;
	bs->locks = NULL;
	bs->graph = NULL;
	bs->arena = NULL;
	bs->offsets = NULL;
	bs->vecs = NULL;
	bs->shared = NULL;

	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();

	if (full)
	{
		ereport(NOTICE,
				(errmsg("faceid_hnsw graph no longer fits into maintenance_work_mem; building serially"),
				 errhint("Increase maintenance_work_mem to speed up builds.")));
		/* start over as if serial from the beginning */
		bs->indtuples = 0;
		pg_prng_seed(&bs->prng, HNSW_BUILD_SEED);
		return false;
	}
	return true;
}

/* Entry point of a parallel build worker (see CreateParallelContext). */
void
hnsw_parallel_build_main(dsm_segment *seg, shm_toc *toc)
{
	HnswBuildShared *shared;
	char	   *sharedquery;
	Relation	heap;
	Relation	index;
	LOCKMODE	heapLockmode;
	LOCKMODE	indexLockmode;
	IndexInfo  *indexInfo;
	HnswBuildState bs;
	TableScanDesc scan;
	double		reltuples;

	sharedquery = shm_toc_lookup(toc, HNSW_KEY_QUERY_TEXT, true);
	debug_query_string = sharedquery;
	pgstat_report_activity(STATE_RUNNING, debug_query_string);

	shared = shm_toc_lookup(toc, HNSW_KEY_SHARED, false);
	/* the locks CREATE INDEX (CONCURRENTLY) holds, as nbtree's workers do */
	if (shared->isconcurrent)
	{
		heapLockmode = ShareUpdateExclusiveLock;
		indexLockmode = RowExclusiveLock;
	}
	else
	{
		heapLockmode = ShareLock;
		indexLockmode = AccessExclusiveLock;
	}
	heap = table_open(shared->heaprelid, heapLockmode);
	index = index_open(shared->indexrelid, indexLockmode);
	indexInfo = BuildIndexInfo(index);
	indexInfo->ii_Concurrent = shared->isconcurrent;

	hnsw_build_state_init(&bs, heap, index, shared->m, shared->efConstruction);
	bs.isLeader = false;
	pg_prng_seed(&bs.prng, HNSW_BUILD_SEED + ParallelWorkerNumber + 1);
	bs.shared = shared;
	graph_attach(&bs, shm_toc_lookup(toc, HNSW_KEY_GRAPH, false));

	if (shared->refining)
	{
		hnsw_mem_refine_upper(&bs, &bs.graph->refineNext);
		reltuples = 0;
	}
	else
	{
		scan = table_beginscan_parallel(heap, SharedScan(shared));
		reltuples = table_index_build_scan(heap, index, indexInfo, true, false,
										   hnsw_build_callback, (void *) &bs, scan);
	}

	hnsw_prune_stats_report();
	SpinLockAcquire(&shared->mutex);
	shared->reltuples += reltuples;
	shared->indtuples += bs.indtuples;
	SpinLockRelease(&shared->mutex);
	pg_atomic_fetch_add_u32(&shared->nfinished, 1);

	index_close(index, indexLockmode);
	table_close(heap, heapLockmode);
}


/* Add one tuple to the shared graph of a parallel build; false when full. */
bool
hnsw_build_parallel_add(HnswBuildState *bs, const float4 *vec, ItemPointer tid, int level)
{
	BuildGraph *gr = bs->graph;
	Size		off;
	uint64		n;

	if (pg_atomic_read_u32(&gr->full))
		return false;
	if (!hnsw_arena_alloc(bs, BuildElementSize(bs->m, level), &off))
		return false;
	n = pg_atomic_fetch_add_u64(&gr->nelems, 1);
	if (n >= (uint64) gr->capacity)
	{
		pg_atomic_write_u32(&gr->full, 1);
		return false;
	}
	hnsw_mem_element_init(bs, off, tid, level);
	memcpy(elem_vec(bs, n), vec, sizeof(float4) * FI_DIM);
	pg_atomic_write_u64(&bs->offsets[n], off);
	hnsw_mem_insert(bs, (uint32) n);
	return true;
}
