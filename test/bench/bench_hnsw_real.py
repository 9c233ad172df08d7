#!/usr/bin/python3
"""Benchmark (not a test) of faceid_hnsw on real encodings, against the
synthetic face-like encodings of gen_faces.pl at the same size.

Real encodings: every labelled photo under ../shared/faces through
face_embed (LFW View 1, dlib's "johns", face-api's BBT crops, the
face_recognition known people, AT&T/ORL), labelled by person.  Protocol:
each person with two or more photos gives their last photo as an enrolled
query ("known") and the others to the gallery; people with one photo go
alternately to the gallery (distractors) or to the unknown queries.

Synthetic: gen_faces.pl with as many gallery rows (10 photos a person), the
same number of known and unknown queries.

Reported for each set, with the default index (m 16, ef_construction 64):
top-1 identity of the exact scan and of the index at several
faceid.ef_search values, recall@10 against the exact scan for known and
unknown queries, and two measures of how hard the set is for a graph
search (medians over the queries, from the exact scan): relative contrast
(mean distance to the gallery / distance to the nearest row) and local
intrinsic dimensionality (the MLE over the 20 nearest rows).

Run: bash test/bench/bench_hnsw_real.sh   (a throw-away cluster)
Encodings are cached in FACEID_REAL_ENC (default .cache/real_encodings.tsv)
and recomputed when the file is missing.
"""
import hashlib
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("FACEID_SHARED", os.path.join(ROOT, "..", "shared"))
FACES = os.path.join(SHARED, "faces")
CACHE = os.environ.get("FACEID_REAL_ENC", os.path.join(ROOT, ".cache", "real_encodings.tsv"))
EFS = [10, 20, 40, 80, 160]


def labelled_photos():
    """(label, path) for every labelled photo under ../shared/faces."""
    out = []

    def people(folder, prefix, exts=(".jpg",)):
        if not os.path.isdir(folder):
            return
        for name in sorted(os.listdir(folder)):
            d = os.path.join(folder, name)
            if not os.path.isdir(d):
                continue
            for f in sorted(os.listdir(d)):
                if f.lower().endswith(exts):
                    out.append((prefix + name, os.path.join(d, f)))

    # LFW and dlib's johns share LFW's naming: one person, one label.
    people(os.path.join(FACES, "lfw-view1"), "")
    people(os.path.join(FACES, "dlib_examples", "examples", "johns"), "")
    people(os.path.join(FACES, "faceapi_bbt", "jpeg"), "bbt:")
    people(os.path.join(FACES, "face_recognition_examples", "examples", "knn_examples", "train"), "fr:",
           (".jpg", ".jpeg", ".png"))
    people(os.path.join(FACES, "att_faces", "jpeg"), "att:")
    return out


def encode(conn):
    """label -> list of encodings (text), from the cache or face_embed."""
    if not os.path.exists(CACHE):
        photos = labelled_photos()
        t0 = time.time()
        os.makedirs(os.path.dirname(CACHE), exist_ok=True)
        tmp = CACHE + ".tmp"
        with open(tmp, "w") as f, conn.cursor() as cur:
            for i, (label, path) in enumerate(photos):
                cur.execute("SELECT face_embed(%b)::text", (open(path, "rb").read(),))
                e = cur.fetchone()[0]
                if e is not None:
                    f.write(f"{label}\t{os.path.relpath(path, FACES)}\t{e}\n")
                if i % 1000 == 999:
                    print(f"  encoded {i + 1}/{len(photos)} photos", flush=True)
        os.rename(tmp, CACHE)
        print(f"encoded {len(photos)} photos in {time.time() - t0:.0f} s into {CACHE}")
    enc = {}
    for line in open(CACHE):
        label, _, e = line.rstrip("\n").split("\t")
        enc.setdefault(label, []).append(e)
    return enc


def split_real(enc):
    """gallery [(ident, e)], known [(ident, e)], unknown [(ident, e)]."""
    ids = {label: i + 1 for i, label in enumerate(sorted(enc))}
    gallery, known, unknown = [], [], []
    for label in sorted(enc):
        es, i = enc[label], ids[label]
        if len(es) >= 2:
            gallery += [(i, e) for e in es[:-1]]
            known.append((i, es[-1]))
        elif int(hashlib.sha1(label.encode()).hexdigest(), 16) % 2:
            gallery.append((i, es[0]))
        else:
            unknown.append((-i, es[0]))
    return gallery, known, unknown


def synthetic(rows, nknown, nunknown):
    """The same shape from gen_faces.pl (10 photos a person, seed 42)."""
    d = tempfile.mkdtemp(prefix="faceid_real_synth.")
    subprocess.run(["perl", os.path.join(HERE, "gen_faces.pl"), str(max(rows // 10, 1)), "10",
                    str(nknown), str(nunknown), "42", d], check=True)

    def read(name):
        out = []
        for line in open(os.path.join(d, name)):
            _, ident, e = line.rstrip("\n").split("\t")
            out.append((int(ident), e))
        return out

    return read("faces.copy"), read("known.copy"), read("unknown.copy")


def load(cur, gallery, known, unknown):
    """Tables g (id, ident, e) with the default index, kq and uq (ident, e)."""
    cur.execute("DROP TABLE IF EXISTS g, kq, uq")
    cur.execute("CREATE TABLE g (id int PRIMARY KEY, ident int, e faceembedding)")
    cur.execute("CREATE TABLE kq (qid int PRIMARY KEY, ident int, e faceembedding)")
    cur.execute("CREATE TABLE uq (qid int PRIMARY KEY, ident int, e faceembedding)")
    for table, rows in (("g", gallery), ("kq", known), ("uq", unknown)):
        with cur.copy(f"COPY {table} FROM STDIN") as cp:
            for n, (ident, e) in enumerate(rows):
                cp.write_row((n + 1, ident, e))
    cur.execute("CREATE INDEX ON g USING faceid_hnsw (e)")
    cur.execute("VACUUM ANALYZE g, kq, uq")


def neighbours(cur, table, k, exact):
    """qid -> [(ident, distance)] of the k nearest gallery rows."""
    cur.execute(f"SET enable_indexscan = {'off' if exact else 'on'}")
    cur.execute(f"SET enable_seqscan = {'on' if exact else 'off'}")
    cur.execute(f"""SELECT q.qid, n.ident, n.d FROM {table} q CROSS JOIN LATERAL
                    (SELECT g.ident, g.e <-> q.e AS d FROM g ORDER BY g.e <-> q.e LIMIT {k}) n
                    ORDER BY q.qid, n.d""")
    out = {}
    for qid, ident, d in cur.fetchall():
        out.setdefault(qid, []).append((ident, d))
    return out


def hardness(cur, table, exact20):
    """Medians of relative contrast and LID over the queries of table."""
    cur.execute(f"SELECT q.qid, avg(g.e <-> q.e) FROM {table} q, g GROUP BY q.qid")
    mean = dict(cur.fetchall())
    rc, lid = [], []
    for qid, nn in exact20.items():
        ds = [math.sqrt(max(d, 0.0)) for _, d in nn]   # <-> is squared L2
        if ds[0] > 0:
            rc.append(math.sqrt(mean[qid]) / ds[0])
        logs = [math.log(ds[-1] / x) for x in ds[:-1] if x > 0]
        if logs and sum(logs) > 0:
            lid.append(len(logs) / sum(logs))
    return statistics.median(rc), statistics.median(lid)


def measure(cur, name, gallery, known, unknown):
    """Print one set's figures."""
    load(cur, gallery, known, unknown)
    ex = {t: neighbours(cur, t, 20, True) for t in ("kq", "uq")}
    cur.execute("SELECT qid, ident FROM kq")
    ident = dict(cur.fetchall())
    rc_k, lid_k = hardness(cur, "kq", ex["kq"])
    rc_u, lid_u = hardness(cur, "uq", ex["uq"])
    top1_exact = sum(ex["kq"][q][0][0] == ident[q] for q in ident) / len(ident)
    print(f"\n{name}: {len(gallery)} gallery rows, {len(known)} known and {len(unknown)} unknown queries")
    print(f"  relative contrast (median) known {rc_k:.3f}, unknown {rc_u:.3f}; "
          f"LID@20 known {lid_k:.1f}, unknown {lid_u:.1f}")
    print(f"  exact scan top-1 identity {top1_exact:.3f}")
    print("  | ef_search | top-1 | recall@10 known | recall@10 unknown |")
    print("  |---|---|---|---|")
    for ef in EFS:
        cur.execute(f"SET faceid.ef_search = {ef}")
        got = {t: neighbours(cur, t, 10, False) for t in ("kq", "uq")}
        top1 = sum(got["kq"].get(q, [(None, 0)])[0][0] == ident[q] for q in ident) / len(ident)
        rec = {}
        for t in ("kq", "uq"):
            hit = tot = 0
            for q, nn in ex[t].items():
                want = sorted(d for _, d in nn)[:10]
                have = [d for _, d in got[t].get(q, [])]
                # Count by distance (ties between rows are equal answers).
                hit += sum(1 for d in have if d <= want[-1] + 1e-7)
                tot += len(want)
            rec[t] = hit / tot
        print(f"  | {ef} | {top1:.3f} | {rec['kq']:.4f} | {rec['uq']:.4f} |")
    cur.execute("RESET faceid.ef_search")


def main():
    if not os.path.isdir(FACES):
        print(f"SKIP: {FACES} is absent (real encodings need the labelled photos)")
        return 0
    with psycopg.connect("dbname=postgres", autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS faceid")
            cur.execute("SET max_parallel_workers_per_gather = 0")
        enc = encode(conn)
        gallery, known, unknown = split_real(enc)
        with conn.cursor() as cur:
            cur.execute("SET max_parallel_workers_per_gather = 0")
            measure(cur, "real encodings (../shared/faces)", gallery, known, unknown)
            sg, sk, su = synthetic(len(gallery), len(known), len(unknown))
            measure(cur, "synthetic (gen_faces.pl), same size", sg, sk, su)
    return 0


if __name__ == "__main__":
    sys.exit(main())
