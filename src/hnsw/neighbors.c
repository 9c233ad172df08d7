/*
 * neighbors.c
 *	  faceid_hnsw: which candidates become an element's neighbours, which
 *	  links give way when a list is full, and each element's level.
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"

#include "hnsw.h"

/*
 * The HNSW paper's heuristic (algorithm 4) with keepPrunedConnections:
 * cands are sorted by distance to the new element; a candidate is kept when
 * it is closer to the element than to every one kept before it, which
 * favours links in new directions (between clusters).  Then the nearest
 * pruned ones fill the list up to maxm, so an element in a tight cluster
 * keeps both its cluster and some links out of it.
 *
 * Exact copies are limited: at most half of the list may be copies of
 * the element itself, and a candidate pruned because it is a copy of one
 * already kept does not come back in the fill.  Otherwise the lists of many
 * identical vectors fill up with each other, and the copies become a closed
 * island that traps every search entering it.  Sets chosen[i]; returns how
 * many were chosen.
 */
int
hnsw_select_neighbors(HnswCandidate *cands, float4 **vecs, int n, int maxm,
					  bool *chosen)
{
	return hnsw_select_neighbors_kept(cands, vecs, n, maxm, chosen, NULL);
}

/*
 * Is candidate i pruned by one of the kept candidates keptidx[0..nkept)
 * (only those marked in only[], when it is not NULL)?  The first that
 * prunes it, in order, tells whether it is a copy (distance 0).
 */
static inline bool
pruned_by_kept(HnswCandidate *cands, float4 **vecs, int i, const int *keptidx,
			   int nkept, const bool *only, bool *copy)
{
	for (int j = 0; j < nkept; j++)
	{
		float4		d;

		if (only && !only[keptidx[j]])
			continue;
		d = fi_distance_sq(vecs[i], vecs[keptidx[j]]);
		if (d < cands[i].dist || (d == 0 && cands[i].dist > 0))
		{
			*copy = (d == 0);
			return true;
		}
	}
	return false;
}

/* The fill of hnsw_select_neighbors: the nearest pruned non-copies up to maxm. */
static int
select_fill(int n, int maxm, int nkept, bool *chosen, const bool *copy)
{
	for (int i = 0; i < n && nkept < maxm; i++)
	{
		if (!chosen[i] && !copy[i])
		{
			chosen[i] = true;
			nkept++;
		}
	}
	return nkept;
}

/*
 * hnsw_select_neighbors, also telling which candidates the heuristic kept
 * (kept[i], when kept is not NULL) rather than took to fill the list.
 */
int
hnsw_select_neighbors_kept(HnswCandidate *cands, float4 **vecs, int n,
						   int maxm, bool *chosen, bool *kept)
{
	int		   *keptidx = palloc(sizeof(int) * Max(maxm, 1));
	bool	   *copy = palloc0(sizeof(bool) * Max(n, 1));
	int			nkept = 0;
	int			ncopies = 0;
	int			maxcopies = Max(2, maxm / 2);

	memset(chosen, 0, sizeof(bool) * n);
	for (int i = 0; i < n && nkept < maxm; i++)
	{
		if (cands[i].dist == 0 && ncopies >= maxcopies)
		{
			copy[i] = true;
			continue;
		}
		if (pruned_by_kept(cands, vecs, i, keptidx, nkept, NULL, &copy[i]))
			continue;
		keptidx[nkept++] = i;
		chosen[i] = true;
		ncopies += (cands[i].dist == 0);
	}
	if (kept)
		memcpy(kept, chosen, sizeof(bool) * n);
	nkept = select_fill(n, maxm, nkept, chosen, copy);
	pfree(keptidx);
	pfree(copy);
	return nkept;
}

/*
 * hnsw_select_neighbors over a list the heuristic chose before, plus one
 * new candidate, recomputing only what the new one can change.  cands are
 * in hnsw_sort_candidates' order; all but the one at qpos were the
 * heuristic's choice over themselves in this order (none a copy, since
 * copies are never chosen), wasKept[i] telling which it kept.
 *
 * The heuristic walks the candidates nearest first, and a decision depends
 * only on those kept before it.  So the members before qpos decide as they
 * did; the new one is checked against the kept among them; a member after
 * it that was kept is checked only against those kept now and not before
 * (the new one, and fills that became kept); a member that was pruned stays
 * pruned by the member that pruned it as long as no member that was kept
 * has been pruned since, otherwise it is checked in full.  When the new
 * element is the farthest, this costs at most one distance per kept member
 * instead of about one per pair.  Returns the number chosen, or -1 when it
 * cannot tell whether a pruned member becomes a copy of the new one (then
 * use hnsw_select_neighbors).  cands[qpos].dist must be above 0.
 */
int
hnsw_select_after_insert(HnswCandidate *cands, float4 **vecs, int n, int maxm,
						 int qpos, const bool *wasKept, bool *chosen,
						 bool *kept)
{
	int			keptidx[HNSW_MAX_LIST + 1];
	bool		added[HNSW_MAX_LIST + 1];
	bool		copy[HNSW_MAX_LIST + 1];
	int			nkept = 0;
	int			ncopies = 0;
	int			maxcopies = Max(2, maxm / 2);
	bool		diverged = false;	/* a member kept before is pruned now */

	if (n > HNSW_MAX_LIST + 1 || cands[qpos].dist <= 0)
		return -1;
	memset(chosen, 0, sizeof(bool) * n);
	memset(added, 0, sizeof(bool) * n);
	memset(copy, 0, sizeof(bool) * n);
	for (int i = 0; i < n && nkept < maxm; i++)
	{
		bool		good;

		if (cands[i].dist == 0 && ncopies >= maxcopies)
		{
			copy[i] = true;
			continue;
		}
		if (i < qpos)
			good = wasKept[i];
		else if (i == qpos || (!wasKept[i] && diverged))
			good = !pruned_by_kept(cands, vecs, i, keptidx, nkept, NULL, &copy[i]);
		else if (wasKept[i])
		{
			good = !pruned_by_kept(cands, vecs, i, keptidx, nkept, added, &copy[i]);
			diverged |= !good;
		}
		else
		{
			/* still pruned; only a copy of the new element is unclear */
			if (added[qpos] && fi_distance_sq(vecs[i], vecs[qpos]) == 0)
				return -1;
			good = false;
		}
		if (!good)
			continue;
		keptidx[nkept++] = i;
		chosen[i] = true;
		added[i] = (i == qpos || (i > qpos && !wasKept[i]));
		ncopies += (cands[i].dist == 0);
	}
	memcpy(kept, chosen, sizeof(bool) * n);
	return select_fill(n, maxm, nkept, chosen, copy);
}

/* Write the chosen candidates as a neighbour list of slots TIDs (the rest invalid). */
void
hnsw_chosen_to_list(const HnswCandidate *cands, const bool *chosen, int n,
					int slots, ItemPointerData *list)
{
	int			k = 0;

	for (int i = 0; i < n && k < slots; i++)
		if (chosen[i])
		{
			ItemPointerSet(&list[k], HnswIdBlock(cands[i].id),
						   HnswIdOffset(cands[i].id));
			k++;
		}
	for (; k < slots; k++)
		ItemPointerSetInvalid(&list[k]);
}

/* Does a sort before b: nearer first; on a tie the favoured id, then by id. */
static inline bool
cand_before(const HnswCandidate *a, const HnswCandidate *b, uint64 favoured,
			uint64 salt)
{
	if (a->dist != b->dist)
		return a->dist < b->dist;
	if (a->dist > 0 && (a->id == favoured || b->id == favoured))
		return a->id == favoured;
	if (hnsw_hash_id(a->id ^ salt) != hnsw_hash_id(b->id ^ salt))
		return hnsw_hash_id(a->id ^ salt) < hnsw_hash_id(b->id ^ salt);
	return a->id < b->id;
}

/*
 * Sort candidates and their vectors by distance (insertion sort: lists are
 * short).  On equal distances the favoured id (a new element) comes first,
 * except among exact copies of the owner (distance 0), which compete by the
 * order of a hash of the ids salted with the list's owner: with one
 * global order, copies of one vector (distance 0 to each other) would be
 * dropped from every full list in the same order, and the last ones in that
 * order would lose all their in-links.
 */
void
hnsw_sort_candidates(HnswCandidate *c, float4 **v, int n, uint64 favoured,
					 uint64 salt)
{
	for (int i = 1; i < n; i++)
	{
		HnswCandidate x = c[i];
		float4	   *xv = v[i];
		int			j = i - 1;

		while (j >= 0 && cand_before(&x, &c[j], favoured, salt))
		{
			c[j + 1] = c[j];
			v[j + 1] = v[j];
			j--;
		}
		c[j + 1] = x;
		v[j + 1] = xv;
	}
}

/* Are the n candidates in hnsw_sort_candidates' order with no favoured id? */
bool
hnsw_candidates_sorted(const HnswCandidate *c, int n, uint64 salt)
{
	for (int i = 1; i < n; i++)
		if (!cand_before(&c[i - 1], &c[i], HNSW_INVALID_ID, salt))
			return false;
	return true;
}

/*
 * Which member of a full neighbour list to give up for a forced link: the
 * one of the closest pair in the list that is farther from the owner, as it
 * stays reachable through its twin.  owndist[i] is its distance to the owner.
 */
int
hnsw_most_redundant(float4 **vecs, const float4 *owndist, int n)
{
	int			bi = 0;
	int			bj = n > 1 ? 1 : 0;
	float4		best = get_float4_infinity();

	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
		{
			float4		d = fi_distance_sq(vecs[i], vecs[j]);

			if (d < best)
			{
				best = d;
				bi = i;
				bj = j;
			}
		}
	return owndist[bi] >= owndist[bj] ? bi : bj;
}

/*
 * Should a new level-0 element go up to level 1?  Yes when no element of its
 * tight neighbourhood (within twice the distance of its nearest neighbour,
 * among the search results found[], levels[i] their levels) is above level 0.
 * Face data forms tight clusters (photos of one person); a cluster with no
 * member on level 1 can only be found by the level-0 search, whose ef
 * candidates a few clusters fill up.  With random data the neighbourhood
 * holds many elements, one of them is above level 0, and nothing changes.
 */
bool
hnsw_should_promote(const HnswCandidate *found, int nfound, const int *levels)
{
	float4		window;

	if (nfound == 0 || found[0].dist <= 0)
		return false;
	window = 4 * found[0].dist;	/* squared distances: twice the distance */
	for (int i = 0; i < nfound && found[i].dist <= window; i++)
		if (levels[i] >= 1)
			return false;
	return true;
}

/* Highest level whose element tuple still fits on a page. */
int
hnsw_max_level(int m)
{
	Size		room = BLCKSZ - MAXALIGN(SizeOfPageHeaderData + sizeof(ItemIdData)) -
		MAXALIGN(sizeof(HnswPageOpaqueData));
	int			level = HNSW_MAX_LEVEL;

	while (level > 0 && MAXALIGN(HnswElementTupleSize(m, level)) > room)
		level--;
	return level;
}

/* Level of a new element from a uniform u in (0, 1]: floor(-ln(u) / ln(m)). */
int
hnsw_random_level(int m, int maxLevel, double u)
{
	double		ml = 1.0 / log((double) m);
	int			level;

	if (u <= 0.0)
		u = 1e-300;
	level = (int) floor(-log(u) * ml);
	return Min(level, maxLevel);
}
