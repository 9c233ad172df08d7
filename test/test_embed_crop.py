#!/usr/bin/python3
"""SQL-level checks of face_embed_crop against the reference.

Run inside a throw-away cluster (test/run_all.sh uses pg_virtualenv), with
faceid installed.  Needs ../shared (FACEID_SHARED); says SKIP when absent.

1. Exact path: each face's descriptorCrop is cut out of a golden photo's
   libjpeg-turbo decode and written as PNG (test/core/tool_crop_png.bin);
   face_embed_crop of that PNG must equal the golden descriptor within 1e-3
   (Euclidean).  Every face of every image_*.json (not *.jpeg-js.json).
2. Rough identity: LFW View 1 DevTest, the first 200 same-person and the
   first 200 different-person pairs, face_embed_crop on the central 120x120
   square of each 250x250 photo; accuracy at threshold 0.6 must be >= 80%.
   (Real detection and alignment are measured by the pipeline tests.)
Ends with "N passed, M failed".
"""
import glob
import json
import math
import os
import subprocess
import sys

import psycopg

from checks import check, done

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("FACEID_SHARED", os.path.join(ROOT, "..", "shared"))
CROP = os.path.join(ROOT, "test", "core", "tool_crop_png.bin")


def png_crop(path, x, y, w, h):
    """PNG bytes of a rectangle of an image, decoded by the core decoder."""
    out = subprocess.run([CROP, path, str(x), str(y), str(w), str(h)],
                         check=True, capture_output=True, text=True).stdout.strip()
    return bytes.fromhex(out[2:])


def embed(cur, png):
    """face_embed_crop of PNG bytes, as a list of floats."""
    cur.execute("SELECT face_embed_crop(%s)::real[]", (png,))
    return cur.fetchone()[0]


def dist(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def golden_crops(cur):
    """face_embed_crop of golden descriptor crops equals the golden descriptors."""
    worst, n = 0.0, 0
    for js in sorted(glob.glob(os.path.join(SHARED, "golden", "out", "image_*.json"))):
        if js.endswith(".jpeg-js.json"):
            continue
        d = json.load(open(js))
        name = os.path.basename(d["image"]["file"]).rsplit(".", 1)[0]
        img = os.path.join(SHARED, "golden", "images", name + ".jpg")
        for pipe, res in d["pipelines"].items():
            for i, f in enumerate(res["faces"]):
                r = f["descriptorCrop"]
                got = embed(cur, png_crop(img, r["x"], r["y"], r["width"], r["height"]))
                e = dist(got, f["descriptor"])
                worst = max(worst, e)
                n += 1
                check(e <= 1e-3, f"{os.path.basename(js)} {pipe} face {i}: distance {e:.2e} > 1e-3")
    print(f"golden descriptor crops: {n} faces, worst Euclidean distance {worst:.2e} (bound 1e-3)")
    check(n > 100, f"expected more than 100 golden faces, saw {n}")


def lfw_pairs(path, n_each):
    """The first n_each same and n_each different pairs of a View 1 file."""
    lines = open(path).read().split("\n")
    count = int(lines[0])
    same = [l.split() for l in lines[1:1 + count]][:n_each]
    diff = [l.split() for l in lines[1 + count:1 + 2 * count]][:n_each]
    lfw = os.path.dirname(path)
    photo = lambda name, k: os.path.join(lfw, name, f"{name}_{int(k):04d}.jpg")
    return ([(photo(a, i), photo(a, j), True) for a, i, j in same] +
            [(photo(a, i), photo(b, j), False) for a, i, b, j in diff])


def lfw_identity(cur):
    """Central-crop encodings separate LFW identities at 0.6 for >= 80% of pairs."""
    pairs = lfw_pairs(os.path.join(SHARED, "faces", "lfw-view1", "pairsDevTest.txt"), 200)
    cache = {}
    def enc(p):
        if p not in cache:
            cache[p] = embed(cur, png_crop(p, 65, 65, 120, 120))
        return cache[p]
    right = sum((dist(enc(a), enc(b)) <= 0.6) == same for a, b, same in pairs)
    acc = right / len(pairs)
    print(f"LFW DevTest central 120x120 crops: accuracy at 0.6 = {100 * acc:.1f}% "
          f"over {len(pairs)} pairs ({len(cache)} photos)")
    check(acc >= 0.80, f"LFW central-crop accuracy {acc:.3f} < 0.80")


def main():
    if not os.path.isdir(os.path.join(SHARED, "golden")):
        print(f"SKIP: {SHARED}/golden absent: golden and LFW checks of face_embed_crop not run")
        print("0 passed, 0 failed, 2 skipped")
        return 0
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "test", "core"), "tools"], check=True)
    with psycopg.connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS faceid")
        golden_crops(cur)
        if os.path.isdir(os.path.join(SHARED, "faces", "lfw-view1")):
            lfw_identity(cur)
        else:
            print(f"SKIP: {SHARED}/faces/lfw-view1 absent: LFW identity check not run")
    return done()


if __name__ == "__main__":
    sys.exit(main())
