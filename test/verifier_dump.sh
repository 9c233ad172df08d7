#!/bin/bash
# pg_dump / restore round trip of faceid_verifier.  A user-trained head must
# survive with the same bits, and the restore must not duplicate the shipped
# 'default' row (pg_extension_config_dump's filter WHERE name <> 'default').
# Runs against the cluster the PG* variables name, e.g. a throw-away one:
#   pg_virtualenv -v 15 bash test/verifier_dump.sh
set -euo pipefail

PSQL=(psql -X -q -At -v ON_ERROR_STOP=1)
SRC=faceid_dump_src
DST=faceid_dump_dst
FRESH=faceid_dump_fresh
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

for db in $SRC $DST $FRESH; do
	dropdb --if-exists "$db"
	createdb "$db"
done

# A head trained by an ordinary role, plus a stand-in 'default' row when no
# default ships yet: neither copy of 'default' may reach the dump.
"${PSQL[@]}" -d $SRC <<'SQL'
CREATE EXTENSION faceid;
DO $$ BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_dump_alice') THEN
		CREATE ROLE regress_dump_alice;
	END IF;
END $$;
CREATE TABLE pairs AS
SELECT i % 2 = 0 AS same,
       (SELECT array_agg(sin(i * 1000 + k)::real ORDER BY k) FROM generate_series(1, 128) k)::faceembedding AS a,
       (SELECT array_agg((sin(i * 1000 + k) + CASE WHEN i % 2 = 0 THEN 0.01 ELSE 0.3 END * cos(k))::real ORDER BY k)
          FROM generate_series(1, 128) k)::faceembedding AS b
FROM generate_series(1, 200) i;
GRANT SELECT ON pairs TO regress_dump_alice;
SET ROLE regress_dump_alice;
SELECT pairs FROM face_verify_train('alice_head', 'SELECT a, b, same FROM pairs');
RESET ROLE;
INSERT INTO faceid_verifier (name, owner, weights, bias, trained_on)
VALUES ('default', current_user::regrole, array_fill(-1::real, ARRAY[128]), 3, 'stand-in for the dump test')
ON CONFLICT (name) DO NOTHING;
SQL
"${PSQL[@]}" -d $FRESH -c "CREATE EXTENSION faceid"

pg_dump -d $SRC -f "$TMP/dump.sql"
"${PSQL[@]}" -d $DST -f "$TMP/dump.sql" >/dev/null

fail=0
check() {
	if [ "$2" == "$3" ]; then
		echo "ok: $1"
	else
		echo "FAILED: $1: got '$2', expected '$3'"
		fail=1
	fi
}

HEADS="SELECT name, owner, weights, bias, trained_on, pairs, accuracy, created FROM faceid_verifier WHERE name <> 'default' ORDER BY name"
src_heads="$("${PSQL[@]}" -d $SRC -c "$HEADS")"
dst_heads="$("${PSQL[@]}" -d $DST -c "$HEADS")"
check "user-trained heads restored bit for bit" "$dst_heads" "$src_heads"
check "alice_head is among them" "$(echo "$dst_heads" | grep -c '^alice_head|regress_dump_alice|')" "1"

DEFAULTS="SELECT count(*) FROM faceid_verifier WHERE name = 'default'"
check "as many 'default' rows as CREATE EXTENSION ships" \
	"$("${PSQL[@]}" -d $DST -c "$DEFAULTS")" "$("${PSQL[@]}" -d $FRESH -c "$DEFAULTS")"
check "the source has a 'default' row (shipped or stand-in)" "$("${PSQL[@]}" -d $SRC -c "$DEFAULTS")" "1"
check "the 'default' row is not in the dump" "$(grep -c "^default$(printf '\t')" "$TMP/dump.sql" || true)" "0"
check "alice_head's row is in the dump" "$(grep -c "^alice_head$(printf '\t')" "$TMP/dump.sql" || true)" "1"

VERIFY="SELECT face_verify(a, b, 'alice_head') FROM pairs ORDER BY 1"
check "face_verify gives the same results after restore" \
	"$("${PSQL[@]}" -d $DST -c "$VERIFY" | md5sum)" "$("${PSQL[@]}" -d $SRC -c "$VERIFY" | md5sum)"
check "privileges restored: PUBLIC may only SELECT" \
	"$("${PSQL[@]}" -d $DST -c "SELECT relacl FROM pg_class WHERE relname = 'faceid_verifier'")" \
	"$("${PSQL[@]}" -d $FRESH -c "SELECT relacl FROM pg_class WHERE relname = 'faceid_verifier'")"

# the custom format and pg_restore too
dropdb $DST
createdb $DST
pg_dump -Fc -d $SRC -f "$TMP/dump.custom"
pg_restore --exit-on-error -d $DST "$TMP/dump.custom"
check "pg_restore (custom format) restores the heads" "$("${PSQL[@]}" -d $DST -c "$HEADS")" "$src_heads"
check "pg_restore: as many 'default' rows as CREATE EXTENSION ships" \
	"$("${PSQL[@]}" -d $DST -c "$DEFAULTS")" "$("${PSQL[@]}" -d $FRESH -c "$DEFAULTS")"

for db in $SRC $DST $FRESH; do
	dropdb "$db"
done
exit $fail
