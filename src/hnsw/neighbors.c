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
	int		   *kept = palloc(sizeof(int) * Max(maxm, 1));
	bool	   *copy = palloc0(sizeof(bool) * Max(n, 1));
	int			nkept = 0;
	int			ncopies = 0;
	int			maxcopies = Max(2, maxm / 2);

	memset(chosen, 0, sizeof(bool) * n);
	for (int i = 0; i < n && nkept < maxm; i++)
	{
		bool		good = true;

		if (cands[i].dist == 0 && ncopies >= maxcopies)
		{
			copy[i] = true;
			continue;
		}
		for (int j = 0; j < nkept; j++)
		{
			float4		d = fi_distance_sq(vecs[i], vecs[kept[j]]);

			if (d < cands[i].dist || (d == 0 && cands[i].dist > 0))
			{
				good = false;
				copy[i] = (d == 0);
				break;
			}
		}
		if (good)
		{
			kept[nkept++] = i;
			chosen[i] = true;
			ncopies += (cands[i].dist == 0);
		}
	}
	for (int i = 0; i < n && nkept < maxm; i++)
	{
		if (!chosen[i] && !copy[i])
		{
			chosen[i] = true;
			nkept++;
		}
	}
	pfree(kept);
	pfree(copy);
	return nkept;
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
