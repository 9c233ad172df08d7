/*
 * insert.c
 *	  faceid_hnsw: inserting one element into the graph on disk.
 *
 * Concurrency: an insert holds the heavyweight update lock in share mode, or
 * in exclusive mode when it may become the entry point (the graph is empty
 * or its level is above the entry's), so entry point changes are serial.
 * Buffer locks are taken one at a time, never nested, so inserts, scans and
 * VACUUM cannot deadlock.  A neighbour list is changed optimistically: read
 * it, compute the new list without locks, then lock the page and write only
 * if the list is still the one read (else retry).
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

#define HNSW_UPDATE_RETRIES 4

/*
 * When a full list takes a new element in place of an old member, the
 * owner's nearest members are never the ones to go: they are its links into
 * its own neighbourhood.  Without this, a much-linked element (one every
 * neighbouring cluster's new photos link to) loses its near members one
 * insert after another, each "safe" at the time, until its list holds only
 * far elements, and part of its own cluster can no longer be entered from
 * the rest of it (a search for such a photo's own vector fails at any
 * ef_search).  4,000 pgbench transactions of test/t/003 on 16k rows left
 * 72 level-0 lists with none of their owner's 5 nearest elements.
 */
#define HNSW_KEEP_NEAREST	2

/* Build the element tuple of a code with the chosen neighbours. */
static HnswElementTuple
form_element(const uint8 *code, float4 err, ItemPointer heaptid, int m,
			 int level, uint64 **nbrs, int *nnbrs, Size *size)
{
	HnswElementTuple tup;

	*size = HnswElementTupleSize(m, level);
	tup = palloc0(*size);
	tup->level = level;
	tup->deleted = 0;
	tup->heaptid = *heaptid;
	tup->err = err;
	memcpy(tup->code, code, FI_DIM);
	for (int i = 0; i < HnswTotalSlots(m, level); i++)
		ItemPointerSetInvalid(&tup->neighbors[i]);
	for (int lev = 0; lev <= level; lev++)
	{
		int			start = HnswLevelStart(m, lev);

		for (int i = 0; i < nnbrs[lev]; i++)
			ItemPointerSet(&tup->neighbors[start + i],
						   HnswIdBlock(nbrs[lev][i]), HnswIdOffset(nbrs[lev][i]));
	}
	return tup;
}

/*
 * Put a tuple in a free slot (reuse.c), on the insert page, or on a new
 * page; returns its id.
 */
static uint64
store_element(Relation index, HnswElementTuple tup, Size size, bool building)
{
	HnswMetaPageData meta;
	BlockNumber blkno;
	Buffer		buf;
	Page		page;
	GenericXLogState *state;
	OffsetNumber offno;
	uint64		id;

	hnsw_read_meta(index, &meta);
	/* a build has no free slots */
	if (!building &&
		(id = hnsw_reuse_slot(index, meta.freeBlock, tup, size)) != HNSW_INVALID_ID)
		return id;
	blkno = meta.insertPage;
	if (BlockNumberIsValid(blkno))
	{
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (PageGetFreeSpace(BufferGetPage(buf)) >= MAXALIGN(size))
		{
			page = hnsw_page_begin(index, buf, building, false, &state);
			offno = PageAddItem(page, (Item) tup, size, InvalidOffsetNumber,
								false, false);
			if (offno == InvalidOffsetNumber)
				elog(ERROR, "failed to add element to faceid_hnsw index \"%s\"",
					 RelationGetRelationName(index));
			hnsw_page_finish(buf, building, state);
			UnlockReleaseBuffer(buf);
			return ((uint64) blkno << 16) | offno;
		}
		UnlockReleaseBuffer(buf);
	}

	/* extend the relation by one page */
	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	UnlockRelationForExtension(index, ExclusiveLock);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	blkno = BufferGetBlockNumber(buf);
	page = hnsw_page_begin(index, buf, building, true, &state);
	hnsw_init_page(page, 0);
	offno = PageAddItem(page, (Item) tup, size, InvalidOffsetNumber, false, false);
	if (offno == InvalidOffsetNumber)
		elog(ERROR, "failed to add element to faceid_hnsw index \"%s\"",
			 RelationGetRelationName(index));
	hnsw_page_finish(buf, building, state);
	UnlockReleaseBuffer(buf);

	hnsw_update_meta(index, HNSW_INVALID_ID, 0, blkno, false, building);
	return ((uint64) blkno << 16) | offno;
}

/* Is id among ids[0..n)? */
static bool
ids_contain(const uint64 *ids, int n, uint64 id)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * Which members of a full neighbour list (cands, with the new element) have
 * an in-link nearby: from the new element (newlinks) or from another old
 * member of the list on the same level.  The list's owner still reaches
 * those in two hops if it drops them.  Sets safe[i].
 */
static void
mark_linked_nearby(HnswGraph *g, int lev, const HnswCandidate *cands, int n,
				   uint64 newid, const uint64 *newlinks, int nnewlinks,
				   bool *safe)
{
	uint64	   *buf = palloc(sizeof(uint64) * 2 * g->m);

	for (int i = 0; i < n; i++)
		safe[i] = ids_contain(newlinks, nnewlinks, cands[i].id);
	for (int i = 0; i < n; i++)
	{
		int			nn;

		if (cands[i].id == newid)
			continue;
		nn = g->neighbors(g, cands[i].id, lev, buf);
		for (int j = 0; j < n; j++)
			if (j != i && !safe[j] && ids_contain(buf, nn, cands[j].id))
				safe[j] = true;
	}
	pfree(buf);
}

/* Choose the neighbours of a new element among the search results. */
static int
choose_neighbors(HnswGraph *g, HnswCandidate *found, int nfound, int maxm,
				 uint64 *out)
{
	float4	   *store = palloc(sizeof(float4) * FI_DIM * Max(nfound, 1));
	float4	  **vecs = palloc(sizeof(float4 *) * Max(nfound, 1));
	bool	   *chosen = palloc(sizeof(bool) * Max(nfound, 1));
	HnswCandidate *cands = palloc(sizeof(HnswCandidate) * Max(nfound, 1));
	int			n = 0;
	int			nout = 0;

	for (int i = 0; i < nfound; i++)
	{
		/*
		 * Never link to a tombstone (above level 0 the search returns them,
		 * to route through; on disk only they lack a heap TID): VACUUM
		 * frees the slots of tombstones nothing links to (reuse.c).
		 */
		if (!ItemPointerIsValid(&found[i].heaptid))
			continue;
		vecs[n] = store + (Size) n * FI_DIM;
		if (g->vector(g, found[i].id, vecs[n]))
			cands[n++] = found[i];
	}
	hnsw_select_neighbors(cands, vecs, n, maxm, chosen);
	for (int i = 0; i < n; i++)
		if (chosen[i])
			out[nout++] = cands[i].id;
	pfree(store);
	pfree(vecs);
	pfree(chosen);
	pfree(cands);
	return nout;
}

/*
 * Compute the list of neighbour nb on level lev after adding the new
 * element: a free slot if there is one, else the heuristic over the old
 * list plus the new element.  Returns false when nothing changes.
 */
static bool
compute_neighbor_list(HnswGraph *g, uint64 nb, const float4 *nbvec,
					  ItemPointerData *list, int lev,
					  int slots, uint64 newid, const float4 *newvec,
					  const uint64 *newlinks, int nnewlinks,
					  ItemPointerData *newlist)
{
	HnswCandidate *cands = palloc(sizeof(HnswCandidate) * (slots + 1));
	float4	   *store = palloc(sizeof(float4) * FI_DIM * (slots + 1));
	float4	  **vecs = palloc(sizeof(float4 *) * (slots + 1));
	bool	   *chosen = palloc(sizeof(bool) * (slots + 1));
	int			n = 0;
	bool		changed = false;

	memcpy(newlist, list, sizeof(ItemPointerData) * slots);
	for (int i = 0; i < slots; i++)
	{
		if (!ItemPointerIsValid(&list[i]))
		{
			ItemPointerSet(&newlist[i], HnswIdBlock(newid), HnswIdOffset(newid));
			changed = true;
			goto done;
		}
	}

	/* full: keep the best slots of old list + new element */
	for (int i = 0; i <= slots; i++)
	{
		uint64		id = (i < slots) ? HnswTidToId(&list[i]) : newid;

		vecs[n] = store + (Size) n * FI_DIM;
		if (i < slots && !g->vector(g, id, vecs[n]))
			continue;
		if (i == slots)
			memcpy(vecs[n], newvec, sizeof(float4) * FI_DIM);
		cands[n].id = id;
		cands[n].dist = fi_distance_sq(nbvec, vecs[n]);
		n++;
	}
	hnsw_sort_candidates(cands, vecs, n, newid, nb);
	hnsw_select_neighbors(cands, vecs, n, slots, chosen);
	for (int i = 0; i < n; i++)
		if (cands[i].id == newid)
			changed = chosen[i];
	if (changed && n == slots + 1 && newlinks != NULL)
	{
		bool	   *safe = palloc(sizeof(bool) * n);
		int			dropped = -1;

		/*
		 * One old member must go.  The heuristic's fill drops the farthest,
		 * and those long links are often the last in-links of elements
		 * inserted long ago: one insert after another, they become
		 * elements no search can enter.  So the one to go must keep an
		 * in-link nearby; else the farthest that does goes instead, or, if
		 * none does, the new element is not linked.
		 */
		for (int i = 0; i < n; i++)
			if (!chosen[i])
				dropped = i;
		mark_linked_nearby(g, lev, cands, n, newid, newlinks, nnewlinks, safe);
		if (dropped >= 0 && !safe[dropped])
		{
			int			victim = -1;
			int			rank = n - 2;	/* of cands[i] among the n - 1 old members */

			for (int i = n - 1; i >= 0 && victim < 0; i--)
			{
				if (cands[i].id == newid)
					continue;
				if (safe[i] && rank >= HNSW_KEEP_NEAREST)
					victim = i;
				rank--;
			}
			if (victim < 0)
				changed = false;
			else
			{
				chosen[dropped] = true;
				chosen[victim] = false;
			}
		}
		pfree(safe);
	}
	if (changed)
		hnsw_chosen_to_list(cands, chosen, n, slots, newlist);
done:
	pfree(cands);
	pfree(store);
	pfree(vecs);
	pfree(chosen);
	return changed;
}

/*
 * Replace the level-lev list of element id by newlist if it still equals
 * oldlist; false when it changed meanwhile (or the element is gone).
 */
bool
hnsw_write_neighbor_list(Relation index, uint64 id, int lev, int m,
						 ItemPointerData *oldlist, ItemPointerData *newlist,
						 bool building)
{
	Buffer		buf = ReadBuffer(index, HnswIdBlock(id));
	Page		page;
	HnswElementTuple tup;
	GenericXLogState *state;
	int			start = HnswLevelStart(m, lev);
	int			slots = HnswLevelSlots(m, lev);
	bool		ok = false;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	tup = hnsw_page_element(BufferGetPage(buf), HnswIdOffset(id));
	if (tup != NULL && tup->level >= lev &&
		memcmp(&tup->neighbors[start], oldlist, sizeof(ItemPointerData) * slots) == 0)
	{
		page = hnsw_page_begin(index, buf, building, false, &state);
		tup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, HnswIdOffset(id)));
		memcpy(&tup->neighbors[start], newlist, sizeof(ItemPointerData) * slots);
		hnsw_page_finish(buf, building, state);
		ok = true;
	}
	UnlockReleaseBuffer(buf);
	return ok;
}

/* Copy the decoded vector and level-lev list of element id; false if gone. */
bool
hnsw_read_element(Relation index, const HnswQuant *qz, uint64 id, int lev,
				  int m, float4 *vec, ItemPointerData *list, bool *deleted)
{
	Buffer		buf = ReadBuffer(index, HnswIdBlock(id));
	HnswElementTuple tup;
	bool		ok = false;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	tup = hnsw_page_element(BufferGetPage(buf), HnswIdOffset(id));
	if (tup != NULL && tup->level >= lev)
	{
		hnsw_quant_decode(qz, tup->code, vec);
		memcpy(list, &tup->neighbors[HnswLevelStart(m, lev)],
			   sizeof(ItemPointerData) * HnswLevelSlots(m, lev));
		*deleted = tup->deleted != 0;
		ok = true;
	}
	UnlockReleaseBuffer(buf);
	return ok;
}

/* hnsw_should_promote for search results on disk. */
static bool
disk_should_promote(Relation index, HnswCandidate *found, int nfound)
{
	int			levels[HNSW_MAX_EF_CONSTRUCTION + 1];
	float4		window = nfound > 0 ? 4 * found[0].dist : 0;

	for (int i = 0; i < nfound; i++)
	{
		Buffer		buf;
		HnswElementTuple tup;

		levels[i] = 0;
		if (found[i].dist > window)
			continue;			/* outside the neighbourhood: not looked at */
		buf = ReadBuffer(index, HnswIdBlock(found[i].id));
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		tup = hnsw_page_element(BufferGetPage(buf), HnswIdOffset(found[i].id));
		if (tup != NULL)
			levels[i] = tup->level;
		UnlockReleaseBuffer(buf);
	}
	return hnsw_should_promote(found, nfound, levels);
}

/* Is id in a neighbour list? */
static bool
list_contains(const ItemPointerData *list, int slots, uint64 id)
{
	for (int i = 0; i < slots; i++)
		if (ItemPointerIsValid(&list[i]) && HnswTidToId(&list[i]) == id)
			return true;
	return false;
}

/*
 * Add the reverse link nb -> new element on level lev, or with force, put
 * it in place of nb's most redundant neighbour.  True if the link is there.
 * g is the HnswDiskGraph of index.
 */
bool
hnsw_link_back(HnswGraph *g, Relation index, uint64 nb, int lev, uint64 newid,
			   const float4 *newvec, const uint64 *newlinks, int nnewlinks,
			   bool force, bool building)
{
	int			m = g->m;
	int			slots = HnswLevelSlots(m, lev);
	ItemPointerData *list = palloc(sizeof(ItemPointerData) * slots);
	ItemPointerData *newlist = palloc(sizeof(ItemPointerData) * slots);
	float4		nbvec[FI_DIM];
	bool		linked = false;

	for (int attempt = 0; attempt < HNSW_UPDATE_RETRIES; attempt++)
	{
		bool		deleted;

		if (!hnsw_read_element(index, &((HnswDiskGraph *) g)->quant, nb, lev, m,
							   nbvec, list, &deleted) || deleted)
			break;
		if (list_contains(list, slots, newid))
		{
			linked = true;
			break;
		}
		if (!compute_neighbor_list(g, nb, nbvec, list, lev, slots, newid, newvec,
								   newlinks, nnewlinks, newlist))
		{
			float4	   *store;
			float4	  **vecs;
			float4	   *dists;
			int			victim;

			if (!force)
				break;
			/* a full list (else the new element would have been taken) */
			store = palloc(sizeof(float4) * FI_DIM * slots);
			vecs = palloc(sizeof(float4 *) * slots);
			dists = palloc(sizeof(float4) * slots);
			for (int i = 0; i < slots; i++)
			{
				vecs[i] = store + (Size) i * FI_DIM;
				if (!g->vector(g, HnswTidToId(&list[i]), vecs[i]))
					memset(vecs[i], 0, sizeof(float4) * FI_DIM);
				dists[i] = fi_distance_sq(nbvec, vecs[i]);
			}
			victim = hnsw_most_redundant(vecs, dists, slots);
			memcpy(newlist, list, sizeof(ItemPointerData) * slots);
			ItemPointerSet(&newlist[victim], HnswIdBlock(newid), HnswIdOffset(newid));
		}
		if (hnsw_write_neighbor_list(index, nb, lev, m, list, newlist, building))
		{
			linked = true;
			break;
		}
	}
	pfree(list);
	pfree(newlist);
	return linked;
}

/*
 * Insert one element into the graph on disk (aminsert, and CREATE INDEX
 * once the graph no longer fits in memory).  u draws the level.
 */
void
hnsw_insert_on_disk(Relation index, const float4 *exact, ItemPointer heaptid,
					int efConstruction, double u, bool building)
{
	HnswDiskGraph dg;
	uint8		code[FI_DIM];
	float4		err;
	float4		vec[FI_DIM];
	HnswMetaPageData meta;
	int			m;
	int			level;
	LOCKMODE	lockmode = ShareLock;
	uint64	   *nbrs[HNSW_MAX_LEVEL + 1];
	int			nnbrs[HNSW_MAX_LEVEL + 1];
	HnswElementTuple tup;
	Size		size;
	uint64		newid;
	uint64		entry;
	bool		newEntry;

	LockPage(index, HNSW_UPDATE_LOCK, lockmode);
	hnsw_read_meta(index, &meta);
	m = meta.m;					/* the layout's m, whatever reloptions say now */
	level = hnsw_random_level(m, hnsw_max_level(m), u);
	hnsw_disk_graph_init(&dg, index, &meta);
	/*
	 * The graph sees the new element as its code, like every other element:
	 * then copies of one vector are at distance 0 from each other.
	 */
	hnsw_quant_encode(&dg.quant, exact, code, &err);
	hnsw_quant_decode(&dg.quant, code, vec);
	/* while the graph is flat, any element may become the entry point */
	if (meta.entryLevel <= 0 || level > meta.entryLevel)
	{
		UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
		lockmode = ExclusiveLock;
		LockPage(index, HNSW_UPDATE_LOCK, lockmode);
		hnsw_read_meta(index, &meta);
	}

	for (int lev = 0; lev <= level; lev++)
	{
		nbrs[lev] = palloc(sizeof(uint64) * HnswLevelSlots(m, lev));
		nnbrs[lev] = 0;
	}

	if (meta.entryLevel >= 0)
	{
		HnswCandidate *found = palloc(sizeof(HnswCandidate) * (efConstruction + 1));
		int			top = Min(level, meta.entryLevel);
		uint64	   *eps = palloc(sizeof(uint64) * (efConstruction + 1));
		int			neps = 1;
		int			nfound = 0;
		uint64		ep1;

		entry = HnswTidToId(&meta.entry);
		eps[0] = ep1 = hnsw_descend(&dg.g, vec, entry, meta.entryLevel, top);
		for (int lev = top; lev >= 0; lev--)
		{
			nfound = hnsw_search_level(&dg.g, vec, eps, neps, lev,
									   efConstruction, found);
			nnbrs[lev] = choose_neighbors(&dg.g, found, nfound,
										  HnswLevelSlots(m, lev), nbrs[lev]);
			for (int i = 0; i < nfound; i++)
				eps[i] = found[i].id;
			if (nfound > 0)
				neps = nfound;
		}

		/*
		 * A tight cluster with no member above level 0 gets this one there;
		 * on a flat graph it becomes the first element of level 1 and the
		 * entry point (we hold the exclusive lock then).
		 */
		if (level == 0 && disk_should_promote(index, found, nfound))
		{
			level = 1;
			nbrs[1] = palloc(sizeof(uint64) * HnswLevelSlots(m, 1));
			nnbrs[1] = 0;
			if (meta.entryLevel >= 1)
			{
				nfound = hnsw_search_level(&dg.g, vec, &ep1, 1, 1, efConstruction, found);
				nnbrs[1] = choose_neighbors(&dg.g, found, nfound, HnswLevelSlots(m, 1),
											nbrs[1]);
			}
		}
		pfree(found);
		pfree(eps);
	}

	newEntry = meta.entryLevel < 0 || level > meta.entryLevel;
	tup = form_element(code, err, heaptid, m, level, nbrs, nnbrs, &size);
	if (err > meta.errMax)
		hnsw_raise_err_max(index, err, building);
	newid = store_element(index, tup, size, building);
	pfree(tup);

	for (int lev = 0; lev <= level; lev++)
	{
		bool		linked[2 * HNSW_MAX_M];
		int			inlinks = 0;

		for (int i = 0; i < nnbrs[lev]; i++)
		{
			linked[i] = hnsw_link_back(&dg.g, index, nbrs[lev][i], lev, newid,
									   vec, nbrs[lev], nnbrs[lev], false, building);
			inlinks += linked[i];
		}
		/* keep a new cluster from becoming an island (see HNSW_MIN_INLINKS) */
		for (int i = 0; lev == 0 && i < nnbrs[lev] && inlinks < HNSW_MIN_INLINKS; i++)
			if (!linked[i] &&
				hnsw_link_back(&dg.g, index, nbrs[lev][i], lev, newid, vec,
							   nbrs[lev], nnbrs[lev], true, building))
				inlinks++;
	}

	if (newEntry)
		hnsw_update_meta(index, newid, level, InvalidBlockNumber, true, building);
	UnlockPage(index, HNSW_UPDATE_LOCK, lockmode);
}

/* aminsert: index one new heap tuple (NULLs are not indexed). */
bool
hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		   Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
		   IndexInfo *indexInfo)
{
	MemoryContext ctx;
	MemoryContext old;
	FaceEmbedding *v;

	if (isnull[0])
		return false;
	v = DatumGetFaceEmbedding(values[0]);

	ctx = AllocSetContextCreate(CurrentMemoryContext, "faceid_hnsw insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	hnsw_insert_on_disk(index, v->x, heap_tid, HnswGetEfConstruction(index),
						pg_prng_double(&pg_global_prng_state), false);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
