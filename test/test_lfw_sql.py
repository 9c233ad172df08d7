#!/usr/bin/python3
"""LFW View 1 DevTest through SQL: face_embed, face_match, face_verify.

Every photo of pairsDevTest.txt is encoded with face_embed (sent as a bytea
parameter, default pipeline); every one of the 1000 pairs counts, and a
photo without a face makes its pairs wrong.  Reported: the accuracy of
face_match at the default faceid.match_threshold (calibrated on DevTrain,
never on these pairs), of face_verify >= 0.5 (the shipped 'default' head,
trained on DevTrain), of the best threshold in hindsight, and the ROC AUC of
both scores.  Asserted: face_match >= 98.0% of all pairs, and the head within
1 point of the calibrated threshold.  Needs ../shared/faces (FACEID_SHARED);
prints SKIP when absent.  Ends with "N passed, M failed".
"""
import os
import sys

import psycopg

from checks import check, done

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("FACEID_SHARED", os.path.join(ROOT, "..", "shared"))
LFW = os.path.join(SHARED, "faces", "lfw-view1")


def pairs(path):
    """(photo a, photo b, same) for every line of a View 1 pairs file."""
    lines = open(path).read().split("\n")
    n = int(lines[0])
    photo = lambda name, k: os.path.join(LFW, name, f"{name}_{int(k):04d}.jpg")
    out = [(photo(a, i), photo(a, j), True) for a, i, j in (l.split() for l in lines[1:1 + n])]
    out += [(photo(a, i), photo(b, j), False) for a, i, b, j in (l.split() for l in lines[1 + n:1 + 2 * n])]
    return out


def auc(scores):
    """ROC AUC of (score, positive) pairs: P(score of a positive > a negative)."""
    ranked = sorted(scores, key=lambda s: s[0])
    pos = sum(1 for _, p in ranked if p)
    neg = len(ranked) - pos
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid = (i + j + 1) / 2.0
        rank_sum += mid * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def main():
    if not os.path.isfile(os.path.join(LFW, "pairsDevTest.txt")):
        print(f"SKIP: {LFW} absent: LFW accuracy through SQL not measured")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    test = pairs(os.path.join(LFW, "pairsDevTest.txt"))
    photos = sorted({p for a, b, _ in test for p in (a, b)})
    with psycopg.connect(autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION IF NOT EXISTS faceid")
        cur.execute("CREATE TEMP TABLE enc (path text PRIMARY KEY, e faceembedding)")
        for p in photos:
            cur.execute("INSERT INTO enc VALUES (%s, face_embed(%b))", (p, open(p, "rb").read()))
        cur.execute("CREATE TEMP TABLE pairs (a text, b text, same bool)")
        with cur.copy("COPY pairs FROM STDIN") as cp:
            for a, b, s in test:
                cp.write_row((a, b, s))
        cur.execute("SELECT current_setting('faceid.match_threshold')::float8")
        tau = cur.fetchone()[0]
        cur.execute("""SELECT p.same, x.e <-> y.e, face_match(x.e, y.e), face_verify(x.e, y.e)
                       FROM pairs p JOIN enc x ON x.path = p.a JOIN enc y ON y.path = p.b""")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM enc WHERE e IS NULL")
        noface = cur.fetchone()[0]
    n = len(rows)
    scored = [r for r in rows if r[1] is not None]
    match_acc = sum(1 for same, d, m, v in scored if m == same) / n
    verify_acc = sum(1 for same, d, m, v in scored if (v >= 0.5) == same) / n
    best_acc, best_t = 0.0, None
    for t in sorted({d for _, d, _, _ in scored}):
        acc = sum(1 for same, d, _, _ in scored if (d <= t) == same) / n
        if acc > best_acc:
            best_acc, best_t = acc, t
    auc_d = auc([(-d, same) for same, d, _, _ in scored])
    auc_v = auc([(v, same) for same, _, _, v in scored])
    print(f"LFW View 1 DevTest through SQL: {n} pairs, {len(photos)} photos, {noface} without a face "
          f"({n - len(scored)} pairs count as wrong)")
    print(f"  face_match at faceid.match_threshold = {tau}: {100 * match_acc:.1f}%")
    print(f"  face_verify >= 0.5 ('default' head):     {100 * verify_acc:.1f}%")
    print(f"  best threshold in hindsight ({best_t:.4f}):  {100 * best_acc:.1f}%")
    print(f"  ROC AUC (pairs with faces): distance {auc_d:.4f}, face_verify {auc_v:.4f}")
    check(n == 1000, f"1000 DevTest pairs, got {n}")
    check(match_acc >= 0.980, f"face_match accuracy {match_acc:.3f} < 0.980 of all pairs")
    check(abs(verify_acc - match_acc) <= 0.01,
          f"face_verify {verify_acc:.3f} more than 1 point from the calibrated threshold {match_acc:.3f}")
    return done()


if __name__ == "__main__":
    sys.exit(main())
