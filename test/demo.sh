#!/bin/bash
# The first run of faceid, from a fresh clone:
#   bash test/demo.sh
# Installs what is missing (test/setup.sh), builds and installs the
# extension, starts a throw-away PostgreSQL cluster (pg_virtualenv: owned by
# the postgres user, a free port, never 5432; stopped and removed on exit,
# Ctrl-C included), creates a `people` table with the encoding trigger and
# the faceid_hnsw index, enrols one photo per person (one-shot), calibrates
# the gallery and recognises held-out photos with face_identify (a person,
# or "unknown" at faceid.false_accept_rate) and runs 1:1 verifications.  People come from ../shared/faces (faceapi_bbt and
# face_recognition_examples) when present, else from the npm package's demo
# photos.  A second run reuses the build.
#
#   bash test/demo.sh --web
# does the same set-up and enrolment, then serves the web demo
# (test/web/server.py) on http://127.0.0.1:8434/ (FACEID_WEB_PORT) until
# Ctrl-C, which also removes the cluster.  With FACEID_DEMO_INSIDE=1 the
# script skips set-up, build and pg_virtualenv and uses the cluster that the
# libpq environment names (the browser test, test/web/run_test.sh, does).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SHARED="${FACEID_SHARED:-$ROOT/../shared}"
WEB=""
case "${1:-}" in
	"") ;;
	--web) WEB=1 ;;
	*) echo "usage: bash test/demo.sh [--web]" >&2; exit 2 ;;
esac

if [ -z "${FACEID_DEMO_INSIDE:-}" ]; then
	bash test/setup.sh
	SUDO=""
	[ "$(id -u)" != 0 ] && SUDO="sudo"
	make -s -j2
	$SUDO make -s install
	export FACEID_DEMO_INSIDE=1
	export PGPORT="${FACEID_DEMO_PORT:-55434}"
	exec pg_virtualenv -t -v 15 bash "$0" "$@"
fi

DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT

# Append "name<TAB>file<TAB>base64" for a photo.
add() { printf '%s\t%s\t%s\n' "$1" "$(basename "$2")" "$(base64 -w0 "$2")" >> "$DATA/$3"; }

BBT="$SHARED/faces/faceapi_bbt/examples/images"
KNN="$SHARED/faces/face_recognition_examples/examples/knn_examples"
if [ -d "$BBT" ] && [ -d "$KNN" ]; then
	echo "Photos: ../shared/faces (faceapi_bbt, face_recognition_examples)"
	for d in "$BBT"/*/; do
		n=$(basename "$d")
		add "$n" "$d/${n}1.png" enrol
		for k in 2 3 4 5; do add "$n" "$d/$n$k.png" query; done
	done
	for d in "$KNN"/train/*/; do
		n=$(basename "$d")
		add "$n" "$(ls "$d"* | head -1)" enrol
	done
	for f in "$KNN"/test/*; do add "?" "$f" query; done
	add "?" "$SHARED/faces/misc_faces_single/skimage_astronaut_eileen_collins.jpg" query
	V1="$KNN/train/obama/obama.jpg"; V2="$KNN/train/obama/obama2.jpg"; V3="$KNN/train/biden/biden.jpg"
else
	echo "Photos: the npm package's demo photos (../shared/faces is absent)"
	S="$ROOT/build"
	add "sample1" "$S/faceid_sample1.jpg" enrol
	add "sample2" "$S/faceid_sample2.jpg" enrol
	for k in 3 4 5 6; do add "?" "$S/faceid_sample$k.jpg" query; done
	V1="$S/faceid_sample1.jpg"; V2="$S/faceid_sample1.jpg"; V3="$S/faceid_sample2.jpg"
fi
add v1 "$V1" verify; add v2 "$V2" verify; add v3 "$V3" verify

# Sections 1 and 2: the table, the trigger, the index, the enrolment.
enrol_sql() {
	cat <<SQL
\echo
\echo '== 1. A table of people: the trigger encodes each photo on INSERT, the index serves nearest-neighbour queries'
CREATE EXTENSION faceid;
CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL, file text, photo bytea, embedding faceembedding);
CREATE TRIGGER people_embed BEFORE INSERT OR UPDATE ON people
  FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);
SELECT CASE WHEN EXISTS (SELECT FROM pg_am WHERE amname = 'faceid_hnsw')
            THEN 'CREATE INDEX people_knn ON people USING faceid_hnsw (embedding)'
            ELSE 'SELECT ''(faceid_hnsw not built: exact scan)''' END AS ddl \gset
:ddl;

\echo
\echo '== 2. One-shot enrolment: one photo per person'
CREATE TEMP TABLE incoming (name text, file text, b64 text);
\copy incoming FROM '$DATA/enrol'
\timing on
INSERT INTO people (name, file, photo) SELECT name, file, decode(b64, 'base64') FROM incoming;
\timing off
-- a group photo enrols each of its faces: the trigger encoded the one
-- face_embed chooses, the other faces get rows of their own
INSERT INTO people (name, file, embedding)
SELECT name || '#' || f.face, file, f.embedding
FROM people p, face_embed_all(p.photo) f
WHERE p.embedding IS NOT NULL AND f.embedding <> p.embedding;
SELECT name, file, embedding IS NOT NULL AS face_found FROM people ORDER BY id;
SQL
}

# Sections 3 to 5: recognition, verification, what ran.
query_sql() {
	cat <<SQL
\echo
\echo '== 3. Recognition (1:K): face_identify answers one enrolled person or nobody, at faceid.false_accept_rate'
CREATE TEMP TABLE queries (name text, file text, b64 text);
\copy queries FROM '$DATA/query'
SELECT count(DISTINCT name) >= 10 AS can_calibrate FROM people WHERE embedding IS NOT NULL \gset
\if :can_calibrate
-- once after enrolling, like ANALYZE: the gallery calibrates itself
SELECT labels, photos, samples, round(score_at_rate::numeric, 3) AS score_at_rate
FROM face_identify_calibrate('people', 'name');
SHOW faceid.false_accept_rate;
\timing on
CREATE TEMP TABLE answers AS
SELECT q.name AS truth, q.file, f.face, r.label AS nearest, round(r.distance::numeric, 3) AS distance,
       round(r.false_accept::numeric, 4) AS false_accept,
       CASE WHEN f.face IS NULL THEN 'no face found' WHEN r.accepted THEN r.label ELSE 'unknown' END AS answer
FROM queries q
LEFT JOIN LATERAL face_embed_all(decode(q.b64, 'base64')) f ON true
LEFT JOIN LATERAL face_identify(f.embedding, 'people', 'name') r ON true;
\timing off
SELECT file, face, nearest, distance, false_accept, answer,
       CASE WHEN truth = '?' THEN '' WHEN truth = answer THEN 'right' ELSE 'WRONG' END AS check
FROM answers ORDER BY file, face;
SELECT count(*) FILTER (WHERE truth <> '?') AS labelled_queries,
       count(*) FILTER (WHERE truth <> '?' AND truth = answer) AS recognised,
       count(*) FILTER (WHERE truth = '?') AS unlabelled_queries
FROM answers;
\else
\echo '(fewer than 10 people enrolled: face_identify_calibrate needs at least 10, so only the nearest person is shown)'
SELECT q.file, f.face, m.name AS nearest, round(m.d::numeric, 3) AS distance
FROM queries q
LEFT JOIN LATERAL face_embed_all(decode(q.b64, 'base64')) f ON true
LEFT JOIN LATERAL (SELECT name, embedding <-> f.embedding AS d FROM people
                    WHERE embedding IS NOT NULL AND f.embedding IS NOT NULL
                    ORDER BY embedding <-> f.embedding LIMIT 1) m ON true
ORDER BY 1, 2;
\endif

\echo
\echo '== 4. Verification (1:1): is this photo the same person as that one?'
CREATE TEMP TABLE v (name text, file text, b64 text);
\copy v FROM '$DATA/verify'
SELECT a.file AS photo_a, b.file AS photo_b,
       round((face_embed(decode(a.b64, 'base64')) <-> face_embed(decode(b.b64, 'base64')))::numeric, 3) AS distance,
       face_match(face_embed(decode(a.b64, 'base64')), face_embed(decode(b.b64, 'base64'))) AS same_person
FROM v a, v b WHERE a.name = 'v1' AND b.name IN ('v2', 'v3');

\echo
\echo '== 5. What ran'
SELECT * FROM faceid_stats();
SELECT key, value FROM faceid_info() WHERE key IN ('version', 'model_version', 'blas_kernels', 'distance_kernel');
SQL
}

if [ -n "$WEB" ]; then
	enrol_sql | psql -X -q -v ON_ERROR_STOP=1 -P pager=off
	rm -rf "$DATA"
	echo
	echo "== 3. The web demo: open the address below; Ctrl-C stops it and removes the cluster"
	exec /usr/bin/python3 "$ROOT/test/web/server.py" --port "${FACEID_WEB_PORT:-8434}"
fi
# one session: faceid's GUCs exist once the session has loaded the library
{ enrol_sql; query_sql; } | psql -X -q -v ON_ERROR_STOP=1 -P pager=off
