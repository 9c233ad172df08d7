-- The faceembedding type: I/O, casts, errors, operators, avg, opclasses.

-- Helpers: a deterministic embedding from a seed, a constant one, and a
-- text form whose first element is given and the other 127 are 0.
CREATE FUNCTION emb(seed int) RETURNS faceembedding LANGUAGE sql IMMUTABLE AS
$$ SELECT array_agg(round(sin(seed * 1000 + i)::numeric, 4)::real ORDER BY i)::faceembedding
   FROM generate_series(1, 128) i $$;
CREATE FUNCTION const_emb(v real) RETURNS faceembedding LANGUAGE sql IMMUTABLE AS
$$ SELECT array_fill(v, ARRAY[128])::faceembedding $$;
CREATE FUNCTION emb_text(first text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT '[' || first || repeat(',0', 127) || ']' $$;

-- Size and storage: fixed 512 bytes, no varlena.
SELECT typlen, typbyval, typstorage, typalign FROM pg_type WHERE typname = 'faceembedding';
SELECT pg_column_size(emb(1)) AS bytes;

-- Text I/O of extreme values: -0, denormals, +-max, and shortest output.
SELECT v AS input, substr((emb_text(v)::faceembedding)::text, 1, 20) AS output,
       ((emb_text(v)::faceembedding)::real[])[1] AS as_real
FROM (VALUES ('-0'), ('1e-45'), ('1.4e-45'), ('-1.1754942e-38'), ('3.4028235e38'),
             ('-3.4028235e38'), ('0.1'), ('1e-40'), ('123456.79'), ('  7 '), ('0x1p-3')) t(v);
-- Whitespace around elements and brackets is fine.
SELECT (' [ ' || repeat('1 , ', 127) || ' 1 ] ')::faceembedding = const_emb(1) AS spaces_ok;

-- 10,000 random embeddings (1.28 M values of every magnitude, denormals
-- included) read back bit for bit from their text form.  A value is a sign,
-- a mantissa in [0.5, 1) and an exponent in [-127, 127): never so small that
-- the cast to real underflows (an error), never so large that it overflows.
CREATE TABLE rnd AS
SELECT g AS id,
       (SELECT array_agg(((CASE WHEN random() < 0.5 THEN -0.5 ELSE 0.5 END) * (1 + random())
                          * 2 ^ (random() * 254 - 127))::real ORDER BY i)
          FROM generate_series(1, 128) i WHERE g > 0) AS a
FROM generate_series(1, 10000) g;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE float4send(a[1]) <> float4send((a::faceembedding::text::faceembedding::real[])[1])
                          OR a::text <> (a::faceembedding::text::faceembedding::real[])::text) AS mismatches,
       count(*) FILTER (WHERE (SELECT bool_or(x <> 0 AND abs(x) < 1.1754944e-38) FROM unnest(a) x)) > 0 AS has_denormals
FROM rnd;
-- The text form is the shortest exact form, the same as real's own output.
SET extra_float_digits = 1;
SELECT count(*) FILTER (WHERE a::faceembedding::text <> replace(replace(a::text, '{', '['), '}', ']')) AS text_differs
FROM rnd;
RESET extra_float_digits;

-- Binary send is 128 network-order float4; binary COPY round-trips.
SELECT faceembedding_send(emb(3)) = (SELECT string_agg(float4send(x), ''::bytea ORDER BY o)
                                     FROM unnest(emb(3)::real[]) WITH ORDINALITY u(x, o)) AS send_ok;
CREATE TABLE bin_src AS SELECT id, a::faceembedding AS e FROM rnd WHERE id <= 500;
COPY bin_src TO '/tmp/faceid_regress_embedding.bin' WITH (FORMAT binary);
CREATE TABLE bin_dst (id int, e faceembedding);
COPY bin_dst FROM '/tmp/faceid_regress_embedding.bin' WITH (FORMAT binary);
SELECT count(*) AS copied,
       count(*) FILTER (WHERE faceembedding_send(s.e) = faceembedding_send(d.e)) AS identical
FROM bin_src s JOIN bin_dst d USING (id);

-- Casts.
SELECT (emb(1)::real[])[1:3] AS first3, array_length(emb(1)::real[], 1) AS len;
SELECT array_fill(0.25::float8, ARRAY[128])::faceembedding = const_emb(0.25) AS from_float8;

-- Errors: each with its SQLSTATE.
\set VERBOSITY sqlstate
SELECT '[1,2,3]'::faceembedding;
SELECT ('[' || repeat('1,', 128) || '1]')::faceembedding;
SELECT '1,2'::faceembedding;
SELECT '[1,2'::faceembedding;
SELECT ''::faceembedding;
SELECT '[]'::faceembedding;
SELECT emb_text('abc')::faceembedding;
SELECT (emb_text('1') || 'x')::faceembedding;
SELECT ('[1,,' || repeat('0,', 126) || '0]')::faceembedding;
SELECT emb_text('NaN')::faceembedding;
SELECT emb_text('Infinity')::faceembedding;
SELECT emb_text('-inf')::faceembedding;
SELECT emb_text('1e39')::faceembedding;
SELECT emb_text('1e-50')::faceembedding;
SELECT array_fill(1::real, ARRAY[127])::faceembedding;
SELECT array_fill(1::real, ARRAY[16, 8])::faceembedding;
SELECT array_append(array_fill(1::real, ARRAY[127]), NULL)::faceembedding;
SELECT array_append(array_fill(1::real, ARRAY[127]), 'NaN')::faceembedding;
SELECT array_append(array_fill(1::float8, ARRAY[127]), 1e300)::faceembedding;
SELECT array_append(array_fill(1::float8, ARRAY[127]), 'Infinity')::faceembedding;
SELECT '{}'::real[]::faceembedding;
SELECT face_match(emb(1), emb(2), 'NaN');
SELECT face_triplet_loss(emb(1), emb(2), emb(3), 'Infinity');
\set VERBOSITY default
-- The message says what was wrong.
SELECT '[1,2,3]'::faceembedding;
SELECT emb_text('NaN')::faceembedding;
SELECT array_fill(1::real, ARRAY[16, 8])::faceembedding;

-- Distances against hand-computed values: 128 * 0.5^2 = 32 -> sqrt = 5.6568...
SELECT const_emb(0) <-> const_emb(0.5) AS d_half, face_distance(const_emb(0), const_emb(0.5)) AS fn,
       sqrt(32) AS expected;
SELECT emb_text('3')::faceembedding <-> emb_text('-1')::faceembedding AS d4,
       emb(7) <-> emb(7) AS self, (emb(1) <-> emb(2)) = (emb(2) <-> emb(1)) AS symmetric;
-- The same as the plain SQL formula, to float4 precision.
SELECT abs((emb(1) <-> emb(2)) -
           sqrt((SELECT sum((x - y)::float8 ^ 2) FROM unnest(emb(1)::real[], emb(2)::real[]) u(x, y)))) < 1e-5 AS matches_sql;
-- face_match: <= threshold; default threshold from faceid.match_threshold.
SHOW faceid.match_threshold;
SELECT face_match(const_emb(0), const_emb(0.5), 5.6568543) AS at_equal,
       face_match(const_emb(0), const_emb(0.5), 5.6) AS below,
       face_match(const_emb(0), const_emb(0.05)) AS default_yes,
       face_match(const_emb(0), const_emb(0.06)) AS default_no;
SET faceid.match_threshold = 0.7;
SELECT face_match(const_emb(0), const_emb(0.06)) AS after_set;
RESET faceid.match_threshold;
SET faceid.no_such_setting = 1;
-- Triplet loss: max(|A-P|^2 - |A-N|^2 + margin, 0).
SELECT face_triplet_loss(const_emb(0), const_emb(0.1), const_emb(0.2)) AS easy,
       face_triplet_loss(const_emb(0), const_emb(0.2), const_emb(0.1)) AS hard,
       face_triplet_loss(const_emb(0), const_emb(0.1), const_emb(0.1), 0.5) AS margin_only;

-- Equality compares IEEE values: -0 = 0, and the hash agrees.
SELECT emb_text('-0')::faceembedding = emb_text('0')::faceembedding AS negzero_eq,
       faceembedding_hash(emb_text('-0')::faceembedding) = faceembedding_hash(emb_text('0')::faceembedding) AS hash_eq,
       faceembedding_hash_extended(emb_text('-0')::faceembedding, 7) = faceembedding_hash_extended(emb_text('0')::faceembedding, 7) AS hashx_eq,
       emb(1) <> emb(2) AS ne, emb(1) = emb(1) AS eq;
SELECT emb_text('1')::faceembedding < emb_text('2')::faceembedding AS lt,
       faceembedding_cmp(emb_text('2')::faceembedding, emb_text('1')::faceembedding) AS cmp;

-- DISTINCT, GROUP BY, UNIQUE, hash and merge joins.
CREATE TABLE people (id int, name text, e faceembedding);
INSERT INTO people SELECT g, 'p' || (g % 5), emb(g % 5) FROM generate_series(1, 50) g;
INSERT INTO people VALUES (51, 'negzero', emb_text('-0')::faceembedding), (52, 'zero', emb_text('0')::faceembedding);
SELECT count(DISTINCT e) AS distinct_embeddings FROM people;
SET enable_sort = off;
SELECT count(*) FROM (SELECT e FROM people GROUP BY e) s;
RESET enable_sort;
SET enable_hashagg = off;
SELECT count(*) FROM (SELECT e FROM people GROUP BY e) s;
RESET enable_hashagg;
SET enable_mergejoin = off; SET enable_nestloop = off;
SELECT count(*) AS hash_join_rows FROM people a JOIN people b ON a.e = b.e;
RESET enable_mergejoin; RESET enable_nestloop;
SET enable_hashjoin = off; SET enable_nestloop = off;
SELECT count(*) AS merge_join_rows FROM people a JOIN people b ON a.e = b.e;
RESET enable_hashjoin; RESET enable_nestloop;
CREATE UNIQUE INDEX ON people (e) WHERE id <= 5;
INSERT INTO people VALUES (6, 'dup', emb(1));
\set VERBOSITY terse
INSERT INTO people VALUES (5, 'dup', emb(1));
\set VERBOSITY default
CREATE INDEX people_e_hash ON people USING hash (e);
SET enable_seqscan = off;
SELECT count(*) FROM people WHERE e = emb(3);
RESET enable_seqscan;

-- avg(): element-wise mean, NULL over no rows, parallel-safe with combine.
SELECT avg(e) = const_emb(0.25) AS mean_ok
FROM (VALUES (const_emb(0)), (const_emb(0.5)), (const_emb(0.25)), (const_emb(0.25))) t(e);
SELECT avg(e) IS NULL AS empty_is_null FROM people WHERE false;
SELECT name, (avg(e) <-> emb(substr(name, 2)::int)) < 1e-6 AS close
FROM people WHERE name LIKE 'p%' GROUP BY name ORDER BY name;
SELECT proparallel, provolatile, proisstrict FROM pg_proc WHERE proname = 'faceembedding_accum';
SELECT aggcombinefn FROM pg_aggregate WHERE aggfnoid = 'avg(faceembedding)'::regprocedure;
CREATE TABLE many AS SELECT g AS id, emb(g % 7) AS e FROM generate_series(1, 20000) g;
ANALYZE many;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_avg AS SELECT avg(e) AS serial FROM many;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(e) FROM many;
SELECT avg(e) <-> (SELECT serial FROM serial_avg) < 1e-6 AS parallel_same FROM many;
RESET ALL;

-- Nearest neighbours by exact scan: ORDER BY <-> LIMIT agrees with the
-- distance computed by a plain SQL formula.
CREATE TABLE knn AS SELECT g AS id, emb(g) AS e FROM generate_series(1, 1000) g;
SELECT array_agg(id ORDER BY d, id) AS by_operator FROM
  (SELECT id, e <-> emb(5000) AS d FROM knn ORDER BY e <-> emb(5000) LIMIT 5) s;
SELECT array_agg(id ORDER BY d, id) AS by_sql FROM
  (SELECT id, (SELECT sqrt(sum((x - y)::float8 ^ 2)) FROM unnest(e::real[], emb(5000)::real[]) u(x, y)) AS d
   FROM knn ORDER BY d LIMIT 5) s;

-- Volatility and parallel safety, as DESIGN.md declares them.
SELECT p.oid::regprocedure AS function, provolatile, proparallel, proisstrict
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'faceid'
WHERE proname LIKE 'face\_%' ORDER BY 1::text;
