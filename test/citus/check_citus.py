#!/usr/bin/python3
"""faceid on a Citus cluster (coordinator + 2 workers), run by run_test.sh.

Connects to the coordinator on CITUS_PORT (workers on +1 and +2) as the
superuser postgres, and checks what README's "Scale-out with Citus" says:
  - CREATE EXTENSION faceid reaches the workers; faceid_verifier becomes a
    reference table with a placement on every node;
  - face_embed_trigger on a distributed table (citus.enable_unsafe_triggers)
    fills the embeddings on the workers for real photos (../shared/faces);
  - INSERT ... SELECT face_embed(photo) runs on the shards, and its
    ON CONFLICT form refreshes embeddings; UPDATE ... = face_embed(photo) is
    refused by Citus (documented);
  - a head trained by face_verify_train on the coordinator works in a
    face_verify pushed to the shards, equal to the coordinator's; retraining
    and the ownership rules hold there too;
  - face_identify_calibrate / face_identify on a distributed gallery;
  - how faceid.ef_search reaches the shards (SET LOCAL with
    citus.propagate_set_commands, ALTER DATABASE / ROLE ... SET);
  - recall@10 and top-1 identity on CITUS_ROWS face-like rows (32 shards)
    against one node's faceid_hnsw, and the per-shard plans;
  - exact text round trip of denormals, -0 and FLT_MAX pushed down.
Prints figures as "citus: ..." lines.  Ends with "N passed, M failed".
"""
import os
import struct
import subprocess
import sys
import tempfile
import time

import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, done  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("FACEID_SHARED", os.path.join(ROOT, "..", "shared"))
FACES = os.path.join(SHARED, "faces")
LFW = os.path.join(FACES, "lfw-view1")
PORT = int(os.environ["CITUS_PORT"])
ROWS_IDENT = int(os.environ.get("CITUS_IDENTITIES", "8000"))  # x 5 photos each
NQUERIES = int(os.environ.get("CITUS_QUERIES", "400"))


def connect(port=PORT, user="postgres"):
    """An autocommit connection to one node.  No automatic server-side
    prepared statements: a plan cached under SET LOCAL enable_* would
    outlive the transaction that set it."""
    return psycopg.connect(host="127.0.0.1", port=port, user=user, dbname="postgres",
                           autocommit=True, prepare_threshold=None)


def one(conn, sql, params=None):
    """The first column of the first row."""
    return conn.execute(sql, params).fetchone()[0]


def error_of(conn, sql, params=None):
    """The error message sql raises, or None."""
    try:
        conn.execute(sql, params)
    except psycopg.Error as e:
        return str(e)
    return None


def plan(conn, sql, analyze=False):
    """EXPLAIN text of sql (every task shown; constants inline: Citus cannot
    EXPLAIN parameters)."""
    opts = "ANALYZE, TIMING OFF, SUMMARY OFF" if analyze else "VERBOSE, COSTS OFF"
    conn.execute("SET citus.explain_all_tasks = on")
    rows = conn.execute(f"EXPLAIN ({opts}) {sql}").fetchall()
    conn.execute("RESET citus.explain_all_tasks")
    return "\n".join(r[0] for r in rows)


def worker_values(conn, sql):
    """run_command_on_workers(sql): the set of its results."""
    return {r[0] for r in conn.execute("SELECT result FROM run_command_on_workers(%s)", (sql,))}


def setup(c):
    """faceid on every node, faceid_verifier as a reference table."""
    c.execute("CREATE EXTENSION faceid")
    check(worker_values(c, "SELECT extversion FROM pg_extension WHERE extname = 'faceid'") ==
          {one(c, "SELECT extversion FROM pg_extension WHERE extname = 'faceid'")},
          "CREATE EXTENSION faceid reaches both workers")
    c.execute("SELECT create_reference_table('faceid_verifier')")
    c.execute("SELECT truncate_local_data_after_distributing_table('faceid_verifier')")
    placements = one(c, """SELECT count(DISTINCT p.groupid) FROM pg_dist_shard s
        JOIN pg_dist_placement p USING (shardid) WHERE s.logicalrelid = 'faceid_verifier'::regclass""")
    check(placements == 3, f"faceid_verifier has a placement on all 3 nodes ({placements})")
    check(one(c, "SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = 'faceid_verifier'::regclass") == "n",
          "faceid_verifier is a reference table")


def lfw_photos():
    """24 LFW photos: 12 people, two photos each (same-person pairs of pairsDevTest.txt)."""
    lines = open(os.path.join(LFW, "pairsDevTest.txt")).read().split("\n")[1:501]
    out, seen = [], set()
    for name, i, j in (l.split() for l in lines):
        if name in seen:
            continue
        seen.add(name)
        for k in (i, j):
            out.append((name, open(os.path.join(LFW, name, f"{name}_{int(k):04d}.jpg"), "rb").read()))
        if len(seen) == 12:
            break
    return out


def rows_per_worker(c, table):
    """{worker port: row count} over table's shard placements."""
    rows = c.execute("""SELECT s.nodeport, sum(r.result::bigint)
        FROM run_command_on_shards(%s, 'SELECT count(*) FROM %%s') r
        JOIN citus_shards s ON s.shardid = r.shardid GROUP BY 1""", (table,)).fetchall()
    return dict(rows)


def trigger_checks(c, photos, local_emb):
    """face_embed_trigger on a distributed table, on the workers."""
    c.execute("CREATE TABLE people (id int PRIMARY KEY, name text, photo bytea, embedding faceembedding)")
    c.execute("SELECT create_distributed_table('people', 'id')")
    trig = ("CREATE TRIGGER people_embed BEFORE INSERT OR UPDATE ON people "
            "FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding)")
    err = error_of(c, trig)
    check(err is not None and "not supported on distributed tables" in err,
          f"without citus.enable_unsafe_triggers Citus refuses the trigger ({err})")
    c.execute("SET citus.enable_unsafe_triggers = on")
    c.execute(trig)
    # a table that already has the trigger can be distributed too
    c.execute("CREATE TABLE people2 (id int PRIMARY KEY, photo bytea, embedding faceembedding)")
    c.execute("CREATE TRIGGER people2_embed BEFORE INSERT OR UPDATE ON people2 "
              "FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding)")
    err = error_of(c, "SELECT create_distributed_table('people2', 'id', colocate_with => 'people')")
    check(err is None, f"a table with the trigger can be distributed ({err})")
    c.execute("RESET citus.enable_unsafe_triggers")
    shard_trig = worker_values(c, """SELECT count(*) FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
        WHERE r.relname ~ '^people_[0-9]+$' AND t.tgname ~ '^people_embed'""")
    check(shard_trig == {"16"}, f"each worker's 16 shards of people have the trigger ({shard_trig})")

    zero = "[" + ",".join(["0"] * 128) + "]"
    for i, (name, jpg) in enumerate(photos):
        # a supplied embedding is overridden when there is a photo
        c.execute("INSERT INTO people VALUES (%s, %s, %s, %s)", (i, name, jpg, zero))
        c.execute("INSERT INTO people2 VALUES (%s, %s, NULL)", (i, jpg))
    got = dict(c.execute("SELECT id, embedding::text FROM people").fetchall())
    same = sum(1 for i in range(len(photos)) if got.get(i) == local_emb[i])
    check(same == len(photos) and all(local_emb), f"the trigger on the shards stored face_embed(photo) "
          f"for {same}/{len(photos)} real photos, bit for bit")
    got2 = dict(c.execute("SELECT id, embedding::text FROM people2").fetchall())
    check(all(got2.get(i) == local_emb[i] for i in range(len(photos))),
          "the trigger of a table distributed with it fills embeddings too")
    per = rows_per_worker(c, "people")
    check(len(per) == 2 and all(v > 0 for v in per.values()), f"rows on both workers {per}")

    # UPDATE: a new photo is re-encoded; a NULL photo clears the embedding
    c.execute("UPDATE people SET photo = %s WHERE id = 0", (photos[1][1],))
    check(one(c, "SELECT embedding::text FROM people WHERE id = 0") == local_emb[1],
          "UPDATE of the photo re-encodes on the worker")
    c.execute("UPDATE people SET photo = NULL WHERE id = 0")
    check(one(c, "SELECT embedding IS NULL FROM people WHERE id = 0"), "a NULL photo clears the embedding")
    nonface = os.path.join(FACES, "negatives_nonface", "plain")
    jpg = open(os.path.join(nonface, sorted(f for f in os.listdir(nonface) if f.endswith(".jpg"))[0]), "rb").read()
    c.execute("INSERT INTO people VALUES (100, 'nobody', %s, %s)", (jpg, zero))
    check(one(c, "SELECT embedding IS NULL FROM people WHERE id = 100"), "a photo with no face stores NULL")
    err = error_of(c, "INSERT INTO people VALUES (101, 'corrupt', %s, NULL)", (photos[0][1][:2000],))
    check(err is not None and one(c, "SELECT count(*) FROM people WHERE id = 101") == 0,
          f"a corrupt photo raises on the worker and writes no row ({err and err.splitlines()[0]})")
    c.execute("DELETE FROM people WHERE id >= 100")
    c.execute("CREATE INDEX CONCURRENTLY people_hnsw ON people USING faceid_hnsw (embedding) "
              "WITH (m = 8, ef_construction = 32)")
    idx = {r[0] for r in c.execute("""SELECT result FROM run_command_on_shards('people',
        $$SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
          WHERE i.indrelid = '%s'::regclass AND a.amname = 'faceid_hnsw'
            AND c.reloptions @> '{m=8,ef_construction=32}'$$)""")}
    check(idx == {"1"}, f"CREATE INDEX CONCURRENTLY ... WITH (m, ef_construction) builds one index per shard ({idx})")
    c.execute("UPDATE people SET photo = %s WHERE id = 0", (photos[0][1],))


def insert_select_checks(c, photos, local_emb):
    """INSERT ... SELECT face_embed(photo) on the shards, and its refresh form."""
    c.execute("CREATE TABLE uploads (id int PRIMARY KEY, photo bytea)")
    c.execute("SELECT create_distributed_table('uploads', 'id', colocate_with => 'people')")
    c.execute("CREATE TABLE gallery (id int PRIMARY KEY, embedding faceembedding)")
    c.execute("SELECT create_distributed_table('gallery', 'id', colocate_with => 'people')")
    for i, (_, jpg) in enumerate(photos):
        c.execute("INSERT INTO uploads VALUES (%s, %s)", (i, jpg))
    ins = "INSERT INTO gallery (id, embedding) SELECT id, face_embed(photo) FROM uploads"
    p = plan(c, ins)
    pushed = "Task Count: 32" in p and "INSERT/SELECT method" not in p and "Insert on public.gallery_" in p
    check(pushed, "INSERT ... SELECT face_embed(photo) is pushed to the 32 shards:\n" + p[:600])
    c.execute(ins)
    got = dict(c.execute("SELECT id, embedding::text FROM gallery").fetchall())
    check(all(got.get(i) == local_emb[i] for i in range(len(photos))),
          "INSERT ... SELECT face_embed(photo) stores the same encodings as one node")
    refresh = ("INSERT INTO gallery AS g (id, embedding) SELECT id, face_embed(photo) FROM uploads "
               "ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding")
    c.execute("UPDATE gallery SET embedding = NULL")
    p = plan(c, refresh)
    check("Task Count: 32" in p and "INSERT/SELECT method" not in p, "the ON CONFLICT refresh is pushed down")
    c.execute(refresh)
    got = dict(c.execute("SELECT id, embedding::text FROM gallery").fetchall())
    check(all(got.get(i) == local_emb[i] for i in range(len(photos))), "the ON CONFLICT refresh re-encodes")
    err = error_of(c, "UPDATE gallery g SET embedding = face_embed(u.photo) FROM uploads u WHERE g.id = u.id")
    check(err is not None and "STABLE functions used in UPDATE" in err,
          f"Citus refuses UPDATE ... SET embedding = face_embed(photo) (documented): {err}")


def verifier_checks(c, photos):
    """A user-trained head in face_verify pushed to the shards."""
    people = c.execute("SELECT id, name, embedding::text FROM people ORDER BY id").fetchall()
    c.execute("CREATE TABLE vpairs (i int, a faceembedding, b faceembedding, same bool)")
    for x in people:
        for y in people:
            if x[0] < y[0]:
                c.execute("INSERT INTO vpairs VALUES (%s, %s, %s, %s)",
                          (x[0] * 100 + y[0], x[2], y[2], x[1] == y[1]))
    c.execute("CREATE TABLE vpairs_local AS SELECT * FROM vpairs")
    c.execute("SELECT create_distributed_table('vpairs', 'i')")
    c.execute("SELECT truncate_local_data_after_distributing_table('vpairs')")
    n = one(c, "SELECT count(*) FROM vpairs")
    r = c.execute("SELECT pairs, accuracy FROM face_verify_train('office', 'SELECT a, b, same FROM vpairs')").fetchone()
    check(r[0] == n, f"face_verify_train reads the distributed pairs ({r[0]} of {n}, accuracy {r[1]:.3f})")
    on = worker_values(c, "SELECT count(*) FROM faceid_verifier WHERE name = 'office'")
    check(on == {"1"}, f"the head is in every worker's placement ({on})")

    q = "SELECT i, face_verify(a, b, 'office') FROM {} ORDER BY i"
    p = plan(c, q.format("vpairs"))
    check("face_verify(a, b, 'office'::text)" in p and "Task Count: 32" in p,
          "face_verify(a, b, 'office') is evaluated on the shards")
    dist = c.execute(q.format("vpairs")).fetchall()
    local = c.execute(q.format("vpairs_local")).fetchall()
    check(dist == local and len(dist) == n, "pushed-down face_verify equals the coordinator's, bit for bit")
    right = sum(1 for (i, pr), (_, s) in zip(dist, c.execute("SELECT i, same FROM vpairs_local ORDER BY i"))
                if (pr >= 0.5) == s)
    check(right >= 0.9 * n, f"the head separates the real pairs ({right}/{n})")

    # retraining on the coordinator reaches the shards' next query
    c.execute("SELECT face_verify_train('office', 'SELECT a, b, NOT same FROM vpairs')")
    dist2 = c.execute(q.format("vpairs")).fetchall()
    check(dist2 != dist and dist2 == c.execute(q.format("vpairs_local")).fetchall(),
          "a retrained head is used by the next pushed-down query")
    c.execute("UPDATE faceid_verifier SET bias = bias + 1 WHERE name = 'office'")
    check(c.execute(q.format("vpairs")).fetchall() == c.execute(q.format("vpairs_local")).fetchall(),
          "a superuser's direct UPDATE of a head reaches the shards")
    check(c.execute(q.format("vpairs").replace("'office'", "'default'")).fetchall() ==
          c.execute(q.format("vpairs_local").replace("'office'", "'default'")).fetchall(),
          "the shipped 'default' head works on the shards")
    err = error_of(c, q.format("vpairs").replace("'office'", "'nope'"))
    check(err is not None and 'verifier "nope" does not exist' in err, f"an unknown head: {err}")

    # ownership: alice trains her own head, cannot replace postgres's
    c.execute("CREATE ROLE alice LOGIN")
    c.execute("GRANT SELECT ON vpairs TO alice")
    a = connect(user="alice")
    err = error_of(a, "SELECT face_verify_train('office', 'SELECT a, b, same FROM vpairs')")
    check(err is not None and "office" in err, f"alice cannot replace postgres's head ({err and err.splitlines()[0]})")
    a.execute("SELECT face_verify_train('alice_head', 'SELECT a, b, same FROM vpairs')")
    check(one(a, "SELECT count(*) FROM vpairs WHERE face_verify(a, b, 'alice_head') >= 0") == n,
          "alice's head works for her in a pushed-down query")
    err = error_of(a, "INSERT INTO faceid_verifier (name, owner, weights, bias) SELECT 'x', owner, weights, bias "
                      "FROM faceid_verifier WHERE name = 'default'")
    check(err is not None and "permission denied" in err, "users cannot write faceid_verifier directly")
    a.close()


def identify_checks(c):
    """face_identify on a distributed gallery, through the coordinator."""
    r = c.execute("SELECT labels, photos FROM face_identify_calibrate('people', 'name')").fetchone()
    check(r == (12, 24), f"face_identify_calibrate reads the distributed gallery {r}")
    c.execute("SET client_min_messages = notice")
    notices = []
    c.add_notice_handler(lambda d: notices.append(d.message_primary))
    fresh = connect()
    fresh.add_notice_handler(lambda d: notices.append(d.message_primary))
    probe = one(fresh, "SELECT embedding::text FROM people WHERE id = 3")
    r = fresh.execute("SELECT label FROM face_identify(%s::faceembedding, 'people', 'name')", (probe,)).fetchone()
    check(r is not None and r[0] == one(c, "SELECT name FROM people WHERE id = 3"),
          f"face_identify on the coordinator finds the person in the distributed gallery ({r})")
    # inside a query Citus pushes to a worker it cannot work (documented)
    err = error_of(fresh, "SELECT i.label FROM people p, face_identify(p.embedding, 'people', 'name') i WHERE p.id = 3")
    check(err is not None and "is not calibrated" in err,
          f"face_identify pushed to a worker says the gallery is not calibrated there ({err and err.splitlines()[0]})")
    check(not notices, f"no stale-calibration NOTICE from the coordinator's empty shell ({notices})")
    fresh.close()


def settings_checks(c):
    """How faceid.ef_search reaches the shards."""
    # the WHERE clause calls into faceid first, so the worker has loaded it
    q = ("SELECT DISTINCT current_setting('faceid.ef_search') FROM people "
         "WHERE face_distance(embedding, embedding) = 0")
    check("current_setting('faceid.ef_search'" in plan(c, q), "current_setting() is evaluated on the shards")
    s = connect()
    s.execute("SET faceid.ef_search = 77")
    got = {r[0] for r in s.execute(q)}
    check(got == {"40"}, f"a session's plain SET stays on the coordinator ({got})")
    with s.transaction():
        s.execute("SET LOCAL citus.propagate_set_commands = 'local'")
        s.execute("SET LOCAL faceid.ef_search = 123")
        got = {r[0] for r in s.execute(q)}
    check(got == {"123"}, f"SET LOCAL with citus.propagate_set_commands = 'local' reaches the shards ({got})")
    s.close()
    c.execute("ALTER DATABASE postgres SET faceid.ef_search = 61")
    s = connect()
    got = {r[0] for r in s.execute(q)}
    check(got == {"61"}, f"ALTER DATABASE ... SET reaches the shards ({got})")
    s.close()
    c.execute("ALTER DATABASE postgres RESET faceid.ef_search")
    c.execute("ALTER ROLE alice SET faceid.ef_search = 55")
    c.execute("GRANT SELECT ON people TO alice")
    s = connect(user="alice")
    got = {r[0] for r in s.execute(q)}
    check(got == {"55"}, f"ALTER ROLE ... SET reaches the shards ({got})")
    s.close()
    c.execute("ALTER ROLE alice RESET faceid.ef_search")


def gen_faces(tmp):
    """Face-like rows from test/bench/gen_faces.pl: faces.copy, known.copy."""
    subprocess.run(["perl", os.path.join(ROOT, "test", "bench", "gen_faces.pl"), str(ROWS_IDENT), "5",
                    str(NQUERIES), "0", "15", tmp], check=True)


def copy_in(c, table, path):
    """COPY a text file into table from the client."""
    with c.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as cp, open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            cp.write(block)


def knn(c, table, queries, k=10):
    """(ids of the k nearest, ident of the nearest) per query; the median
    latency (ms) is left in knn.median_ms."""
    out, times = [], []
    for qid, ident, emb in queries:
        t0 = time.monotonic()
        rows = c.execute(f"SELECT id, ident FROM {table} ORDER BY embedding <-> %s::faceembedding LIMIT {k}",
                         (emb,)).fetchall()
        times.append(time.monotonic() - t0)
        out.append(([r[0] for r in rows], rows[0][1] if rows else None))
    times.sort()
    knn.median_ms = 1000 * times[len(times) // 2]
    return out


def recall(results, truth):
    """Mean recall@10 against the exact ids."""
    return sum(len(set(r[0]) & set(t[0])) / len(t[0]) for r, t in zip(results, truth)) / len(truth)


def top1(results, queries):
    """Share of queries whose nearest row is of the query's identity."""
    return sum(1 for r, q in zip(results, queries) if r[1] == q[1]) / len(queries)


def recall_checks(c):
    """Recall and plans on face-like rows: distributed vs one node."""
    with tempfile.TemporaryDirectory() as tmp:
        gen_faces(tmp)
        c.execute("CREATE TABLE faces (id int, ident int, embedding faceembedding)")
        c.execute("SELECT create_distributed_table('faces', 'id', shard_count => 32)")
        c.execute("CREATE TABLE faces_local (id int, ident int, embedding faceembedding)")
        copy_in(c, "faces", os.path.join(tmp, "faces.copy"))
        copy_in(c, "faces_local", os.path.join(tmp, "faces.copy"))
        queries = [l.split("\t") for l in open(os.path.join(tmp, "known.copy")).read().splitlines()]
        queries = [(int(q), int(i), e) for q, i, e in queries]
    nrows = one(c, "SELECT count(*) FROM faces")
    t0 = time.monotonic()
    c.execute("CREATE INDEX faces_hnsw ON faces USING faceid_hnsw (embedding)")
    t_dist = time.monotonic() - t0
    t0 = time.monotonic()
    c.execute("CREATE INDEX faces_local_hnsw ON faces_local USING faceid_hnsw (embedding)")
    t_local = time.monotonic() - t0
    print(f"citus: {nrows} rows, 32 shards on 2 workers: CREATE INDEX distributed {t_dist:.1f} s, "
          f"one node {t_local:.1f} s")
    c.execute("ANALYZE faces")
    c.execute("ANALYZE faces_local")

    with c.transaction():
        c.execute("SET LOCAL enable_indexscan = off")
        truth = knn(c, "faces_local", queries)
    pl = plan(c, f"SELECT id FROM faces_local ORDER BY embedding <-> '{queries[0][2]}'::faceembedding LIMIT 10")
    check("Index Scan using faces_local_hnsw" in pl, "one node's query uses its faceid_hnsw index")
    local = knn(c, "faces_local", queries)
    ms_local = knn.median_ms
    dist_default = knn(c, "faces", queries)
    ms_default = knn.median_ms
    with c.transaction():
        c.execute("SET LOCAL citus.propagate_set_commands = 'local'")
        c.execute("SET LOCAL enable_seqscan = off")
        dist_index = knn(c, "faces", queries)
        ms_index = knn.median_ms
        qv = queries[0][2]
        p = plan(c, f"SELECT id FROM faces ORDER BY embedding <-> '{qv}'::faceembedding LIMIT 10", analyze=True)
    used = p.count("Index Scan using faces_hnsw_")
    check(used == 32, f"with SET LOCAL enable_seqscan = off every shard scans its faceid_hnsw index ({used}/32)")
    pd = plan(c, f"SELECT id FROM faces ORDER BY embedding <-> '{qv}'::faceembedding LIMIT 10", analyze=True)
    print(f"citus: default plan, shards of ~{nrows // 32} rows: {pd.count('Index Scan using faces_hnsw_')}/32 "
          f"index scans, {pd.count('Seq Scan on faces_')}/32 seq scan + top-N sort")
    r_local, r_def, r_idx = recall(local, truth), recall(dist_default, truth), recall(dist_index, truth)
    t_exact, t_local, t_def, t_idx = (top1(x, queries) for x in (truth, local, dist_default, dist_index))
    print(f"citus: recall@10 one node (index) {r_local:.4f}, distributed default plan {r_def:.4f}, "
          f"distributed per-shard index {r_idx:.4f}")
    print(f"citus: top-1 identity exact {t_exact:.4f}, one node {t_local:.4f}, distributed default {t_def:.4f}, "
          f"distributed per-shard index {t_idx:.4f}")
    print(f"citus: median query latency (ms, {len(queries)} queries, LIMIT 10): one node {ms_local:.2f}, "
          f"distributed default {ms_default:.2f}, distributed per-shard index {ms_index:.2f}")
    check(r_idx >= r_local - 0.005 and r_def >= r_local - 0.005,
          "distributed recall@10 is no worse than one node's (within 0.005)")
    check(abs(t_idx - t_local) <= 0.005 and abs(t_def - t_local) <= 0.005,
          "distributed top-1 identity equals one node's within 0.005")
    if pd.count("Seq Scan on faces_") == 32:
        check(r_def == 1.0, f"the default plan (exact per shard) finds the exact neighbours ({r_def})")


def round_trip_checks(c):
    """Query constants with denormals, -0 and FLT_MAX, pushed to the workers."""
    special = ["1e-45", "-1e-45", "1.1754942e-38", "1.17549435e-38", "-0", "0", "3.4028235e+38",
               "-3.4028235e+38", "0.1", "0.33333334", "1e-40", "-2.5e-42", "16777216", "16777217", "7e-39"]
    vals = [special[k % len(special)] for k in range(128)]
    lit = "[" + ",".join(vals) + "]"
    lit2 = "[" + ",".join(special[(k + 3) % len(special)] for k in range(128)) + "]"
    c.execute("CREATE TABLE rt (id int, e faceembedding)")
    c.execute("SELECT create_distributed_table('rt', 'id')")
    c.execute("CREATE TABLE rt_local (id int, e faceembedding)")
    for t in ("rt", "rt_local"):
        c.execute(f"INSERT INTO {t} VALUES (1, %s), (2, %s), (3, '[" + ",".join(["-0"] * 128) + "]')", (lit, lit2))
    canon = one(c, "SELECT %s::faceembedding::text", (lit,))
    got = one(c, "SELECT e::text FROM rt WHERE id = 1")
    check(got == canon, "a row written through the workers reads back with the same text")
    bits = lambda s: [struct.pack(">f", float(x)) for x in s.strip("[]").split(",")]
    check(bits(got) == bits(lit), "every float4 of the text (denormals, -0, FLT_MAX) survives bit for bit")
    q = "SELECT id, e <-> %s::faceembedding, e = %s::faceembedding, e::text FROM {} ORDER BY id"
    for const in (lit, lit2, "[" + ",".join(["0"] * 128) + "]"):
        d = c.execute(q.format("rt"), (const, const)).fetchall()
        loc = c.execute(q.format("rt_local"), (const, const)).fetchall()
        check(d == loc and len(d) == 3, f"pushed-down distances and = with constant {const[:40]}... equal the local ones")
    p = plan(c, f"SELECT id FROM rt WHERE e = '{lit}'::faceembedding")
    check("Task Count: 32" in p or "Task Count: 1" in p, "the constant goes to the workers in the task's text")
    check(one(c, "SELECT count(*) FROM rt WHERE e = %s::faceembedding", ("[" + ",".join(["0"] * 128) + "]",)) == 1,
          "-0 = 0 on the workers (the all -0 row matches the all-zero constant)")
    with c.cursor(binary=True) as cur:
        b = cur.execute("SELECT e FROM rt WHERE id = 1").fetchone()[0]
        bl = cur.execute("SELECT e FROM rt_local WHERE id = 1").fetchone()[0]
    check(bytes(b) == bytes(bl), "binary output through the coordinator equals the local one")


def main():
    if not os.path.isdir(LFW):
        print(f"SKIP: {LFW} is absent: the Citus test needs real photos")
        return 0
    c = connect()
    setup(c)
    photos = lfw_photos()
    # the encodings one node computes: face_embed on the coordinator, no table
    local_emb = [one(c, "SELECT face_embed(%s)::text", (jpg,)) for _, jpg in photos]
    trigger_checks(c, photos, local_emb)
    insert_select_checks(c, photos, local_emb)
    verifier_checks(c, photos)
    identify_checks(c)
    settings_checks(c)
    round_trip_checks(c)
    recall_checks(c)
    # dropping distributed tables runs faceid's sql_drop trigger on every node
    c.execute("DROP TABLE people2")
    c.execute("DROP TABLE people CASCADE")
    check(one(c, "SELECT count(*) FROM faceid_identify_calibration") == 0,
          "dropping a distributed gallery drops its calibration")
    check(worker_values(c, "SELECT count(*) FROM pg_class WHERE relname ~ '^people2?_[0-9]+$'") == {"0"},
          "the workers dropped the shards")
    c.close()
    return done()


if __name__ == "__main__":
    sys.exit(main())
