#!/usr/bin/python3
"""Benchmark (not a test) of open-set identification: face_identify and
face_identify_calibrate.  Run by test/bench/bench_identify.sh on a
throw-away cluster.

1. LFW View 1 (when ../shared/faces is present): DIR and FPIR at the
   default faceid.false_accept_rate, before (the 1:1 threshold reused:
   nearest row, accepted when <-> <= faceid.match_threshold) and after
   (face_identify), for DevTest people and all View 1, one-shot and with
   templates (people with >= 4 photos enrol 3); measured FPIR at other
   rates (the calibration's prediction is the rate itself); enrolment with
   1, 2 and 3 photos.  Protocol as in test/test_identify_lfw.py.
2. Speed on ROWS face-like rows (gen_faces.pl, with a faceid_hnsw index):
   per-query latency of face_identify vs the plain ORDER BY <-> LIMIT 1
   (prepared statements, the same probes, interleaved rounds; medians), and
   the time of face_identify_calibrate.
3. FACEID_BENCH_PART=calibrate: only the calibration time (no index; for
   1M rows: bash test/bench/bench_identify.sh 1000000).
Environment: FACEID_BENCH_DATA (gen_faces.pl output), FACEID_BENCH_ROWS,
FACEID_LFW_ENC (optional: a file of precomputed face_embed encodings,
"name<TAB>num<TAB>[..]|NULL" lines, to skip the 5 minutes of encoding).
"""
import os
import statistics
import sys
import time

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("FACEID_SHARED", os.path.join(ROOT, "..", "shared"))
LFW = os.path.join(SHARED, "faces", "lfw-view1")
RATES = (0.005, 0.01, 0.02, 0.05)


def pair_people(file):
    """Names in a View 1 pairs file."""
    lines = open(os.path.join(LFW, file)).read().split("\n")
    n = int(lines[0])
    names = {l.split()[0] for l in lines[1:1 + n]}
    for l in lines[1 + n:1 + 2 * n]:
        a, _, b, _ = l.split()
        names |= {a, b}
    return names


def load_lfw(cur):
    """Table enc(name, num, e): every View 1 photo's encoding."""
    cur.execute("CREATE TABLE enc (name text, num int, e faceembedding, PRIMARY KEY (name, num))")
    cache = os.environ.get("FACEID_LFW_ENC")
    if cache and os.path.isfile(cache):
        with cur.copy("COPY enc FROM STDIN") as cp:
            for line in open(cache):
                if not line.startswith("#"):
                    name, num, e = line.rstrip("\n").split("\t")
                    cp.write_row((name, int(num), None if e == "NULL" else e))
        print(f"(encodings from {cache})")
        return
    for name in sorted(os.listdir(LFW)):
        d = os.path.join(LFW, name)
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                cur.execute("INSERT INTO enc VALUES (%s, %s, face_embed(%b))",
                            (name, int(f[len(name) + 1:-4]), open(os.path.join(d, f), "rb").read()))


def split(photos, enrol_of):
    """Open-set split: photos {name: [(num, has_face)]}; enrol_of(name, n)
    gives how many photos a multi-photo person enrols.  Returns (gallery
    [(name, num)], genuine [(name, num)], strangers [(name, num)])."""
    gal, gen, strangers = [], [], []
    for name, ph in sorted(photos.items()):
        if len(ph) < 2:
            strangers += [(name, ph[0][0])]
            continue
        k = enrol_of(name, len(ph))
        if k == 0:
            continue
        faces = [num for num, face in ph if face][:k]
        gal += [(name, num) for num in faces]
        gen += [(name, num) for num, _ in ph if num not in faces]
    return gal, gen, strangers


def run_protocol(cur, tag, gal, gen, strangers, template=False):
    """Calibrate a gallery of these rows (template: one row per person, the
    avg() of their photos), answer every probe; print and return
    {rate: (DIR, FPIR, strangers accepted)}."""
    cur.execute("DROP TABLE IF EXISTS gal, probes")
    cur.execute("CREATE TABLE gal (label text, num int)")
    with cur.copy("COPY gal FROM STDIN") as cp:
        for row in gal:
            cp.write_row(row)
    cur.execute("ALTER TABLE gal ADD COLUMN embedding faceembedding")
    cur.execute("UPDATE gal SET embedding = enc.e FROM enc WHERE enc.name = gal.label AND enc.num = gal.num")
    if template:
        cur.execute("CREATE TABLE galt AS SELECT label, avg(embedding) AS embedding FROM gal GROUP BY label")
        cur.execute("DROP TABLE gal")
        cur.execute("ALTER TABLE galt RENAME TO gal")
    cur.execute("CREATE INDEX ON gal USING faceid_hnsw (embedding)")
    cur.execute("ANALYZE gal")
    cur.execute("CREATE TABLE probes (label text, num int, genuine bool)")
    with cur.copy("COPY probes FROM STDIN") as cp:
        for name, num in gen:
            cp.write_row((name, num, True))
        for name, num in strangers:
            cp.write_row((name, num, False))
    cur.execute("SELECT labels, samples FROM face_identify_calibrate('gal', 'label')")
    labels, samples = cur.fetchone()
    cur.execute("""
        SELECT p.genuine, p.label = r.label, r.false_accept,
               (SELECT g.embedding <-> x.e <= current_setting('faceid.match_threshold')::float8
                       AND g.label = p.label
                FROM gal g ORDER BY g.embedding <-> x.e LIMIT 1),
               (SELECT g.embedding <-> x.e <= current_setting('faceid.match_threshold')::float8
                FROM gal g ORDER BY g.embedding <-> x.e LIMIT 1)
        FROM probes p JOIN enc x ON x.name = p.label AND x.num = p.num
        LEFT JOIN LATERAL face_identify(x.e, 'gal', 'label') r ON true""")
    rows = cur.fetchall()
    ngen = sum(1 for r in rows if r[0])
    nstr = len(rows) - ngen
    out = {}
    for rate in RATES:
        right = sum(1 for r in rows if r[0] and r[1] and r[2] <= rate)
        acc = sum(1 for r in rows if not r[0] and r[2] is not None and r[2] <= rate)
        out[rate] = (right / ngen, acc / nstr, acc)
    before_dir = sum(1 for r in rows if r[0] and r[3]) / ngen
    before_fpir = sum(1 for r in rows if not r[0] and r[4]) / nstr
    d, f, acc = out[0.01]
    cur.execute("SELECT count(*) FROM gal")
    nrows = cur.fetchone()[0]
    print(f"| {tag} | {labels} / {nrows} / {ngen} / {nstr} | {before_fpir:.1%} | {before_dir:.3f} | "
          f"**{f:.2%}** ({acc}) | **{d:.3f}** | " +
          " ".join(f"{r:.1%}→{out[r][1]:.2%}" for r in RATES if r != 0.01) + " |")
    return out


def lfw(cur):
    """Part 1: the LFW tables."""
    if not os.path.isfile(os.path.join(LFW, "pairsDevTest.txt")):
        print(f"SKIP: {LFW} absent: LFW part not measured")
        return
    load_lfw(cur)
    cur.execute("SELECT name, num, e IS NOT NULL FROM enc ORDER BY name, num")
    photos = {}
    for name, num, face in cur.fetchall():
        photos.setdefault(name, []).append((num, face))
    test, train = pair_people("pairsDevTest.txt"), pair_people("pairsDevTrain.txt")
    pops = (("DevTest people", test), ("all View 1", test | train))
    print("\nLFW View 1, default faceid.false_accept_rate = 1% (before: nearest row within faceid.match_threshold)\n")
    print("| people, enrolment | labels / gallery rows / genuine / strangers | FPIR before | DIR before | "
          "FPIR after (strangers accepted) | DIR after | measured FPIR at other rates |")
    print("|---|---|---|---|---|---|---|")
    for pname, pop in pops:
        sub = {n: p for n, p in photos.items() if n in pop}
        run_protocol(cur, f"{pname}, one-shot", *split(sub, lambda n, k: 1))
        # templates: people with >= 4 photos enrol 3 (everyone else 1); DIR
        # on the other photos of the >= 4 people only
        gal, gen, strangers = split(sub, lambda n, k: 3 if k >= 4 else 1)
        many = {n for n, p in sub.items() if len(p) >= 4}
        run_protocol(cur, f"{pname}, ≥4 photos enrol 3 rows", gal,
                     [g for g in gen if g[0] in many], strangers)
        run_protocol(cur, f"{pname}, ≥4 photos enrol the avg of 3 (template)", gal,
                     [g for g in gen if g[0] in many], strangers, template=True)
    print("\nEnrolment with 1, 2, 3 photos (people with ≥ 4 photos; the same probes: their photos after the 3rd)\n")
    print("| people, photos enrolled | labels / gallery rows / genuine / strangers | FPIR before | DIR before | "
          "FPIR after (strangers accepted) | DIR after | measured FPIR at other rates |")
    print("|---|---|---|---|---|---|---|")
    for pname, pop in pops:
        sub = {n: p for n, p in photos.items() if n in pop}
        many = {n for n, p in sub.items() if len(p) >= 4}
        for k in (1, 2, 3):
            gal, gen, strangers = split(sub, lambda n, c: (k if n in many else 1))
            probes = [(n, num) for n, num in gen if n in many and
                      num not in [x for x, _ in sub[n][:3]]]
            run_protocol(cur, f"{pname}, {k} photo{'s' if k > 1 else ''}", gal, probes, strangers)
            if k > 1:
                run_protocol(cur, f"{pname}, avg of {k} photos", gal, probes, strangers, template=True)


def median_ms(cur, sql, probes):
    """Median per-query wall time (ms) of a prepared statement over probes."""
    times = []
    for p in probes:
        t0 = time.perf_counter()
        cur.execute(sql, (p,), prepare=True)
        cur.fetchall()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def calibrate_only(cur):
    """Part 3 (FACEID_BENCH_PART=calibrate, e.g. 1M rows): the time of
    face_identify_calibrate alone (it needs no index), twice."""
    data = os.environ["FACEID_BENCH_DATA"]
    rows = int(os.environ.get("FACEID_BENCH_ROWS", "100000"))
    cur.execute("CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding)")
    with open(os.path.join(data, "faces.copy")) as f, cur.copy("COPY faces FROM STDIN") as cp:
        for chunk in iter(lambda: f.read(1 << 20), ""):
            cp.write(chunk)
    cur.execute("VACUUM ANALYZE faces")
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        cur.execute("SELECT labels, photos, samples FROM face_identify_calibrate('faces', 'ident', 'e')")
        labels, photos, samples = cur.fetchone()
        times.append(time.perf_counter() - t0)
    print(f"\n{rows} face-like rows ({labels} people): face_identify_calibrate "
          f"{' s, '.join(f'{t:.1f}' for t in times)} s ({samples} leave-one-label-out strangers; two runs)")


def speed(cur):
    """Part 2: latency on the face-like gallery and calibration time."""
    data = os.environ["FACEID_BENCH_DATA"]
    rows = int(os.environ.get("FACEID_BENCH_ROWS", "100000"))
    cur.execute("CREATE TABLE faces (id int PRIMARY KEY, ident int, e faceembedding)")
    cur.execute("CREATE TABLE known (qid int PRIMARY KEY, ident int, e faceembedding)")
    cur.execute("CREATE TABLE unknown (qid int PRIMARY KEY, ident int, e faceembedding)")
    for t in ("faces", "known", "unknown"):
        with open(os.path.join(data, f"{t}.copy")) as f, cur.copy(f"COPY {t} FROM STDIN") as cp:
            for chunk in iter(lambda: f.read(1 << 20), ""):
                cp.write(chunk)
    cur.execute("VACUUM ANALYZE faces")
    t0 = time.perf_counter()
    cur.execute("CREATE INDEX ON faces USING faceid_hnsw (e)")
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    cur.execute("SELECT labels, photos, samples FROM face_identify_calibrate('faces', 'ident', 'e')")
    labels, photos, samples = cur.fetchone()
    calib = time.perf_counter() - t0
    print(f"\n{rows} face-like rows ({labels} people), faceid_hnsw index built in {build:.1f} s; "
          f"face_identify_calibrate: {calib:.1f} s ({samples} leave-one-label-out strangers)")
    cur.execute("SELECT e::text FROM known ORDER BY qid LIMIT 150")
    probes = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT e::text FROM unknown ORDER BY qid LIMIT 50")
    probes += [r[0] for r in cur.fetchall()]
    plain = "SELECT ident FROM faces ORDER BY e <-> %s::faceembedding LIMIT 1"
    ident = "SELECT label, accepted FROM face_identify(%s::faceembedding, 'faces', 'ident', 'e')"
    cur.execute("EXPLAIN (COSTS OFF) " + plain.replace("%s", "'" + probes[0] + "'"))
    uses_index = any("Index Scan" in r[0] for r in cur.fetchall())
    median_ms(cur, plain, probes[:20])      # warm up both
    median_ms(cur, ident, probes[:20])
    res = {"plain": [], "identify": []}
    for _ in range(3):                      # interleaved rounds
        res["plain"].append(median_ms(cur, plain, probes))
        res["identify"].append(median_ms(cur, ident, probes))
    p, i = statistics.median(res["plain"]), statistics.median(res["identify"])
    print(f"per query (median of 3 rounds of {len(probes)} probes, prepared, client round trip included; "
          f"plain query uses the index: {uses_index}):")
    print(f"  ORDER BY e <-> q LIMIT 1: {p:.3f} ms   face_identify: {i:.3f} ms   ratio {i / p:.2f}x")


def main():
    with psycopg.connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS faceid")
        if os.environ.get("FACEID_BENCH_PART", "all") in ("all", "lfw"):
            lfw(cur)
        if os.environ.get("FACEID_BENCH_PART", "all") in ("all", "speed"):
            speed(cur)
        if os.environ.get("FACEID_BENCH_PART", "all") == "calibrate":
            calibrate_only(cur)
    return 0


if __name__ == "__main__":
    sys.exit(main())
