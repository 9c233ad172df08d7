/*
 * hnsw.h
 *	  faceid_hnsw: a Hierarchical Navigable Small World graph index for
 *	  faceembedding, ordered by the <-> operator.
 *
 * On-disk layout
 *	  Block 0 is the metapage (entry point, insert page hint, options, the
 *	  quantiser).  Every other block holds element tuples.  An element tuple
 *	  is one fixed-size record per indexed heap tuple: level, deleted flag,
 *	  heap TID, the vector as 128 one-byte codes with the norm of its
 *	  quantisation error (quant.c), and the neighbour lists of every level it
 *	  lives on
 *	  (2m slots on levels 0 and 1, m on each level above), as index TIDs.  An
 *	  unused slot holds an invalid TID.  Neighbour lists are rewritten in
 *	  place, so an element's TID never changes while it lives.  VACUUM turns
 *	  deleted elements into tombstones that a search may walk through but
 *	  never returns, and frees a tombstone's slot once no search can reach
 *	  it; an insert then overwrites the free slot (reuse.c).
 *
 * Inside the graph every distance is the squared Euclidean distance from
 * the query to an element's decoded code (the build's graph in memory uses
 * the exact vectors).  A scan returns a lower bound of the exact <-> value
 * with xs_recheckorderby, so the executor re-ranks the rows it fetches by
 * the exact distance from the heap and returns exact values in exact order.
 */
#ifndef FACEID_HNSW_H
#define FACEID_HNSW_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "nodes/execnodes.h"
#include "storage/dsm.h"
#include "storage/shm_toc.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"

#include "type_embedding.h"

#define HNSW_MAGIC				0xFA1D4A57
#define HNSW_VERSION			3	/* 2: 2m slots on level 1; 3: codes */
#define HNSW_METAPAGE_BLKNO		0
#define HNSW_PAGE_ID			0xFA1D

/* Heavyweight page lock (on a block number no page uses as data) that
 * serialises entry point changes against inserts. */
#define HNSW_UPDATE_LOCK		0

#define HNSW_DEFAULT_M			16
#define HNSW_MIN_M				2
#define HNSW_MAX_M				100
#define HNSW_DEFAULT_EF_CONSTRUCTION	64
#define HNSW_MIN_EF_CONSTRUCTION	4
#define HNSW_MAX_EF_CONSTRUCTION	1000
#define HNSW_MAX_LIST			(2 * HNSW_MAX_M)	/* slots of a level's list */
#define HNSW_DEFAULT_EF_SEARCH	40
#define HNSW_MAX_EF_SEARCH		1000

/*
 * A graph of up to this many elements is searched with faceid.ef_search
 * candidates; a larger one with proportionally more (hnsw_search_width).
 * The width top-1 identity needs grows about in proportion to the number of
 * people: on face-like rows (10 photos a person) 0.99 takes ef 20 on 100k
 * rows and about 140 on 1M (ef 40: 0.884, 80: 0.972, 120: 0.988, 160:
 * 1.000).  With 40 up to 250k rows, the default keeps a margin of two.
 */
#define HNSW_WIDTH_ELEMENTS		250000
#define HNSW_MAX_LEVEL			16

/*
 * A new element must end up in at least this many level-0 lists of its
 * neighbours; when the heuristic drops it from more, links are forced.  In
 * tight clusters (photos of one person) the reverse links of a new person's
 * first photo are often all pruned, and the whole cluster becomes an island.
 */
#define HNSW_MIN_INLINKS		2

/*
 * After the build, every element has at least this many in-links on each of
 * its levels (see mem_fix_inlinks): 3/8 of the slots above level 0, 1/4 on
 * level 0.  The repair replaces some of the heuristic's links, which costs
 * unknown faces some of their nearest strangers, mostly through level 0.
 * With the upper levels refined after the build (mem_refine_upper), on 1M
 * face-like rows at ef_search 40, level 0 at 3/8: top-1 identity 0.850 and
 * recall@10 of unknown people 0.18; 1/4: 0.908 and 0.27; 1/8: 0.882 and
 * 0.31.  (Before the refine pass, 1/4 left some of the clusters inserted
 * first unreachable: recall@10 of rows 0.988 on 80k rows.)
 */
#define HnswMinInDegree(m, lev) \
	((lev) == 0 ? HnswLevelSlots(m, lev) / 4 : 3 * HnswLevelSlots(m, lev) / 8)

/* Sub-phases reported in pg_stat_progress_create_index. */
#define HNSW_PHASE_LOAD			2
#define HNSW_PHASE_WRITE		3
#define HNSW_PHASE_REFINE		4

/* GUCs */
extern int	hnsw_ef_search;
extern bool hnsw_iterative_scan;
extern int	hnsw_build_prune;

/* faceid.hnsw_build_prune (developer setting, see build_prune.c) */
typedef enum HnswBuildPrune
{
	HNSW_PRUNE_FAST,			/* a sorted full list is chosen again in part */
	HNSW_PRUNE_FULL,			/* always from scratch */
	HNSW_PRUNE_CHECK			/* both, and stop at the first difference */
} HnswBuildPrune;

/* Reloptions */
typedef struct HnswOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			m;
	int			efConstruction;
} HnswOptions;

/*
 * The scalar quantiser of an index: dimension d of a vector is coded as
 * round((x - lo[d]) / step[d]) clamped to 0..255 (see quant.c).
 */
typedef struct HnswQuant
{
	float4		lo[FI_DIM];
	float4		step[FI_DIM];
} HnswQuant;

/* Metapage contents */
typedef struct HnswMetaPageData
{
	uint32		magic;
	uint32		version;
	uint16		m;
	uint16		efConstruction;
	int16		entryLevel;		/* -1: the graph is empty */
	uint16		unused;
	ItemPointerData entry;		/* entry point element */
	BlockNumber insertPage;		/* last page that took an element */
	float4		errMax;			/* largest err of any element ever stored */
	HnswQuant	quant;			/* codes of every element */
	BlockNumber freeBlock;		/* lowest block that may hold a free slot;
								 * 0 (the metapage): none known */
} HnswMetaPageData;

typedef HnswMetaPageData *HnswMetaPage;

#define HnswPageGetMeta(page)	((HnswMetaPage) PageGetContents(page))

/* Special space of every page */
typedef struct HnswPageOpaqueData
{
	uint16		flags;
	uint16		page_id;		/* HNSW_PAGE_ID, for tools */
} HnswPageOpaqueData;

typedef HnswPageOpaqueData *HnswPageOpaque;

#define HNSW_PAGE_META			0x0001
#define HnswPageGetOpaque(page) ((HnswPageOpaque) PageGetSpecialPointer(page))

/* States of an element slot (HnswElementTupleData.deleted) */
#define HNSW_ELEMENT_LIVE		0
#define HNSW_ELEMENT_DELETED	1	/* tombstone: heap TID cleared, may be
									 * linked, walked through, never returned */
#define HNSW_ELEMENT_FREE		2	/* unreachable tombstone, lists cleared:
									 * an insert may overwrite it */

/* One element: see the file header */
typedef struct HnswElementTupleData
{
	uint8		level;
	uint8		deleted;		/* HNSW_ELEMENT_* */
	uint16		unused;
	ItemPointerData heaptid;
	float4		err;			/* |vector - decoded code|, rounded up */
	uint8		code[FI_DIM];
	ItemPointerData neighbors[FLEXIBLE_ARRAY_MEMBER];
} HnswElementTupleData;

typedef HnswElementTupleData *HnswElementTuple;

/*
 * The element at line pointer offno of a locked index page; NULL when there
 * is none: out of range (a stale or corrupt id), unused, or a free slot (no
 * longer part of the graph).
 */
static inline HnswElementTuple
hnsw_page_element(Page page, OffsetNumber offno)
{
	ItemId		itemid;
	HnswElementTuple tup;

	if (offno < FirstOffsetNumber || offno > PageGetMaxOffsetNumber(page))
		return NULL;
	itemid = PageGetItemId(page, offno);
	if (!ItemIdIsUsed(itemid))
		return NULL;
	tup = (HnswElementTuple) PageGetItem(page, itemid);
	return tup->deleted == HNSW_ELEMENT_FREE ? NULL : tup;
}

/*
 * Slots on a level, the first slot of a level, the slots of a tuple.  Level
 * 1 has 2m slots like level 0: with tight clusters nearly every cluster has
 * a member there (see hnsw_should_promote), so level 1 is the graph of the
 * clusters, and the search finds the right cluster there far more often
 * with the extra links (top-1 identity 0.981 -> 0.990 at ef_search 40 on
 * 100k face-like rows, for 3% more index).
 */
#define HnswLevelSlots(m, lev)		((lev) <= 1 ? 2 * (m) : (m))
#define HnswLevelStart(m, lev)		((lev) <= 1 ? (lev) * 2 * (m) : 4 * (m) + ((lev) - 2) * (m))
#define HnswTotalSlots(m, level)	((level) == 0 ? 2 * (m) : 4 * (m) + ((level) - 1) * (m))
#define HnswElementTupleSize(m, level) \
	(offsetof(HnswElementTupleData, neighbors) + \
	 HnswTotalSlots(m, level) * sizeof(ItemPointerData))

/* Graph element ids: an index TID packed into 64 bits, or an array index */
#define HnswTidToId(tid) \
	(((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) | \
	 ItemPointerGetOffsetNumberNoCheck(tid))
#define HnswIdBlock(id)			((BlockNumber) ((id) >> 16))
#define HnswIdOffset(id)		((OffsetNumber) ((id) & 0xFFFF))
#define HNSW_INVALID_ID			PG_UINT64_MAX

/* A search candidate */
typedef struct HnswCandidate
{
	uint64		id;
	float4		dist;			/* squared distance to the query */
	float4		err;			/* the element's quantisation error (0: exact) */
	ItemPointerData heaptid;
} HnswCandidate;

/* Binary heap of candidates, min- or max-ordered by distance */
typedef struct HnswHeap
{
	HnswCandidate *items;
	int			count;
	int			capacity;
	bool		max;
} HnswHeap;

/*
 * The graph, as the search and neighbour selection see it: in memory while
 * CREATE INDEX builds it, on disk otherwise.
 */
typedef struct HnswGraph HnswGraph;

struct HnswGraph
{
	int			m;
	/* optional, in memory: visited marks by search number, ids < nepochs */
	uint32	   *epochs;
	uint32		epoch;
	int64		nepochs;
	/* cs[i].dist (squared, from q), .err and .heaptid of elements cs[i].id,
	 * i < n; ok[i] false if one is unreadable */
	void		(*distances) (HnswGraph *g, const float4 *q, HnswCandidate *cs,
							  int n, bool *ok, bool *deleted);
	/* neighbour ids of id on level lev into out; returns the count */
	int			(*neighbors) (HnswGraph *g, uint64 id, int lev, uint64 *out);
	/* copy the vector of id into out; false if id is unreadable */
	bool		(*vector) (HnswGraph *g, uint64 id, float4 *out);
};

/* The graph on disk */
typedef struct HnswDiskGraph
{
	HnswGraph	g;
	Relation	index;
	HnswQuant	quant;			/* the metapage's */
	float4		errMax;			/* the metapage's when this view was made */
	uint8	   *seen;			/* counting: bitmap of the pages read, or NULL */
	BlockNumber nseen;			/* pages the bitmap covers */
	int64		pins;			/* counting: pins taken, */
	int64		pages;			/* distinct pages pinned, */
	int64		elements;		/* elements whose code was read */
} HnswDiskGraph;

struct tidhash_hash;

/* State of one layer search (HNSW paper, algorithm 2) */
typedef struct HnswSearch
{
	HnswGraph  *g;
	const float4 *q;
	int			level;
	struct tidhash_hash *visited;
	HnswHeap	cand;			/* C: found, not yet expanded (min-heap) */
	HnswHeap	result;			/* W: the ef nearest live ones (max-heap) */
	HnswHeap	pending;		/* found, live, not in W (min-heap), if kept */
	bool		keepPending;	/* for iterative scans */
	uint64	   *nbuf;			/* neighbour buffer */
	HnswCandidate *cbuf;		/* their candidates, */
	bool	   *okbuf;			/* readable, */
	bool	   *delbuf;			/* deleted */
	int64		visitedCount;
} HnswSearch;

/* A 64-bit finaliser (splitmix64) to hash element ids. */
static inline uint32
hnsw_hash_id(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return (uint32) x;
}

/* hnsw.c */
extern void hnsw_init(void);
extern int	hnsw_search_width(int efSearch, double elements);
extern int	HnswGetM(Relation index);
extern int	HnswGetEfConstruction(Relation index);

/* search.c */
extern void hnsw_heap_init(HnswHeap *h, int capacity, bool max);
extern void hnsw_heap_push(HnswHeap *h, const HnswCandidate *c);
extern HnswCandidate hnsw_heap_pop(HnswHeap *h);
#define hnsw_heap_top(h)	(&(h)->items[0])

extern void hnsw_search_init(HnswSearch *s, HnswGraph *g, const float4 *q,
							 int level, bool keepPending);
extern void hnsw_search_free(HnswSearch *s);
extern void hnsw_search_add_entry(HnswSearch *s, uint64 id);
extern void hnsw_search_run(HnswSearch *s, int ef);
extern int	hnsw_search_take_results(HnswSearch *s, HnswCandidate *out);
extern void hnsw_search_refill(HnswSearch *s, int ef);
extern uint64 hnsw_descend(HnswGraph *g, const float4 *q, uint64 entry,
						   int fromLevel, int toLevel);
extern int	hnsw_descend_ef(HnswGraph *g, const float4 *q, uint64 entry,
							int fromLevel, int toLevel, int ef,
							HnswCandidate *out);
extern int	hnsw_search_level(HnswGraph *g, const float4 *q,
							  const uint64 *entries, int nentries, int level,
							  int ef, HnswCandidate *out);

/* neighbors.c */
extern int	hnsw_select_neighbors(HnswCandidate *cands, float4 **vecs, int n,
								  int maxm, bool *chosen);
extern int	hnsw_select_neighbors_kept(HnswCandidate *cands, float4 **vecs,
									   int n, int maxm, bool *chosen,
									   bool *kept);
extern int	hnsw_select_after_insert(HnswCandidate *cands, float4 **vecs, int n,
									 int maxm, int qpos, const bool *wasKept,
									 bool *chosen, bool *kept);
extern bool hnsw_candidates_sorted(const HnswCandidate *c, int n, uint64 salt);
extern void hnsw_chosen_to_list(const HnswCandidate *cands, const bool *chosen,
								int n, int slots, ItemPointerData *list);
extern void hnsw_sort_candidates(HnswCandidate *c, float4 **v, int n,
								 uint64 favoured, uint64 salt);
extern int	hnsw_most_redundant(float4 **vecs, const float4 *owndist, int n);
extern bool hnsw_should_promote(const HnswCandidate *found, int nfound,
								const int *levels);
extern int	hnsw_random_level(int m, int maxLevel, double u);
extern int	hnsw_max_level(int m);

/* quant.c */
extern void hnsw_quant_default(HnswQuant *qz);
extern void hnsw_quant_fit(HnswQuant *qz, const double *sum,
						   const double *sumsq, const float4 *min,
						   const float4 *max, double n);
extern void hnsw_quant_encode(const HnswQuant *qz, const float4 *v,
							  uint8 *code, float4 *err);
extern void hnsw_quant_decode(const HnswQuant *qz, const uint8 *code,
							  float4 *out);
extern float4 hnsw_quant_distance(const HnswQuant *qz, const float4 *q,
								  const uint8 *code);
extern double hnsw_quant_lower_bound(float4 dist, float4 err, float4 errMax);

/* recent.c */
extern Buffer hnsw_read_buffer(Relation index, BlockNumber blkno);
extern void hnsw_prefetch_block(Relation index, BlockNumber blkno,
								OffsetNumber offno);

/* pages.c */
extern void hnsw_disk_graph_init(HnswDiskGraph *dg, Relation index,
								 const HnswMetaPageData *meta);
extern void hnsw_disk_graph_count(HnswDiskGraph *dg);
extern void hnsw_write_quant(Relation index, const HnswQuant *qz,
							 float4 errMax, bool building);
extern void hnsw_raise_err_max(Relation index, float4 err, bool building);
extern void hnsw_init_page(Page page, uint16 flags);
extern void hnsw_read_meta(Relation index, HnswMetaPageData *meta);
extern void hnsw_fill_meta_page(Page page, int m, int efConstruction);
extern void hnsw_write_meta_page(Relation index, int m, int efConstruction,
								 bool building);
extern void hnsw_update_meta(Relation index, uint64 entry, int entryLevel,
							 BlockNumber insertPage, bool setEntry,
							 bool building);
extern void hnsw_move_free_hint(Relation index, BlockNumber expect,
								BlockNumber blkno);
extern Page hnsw_page_begin(Relation index, Buffer buf, bool building,
							bool fullImage, GenericXLogState **state);
extern void hnsw_page_finish(Buffer buf, bool building,
							 GenericXLogState *state);

/* search.c */
typedef struct tidhash_hash HnswIdSet;
extern HnswIdSet *hnsw_idset_create(void);
extern bool hnsw_idset_add(HnswIdSet *set, uint64 id);
extern bool hnsw_idset_contains(HnswIdSet *set, uint64 id);

/* build.c */
extern IndexBuildResult *hnswbuild(Relation heap, Relation index,
								   IndexInfo *indexInfo);
extern void hnswbuildempty(Relation index);
extern PGDLLEXPORT void hnsw_parallel_build_main(dsm_segment *seg, shm_toc *toc);

/* insert.c */
extern bool hnswinsert(Relation index, Datum *values, bool *isnull,
					   ItemPointer heap_tid, Relation heap,
					   IndexUniqueCheck checkUnique, bool indexUnchanged,
					   IndexInfo *indexInfo);
extern void hnsw_insert_on_disk(Relation index, const float4 *vec,
								ItemPointer heaptid, int efConstruction,
								double u, bool building);
extern bool hnsw_link_back(HnswGraph *g, Relation index, uint64 nb, int lev,
						   uint64 newid, const float4 *newvec,
						   const uint64 *newlinks, int nnewlinks, bool force,
						   bool building);
extern bool hnsw_read_element(Relation index, const HnswQuant *qz, uint64 id,
							  int lev, int m, float4 *vec,
							  ItemPointerData *list, bool *deleted);
extern bool hnsw_write_neighbor_list(Relation index, uint64 id, int lev, int m,
									 ItemPointerData *oldlist,
									 ItemPointerData *newlist, bool building);

/* reuse.c */
extern uint64 hnsw_reuse_slot(Relation index, BlockNumber hint,
							  HnswElementTuple tup, Size size);
extern void hnsw_free_tombstones(Relation index, BufferAccessStrategy strategy);

/* scan.c */
extern IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys);
extern void hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys,
					   ScanKey orderbys, int norderbys);
extern bool hnswgettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnswendscan(IndexScanDesc scan);

/* vacuum.c */
extern IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info,
											 IndexBulkDeleteResult *stats,
											 IndexBulkDeleteCallback callback,
											 void *callback_state);
extern IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats);
extern Page hnsw_vacuum_read_page(Relation index, BlockNumber blkno,
								  BufferAccessStrategy strategy, Buffer *buf);

/* vacuum_relink.c */
extern void hnsw_vacuum_relink(Relation index, BufferAccessStrategy strategy,
							   HnswDiskGraph *dg, HnswIdSet *dead);

#endif							/* FACEID_HNSW_H */
