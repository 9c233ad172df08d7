/*
 * pages.c
 *	  faceid_hnsw: the graph on disk (HnswGraph over index pages), page
 *	  initialisation, generic-WAL page edits and the metapage.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "hnsw.h"

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
