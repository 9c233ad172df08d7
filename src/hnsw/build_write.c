/*
 * build_write.c
 *	  faceid_hnsw CREATE INDEX: write the graph in memory to the index, page
 *	  by page, without WAL (the finished index is WAL-logged in bulk).
 */
#include "postgres.h"

#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"

#include "build.h"

/* Where the flush will put each element: block and offset, in order. */
static BlockNumber
assign_disk_ids(HnswBuildState *bs, int64 nelems)
{
	BlockNumber blkno = HNSW_METAPAGE_BLKNO + 1;
	OffsetNumber offno = FirstOffsetNumber;
	Size		upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
	Size		lower = SizeOfPageHeaderData;

	for (int64 i = 0; i < nelems; i++)
	{
		BuildElement *e = elem(bs, i);
		Size		sz = MAXALIGN(HnswElementTupleSize(bs->m, e->level));

		if (lower + sizeof(ItemIdData) + sz > upper)
		{
			blkno++;
			offno = FirstOffsetNumber;
			upper = BLCKSZ - MAXALIGN(sizeof(HnswPageOpaqueData));
			lower = SizeOfPageHeaderData;
		}
		e->diskid = ((uint64) blkno << 16) | offno;
		offno++;
		lower += sizeof(ItemIdData);
		upper -= sz;
	}
	return blkno;
}

/* Fit the quantiser to the vectors in memory. */
static void
fit_quant(HnswBuildState *bs, int64 nelems, HnswQuant *qz)
{
	double	   *sum = palloc0(sizeof(double) * FI_DIM);
	double	   *sumsq = palloc0(sizeof(double) * FI_DIM);
	float4		min[FI_DIM];
	float4		max[FI_DIM];

	for (int d = 0; d < FI_DIM; d++)
		min[d] = max[d] = elem(bs, 0)->vec[d];
	for (int64 i = 0; i < nelems; i++)
	{
		const float4 *v = elem(bs, i)->vec;

		for (int d = 0; d < FI_DIM; d++)
		{
			sum[d] += v[d];
			sumsq[d] += (double) v[d] * v[d];
			min[d] = Min(min[d], v[d]);
			max[d] = Max(max[d], v[d]);
		}
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	hnsw_quant_fit(qz, sum, sumsq, min, max, (double) nelems);
	pfree(sum);
	pfree(sumsq);
}

/* Form the on-disk tuple of an element in memory. */
static HnswElementTuple
mem_element_tuple(HnswBuildState *bs, const HnswQuant *qz, BuildElement *e,
				  Size *size)
{
	HnswElementTuple tup;

	*size = HnswElementTupleSize(bs->m, e->level);
	tup = palloc0(*size);	/* no stray bytes in the padding */
	tup->level = e->level;
	tup->deleted = 0;
	tup->unused = 0;
	tup->heaptid = e->heaptid;
	hnsw_quant_encode(qz, e->vec, tup->code, &tup->err);
	for (int lev = 0; lev <= e->level; lev++)
	{
		int			start = HnswLevelStart(bs->m, lev);
		int			slots = HnswLevelSlots(bs->m, lev);

		for (int i = 0; i < slots; i++)
		{
			ItemPointer p = &tup->neighbors[start + i];

			if (i < e->counts[lev])
			{
				uint64		id = elem(bs, e->ids[start + i])->diskid;

				ItemPointerSet(p, HnswIdBlock(id), HnswIdOffset(id));
			}
			else
				ItemPointerSetInvalid(p);
		}
	}
	return tup;
}

#ifdef USE_ASSERT_CHECKING
/* Check the lists of the graph in memory: no self-links, no duplicates,
 * every neighbour exists and lives on the level it is linked on. */
static void
check_graph(HnswBuildState *bs, int64 nelems)
{
	for (int64 i = 0; i < nelems; i++)
	{
		BuildElement *e = elem(bs, i);

		for (int lev = 0; lev <= e->level; lev++)
		{
			uint32	   *ids = e->ids + HnswLevelStart(bs->m, lev);

			Assert(e->counts[lev] <= HnswLevelSlots(bs->m, lev));
			for (int j = 0; j < e->counts[lev]; j++)
			{
				Assert(ids[j] < nelems && ids[j] != i);
				Assert(elem(bs, ids[j])->level >= lev);
				for (int k = 0; k < j; k++)
					Assert(ids[k] != ids[j]);
			}
		}
	}
}
#endif

/* Write the graph in memory to the index, page by page, without WAL. */
void
hnsw_build_flush(HnswBuildState *bs)
{
	int64		nelems = pg_atomic_read_u64(&bs->graph->nelems);
	BlockNumber last;
	Buffer		buf = InvalidBuffer;
	Page		page = NULL;
	BlockNumber cur = InvalidBlockNumber;
	HnswQuant	qz;
	float4		errMax = 0;

	if (nelems == 0)
		return;
	if (!bs->graph->refined)
	{
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_REFINE);
		hnsw_mem_refine_upper(bs, NULL);
	}
	hnsw_mem_fix_inlinks(bs);
	hnsw_mem_connect_islands(bs);
#ifdef USE_ASSERT_CHECKING
	check_graph(bs, nelems);
#endif
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_WRITE);
	fit_quant(bs, nelems, &qz);
	last = assign_disk_ids(bs, nelems);
	for (int64 i = 0; i < nelems; i++)
	{
		BuildElement *e = elem(bs, i);
		HnswElementTuple tup;
		Size		size;

		if (HnswIdBlock(e->diskid) != cur)
		{
			if (BufferIsValid(buf))
			{
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = ReadBufferExtended(bs->index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			cur = BufferGetBlockNumber(buf);
			if (cur != HnswIdBlock(e->diskid))
				elog(ERROR, "faceid_hnsw build: expected block %u, got %u",
					 HnswIdBlock(e->diskid), cur);
			page = BufferGetPage(buf);
			hnsw_init_page(page, 0);
		}
		tup = mem_element_tuple(bs, &qz, e, &size);
		errMax = Max(errMax, tup->err);
		if (PageAddItem(page, (Item) tup, size, InvalidOffsetNumber, false, false)
			!= HnswIdOffset(e->diskid))
			elog(ERROR, "faceid_hnsw build: failed to place element %lld",
				 (long long) i);
		pfree(tup);
		CHECK_FOR_INTERRUPTS();
	}
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
	hnsw_write_quant(bs->index, &qz, errMax, true);
	hnsw_update_meta(bs->index, elem(bs, bs->graph->entry)->diskid,
					 bs->graph->entryLevel, last, true, true);
}
