/*
 * build_graph.c
 *	  faceid_hnsw CREATE INDEX: the graph in memory.  Elements live in one
 *	  arena, numbered (32 bits) and found through an offset table; their
 *	  neighbour lists hold element numbers, so the arena holds no pointers
 *	  and can sit in local memory (serial build) or in a DSM segment that
 *	  every participant maps (parallel build).  Insertion follows the HNSW
 *	  paper, algorithm 1.
 */
#include "postgres.h"

#include "build.h"

/* Serial build: grow the local arena to have bytes free (it may move). */
void
hnsw_arena_reserve(HnswBuildState *bs, Size bytes)
{
	BuildGraph *gr = bs->graph;
	Size		used = pg_atomic_read_u64(&gr->used);

	if (used + bytes > gr->arenaSize)
	{
		Size		newsize = Max(Min(gr->arenaSize * 2, bs->memLimit), used + bytes);

		bs->arena = repalloc_huge(bs->arena, newsize);
		gr->arenaSize = newsize;
	}
}

/* Hand out size bytes of arena as *off; false when it is full (parallel). */
bool
hnsw_arena_alloc(HnswBuildState *bs, Size size, Size *off)
{
	BuildGraph *gr = bs->graph;

	if (bs->locks == NULL)
	{
		Size		used;

		hnsw_arena_reserve(bs, size);
		used = pg_atomic_read_u64(&gr->used);
		pg_atomic_write_u64(&gr->used, used + size);
		*off = used;
		return true;
	}
	*off = pg_atomic_fetch_add_u64(&gr->used, size);
	if (*off + size > gr->arenaSize)
	{
		pg_atomic_write_u32(&gr->full, 1);
		return false;
	}
	return true;
}

static void mem_distances_batch(HnswGraph *g, const float4 *q, HnswCandidate *cs,
								int n, bool *ok, bool *deleted);

/* Elements whose vectors a distance pass asks for before it computes any. */
#define MEM_PREFETCH_BATCH	16

/*
 * HnswGraph.distances in memory.  The walk is bound by memory latency (a
 * vector is eight cache lines at a random place of the vector array), so
 * each batch asks for all its vectors first and their misses overlap.  Only
 * the vectors are read: the build needs no heap TIDs of what it finds, so
 * they are left invalid and the elements themselves stay out of the cache.
 */
void
hnsw_mem_distances(HnswGraph *g, const float4 *q, HnswCandidate *cs, int n,
				   bool *ok, bool *deleted)
{
	for (int i0 = 0; i0 < n; i0 += MEM_PREFETCH_BATCH)
	{
		int			n1 = Min(n, i0 + MEM_PREFETCH_BATCH);

		for (int i = i0; i < n1; i++)
			prefetch_vector(elem_vec((HnswBuildState *) g, cs[i].id));
		mem_distances_batch(g, q, cs + i0, n1 - i0, ok + i0, deleted + i0);
	}
}

/* The distances of a batch whose vectors were asked for. */
static void
mem_distances_batch(HnswGraph *g, const float4 *q, HnswCandidate *cs, int n,
					bool *ok, bool *deleted)
{
	for (int i = 0; i < n; i++)
	{
		cs[i].dist = fi_distance_sq(q, elem_vec((HnswBuildState *) g, cs[i].id));
		cs[i].err = 0;
		ItemPointerSetInvalid(&cs[i].heaptid);
		ok[i] = true;
		deleted[i] = false;
	}
}

/* HnswGraph.neighbors in memory. */
int
hnsw_mem_neighbors(HnswGraph *g, uint64 id, int lev, uint64 *out)
{
	HnswBuildState *bs = (HnswBuildState *) g;
	BuildElement *e;
	int			n = 0;

	elem_lock(bs, id, LW_SHARED);
	e = elem(bs, id);
	if (lev <= e->level)
	{
		uint32	   *ids = e->ids + HnswLevelStart(g->m, lev);

		n = e->counts[lev];
		for (int i = 0; i < n; i++)
			out[i] = ids[i];
	}
	elem_unlock(bs, id);
	return n;
}

/* HnswGraph.vector in memory. */
bool
hnsw_mem_vector(HnswGraph *g, uint64 id, float4 *out)
{
	memcpy(out, elem_vec((HnswBuildState *) g, id), sizeof(float4) * FI_DIM);
	return true;
}

/* Fill the element at arena offset off: empty lists on levels 0..level. */
BuildElement *
hnsw_mem_element_init(HnswBuildState *bs, Size off, ItemPointer heaptid,
					  int level)
{
	BuildElement *e = (BuildElement *) (bs->arena + off);

	e->diskid = 0;
	e->heaptid = *heaptid;
	e->level = level;
	e->unused = 0;
	memset(e->counts, 0, sizeof(e->counts));
	e->sorted = 0;
	return e;
}

/* What mem_list_append did. */
typedef enum ListAppend
{
	LIST_HAS,					/* the link was there already */
	LIST_ADDED,					/* appended into a free slot */
	LIST_FULL					/* no free slot: nothing done */
} ListAppend;

/*
 * Append the link e -> x (distance d) on level lev when absent and room is
 * left.  The list is no longer the heuristic's choice in order.
 */
static ListAppend
mem_list_append(BuildElement *e, int m, int lev, uint32 x, float4 d)
{
	uint32	   *ids = e->ids + HnswLevelStart(m, lev);
	int			n = e->counts[lev];

	for (int i = 0; i < n; i++)
		if (ids[i] == x)
			return LIST_HAS;
	if (n >= HnswLevelSlots(m, lev))
		return LIST_FULL;
	ids[n] = x;
	ElemDists(e, m)[HnswLevelStart(m, lev) + n] = d;
	e->counts[lev] = n + 1;
	e->sorted &= ~(1u << lev);
	return LIST_ADDED;
}

/* Add the link nb -> q (distance d) on level lev, pruning a full list;
 * true if the link is there afterwards.  Call with nb locked. */
static bool
mem_link_back_locked(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d)
{
	if (lev > elem(bs, nb)->level)
		return false;
	/* LIST_HAS: only in a parallel build can nb have linked to q already */
	if (mem_list_append(elem(bs, nb), bs->m, lev, q, d) != LIST_FULL)
		return true;
	return hnsw_mem_prune_full_list(bs, nb, lev, q, d);
}

/* mem_link_back_locked, taking nb's lock. */
static bool
mem_link_back(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d)
{
	bool		linked;

	elem_lock(bs, nb, LW_EXCLUSIVE);
	linked = mem_link_back_locked(bs, nb, lev, q, d);
	elem_unlock(bs, nb);
	return linked;
}

/*
 * Link nb -> x (distance d) on level lev: into a free slot, or in place of
 * nb's most redundant neighbour.  With indeg (in-link counts, kept up to
 * date), only a neighbour that keeps more than minin in-links may go.
 * Call with nb locked; true if the link was added.
 */
bool
hnsw_mem_add_link(HnswBuildState *bs, uint32 nb, int lev, uint32 x, float4 d,
				  int *indeg, int minin)
{
	BuildElement *n = elem(bs, nb);
	uint32	   *nids = n->ids + HnswLevelStart(bs->m, lev);
	float4	   *ndists = ElemDists(n, bs->m) + HnswLevelStart(bs->m, lev);
	int			cnt = n->counts[lev];
	float4	   *vecs[2 * HNSW_MAX_M];
	float4		owndist[2 * HNSW_MAX_M];
	int			pos[2 * HNSW_MAX_M];
	int			ne = 0;
	int			victim;

	switch (mem_list_append(n, bs->m, lev, x, d))
	{
		case LIST_HAS:
			return false;
		case LIST_ADDED:
			if (indeg)
				indeg[x]++;
			return true;
		case LIST_FULL:
			break;
	}
	for (int k = 0; k < cnt; k++)
	{
		if (indeg && indeg[nids[k]] <= minin)
			continue;
		vecs[ne] = elem_vec(bs, nids[k]);
		owndist[ne] = ndists[k];
		pos[ne++] = k;
	}
	if (ne == 0)
		return false;
	victim = pos[hnsw_most_redundant(vecs, owndist, ne)];
	if (indeg)
	{
		indeg[nids[victim]]--;
		indeg[x]++;
	}
	nids[victim] = x;
	ndists[victim] = d;
	n->sorted &= ~(1u << lev);
	return true;
}

/* Force the link nb -> q, giving up nb's most redundant neighbour. */
void
hnsw_mem_force_link(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d)
{
	elem_lock(bs, nb, LW_EXCLUSIVE);
	(void) hnsw_mem_add_link(bs, nb, lev, q, d, NULL, 0);
	elem_unlock(bs, nb);
}

/* Choose qid's neighbours on level lev among found, and link them back. */
void
hnsw_mem_connect_level(HnswBuildState *bs, uint32 qid, int lev,
				  HnswCandidate *found, int nfound)
{
	BuildElement *q;
	float4	   *vecs[HNSW_MAX_EF_CONSTRUCTION];
	bool		chosen[HNSW_MAX_EF_CONSTRUCTION];
	bool		kept[HNSW_MAX_EF_CONSTRUCTION];
	HnswCandidate list[HNSW_MAX_LIST];
	bool		listKept[HNSW_MAX_LIST];
	bool		linked[HNSW_MAX_LIST];
	uint32		nbs[HNSW_MAX_LIST];
	float4		nbdists[HNSW_MAX_LIST];
	int			k = 0;
	int			inlinks = 0;

	for (int i = 0; i < nfound; i++)
		vecs[i] = elem_vec(bs, found[i].id);
	hnsw_select_neighbors_kept(found, vecs, nfound, HnswLevelSlots(bs->m, lev),
							   chosen, kept);
	for (int i = 0; i < nfound; i++)
	{
		if (!chosen[i])
			continue;
		list[k] = found[i];
		listKept[k] = kept[i];
		nbs[k] = (uint32) found[i].id;
		nbdists[k] = found[i].dist;
		k++;
	}

	/*
	 * What the heuristic dropped was never kept, so over the chosen alone,
	 * in this order, it decides the same: when that is sorted order, the
	 * kept bits hold.
	 */
	elem_lock(bs, qid, LW_EXCLUSIVE);
	q = elem(bs, qid);
	hnsw_mem_set_list(bs, q, lev, nbs, nbdists, listKept, k,
					  hnsw_candidates_sorted(list, k, qid));
	elem_unlock(bs, qid);
	for (int i = 0; i < k; i++)
	{
		linked[i] = mem_link_back(bs, nbs[i], lev, qid, nbdists[i]);
		inlinks += linked[i];
	}
	/* keep a new cluster from becoming an island (see HNSW_MIN_INLINKS) */
	for (int i = 0; lev == 0 && i < k && inlinks < HNSW_MIN_INLINKS; i++)
	{
		if (linked[i])
			continue;
		hnsw_mem_force_link(bs, nbs[i], lev, qid, nbdists[i]);
		inlinks++;
	}
}

/*
 * Give element qid (on level 0 only) a level-1 list too: copy it into a new
 * block of the arena and swing its offset, under its lock.  The old block
 * stays (a reader may still hold it); the vector does not move.  NULL when
 * the arena of a parallel build is full: then qid stays on level 0.
 */
static BuildElement *
mem_promote(HnswBuildState *bs, uint32 qid)
{
	BuildElement *old;
	BuildElement *e;
	Size		off;

	if (!hnsw_arena_alloc(bs, BuildElementSize(bs->m, 1), &off))
		return NULL;
	elem_lock(bs, qid, LW_EXCLUSIVE);
	old = elem(bs, qid);
	e = hnsw_mem_element_init(bs, off, &old->heaptid, 1);
	e->counts[0] = old->counts[0];
	e->sorted = old->sorted & 1;
	memcpy(e->ids, old->ids, sizeof(uint32) * 2 * bs->m);
	memcpy(ElemDists(e, bs->m), ElemDists(old, bs->m), sizeof(float4) * 2 * bs->m);
	for (int i = 0; i < 2 * bs->m; i++)
		elem_set_kept(e, bs->m, i, elem_kept(old, bs->m, i));
	pg_atomic_write_u64(&bs->offsets[qid], off);
	elem_unlock(bs, qid);
	return e;
}

/* hnsw_should_promote for search results in memory. */
static bool
mem_should_promote(HnswBuildState *bs, HnswCandidate *found, int nfound)
{
	int			levels[HNSW_MAX_EF_CONSTRUCTION];

	for (int i = 0; i < nfound; i++)
		levels[i] = elem(bs, found[i].id)->level;
	return hnsw_should_promote(found, nfound, levels);
}

/* Drop qid itself from search results (a parallel build can find it). */
int
hnsw_mem_drop_self(HnswCandidate *found, int nfound, uint32 qid)
{
	int			k = 0;

	for (int i = 0; i < nfound; i++)
		if (found[i].id != qid)
			found[k++] = found[i];
	return k;
}

/*
 * Insert element qid into the graph in memory (HNSW paper, algorithm 1).
 * In a parallel build, an element that will rise above the entry point
 * holds the entry lock for its whole insertion, so no two such elements
 * race; all others only read the entry point.
 */
void
hnsw_mem_insert(HnswBuildState *bs, uint32 qid)
{
	BuildGraph *gr = bs->graph;
	BuildElement *q = elem(bs, qid);
	int			top;
	uint64	   *eps;
	uint64		ep1;
	int			neps = 1;
	int			nfound = 0;
	HnswCandidate *found = bs->found;
	int64		entry;
	int			entryLevel;
	bool		exclusive = false;

	if (bs->locks)
	{
		LWLockAcquire(&gr->entryLock, LW_SHARED);
		entryLevel = gr->entryLevel;
		LWLockRelease(&gr->entryLock);
		/* while the graph is flat, any element may become the entry point */
		if (q->level > entryLevel || entryLevel == 0)
		{
			LWLockAcquire(&gr->entryLock, LW_EXCLUSIVE);
			exclusive = true;
		}
		else
			LWLockAcquire(&gr->entryLock, LW_SHARED);
	}
	entry = gr->entry;
	entryLevel = gr->entryLevel;
	if (!exclusive && bs->locks)
		LWLockRelease(&gr->entryLock);

	if (entry < 0)
	{
		gr->entry = qid;
		gr->entryLevel = q->level;
		if (exclusive)
			LWLockRelease(&gr->entryLock);
		return;
	}
	top = Min(q->level, entryLevel);
	eps = palloc(sizeof(uint64) * (bs->efConstruction + 1));
	eps[0] = ep1 = hnsw_descend(&bs->g, elem_vec(bs, qid), entry, entryLevel, top);
	for (int lev = top; lev >= 0; lev--)
	{
		nfound = hnsw_search_level(&bs->g, elem_vec(bs, qid), eps, neps, lev,
								   bs->efConstruction, found);
		if (bs->locks)
			nfound = hnsw_mem_drop_self(found, nfound, qid);
		hnsw_mem_connect_level(bs, qid, lev, found, nfound);
		for (int i = 0; i < nfound; i++)
			eps[i] = found[i].id;
		if (nfound > 0)
			neps = nfound;
	}

	/*
	 * A tight cluster with no member above level 0 gets this one there.  On
	 * a flat graph (only while this insert may change the entry point) it
	 * becomes the first element of level 1 and the entry point.
	 */
	if (q->level == 0 && (entryLevel >= 1 || exclusive || bs->locks == NULL) &&
		mem_should_promote(bs, found, nfound))
	{
		BuildElement *p = mem_promote(bs, qid);

		if (p != NULL)
		{
			q = p;
			if (entryLevel >= 1)
			{
				nfound = hnsw_search_level(&bs->g, elem_vec(bs, qid), &ep1, 1, 1,
										   bs->efConstruction, found);
				if (bs->locks)
					nfound = hnsw_mem_drop_self(found, nfound, qid);
				hnsw_mem_connect_level(bs, qid, 1, found, nfound);
			}
		}
	}

	if (q->level > entryLevel && (exclusive || bs->locks == NULL))
	{
		gr->entry = qid;
		gr->entryLevel = q->level;
	}
	if (exclusive)
		LWLockRelease(&gr->entryLock);
}
