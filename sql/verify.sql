-- The verification head: face_verify, face_verify_train, faceid_verifier.

-- vemb(seed, d): a deterministic encoding plus d in every element, so that
-- |vemb(s) - vemb(s, d)| is d (up to rounding) in all 128 dimensions.
CREATE FUNCTION vemb(seed int, d real DEFAULT 0) RETURNS faceembedding LANGUAGE sql IMMUTABLE AS
$$ SELECT array_agg((round(sin(seed * 1000 + i)::numeric, 4)::real + d)::real ORDER BY i)::faceembedding
   FROM generate_series(1, 128) i $$;

-- 40 separable pairs: the same person differs by 0 .. 0.04 per element,
-- different people by 0.2 .. 0.26.
CREATE TABLE vpairs AS
SELECT i,
       vemb(i) AS a,
       vemb(i, (CASE WHEN i % 2 = 0 THEN 0.01 * (i % 5) ELSE 0.2 + 0.01 * (i % 7) END)::real) AS b,
       i % 2 = 0 AS same
FROM generate_series(1, 40) i;

-- The table and the functions as declared.
SELECT p.proname, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef
FROM pg_proc p WHERE p.proname IN ('face_verify', 'face_verify_train') ORDER BY 1;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'faceid_verifier'::regclass AND attnum > 0 ORDER BY attnum;
SELECT c.relname, e.extcondition[array_position(e.extconfig, c.oid)] AS extcondition
FROM pg_extension e JOIN pg_class c ON c.oid = ANY (e.extconfig)
WHERE e.extname = 'faceid' ORDER BY 1;
SELECT relacl FROM pg_class WHERE relname = 'faceid_verifier';

-- The shipped default head (test/train_default_verifier.sh, LFW DevTrain).
SELECT name, owner = current_user::regrole AS extension_owner, array_length(weights, 1) AS nweights,
       trained_on LIKE 'LFW View 1 pairsDevTrain.txt%' AS lfw, pairs > 2000 AS pairs, accuracy > 0.95 AS accurate
FROM faceid_verifier WHERE name = 'default';
SELECT sum(w) < 0 AS farther_less_likely, max(bias) > 0 AS same_when_equal
FROM faceid_verifier, unnest(weights) w WHERE name = 'default';
SELECT face_verify(vemb(1), vemb(1)) > 0.99 AS identical, face_verify(vemb(1), vemb(2)) < 0.01 AS unrelated,
       face_verify(vemb(1), vemb(2)) = face_verify(vemb(1), vemb(2), 'default') AS default_by_name;
-- Without it (and for unknown heads) face_verify raises.
\set VERBOSITY default
\set SHOW_CONTEXT never
BEGIN;
DELETE FROM faceid_verifier WHERE name = 'default';
SELECT face_verify(vemb(1), vemb(2));
ROLLBACK;
SELECT face_verify(vemb(1), vemb(2), 'no_such_head');
SELECT face_verify(vemb(1), vemb(2), repeat('x', 100));
\set VERBOSITY sqlstate
BEGIN;
DELETE FROM faceid_verifier WHERE name = 'default';
SELECT face_verify(vemb(1), vemb(2));
ROLLBACK;
SELECT face_verify(vemb(1), vemb(2), 'no_such_head');
\set VERBOSITY default
-- STRICT: NULL in, NULL out, no table access.
SELECT face_verify(NULL, vemb(2)) IS NULL AS null_a, face_verify(vemb(1), vemb(2), NULL) IS NULL AS null_name;

-- Training on the separable set: every pair right, a small loss.
BEGIN;
SELECT pairs, iterations BETWEEN 1 AND 50 AS converged, accuracy, log_loss < 0.05 AS small_loss
FROM face_verify_train('regress_sep', 'SELECT a, b, same FROM vpairs');
SELECT name, owner = current_user::regrole AS mine, array_length(weights, 1) AS nweights,
       trained_on, pairs, accuracy, created = now() AS created_now
FROM faceid_verifier WHERE name = 'regress_sep';
COMMIT;
-- Every element differs by the same d, so by symmetry all 128 weights are
-- equal, and negative: a larger difference means less likely the same.
SELECT max(w) < 0 AS all_negative, (max(w) - min(w)) <= 1e-3 * abs(avg(w)) AS all_equal
FROM faceid_verifier, unnest(weights) w WHERE name = 'regress_sep';
-- The stored head classifies its pairs as face_verify_train reported.
SELECT count(*) FILTER (WHERE (face_verify(a, b, 'regress_sep') >= 0.5) = same) AS right,
       count(*) AS total
FROM vpairs;
-- face_verify is sigma(sum w_k |a_k - b_k| + b), computed here in SQL from the stored row.
SELECT count(*) FILTER (WHERE abs(face_verify(p.a, p.b, 'regress_sep') - s.p) < 1e-12) AS agree, count(*) AS total
FROM vpairs p, faceid_verifier v,
     LATERAL (SELECT 1 / (1 + exp(-(sum(w * abs(x - y)) + v.bias))) AS p
              FROM unnest(v.weights::float8[], p.a::real[]::float8[], p.b::real[]::float8[]) u(w, x, y)) s
WHERE v.name = 'regress_sep';
-- Monotone in the difference, symmetric in its arguments, 1/2 at the boundary.
SELECT d, round(face_verify(vemb(7), vemb(7, d), 'regress_sep')::numeric, 6) > 0.5 AS same,
       face_verify(vemb(7), vemb(7, d), 'regress_sep') < lag(face_verify(vemb(7), vemb(7, d), 'regress_sep')) OVER (ORDER BY d) AS decreasing,
       face_verify(vemb(7), vemb(7, d), 'regress_sep') = face_verify(vemb(7, d), vemb(7), 'regress_sep') AS symmetric
FROM unnest('{0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 1}'::real[]) d ORDER BY d;

-- A hand-computable solution: a huge l2 forces w to 0, and the bias then
-- is the log-odds of the classes: 10 same of 40, log(10/30) = -1.0986.
SELECT pairs, accuracy
FROM face_verify_train('regress_prior', 'SELECT a, b, i % 4 = 0 FROM vpairs', 1e6);
SELECT round(bias::numeric, 4) AS bias, max(abs(w)) < 1e-5 AS w_zero
FROM faceid_verifier, unnest(weights) w WHERE name = 'regress_prior' GROUP BY bias;
SELECT round(face_verify(vemb(1), vemb(2), 'regress_prior')::numeric, 4) AS p_prior;

-- Optimality on overlapping classes: at the stored head the gradient of
-- mean log-loss + l2 |w|^2 (bias not penalised), computed here in SQL,
-- vanishes; the penalty term is not negligible, so a wrong objective
-- (sum instead of mean, no or a wrong penalty, a penalised bias) fails.
CREATE TABLE vnoisy AS
SELECT i, a, (SELECT array_agg(x + ((CASE WHEN i % 2 = 0 THEN 0.05 ELSE 0.12 END) * (1 + sin(i * k)))::real ORDER BY k)
              FROM unnest(a::real[]) WITH ORDINALITY u(x, k))::faceembedding AS b,
       (i % 2 = 0) <> (i % 7 = 0) AS same
FROM (SELECT i, vemb(i) AS a FROM generate_series(1, 200) i) s;
SELECT pairs, accuracy < 1 AS overlapping
FROM face_verify_train('regress_kkt', 'SELECT a, b, same FROM vnoisy', 0.01);
WITH h AS (SELECT weights, bias FROM faceid_verifier WHERE name = 'regress_kkt'),
f AS (SELECT p.i, p.same, u.k, abs(u.x::float8 - u.y::float8) AS x
      FROM vnoisy p, unnest(p.a::real[], p.b::real[]) WITH ORDINALITY u(x, y, k)),
r AS (SELECT f.i, 1 / (1 + exp(-(sum(h.weights[f.k] * f.x) + h.bias))) - f.same::int AS r
      FROM f, h GROUP BY f.i, f.same, h.bias),
g AS (SELECT f.k, avg(r.r * f.x) + 2 * 0.01 * h.weights[f.k] AS g, 2 * 0.01 * h.weights[f.k] AS penalty
      FROM f JOIN r USING (i), h GROUP BY f.k, h.weights[f.k])
SELECT max(abs(g)) < 1e-6 AS weights_gradient_zero,
       (SELECT abs(avg(r)) < 1e-6 FROM r) AS bias_gradient_zero,
       max(abs(penalty)) > 1e-3 AS penalty_matters
FROM g;

-- Replacing a head: face_verify sees the new weights in the same session
-- (it reads its head with each query's snapshot).
SELECT round(face_verify(vemb(3), vemb(3, 0.1), 'regress_sep')::numeric, 3) > 0.5 AS same_before;
SELECT pairs FROM face_verify_train('regress_sep', 'SELECT a, b, NOT same FROM vpairs');
SELECT round(face_verify(vemb(3), vemb(3, 0.1), 'regress_sep')::numeric, 3) > 0.5 AS same_after;
-- ... and direct writes by a superuser are seen too.
SELECT round(face_verify(vemb(1), vemb(2), 'regress_prior')::numeric, 4) AS p_prior;
UPDATE faceid_verifier SET bias = 0 WHERE name = 'regress_prior';
SELECT round(face_verify(vemb(1), vemb(2), 'regress_prior')::numeric, 4) AS p_zero_bias;
BEGIN;
DELETE FROM faceid_verifier WHERE name = 'regress_prior';
SELECT face_verify(vemb(1), vemb(2), 'regress_prior');
ROLLBACK;
SELECT round(face_verify(vemb(1), vemb(2), 'regress_prior')::numeric, 4) AS p_after_rollback;
-- In parallel mode the head is read with the query's snapshot.
SELECT count(*) FILTER (WHERE round(face_verify(a, b, 'regress_prior')::numeric, 6) = 0.5) AS half FROM vpairs;
SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT count(*) FILTER (WHERE round(face_verify(a, b, 'regress_prior')::numeric, 6) = 0.5) AS half FROM vpairs;
SELECT count(*) FILTER (WHERE round(face_verify(a, b, 'regress_prior')::numeric, 6) = 0.5) AS half FROM vpairs;
RESET force_parallel_mode;

-- Errors of face_verify_train.
-- wrong column types or count
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, 1 AS same FROM vpairs');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a::real[], b, same FROM vpairs');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b FROM vpairs');
-- too few pairs, one class, NULLs
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs WHERE i <= 9');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs WHERE same');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs WHERE NOT same');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, CASE WHEN i = 5 THEN NULL ELSE b END AS b, same FROM vpairs ORDER BY i');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, CASE WHEN i <> 12 THEN same END FROM vpairs ORDER BY i');
-- not a query, not one query, not SQL
SELECT * FROM face_verify_train('regress_bad', 'DELETE FROM vpairs RETURNING a, b, same');
SELECT * FROM face_verify_train('regress_bad', 'WITH d AS (DELETE FROM vpairs RETURNING a, b, same) SELECT * FROM d');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs FOR UPDATE');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs; SELECT a, b, same FROM vpairs');
SELECT * FROM face_verify_train('regress_bad', 'SELEKT 1');
SELECT count(*) AS still_40 FROM vpairs;
-- bad l2, bad names
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs', -1);
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs', 'NaN');
SELECT * FROM face_verify_train('', 'SELECT a, b, same FROM vpairs');
SELECT * FROM face_verify_train(repeat('x', 64), 'SELECT a, b, same FROM vpairs');
-- 'default' is reserved, even for a superuser
SELECT * FROM face_verify_train('default', 'SELECT a, b, same FROM vpairs');
\set VERBOSITY sqlstate
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, 1 AS same FROM vpairs');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs WHERE i <= 9');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, b, same FROM vpairs WHERE same');
SELECT * FROM face_verify_train('regress_bad', 'SELECT a, NULL::faceembedding, same FROM vpairs');
SELECT * FROM face_verify_train('default', 'SELECT a, b, same FROM vpairs');
\set VERBOSITY default
-- STRICT: no rows for a NULL argument, and nothing stored.
SELECT count(*) FROM face_verify_train(NULL, 'SELECT a, b, same FROM vpairs');
SELECT count(*) FILTER (WHERE name LIKE 'regress_bad%') AS bad_heads,
       count(*) FILTER (WHERE name = 'default') AS default_heads,
       max(created) FILTER (WHERE name = 'default') < now() AS default_untouched
FROM faceid_verifier;

-- Privileges.  Users read the table and nothing more; the pairs query runs
-- with the caller's rights; only the owner (or a superuser) replaces a head.
CREATE ROLE regress_verify_alice;
CREATE ROLE regress_verify_bob;
GRANT SELECT ON vpairs TO regress_verify_alice, regress_verify_bob;
CREATE TABLE vsecret AS SELECT * FROM vpairs;
SET ROLE regress_verify_alice;
SELECT count(*) > 0 AS can_read FROM faceid_verifier;
INSERT INTO faceid_verifier VALUES ('regress_forged', current_user::regrole, array_fill(0::real, ARRAY[128]), 0);
UPDATE faceid_verifier SET bias = 100;
DELETE FROM faceid_verifier;
TRUNCATE faceid_verifier;
SELECT * FROM face_verify_train('regress_alice', 'SELECT a, b, same FROM vsecret');
SELECT pairs, accuracy FROM face_verify_train('regress_alice', 'SELECT a, b, same FROM vpairs');
SELECT name, owner, pairs, trained_on FROM faceid_verifier WHERE name = 'regress_alice';
-- the owner replaces her head
SELECT pairs, accuracy FROM face_verify_train('regress_alice', 'SELECT a, b, same FROM vpairs WHERE i <= 30');
SELECT name, owner, pairs FROM faceid_verifier WHERE name = 'regress_alice';
SELECT * FROM face_verify_train('default', 'SELECT a, b, same FROM vpairs');
SET ROLE regress_verify_bob;
-- another user uses it, but cannot replace it
SELECT face_verify(vemb(5), vemb(5, 0.01), 'regress_alice') > 0.5 AS bob_uses_it;
SELECT * FROM face_verify_train('regress_alice', 'SELECT a, b, NOT same FROM vpairs');
SELECT * FROM face_verify_train('regress_sep', 'SELECT a, b, same FROM vpairs');
SELECT name, owner, pairs FROM faceid_verifier WHERE name = 'regress_alice';
-- a search_path of the caller's cannot reach into the write
RESET ROLE;
GRANT CREATE ON SCHEMA public TO regress_verify_bob;
SET ROLE regress_verify_bob;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
SET search_path = public, pg_catalog;
BEGIN;
SELECT pairs FROM face_verify_train('regress_bob', 'SELECT a, b, same FROM vpairs');
SELECT name, owner, created = pg_catalog.now() AS created_now FROM faceid_verifier WHERE name = 'regress_bob';
COMMIT;
RESET search_path;
DROP FUNCTION public.now();
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_verify_bob;
-- a superuser may replace anyone's head, and then owns it
SELECT pairs FROM face_verify_train('regress_alice', 'SELECT a, b, same FROM vpairs');
SELECT name, owner = current_user::regrole AS superuser_owns_it FROM faceid_verifier WHERE name = 'regress_alice';

-- Clean up.
DELETE FROM faceid_verifier WHERE name LIKE 'regress_%';
DROP TABLE vsecret, vpairs, vnoisy;
DROP FUNCTION vemb(int, real);
DROP ROLE regress_verify_alice, regress_verify_bob;
