/*
 * build.c
 *	  faceid_hnsw: CREATE INDEX.
 *
 * The graph is built in memory (build_graph.c, within maintenance_work_mem)
 * while the heap is scanned, refined (build_refine.c), then written page by
 * page without WAL (build_write.c); the finished index is WAL-logged in bulk
 * with log_newpage_range.  When the graph outgrows maintenance_work_mem,
 * what is built so far is written out and the remaining tuples are inserted
 * into the graph on disk.  This file drives a serial build and chooses
 * between it and a parallel one (build_parallel.c).
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "build.h"

/* Release the local graph of a serial build. */
static void
free_local_graph(HnswBuildState *bs)
{
	if (bs->arena)
		pfree(bs->arena);
	if (bs->offsets)
		pfree(bs->offsets);
	if (bs->vecsChunk)
		pfree(bs->vecsChunk);
	bs->arena = NULL;
	bs->offsets = NULL;
	bs->vecs = NULL;
	bs->vecsChunk = NULL;
}

/* Spill: write what is built and continue on disk. */
static void
switch_to_disk(HnswBuildState *bs)
{
	ereport(NOTICE,
			(errmsg("faceid_hnsw graph no longer fits into maintenance_work_mem after "
					INT64_FORMAT " tuples",
					(int64) pg_atomic_read_u64(&bs->graph->nelems)),
			 errdetail("Building will take significantly more time."),
			 errhint("Increase maintenance_work_mem to speed up builds.")));
	hnsw_build_flush(bs);
	bs->onDisk = true;
	free_local_graph(bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
}

/*
 * Bytes a serial build holds for its graph, plus what one tuple may add.
 * Like the arena, the vector array counts what is used.
 */
static Size
serial_graph_bytes(HnswBuildState *bs, int level)
{
	BuildGraph *gr = bs->graph;

	return pg_atomic_read_u64(&gr->used) +
		(Size) (sizeof(uint64) + sizeof(uint32)) * gr->capacity +
		sizeof(float4) * FI_DIM * (pg_atomic_read_u64(&gr->nelems) + 1) +
		BuildElementSize(bs->m, level) + BuildElementSize(bs->m, 1);
}

/*
 * Give a serial build a vector array of capacity vectors, keeping the first
 * n.  Each vector starts a cache line, so it is eight lines, not nine.
 */
static void
serial_alloc_vectors(HnswBuildState *bs, int64 capacity, int64 n)
{
	/* the first array's context, not the per-tuple one a tuple is added in */
	MemoryContext cxt = bs->vecsChunk ? GetMemoryChunkContext(bs->vecsChunk) :
		CurrentMemoryContext;
	char	   *chunk = MemoryContextAllocExtended(cxt, sizeof(float4) * FI_DIM * capacity +
												   PG_CACHE_LINE_SIZE, MCXT_ALLOC_HUGE);
	float4	   *vecs = (float4 *) TYPEALIGN(PG_CACHE_LINE_SIZE, chunk);

	if (n > 0)
		memcpy(vecs, bs->vecs, sizeof(float4) * FI_DIM * n);
	if (bs->vecsChunk)
		pfree(bs->vecsChunk);
	bs->vecs = vecs;
	bs->vecsChunk = chunk;
}

/* Add one tuple to the local graph of a serial build. */
static void
serial_add(HnswBuildState *bs, const float4 *vec, ItemPointer tid, int level)
{
	BuildGraph *gr = bs->graph;
	int64		n = pg_atomic_read_u64(&gr->nelems);
	Size		off;

	if (n == gr->capacity)
	{
		gr->capacity *= 2;
		bs->offsets = repalloc_huge(bs->offsets, sizeof(uint64) * gr->capacity);
		serial_alloc_vectors(bs, gr->capacity, n);
		bs->g.epochs = repalloc_huge(bs->g.epochs, sizeof(uint32) * gr->capacity);
		memset(bs->g.epochs + bs->g.nepochs, 0,
			   sizeof(uint32) * (gr->capacity - bs->g.nepochs));
		bs->g.nepochs = gr->capacity;
	}
	/* room for the element and a promoted copy: hnsw_mem_insert never moves the
	 * arena */
	hnsw_arena_reserve(bs, BuildElementSize(bs->m, level) + BuildElementSize(bs->m, 1));
	hnsw_arena_alloc(bs, BuildElementSize(bs->m, level), &off);
	pg_atomic_init_u64(&bs->offsets[n], off);
	hnsw_mem_element_init(bs, off, tid, level);
	memcpy(elem_vec(bs, n), vec, sizeof(float4) * FI_DIM);
	hnsw_mem_insert(bs, (uint32) n);
	pg_atomic_write_u64(&gr->nelems, n + 1);
}

/* table_index_build_scan callback: add one heap tuple to the graph. */
void
hnsw_build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	MemoryContext old;
	FaceEmbedding *v;
	double		u;
	int			level;

	if (isnull[0])
		return;
	v = DatumGetFaceEmbedding(values[0]);
	u = pg_prng_double(&bs->prng);
	level = hnsw_random_level(bs->m, bs->maxLevel, u);
	old = MemoryContextSwitchTo(bs->tmpCtx);

	if (bs->locks)
		(void) hnsw_build_parallel_add(bs, v->x, tid, level);	/* the leader checks "full" */
	else
	{
		if (!bs->onDisk && serial_graph_bytes(bs, level) > bs->memLimit)
			switch_to_disk(bs);
		if (bs->onDisk)
			hnsw_insert_on_disk(index, v->x, tid, bs->efConstruction, u, true);
		else
			serial_add(bs, v->x, tid, level);
	}

	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
	bs->indtuples++;
	if (bs->shared == NULL)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
	else
	{
		uint64		done = pg_atomic_add_fetch_u64(&bs->shared->tuplesDone, 1);

		if (bs->isLeader)
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) done);
	}
}

/* The index's m and ef_construction, checked. */
static void
build_options(Relation index, int *m, int *efConstruction)
{
	*m = HnswGetM(index);
	*efConstruction = HnswGetEfConstruction(index);
	if (*efConstruction < 2 * *m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m"),
				 errdetail("ef_construction is %d and m is %d.",
						   *efConstruction, *m)));
}

/* Set up what every build (and every participant) has: no graph yet. */
void
hnsw_build_state_init(HnswBuildState *bs, Relation heap, Relation index, int m,
				 int efConstruction)
{
	memset(bs, 0, sizeof(*bs));
	bs->heap = heap;
	bs->index = index;
	bs->m = m;
	bs->efConstruction = efConstruction;
	bs->maxLevel = hnsw_max_level(bs->m);
	bs->g.m = bs->m;
	bs->g.distances = hnsw_mem_distances;
	bs->g.neighbors = hnsw_mem_neighbors;
	bs->g.vector = hnsw_mem_vector;
	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "faceid_hnsw build tuple",
									   ALLOCSET_DEFAULT_SIZES);
	bs->memLimit = (Size) maintenance_work_mem * 1024;
	bs->found = palloc(sizeof(HnswCandidate) * (bs->efConstruction + 1));
	bs->isLeader = true;
	pg_prng_seed(&bs->prng, HNSW_BUILD_SEED);
	hnsw_prune_stats_reset();
}

/* A serial build: the graph in local memory, growing. */
static void
serial_graph_init(HnswBuildState *bs)
{
	BuildGraph *gr = palloc0(sizeof(BuildGraph));

	gr->arenaSize = Min((Size) 1024 * 1024, bs->memLimit);
	gr->capacity = 1024;
	pg_atomic_init_u64(&gr->used, 0);
	pg_atomic_init_u64(&gr->nelems, 0);
	pg_atomic_init_u32(&gr->full, 0);
	gr->entry = -1;
	gr->entryLevel = -1;
	gr->refined = false;
	pg_atomic_init_u64(&gr->refineNext, 0);
	bs->graph = gr;
	bs->arena = palloc_extended(gr->arenaSize, MCXT_ALLOC_HUGE);
	bs->offsets = palloc(sizeof(uint64) * gr->capacity);
	serial_alloc_vectors(bs, gr->capacity, 0);
	bs->g.epochs = palloc0(sizeof(uint32) * gr->capacity);
	bs->g.nepochs = gr->capacity;
	bs->g.epoch = 0;
}

/* Build serially; returns the heap tuples scanned. */
static double
build_serial(HnswBuildState *bs, IndexInfo *indexInfo)
{
	double		reltuples;

	serial_graph_init(bs);
	reltuples = table_index_build_scan(bs->heap, bs->index, indexInfo, true, true,
									   hnsw_build_callback, (void *) bs, NULL);
	if (!bs->onDisk)
		hnsw_build_flush(bs);
	free_local_graph(bs);
	return reltuples;
}

/* The number of workers plan_create_index_workers allows for this build. */
static int
parallel_workers(Relation heap, Relation index)
{
	if (!IsNormalProcessingMode() || IsInParallelMode() ||
		max_parallel_maintenance_workers == 0)
		return 0;
	return plan_create_index_workers(RelationGetRelid(heap), RelationGetRelid(index));
}

/* ambuild: build the graph of every non-NULL value of the column. */
IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	HnswBuildState bs;
	int			m;
	int			efConstruction;
	int			nworkers;
	double		reltuples;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	build_options(index, &m, &efConstruction);
	hnsw_write_meta_page(index, m, efConstruction, true);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
	if (heap->rd_rel->reltuples > 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
									 (int64) heap->rd_rel->reltuples);

	hnsw_build_state_init(&bs, heap, index, m, efConstruction);
	nworkers = parallel_workers(heap, index);
	if (nworkers == 0 || !hnsw_build_parallel(&bs, indexInfo, nworkers, &reltuples))
		reltuples = build_serial(&bs, indexInfo);
	hnsw_prune_stats_report();

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(index), true);

	MemoryContextDelete(bs.tmpCtx);

	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/* ambuildempty: the init fork of an unlogged index is an empty metapage. */
void
hnswbuildempty(Relation index)
{
	Page		page = (Page) palloc(BLCKSZ);

	hnsw_fill_meta_page(page, HnswGetM(index), HnswGetEfConstruction(index));
	PageSetChecksumInplace(page, HNSW_METAPAGE_BLKNO);
	smgrwrite(RelationGetSmgr(index), INIT_FORKNUM, HNSW_METAPAGE_BLKNO,
			  (char *) page, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				HNSW_METAPAGE_BLKNO, page, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
	pfree(page);
}
