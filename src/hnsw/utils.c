/*
 * utils.c
 *	  faceid_hnsw: candidate heaps, the layer search, neighbour selection,
 *	  the on-disk graph and page helpers.
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/float.h"
#include "utils/rel.h"

#include "hnsw.h"

/* A 64-bit finaliser (splitmix64) to hash element ids. */
static inline uint32
hash_id(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return (uint32) x;
}

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
#define SH_HASH_KEY(tb, key)	hash_id(key)
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
		uint32		ha = hash_id(a->id);
		uint32		hb = hash_id(b->id);

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
}

/* Mark id visited and compute its distance; false if seen or unreadable. */
static bool
search_visit(HnswSearch *s, uint64 id, HnswCandidate *c, bool *deleted)
{
	bool		found;

	if (s->visited == NULL)
	{
		if (s->g->epochs[id] == s->g->epoch)
			return false;
		s->g->epochs[id] = s->g->epoch;
	}
	else
	{
		tidhash_insert(s->visited, id, &found);
		if (found)
			return false;
	}
	c->id = id;
	if (!s->g->distance(s->g, id, s->q, &c->dist, &c->heaptid, deleted))
		return false;
	/*
	 * Above level 0, deleted elements stay in the graph as routing nodes
	 * (VACUUM repairs level 0 only) and are results like any other: they
	 * only seed the level below, and level 0 never returns them.  A
	 * cluster whose only member above level 0 was deleted is still found
	 * through it.
	 */
	if (s->level > 0)
		*deleted = false;
	s->visitedCount++;
	return true;
}

/* Seed the search with an entry point. */
void
hnsw_search_add_entry(HnswSearch *s, uint64 id)
{
	HnswCandidate c;
	bool		deleted;

	if (!search_visit(s, id, &c, &deleted))
		return;
	hnsw_heap_push(&s->cand, &c);
	if (!deleted)
		hnsw_heap_push(&s->result, &c);
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

		if (s->result.count >= ef && c.dist > hnsw_heap_top(&s->result)->dist)
			break;
		hnsw_heap_pop(&s->cand);
		CHECK_FOR_INTERRUPTS();

		n = g->neighbors(g, c.id, s->level, s->nbuf);
		for (int i = 0; i < n; i++)
		{
			HnswCandidate e;
			bool		deleted;
			bool		closer;

			if (!search_visit(s, s->nbuf[i], &e, &deleted))
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
 * Neighbour selection and levels
 * ---------------------------------------------------------------------
 */

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
	if (hash_id(a->id ^ salt) != hash_id(b->id ^ salt))
		return hash_id(a->id ^ salt) < hash_id(b->id ^ salt);
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

/* ---------------------------------------------------------------------
 * The graph on disk
 * ---------------------------------------------------------------------
 */

/* Pin and share-lock the element id; NULL (and no buffer) if absent. */
static HnswElementTuple
disk_lock_element(Relation index, uint64 id, Buffer *buf)
{
	BlockNumber blkno = HnswIdBlock(id);
	OffsetNumber offno = HnswIdOffset(id);
	Page		page;
	ItemId		itemid;

	*buf = ReadBuffer(index, blkno);
	LockBuffer(*buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(*buf);
	if (offno < FirstOffsetNumber || offno > PageGetMaxOffsetNumber(page))
	{
		UnlockReleaseBuffer(*buf);
		*buf = InvalidBuffer;
		return NULL;
	}
	itemid = PageGetItemId(page, offno);
	if (!ItemIdIsUsed(itemid))
	{
		UnlockReleaseBuffer(*buf);
		*buf = InvalidBuffer;
		return NULL;
	}
	return (HnswElementTuple) PageGetItem(page, itemid);
}

/* HnswGraph.distance on disk. */
static bool
disk_distance(HnswGraph *g, uint64 id, const float4 *q, float4 *dist,
			  ItemPointer heaptid, bool *deleted)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) g;
	Buffer		buf;
	HnswElementTuple tup = disk_lock_element(dg->index, id, &buf);

	if (tup == NULL)
		return false;
	*dist = fi_distance_sq(q, tup->vec);
	*heaptid = tup->heaptid;
	*deleted = tup->deleted != 0;
	UnlockReleaseBuffer(buf);
	return true;
}

/* HnswGraph.neighbors on disk. */
static int
disk_neighbors(HnswGraph *g, uint64 id, int lev, uint64 *out)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) g;
	Buffer		buf;
	HnswElementTuple tup = disk_lock_element(dg->index, id, &buf);
	int			n = 0;

	if (tup == NULL)
		return 0;
	if (lev <= tup->level)
	{
		int			start = HnswLevelStart(g->m, lev);
		int			slots = HnswLevelSlots(g->m, lev);

		for (int i = 0; i < slots; i++)
		{
			ItemPointer nb = &tup->neighbors[start + i];

			if (ItemPointerIsValid(nb))
				out[n++] = HnswTidToId(nb);
		}
	}
	UnlockReleaseBuffer(buf);
	return n;
}

/* HnswGraph.vector on disk. */
static bool
disk_vector(HnswGraph *g, uint64 id, float4 *out)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) g;
	Buffer		buf;
	HnswElementTuple tup = disk_lock_element(dg->index, id, &buf);

	if (tup == NULL)
		return false;
	memcpy(out, tup->vec, sizeof(float4) * FI_DIM);
	UnlockReleaseBuffer(buf);
	return true;
}

/* Set up the graph view of an index. */
void
hnsw_disk_graph_init(HnswDiskGraph *dg, Relation index, int m)
{
	dg->g.m = m;
	dg->g.epochs = NULL;
	dg->g.distance = disk_distance;
	dg->g.neighbors = disk_neighbors;
	dg->g.vector = disk_vector;
	dg->index = index;
}

/* ---------------------------------------------------------------------
 * Pages and the metapage
 * ---------------------------------------------------------------------
 */

/* Initialise an empty page of the index. */
void
hnsw_init_page(Page page, uint16 flags)
{
	HnswPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
	opaque = HnswPageGetOpaque(page);
	opaque->flags = flags;
	opaque->page_id = HNSW_PAGE_ID;
}

/* Start changing a locked buffer: WAL-logged unless building. */
Page
hnsw_page_begin(Relation index, Buffer buf, bool building, bool fullImage,
				GenericXLogState **state)
{
	if (building)
	{
		*state = NULL;
		return BufferGetPage(buf);
	}
	*state = GenericXLogStart(index);
	return GenericXLogRegisterBuffer(*state, buf,
									 fullImage ? GENERIC_XLOG_FULL_IMAGE : 0);
}

/* Finish the change begun by hnsw_page_begin. */
void
hnsw_page_finish(Buffer buf, bool building, GenericXLogState *state)
{
	if (building)
		MarkBufferDirty(buf);
	else
		GenericXLogFinish(state);
}

/* Copy the metapage, checking that it is ours. */
void
hnsw_read_meta(Relation index, HnswMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	*meta = *HnswPageGetMeta(page);
	UnlockReleaseBuffer(buf);
	if (meta->magic != HNSW_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a faceid_hnsw index",
						RelationGetRelationName(index))));
	if (meta->version != HNSW_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("faceid_hnsw index \"%s\" has version %u, expected %d",
						RelationGetRelationName(index), meta->version,
						HNSW_VERSION),
				 errhint("REINDEX the index.")));
}

/* Format page as the metapage of an empty graph. */
void
hnsw_fill_meta_page(Page page, int m, int efConstruction)
{
	HnswMetaPage meta;

	hnsw_init_page(page, HNSW_PAGE_META);
	meta = HnswPageGetMeta(page);
	meta->magic = HNSW_MAGIC;
	meta->version = HNSW_VERSION;
	meta->m = m;
	meta->efConstruction = efConstruction;
	meta->entryLevel = -1;
	meta->unused = 0;
	ItemPointerSetInvalid(&meta->entry);
	meta->insertPage = InvalidBlockNumber;
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(HnswMetaPageData)) - (char *) page;
}

/* Create the metapage as block 0 of the main fork (empty graph). */
void
hnsw_write_meta_page(Relation index, int m, int efConstruction, bool building)
{
	Buffer		buf;
	Page		page;
	GenericXLogState *state;

	buf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	Assert(BufferGetBlockNumber(buf) == HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = hnsw_page_begin(index, buf, building, true, &state);
	hnsw_fill_meta_page(page, m, efConstruction);
	hnsw_page_finish(buf, building, state);
	UnlockReleaseBuffer(buf);
}

/*
 * Update the metapage: the entry point when setEntry (the caller holds the
 * update lock exclusively), and the insert page hint when valid.
 */
void
hnsw_update_meta(Relation index, uint64 entry, int entryLevel,
				 BlockNumber insertPage, bool setEntry, bool building)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	Page		page;
	HnswMetaPage meta;
	GenericXLogState *state;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = hnsw_page_begin(index, buf, building, false, &state);
	meta = HnswPageGetMeta(page);
	if (setEntry)
	{
		if (entry == HNSW_INVALID_ID)
		{
			ItemPointerSetInvalid(&meta->entry);
			meta->entryLevel = -1;
		}
		else
		{
			ItemPointerSet(&meta->entry, HnswIdBlock(entry), HnswIdOffset(entry));
			meta->entryLevel = entryLevel;
		}
	}
	if (BlockNumberIsValid(insertPage))
		meta->insertPage = insertPage;
	hnsw_page_finish(buf, building, state);
	UnlockReleaseBuffer(buf);
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
