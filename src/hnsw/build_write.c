/*
 * build_write.c
 *	  faceid_hnsw CREATE INDEX: write the graph in memory to the index, page
 *	  by page, without WAL (the finished index is WAL-logged in bulk).
 */
#include "postgres.h"

#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "build.h"

/*
 * Element placement.  A search reads an element and then its neighbours,
 * so the flush writes elements in an order that puts them on one page with
 * their neighbours.  The elements of the upper levels come first, placed by
 * their level-1 lists (the search of level 1, the graph of the people, is
 * most of a query's reads on a large graph), then the rest by their level-0
 * lists.  Each page is filled greedily: next comes the element that the
 * most elements already on the page link to (ties: the one linked first,
 * so the nearest), like Gorder with a window of one page.  A new page is
 * seeded with the best candidate left over from the last one, or the next
 * element of a breadth-first queue over the graph from the entry point.
 * The graph is unchanged; only the elements' ids move.  Time O(n m + n c)
 * for c candidates a page (at most a page's elements times 2m), memory 7
 * bytes an element, and 4 for the order the flush writes them in.
 */
typedef struct PlaceState
{
	HnswBuildState *bs;
	uint8	   *state;			/* PLACE_* of every element */
	uint16	   *score;			/* links from the current page, 0 if none */
	uint32	   *queue;			/* breadth-first queue, each element once */
	int64		qhead;
	int64		qtail;
	uint32	   *local;			/* elements with a score, in order found */
	int			nlocal;
	int64		scan;			/* next element to try when all are empty */
	int			level;			/* 1: placing the upper levels, 0: the rest */
} PlaceState;

#define PLACE_NEW		0
#define PLACE_QUEUED	1
#define PLACE_DONE		2
/* Candidates kept for one page; more wait in the queue. */
#define PLACE_LOCAL		4096

/* The best candidate of the page, or the queue's next, or any element left. */
static uint32
place_next(PlaceState *ps)
{
	int			best = -1;

	for (int i = 0; i < ps->nlocal; i++)
	{
		uint32		u = ps->local[i];

		if (ps->state[u] != PLACE_DONE &&
			(best < 0 || ps->score[u] > ps->score[ps->local[best]]))
			best = i;
	}
	if (best >= 0)
		return ps->local[best];
	while (ps->qhead < ps->qtail)
	{
		uint32		u = ps->queue[ps->qhead++];

		if (ps->state[u] != PLACE_DONE)
			return u;
	}
	/* an element no link reaches (connect_islands leaves none, normally) */
	while (ps->state[ps->scan] == PLACE_DONE ||
		   (ps->level > 0 && elem(ps->bs, ps->scan)->level == 0))
		ps->scan++;
	return (uint32) ps->scan;
}

/* Start a new page: forget the candidates of the last one. */
static void
place_new_page(PlaceState *ps)
{
	for (int i = 0; i < ps->nlocal; i++)
		ps->score[ps->local[i]] = 0;
	ps->nlocal = 0;
}

/* Place u on the current page: its neighbours on ps->level gain a link. */
static void
place_element(PlaceState *ps, uint32 u)
{
	BuildElement *e = elem(ps->bs, u);
	uint32	   *ids = e->ids + HnswLevelStart(ps->bs->m, ps->level);

	ps->state[u] = PLACE_DONE;
	for (int i = 0; i < e->counts[ps->level]; i++)
	{
		uint32		v = ids[i];

		if (ps->state[v] == PLACE_DONE)
			continue;
		if (ps->state[v] == PLACE_NEW)
		{
			ps->state[v] = PLACE_QUEUED;
			ps->queue[ps->qtail++] = v;
		}
		if (ps->score[v] == 0)
		{
			if (ps->nlocal == PLACE_LOCAL)
				continue;
			ps->local[ps->nlocal++] = v;
		}
		ps->score[v]++;
	}
}

/*
 * Where the flush will put each element (block and offset, in the placement
 * order); order[k] is the k-th element written.  Returns the last block.
 */
static BlockNumber
assign_disk_ids(HnswBuildState *bs, int64 nelems, uint32 *order)
{
	PlaceState	ps;
	BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1;
	OffsetNumber offno = FirstOffsetNumber;
	Size		upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
	Size		lower = SizeOfPageHeaderData;
	int64		nupper = 0;

	ps.bs = bs;
	ps.state = MemoryContextAllocHuge(CurrentMemoryContext, nelems);
	memset(ps.state, PLACE_NEW, nelems);
	ps.score = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint16) * nelems);
	memset(ps.score, 0, sizeof(uint16) * nelems);
	ps.queue = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint32) * nelems);
	ps.local = palloc(sizeof(uint32) * PLACE_LOCAL);
	ps.qhead = ps.qtail = 0;
	ps.nlocal = 0;
	ps.scan = 0;
	ps.queue[ps.qtail++] = (uint32) bs->graph->entry;
	ps.state[bs->graph->entry] = PLACE_QUEUED;
	for (int64 i = 0; i < nelems; i++)
		if (elem(bs, i)->level > 0)
			nupper++;
	ps.level = nupper > 0 ? 1 : 0;

	for (int64 k = 0; k < nelems; k++)
	{
		uint32		u;
		BuildElement *e;
		Size		sz;

		if (k == nupper && ps.level > 0)
		{
			/* the upper levels are placed: on with level 0 */
			ps.level = 0;
			ps.scan = 0;
			place_new_page(&ps);
		}
		u = place_next(&ps);
		e = elem(bs, u);
		sz = MAXALIGN(HnswElementTupleSize(bs->m, e->level));

		if (lower + sizeof(ItemIdData) + sz > upper)
		{
			blkno++;
			offno = FirstOffsetNumber;
			upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
			lower = SizeOfPageHeaderData;
			place_new_page(&ps);
		}
		e->diskid = ((uint64) blkno << 16) | offno;
		order[k] = u;
		place_element(&ps, u);
		offno++;
		lower += sizeof(ItemIdData);
		upper -= sz;
		if ((k & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(ps.state);
	pfree(ps.score);
	pfree(ps.queue);
	pfree(ps.local);
	return blkno;
}

/* The block each element would take in insertion order (for comparison). */
static uint32 *
insertion_blocks(HnswBuildState *bs, int64 nelems)
{
	uint32	   *blk = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint32) * nelems);
	uint32		b = HNSW_METAPAGE_BLKNO + 1;
	Size		room = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData)) - SizeOfPageHeaderData;

	for (int64 i = 0; i < nelems; i++)
	{
		Size		sz = sizeof(ItemIdData) +
			MAXALIGN(HnswElementTupleSize(bs->m, elem(bs, i)->level));

		if (sz > room)
		{
			b++;
			room = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData)) - SizeOfPageHeaderData;
		}
		room -= sz;
		blk[i] = b;
	}
	return blk;
}

/*
 * Report at DEBUG1 the share of the links of levels 0 and 1 that stay on
 * their page, as placed and as insertion order would have placed them: what
 * the placement achieved (the tests check it).
 */
static void
report_locality(HnswBuildState *bs, int64 nelems, BlockNumber last,
				TimestampTz placeStart)
{
	long		secs;
	int			usecs;
	int64		links[2] = {0, 0};
	int64		local[2] = {0, 0};
	int64		localIns[2] = {0, 0};
	uint32	   *ins;

	if (!message_level_is_interesting(DEBUG1))
		return;
	TimestampDifference(placeStart, GetCurrentTimestamp(), &secs, &usecs);
	ins = insertion_blocks(bs, nelems);
	for (int64 i = 0; i < nelems; i++)
	{
		BuildElement *e = elem(bs, i);

		for (int lev = 0; lev <= Min(e->level, 1); lev++)
		{
			uint32	   *ids = e->ids + HnswLevelStart(bs->m, lev);

			for (int j = 0; j < e->counts[lev]; j++)
			{
				links[lev]++;
				if (HnswIdBlock(elem(bs, ids[j])->diskid) == HnswIdBlock(e->diskid))
					local[lev]++;
				if (ins[ids[j]] == ins[i])
					localIns[lev]++;
			}
		}
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(ins);
	elog(DEBUG1, "faceid_hnsw build: " INT64_FORMAT " elements on %u pages "
		 "(placed in %.3f s), links on their page: level 0 %.1f%%, level 1 %.1f%% "
		 "(insertion order: %.1f%%, %.1f%%)",
		 nelems, last, secs + usecs / 1e6,
		 100.0 * local[0] / Max(links[0], 1), 100.0 * local[1] / Max(links[1], 1),
		 100.0 * localIns[0] / Max(links[0], 1), 100.0 * localIns[1] / Max(links[1], 1));
}

/* Fit the quantiser to the vectors in memory. */
static void
fit_quant(HnswBuildState *bs, int64 nelems, HnswQuant *qz)
{
	double	   *sum = palloc0(sizeof(double) * FI_DIM);
	double	   *sumsq = palloc0(sizeof(double) * FI_DIM);
	float4		min[FI_DIM];
	float4		max[FI_DIM];

	for (int d = 0; d < FI_DIM; d++)
		min[d] = max[d] = elem_vec(bs, 0)[d];
	for (int64 i = 0; i < nelems; i++)
	{
		const float4 *v = elem_vec(bs, i);

		for (int d = 0; d < FI_DIM; d++)
		{
			sum[d] += v[d];
			sumsq[d] += (double) v[d] * v[d];
			min[d] = Min(min[d], v[d]);
			max[d] = Max(max[d], v[d]);
		}
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	hnsw_quant_fit(qz, sum, sumsq, min, max, (double) nelems);
	pfree(sum);
	pfree(sumsq);
}

/* Form the on-disk tuple of an element in memory. */
static HnswElementTuple
mem_element_tuple(HnswBuildState *bs, const HnswQuant *qz, uint64 id,
				  Size *size)
{
	BuildElement *e = elem(bs, id);
	HnswElementTuple tup;

	*size = HnswElementTupleSize(bs->m, e->level);
	tup = palloc0(*size);	/* no stray bytes in the padding */
	tup->level = e->level;
	tup->deleted = 0;
	tup->unused = 0;
	tup->heaptid = e->heaptid;
	hnsw_quant_encode(qz, elem_vec(bs, id), tup->code, &tup->err);
	for (int lev = 0; lev <= e->level; lev++)
	{
		int			start = HnswLevelStart(bs->m, lev);
		int			slots = HnswLevelSlots(bs->m, lev);

		for (int i = 0; i < slots; i++)
		{
			ItemPointer p = &tup->neighbors[start + i];

			if (i < e->counts[lev])
			{
				uint64		id = elem(bs, e->ids[start + i])->diskid;

				ItemPointerSet(p, HnswIdBlock(id), HnswIdOffset(id));
			}
			else
				ItemPointerSetInvalid(p);
		}
	}
	return tup;
}

#ifdef USE_ASSERT_CHECKING
/* Check the lists of the graph in memory: no self-links, no duplicates,
 * every neighbour exists and lives on the level it is linked on. */
static void
check_graph(HnswBuildState *bs, int64 nelems)
{
	for (int64 i = 0; i < nelems; i++)
	{
		BuildElement *e = elem(bs, i);

		for (int lev = 0; lev <= e->level; lev++)
		{
			uint32	   *ids = e->ids + HnswLevelStart(bs->m, lev);

			Assert(e->counts[lev] <= HnswLevelSlots(bs->m, lev));
			for (int j = 0; j < e->counts[lev]; j++)
			{
				Assert(ids[j] < nelems && ids[j] != i);
				Assert(elem(bs, ids[j])->level >= lev);
				for (int k = 0; k < j; k++)
					Assert(ids[k] != ids[j]);
			}
		}
	}
}
#endif

/* Write the graph in memory to the index, page by page, without WAL. */
void
hnsw_build_flush(HnswBuildState *bs)
{
	int64		nelems = pg_atomic_read_u64(&bs->graph->nelems);
	BlockNumber last;
	Buffer		buf = InvalidBuffer;
	Page		page = NULL;
	BlockNumber cur = InvalidBlockNumber;
	HnswQuant	qz;
	float4		errMax = 0;
	uint32	   *order;
	TimestampTz placeStart;

	if (nelems == 0)
		return;
	if (!bs->graph->refined)
	{
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_REFINE);
		hnsw_mem_refine_upper(bs, NULL);
	}
	hnsw_mem_report_levels(bs);
	hnsw_mem_fix_inlinks(bs);
	hnsw_mem_connect_islands(bs);
#ifdef USE_ASSERT_CHECKING
	check_graph(bs, nelems);
#endif
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);
	fit_quant(bs, nelems, &qz);
	order = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint32) * nelems);
	placeStart = GetCurrentTimestamp();
	last = assign_disk_ids(bs, nelems, order);
	report_locality(bs, nelems, last, placeStart);
	for (int64 k = 0; k < nelems; k++)
	{
		BuildElement *e = elem(bs, order[k]);
		HnswElementTuple tup;
		Size		size;

		if (HnswIdBlock(e->diskid) != cur)
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = ReadBufferExtended(bs->index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			cur = BufferGetBlockNumber(buf);
			if (cur != HnswIdBlock(e->diskid))
				elog(ERROR, "faceid_hnsw build: expected block %u, got %u",
					 HnswIdBlock(e->diskid), cur);
			page = BufferGetPage(buf);
			hnsw_init_page(page, 0);
		}
		tup = mem_element_tuple(bs, &qz, order[k], &size);
		errMax = Max(errMax, tup->err);
		if (PageAddItem(page, (Item) tup, size, InvalidOffsetNumber, false, false)
			!= HnswIdOffset(e->diskid))
			elog(ERROR, "faceid_hnsw build: failed to place element %lld",
				 (long long) order[k]);
		pfree(tup);
		CHECK_FOR_INTERRUPTS();
	}
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
	pfree(order);
	hnsw_write_quant(bs->index, &qz, errMax, true);
	hnsw_update_meta(bs->index, elem(bs, bs->graph->entry)->diskid,
					 bs->graph->entryLevel, last, true, true);
}
