/*
 * pages.c
 *	  faceid_hnsw: the graph on disk (HnswGraph over index pages), page
 *	  initialisation, generic-WAL page edits and the metapage.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "hnsw.h"

/* Pin block blkno of the graph, counting the pin and the page if asked. */
static Buffer
disk_read(HnswDiskGraph *dg, BlockNumber blkno)
{
	if (dg->seen != NULL)
	{
		dg->pins++;
		if (blkno < dg->nseen && (dg->seen[blkno / 8] & (1 << (blkno % 8))) == 0)
		{
			dg->seen[blkno / 8] |= 1 << (blkno % 8);
			dg->pages++;
		}
	}
	return hnsw_read_buffer(dg->index, blkno);
}

/*
 * Pin and share-lock the element id; NULL (and no buffer) if absent or a
 * free slot (no longer part of the graph).
 */
static HnswElementTuple
disk_lock_element(HnswDiskGraph *dg, uint64 id, Buffer *buf)
{
	HnswElementTuple tup;

	*buf = disk_read(dg, HnswIdBlock(id));
	LockBuffer(*buf, BUFFER_LOCK_SHARE);
	tup = hnsw_page_element(BufferGetPage(*buf), HnswIdOffset(id));
	if (tup == NULL)
	{
		UnlockReleaseBuffer(*buf);
		*buf = InvalidBuffer;
	}
	return tup;
}

/* Order ord[0..n) by the block of cs[ord[i]].id (insertion sort: n <= 2m). */
static void
sort_by_block(const HnswCandidate *cs, int *ord, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			x = i;
		int			j = i;

		while (j > 0 && HnswIdBlock(cs[ord[j - 1]].id) > HnswIdBlock(cs[x].id))
		{
			ord[j] = ord[j - 1];
			j--;
		}
		ord[j] = x;
	}
}

/*
 * Pin the blocks of cs[ord[0..n)] (sorted by block) into bufs, one pin per
 * block (bidx[k]: the buffer of ord[k]), and prefetch each element's code.
 * The walk is bound by memory latency: a search visits elements on random
 * pages, and each visit misses the cache on its line pointer and tuple, so
 * the misses of all neighbours of an element overlap here.  Without the
 * lock the page may change under us; it is only read to prefetch, with its
 * bounds checked.
 */
static int
pin_and_prefetch(HnswDiskGraph *dg, const HnswCandidate *cs, const int *ord,
				 int n, Buffer *bufs, int *bidx)
{
	int			nbufs = 0;

	for (int k = 0; k < n; k++)
		if (k == 0 || HnswIdBlock(cs[ord[k]].id) != HnswIdBlock(cs[ord[k - 1]].id))
			hnsw_prefetch_block(dg->index, HnswIdBlock(cs[ord[k]].id),
								HnswIdOffset(cs[ord[k]].id));
	for (int k = 0; k < n; k++)
	{
		BlockNumber blkno = HnswIdBlock(cs[ord[k]].id);

		if (nbufs == 0 || BufferGetBlockNumber(bufs[nbufs - 1]) != blkno)
			bufs[nbufs++] = disk_read(dg, blkno);
		bidx[k] = nbufs - 1;
		__builtin_prefetch(PageGetItemId(BufferGetPage(bufs[nbufs - 1]),
										 HnswIdOffset(cs[ord[k]].id)));
	}
	for (int k = 0; k < n; k++)
	{
		Page		page = BufferGetPage(bufs[bidx[k]]);
		OffsetNumber offno = HnswIdOffset(cs[ord[k]].id);
		unsigned	off;

		if (offno < FirstOffsetNumber || offno > PageGetMaxOffsetNumber(page))
			continue;
		off = ItemIdGetOffset(PageGetItemId(page, offno));
		if (off + offsetof(HnswElementTupleData, neighbors) <= BLCKSZ)
			for (unsigned b = 0; b < offsetof(HnswElementTupleData, neighbors); b += 64)
				__builtin_prefetch((char *) page + off + b);
	}
	return nbufs;
}

/*
 * HnswGraph.distances on disk: the code distance of each element, reading
 * each block once (a person's photos, inserted together, share pages).
 */
static void
disk_distances(HnswGraph *g, const float4 *q, HnswCandidate *cs, int n,
			   bool *ok, bool *deleted)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) g;
	int			ord[2 * HNSW_MAX_M];
	int			bidx[2 * HNSW_MAX_M];
	Buffer		bufs[2 * HNSW_MAX_M];
	int			locked = -1;

	Assert(n <= 2 * HNSW_MAX_M);
	sort_by_block(cs, ord, n);
	(void) pin_and_prefetch(dg, cs, ord, n, bufs, bidx);
	for (int k = 0; k < n; k++)
	{
		HnswCandidate *c = &cs[ord[k]];
		HnswElementTuple tup;

		if (bidx[k] != locked)
		{
			if (locked >= 0)
				UnlockReleaseBuffer(bufs[locked]);
			locked = bidx[k];
			LockBuffer(bufs[locked], BUFFER_LOCK_SHARE);
		}
		/* NULL also for a free slot reached by a stale link */
		tup = hnsw_page_element(BufferGetPage(bufs[locked]), HnswIdOffset(c->id));
		ok[ord[k]] = tup != NULL;
		if (tup == NULL)
			continue;
		c->dist = hnsw_quant_distance(&dg->quant, q, tup->code);
		c->err = tup->err;
		c->heaptid = tup->heaptid;
		deleted[ord[k]] = tup->deleted != 0;
		if (dg->seen != NULL)
			dg->elements++;
	}
	if (locked >= 0)
		UnlockReleaseBuffer(bufs[locked]);
}

/* HnswGraph.neighbors on disk. */
static int
disk_neighbors(HnswGraph *g, uint64 id, int lev, uint64 *out)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) g;
	Buffer		buf;
	HnswElementTuple tup = disk_lock_element(dg, id, &buf);
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

/* HnswGraph.vector on disk: the decoded code. */
static bool
disk_vector(HnswGraph *g, uint64 id, float4 *out)
{
	HnswDiskGraph *dg = (HnswDiskGraph *) g;
	Buffer		buf;
	HnswElementTuple tup = disk_lock_element(dg, id, &buf);

	if (tup == NULL)
		return false;
	hnsw_quant_decode(&dg->quant, tup->code, out);
	UnlockReleaseBuffer(buf);
	return true;
}

/* Set up the graph view of an index from a copy of its metapage. */
void
hnsw_disk_graph_init(HnswDiskGraph *dg, Relation index,
					 const HnswMetaPageData *meta)
{
	dg->g.m = meta->m;
	dg->g.epochs = NULL;
	dg->g.distances = disk_distances;
	dg->g.neighbors = disk_neighbors;
	dg->g.vector = disk_vector;
	dg->index = index;
	dg->quant = meta->quant;
	dg->errMax = meta->errMax;
	dg->seen = NULL;
	dg->nseen = 0;
	dg->pins = dg->pages = dg->elements = 0;
}

/*
 * Count the pins, distinct pages and elements this graph view reads (for
 * the DEBUG1 report of a scan and the tests).
 */
void
hnsw_disk_graph_count(HnswDiskGraph *dg)
{
	dg->nseen = RelationGetNumberOfBlocks(dg->index);
	dg->seen = palloc0(dg->nseen / 8 + 1);
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
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("faceid_hnsw index \"%s\" has on-disk format %u, this version of faceid reads format %d",
						RelationGetRelationName(index), meta->version,
						HNSW_VERSION),
				 errhint("REINDEX INDEX %s",
						 quote_identifier(RelationGetRelationName(index)))));
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
	meta->errMax = 0;
	hnsw_quant_default(&meta->quant);
	meta->freeBlock = HNSW_METAPAGE_BLKNO;
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

/* Set the quantiser and the largest error of the elements written with it. */
void
hnsw_write_quant(Relation index, const HnswQuant *qz, float4 errMax,
				 bool building)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	Page		page;
	GenericXLogState *state;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = hnsw_page_begin(index, buf, building, false, &state);
	HnswPageGetMeta(page)->quant = *qz;
	HnswPageGetMeta(page)->errMax = errMax;
	hnsw_page_finish(buf, building, state);
	UnlockReleaseBuffer(buf);
}

/*
 * Make the metapage's errMax at least err; an insert calls this before it
 * stores its element, so no element on disk has an err above errMax.
 */
void
hnsw_raise_err_max(Relation index, float4 err, bool building)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	GenericXLogState *state;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (HnswPageGetMeta(BufferGetPage(buf))->errMax < err)
	{
		Page		page = hnsw_page_begin(index, buf, building, false, &state);

		HnswPageGetMeta(page)->errMax = err;
		hnsw_page_finish(buf, building, state);
	}
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

/*
 * Move the free-slot hint of the metapage to blkno.  VACUUM (expect
 * InvalidBlockNumber) only lowers it; an insert moves it from expect, the
 * value it walked from, and does nothing if someone moved it meanwhile.
 */
void
hnsw_move_free_hint(Relation index, BlockNumber expect, BlockNumber blkno)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	BlockNumber cur;
	bool		move;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	cur = HnswPageGetMeta(BufferGetPage(buf))->freeBlock;
	if (BlockNumberIsValid(expect))
		move = cur == expect && blkno != cur;
	else
		move = blkno > HNSW_METAPAGE_BLKNO &&
			(cur <= HNSW_METAPAGE_BLKNO || blkno < cur);
	if (move)
	{
		GenericXLogState *state;
		Page		page = hnsw_page_begin(index, buf, false, false, &state);

		HnswPageGetMeta(page)->freeBlock = blkno;
		/* a metapage written before the field existed: cover it too */
		((PageHeader) page)->pd_lower =
			Max(((PageHeader) page)->pd_lower,
				((char *) HnswPageGetMeta(page) + sizeof(HnswMetaPageData)) - (char *) page);
		hnsw_page_finish(buf, false, state);
	}
	UnlockReleaseBuffer(buf);
}
