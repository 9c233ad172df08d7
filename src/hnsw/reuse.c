/*
 * reuse.c
 *	  faceid_hnsw: space reuse.  At the end of VACUUM the slots of the
 *	  tombstones no search can reach any more are freed, and an insert
 *	  overwrites a free slot instead of growing the index.
 *
 * A slot goes live -> deleted (a tombstone, vacuum.c) -> free (here) -> live.
 *
 * When a tombstone may be freed.  A search (a scan, an insert's, VACUUM's)
 * reaches an element only through a link to it, or as the entry point.
 * VACUUM repairs every list of a live element that links to a dead one, on
 * every level, before it marks the dead ones deleted.  What may still link
 * to a tombstone is another tombstone, a list whose repair lost its retries
 * to concurrent inserts, or an insert that read the element while it was
 * still live.  An insert never links to an element it read as deleted
 * (insert.c: choose_neighbors, hnsw_link_back).  So:
 *	 1. wait for the inserts running now (the update lock, exclusively):
 *		from then on links to tombstones only disappear;
 *	 2. find the tombstones, then the reachable ones: linked from a live
 *		element on any level, or the entry point, and, through tombstones'
 *		own lists, whatever those reach;
 *	 3. free the others (state HNSW_ELEMENT_FREE, lists cleared, one WAL
 *		record a page) and lower the metapage's free-slot hint.
 * As links to tombstones only disappear after step 1, a tombstone step 2
 * found unreachable stays so, though it reads the pages one at a time.
 *
 * A scan may hold the id of a slot that is freed and reused meanwhile (it
 * read the tombstone before).  It then reads the new element whole (tuples
 * are read and written only under their buffer lock) and follows its
 * links: a wrong edge, never a wrong row, as every distance is computed
 * from what is read, and the new row is invisible to the scan's older
 * snapshot anyway.
 *
 * Crash safety: freeing and reusing change one page each, WAL-logged.  A
 * crash after an insert overwrote a slot and before its neighbours linked
 * back leaves the element with few in-links, as a crash after an append
 * does: the next VACUUM's reachability pass (vacuum.c) links it.  The hint
 * is only a hint: each VACUUM lowers it to the first free slot it saw.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "hnsw.h"

/* An insert looks for a free slot on at most this many pages from the hint. */
#define HNSW_REUSE_MAX_PAGES	8

/* The tombstones of an index, and which of them a search can reach. */
typedef struct HnswTombs
{
	Relation	index;
	BufferAccessStrategy strategy;
	int			m;
	uint64	   *ids;			/* tombstones, in index order */
	int64		n;
	int64		cap;
	HnswIdSet  *all;			/* the same, as a set */
	HnswIdSet  *reached;		/* the reachable ones */
	uint64	   *queue;			/* reached, lists not yet followed */
	int64		nqueue;
	BlockNumber firstFree;		/* lowest block with a free slot */
} HnswTombs;

/* ---------------------------------------------------------------------
 * VACUUM: freeing unreachable tombstones
 * ---------------------------------------------------------------------
 */

/* Share-lock each element page in turn and call fn on every element. */
static void
scan_elements(HnswTombs *ts,
			  void (*fn) (HnswTombs *ts, HnswElementTuple tup, uint64 id))
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(ts->index);

	for (BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;

		vacuum_delay_point();
		buf = ReadBufferExtended(ts->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 ts->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page))
			for (OffsetNumber off = FirstOffsetNumber;
				 off <= PageGetMaxOffsetNumber(page); off++)
				fn(ts, (HnswElementTuple) PageGetItem(page, PageGetItemId(page, off)),
				   ((uint64) blkno << 16) | off);
		UnlockReleaseBuffer(buf);
	}
}

/* Pass 1's visitor: collect tombstones, note the first free slot. */
static void
collect_tomb(HnswTombs *ts, HnswElementTuple tup, uint64 id)
{
	if (tup->deleted == HNSW_ELEMENT_FREE && !BlockNumberIsValid(ts->firstFree))
		ts->firstFree = HnswIdBlock(id);
	if (tup->deleted != HNSW_ELEMENT_DELETED)
		return;
	if (ts->n == ts->cap)
	{
		ts->cap *= 2;
		ts->ids = repalloc_huge(ts->ids, sizeof(uint64) * ts->cap);
	}
	ts->ids[ts->n++] = id;
	hnsw_idset_add(ts->all, id);
}

/* Mark tombstone id reached (once), to follow its lists later. */
static void
reach_tomb(HnswTombs *ts, uint64 id)
{
	if (!hnsw_idset_contains(ts->all, id) || !hnsw_idset_add(ts->reached, id))
		return;
	/* each tombstone is queued at most once, so n bounds the queue */
	ts->queue[ts->nqueue++] = id;
}

/* Reach the tombstones among the links of an element (all its levels). */
static void
reach_links(HnswTombs *ts, HnswElementTuple tup)
{
	int			nslots = HnswTotalSlots(ts->m, tup->level);

	for (int i = 0; i < nslots; i++)
		if (ItemPointerIsValid(&tup->neighbors[i]))
			reach_tomb(ts, HnswTidToId(&tup->neighbors[i]));
}

/* Pass 2's visitor: what live elements link to is reached. */
static void
reach_from_live(HnswTombs *ts, HnswElementTuple tup, uint64 id)
{
	if (tup->deleted == HNSW_ELEMENT_LIVE)
		reach_links(ts, tup);
}

/* Follow the lists of the reached tombstones to the tombstones they reach. */
static void
reach_through_tombs(HnswTombs *ts)
{
	while (ts->nqueue > 0)
	{
		uint64		id = ts->queue[--ts->nqueue];
		Buffer		buf;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(ts->index, MAIN_FORKNUM, HnswIdBlock(id),
								 RBM_NORMAL, ts->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		/* a tombstone stays one until this pass frees it */
		reach_links(ts, (HnswElementTuple) PageGetItem(page,
													   PageGetItemId(page, HnswIdOffset(id))));
		UnlockReleaseBuffer(buf);
	}
}

/*
 * Pass 3: free the unreached tombstones, one WAL record a page; returns
 * how many.
 */
static int64
free_unreached(HnswTombs *ts)
{
	int64		i = 0;
	int64		freed = 0;

	while (i < ts->n)
	{
		BlockNumber blkno = HnswIdBlock(ts->ids[i]);
		int64		end = i;
		bool		any = false;
		Buffer		buf;
		Page		page;
		GenericXLogState *state;

		while (end < ts->n && HnswIdBlock(ts->ids[end]) == blkno)
			any |= !hnsw_idset_contains(ts->reached, ts->ids[end++]);
		if (!any)
		{
			i = end;
			continue;
		}
		vacuum_delay_point();
		buf = ReadBufferExtended(ts->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 ts->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = hnsw_page_begin(ts->index, buf, false, false, &state);
		for (; i < end; i++)
		{
			HnswElementTuple tup;

			if (hnsw_idset_contains(ts->reached, ts->ids[i]))
				continue;
			tup = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, HnswIdOffset(ts->ids[i])));
			Assert(tup->deleted == HNSW_ELEMENT_DELETED);
			tup->deleted = HNSW_ELEMENT_FREE;
			for (int s = 0; s < HnswTotalSlots(ts->m, tup->level); s++)
				ItemPointerSetInvalid(&tup->neighbors[s]);
			freed++;
		}
		hnsw_page_finish(buf, false, state);
		UnlockReleaseBuffer(buf);
		if (!BlockNumberIsValid(ts->firstFree) || blkno < ts->firstFree)
			ts->firstFree = blkno;
	}
	return freed;
}

/*
 * Free the slots of the tombstones no search can reach (see the file
 * header), and point the metapage's hint at the first free slot.
 */
void
hnsw_free_tombstones(Relation index, BufferAccessStrategy strategy)
{
	HnswTombs	ts;
	HnswMetaPageData meta;
	int64		freed = 0;

	/* 1. from here on, no insert links to a tombstone */
	LockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);
	hnsw_read_meta(index, &meta);
	UnlockPage(index, HNSW_UPDATE_LOCK, ExclusiveLock);

	memset(&ts, 0, sizeof(ts));
	ts.index = index;
	ts.strategy = strategy;
	ts.m = meta.m;
	ts.cap = 1024;
	ts.ids = palloc(sizeof(uint64) * ts.cap);
	ts.all = hnsw_idset_create();
	ts.firstFree = InvalidBlockNumber;
	scan_elements(&ts, collect_tomb);

	if (ts.n > 0)
	{
		/* 2. the reachable tombstones */
		ts.reached = hnsw_idset_create();
		ts.queue = palloc_extended(sizeof(uint64) * ts.n, MCXT_ALLOC_HUGE);
		if (meta.entryLevel >= 0)
			reach_tomb(&ts, HnswTidToId(&meta.entry));
		scan_elements(&ts, reach_from_live);
		reach_through_tombs(&ts);
		/* 3. free the others */
		freed = free_unreached(&ts);
	}
	if (BlockNumberIsValid(ts.firstFree))
		hnsw_move_free_hint(index, InvalidBlockNumber, ts.firstFree);
	elog(DEBUG1, "faceid_hnsw vacuum: freed " INT64_FORMAT " of " INT64_FORMAT " tombstones",
		 freed, ts.n);
}

/* ---------------------------------------------------------------------
 * Inserts: taking a free slot
 * ---------------------------------------------------------------------
 */

/*
 * The free slot of a locked page that best fits a tuple of size bytes (the
 * smallest that is large enough), or InvalidOffsetNumber; *nfree counts
 * the free slots of the page.
 */
static OffsetNumber
best_free_slot(Page page, Size size, int *nfree)
{
	OffsetNumber best = InvalidOffsetNumber;
	Size		bestLen = 0;

	*nfree = 0;
	if (PageIsNew(page))
		return InvalidOffsetNumber;
	for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemId		itemid = PageGetItemId(page, off);
		Size		len;

		if (!ItemIdIsUsed(itemid) ||
			((HnswElementTuple) PageGetItem(page, itemid))->deleted != HNSW_ELEMENT_FREE)
			continue;
		(*nfree)++;
		len = ItemIdGetLength(itemid);
		if (len >= size && (best == InvalidOffsetNumber || len < bestLen))
		{
			best = off;
			bestLen = len;
		}
	}
	return best;
}

/*
 * Overwrite free slot off of an exclusively locked buffer with tup (size
 * bytes, WAL-logged).  The slot keeps its length: the lists of the levels
 * tup does not have stay empty.
 */
static void
overwrite_slot(Relation index, Buffer buf, OffsetNumber off,
			   HnswElementTuple tup, Size size)
{
	GenericXLogState *state;
	Page		page = hnsw_page_begin(index, buf, false, false, &state);
	ItemId		itemid = PageGetItemId(page, off);
	char	   *item = (char *) PageGetItem(page, itemid);
	Size		len = ItemIdGetLength(itemid);

	memcpy(item, tup, size);
	for (Size o = size; o + sizeof(ItemPointerData) <= len; o += sizeof(ItemPointerData))
		ItemPointerSetInvalid((ItemPointer) (item + o));
	hnsw_page_finish(buf, false, state);
}

/*
 * Store tup (size bytes) in a free slot, looking from block hint (the
 * metapage's freeBlock) on; returns its id, or HNSW_INVALID_ID when the
 * first HNSW_REUSE_MAX_PAGES pages have no slot that fits.  Moves the hint
 * past the pages found without any free slot.
 */
uint64
hnsw_reuse_slot(Relation index, BlockNumber hint, HnswElementTuple tup,
				Size size)
{
	BlockNumber nblocks;
	BlockNumber blkno;
	BlockNumber firstFree = InvalidBlockNumber;
	BlockNumber newHint;
	uint64		id = HNSW_INVALID_ID;
	int			walked = 0;

	if (hint <= HNSW_METAPAGE_BLKNO)
		return HNSW_INVALID_ID;
	nblocks = RelationGetNumberOfBlocks(index);
	for (blkno = hint; blkno < nblocks && walked < HNSW_REUSE_MAX_PAGES &&
		 id == HNSW_INVALID_ID; blkno++, walked++)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		int			nfree;
		OffsetNumber off;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		off = best_free_slot(BufferGetPage(buf), size, &nfree);
		if (off != InvalidOffsetNumber)
		{
			/* another insert may take it while we relock: look again */
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			off = best_free_slot(BufferGetPage(buf), size, &nfree);
			if (off != InvalidOffsetNumber)
			{
				overwrite_slot(index, buf, off, tup, size);
				id = ((uint64) blkno << 16) | off;
				nfree--;
			}
		}
		UnlockReleaseBuffer(buf);
		if (nfree > 0 && !BlockNumberIsValid(firstFree))
			firstFree = blkno;
	}
	/* blkno: the first page not looked at */
	if (BlockNumberIsValid(firstFree))
		newHint = firstFree;
	else
		newHint = blkno >= nblocks ? HNSW_METAPAGE_BLKNO : blkno;
	if (newHint != hint)
		hnsw_move_free_hint(index, hint, newHint);
	return id;
}
