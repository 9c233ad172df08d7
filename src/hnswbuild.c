/*
 * hnswbuild.c
 *	  faceid_hnsw: CREATE INDEX.
 *
 * The graph is built in memory (within maintenance_work_mem) while the heap
 * is scanned, then written page by page, without WAL; the finished index is
 * WAL-logged in bulk with log_newpage_range.  When the graph outgrows
 * maintenance_work_mem, what is built so far is written out and the
 * remaining tuples are inserted into the graph on disk.
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

#define HNSW_BUILD_SEED		UINT64CONST(0x66616365696468)	/* "faceidh" */

/* An element of the graph in memory */
typedef struct MemElement
{
	ItemPointerData heaptid;
	uint8		level;
	uint64		diskid;			/* index TID once written */
	uint16	   *counts;			/* per level: slots used */
	uint32	   *ids;			/* HnswTotalSlots neighbour ids */
	float4	   *dists;			/* their squared distances */
	float4		vec[FI_DIM];
} MemElement;

typedef struct HnswBuildState
{
	HnswGraph	g;				/* first: the in-memory graph view */
	Relation	heap;
	Relation	index;
	int			m;
	int			efConstruction;
	int			maxLevel;

	MemoryContext graphCtx;		/* the elements */
	MemoryContext tmpCtx;		/* reset after every tuple */
	MemElement **elems;
	int64		nelems;
	int64		capacity;
	int64		entry;			/* -1: empty */
	int			entryLevel;
	Size		memLimit;
	bool		onDisk;			/* past maintenance_work_mem */

	double		indtuples;
	pg_prng_state prng;
	HnswCandidate *found;		/* search results buffer */
} HnswBuildState;

/* HnswGraph.distance in memory. */
static bool
mem_distance(HnswGraph *g, uint64 id, const float4 *q, float4 *dist,
			 ItemPointer heaptid, bool *deleted)
{
	MemElement *e = ((HnswBuildState *) g)->elems[id];

	*dist = fi_distance_sq(q, e->vec);
	*heaptid = e->heaptid;
	*deleted = false;
	return true;
}

/* HnswGraph.neighbors in memory. */
static int
mem_neighbors(HnswGraph *g, uint64 id, int lev, uint64 *out)
{
	MemElement *e = ((HnswBuildState *) g)->elems[id];
	uint32	   *ids;
	int			n;

	if (lev > e->level)
		return 0;
	ids = e->ids + HnswLevelStart(g->m, lev);
	n = e->counts[lev];
	for (int i = 0; i < n; i++)
		out[i] = ids[i];
	return n;
}

/* HnswGraph.vector in memory. */
static bool
mem_vector(HnswGraph *g, uint64 id, float4 *out)
{
	memcpy(out, ((HnswBuildState *) g)->elems[id]->vec, sizeof(float4) * FI_DIM);
	return true;
}

/* Allocate an element with empty neighbour lists. */
static MemElement *
mem_element_new(HnswBuildState *bs, const float4 *vec, ItemPointer heaptid,
				int level)
{
	int			slots = HnswTotalSlots(bs->m, level);
	Size		size = MAXALIGN(sizeof(MemElement)) +
		MAXALIGN(sizeof(uint16) * (level + 1)) +
		sizeof(uint32) * slots + sizeof(float4) * slots;
	char	   *p = MemoryContextAllocZero(bs->graphCtx, size);
	MemElement *e = (MemElement *) p;

	p += MAXALIGN(sizeof(MemElement));
	e->counts = (uint16 *) p;
	p += MAXALIGN(sizeof(uint16) * (level + 1));
	e->ids = (uint32 *) p;
	p += sizeof(uint32) * slots;
	e->dists = (float4 *) p;
	e->heaptid = *heaptid;
	e->level = level;
	memcpy(e->vec, vec, sizeof(float4) * FI_DIM);
	return e;
}

/* Add the link nb -> q (distance d) on level lev, pruning a full list;
 * true if the link is there afterwards. */
static bool
mem_link_back(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d)
{
	MemElement *e = bs->elems[nb];
	int			slots = HnswLevelSlots(bs->m, lev);
	uint32	   *ids = e->ids + HnswLevelStart(bs->m, lev);
	float4	   *dists = e->dists + HnswLevelStart(bs->m, lev);
	int			n = e->counts[lev];
	HnswCandidate cands[2 * HNSW_MAX_M + 1];
	float4	   *vecs[2 * HNSW_MAX_M + 1];
	bool		chosen[2 * HNSW_MAX_M + 1];
	int			k = 0;

	if (n < slots)
	{
		ids[n] = q;
		dists[n] = d;
		e->counts[lev] = n + 1;
		return true;
	}
	for (int i = 0; i <= n; i++)
	{
		cands[i].id = (i < n) ? ids[i] : q;
		cands[i].dist = (i < n) ? dists[i] : d;
		vecs[i] = bs->elems[cands[i].id]->vec;
	}
	hnsw_sort_candidates(cands, vecs, n + 1, q, nb);
	hnsw_select_neighbors(cands, vecs, n + 1, slots, chosen);
	for (int i = 0; i <= n; i++)
	{
		if (chosen[i])
		{
			ids[k] = (uint32) cands[i].id;
			dists[k] = cands[i].dist;
			k++;
		}
	}
	e->counts[lev] = k;
	for (int i = 0; i < k; i++)
		if (ids[i] == q)
			return true;
	return false;
}

/* Force the link nb -> q, giving up nb's most redundant neighbour. */
static void
mem_force_link(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d)
{
	MemElement *e = bs->elems[nb];
	int			slots = HnswLevelSlots(bs->m, lev);
	uint32	   *ids = e->ids + HnswLevelStart(bs->m, lev);
	float4	   *dists = e->dists + HnswLevelStart(bs->m, lev);
	int			n = e->counts[lev];
	float4	   *vecs[2 * HNSW_MAX_M];
	int			victim;

	for (int i = 0; i < n; i++)
		if (ids[i] == q)
			return;
	if (n < slots)
	{
		ids[n] = q;
		dists[n] = d;
		e->counts[lev] = n + 1;
		return;
	}
	for (int i = 0; i < n; i++)
		vecs[i] = bs->elems[ids[i]]->vec;
	victim = hnsw_most_redundant(vecs, dists, n);
	ids[victim] = q;
	dists[victim] = d;
}

/* Choose qid's neighbours on level lev among found, and link them back. */
static void
mem_connect_level(HnswBuildState *bs, uint32 qid, int lev,
				  HnswCandidate *found, int nfound)
{
	MemElement *q = bs->elems[qid];
	float4	   *vecs[HNSW_MAX_EF_CONSTRUCTION];
	bool		chosen[HNSW_MAX_EF_CONSTRUCTION];
	bool		linked[2 * HNSW_MAX_M];
	uint32	   *ids = q->ids + HnswLevelStart(bs->m, lev);
	float4	   *dists = q->dists + HnswLevelStart(bs->m, lev);
	int			k = 0;
	int			inlinks = 0;

	for (int i = 0; i < nfound; i++)
		vecs[i] = bs->elems[found[i].id]->vec;
	hnsw_select_neighbors(found, vecs, nfound, HnswLevelSlots(bs->m, lev), chosen);
	for (int i = 0; i < nfound; i++)
	{
		if (!chosen[i])
			continue;
		ids[k] = (uint32) found[i].id;
		dists[k] = found[i].dist;
		k++;
	}
	q->counts[lev] = k;
	for (int i = 0; i < k; i++)
	{
		linked[i] = mem_link_back(bs, ids[i], lev, qid, dists[i]);
		inlinks += linked[i];
	}
	/* keep a new cluster from becoming an island (see HNSW_MIN_INLINKS) */
	for (int i = 0; lev == 0 && i < k && inlinks < HNSW_MIN_INLINKS; i++)
	{
		if (linked[i])
			continue;
		mem_force_link(bs, ids[i], lev, qid, dists[i]);
		inlinks++;
	}
}

/* Give element qid (on level 0 only) a level-1 list too. */
static MemElement *
mem_promote(HnswBuildState *bs, uint32 qid)
{
	MemElement *old = bs->elems[qid];
	MemElement *e = mem_element_new(bs, old->vec, &old->heaptid, 1);

	e->counts[0] = old->counts[0];
	memcpy(e->ids, old->ids, sizeof(uint32) * 2 * bs->m);
	memcpy(e->dists, old->dists, sizeof(float4) * 2 * bs->m);
	bs->elems[qid] = e;
	pfree(old);
	return e;
}

/* hnsw_should_promote for search results in memory. */
static bool
mem_should_promote(HnswBuildState *bs, HnswCandidate *found, int nfound)
{
	int			levels[HNSW_MAX_EF_CONSTRUCTION];

	for (int i = 0; i < nfound; i++)
		levels[i] = bs->elems[found[i].id]->level;
	return hnsw_should_promote(found, nfound, levels);
}

/* Insert element qid into the graph in memory (HNSW paper, algorithm 1). */
static void
mem_insert(HnswBuildState *bs, uint32 qid)
{
	MemElement *q = bs->elems[qid];
	int			top;
	uint64	   *eps;
	uint64		ep1;
	int			neps = 1;
	int			nfound = 0;
	HnswCandidate *found = bs->found;

	if (bs->entry < 0)
	{
		bs->entry = qid;
		bs->entryLevel = q->level;
		return;
	}
	top = Min(q->level, bs->entryLevel);
	eps = palloc(sizeof(uint64) * (bs->efConstruction + 1));
	eps[0] = ep1 = hnsw_descend(&bs->g, q->vec, bs->entry, bs->entryLevel, top);
	for (int lev = top; lev >= 0; lev--)
	{
		nfound = hnsw_search_level(&bs->g, q->vec, eps, neps, lev,
								   bs->efConstruction, found);
		mem_connect_level(bs, qid, lev, found, nfound);
		for (int i = 0; i < nfound; i++)
			eps[i] = found[i].id;
		if (nfound > 0)
			neps = nfound;
	}

	/* a tight cluster with no member above level 0 gets this one there */
	if (q->level == 0 && bs->entryLevel >= 1 &&
		mem_should_promote(bs, found, nfound))
	{
		q = mem_promote(bs, qid);
		nfound = hnsw_search_level(&bs->g, q->vec, &ep1, 1, 1,
								   bs->efConstruction, found);
		mem_connect_level(bs, qid, 1, found, nfound);
	}

	if (q->level > bs->entryLevel)
	{
		bs->entry = qid;
		bs->entryLevel = q->level;
	}
}

/* Mark everything reachable on level 0 from start; returns how many. */
static int64
mem_reach(HnswBuildState *bs, uint32 start, bool *reached, uint32 *queue)
{
	int64		head = 0;
	int64		tail = 0;

	if (reached[start])
		return 0;
	reached[start] = true;
	queue[tail++] = start;
	while (head < tail)
	{
		MemElement *e = bs->elems[queue[head++]];

		for (int i = 0; i < e->counts[0]; i++)
		{
			uint32		nb = e->ids[i];

			if (!reached[nb])
			{
				reached[nb] = true;
				queue[tail++] = nb;
			}
		}
	}
	return tail;
}

/*
 * Make every element reachable on level 0 from the entry point: an element
 * no search can reach gets a forced link from its nearest reachable
 * element, found by a search, and what it reaches is reachable from then on.
 */
static void
mem_connect_islands(HnswBuildState *bs)
{
	bool	   *reached;
	uint32	   *queue;
	int64		nreached;
	int64		fixed = 0;

	if (bs->nelems < 2)
		return;
	reached = palloc0(sizeof(bool) * bs->nelems);
	queue = palloc(sizeof(uint32) * bs->nelems);
	for (int round = 0; round < 3; round++)
	{
		memset(reached, 0, sizeof(bool) * bs->nelems);
		nreached = mem_reach(bs, (uint32) bs->entry, reached, queue);
		for (int64 i = 0; i < bs->nelems && nreached < bs->nelems; i++)
		{
			MemElement *e = bs->elems[i];
			uint64		ep;
			int			n;
			int			r = -1;

			if (reached[i])
				continue;
			CHECK_FOR_INTERRUPTS();
			ep = hnsw_descend(&bs->g, e->vec, bs->entry, bs->entryLevel, 0);
			n = hnsw_search_level(&bs->g, e->vec, &ep, 1, 0, bs->efConstruction,
								  bs->found);
			for (int j = 0; j < n && r < 0; j++)
				if (reached[bs->found[j].id])
					r = j;
			if (r >= 0)
				mem_force_link(bs, (uint32) bs->found[r].id, 0, (uint32) i,
							   bs->found[r].dist);
			else
				mem_force_link(bs, (uint32) bs->entry, 0, (uint32) i,
							   fi_distance_sq(e->vec, bs->elems[bs->entry]->vec));
			fixed++;
			nreached += mem_reach(bs, (uint32) i, reached, queue);
		}
		if (nreached == bs->nelems)
			break;
	}
	elog(DEBUG1, "faceid_hnsw build: linked " INT64_FORMAT " unreachable elements", fixed);
	pfree(reached);
	pfree(queue);
}

/*
 * Give every element at least HnswMinInDegree in-links on each of its
 * levels.  Links added later prune older ones, and the elements inserted
 * first, whose neighbours all found nearer ones since, end up with no
 * in-link at all: no search can enter them on that level.  Each such
 * element is linked from its own nearest neighbours, each of which gives up
 * its most redundant link among those whose target keeps enough in-links.
 * On 100k face-like rows this took top-1 identity at ef_search 40 from
 * 0.949 to 0.998 (with level 1's 2m slots; minimum in-degree 4: 0.976,
 * 16: no better than 12).
 */
static void
mem_fix_inlinks(HnswBuildState *bs)
{
	int		   *indeg = palloc(sizeof(int) * bs->nelems);
	int64		fixed = 0;

	for (int lev = bs->entryLevel; lev >= 0; lev--)
	{
		int			minin = HnswMinInDegree(bs->m, lev);

		memset(indeg, 0, sizeof(int) * bs->nelems);
		for (int64 i = 0; i < bs->nelems; i++)
		{
			MemElement *e = bs->elems[i];
			uint32	   *ids;

			if (e->level < lev)
				continue;
			ids = e->ids + HnswLevelStart(bs->m, lev);
			for (int j = 0; j < e->counts[lev]; j++)
				indeg[ids[j]]++;
		}
		for (int64 i = 0; i < bs->nelems; i++)
		{
			MemElement *e = bs->elems[i];
			uint32	   *ids;

			if (e->level < lev || indeg[i] >= minin || i == bs->entry)
				continue;
			CHECK_FOR_INTERRUPTS();
			ids = e->ids + HnswLevelStart(bs->m, lev);
			for (int j = 0; j < e->counts[lev] && indeg[i] < minin; j++)
			{
				uint32		nb = ids[j];
				MemElement *n = bs->elems[nb];
				int			slots = HnswLevelSlots(bs->m, lev);
				uint32	   *nids = n->ids + HnswLevelStart(bs->m, lev);
				float4	   *ndists = n->dists + HnswLevelStart(bs->m, lev);
				int			cnt = n->counts[lev];
				float4	   *vecs[2 * HNSW_MAX_M];
				float4		owndist[2 * HNSW_MAX_M];
				int			pos[2 * HNSW_MAX_M];
				int			ne = 0;
				bool		has = false;
				int			victim;

				for (int k = 0; k < cnt; k++)
					has |= (nids[k] == (uint32) i);
				if (has)
					continue;
				if (cnt < slots)
				{
					nids[cnt] = (uint32) i;
					ndists[cnt] = e->dists[HnswLevelStart(bs->m, lev) + j];
					n->counts[lev] = cnt + 1;
					indeg[i]++;
					continue;
				}
				for (int k = 0; k < cnt; k++)
				{
					if (indeg[nids[k]] <= minin)
						continue;
					vecs[ne] = bs->elems[nids[k]]->vec;
					owndist[ne] = ndists[k];
					pos[ne++] = k;
				}
				if (ne == 0)
					continue;
				victim = pos[hnsw_most_redundant(vecs, owndist, ne)];
				indeg[nids[victim]]--;
				nids[victim] = (uint32) i;
				ndists[victim] = e->dists[HnswLevelStart(bs->m, lev) + j];
				indeg[i]++;
				fixed++;
			}
		}
	}
	elog(DEBUG1, "faceid_hnsw build: " INT64_FORMAT " links added for in-degree", fixed);
	pfree(indeg);
}

/* Where the flush will put each element: block and offset, in order. */
static BlockNumber
assign_disk_ids(HnswBuildState *bs)
{
	BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1;
	OffsetNumber offno = FirstOffsetNumber;
	Size		upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
	Size		lower = SizeOfPageHeaderData;

	for (int64 i = 0; i < bs->nelems; i++)
	{
		Size		sz = MAXALIGN(HnswElementTupleSize(bs->m, bs->elems[i]->level));

		if (lower + sizeof(ItemIdData) + sz > upper)
		{
			blkno++;
			offno = FirstOffsetNumber;
			upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
			lower = SizeOfPageHeaderData;
		}
		bs->elems[i]->diskid = ((uint64) blkno << 16) | offno;
		offno++;
		lower += sizeof(ItemIdData);
		upper -= sz;
	}
	return blkno;
}

/* Form the on-disk tuple of an element in memory. */
static HnswElementTuple
mem_element_tuple(HnswBuildState *bs, MemElement *e, Size *size)
{
	HnswElementTuple tup;

	*size = HnswElementTupleSize(bs->m, e->level);
	tup = palloc(*size);
	tup->level = e->level;
	tup->deleted = 0;
	tup->unused = 0;
	tup->heaptid = e->heaptid;
	memcpy(tup->vec, e->vec, sizeof(float4) * FI_DIM);
	for (int lev = 0; lev <= e->level; lev++)
	{
		int			start = HnswLevelStart(bs->m, lev);
		int			slots = HnswLevelSlots(bs->m, lev);

		for (int i = 0; i < slots; i++)
		{
			ItemPointer p = &tup->neighbors[start + i];

			if (i < e->counts[lev])
			{
				uint64		id = bs->elems[e->ids[start + i]]->diskid;

				ItemPointerSet(p, HnswIdBlock(id), HnswIdOffset(id));
			}
			else
				ItemPointerSetInvalid(p);
		}
	}
	return tup;
}

/* Write the graph in memory to the index, page by page, without WAL. */
static void
flush_graph(HnswBuildState *bs)
{
	BlockNumber last;
	Buffer		buf = InvalidBuffer;
	Page		page = NULL;
	BlockNumber cur = InvalidBlockNumber;

	if (bs->nelems == 0)
		return;
	mem_fix_inlinks(bs);
	mem_connect_islands(bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);
	last = assign_disk_ids(bs);
	for (int64 i = 0; i < bs->nelems; i++)
	{
		MemElement *e = bs->elems[i];
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
		tup = mem_element_tuple(bs, e, &size);
		if (PageAddItem(page, (Item) tup, size, InvalidOffsetNumber, false, false)
			!= HnswIdOffset(e->diskid))
			elog(ERROR, "faceid_hnsw build: failed to place element %lld",
				 (long long) i);
		pfree(tup);
		CHECK_FOR_INTERRUPTS();
	}
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
	hnsw_update_meta(bs->index, bs->elems[bs->entry]->diskid, bs->entryLevel,
					 last, true, true);
}

/* Spill: write what is built and continue on disk. */
static void
switch_to_disk(HnswBuildState *bs)
{
	ereport(NOTICE,
			(errmsg("faceid_hnsw graph no longer fits into maintenance_work_mem after "
					INT64_FORMAT " tuples", bs->nelems),
			 errdetail("Building will take significantly more time."),
			 errhint("Increase maintenance_work_mem to speed up builds.")));
	flush_graph(bs);
	bs->onDisk = true;
	MemoryContextReset(bs->graphCtx);
	bs->elems = NULL;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
}

/* table_index_build_scan callback: add one heap tuple to the graph. */
static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	MemoryContext old;
	FaceEmbedding *v;
	double		u;

	if (isnull[0])
		return;
	v = DatumGetFaceEmbedding(values[0]);
	u = pg_prng_double(&bs->prng);
	old = MemoryContextSwitchTo(bs->tmpCtx);

	if (!bs->onDisk &&
		MemoryContextMemAllocated(bs->graphCtx, true) +
		(Size) (sizeof(MemElement *) + sizeof(uint32)) * bs->capacity > bs->memLimit)
		switch_to_disk(bs);

	if (bs->onDisk)
		hnsw_insert_on_disk(index, v->x, tid, bs->efConstruction, u, true);
	else
	{
		int			level = hnsw_random_level(bs->m, bs->maxLevel, u);

		if (bs->nelems == bs->capacity)
		{
			bs->capacity *= 2;
			bs->elems = repalloc_huge(bs->elems, sizeof(MemElement *) * bs->capacity);
			bs->g.epochs = repalloc_huge(bs->g.epochs, sizeof(uint32) * bs->capacity);
			memset(bs->g.epochs + bs->g.nepochs, 0,
				   sizeof(uint32) * (bs->capacity - bs->g.nepochs));
			bs->g.nepochs = bs->capacity;
		}
		bs->elems[bs->nelems] = mem_element_new(bs, v->x, tid, level);
		mem_insert(bs, (uint32) bs->nelems);
		bs->nelems++;
	}

	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpCtx);
	bs->indtuples++;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64) bs->indtuples);
}

/* Set up the build state. */
static void
build_state_init(HnswBuildState *bs, Relation heap, Relation index)
{
	memset(bs, 0, sizeof(*bs));
	bs->heap = heap;
	bs->index = index;
	bs->m = HnswGetM(index);
	bs->efConstruction = HnswGetEfConstruction(index);
	if (bs->efConstruction < 2 * bs->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m"),
				 errdetail("ef_construction is %d and m is %d.",
						   bs->efConstruction, bs->m)));
	bs->maxLevel = hnsw_max_level(bs->m);
	bs->g.m = bs->m;
	bs->g.distance = mem_distance;
	bs->g.neighbors = mem_neighbors;
	bs->g.vector = mem_vector;
	bs->graphCtx = AllocSetContextCreate(CurrentMemoryContext, "faceid_hnsw graph",
										 ALLOCSET_DEFAULT_SIZES);
	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "faceid_hnsw build tuple",
									   ALLOCSET_DEFAULT_SIZES);
	bs->capacity = 1024;
	bs->elems = palloc(sizeof(MemElement *) * bs->capacity);
	bs->g.epochs = palloc0(sizeof(uint32) * bs->capacity);
	bs->g.nepochs = bs->capacity;
	bs->g.epoch = 0;
	bs->entry = -1;
	bs->entryLevel = -1;
	bs->memLimit = (Size) maintenance_work_mem * 1024;
	bs->found = palloc(sizeof(HnswCandidate) * (bs->efConstruction + 1));
	pg_prng_seed(&bs->prng, HNSW_BUILD_SEED);
}

/* ambuild: build the graph of every non-NULL value of the column. */
IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	HnswBuildState bs;
	double		reltuples;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	build_state_init(&bs, heap, index);
	hnsw_write_meta_page(index, bs.m, bs.efConstruction, true);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
	if (heap->rd_rel->reltuples > 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
									 (int64) heap->rd_rel->reltuples);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   build_callback, (void *) &bs, NULL);
	if (!bs.onDisk)
		flush_graph(&bs);

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(index), true);

	MemoryContextDelete(bs.graphCtx);
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
