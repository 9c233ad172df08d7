/*
 * recent.c
 *	  faceid_hnsw: pin an index block through the buffer this backend last
 *	  found it in, skipping the shared buffer mapping table.
 *
 * A search on a large graph visits thousands of elements on as many random
 * pages, and ReadBuffer's lookup in the shared buffer mapping table (a hash
 * over all of shared_buffers, behind a partition lock) was the largest
 * single cost of a visit: on 1M rows, 28% of a query's CPU time.  Each
 * backend remembers, per index block, the buffer it was last read into;
 * ReadRecentBuffer() pins that buffer if it still holds the block (it checks
 * the buffer's tag under the header lock, so a stale hint is harmless) and
 * ReadBuffer() is the fallback.  The hints are keyed by the index's
 * relfilenode, so REINDEX, TRUNCATE and a dropped index start afresh, and
 * are kept for the few indexes used last in the backend's lifetime memory.
 */
#include "postgres.h"

#include "pgstat.h"
#include "storage/buf_internals.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

/* Indexes whose hints a backend keeps. */
#define RECENT_INDEXES		4
/* Blocks with a hint: the first 4M (32 GB of index), 16 MB of hints. */
#define RECENT_MAX_BLOCKS	(BlockNumber) (4 * 1024 * 1024)

/* The hints of one index: hint[b] is the buffer block b was last read into. */
typedef struct RecentIndex
{
	RelFileNode node;
	Buffer	   *hint;
	BlockNumber nhint;			/* allocated entries */
	uint64		lastUse;		/* clock for replacement */
} RecentIndex;

static RecentIndex recent[RECENT_INDEXES];
static uint64 recentClock;

/* The hints of index, made (replacing the least recently used) if absent. */
static RecentIndex *
recent_for(Relation index)
{
	RecentIndex *victim = &recent[0];

	for (int i = 0; i < RECENT_INDEXES; i++)
	{
		if (recent[i].hint != NULL && RelFileNodeEquals(recent[i].node, index->rd_node))
		{
			recent[i].lastUse = ++recentClock;
			return &recent[i];
		}
		if (recent[i].lastUse < victim->lastUse)
			victim = &recent[i];
	}
	if (victim->hint != NULL)
		pfree(victim->hint);
	victim->node = index->rd_node;
	victim->nhint = 0;
	victim->hint = NULL;
	victim->lastUse = ++recentClock;
	return victim;
}

/* Make room for a hint of block blkno (which is below RECENT_MAX_BLOCKS). */
static void
recent_grow(RecentIndex *ri, BlockNumber blkno)
{
	BlockNumber n = Max(ri->nhint, 1024);

	while (n <= blkno)
		n *= 2;
	n = Min(n, RECENT_MAX_BLOCKS);
	if (ri->hint == NULL)
		ri->hint = MemoryContextAllocZero(TopMemoryContext, sizeof(Buffer) * n);
	else
	{
		ri->hint = repalloc(ri->hint, sizeof(Buffer) * n);
		memset(ri->hint + ri->nhint, 0, sizeof(Buffer) * (n - ri->nhint));
	}
	ri->nhint = n;
}

/* The hints of index when block blkno can have one (shared buffers), or NULL. */
static inline RecentIndex *
recent_for_block(Relation index, BlockNumber blkno)
{
	if (RelationUsesLocalBuffers(index) || blkno >= RECENT_MAX_BLOCKS)
		return NULL;
	return recent_for(index);
}

/* The hint of block blkno in ri, or InvalidBuffer. */
static inline Buffer
recent_hint(const RecentIndex *ri, BlockNumber blkno)
{
	return ri != NULL && blkno < ri->nhint ? ri->hint[blkno] : InvalidBuffer;
}

/*
 * Start loading what pinning block blkno and reading line pointer offno
 * will touch: the buffer header (pinning writes it) and the page, at the
 * buffer the block was last seen in.  Nothing is read: a stale hint costs
 * a wasted prefetch.  Called for all of a list's blocks before any is
 * pinned, so their cache misses overlap.
 */
void
hnsw_prefetch_block(Relation index, BlockNumber blkno, OffsetNumber offno)
{
	Buffer		hint = recent_hint(recent_for_block(index, blkno), blkno);
	char	   *page;

	if (!BufferIsValid(hint))
		return;
	page = (char *) BufferGetBlock(hint);
	__builtin_prefetch(GetBufferDescriptor(hint - 1), 1);
	__builtin_prefetch(page + offsetof(PageHeaderData, pd_linp) +
					   sizeof(ItemIdData) * (offno - 1));
}

/* ReadBuffer(index, blkno) for the graph's reads, through the last buffer seen. */
Buffer
hnsw_read_buffer(Relation index, BlockNumber blkno)
{
	RecentIndex *ri = recent_for_block(index, blkno);
	Buffer		hint = recent_hint(ri, blkno);
	Buffer		buf;

	if (BufferIsValid(hint) &&
		ReadRecentBuffer(index->rd_node, MAIN_FORKNUM, blkno, hint))
	{
		/* what ReadBuffer would count for pg_statio_*_indexes */
		pgstat_count_buffer_read(index);
		pgstat_count_buffer_hit(index);
		return hint;
	}
	buf = ReadBuffer(index, blkno);
	if (ri == NULL)
		return buf;
	if (blkno >= ri->nhint)
		recent_grow(ri, blkno);
	ri->hint[blkno] = buf;
	return buf;
}
