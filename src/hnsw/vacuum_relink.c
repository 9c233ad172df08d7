/*
 * vacuum_relink.c
 *	  faceid_hnsw: VACUUM's level-0 entry checks (pass 2b of vacuum.c).
 *
 * A search for a stored vector must be able to reach its element: from the
 * entry point through the graph, and at the end from its own neighbourhood,
 * because the search walks near the query and a link from far away is
 * seldom followed.  Two checks on the level-0 lists in memory (when they
 * fit in maintenance_work_mem), each fixed by a forced link:
 *	 - local entry: a live element that no live element near it links to
 *	   (none within twice the distance of its nearest neighbour) gets a link
 *	   from that nearest neighbour;
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
 * An element has a local entry when a live element within this factor of
 * its nearest neighbour's squared distance links to it (2x the distance).
 */
#define HNSW_LOCAL_ENTRY_FACTOR 4.0f

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
	/* the in-link lists of the local check reuse what raw[] held */
	if ((double) cap * (sizeof(uint64) * (slots + 2) + sizeof(int32) * slots + FI_DIM + 3) >
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
			for (int i = 0; i < slots; i++)
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
		uint64		ep;
		int			nf;
		int64		r = -1;
		int			nx;

		if (reached[x] || !l0->live[x])
			continue;
		CHECK_FOR_INTERRUPTS();
		if (!vs->dg->g.vector(&vs->dg->g, l0->ids[x], vec))
			continue;
		ep = hnsw_descend(&vs->dg->g, vec, HnswTidToId(&meta->entry), meta->entryLevel, 0);
		nf = hnsw_search_level(&vs->dg->g, vec, &ep, 1, 0, meta->efConstruction, found);
		for (int j = 0; j < nf && r < 0; j++)
		{
			int64		pos = find_id(l0->ids, l0->n, found[j].id);

			if (pos >= 0 && reached[pos] && l0->live[pos] && pos != x)
				r = pos;
		}
		if (r < 0)
			r = entry;
		if (r < 0 || r == x)
			continue;
		/* what x links to stays reachable through x: r drops one of those */
		nx = vs->dg->g.neighbors(&vs->dg->g, l0->ids[x], 0, xlinks);
		if (hnsw_link_back(&vs->dg->g, vs->index, l0->ids[r], 0, l0->ids[x], vec,
						   xlinks, nx, true, false))
		{
			fixed++;
			reload_list(vs, l0, r, nbuf);
			reach_from(x, l0->adj, l0->deg, l0->slots, reached, queue);
		}
	}
	pfree(nbuf);
	pfree(xlinks);
	return fixed;
}

/* In-linkers of every element: rev[off[x] .. off[x + 1]) are positions. */
static int32 *
reverse_lists(const HnswLevel0 *l0, int64 **offp)
{
	int64	   *off = palloc0(sizeof(int64) * (l0->n + 1));
	int64	   *fill = palloc(sizeof(int64) * Max(l0->n, 1));
	int32	   *rev;

	for (int64 y = 0; y < l0->n; y++)
		for (int i = 0; i < l0->deg[y]; i++)
			if (l0->adj[y * l0->slots + i] >= 0)
				off[l0->adj[y * l0->slots + i] + 1]++;
	for (int64 x = 0; x < l0->n; x++)
		off[x + 1] += off[x];
	rev = palloc(sizeof(int32) * Max(off[l0->n], 1));
	memcpy(fill, off, sizeof(int64) * l0->n);
	for (int64 y = 0; y < l0->n; y++)
		for (int i = 0; i < l0->deg[y]; i++)
		{
			int32		x = l0->adj[y * l0->slots + i];

			if (x >= 0)
				rev[fill[x]++] = (int32) y;
		}
	pfree(fill);
	*offp = off;
	return rev;
}

/*
 * The live out-neighbour of x nearest to vec (x's decoded vector), or -1;
 * its squared distance in *dist.
 */
static int64
nearest_out(HnswRelink *vs, const HnswLevel0 *l0, int64 x, const float4 *vec,
			float4 *dist)
{
	int64		best = -1;

	*dist = get_float4_infinity();
	for (int i = 0; i < l0->deg[x]; i++)
	{
		int32		y = l0->adj[x * l0->slots + i];
		float4		d;

		if (y < 0 || !l0->live[y])
			continue;
		d = hnsw_quant_distance(&vs->dg->quant, vec, l0->codes + (Size) y * FI_DIM);
		if (d < *dist)
		{
			*dist = d;
			best = y;
		}
	}
	return best;
}

/* Does a live element within limit (squared) of vec link to x? */
static bool
has_local_entry(HnswRelink *vs, const HnswLevel0 *l0, const int32 *rev,
				const int64 *off, int64 x, const float4 *vec, float4 limit)
{
	for (int64 k = off[x]; k < off[x + 1]; k++)
	{
		int32		y = rev[k];

		if (l0->live[y] &&
			hnsw_quant_distance(&vs->dg->quant, vec,
								l0->codes + (Size) y * FI_DIM) <= limit)
			return true;
	}
	return false;
}

/*
 * Pass 2b, local entries: give every live element that no live element near
 * it links to a forced link from its nearest live out-neighbour.  Returns
 * how many were linked.
 */
static int64
link_local_entries(HnswRelink *vs, HnswLevel0 *l0)
{
	int64	   *off;
	int32	   *rev = reverse_lists(l0, &off);
	uint64	   *nbuf = palloc(sizeof(uint64) * l0->slots);
	uint64	   *xlinks = palloc(sizeof(uint64) * l0->slots);
	int64		fixed = 0;

	for (int64 x = 0; x < l0->n; x++)
	{
		float4		vec[FI_DIM];
		float4		d1;
		int64		y1;
		int			nx;

		if (!l0->live[x])
			continue;
		CHECK_FOR_INTERRUPTS();
		hnsw_quant_decode(&vs->dg->quant, l0->codes + (Size) x * FI_DIM, vec);
		y1 = nearest_out(vs, l0, x, vec, &d1);
		if (y1 < 0 ||
			has_local_entry(vs, l0, rev, off, x, vec, HNSW_LOCAL_ENTRY_FACTOR * d1))
			continue;
		nx = vs->dg->g.neighbors(&vs->dg->g, l0->ids[x], 0, xlinks);
		if (hnsw_link_back(&vs->dg->g, vs->index, l0->ids[y1], 0, l0->ids[x], vec,
						   xlinks, nx, true, false))
		{
			fixed++;
			reload_list(vs, l0, y1, nbuf);
		}
	}
	pfree(off);
	pfree(rev);
	pfree(nbuf);
	pfree(xlinks);
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
	local = link_local_entries(vs, &l0);
	if (local > 0)
		elog(DEBUG1, "faceid_hnsw vacuum: linked " INT64_FORMAT " elements from their neighbourhood",
			 local);
	hnsw_read_meta(vs->index, &meta);
	entry = meta.entryLevel >= 0 ? find_id(l0.ids, l0.n, HnswTidToId(&meta.entry)) : -1;
	if (entry >= 0)
	{
		reached = palloc(sizeof(bool) * l0.n);
		queue = palloc(sizeof(int64) * l0.n);
		found = palloc(sizeof(HnswCandidate) * (meta.efConstruction + 1));
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
}

