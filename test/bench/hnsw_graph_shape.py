#!/usr/bin/env python3
"""Shape of a faceid_hnsw graph as written on disk, per level: elements,
in-degree (min, how many have none, how many fewer than the build's
minimum HnswMinInDegree, median) and, given each heap row's group
(a person's photos), how many groups have no member above level 0.

  hnsw_graph_shape.py PAGES GROUPS

PAGES: COPY output of (blkno, encode(get_raw_page(index, blkno), 'hex'))
for every block (pageinspect); GROUPS: COPY output of (ctid, group) of the
heap.  Element tuples: hnsw.h HnswElementTupleData (level, deleted, heap
TID, err, 128-byte code, then neighbour TIDs: 2m on levels 0 and 1, m above).
"""
import statistics
import struct
import sys

NEIGHBORS_AT = 144          # offsetof(HnswElementTupleData, neighbors)
PAGE_META = 0x0001


def tid(b, o):
    hi, lo, pos = struct.unpack_from('<HHH', b, o)
    return (hi << 16) | lo, pos


def elements(pages_file):
    """Yield (index TID, level, heap TID, neighbour TIDs) of live elements."""
    for line in open(pages_file):
        blk, hexpage = line.split('\t')
        blk = int(blk)
        page = bytes.fromhex(hexpage.strip().replace('\\x', ''))
        lower, upper, special = struct.unpack_from('<HHH', page, 12)
        if struct.unpack_from('<H', page, special)[0] & PAGE_META:
            continue
        for k in range((lower - 24) // 4):
            lp = struct.unpack_from('<I', page, 24 + 4 * k)[0]
            off, flags, ln = lp & 0x7FFF, (lp >> 15) & 3, lp >> 17
            if flags != 1:
                continue
            t = page[off:off + ln]
            if t[1] != 0:       # deleted or free
                continue
            nbs = [tid(t, o) for o in range(NEIGHBORS_AT, ln - 5, 6)]
            yield (blk, k + 1), t[0], tid(t, 4), nbs


def main():
    pages_file, groups_file = sys.argv[1:3]
    group = {}
    for line in open(groups_file):
        ctid, g = line.split('\t')
        b, o = ctid.strip('()').split(',')
        group[(int(b), int(o))] = int(g)
    elems = list(elements(pages_file))
    level0 = [e for e in elems if e[1] == 0]
    # 2m slots on level 0: the tuple of a level-0 element has only those
    m = len(level0[0][3]) // 2 if level0 else 16
    top = max(e[1] for e in elems)
    out = []
    for lev in range(top + 1):
        on = [e for e in elems if e[1] >= lev]
        start = 0 if lev == 0 else (2 * m if lev == 1 else 4 * m + (lev - 2) * m)
        slots = 2 * m if lev <= 1 else m
        indeg = {e[0]: 0 for e in on}
        for e in on:
            for nb in e[3][start:start + slots]:
                if nb in indeg:
                    indeg[nb] += 1
        d = sorted(indeg.values())
        minin = slots // 4 if lev == 0 else 3 * slots // 8  # HnswMinInDegree
        out.append('L%d %d indeg min %d zero %d below%d %d median %g' %
                   (lev, len(on), d[0], sum(1 for x in d if x == 0), minin,
                    sum(1 for x in d if x < minin), statistics.median(d)))
    groups = set(group.values())
    up = {}
    for e in elems:
        if e[1] >= 1 and e[2] in group:
            up[group[e[2]]] = up.get(group[e[2]], 0) + 1
    out.append('groups %d without_L1 %d with_2plus_L1 %d' %
               (len(groups), len(groups - set(up)),
                sum(1 for v in up.values() if v >= 2)))
    print(' | '.join(out))


main()
