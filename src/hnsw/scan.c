/*
 * scan.c
 *	  faceid_hnsw: ORDER BY col <-> query scans.
 *
 * The first call searches the upper levels from the entry point with
 * ef candidates (faceid.ef_search, more on a graph of over 250k elements:
 * hnsw_search_width), then level 0 from all of level 1's
 * results (and the entry point), and returns the ef_search nearest rows
 * nearest first.  With faceid.iterative_scan on, an exhausted batch resumes the same
 * search (visited set and unexpanded candidates kept) for the next ef_search
 * nearest not yet returned, so a filtered ORDER BY ... LIMIT k keeps going
 * until k rows qualify or the graph is exhausted.
 *
 * The graph is walked on codes (quant.c), so each row comes with a lower
 * bound of its exact distance, and xs_recheckorderby: the executor computes
 * the exact <-> from the heap tuple and holds rows back until no later row
 * can be nearer (its reorder queue), so the rows come out with exact
 * distances in exact order.  Every batch is returned in lower-bound order;
 * a later find whose bound is below one already returned is skipped, so
 * the bounds never decrease.
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw.h"

typedef struct HnswScanOpaqueData
{
	MemoryContext ctx;			/* everything of one rescan */
	bool		started;
	bool		done;
	int			m;
	HnswDiskGraph dg;
	HnswSearch	search;			/* the level-0 search, resumable */
	FaceEmbedding query;
	HnswCandidate *batch;		/* current batch, ascending */
	int			nbatch;
	int			next;
	int			ef;				/* the width (hnsw_search_width) at the start */
	bool		iterative;		/* faceid.iterative_scan then */
	int			batches;		/* batches computed so far */
	double		lastBound;		/* lower bound of the last row returned */
	bool		returnedAny;	/* has any row been returned */
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

/* ambeginscan */
IndexScanDesc
hnswbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "faceid_hnsw scan",
									ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	if (norderbys > 0)
	{
		scan->xs_orderbyvals = palloc0(sizeof(Datum) * norderbys);
		scan->xs_orderbynulls = palloc(sizeof(bool) * norderbys);
		for (int i = 0; i < norderbys; i++)
			scan->xs_orderbynulls[i] = true;
	}
	return scan;
}

/*
 * End the search of the last query: report its reads at DEBUG1 (elements,
 * distinct pages, pins) when they were counted.
 */
static void
scan_finish(HnswScanOpaque so)
{
	if (!so->started)
		return;
	if (so->dg.seen != NULL)
		elog(DEBUG1, "faceid_hnsw scan: " INT64_FORMAT " elements on "
			 INT64_FORMAT " distinct pages, " INT64_FORMAT " pins",
			 so->dg.elements, so->dg.pages, so->dg.pins);
	so->dg.seen = NULL;			/* it lives in so->ctx */
	so->started = false;
}

/* amrescan: new query vector; the search starts on the next fetch. */
void
hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
		   int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	scan_finish(so);
	MemoryContextReset(so->ctx);
	so->started = false;
	so->done = false;
	so->nbatch = 0;
	so->next = 0;
	so->batches = 0;
	so->returnedAny = false;
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys,
				scan->numberOfOrderBys * sizeof(ScanKeyData));
}

/* Run the search to the first batch. */
static void
scan_start(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	ScanKey		key = &scan->orderByData[0];
	HnswMetaPageData meta;
	uint64		entry;

	if (key->sk_flags & SK_ISNULL)
		memset(&so->query, 0, sizeof(FaceEmbedding));	/* any order will do */
	else
		memcpy(&so->query, DatumGetPointer(key->sk_argument), sizeof(FaceEmbedding));

	hnsw_read_meta(scan->indexRelation, &meta);
	so->m = meta.m;
	if (meta.entryLevel < 0)
	{
		so->done = true;
		return;
	}
	hnsw_disk_graph_init(&so->dg, scan->indexRelation, &meta);
	if (message_level_is_interesting(DEBUG1))
		hnsw_disk_graph_count(&so->dg);
	/* the index's reltuples: set by CREATE INDEX, VACUUM and ANALYZE */
	so->ef = hnsw_search_width(hnsw_ef_search,
							   scan->indexRelation->rd_rel->reltuples);
	so->iterative = hnsw_iterative_scan;
	hnsw_search_init(&so->search, &so->dg.g, so->query.x, 0, so->iterative);
	entry = HnswTidToId(&meta.entry);
	if (meta.entryLevel == 0)
		hnsw_search_add_entry(&so->search, entry);
	else
	{
		/*
		 * Search the upper levels with ef_search candidates too (not just
		 * greedily), and start level 0 from all of level 1's results: with
		 * tight clusters one entry point too often leads to a local minimum.
		 */
		HnswCandidate *upper = palloc(sizeof(HnswCandidate) * (so->ef + 1));
		int			n = hnsw_descend_ef(&so->dg.g, so->query.x, entry,
										meta.entryLevel, 1, so->ef, upper);

		for (int i = 0; i < n; i++)
			hnsw_search_add_entry(&so->search, upper[i].id);
		pfree(upper);
		/*
		 * The build links every element into the entry's level-0 graph, so a
		 * full scan reaches all; and if level 1 held only deleted elements,
		 * this is the one seed left.
		 */
		hnsw_search_add_entry(&so->search, entry);
	}
	so->batch = palloc(sizeof(HnswCandidate) * (so->ef + 1));
}

/* Order candidates by lower bound (dist holds it), then by id. */
static int
cmp_bound(const void *a, const void *b)
{
	const HnswCandidate *x = (const HnswCandidate *) a;
	const HnswCandidate *y = (const HnswCandidate *) b;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

/*
 * Replace the batch's squared code distances by lower bounds, ascending.
 * With the index's errMax they keep the code distances' order; an element
 * inserted since the scan began may have a larger err (and a lower bound).
 */
static void
batch_to_bounds(HnswScanOpaque so)
{
	for (int i = 0; i < so->nbatch; i++)
		so->batch[i].dist = (float4) hnsw_quant_lower_bound(so->batch[i].dist,
															so->batch[i].err,
															so->dg.errMax);
	qsort(so->batch, so->nbatch, sizeof(HnswCandidate), cmp_bound);
}

/* Compute the next batch; false when the graph has no more. */
static bool
scan_next_batch(HnswScanOpaque so)
{
	if (so->batches > 0 && !so->iterative)
		return false;
	if (so->batches > 0)
		hnsw_search_refill(&so->search, so->ef);
	hnsw_search_run(&so->search, so->ef);
	so->nbatch = hnsw_search_take_results(&so->search, so->batch);
	batch_to_bounds(so);
	so->next = 0;
	so->batches++;
	return so->nbatch > 0;
}

/* amgettuple: the next heap TID, nearest first. */
bool
hnswgettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	MemoryContext old;
	bool		found = false;

	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("faceid_hnsw indexes support only ORDER BY <-> scans")));
	if (!ScanDirectionIsForward(dir))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("faceid_hnsw indexes do not support backward scans")));
	if (so->done)
		return false;

	old = MemoryContextSwitchTo(so->ctx);
	if (!so->started)
	{
		if (!IsMVCCSnapshot(scan->xs_snapshot))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("faceid_hnsw indexes support only MVCC snapshots")));
		scan_start(scan);
		so->started = true;
		pgstat_count_index_scan(scan->indexRelation);
	}

	while (!so->done)
	{
		HnswCandidate *c;

		if (so->next >= so->nbatch && !scan_next_batch(so))
		{
			so->done = true;
			break;
		}
		c = &so->batch[so->next++];
		/* a resumed batch may find rows nearer than one already returned */
		if (so->returnedAny && c->dist < so->lastBound)
			continue;
		so->lastBound = c->dist;
		so->returnedAny = true;
		scan->xs_heaptid = c->heaptid;
		scan->xs_recheck = false;
		if (scan->orderByData[0].sk_flags & SK_ISNULL)
		{
			/* a NULL query: any order will do, nothing to re-rank */
			scan->xs_recheckorderby = false;
			scan->xs_orderbyvals[0] = (Datum) 0;
			scan->xs_orderbynulls[0] = true;
		}
		else
		{
			scan->xs_recheckorderby = true;
			scan->xs_orderbyvals[0] = Float8GetDatum((double) c->dist);
			scan->xs_orderbynulls[0] = false;
		}
		found = true;
		break;
	}
	MemoryContextSwitchTo(old);
	return found;
}

/* amendscan */
void
hnswendscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	scan_finish(so);
	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}
