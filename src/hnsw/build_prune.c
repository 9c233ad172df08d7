/*
 * build_prune.c
 *	  faceid_hnsw CREATE INDEX: a new link into a full neighbour list in
 *	  memory.  The list gives way by the heuristic (neighbors.c) over its
 *	  members and the new element.  Most of a build's time went into this:
 *	  choosing again from scratch computes the distances between the
 *	  members, about m^2 of them a link.  When the list is itself the
 *	  heuristic's choice in sorted order (its bit in BuildElement.sorted,
 *	  with a kept bit per slot), only what the new element can change is
 *	  computed (hnsw_select_after_insert), and the list that results is
 *	  exactly the one choosing from scratch gives.  The developer setting
 *	  faceid.hnsw_build_prune can force the full way, or run both ways and
 *	  stop the build at the first difference (the tests do).
 */
#include "postgres.h"

#include "build.h"

/* A list chosen for an element on one level, to be written. */
typedef struct PrunedList
{
	int			k;				/* members */
	bool		sorted;			/* in sorted order: kept[] can be trusted */
	bool		linked;			/* the new element is a member */
	uint32		ids[HNSW_MAX_LIST];
	float4		dists[HNSW_MAX_LIST];
	bool		kept[HNSW_MAX_LIST];
} PrunedList;

/* This backend's counts since its part of a build started. */
static uint64 prune_full_count;		/* lists chosen from scratch */
static uint64 prune_fast_count;		/* lists chosen again in part */
static uint64 prune_checked_count;	/* of those, compared with the full way */

/* Start the counts of a build. */
void
hnsw_prune_stats_reset(void)
{
	prune_full_count = prune_fast_count = prune_checked_count = 0;
}

/* Report the counts: a NOTICE when checking, else at DEBUG1. */
void
hnsw_prune_stats_report(void)
{
	ereport(hnsw_build_prune == HNSW_PRUNE_CHECK ? NOTICE : DEBUG1,
			(errmsg("faceid_hnsw build: full lists pruned from scratch " UINT64_FORMAT
					", in part " UINT64_FORMAT ", checked against the full way " UINT64_FORMAT
					" with no difference",
					prune_full_count, prune_fast_count, prune_checked_count)));
}

/* Write a list of k members on level lev of e, with its kept bits. */
void
hnsw_mem_set_list(HnswBuildState *bs, BuildElement *e, int lev,
				  const uint32 *ids, const float4 *dists, const bool *kept,
				  int k, bool sorted)
{
	int			start = HnswLevelStart(bs->m, lev);

	memcpy(e->ids + start, ids, sizeof(uint32) * k);
	memcpy(ElemDists(e, bs->m) + start, dists, sizeof(float4) * k);
	for (int i = 0; i < k; i++)
		elem_set_kept(e, bs->m, start + i, kept[i]);
	e->counts[lev] = k;
	if (sorted)
		e->sorted |= (1u << lev);
	else
		e->sorted &= ~(1u << lev);
}

/*
 * The members of e's list on level lev with the new element q (distance d)
 * before member qpos (qpos = count: after them all): their distances to e,
 * vectors and kept bits.  Returns how many.
 */
static int
gather_candidates(HnswBuildState *bs, BuildElement *e, int lev, uint32 q,
				  float4 d, int qpos, HnswCandidate *cands, float4 **vecs,
				  bool *wasKept)
{
	int			start = HnswLevelStart(bs->m, lev);
	uint32	   *ids = e->ids + start;
	float4	   *dists = ElemDists(e, bs->m) + start;
	int			n = e->counts[lev];
	int			k = 0;

	for (int i = 0; i <= n; i++)
	{
		if (i == qpos)
		{
			cands[k].id = q;
			cands[k].dist = d;
			vecs[k] = elem_vec(bs, q);
			wasKept[k++] = false;
		}
		if (i == n)
			break;
		cands[k].id = ids[i];
		cands[k].dist = dists[i];
		vecs[k] = elem_vec(bs, ids[i]);
		wasKept[k++] = elem_kept(e, bs->m, start + i);
	}
	return k;
}

/*
 * The chosen candidates as a list, in order.  It stays in sorted order
 * unless the new element q is in it and ties a member's distance: the next
 * sort would no longer favour q.
 */
static void
chosen_to_list(const HnswCandidate *cands, int n, const bool *chosen,
			   const bool *kept, uint32 q, float4 d, PrunedList *r)
{
	bool		tie = false;

	r->k = 0;
	r->linked = false;
	for (int i = 0; i < n; i++)
	{
		tie |= (cands[i].id != q && cands[i].dist == d && d > 0);
		if (!chosen[i])
			continue;
		r->linked |= (cands[i].id == q);
		r->ids[r->k] = (uint32) cands[i].id;
		r->dists[r->k] = cands[i].dist;
		r->kept[r->k] = kept[i];
		r->k++;
	}
	r->sorted = !(r->linked && tie);
}

/* nb's full list on level lev with q, chosen again from scratch. */
static void
prune_full(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d,
		   PrunedList *r)
{
	BuildElement *e = elem(bs, nb);
	HnswCandidate cands[HNSW_MAX_LIST + 1];
	float4	   *vecs[HNSW_MAX_LIST + 1];
	bool		chosen[HNSW_MAX_LIST + 1];
	bool		kept[HNSW_MAX_LIST + 1];
	int			n = gather_candidates(bs, e, lev, q, d, e->counts[lev], cands,
									  vecs, kept);

	for (int i = 0; i < n; i++)
		prefetch_vector(vecs[i]);	/* the members' vectors are cold */
	hnsw_sort_candidates(cands, vecs, n, q, nb);
	hnsw_select_neighbors_kept(cands, vecs, n, HnswLevelSlots(bs->m, lev),
							   chosen, kept);
	chosen_to_list(cands, n, chosen, kept, q, d, r);
}

/*
 * nb's full list on level lev with q, chosen again in part; the list must
 * be in sorted order with its kept bits right.  False when that cannot
 * tell (then choose from scratch).
 */
static bool
prune_fast(HnswBuildState *bs, uint32 nb, int lev, uint32 q, float4 d,
		   PrunedList *r)
{
	BuildElement *e = elem(bs, nb);
	float4	   *dists = ElemDists(e, bs->m) + HnswLevelStart(bs->m, lev);
	HnswCandidate cands[HNSW_MAX_LIST + 1];
	float4	   *vecs[HNSW_MAX_LIST + 1];
	bool		wasKept[HNSW_MAX_LIST + 1];
	bool		chosen[HNSW_MAX_LIST + 1];
	bool		kept[HNSW_MAX_LIST + 1];
	int			qpos = e->counts[lev];
	int			n;

	if (d <= 0)
		return false;
	/* the sort favours q on a tie, so it goes before the first as far */
	for (int i = 0; i < e->counts[lev]; i++)
		if (d <= dists[i])
		{
			qpos = i;
			break;
		}
	n = gather_candidates(bs, e, lev, q, d, qpos, cands, vecs, wasKept);
	if (hnsw_select_after_insert(cands, vecs, n, HnswLevelSlots(bs->m, lev),
								 qpos, wasKept, chosen, kept) < 0)
		return false;
	chosen_to_list(cands, n, chosen, kept, q, d, r);
	return true;
}

/*
 * Check mode: is nb's list on level lev (marked sorted) in sorted order and
 * the heuristic's choice over itself, with the kept bits it gives?
 */
static void
check_list_status(HnswBuildState *bs, uint32 nb, int lev)
{
	BuildElement *e = elem(bs, nb);
	HnswCandidate cands[HNSW_MAX_LIST + 1];
	float4	   *vecs[HNSW_MAX_LIST + 1];
	bool		wasKept[HNSW_MAX_LIST + 1];
	bool		chosen[HNSW_MAX_LIST + 1];
	bool		kept[HNSW_MAX_LIST + 1];
	int			n = gather_candidates(bs, e, lev, 0, 0, -1, cands, vecs, wasKept);
	int			nchosen;

	nchosen = hnsw_select_neighbors_kept(cands, vecs, n,
										 HnswLevelSlots(bs->m, lev), chosen, kept);
	if (!hnsw_candidates_sorted(cands, n, nb) || nchosen != n ||
		memcmp(kept, wasKept, sizeof(bool) * n) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("faceid_hnsw build check: the list of element %u on level %d is marked sorted but is not the heuristic's choice over itself",
						nb, lev)));
}

/* Check mode: stop the build when the two ways chose differently. */
static void
check_same_list(const PrunedList *fast, const PrunedList *full, uint32 nb,
				int lev, uint32 q)
{
	if (fast->k == full->k && fast->linked == full->linked &&
		fast->sorted == full->sorted &&
		memcmp(fast->ids, full->ids, sizeof(uint32) * full->k) == 0 &&
		memcmp(fast->dists, full->dists, sizeof(float4) * full->k) == 0 &&
		memcmp(fast->kept, full->kept, sizeof(bool) * full->k) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("faceid_hnsw build check: adding element %u to the list of element %u on level %d, the partial re-prune differs from the full one",
					q, nb, lev),
			 errdetail("Partial: %d members, full: %d members.", fast->k, full->k)));
}

/*
 * Add the link nb -> q (distance d) on level lev to nb's full list, which
 * gives way by the heuristic; true if q is in the list afterwards.  Call
 * with nb locked.
 */
bool
hnsw_mem_prune_full_list(HnswBuildState *bs, uint32 nb, int lev, uint32 q,
						 float4 d)
{
	BuildElement *e = elem(bs, nb);
	PrunedList	r;
	bool		fast = false;

	if (hnsw_build_prune != HNSW_PRUNE_FULL && (e->sorted & (1u << lev)))
		fast = prune_fast(bs, nb, lev, q, d, &r);
	if (!fast)
	{
		prune_full(bs, nb, lev, q, d, &r);
		prune_full_count++;
	}
	else
	{
		prune_fast_count++;
		if (hnsw_build_prune == HNSW_PRUNE_CHECK)
		{
			PrunedList	full;

			check_list_status(bs, nb, lev);
			prune_full(bs, nb, lev, q, d, &full);
			check_same_list(&r, &full, nb, lev, q);
			prune_checked_count++;
		}
	}
	hnsw_mem_set_list(bs, e, lev, r.ids, r.dists, r.kept, r.k, r.sorted);
	return r.linked;
}
