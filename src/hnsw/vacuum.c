/*
 * vacuum.c
 *	  faceid_hnsw: VACUUM.
 *
 * ambulkdelete works in three passes over the index:
 *	 1. find the elements whose heap tuples are dead (and old tombstones);
 *	 2. repair: every live element that links to a dead one, on any level,
 *		gets a new list there, chosen by the neighbour heuristic among its
 *		live neighbours and the live neighbours of its dead ones (two hops),
 *		so the graph stays connected and recall does not decay, and no live
 *		list keeps a dead element whose slot could be reused; a dead entry
 *		point is replaced by the live element of the highest level;
 *	 2b. make every live element enterable again on level 0 when the
 *		level-0 lists fit in maintenance_work_mem: from its own neighbourhood
 *		and from the entry point (vacuum_relink.c);
 *	 3. mark the dead elements deleted (heap TID cleared).  They stay as
 *		tombstones: a search may still walk through them, never return them.
 * Only MVCC scans are allowed, so a scan that read a heap TID before pass 3
 * cannot see a new tuple that reuses it.  amvacuumcleanup then frees the
 * slots of the tombstones no search can reach, for inserts to reuse
 * (reuse.c).
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

#define HNSW_REPAIR_RETRIES 4

typedef struct HnswVacuumState
{
	Relation	index;
	BufferAccessStrategy strategy;
	int			m;
	HnswDiskGraph dg;
	HnswIdSet  *dead;			/* dead now or tombstones */
	uint64	   *toMark;			/* newly dead, in index order */
	int64		ntoMark;
	int64		capToMark;
	uint64		bestEntry;		/* live element of the highest level */
	int			bestLevel;
	double		live;
	IndexBulkDeleteCallback callback;	/* pass 1: is a heap TID dead? */
	void	   *callback_state;
} HnswVacuumState;

/* Pin and share-lock block blkno of the index for VACUUM; returns its page. */
Page
hnsw_vacuum_read_page(Relation index, BlockNumber blkno, BufferAccessStrategy strategy,
				 Buffer *buf)
{
	vacuum_delay_point();
	*buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	LockBuffer(*buf, BUFFER_LOCK_SHARE);
	return BufferGetPage(*buf);
}

/* Call fn on every element tuple of the index, page by page, share-locked. */
static void
vacuum_scan_elements(Relation index, BufferAccessStrategy strategy,
					 void (*fn) (HnswElementTuple tup, uint64 id, void *arg),
					 void *arg)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page = hnsw_vacuum_read_page(index, blkno, strategy, &buf);

		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
			fn((HnswElementTuple) PageGetItem(page, PageGetItemId(page, off)),
			   ((uint64) blkno << 16) | off, arg);
		UnlockReleaseBuffer(buf);
	}
}

/* find_dead's visitor: classify one element. */
static void
find_dead_element(HnswElementTuple tup, uint64 id, void *arg)
{
	HnswVacuumState *vs = (HnswVacuumState *) arg;

	if (tup->deleted == HNSW_ELEMENT_FREE)
		return;					/* not in the graph: nothing links to it */
	if (tup->deleted)
		hnsw_idset_add(vs->dead, id);
	else if (vs->callback(&tup->heaptid, vs->callback_state))
	{
		hnsw_idset_add(vs->dead, id);
		if (vs->ntoMark == vs->capToMark)
		{
			vs->capToMark *= 2;
			vs->toMark = repalloc_huge(vs->toMark, sizeof(uint64) * vs->capToMark);
		}
		vs->toMark[vs->ntoMark++] = id;
	}
	else
	{
		vs->live++;
		if (tup->level > vs->bestLevel)
		{
			vs->bestLevel = tup->level;
			vs->bestEntry = id;
		}
	}
}

/* Pass 1: collect dead elements, count live ones, find an entry point. */
static void
find_dead(HnswVacuumState *vs, IndexBulkDeleteCallback callback,
		  void *callback_state)
{
	vs->callback = callback;
	vs->callback_state = callback_state;
	vacuum_scan_elements(vs->index, vs->strategy, find_dead_element, vs);
}

/* Replace a dead entry point by the best live element (or none). */
static void
repair_entry(HnswVacuumState *vs)
{
	HnswMetaPageData meta;

	LockPage(vs->index, HNSW_UPDATE_LOCK, ExclusiveLock);
	hnsw_read_meta(vs->index, &meta);
	if (meta.entryLevel >= 0 &&
		hnsw_idset_contains(vs->dead, HnswTidToId(&meta.entry)))
		hnsw_update_meta(vs->index, vs->bestEntry, vs->bestLevel,
						 InvalidBlockNumber, true, false);
	UnlockPage(vs->index, HNSW_UPDATE_LOCK, ExclusiveLock);
}

/* Add id to the candidate list unless seen, dead or self. */
static void
add_repair_candidate(HnswVacuumState *vs, HnswIdSet *seen, uint64 id,
					 uint64 self, const float4 *selfvec, HnswCandidate *cands,
					 float4 **vecs, float4 *store, int *n, int cap)
{
	if (id == self || *n >= cap || hnsw_idset_contains(vs->dead, id) ||
		!hnsw_idset_add(seen, id))
		return;
	vecs[*n] = store + (Size) (*n) * FI_DIM;
	if (!vs->dg.g.vector(&vs->dg.g, id, vecs[*n]))
		return;
	cands[*n].id = id;
	cands[*n].dist = fi_distance_sq(selfvec, vecs[*n]);
	(*n)++;
}

/* New level-lev list for element self, whose list has dead entries. */
static void
compute_repaired_list(HnswVacuumState *vs, uint64 self, const float4 *selfvec,
					  int lev, const ItemPointerData *list,
					  ItemPointerData *newlist)
{
	int			m = vs->m;
	int			slots = HnswLevelSlots(m, lev);
	/* live neighbours plus at most as many found through dead ones */
	int			cap = 2 * slots;
	HnswCandidate *cands = palloc(sizeof(HnswCandidate) * cap);
	float4	  **vecs = palloc(sizeof(float4 *) * cap);
	float4	   *store = palloc(sizeof(float4) * FI_DIM * cap);
	bool	   *chosen = palloc(sizeof(bool) * cap);
	uint64	   *nbuf = palloc(sizeof(uint64) * slots);
	HnswIdSet  *seen = hnsw_idset_create();
	int			n = 0;
	int			nlive = 0;

	/* the live neighbours first, then what the dead ones linked to */
	for (int pass = 0; pass < 2; pass++)
	{
		if (pass == 1)
			nlive = n;
		for (int i = 0; i < slots; i++)
		{
			uint64		id;
			bool		dead;

			if (!ItemPointerIsValid(&list[i]))
				continue;
			id = HnswTidToId(&list[i]);
			dead = hnsw_idset_contains(vs->dead, id);
			if (pass == 0 && !dead)
				add_repair_candidate(vs, seen, id, self, selfvec, cands, vecs,
									 store, &n, cap);
			else if (pass == 1 && dead)
			{
				int			nn = vs->dg.g.neighbors(&vs->dg.g, id, lev, nbuf);

				for (int j = 0; j < nn; j++)
					add_repair_candidate(vs, seen, nbuf[j], self, selfvec, cands,
										 vecs, store, &n, cap);
			}
		}
	}

	if (lev == 0)
	{
		hnsw_sort_candidates(cands, vecs, n, HNSW_INVALID_ID, self);
		hnsw_select_neighbors(cands, vecs, n, slots, chosen);
	}
	else
	{
		/*
		 * Above level 0 every live link stays, and only the dead ones'
		 * slots go to what they linked to: there a link is often an
		 * element's only way in on that level (a cluster's one member
		 * there), and reachability is repaired on level 0 only.
		 */
		for (int i = 0; i < nlive; i++)
			chosen[i] = true;
		hnsw_sort_candidates(cands + nlive, vecs + nlive, n - nlive,
							 HNSW_INVALID_ID, self);
		hnsw_select_neighbors(cands + nlive, vecs + nlive, n - nlive,
							  slots - nlive, chosen + nlive);
	}
	hnsw_chosen_to_list(cands, chosen, n, slots, newlist);
}

/* Does a neighbour list link to a dead element? */
static bool
list_has_dead(HnswVacuumState *vs, const ItemPointerData *list, int slots)
{
	for (int i = 0; i < slots; i++)
		if (ItemPointerIsValid(&list[i]) &&
			hnsw_idset_contains(vs->dead, HnswTidToId(&list[i])))
			return true;
	return false;
}

/* Repair every level of element id that links to dead elements. */
static void
repair_element(HnswVacuumState *vs, uint64 id, int level)
{
	int			m = vs->m;
	ItemPointerData *list = palloc(sizeof(ItemPointerData) * 2 * m);
	ItemPointerData *newlist = palloc(sizeof(ItemPointerData) * 2 * m);
	float4		vec[FI_DIM];

	for (int lev = 0; lev <= level; lev++)
	{
		int			slots = HnswLevelSlots(m, lev);

		for (int attempt = 0; attempt < HNSW_REPAIR_RETRIES; attempt++)
		{
			bool		deleted;

			if (!hnsw_read_element(vs->index, &vs->dg.quant, id, lev, m, vec, list, &deleted) ||
				deleted || !list_has_dead(vs, list, slots))
				break;
			compute_repaired_list(vs, id, vec, lev, list, newlist);
			if (hnsw_write_neighbor_list(vs->index, id, lev, m, list, newlist, false))
				break;
		}
	}
	pfree(list);
	pfree(newlist);
}

/* Pass 2: repair the lists of live elements that link to dead ones. */
static void
repair_graph(HnswVacuumState *vs, MemoryContext tmpCtx)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);
	int			m = vs->m;
	uint64	   *todo = palloc(sizeof(uint64) * MaxOffsetNumber);
	int		   *levels = palloc(sizeof(int) * MaxOffsetNumber);

	for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		int			ntodo = 0;

		page = hnsw_vacuum_read_page(vs->index, blkno, vs->strategy, &buf);
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page); off++)
		{
			HnswElementTuple tup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, off));
			uint64		id = ((uint64) blkno << 16) | off;

			if (tup->deleted || hnsw_idset_contains(vs->dead, id))
				continue;
			if (list_has_dead(vs, tup->neighbors, HnswTotalSlots(m, tup->level)))
			{
				todo[ntodo] = id;
				levels[ntodo++] = tup->level;
			}
		}
		UnlockReleaseBuffer(buf);

		for (int i = 0; i < ntodo; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(tmpCtx);

			repair_element(vs, todo[i], levels[i]);
			MemoryContextSwitchTo(old);
			MemoryContextReset(tmpCtx);
		}
	}
}

/* Pass 3: mark the newly dead elements deleted, one WAL record a page. */
static void
mark_deleted(HnswVacuumState *vs, IndexBulkDeleteResult *stats)
{
	int64		i = 0;

	while (i < vs->ntoMark)
	{
		BlockNumber blkno = HnswIdBlock(vs->toMark[i]);
		Buffer		buf;
		Page		page;
		GenericXLogState *state;

		vacuum_delay_point();
		buf = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 vs->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = hnsw_page_begin(vs->index, buf, false, false, &state);
		for (; i < vs->ntoMark && HnswIdBlock(vs->toMark[i]) == blkno; i++)
		{
			OffsetNumber off = HnswIdOffset(vs->toMark[i]);
			HnswElementTuple tup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, off));

			tup->deleted = HNSW_ELEMENT_DELETED;
			ItemPointerSetInvalid(&tup->heaptid);
			stats->tuples_removed++;
		}
		hnsw_page_finish(buf, false, state);
		UnlockReleaseBuffer(buf);
	}
}

/* ambulkdelete */
IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	HnswVacuumState vs;
	HnswMetaPageData meta;
	MemoryContext ctx;
	MemoryContext tmpCtx;
	MemoryContext old;

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));

	ctx = AllocSetContextCreate(CurrentMemoryContext, "faceid_hnsw vacuum",
								ALLOCSET_DEFAULT_SIZES);
	tmpCtx = AllocSetContextCreate(ctx, "faceid_hnsw vacuum element",
								   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);

	hnsw_read_meta(info->index, &meta);
	memset(&vs, 0, sizeof(vs));
	vs.index = info->index;
	vs.strategy = info->strategy;
	vs.m = meta.m;
	hnsw_disk_graph_init(&vs.dg, info->index, &meta);
	vs.dead = hnsw_idset_create();
	vs.capToMark = 1024;
	vs.toMark = palloc(sizeof(uint64) * vs.capToMark);
	vs.bestEntry = HNSW_INVALID_ID;
	vs.bestLevel = -1;

	find_dead(&vs, callback, callback_state);
	if (vs.ntoMark > 0)
	{
		repair_entry(&vs);
		repair_graph(&vs, tmpCtx);
		hnsw_vacuum_relink(vs.index, vs.strategy, &vs.dg, vs.dead);
		mark_deleted(&vs, stats);
	}

	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->num_index_tuples = vs.live;
	stats->estimated_count = false;

	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return stats;
}

/*
 * Pass 2b alone, for a VACUUM that did not call ambulkdelete: PostgreSQL
 * skips index vacuuming when few heap pages have dead items (its bypass
 * optimisation) or none died.  Elements left unreachable meanwhile (by a
 * crash between a repair and its relinking, or by concurrent inserts that
 * gave away their last in-links) would otherwise wait for a VACUUM that
 * removes enough rows; cleanup reads every page anyway.
 */
static void
relink_without_deletes(IndexVacuumInfo *info)
{
	HnswDiskGraph dg;
	HnswMetaPageData meta;
	MemoryContext ctx;
	MemoryContext old;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "faceid_hnsw vacuum cleanup",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	hnsw_read_meta(info->index, &meta);
	hnsw_disk_graph_init(&dg, info->index, &meta);
	/* nothing dies here; tombstones are known by their flag */
	hnsw_vacuum_relink(info->index, info->strategy, &dg, hnsw_idset_create());
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
}

/* hnswvacuumcleanup's visitor: count one live element. */
static void
count_live_element(HnswElementTuple tup, uint64 id, void *arg)
{
	IndexBulkDeleteResult *stats = (IndexBulkDeleteResult *) arg;

	if (!tup->deleted)
		stats->num_index_tuples++;
}

/*
 * Free the slots of unreachable tombstones (reuse.c), in a memory context
 * of its own.
 */
static void
free_tombstones(IndexVacuumInfo *info)
{
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext,
											  "faceid_hnsw vacuum free",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);

	hnsw_free_tombstones(info->index, info->strategy);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
}

/*
 * amvacuumcleanup: free unreachable tombstones, and the statistics (counted
 * here when bulkdelete did not run).
 */
IndexBulkDeleteResult *
hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	BlockNumber nblocks;

	if (info->analyze_only)
		return stats;
	if (stats != NULL)
	{
		free_tombstones(info);
		return stats;
	}

	stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	relink_without_deletes(info);
	free_tombstones(info);
	nblocks = RelationGetNumberOfBlocks(info->index);
	vacuum_scan_elements(info->index, info->strategy, count_live_element, stats);
	stats->num_pages = nblocks;
	stats->estimated_count = false;
	return stats;
}
