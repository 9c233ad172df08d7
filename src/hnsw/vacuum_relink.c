/*
 * vacuum_relink.c
 *	  faceid_hnsw: VACUUM's level-0 entry checks (pass 2b of vacuum.c).
 *
 * A search for a stored vector must be able to reach its element: from the
 * entry point through the graph, and at the end from its own neighbourhood,
 * because the search walks near the query and a link from far away is
 * seldom followed.  Two checks on the level-0 lists in memory (when they
 * fit in maintenance_work_mem), each fixed by forced links:
 *	 - neighbourhoods: links are short when within twice the usual nearest
 *	   distance; a group of elements (a strongly connected component of the
 *	   short links) that no short link enters, such as a photo that its
 *	   person's other photos do not link to, gets one;
 *	 - reachability: a live element the entry point does not reach gets a
 *	   link from its nearest reached element, in rounds, since a forced link
 *	   can push another member out of the linking element's list.
 * Distances here are between decoded codes: they only choose links.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/float.h"
#include "utils/rel.h"

#include "hnsw.h"

/* Most relinking rounds of the reachability check (each recomputes it). */
#define HNSW_RELINK_ROUNDS 4

/*
 * A level-0 link is short when its squared length is at most this factor
 * times the median over live elements of the nearest out-neighbour's (2x
 * the distance).
 */
#define HNSW_SHORT_LINK_FACTOR 4.0f

/* What the checks work on */
typedef struct HnswRelink
{
	Relation	index;
	BufferAccessStrategy strategy;
	int			m;
	HnswDiskGraph *dg;
	HnswIdSet  *dead;			/* dead now (not yet marked) or tombstones */
} HnswRelink;

/* The level-0 graph in memory */
typedef struct HnswLevel0
{
	int64		n;				/* elements, live or not */
	int			slots;			/* level-0 slots of a list */
	uint64	   *ids;			/* element ids, ascending */
	int32	   *adj;			/* n x slots positions of neighbours, or -1 */
	uint8	   *deg;			/* valid entries of each row */
	bool	   *live;
	uint8	   *codes;			/* n x FI_DIM codes */
	bool	   *isShort;		/* n x slots: a short link (link_neighbourhoods) */
} HnswLevel0;

/* Index of id in the sorted array ids[n], or -1. */
static int64
find_id(const uint64 *ids, int64 n, uint64 id)
{
	int64		lo = 0;
	int64		hi = n - 1;

	while (lo <= hi)
	{
		int64		mid = (lo + hi) / 2;

		if (ids[mid] == id)
			return mid;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Breadth-first: mark what start reaches on level 0; returns how many. */
static int64
reach_from(int64 start, const int32 *adj, const uint8 *deg, int slots,
		   bool *reached, int64 *queue)
{
	int64		head = 0;
	int64		tail = 0;

	if (start < 0 || reached[start])
		return 0;
	reached[start] = true;
	queue[tail++] = start;
	while (head < tail)
	{
		int64		x = queue[head++];

		for (int i = 0; i < deg[x]; i++)
		{
			int32		y = adj[x * slots + i];

			if (y >= 0 && !reached[y])
			{
				reached[y] = true;
				queue[tail++] = y;
			}
		}
	}
	return tail;
}

/*
 * Load the level-0 lists of the index into l0 (ids ascend in block/offset
 * order); false when they would not fit in maintenance_work_mem.
 */
static bool
load_level0(HnswRelink *vs, HnswLevel0 *l0)
{
	Relation	index = vs->index;
	int			slots = 2 * vs->m;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	int64		cap;
	int64		n = 0;
	uint64	   *raw;

	if (nblocks <= HNSW_METAPAGE_BLKNO + 1)
		return false;
	/* a page holds at most this many elements */
	cap = (int64) (nblocks - 1) *
		((BLCKSZ - SizeOfPageHeaderData) /
		 (MAXALIGN(HnswElementTupleSize(vs->m, 0)) + sizeof(ItemIdData)));
	/* and the neighbourhood check's component arrays, ~40 bytes */
	if ((double) cap * (sizeof(uint64) * (slots + 2) + (sizeof(int32) + 1) * slots + FI_DIM + 43) >
		(double) maintenance_work_mem * 1024)
	{
		elog(DEBUG1, "faceid_hnsw vacuum: level 0 too large for the reachability check");
		return false;
	}
	l0->slots = slots;
	l0->ids = palloc(sizeof(uint64) * cap);
	raw = palloc(sizeof(uint64) * slots * cap);
	l0->deg = palloc0(sizeof(uint8) * cap);
	l0->live = palloc0(sizeof(bool) * cap);
	l0->codes = palloc(sizeof(uint8) * FI_DIM * cap);
	l0->isShort = palloc0(sizeof(bool) * slots * cap);

	for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;

		page = hnsw_vacuum_read_page(index, blkno, vs->strategy, &buf);
		for (OffsetNumber off = FirstOffsetNumber;
			 off <= PageGetMaxOffsetNumber(page) && n < cap; off++)
		{
			HnswElementTuple tup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, off));

			l0->ids[n] = ((uint64) blkno << 16) | off;
			l0->live[n] = !tup->deleted && !hnsw_idset_contains(vs->dead, l0->ids[n]);
			memcpy(l0->codes + n * FI_DIM, tup->code, FI_DIM);
			/* no path through a dead element: its slot may be freed */
			for (int i = 0; l0->live[n] && i < slots; i++)
				if (ItemPointerIsValid(&tup->neighbors[i]))
					raw[n * slots + l0->deg[n]++] = HnswTidToId(&tup->neighbors[i]);
			n++;
		}
		UnlockReleaseBuffer(buf);
	}
	l0->n = n;

	/* resolve neighbour ids to positions */
	l0->adj = palloc(sizeof(int32) * slots * Max(n, 1));
	for (int64 x = 0; x < n; x++)
		for (int i = 0; i < l0->deg[x]; i++)
			l0->adj[x * slots + i] = (int32) find_id(l0->ids, n, raw[x * slots + i]);
	pfree(raw);
	return true;
}

/* Read the level-0 list of the element at position pos again from disk. */
static void
reload_list(HnswRelink *vs, HnswLevel0 *l0, int64 pos, uint64 *nbuf)
{
	int			nn = vs->dg->g.neighbors(&vs->dg->g, l0->ids[pos], 0, nbuf);

	l0->deg[pos] = (uint8) nn;
	for (int i = 0; i < nn; i++)
		l0->adj[pos * l0->slots + i] = (int32) find_id(l0->ids, l0->n, nbuf[i]);
}

/* Mark what the entry point reaches on level 0; returns the live unreached. */
static int64
count_unreached(HnswLevel0 *l0, int64 entry, bool *reached, int64 *queue)
{
	int64		unreached = 0;

	memset(reached, 0, sizeof(bool) * Max(l0->n, 1));
	reach_from(entry, l0->adj, l0->deg, l0->slots, reached, queue);
	for (int64 x = 0; x < l0->n; x++)
		unreached += (l0->live[x] && !reached[x]);
	return unreached;
}

/* Force the link from position y to position x on level 0. */
static bool
force_link(HnswRelink *vs, HnswLevel0 *l0, int64 y, int64 x, const float4 *xvec,
		   uint64 *xlinks, uint64 *nbuf)
{
	int			nx = vs->dg->g.neighbors(&vs->dg->g, l0->ids[x], 0, xlinks);

	/* what x links to stays reachable through x: y drops one of those */
	if (!hnsw_link_back(&vs->dg->g, vs->index, l0->ids[y], 0, l0->ids[x], xvec,
						xlinks, nx, true, false))
		return false;
	reload_list(vs, l0, y, nbuf);
	return true;
}

/*
 * The nearest live element to xvec other than x (and in among[], unless
 * NULL), found by a search of the graph; -1 if none.  Its squared distance
 * in *dist.
 */
static int64
search_nearest(HnswRelink *vs, HnswLevel0 *l0, const HnswMetaPageData *meta,
			   int64 x, const float4 *xvec, const bool *among,
			   HnswCandidate *found, float4 *dist)
{
	uint64		ep = hnsw_descend(&vs->dg->g, xvec, HnswTidToId(&meta->entry),
								  meta->entryLevel, 0);
	int			nf = hnsw_search_level(&vs->dg->g, xvec, &ep, 1, 0,
									   meta->efConstruction, found);

	for (int j = 0; j < nf; j++)
	{
		int64		pos = find_id(l0->ids, l0->n, found[j].id);

		if (pos >= 0 && pos != x && l0->live[pos] && (among == NULL || among[pos]))
		{
			*dist = found[j].dist;
			return pos;
		}
	}
	return -1;
}

/*
 * One relinking round: give every live element not in reached[] a forced
 * link from its nearest reached element (found by a search), or from the
 * entry point.  The linking element's list is read again afterwards: the
 * link may have replaced a member, whose last in-link that may have been
 * (often one this pass linked just before), so reached[] can now claim
 * elements that are not; the next round recomputes it.  Returns how many
 * elements were linked.
 */
static int64
relink_round(HnswRelink *vs, HnswLevel0 *l0, const HnswMetaPageData *meta,
			 int64 entry, bool *reached, int64 *queue, HnswCandidate *found)
{
	uint64	   *nbuf = palloc(sizeof(uint64) * l0->slots);
	uint64	   *xlinks = palloc(sizeof(uint64) * l0->slots);
	int64		fixed = 0;

	for (int64 x = 0; x < l0->n; x++)
	{
		float4		vec[FI_DIM];
		float4		d;
		int64		r;

		if (reached[x] || !l0->live[x])
			continue;
		CHECK_FOR_INTERRUPTS();
		if (!vs->dg->g.vector(&vs->dg->g, l0->ids[x], vec))
			continue;
		r = search_nearest(vs, l0, meta, x, vec, reached, found, &d);
		if (r < 0)
			r = entry;
		if (r < 0 || r == x)
			continue;
		if (force_link(vs, l0, r, x, vec, xlinks, nbuf))
		{
			fixed++;
			reach_from(x, l0->adj, l0->deg, l0->slots, reached, queue);
		}
	}
	pfree(nbuf);
	pfree(xlinks);
	return fixed;
}

/* Squared distance between the elements at positions x (decoded) and y. */
static inline float4
code_distance(HnswRelink *vs, const HnswLevel0 *l0, const float4 *xvec, int64 y)
{
	return hnsw_quant_distance(&vs->dg->quant, xvec, l0->codes + (Size) y * FI_DIM);
}

/* qsort comparator of floats, ascending. */
static int
cmp_float4(const void *a, const void *b)
{
	float4		x = *(const float4 *) a;
	float4		y = *(const float4 *) b;

	return (x > y) - (x < y);
}

/*
 * Mark the short level-0 links (live to live, within tau) in l0->isShort;
 * d1[x] is x's distance to its nearest live out-neighbour (infinity when
 * none).  tau is four times the median d1: within a person's photos and
 * between one-photo people alike, twice the usual nearest distance.
 */
static float4
mark_short_links(HnswRelink *vs, HnswLevel0 *l0, float4 *d1)
{
	float4	   *sorted = palloc(sizeof(float4) * Max(l0->n, 1));
	int64		nd = 0;
	float4		tau = 0;

	for (int pass = 0; pass < 2; pass++)
	{
		for (int64 x = 0; x < l0->n; x++)
		{
			float4		vec[FI_DIM];

			if (!l0->live[x])
				continue;
			CHECK_FOR_INTERRUPTS();
			hnsw_quant_decode(&vs->dg->quant, l0->codes + (Size) x * FI_DIM, vec);
			if (pass == 0)
				d1[x] = get_float4_infinity();
			for (int i = 0; i < l0->deg[x]; i++)
			{
				int32		y = l0->adj[x * l0->slots + i];
				float4		d;

				l0->isShort[x * l0->slots + i] = false;
				if (y < 0 || !l0->live[y] || y == x)
					continue;
				d = code_distance(vs, l0, vec, y);
				if (pass == 0)
					d1[x] = Min(d1[x], d);
				else
					l0->isShort[x * l0->slots + i] = (d <= tau);
			}
			if (pass == 0 && d1[x] < get_float4_infinity())
				sorted[nd++] = d1[x];
		}
		if (pass == 0)
		{
			if (nd == 0)
				break;
			qsort(sorted, nd, sizeof(float4), cmp_float4);
			tau = HNSW_SHORT_LINK_FACTOR * sorted[nd / 2];
		}
	}
	pfree(sorted);
	return nd == 0 ? -1 : tau;
}
/*
 * Strongly connected components of the short links (Tarjan's algorithm,
 * with explicit stacks); comp[x] for every live x.  Returns their number.
 */
static int64
short_components(const HnswLevel0 *l0, int32 *comp)
{
	int64		n = l0->n;
	int32	   *num = palloc(sizeof(int32) * Max(n, 1));
	int32	   *low = palloc(sizeof(int32) * Max(n, 1));
	bool	   *onstack = palloc0(sizeof(bool) * Max(n, 1));
	int32	   *stack = palloc(sizeof(int32) * Max(n, 1));
	int32	   *callNode = palloc(sizeof(int32) * Max(n, 1));
	int32	   *callEdge = palloc(sizeof(int32) * Max(n, 1));
	int64		sp = 0;
	int32		counter = 0;
	int64		ncomp = 0;

	for (int64 x = 0; x < n; x++)
	{
		num[x] = -1;
		comp[x] = -1;
	}
	for (int64 r = 0; r < n; r++)
	{
		int64		cp = 0;

		if (!l0->live[r] || num[r] >= 0)
			continue;
		num[r] = low[r] = counter++;
		stack[sp++] = (int32) r;
		onstack[r] = true;
		callNode[cp] = (int32) r;
		callEdge[cp++] = 0;
		while (cp > 0)
		{
			int32		v = callNode[cp - 1];
			int			i = callEdge[cp - 1];

			if (i < l0->deg[v])
			{
				int32		w = l0->adj[(int64) v * l0->slots + i];

				callEdge[cp - 1]++;
				if (!l0->isShort[(int64) v * l0->slots + i])
					continue;
				if (num[w] < 0)
				{
					num[w] = low[w] = counter++;
					stack[sp++] = w;
					onstack[w] = true;
					callNode[cp] = w;
					callEdge[cp++] = 0;
				}
				else if (onstack[w])
					low[v] = Min(low[v], num[w]);
				continue;
			}
			cp--;
			if (low[v] == num[v])
			{
				int32		w;

				do
				{
					w = stack[--sp];
					onstack[w] = false;
					comp[w] = (int32) ncomp;
				} while (w != v);
				ncomp++;
			}
			if (cp > 0)
				low[callNode[cp - 1]] = Min(low[callNode[cp - 1]], low[v]);
		}
	}
	pfree(num);
	pfree(low);
	pfree(onstack);
	pfree(stack);
	pfree(callNode);
	pfree(callEdge);
	return ncomp;
}

/*
 * Pass 2b, neighbourhoods: a search for a stored vector walks among its
 * nearest elements, so every group of elements that the short links (see
 * mark_short_links) close off from the rest of its neighbourhood must get
 * a short link in.  Groups are the strongly connected components of the
 * short links; one that no short link enters gets one: the reverse of its
 * shortest link out, or, when it has none, a link from the nearest element
 * a search finds (if that is within tau both ways).  Returns the links made.
 */
static int64
link_neighbourhoods(HnswRelink *vs, HnswLevel0 *l0, const HnswMetaPageData *meta,
					HnswCandidate *found)
{
	int64		n = l0->n;
	float4	   *d1 = palloc(sizeof(float4) * Max(n, 1));
	int32	   *comp = palloc(sizeof(int32) * Max(n, 1));
	uint64	   *xlinks = palloc(sizeof(uint64) * l0->slots);
	uint64	   *nbuf = palloc(sizeof(uint64) * l0->slots);
	int64		ncomp;
	float4		tau;
	bool	   *entered;
	int32	   *size;
	int64	   *bx;
	int64	   *by;
	float4	   *bd;
	int64		fixed = 0;

	tau = mark_short_links(vs, l0, d1);
	if (tau < 0)
		return 0;
	ncomp = short_components(l0, comp);
	entered = palloc0(sizeof(bool) * Max(ncomp, 1));
	size = palloc0(sizeof(int32) * Max(ncomp, 1));
	bx = palloc(sizeof(int64) * Max(ncomp, 1));
	by = palloc(sizeof(int64) * Max(ncomp, 1));
	bd = palloc(sizeof(float4) * Max(ncomp, 1));
	for (int64 c = 0; c < ncomp; c++)
		bd[c] = get_float4_infinity();

	/* which groups a short link enters; each one's shortest link out */
	for (int64 x = 0; x < n; x++)
	{
		float4		vec[FI_DIM];

		if (!l0->live[x])
			continue;
		CHECK_FOR_INTERRUPTS();
		size[comp[x]]++;
		hnsw_quant_decode(&vs->dg->quant, l0->codes + (Size) x * FI_DIM, vec);
		for (int i = 0; i < l0->deg[x]; i++)
		{
			int32		y = l0->adj[x * l0->slots + i];
			float4		d;

			if (!l0->isShort[x * l0->slots + i] || comp[y] == comp[x])
				continue;
			entered[comp[y]] = true;
			d = code_distance(vs, l0, vec, y);
			if (d < bd[comp[x]])
			{
				bd[comp[x]] = d;
				bx[comp[x]] = x;
				by[comp[x]] = y;
			}
		}
	}

	for (int64 x = 0; x < n; x++)
	{
		int32		c = l0->live[x] ? comp[x] : -1;
		float4		vec[FI_DIM];

		if (c < 0 || entered[c])
			continue;
		entered[c] = true;		/* one link per group */
		CHECK_FOR_INTERRUPTS();
		if (bd[c] < get_float4_infinity())
		{
			hnsw_quant_decode(&vs->dg->quant, l0->codes + (Size) bx[c] * FI_DIM, vec);
			fixed += force_link(vs, l0, by[c], bx[c], vec, xlinks, nbuf);
		}
		else if (size[c] == 1 && d1[x] > tau)
		{
			/* no short link at all: its neighbours are not in its list */
			float4		d;
			int64		y;

			hnsw_quant_decode(&vs->dg->quant, l0->codes + (Size) x * FI_DIM, vec);
			y = search_nearest(vs, l0, meta, x, vec, NULL, found, &d);
			if (y >= 0 && d <= tau && force_link(vs, l0, y, x, vec, xlinks, nbuf))
			{
				float4		yvec[FI_DIM];

				hnsw_quant_decode(&vs->dg->quant, l0->codes + (Size) y * FI_DIM, yvec);
				fixed++;
				fixed += force_link(vs, l0, x, y, yvec, xlinks, nbuf);
			}
		}
	}
	pfree(d1);
	pfree(comp);
	pfree(xlinks);
	pfree(nbuf);
	pfree(entered);
	pfree(size);
	pfree(bx);
	pfree(by);
	pfree(bd);
	return fixed;
}

/*
 * Pass 2b of VACUUM (see the file header): local entries first, then
 * reachability from the entry point, in rounds until the reachability
 * computed afresh finds none.  dead holds the elements this VACUUM is
 * about to mark deleted (tombstones are known by their flag).
 */
void
hnsw_vacuum_relink(Relation index, BufferAccessStrategy strategy,
				   HnswDiskGraph *dg, HnswIdSet *dead)
{
	HnswRelink	rl = {index, strategy, dg->g.m, dg, dead};
	HnswRelink *vs = &rl;
	int64		local;
	HnswLevel0 l0;
	HnswMetaPageData meta;
	HnswCandidate *found;
	bool	   *reached;
	int64	   *queue;
	int64		entry;
	int64		unreached = 0;
	int64		fixed = 0;
	int			round;

	memset(&l0, 0, sizeof(l0));
	if (!load_level0(vs, &l0))
		return;
	hnsw_read_meta(vs->index, &meta);
	entry = meta.entryLevel >= 0 ? find_id(l0.ids, l0.n, HnswTidToId(&meta.entry)) : -1;
	if (entry >= 0)
	{
		found = palloc(sizeof(HnswCandidate) * (meta.efConstruction + 1));
		local = link_neighbourhoods(vs, &l0, &meta, found);
		if (local > 0)
			elog(DEBUG1, "faceid_hnsw vacuum: " INT64_FORMAT " links into closed-off neighbourhoods",
				 local);
		reached = palloc(sizeof(bool) * l0.n);
		queue = palloc(sizeof(int64) * l0.n);
		for (round = 0; round <= HNSW_RELINK_ROUNDS; round++)
		{
			int64		linked;

			unreached = count_unreached(&l0, entry, reached, queue);
			if (unreached == 0 || round == HNSW_RELINK_ROUNDS)
				break;
			linked = relink_round(vs, &l0, &meta, entry, reached, queue, found);
			fixed += linked;
			if (linked == 0)
				break;			/* nothing more this pass can do */
		}
		if (fixed > 0 || unreached > 0)
			elog(DEBUG1, "faceid_hnsw vacuum: linked " INT64_FORMAT " unreachable elements in %d rounds, " INT64_FORMAT " left unreachable",
				 fixed, round, unreached);
		pfree(reached);
		pfree(queue);
		pfree(found);
	}
	pfree(l0.ids);
	pfree(l0.adj);
	pfree(l0.deg);
	pfree(l0.live);
	pfree(l0.codes);
	pfree(l0.isShort);
}

