#!/usr/bin/python3
"""A client in a real driver (psycopg 3): what an application does.

Inserts photos as bytea query parameters into a table with the encoding
trigger, reads the encodings back in text and in binary result format (both
must give the same 128 floats), and runs the nearest-neighbour query with
the query photo as a parameter.  Uses the npm package's demo photos (built
into build/), so it never skips.  Run inside a throw-away cluster
(test/run_all.sh uses pg_virtualenv) with faceid installed.
Ends with "N passed, M failed".
"""
import os
import struct
import sys

import psycopg
from psycopg.adapt import Dumper

from checks import check, done

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Embedding:
    """An encoding on the client: 128 floats."""
    def __init__(self, values):
        self.values = values


def register_binary_dumper(conn):
    """Send Embedding parameters in faceembedding's binary form."""
    oid = conn.execute("SELECT 'faceembedding'::regtype::oid").fetchone()[0]

    class EmbeddingDumper(Dumper):
        format = psycopg.pq.Format.BINARY

        def dump(self, obj):
            return struct.pack(">128f", *obj.values)

    EmbeddingDumper.oid = oid
    conn.adapters.register_dumper(Embedding, EmbeddingDumper)


def main():
    photos = {f"sample{k}": open(os.path.join(ROOT, "build", f"faceid_sample{k}.jpg"), "rb").read()
              for k in range(1, 7)}
    with psycopg.connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS faceid")
        register_binary_dumper(conn)
        cur.execute("DROP TABLE IF EXISTS client_people")
        cur.execute("CREATE TABLE client_people (id serial PRIMARY KEY, name text, photo bytea, embedding faceembedding)")
        cur.execute("CREATE TRIGGER client_embed BEFORE INSERT OR UPDATE ON client_people "
                    "FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding)")
        # bytea parameters, sent in binary by psycopg
        cur.executemany("INSERT INTO client_people (name, photo) VALUES (%s, %b)",
                        [(n, p) for n, p in photos.items()])
        cur.execute("SELECT count(*), count(embedding) FROM client_people")
        rows, with_emb = cur.fetchone()
        check(rows == 6 and with_emb == 6, f"6 rows with encodings, got {rows}/{with_emb}")

        # text result format: '[v1,...,v128]'
        cur.execute("SELECT name, embedding FROM client_people ORDER BY name")
        text = {n: [float(x) for x in e.strip("[]").split(",")] for n, e in cur.fetchall()}
        check(all(len(v) == 128 for v in text.values()), "128 values in text form")

        # binary result format: 128 big-endian float4
        bcur = conn.cursor(binary=True)
        bcur.execute("SELECT name, embedding FROM client_people ORDER BY name")
        binary = {}
        for n, raw in bcur.fetchall():
            raw = bytes(raw)
            check(len(raw) == 512, f"binary value of 512 bytes, got {len(raw)}")
            binary[n] = list(struct.unpack(">128f", raw))
        same = all(struct.pack(">128f", *text[n]) == struct.pack(">128f", *binary[n]) for n in text)
        check(same, "text and binary forms give the same 128 floats bit for bit")

        # binary parameter in: the same value comes back
        bcur.execute("SELECT %b = embedding FROM client_people WHERE name = 'sample3'",
                      (Embedding(binary["sample3"]),))
        check(bcur.fetchone()[0] is True, "binary parameter equals the stored encoding")

        # the KNN query with the query photo as a parameter
        cur.execute("SELECT name, embedding <-> face_embed(%b) AS d FROM client_people "
                    "ORDER BY embedding <-> face_embed(%b) LIMIT 2", (photos["sample4"], photos["sample4"]))
        best = cur.fetchall()
        check(best[0][0] == "sample4" and best[0][1] == 0.0, f"nearest to sample4 is itself at 0, got {best[0]}")
        check(best[1][1] > 0.3, f"the next one is another person, got {best[1]}")
        # prepared statement reused with different parameters
        for n in ("sample1", "sample6"):
            cur.execute("SELECT name FROM client_people ORDER BY embedding <-> face_embed(%b) LIMIT 1",
                        (photos[n],), prepare=True)
            got = cur.fetchone()[0]
            check(got == n, f"prepared KNN for {n} gave {got}")
        # errors reach the client with their SQLSTATE, and the session goes on
        try:
            cur.execute("SELECT face_embed(%b)", (b"GIF89a not really",))
            check(False, "a GIF must be rejected")
        except psycopg.errors.FeatureNotSupported as e:
            check("GIF" in str(e), f"message names the format: {e}")
        cur.execute("SELECT 1")
        check(cur.fetchone()[0] == 1, "session alive after an error")
        cur.execute("DROP TABLE client_people")
    return done()


if __name__ == "__main__":
    sys.exit(main())
