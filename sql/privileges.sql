-- Privileges: an unprivileged role cannot point faceid at a file, cannot read
-- files through faceid, and the trigger runs with the caller's rights.
\set s1 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample1.jpg"`
CREATE ROLE regress_faceid_owner;
CREATE ROLE regress_faceid_writer;
CREATE ROLE regress_faceid_other;

-- 1. faceid.model_path is PGC_SUSET: no non-superuser can set it, in any of
-- the ways a session or a role can set a GUC.
CREATE SCHEMA regress_faceid_w AUTHORIZATION regress_faceid_writer;
-- 1a. Before faceid's library is loaded in a backend (as here: pg_regress
-- starts each test in a fresh session), faceid.* are placeholders that
-- anyone may SET; PostgreSQL remembers who set them, and when faceid loads
-- it throws away a superuser-only value a non-superuser set, with a WARNING.
SELECT count(*) AS faceid_gucs_known FROM pg_settings WHERE name = 'faceid.model_path';
SET ROLE regress_faceid_writer;
SET faceid.model_path = '/etc/passwd';
-- (storing a placeholder in the catalogs is refused even before loading)
\set VERBOSITY sqlstate
ALTER ROLE CURRENT_USER SET faceid.model_path = '/etc/passwd';
\set VERBOSITY default
SELECT value LIKE '%/extension/faceid_weights.bin' AS default_path FROM faceid_info() WHERE key = 'model_path';
SELECT current_setting('faceid.model_path') <> '/etc/passwd' AS discarded;
RESET ROLE;
-- 1b. Once loaded, every way is refused.
SELECT name, context FROM pg_settings WHERE name = 'faceid.model_path';
SET ROLE regress_faceid_writer;
\set VERBOSITY sqlstate
SET faceid.model_path = '/etc/passwd';
BEGIN;
SET LOCAL faceid.model_path = '/etc/passwd';
ROLLBACK;
SELECT set_config('faceid.model_path', '/etc/passwd', false);
SELECT set_config('faceid.model_path', '/etc/passwd', true);
ALTER ROLE regress_faceid_writer SET faceid.model_path = '/etc/passwd';
ALTER ROLE CURRENT_USER IN DATABASE contrib_regression SET faceid.model_path = '/etc/passwd';
-- a function cannot smuggle the setting in with its own SET clause either
CREATE FUNCTION regress_faceid_w.sneaky() RETURNS text LANGUAGE sql
  SET faceid.model_path = '/etc/passwd' AS $$ SELECT 'x' $$;
\set VERBOSITY default
SELECT set_config('faceid.model_path', '/etc/passwd', false);
ALTER ROLE CURRENT_USER SET faceid.model_path = '/etc/passwd';
-- nothing changed: the model still loads from the installed file
SELECT value LIKE '%/extension/faceid_weights.bin' AS default_path FROM faceid_info() WHERE key = 'model_path';
SELECT count(*) AS role_settings FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%faceid%';
SELECT count(*) AS sneaky_functions FROM pg_proc WHERE proname = 'sneaky';
-- the ordinary, user-settable knobs stay open to everyone
SET faceid.max_image_pixels = 1000000;
RESET faceid.max_image_pixels;
RESET ROLE;

-- 2. No faceid function takes a path, a file name or a relation: every
-- function of the extension, with the argument types that are not bytea,
-- faceembedding or numbers.  Only the type's input (cstring), the
-- verification head's (name of a head, and a query the caller runs with
-- their own rights) and identification's (a gallery relation and its
-- columns, read with the caller's rights) may appear.
SELECT p.proname, p.proargtypes::regtype[] AS args
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'faceid')
  AND EXISTS (SELECT 1 FROM unnest(p.proargtypes::regtype[]) t
              WHERE t NOT IN ('bytea', 'faceembedding', 'real', 'double precision', 'integer',
                              'boolean', 'bigint', 'internal', 'real[]', 'double precision[]', 'trigger'))
  AND p.proname NOT IN ('face_verify', 'face_verify_train')
ORDER BY 1, 2;
-- The photo functions take bytea only, and none runs as its owner (no
-- SECURITY DEFINER but face_verify_train, which DESIGN.md lets write its table).
SELECT p.oid::regprocedure AS photo_function
FROM pg_proc p WHERE proname IN ('face_embed', 'face_detect', 'face_embed_all', 'face_embed_crop')
ORDER BY 1;
SELECT count(*) AS security_definer
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'faceid')
  AND p.prosecdef AND p.proname <> 'face_verify_train';
-- A non-superuser has no way to turn a file into the bytea face_embed reads:
-- that is the server's own file functions, which faceid does not wrap.
SET ROLE regress_faceid_writer;
\set VERBOSITY sqlstate
SELECT face_embed(pg_read_binary_file('/etc/passwd'));
SELECT face_embed(lo_get(lo_import('/etc/passwd')));
\set VERBOSITY default
RESET ROLE;

-- 3. The trigger runs with the caller's rights.  The owner's table has the
-- trigger; the writer has INSERT only (no SELECT, no UPDATE) and the photo
-- is still encoded.
CREATE SCHEMA regress_faceid AUTHORIZATION regress_faceid_owner;
SET ROLE regress_faceid_owner;
CREATE TABLE regress_faceid.people (id int, photo bytea, embedding faceembedding);
CREATE TRIGGER people_embed BEFORE INSERT OR UPDATE ON regress_faceid.people
  FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);
CREATE TABLE regress_faceid.secret (photo bytea);
INSERT INTO regress_faceid.secret VALUES (decode(:'s1', 'base64'));
GRANT USAGE ON SCHEMA regress_faceid TO regress_faceid_writer, regress_faceid_other;
GRANT INSERT ON regress_faceid.people TO regress_faceid_writer;
RESET ROLE;

SET ROLE regress_faceid_writer;
INSERT INTO regress_faceid.people VALUES (1, decode(:'s1', 'base64'), NULL);
\set VERBOSITY sqlstate
SELECT * FROM regress_faceid.people;
UPDATE regress_faceid.people SET photo = NULL;
SELECT * FROM regress_faceid.secret;
\set VERBOSITY default
RESET ROLE;
SELECT id, embedding IS NOT NULL AS encoded, embedding = face_embed(photo) AS right_one
FROM regress_faceid.people;

-- The trigger reads only the NEW row's own columns: a role with its own
-- table cannot name another table's column as the photo, nor add the
-- trigger to a table it does not own.
GRANT CREATE ON SCHEMA regress_faceid TO regress_faceid_other;
SET ROLE regress_faceid_other;
CREATE TABLE regress_faceid.mine (photo bytea, embedding faceembedding);
CREATE TRIGGER steal BEFORE INSERT ON regress_faceid.mine
  FOR EACH ROW EXECUTE FUNCTION face_embed_trigger('regress_faceid.secret.photo', embedding);
INSERT INTO regress_faceid.mine VALUES (NULL, NULL);
CREATE TRIGGER steal2 BEFORE INSERT ON regress_faceid.people
  FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);
SELECT 1;
RESET ROLE;

DROP SCHEMA regress_faceid CASCADE;
DROP SCHEMA regress_faceid_w;
DROP ROLE regress_faceid_owner, regress_faceid_writer, regress_faceid_other;
