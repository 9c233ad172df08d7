#!/usr/bin/python3
"""Backend memory around face_embed_crop; run by bench_rss.sh inside pg_virtualenv.

Reads /proc/<backend pid>/smaps_rollup (and smaps for the weights mapping)
from this client process.  Prints the figures; exits non-zero only when
something could not be measured (goals are reported, not asserted).
"""
import os
import statistics
import sys
import time

import psycopg

REPO = os.environ.get('FACEID_REPO', os.path.join(os.path.dirname(__file__), '..', '..'))
CALLS = int(os.environ.get('FACEID_RSS_CALLS', '1000'))
MB = 1024.0


def rollup(pid):
    """smaps_rollup fields in kB."""
    out = {}
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == 'kB':
                out[parts[0].rstrip(':')] = int(parts[1])
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(('RssAnon', 'RssFile', 'RssShmem', 'VmRSS')):
                k, v = line.split(':')
                out[k] = int(v.split()[0])
    return out


def mapping(pid, needle):
    """Rss / Shared / Private kB of the mappings whose path contains needle."""
    tot = {'Rss': 0, 'Shared_Clean': 0, 'Shared_Dirty': 0, 'Private_Clean': 0, 'Private_Dirty': 0, 'Size': 0}
    cur = False
    with open('/proc/%d/smaps' % pid) as f:
        for line in f:
            first = line.split()[0]
            if '-' in first and not first.endswith(':'):
                cur = needle in line
            elif cur and first.rstrip(':') in tot:
                tot[first.rstrip(':')] += int(line.split()[1])
    return tot


def private(r):
    return r['Private_Clean'] + r['Private_Dirty']


def show(label, r):
    print('  %-34s VmRSS %7.1f MB  RssAnon %6.1f  RssFile %6.1f  RssShmem %6.1f | '
          'Private %6.1f  Shared %6.1f MB'
          % (label, r['VmRSS'] / MB, r['RssAnon'] / MB, r['RssFile'] / MB, r['RssShmem'] / MB,
             private(r) / MB, (r['Shared_Clean'] + r['Shared_Dirty']) / MB))


FUNCS = os.environ.get('FACEID_RSS_FUNCS', 'face_embed_crop face_embed face_embed_all').split()


def run(db, sql, photo):
    """One call; an ERROR (the corrupt-input case) is expected and swallowed."""
    try:
        db.execute(sql, (photo,)).fetchone()
    except psycopg.errors.InvalidBinaryRepresentation:
        pass


def leak_loop(db, pid, name, sql, photos, r0, r1, secs):
    """CALLS calls of sql on photos in turn (the first already made, r1 after
    it); private RSS every 100 calls, growth and slope after a 100-call warm-up."""
    t0 = time.time()
    samples = [(1, r1)]
    for i in range(2, CALLS + 1):
        run(db, sql, photos[(i - 1) % len(photos)])
        if i % 100 == 0:
            samples.append((i, rollup(pid)))
    secs += time.time() - t0
    print('  %s, RssAnon MB after call n: ' % name +
          ' '.join('%d:%.1f' % (i, r['RssAnon'] / MB) for i, r in samples))
    warm = [(i, r) for i, r in samples if i >= 100]
    if len(warm) >= 2:
        xs = [i for i, _ in warm]
        ys = [r['RssAnon'] for _, r in warm]
        mx, my = statistics.mean(xs), statistics.mean(ys)
        slope = (sum((x - mx) * (y - my) for x, y in zip(xs, ys)) /
                 sum((x - mx) ** 2 for x in xs))
        growth = (warm[-1][1]['RssAnon'] - warm[0][1]['RssAnon']) / MB
        print('  %s after warm-up (calls %d..%d): RssAnon growth %.2f MB (goal < 5 MB), '
              'slope %.2f kB per 1000 calls; %.1f ms per call'
              % (name, xs[0], xs[-1], growth, slope * 1000, secs * 1e3 / CALLS))
        print('  %s: RssAnon %.1f MB before the first call, %.1f MB at the end '
              '(+%.1f MB private, goal <= 30 MB)'
              % (name, r0['RssAnon'] / MB, samples[-1][1]['RssAnon'] / MB,
                 (samples[-1][1]['RssAnon'] - r0['RssAnon']) / MB))


def main():
    photos = []
    for n in range(1, 7):
        with open(os.path.join(REPO, 'build', 'faceid_sample%d.jpg' % n), 'rb') as f:
            photos.append(f.read())
    with psycopg.connect('', autocommit=True) as db:
        db.execute('CREATE EXTENSION IF NOT EXISTS faceid')
        pid = db.execute('SELECT pg_backend_pid()').fetchone()[0]
        ver = db.execute('SHOW server_version').fetchone()[0]
        r0 = rollup(pid)
        show('before the model is loaded', r0)
        t0 = time.time()
        db.execute('SELECT face_embed_crop(%s)', (photos[0],)).fetchone()
        r1 = rollup(pid)
        # faceid_info() loads what it reports, so it is asked only now
        path = db.execute("SELECT value FROM faceid_info() WHERE key = 'model_path'").fetchone()[0]
        w = mapping(pid, os.path.basename(path))
        print('backend pid %d, PostgreSQL %s, weights %s (%.1f MB), %d calls'
              % (pid, ver, path, os.path.getsize(path) / 1048576, CALLS))
        show('after the first face_embed_crop', r1)
        print('  weights mapping, this backend alone: size %.1f MB, Rss %.1f MB (Shared %.1f, '
              'Private %.1f: smaps calls a file page "private" while one process maps it, '
              '"dirty" while the page cache has not written back a fresh install)'
              % (w['Size'] / MB, w['Rss'] / MB, (w['Shared_Clean'] + w['Shared_Dirty']) / MB,
                 (w['Private_Clean'] + w['Private_Dirty']) / MB))
        with psycopg.connect('', autocommit=True) as db2:
            pid2 = db2.execute('SELECT pg_backend_pid()').fetchone()[0]
            db2.execute('SELECT face_embed_crop(%s)', (photos[1],)).fetchone()
            w1 = mapping(pid, os.path.basename(path))
            w2 = mapping(pid2, os.path.basename(path))
            print('  weights mapping with a 2nd backend (pid %d) loaded too: Rss %.1f MB here, '
                  'Shared %.1f MB; in the 2nd backend Rss %.1f MB, Shared %.1f MB '
                  '(one copy in the page cache)'
                  % (pid2, w1['Rss'] / MB, (w1['Shared_Clean'] + w1['Shared_Dirty']) / MB,
                     w2['Rss'] / MB, (w2['Shared_Clean'] + w2['Shared_Dirty']) / MB))
        print('  first call: RssAnon +%.1f MB (private memory: goal <= 30 MB), RssFile +%.1f MB '
              '(the weights, file pages)'
              % ((r1['RssAnon'] - r0['RssAnon']) / MB, (r1['RssFile'] - r0['RssFile']) / MB))
        t0 = time.time() - t0
        leak_loop(db, pid, 'face_embed_crop', 'SELECT face_embed_crop(%s)', photos, r0, r1, t0)
        st = db.execute('SELECT * FROM faceid_stats()').fetchone()
        print('  faceid_stats: %s' % (st,))
    # The same measure for the detecting functions, each in a fresh backend,
    # and for the error path (a photo cut in half: libjpeg's longjmp and
    # cleanup on every call, each one an ERROR that aborts the statement).
    cut = photos[0][:len(photos[0]) // 2]
    for name, sql, inputs in (
            ('face_embed', 'SELECT face_embed(%s)', photos),
            ('face_embed_all', 'SELECT count(*) FROM face_embed_all(%s)', photos),
            ('face_embed on a truncated JPEG (ERROR)', 'SELECT face_embed(%s)', [cut])):
        if name.split()[0] not in FUNCS:
            continue
        with psycopg.connect('', autocommit=True) as db:
            pid = db.execute('SELECT pg_backend_pid()').fetchone()[0]
            r0 = rollup(pid)
            t0 = time.time()
            run(db, sql, inputs[0])
            r1 = rollup(pid)
            print('%s: backend pid %d, first call: RssAnon +%.1f MB'
                  % (name, pid, (r1['RssAnon'] - r0['RssAnon']) / MB))
            leak_loop(db, pid, name, sql, inputs, r0, r1, time.time() - t0)
    return 0


if __name__ == '__main__':
    sys.exit(main())
