/*
 * build_refine.c
 *	  faceid_hnsw CREATE INDEX: the passes over the finished graph in memory
 *	  before it is written: refine the upper levels, give every element its
 *	  minimum in-degree, link islands on level 0.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "build.h"

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
void
hnsw_mem_connect_islands(HnswBuildState *bs)
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
			uint64		ep;
			int			n;
			int			r = -1;

			if (reached[i])
				continue;
			CHECK_FOR_INTERRUPTS();
			ep = hnsw_descend(&bs->g, elem_vec(bs, i), gr->entry, gr->entryLevel, 0);
			n = hnsw_search_level(&bs->g, elem_vec(bs, i), &ep, 1, 0, bs->efConstruction,
								  bs->found);
			for (int j = 0; j < n && r < 0; j++)
				if (reached[bs->found[j].id])
					r = j;
			if (r >= 0)
				hnsw_mem_force_link(bs, (uint32) bs->found[r].id, 0, (uint32) i,
							   bs->found[r].dist);
			else
				hnsw_mem_force_link(bs, (uint32) gr->entry, 0, (uint32) i,
							   fi_distance_sq(elem_vec(bs, i), elem_vec(bs, gr->entry)));
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
		uint64		ep = hnsw_descend(&bs->g, elem_vec(bs, x), gr->entry, gr->entryLevel, lev);
		int			n = hnsw_search_level(&bs->g, elem_vec(bs, x), &ep, 1, lev,
										  bs->efConstruction, cands);

		n = hnsw_mem_drop_self(cands, n, x);
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
			vecs[k] = elem_vec(bs, cands[k].id);
		hnsw_sort_candidates(cands, vecs, n, HNSW_INVALID_ID, (uint64) x);
		hnsw_mem_connect_level(bs, x, lev, cands, n);
	}
}

/*
 * mem_refine_element for every element above level 0 but the entry point:
 * all of them, or in a parallel build those this participant takes from
 * the shared counter next, a chunk at a time.
 */
void
hnsw_mem_refine_upper(HnswBuildState *bs, pg_atomic_uint64 *next)
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
 * Report at DEBUG1 how many elements each level holds.  The levels above 0
 * decide which clusters a search looks at, and a parallel build's
 * interleaving changes how many elements hnsw_should_promote lifts there.
 */
void
hnsw_mem_report_levels(HnswBuildState *bs)
{
	int64		nelems = pg_atomic_read_u64(&bs->graph->nelems);
	int64		onlevel[HNSW_MAX_LEVEL + 1] = {0};
	StringInfoData buf;

	if (!message_level_is_interesting(DEBUG1))
		return;
	for (int64 i = 0; i < nelems; i++)
		for (int lev = elem(bs, i)->level; lev >= 0; lev--)
			onlevel[lev]++;
	initStringInfo(&buf);
	for (int lev = 0; lev <= bs->graph->entryLevel; lev++)
		appendStringInfo(&buf, "%s%d: " INT64_FORMAT, lev > 0 ? ", " : "", lev,
						 onlevel[lev]);
	elog(DEBUG1, "faceid_hnsw build: elements per level %s", buf.data);
	pfree(buf.data);
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
void
hnsw_mem_fix_inlinks(HnswBuildState *bs)
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
				fixed += hnsw_mem_add_link(bs, ids[j], lev, (uint32) i,
									  ElemDists(e, bs->m)[HnswLevelStart(bs->m, lev) + j],
									  indeg, minin);
		}
	}
	elog(DEBUG1, "faceid_hnsw build: " INT64_FORMAT " links added for in-degree", fixed);
	pfree(indeg);
}
