/*
 * build.c
 *	  faceid_hnsw: CREATE INDEX.
 *
 * The graph is built in memory (within maintenance_work_mem) while the heap
 * is scanned, then written page by page, without WAL; the finished index is
 * WAL-logged in bulk with log_newpage_range.  When the graph outgrows
 * maintenance_work_mem, what is built so far is written out and the
 * remaining tuples are inserted into the graph on disk.
 *
 * The graph in memory lives in one arena: elements are numbered (32 bits)
 * and found through an offset table, and an element's neighbour lists hold
 * element numbers, so the arena holds no pointers.  A serial build keeps
 * the arena in local memory and grows it; a parallel build (see below) puts
 * it in a DSM segment that every participant maps.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/lwlock.h"
#include "storage/smgr.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw.h"

#define HNSW_BUILD_SEED		UINT64CONST(0x66616365696468)	/* "faceidh" */

/*
 * An element of the graph in memory: a fixed header, then the neighbour ids
 * of every level (HnswTotalSlots of them), then as many squared distances.
 */
typedef struct BuildElement
{
	uint64		diskid;			/* index TID once the flush placed it */
	ItemPointerData heaptid;
	uint8		level;
	uint8		unused;
	uint16		counts[HNSW_MAX_LEVEL + 1]; /* per level: slots used */
	float4		vec[FI_DIM];
	uint32		ids[FLEXIBLE_ARRAY_MEMBER];
} BuildElement;

#define BuildElementSize(m, level) \
	MAXALIGN(offsetof(BuildElement, ids) + \
			 (sizeof(uint32) + sizeof(float4)) * HnswTotalSlots(m, level))
#define ElemDists(e, m)		((float4 *) ((e)->ids + HnswTotalSlots(m, (e)->level)))

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

/* Serial build: grow the local arena to have bytes free (it may move). */
static void
arena_reserve(HnswBuildState *bs, Size bytes)
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
static bool
arena_alloc(HnswBuildState *bs, Size size, Size *off)
{
	BuildGraph *gr = bs->graph;

	if (bs->locks == NULL)
	{
		Size		used;

		arena_reserve(bs, size);
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

/* HnswGraph.distance in memory. */
static bool
mem_distance(HnswGraph *g, uint64 id, const float4 *q, float4 *dist,
			 ItemPointer heaptid, bool *deleted)
{
	BuildElement *e = elem((HnswBuildState *) g, id);

	/* vec and heaptid never change, not even when the element is promoted */
	*dist = fi_distance_sq(q, e->vec);
	*heaptid = e->heaptid;
	*deleted = false;
	return true;
}

/* HnswGraph.neighbors in memory. */
static int
mem_neighbors(HnswGraph *g, uint64 id, int lev, uint64 *out)
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
static bool
mem_vector(HnswGraph *g, uint64 id, float4 *out)
{
	memcpy(out, elem((HnswBuildState *) g, id)->vec, sizeof(float4) * FI_DIM);
	return true;
}

/* Fill the element at arena offset off: empty lists on levels 0..level. */
static BuildElement *
mem_element_init(HnswBuildState *bs, Size off, const float4 *vec,
				 ItemPointer heaptid, int level)
{
	BuildElement *e = (BuildElement *) (bs->arena + off);

	e->diskid = 0;
	e->heaptid = *heaptid;
	e->level = level;
	e->unused = 0;
	memset(e->counts, 0, sizeof(e->counts));
	memcpy(e->vec, vec, sizeof(float4) * FI_DIM);
	return e;
}

/* Add the link nb -> q (distance d) on level lev, pruning a full list;
 * true if the link is there afterwards.  Call with nb locked. */
static bool
mem_link_back_locked(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d)
{
	BuildElement *e = elem(bs, nb);
	int			slots = HnswLevelSlots(bs->m, lev);
	uint32	   *ids = e->ids + HnswLevelStart(bs->m, lev);
	float4	   *dists = ElemDists(e, bs->m) + HnswLevelStart(bs->m, lev);
	int			n;
	HnswCandidate cands[2 * HNSW_MAX_M + 1];
	float4	   *vecs[2 * HNSW_MAX_M + 1];
	bool		chosen[2 * HNSW_MAX_M + 1];
	int			k = 0;

	if (lev > e->level)
		return false;
	n = e->counts[lev];
	/* only in a parallel build can nb have linked to q already */
	for (int i = 0; i < n; i++)
		if (ids[i] == q)
			return true;
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
		vecs[i] = elem(bs, cands[i].id)->vec;
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
static bool
mem_add_link(HnswBuildState *bs, uint32 nb, int lev, uint32 x, float4 d,
			 int *indeg, int minin)
{
	BuildElement *n = elem(bs, nb);
	int			slots = HnswLevelSlots(bs->m, lev);
	uint32	   *nids = n->ids + HnswLevelStart(bs->m, lev);
	float4	   *ndists = ElemDists(n, bs->m) + HnswLevelStart(bs->m, lev);
	int			cnt = n->counts[lev];
	float4	   *vecs[2 * HNSW_MAX_M];
	float4		owndist[2 * HNSW_MAX_M];
	int			pos[2 * HNSW_MAX_M];
	int			ne = 0;
	int			victim;

	for (int k = 0; k < cnt; k++)
		if (nids[k] == x)
			return false;
	if (cnt < slots)
	{
		nids[cnt] = x;
		ndists[cnt] = d;
		n->counts[lev] = cnt + 1;
		if (indeg)
			indeg[x]++;
		return true;
	}
	for (int k = 0; k < cnt; k++)
	{
		if (indeg && indeg[nids[k]] <= minin)
			continue;
		vecs[ne] = elem(bs, nids[k])->vec;
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
	return true;
}

/* Force the link nb -> q, giving up nb's most redundant neighbour. */
static void
mem_force_link(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d)
{
	elem_lock(bs, nb, LW_EXCLUSIVE);
	(void) mem_add_link(bs, nb, lev, q, d, NULL, 0);
	elem_unlock(bs, nb);
}

/* Choose qid's neighbours on level lev among found, and link them back. */
static void
mem_connect_level(HnswBuildState *bs, uint32 qid, int lev,
				  HnswCandidate *found, int nfound)
{
	BuildElement *q;
	float4	   *vecs[HNSW_MAX_EF_CONSTRUCTION];
	bool		chosen[HNSW_MAX_EF_CONSTRUCTION];
	bool		linked[2 * HNSW_MAX_M];
	uint32		nbs[2 * HNSW_MAX_M];
	float4		nbdists[2 * HNSW_MAX_M];
	int			k = 0;
	int			inlinks = 0;

	for (int i = 0; i < nfound; i++)
		vecs[i] = elem(bs, found[i].id)->vec;
	hnsw_select_neighbors(found, vecs, nfound, HnswLevelSlots(bs->m, lev), chosen);
	for (int i = 0; i < nfound; i++)
	{
		if (!chosen[i])
			continue;
		nbs[k] = (uint32) found[i].id;
		nbdists[k] = found[i].dist;
		k++;
	}
	elem_lock(bs, qid, LW_EXCLUSIVE);
	q = elem(bs, qid);
	memcpy(q->ids + HnswLevelStart(bs->m, lev), nbs, sizeof(uint32) * k);
	memcpy(ElemDists(q, bs->m) + HnswLevelStart(bs->m, lev), nbdists,
		   sizeof(float4) * k);
	q->counts[lev] = k;
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
		mem_force_link(bs, nbs[i], lev, qid, nbdists[i]);
		inlinks++;
	}
}

/*
 * Give element qid (on level 0 only) a level-1 list too: copy it into a new
 * block of the arena and swing its offset, under its lock.  The old block
 * stays (its vector is still right for a reader that holds it).  NULL when
 * the arena of a parallel build is full: then qid stays on level 0.
 */
static BuildElement *
mem_promote(HnswBuildState *bs, uint32 qid)
{
	BuildElement *old;
	BuildElement *e;
	Size		off;

	if (!arena_alloc(bs, BuildElementSize(bs->m, 1), &off))
		return NULL;
	elem_lock(bs, qid, LW_EXCLUSIVE);
	old = elem(bs, qid);
	e = mem_element_init(bs, off, old->vec, &old->heaptid, 1);
	e->counts[0] = old->counts[0];
	memcpy(e->ids, old->ids, sizeof(uint32) * 2 * bs->m);
	memcpy(ElemDists(e, bs->m), ElemDists(old, bs->m), sizeof(float4) * 2 * bs->m);
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
static int
mem_drop_self(HnswCandidate *found, int nfound, uint32 qid)
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
static void
mem_insert(HnswBuildState *bs, uint32 qid)
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
	eps[0] = ep1 = hnsw_descend(&bs->g, q->vec, entry, entryLevel, top);
	for (int lev = top; lev >= 0; lev--)
	{
		nfound = hnsw_search_level(&bs->g, q->vec, eps, neps, lev,
								   bs->efConstruction, found);
		if (bs->locks)
			nfound = mem_drop_self(found, nfound, qid);
		mem_connect_level(bs, qid, lev, found, nfound);
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
				nfound = hnsw_search_level(&bs->g, q->vec, &ep1, 1, 1,
										   bs->efConstruction, found);
				if (bs->locks)
					nfound = mem_drop_self(found, nfound, qid);
				mem_connect_level(bs, qid, 1, found, nfound);
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
		BuildElement *e = elem(bs, queue[head++]);

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
 * Runs in the leader alone, after any workers have finished.
 */
static void
mem_connect_islands(HnswBuildState *bs)
{
	BuildGraph *gr = bs->graph;
	int64		nelems = pg_atomic_read_u64(&gr->nelems);
	bool	   *reached;
	uint32	   *queue;
	int64		nreached;
	int64		fixed = 0;

	if (nelems < 2)
		return;
	reached = palloc_extended(sizeof(bool) * nelems, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	queue = palloc_extended(sizeof(uint32) * nelems, MCXT_ALLOC_HUGE);
	for (int round = 0; round < 3; round++)
	{
		memset(reached, 0, sizeof(bool) * nelems);
		nreached = mem_reach(bs, (uint32) gr->entry, reached, queue);
		for (int64 i = 0; i < nelems && nreached < nelems; i++)
		{
			BuildElement *e = elem(bs, i);
			uint64		ep;
			int			n;
			int			r = -1;

			if (reached[i])
				continue;
			CHECK_FOR_INTERRUPTS();
			ep = hnsw_descend(&bs->g, e->vec, gr->entry, gr->entryLevel, 0);
			n = hnsw_search_level(&bs->g, e->vec, &ep, 1, 0, bs->efConstruction,
								  bs->found);
			for (int j = 0; j < n && r < 0; j++)
				if (reached[bs->found[j].id])
					r = j;
			if (r >= 0)
				mem_force_link(bs, (uint32) bs->found[r].id, 0, (uint32) i,
							   bs->found[r].dist);
			else
				mem_force_link(bs, (uint32) gr->entry, 0, (uint32) i,
							   fi_distance_sq(e->vec, elem(bs, gr->entry)->vec));
			fixed++;
			nreached += mem_reach(bs, (uint32) i, reached, queue);
		}
		if (nreached == nelems)
			break;
	}
	elog(DEBUG1, "faceid_hnsw build: linked " INT64_FORMAT " unreachable elements", fixed);
	pfree(reached);
	pfree(queue);
}

/*
 * Choose again the neighbours of element x on each of its levels above 0,
 * from a search of the finished graph (and its current list), and link them
 * back.  The elements inserted first chose theirs from a graph a fraction of
 * the final size: far members, and in-links from places no search for them
 * passes.  The levels above 0 hold one element of about every cluster, so
 * this is where a search decides which clusters level 0 looks at.  cands and
 * vecs hold efConstruction + 2m + 1.
 */
static void
mem_refine_element(HnswBuildState *bs, uint32 x, HnswCandidate *cands,
				   float4 **vecs)
{
	BuildGraph *gr = bs->graph;
	BuildElement *e = elem(bs, x);
	int			maxc = Min(bs->efConstruction + 2 * bs->m, HNSW_MAX_EF_CONSTRUCTION);

	for (int lev = e->level; lev >= 1; lev--)
	{
		int			start = HnswLevelStart(bs->m, lev);
		uint64		ep = hnsw_descend(&bs->g, e->vec, gr->entry, gr->entryLevel, lev);
		int			n = hnsw_search_level(&bs->g, e->vec, &ep, 1, lev,
										  bs->efConstruction, cands);

		n = mem_drop_self(cands, n, x);
		elem_lock(bs, x, LW_SHARED);
		for (int j = 0; j < e->counts[lev] && n < maxc; j++)
		{
			bool		dup = false;

			for (int k = 0; k < n && !dup; k++)
				dup = (cands[k].id == e->ids[start + j]);
			if (dup)
				continue;
			cands[n].id = e->ids[start + j];
			cands[n].dist = ElemDists(e, bs->m)[start + j];
			n++;
		}
		elem_unlock(bs, x);
		n = Min(n, maxc);
		for (int k = 0; k < n; k++)
			vecs[k] = elem(bs, cands[k].id)->vec;
		hnsw_sort_candidates(cands, vecs, n, HNSW_INVALID_ID, (uint64) x);
		mem_connect_level(bs, x, lev, cands, n);
	}
}

/*
 * mem_refine_element for every element above level 0 but the entry point:
 * all of them, or in a parallel build those this participant takes from
 * the shared counter next, a chunk at a time.
 */
static void
mem_refine_upper(HnswBuildState *bs, pg_atomic_uint64 *next)
{
	BuildGraph *gr = bs->graph;
	uint64		nelems = pg_atomic_read_u64(&gr->nelems);
	Size		sz = bs->efConstruction + 2 * bs->m + 1;
	HnswCandidate *cands = palloc(sizeof(HnswCandidate) * sz);
	float4	  **vecs = palloc(sizeof(float4 *) * sz);
	pg_atomic_uint64 all;		/* a serial build's own counter */
	uint64		chunk;

	pg_atomic_init_u64(&all, 0);
	while ((chunk = pg_atomic_fetch_add_u64(next ? next : &all, 64)) < nelems)
	{
		for (uint64 i = chunk; i < Min(chunk + 64, nelems); i++)
		{
			if (elem(bs, i)->level == 0 || (int64) i == gr->entry)
				continue;
			CHECK_FOR_INTERRUPTS();
			mem_refine_element(bs, (uint32) i, cands, vecs);
		}
	}
	pfree(cands);
	pfree(vecs);
	elog(DEBUG1, "faceid_hnsw build: upper levels refined%s", next ? " (this participant's share)" : "");
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
	BuildGraph *gr = bs->graph;
	int64		nelems = pg_atomic_read_u64(&gr->nelems);
	int		   *indeg = palloc_extended(sizeof(int) * nelems, MCXT_ALLOC_HUGE);
	int64		fixed = 0;

	for (int lev = gr->entryLevel; lev >= 0; lev--)
	{
		int			minin = HnswMinInDegree(bs->m, lev);

		memset(indeg, 0, sizeof(int) * nelems);
		for (int64 i = 0; i < nelems; i++)
		{
			BuildElement *e = elem(bs, i);
			uint32	   *ids;

			if (e->level < lev)
				continue;
			ids = e->ids + HnswLevelStart(bs->m, lev);
			for (int j = 0; j < e->counts[lev]; j++)
				indeg[ids[j]]++;
		}
		for (int64 i = 0; i < nelems; i++)
		{
			BuildElement *e = elem(bs, i);
			uint32	   *ids;

			if (e->level < lev || indeg[i] >= minin || i == gr->entry)
				continue;
			CHECK_FOR_INTERRUPTS();
			ids = e->ids + HnswLevelStart(bs->m, lev);
			for (int j = 0; j < e->counts[lev] && indeg[i] < minin; j++)
				fixed += mem_add_link(bs, ids[j], lev, (uint32) i,
									  ElemDists(e, bs->m)[HnswLevelStart(bs->m, lev) + j],
									  indeg, minin);
		}
	}
	elog(DEBUG1, "faceid_hnsw build: " INT64_FORMAT " links added for in-degree", fixed);
	pfree(indeg);
}

/* Where the flush will put each element: block and offset, in order. */
static BlockNumber
assign_disk_ids(HnswBuildState *bs, int64 nelems)
{
	BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1;
	OffsetNumber offno = FirstOffsetNumber;
	Size		upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
	Size		lower = SizeOfPageHeaderData;

	for (int64 i = 0; i < nelems; i++)
	{
		BuildElement *e = elem(bs, i);
		Size		sz = MAXALIGN(HnswElementTupleSize(bs->m, e->level));

		if (lower + sizeof(ItemIdData) + sz > upper)
		{
			blkno++;
			offno = FirstOffsetNumber;
			upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
			lower = SizeOfPageHeaderData;
		}
		e->diskid = ((uint64) blkno << 16) | offno;
		offno++;
		lower += sizeof(ItemIdData);
		upper -= sz;
	}
	return blkno;
}

/* Form the on-disk tuple of an element in memory. */
static HnswElementTuple
mem_element_tuple(HnswBuildState *bs, BuildElement *e, Size *size)
{
	HnswElementTuple tup;

	*size = HnswElementTupleSize(bs->m, e->level);
	tup = palloc0(*size);	/* no stray bytes in the padding */
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
static void
flush_graph(HnswBuildState *bs)
{
	int64		nelems = pg_atomic_read_u64(&bs->graph->nelems);
	BlockNumber last;
	Buffer		buf = InvalidBuffer;
	Page		page = NULL;
	BlockNumber cur = InvalidBlockNumber;

	if (nelems == 0)
		return;
	if (!bs->graph->refined)
	{
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_REFINE);
		mem_refine_upper(bs, NULL);
	}
	mem_fix_inlinks(bs);
	mem_connect_islands(bs);
#ifdef USE_ASSERT_CHECKING
	check_graph(bs, nelems);
#endif
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);
	last = assign_disk_ids(bs, nelems);
	for (int64 i = 0; i < nelems; i++)
	{
		BuildElement *e = elem(bs, i);
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
	hnsw_update_meta(bs->index, elem(bs, bs->graph->entry)->diskid,
					 bs->graph->entryLevel, last, true, true);
}

/* Release the local graph of a serial build. */
static void
free_local_graph(HnswBuildState *bs)
{
	if (bs->arena)
		pfree(bs->arena);
	if (bs->offsets)
		pfree(bs->offsets);
	bs->arena = NULL;
	bs->offsets = NULL;
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
	flush_graph(bs);
	bs->onDisk = true;
	free_local_graph(bs);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
}

/* Bytes a serial build holds for its graph, plus what one tuple may add. */
static Size
serial_graph_bytes(HnswBuildState *bs, int level)
{
	BuildGraph *gr = bs->graph;

	return pg_atomic_read_u64(&gr->used) +
		(Size) (sizeof(uint64) + sizeof(uint32)) * gr->capacity +
		BuildElementSize(bs->m, level) + BuildElementSize(bs->m, 1);
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
		bs->g.epochs = repalloc_huge(bs->g.epochs, sizeof(uint32) * gr->capacity);
		memset(bs->g.epochs + bs->g.nepochs, 0,
			   sizeof(uint32) * (gr->capacity - bs->g.nepochs));
		bs->g.nepochs = gr->capacity;
	}
	/* room for the element and a promoted copy: mem_insert never moves the
	 * arena */
	arena_reserve(bs, BuildElementSize(bs->m, level) + BuildElementSize(bs->m, 1));
	arena_alloc(bs, BuildElementSize(bs->m, level), &off);
	pg_atomic_init_u64(&bs->offsets[n], off);
	mem_element_init(bs, off, vec, tid, level);
	mem_insert(bs, (uint32) n);
	pg_atomic_write_u64(&gr->nelems, n + 1);
}

/* Add one tuple to the shared graph of a parallel build; false when full. */
static bool
parallel_add(HnswBuildState *bs, const float4 *vec, ItemPointer tid, int level)
{
	BuildGraph *gr = bs->graph;
	Size		off;
	uint64		n;

	if (pg_atomic_read_u32(&gr->full))
		return false;
	if (!arena_alloc(bs, BuildElementSize(bs->m, level), &off))
		return false;
	n = pg_atomic_fetch_add_u64(&gr->nelems, 1);
	if (n >= (uint64) gr->capacity)
	{
		pg_atomic_write_u32(&gr->full, 1);
		return false;
	}
	mem_element_init(bs, off, vec, tid, level);
	pg_atomic_write_u64(&bs->offsets[n], off);
	mem_insert(bs, (uint32) n);
	return true;
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
	int			level;

	if (isnull[0])
		return;
	v = DatumGetFaceEmbedding(values[0]);
	u = pg_prng_double(&bs->prng);
	level = hnsw_random_level(bs->m, bs->maxLevel, u);
	old = MemoryContextSwitchTo(bs->tmpCtx);

	if (bs->locks)
		(void) parallel_add(bs, v->x, tid, level);	/* the leader checks "full" */
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
static void
build_state_init(HnswBuildState *bs, Relation heap, Relation index, int m,
				 int efConstruction)
{
	memset(bs, 0, sizeof(*bs));
	bs->heap = heap;
	bs->index = index;
	bs->m = m;
	bs->efConstruction = efConstruction;
	bs->maxLevel = hnsw_max_level(bs->m);
	bs->g.m = bs->m;
	bs->g.distance = mem_distance;
	bs->g.neighbors = mem_neighbors;
	bs->g.vector = mem_vector;
	bs->tmpCtx = AllocSetContextCreate(CurrentMemoryContext, "faceid_hnsw build tuple",
									   ALLOCSET_DEFAULT_SIZES);
	bs->memLimit = (Size) maintenance_work_mem * 1024;
	bs->found = palloc(sizeof(HnswCandidate) * (bs->efConstruction + 1));
	bs->isLeader = true;
	pg_prng_seed(&bs->prng, HNSW_BUILD_SEED);
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
									   build_callback, (void *) bs, NULL);
	if (!bs->onDisk)
		flush_graph(bs);
	free_local_graph(bs);
	return reltuples;
}

/* ---------------------------------------------------------------------
 * Parallel build
 *
 * The leader and its workers scan the heap in parallel and insert into one
 * graph in a DSM segment: the BuildGraph header, HNSW_BUILD_LOCKS element
 * locks, the offset table and the arena.  An element number and arena
 * space are handed out by atomic counters; an element's lists are read and
 * written under its lock (one at a time: nobody holds two), vectors and
 * heap TIDs are never written after the element is published.  Each
 * participant has its own visited marks.  When the workers are done, the
 * leader alone links islands and writes the pages, as a serial build does.
 *
 * The segment is sized up front from the heap (a faceembedding row takes
 * at least 540 bytes of a page) within maintenance_work_mem.  When the
 * graph would not fit, the build is serial from the start (and spills to
 * disk as always); when it still runs out (an underestimate), the
 * participants stop adding, and the leader discards the graph and builds
 * serially.
 * ---------------------------------------------------------------------
 */
#define HNSW_KEY_SHARED			UINT64CONST(0xFA1D000000000001)
#define HNSW_KEY_GRAPH			UINT64CONST(0xFA1D000000000002)
#define HNSW_KEY_QUERY_TEXT		UINT64CONST(0xFA1D000000000003)

#define SharedScan(shared) \
	((ParallelTableScanDesc) ((char *) (shared) + BUFFERALIGN(sizeof(HnswBuildShared))))

/* The lock tranche of this backend's parallel builds (0: none yet). */
static int	hnsw_build_tranche = 0;

/* Offsets in the graph chunk: locks, offset table, arena; returns its size. */
static Size
graph_layout(int64 capacity, Size arenaSize, Size *locksOff, Size *offsetsOff,
			 Size *arenaOff)
{
	*locksOff = MAXALIGN(sizeof(BuildGraph));
	*offsetsOff = *locksOff + MAXALIGN(sizeof(LWLock) * HNSW_BUILD_LOCKS);
	*arenaOff = *offsetsOff + MAXALIGN(sizeof(pg_atomic_uint64) * capacity);
	return *arenaOff + arenaSize;
}

/* Map the shared graph into bs, with this participant's visited marks. */
static void
graph_attach(HnswBuildState *bs, char *base)
{
	BuildGraph *gr = (BuildGraph *) base;
	Size		locksOff;
	Size		offsetsOff;
	Size		arenaOff;

	graph_layout(gr->capacity, gr->arenaSize, &locksOff, &offsetsOff, &arenaOff);
	bs->graph = gr;
	bs->locks = (LWLock *) (base + locksOff);
	bs->offsets = (pg_atomic_uint64 *) (base + offsetsOff);
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
	Size		fixed;
	Size		offsetsOff;
	Size		arenaOff;
	double		expected = bs->heap->rd_rel->reltuples;
	int64		cap;

	graph_layout(0, 0, &fixed, &offsetsOff, &arenaOff);
	fixed = arenaOff;
	if (expected <= 0 || expected > maxTuples)
		expected = maxTuples;
	if (bs->memLimit <= fixed ||
		fixed + expected * (perElem + sizeof(pg_atomic_uint64)) > bs->memLimit)
		return false;
	cap = Min(maxTuples, (int64) ((bs->memLimit - fixed) /
								  (elemSize + sizeof(pg_atomic_uint64))));
	cap = Min(cap, (int64) PG_UINT32_MAX);
	*capacity = cap;
	*arenaSize = Min(bs->memLimit - fixed - MAXALIGN(sizeof(pg_atomic_uint64) * cap),
					 (Size) cap * perElem);
	return true;
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
 * leader, refine the upper levels together (mem_refine_upper), taking
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
	mem_refine_upper(bs, &gr->refineNext);
	wait_for_workers(bs, pcxt);
	gr->refined = true;
}

/*
 * Build with nworkers workers and the leader; false if the graph did not
 * fit (nothing is written then) or no parallel context could be set up.
 */
static bool
build_parallel(HnswBuildState *bs, IndexInfo *indexInfo, int nworkers,
			   double *reltuples)
{
	ParallelContext *pcxt;
	Snapshot	snapshot;
	Size		estshared;
	Size		graphSize;
	Size		locksOff;
	Size		offsetsOff;
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
	graphSize = graph_layout(capacity, arenaSize, &locksOff, &offsetsOff, &arenaOff);
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
										build_callback, (void *) bs, scan);
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
		flush_graph(bs);
	}
	pfree(bs->g.epochs);
	bs->g.epochs = NULL;
	bs->locks = NULL;
	bs->graph = NULL;
	bs->arena = NULL;
	bs->offsets = NULL;
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

	build_state_init(&bs, heap, index, shared->m, shared->efConstruction);
	bs.isLeader = false;
	pg_prng_seed(&bs.prng, HNSW_BUILD_SEED + ParallelWorkerNumber + 1);
	bs.shared = shared;
	graph_attach(&bs, shm_toc_lookup(toc, HNSW_KEY_GRAPH, false));

	if (shared->refining)
	{
		mem_refine_upper(&bs, &bs.graph->refineNext);
		reltuples = 0;
	}
	else
	{
		scan = table_beginscan_parallel(heap, SharedScan(shared));
		reltuples = table_index_build_scan(heap, index, indexInfo, true, false,
										   build_callback, (void *) &bs, scan);
	}

	SpinLockAcquire(&shared->mutex);
	shared->reltuples += reltuples;
	shared->indtuples += bs.indtuples;
	SpinLockRelease(&shared->mutex);
	pg_atomic_fetch_add_u32(&shared->nfinished, 1);

	index_close(index, indexLockmode);
	table_close(heap, heapLockmode);
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

	build_state_init(&bs, heap, index, m, efConstruction);
	nworkers = parallel_workers(heap, index);
	if (nworkers == 0 || !build_parallel(&bs, indexInfo, nworkers, &reltuples))
		reltuples = build_serial(&bs, indexInfo);

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
