/*
 * search.c
 *	  faceid_hnsw: candidate heaps, the layer search (HNSW paper,
 *	  algorithm 2) over any HnswGraph (in memory or on disk), and sets of
 *	  element ids.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "hnsw.h"

/* The visited set: a simplehash of element ids */
typedef struct TidHashEntry
{
	uint64		id;
	char		status;
} TidHashEntry;

#define SH_PREFIX		tidhash
#define SH_ELEMENT_TYPE TidHashEntry
#define SH_KEY_TYPE		uint64
#define SH_KEY			id
#define SH_HASH_KEY(tb, key)	hnsw_hash_id(key)
#define SH_EQUAL(tb, a, b)		((a) == (b))
#define SH_SCOPE		static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

/* ---------------------------------------------------------------------
 * Candidate heaps
 * ---------------------------------------------------------------------
 */

/* True when a must sit above b in heap h. */
static inline bool
heap_before(const HnswHeap *h, const HnswCandidate *a, const HnswCandidate *b)
{
	if (a->dist != b->dist)
		return h->max ? a->dist > b->dist : a->dist < b->dist;
	/*
	 * Ties broken by a hash of the id: deterministic, and copies of one
	 * vector are not always chosen oldest first (see hnsw_sort_candidates).
	 */
	if (a->id != b->id)
	{
		uint32		ha = hnsw_hash_id(a->id);
		uint32		hb = hnsw_hash_id(b->id);

		if (ha != hb)
			return h->max ? ha > hb : ha < hb;
	}
	return h->max ? a->id > b->id : a->id < b->id;
}

/* Make an empty heap. */
void
hnsw_heap_init(HnswHeap *h, int capacity, bool max)
{
	h->capacity = Max(capacity, 16);
	h->items = palloc(sizeof(HnswCandidate) * h->capacity);
	h->count = 0;
	h->max = max;
}

/* Add a candidate. */
void
hnsw_heap_push(HnswHeap *h, const HnswCandidate *c)
{
	int			i;

	if (h->count == h->capacity)
	{
		h->capacity *= 2;
		h->items = repalloc_huge(h->items, sizeof(HnswCandidate) * h->capacity);
	}
	i = h->count++;
	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (!heap_before(h, c, &h->items[parent]))
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = *c;
}

/* Remove and return the top candidate; the heap must not be empty. */
HnswCandidate
hnsw_heap_pop(HnswHeap *h)
{
	HnswCandidate top = h->items[0];
	HnswCandidate last = h->items[--h->count];
	int			i = 0;

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= h->count)
			break;
		if (child + 1 < h->count &&
			heap_before(h, &h->items[child + 1], &h->items[child]))
			child++;
		if (!heap_before(h, &h->items[child], &last))
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	if (h->count > 0)
		h->items[i] = last;
	return top;
}

/* ---------------------------------------------------------------------
 * Layer search
 * ---------------------------------------------------------------------
 */

/* Start a search of one level for q. */
void
hnsw_search_init(HnswSearch *s, HnswGraph *g, const float4 *q, int level,
				 bool keepPending)
{
	s->g = g;
	s->q = q;
	s->level = level;
	if (g->epochs)
	{
		s->visited = NULL;
		if (++g->epoch == 0)
		{
			/* wrapped around: forget every old mark */
			memset(g->epochs, 0, sizeof(uint32) * g->nepochs);
			g->epoch = 1;
		}
	}
	else
		s->visited = tidhash_create(CurrentMemoryContext, 256, NULL);
	hnsw_heap_init(&s->cand, 64, false);
	hnsw_heap_init(&s->result, 64, true);
	s->keepPending = keepPending;
	if (keepPending)
		hnsw_heap_init(&s->pending, 64, false);
	else
		s->pending.items = NULL;
	s->nbuf = palloc(sizeof(uint64) * 2 * g->m);
	s->cbuf = palloc(sizeof(HnswCandidate) * 2 * g->m);
	s->okbuf = palloc(sizeof(bool) * 2 * g->m);
	s->delbuf = palloc(sizeof(bool) * 2 * g->m);
	s->visitedCount = 0;
}

/* Release the memory of a search. */
void
hnsw_search_free(HnswSearch *s)
{
	if (s->visited)
		tidhash_destroy(s->visited);
	pfree(s->cand.items);
	pfree(s->result.items);
	if (s->pending.items)
		pfree(s->pending.items);
	pfree(s->nbuf);
	pfree(s->cbuf);
	pfree(s->okbuf);
	pfree(s->delbuf);
}

/* Mark id visited; false if it was already. */
static bool
search_mark(HnswSearch *s, uint64 id)
{
	bool		found;

	if (s->visited == NULL)
	{
		if (s->g->epochs[id] == s->g->epoch)
			return false;
		s->g->epochs[id] = s->g->epoch;
		return true;
	}
	tidhash_insert(s->visited, id, &found);
	return !found;
}

/*
 * Distances of the n candidates in s->cbuf (marked visited); okbuf[i] false
 * for an unreadable one.
 */
static void
search_distances(HnswSearch *s, int n)
{
	s->g->distances(s->g, s->q, s->cbuf, n, s->okbuf, s->delbuf);
	for (int i = 0; i < n; i++)
	{
		if (!s->okbuf[i])
			continue;
		/*
		 * Above level 0, tombstones still linked (VACUUM repairs the lists
		 * that link to them, but an insert may have linked one before it
		 * was marked) are results like any other: they only seed the level
		 * below, and level 0 never returns them.  Inserts do not take them
		 * as neighbours (choose_neighbors).
		 */
		if (s->level > 0)
			s->delbuf[i] = false;
		s->visitedCount++;
	}
}

/* Seed the search with an entry point. */
void
hnsw_search_add_entry(HnswSearch *s, uint64 id)
{
	if (!search_mark(s, id))
		return;
	s->cbuf[0].id = id;
	search_distances(s, 1);
	if (!s->okbuf[0])
		return;
	hnsw_heap_push(&s->cand, &s->cbuf[0]);
	if (!s->delbuf[0])
		hnsw_heap_push(&s->result, &s->cbuf[0]);
}

/* Shrink W to ef, keeping what falls out when the search is resumable. */
static void
search_trim(HnswSearch *s, int ef)
{
	while (s->result.count > ef)
	{
		HnswCandidate c = hnsw_heap_pop(&s->result);

		if (s->keepPending)
			hnsw_heap_push(&s->pending, &c);
	}
}

/* Expand candidates until the ef nearest found can no longer improve. */
void
hnsw_search_run(HnswSearch *s, int ef)
{
	HnswGraph  *g = s->g;

	search_trim(s, ef);
	while (s->cand.count > 0)
	{
		HnswCandidate c = *hnsw_heap_top(&s->cand);
		int			n;
		int			nnew;

		if (s->result.count >= ef && c.dist > hnsw_heap_top(&s->result)->dist)
			break;
		hnsw_heap_pop(&s->cand);
		CHECK_FOR_INTERRUPTS();

		n = g->neighbors(g, c.id, s->level, s->nbuf);
		nnew = 0;
		for (int i = 0; i < n; i++)
			if (search_mark(s, s->nbuf[i]))
				s->cbuf[nnew++].id = s->nbuf[i];
		search_distances(s, nnew);
		for (int i = 0; i < nnew; i++)
		{
			HnswCandidate e = s->cbuf[i];
			bool		deleted = s->delbuf[i];
			bool		closer;

			if (!s->okbuf[i])
				continue;
			closer = s->result.count < ef ||
				e.dist < hnsw_heap_top(&s->result)->dist;
			if (closer || s->keepPending)
				hnsw_heap_push(&s->cand, &e);
			if (deleted)
				continue;
			if (closer)
			{
				hnsw_heap_push(&s->result, &e);
				search_trim(s, ef);
			}
			else if (s->keepPending)
				hnsw_heap_push(&s->pending, &e);
		}
	}
}

/* Empty W into out in ascending distance; returns the count. */
int
hnsw_search_take_results(HnswSearch *s, HnswCandidate *out)
{
	int			n = s->result.count;

	for (int i = n - 1; i >= 0; i--)
		out[i] = hnsw_heap_pop(&s->result);
	return n;
}

/* For a resumed search: move the ef nearest pending candidates into W. */
void
hnsw_search_refill(HnswSearch *s, int ef)
{
	while (s->result.count < ef && s->pending.count > 0)
	{
		HnswCandidate c = hnsw_heap_pop(&s->pending);

		hnsw_heap_push(&s->result, &c);
	}
}

/* Greedy descent (ef = 1) from fromLevel down to, not into, toLevel. */
uint64
hnsw_descend(HnswGraph *g, const float4 *q, uint64 entry, int fromLevel,
			 int toLevel)
{
	for (int lev = fromLevel; lev > toLevel; lev--)
	{
		HnswSearch	s;
		HnswCandidate best;

		hnsw_search_init(&s, g, q, lev, false);
		hnsw_search_add_entry(&s, entry);
		hnsw_search_run(&s, 1);
		if (hnsw_search_take_results(&s, &best) == 1)
			entry = best.id;
		hnsw_search_free(&s);
	}
	return entry;
}

/*
 * Search levels fromLevel down to toLevel (inclusive) with ef candidates,
 * each level seeded with the previous one's results; returns the results of
 * toLevel (ascending) in out, which holds ef.
 */
int
hnsw_descend_ef(HnswGraph *g, const float4 *q, uint64 entry, int fromLevel,
				int toLevel, int ef, HnswCandidate *out)
{
	uint64	   *eps = palloc(sizeof(uint64) * (ef + 1));
	int			neps = 1;
	int			n = 0;

	eps[0] = entry;
	for (int lev = fromLevel; lev >= toLevel; lev--)
	{
		n = hnsw_search_level(g, q, eps, neps, lev, ef, out);
		for (int i = 0; i < n; i++)
			eps[i] = out[i].id;
		if (n > 0)
			neps = n;
	}
	pfree(eps);
	return n;
}

/* Search one level from the given entries; the ef nearest, ascending. */
int
hnsw_search_level(HnswGraph *g, const float4 *q, const uint64 *entries,
				  int nentries, int level, int ef, HnswCandidate *out)
{
	HnswSearch	s;
	int			n;

	hnsw_search_init(&s, g, q, level, false);
	for (int i = 0; i < nentries; i++)
		hnsw_search_add_entry(&s, entries[i]);
	hnsw_search_run(&s, ef);
	n = hnsw_search_take_results(&s, out);
	hnsw_search_free(&s);
	return n;
}

/* ---------------------------------------------------------------------
 * Sets of element ids (for VACUUM)
 * ---------------------------------------------------------------------
 */

/* An empty set. */
HnswIdSet *
hnsw_idset_create(void)
{
	return (HnswIdSet *) tidhash_create(CurrentMemoryContext, 1024, NULL);
}

/* Add id; true if it was not there. */
bool
hnsw_idset_add(HnswIdSet *set, uint64 id)
{
	bool		found;

	tidhash_insert((tidhash_hash *) set, id, &found);
	return !found;
}

/* Is id in the set? */
bool
hnsw_idset_contains(HnswIdSet *set, uint64 id)
{
	return tidhash_lookup((tidhash_hash *) set, id) != NULL;
}
