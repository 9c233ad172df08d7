-- Open-set identification (1:K): face_identify, face_identify_calibrate,
-- faceid_identify_calibration, faceid.false_accept_rate.

-- iemb(person, photo): person p's photos lie about 0.006 apart, different
-- people about 1.1 apart (deterministic synthetic encodings).
CREATE FUNCTION iemb(person int, photo int) RETURNS faceembedding LANGUAGE sql IMMUTABLE AS
$$ SELECT array_agg(round((0.1 * sin(person * 7919 + i * (person + 31)) + 0.0005 * sin(photo * 104729 + person * 13 + i))::numeric, 5)::real
                    ORDER BY i)::faceembedding
   FROM generate_series(1, 128) i $$;
-- try(sql): 'ok', or the error's SQLSTATE, message and hint.
CREATE FUNCTION try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN st || ': ' || msg || coalesce(' HINT: ' || nullif(hint, ''), '');
END $$;

-- Declarations.
SELECT p.proname, p.provolatile, p.proparallel, p.proisstrict, p.prorows, p.prosecdef,
       pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result
FROM pg_proc p WHERE p.proname LIKE 'face_identify%' ORDER BY 1;
SELECT relrowsecurity, relacl FROM pg_class WHERE relname = 'faceid_identify_calibration';
SELECT evtname, evtevent FROM pg_event_trigger WHERE evtname LIKE 'faceid%';

-- A gallery: 12 people with 3 photos each; rows without a label or an
-- embedding are skipped.
CREATE TABLE ident_photos (id serial PRIMARY KEY, person int, embedding faceembedding);
INSERT INTO ident_photos (person, embedding)
SELECT p, iemb(p, k) FROM generate_series(1, 12) p, generate_series(1, 3) k ORDER BY p, k;
INSERT INTO ident_photos (person, embedding) VALUES (NULL, iemb(1, 9)), (13, NULL);

-- Not calibrated yet: 55000 with a hint.
SELECT try($$SELECT * FROM face_identify(iemb(3, 9), 'ident_photos', 'person')$$);

-- Calibration: one stranger per person (12 <= 1000), stored once.
SELECT labels, photos, samples, round(score_at_rate::numeric, 4) AS score_at_rate,
       settings LIKE 'model fnv1a64:%, alignment=similarity, detector=tiny, detect_size=416, min_score=0.5' AS settings
FROM face_identify_calibrate('ident_photos', 'person');
SELECT gallery, label_column, embedding_column, labels, photos, array_length(scores, 1) AS nscores,
       calibrated_by = session_user AS by_me
FROM faceid_identify_calibration;
-- the same rows calibrate to the same scores
CREATE TEMP TABLE first_scores AS SELECT scores FROM faceid_identify_calibration;
SELECT count(*) AS calibrations FROM face_identify_calibrate('ident_photos', 'person');
SELECT c.scores = f.scores AS reproducible, (SELECT count(*) FROM faceid_identify_calibration) AS nrows
FROM faceid_identify_calibration c, first_scores f;

-- A new photo of person 3 is person 3, accepted; a stranger is not, nor
-- is someone who looks like six people at once; an enrolled photo itself
-- has false_accept 0.
SELECT label, round(distance::numeric, 2) AS distance, false_accept < 0.1 AS low, accepted
FROM face_identify(iemb(3, 9), 'ident_photos', 'person');
SELECT label IS NOT NULL AS answered, false_accept > 0.01 AS high, accepted
FROM face_identify(iemb(101, 1), 'ident_photos', 'person');
SELECT false_accept > 0.5 AS high, accepted
FROM face_identify((SELECT avg(iemb(p, 1)) FROM generate_series(1, 6) p), 'ident_photos', 'person');
SELECT label, distance, false_accept, accepted FROM face_identify(iemb(7, 2), 'ident_photos', 'person', 'embedding');
-- accepted follows faceid.false_accept_rate
SET faceid.false_accept_rate = 0.5;
SELECT accepted FROM face_identify(iemb(101, 1), 'ident_photos', 'person');
SELECT name, setting, min_val, max_val, context FROM pg_settings WHERE name = 'faceid.false_accept_rate';
RESET faceid.false_accept_rate;
-- in a join: the label back to the people table
CREATE TABLE ident_people AS SELECT p AS id, 'person ' || p AS name FROM generate_series(1, 12) p;
SELECT q.k, pe.name, r.accepted
FROM generate_series(1, 3) q(k)
CROSS JOIN LATERAL face_identify(iemb(q.k + 4, 7), 'ident_photos', 'person') r
JOIN ident_people pe ON pe.id = r.label::int ORDER BY q.k;

-- A NULL probe and an empty gallery give no row.
SELECT count(*) AS null_probe FROM face_identify(NULL, 'ident_photos', 'person');
CREATE TABLE ident_emptied AS SELECT person, embedding FROM ident_photos;
SELECT labels FROM face_identify_calibrate('ident_emptied', 'person');
DELETE FROM ident_emptied;
SELECT count(*) AS empty_gallery FROM face_identify(iemb(3, 9), 'ident_emptied', 'person');

-- Errors, each with its SQLSTATE.
CREATE SEQUENCE ident_not_a_table;
CREATE TABLE ident_few (person int, embedding faceembedding);
INSERT INTO ident_few SELECT p, iemb(p, 1) FROM generate_series(1, 9) p;
SELECT try($$SELECT * FROM face_identify(iemb(1, 1), 'no_such_table', 'person')$$);
SELECT try($$SELECT * FROM face_identify(iemb(1, 1), 'ident_not_a_table', 'person')$$);
SELECT try($$SELECT * FROM face_identify(iemb(1, 1), 'ident_photos_pkey', 'person')$$);
SELECT try($$SELECT * FROM face_identify(iemb(1, 1), 'ident_photos', 'nobody')$$);
SELECT try($$SELECT * FROM face_identify(iemb(1, 1), 'ident_photos', 'person', 'ctid')$$);
SELECT try($$SELECT * FROM face_identify(iemb(1, 1), 'ident_photos', 'person', 'id')$$);
SELECT try($$SELECT * FROM face_identify_calibrate('ident_photos', 'person', 'nothing')$$);
SELECT try($$SELECT * FROM face_identify_calibrate('ident_photos', 'embedding', 'person')$$);
SELECT try($$SELECT * FROM face_identify_calibrate('ident_not_a_table', 'person')$$);
SELECT try($$SELECT * FROM face_identify_calibrate('ident_few', 'person')$$);
SELECT try($$SET faceid.false_accept_rate = 0.6$$);
SELECT try($$SET faceid.false_accept_rate = 0$$);

-- Privileges: the gallery is read with the caller's rights, and the
-- calibration table shows each role only the galleries it may read.
CREATE ROLE regress_identify_reader;
SET ROLE regress_identify_reader;
SELECT try($$SELECT * FROM face_identify(iemb(3, 9), 'ident_photos', 'person')$$);
SELECT try($$SELECT * FROM face_identify_calibrate('ident_photos', 'person')$$);
SELECT count(*) AS visible_calibrations FROM faceid_identify_calibration;
SELECT try($$INSERT INTO faceid_identify_calibration SELECT * FROM faceid_identify_calibration$$);
RESET ROLE;
GRANT SELECT (person) ON ident_photos TO regress_identify_reader;
SET ROLE regress_identify_reader;
SELECT try($$SELECT * FROM face_identify(iemb(3, 9), 'ident_photos', 'person')$$);
SELECT count(*) AS visible_calibrations FROM faceid_identify_calibration;
RESET ROLE;
GRANT SELECT (embedding) ON ident_photos TO regress_identify_reader;
SET ROLE regress_identify_reader;
SELECT label, accepted FROM face_identify(iemb(3, 9), 'ident_photos', 'person');
SELECT gallery FROM faceid_identify_calibration;
-- a reader may calibrate too: the row is written as the extension owner
SELECT labels FROM face_identify_calibrate('ident_photos', 'person');
SELECT calibrated_by FROM faceid_identify_calibration WHERE gallery = 'ident_photos'::regclass;
RESET ROLE;

-- Names are quoted, never pasted: a gallery and columns with odd names.
CREATE TABLE "odd ""gallery""; DROP TABLE ident_photos; --" ("who?" text, "enc)" faceembedding);
INSERT INTO "odd ""gallery""; DROP TABLE ident_photos; --" SELECT 'p' || p, iemb(p, k)
FROM generate_series(1, 10) p, generate_series(1, 2) k;
SELECT labels, photos FROM face_identify_calibrate('"odd ""gallery""; DROP TABLE ident_photos; --"', 'who?', 'enc)');
SELECT label, accepted FROM face_identify(iemb(4, 5), '"odd ""gallery""; DROP TABLE ident_photos; --"', 'who?', 'enc)');
SELECT count(*) AS photos_still_there FROM ident_photos;

-- A view is a gallery too.
CREATE VIEW ident_photo_view AS SELECT person AS who, embedding AS e FROM ident_photos WHERE person <= 11;
SELECT labels FROM face_identify_calibrate('ident_photo_view', 'who', 'e');
SELECT label, accepted FROM face_identify(iemb(11, 4), 'ident_photo_view', 'who', 'e');

-- The cap: face_identify reads at most 1,000 rows.  When one person fills
-- them, the people beyond count at the last row's distance: the answer can
-- only get more cautious (here: 1,100 copies of one photo of person 1, so a
-- new photo of person 1 is compared with person 1's own rows only, and is
-- not accepted).
CREATE TABLE ident_crowded AS SELECT person, embedding FROM ident_photos WHERE person > 1 AND embedding IS NOT NULL;
INSERT INTO ident_crowded SELECT 1, iemb(1, 1) FROM generate_series(1, 1100);
SELECT labels, photos FROM face_identify_calibrate('ident_crowded', 'person');
SELECT label, round(distance::numeric, 2) AS distance, false_accept > 0.01 AS cautious, accepted
FROM face_identify(iemb(1, 5), 'ident_crowded', 'person');
-- with 900 copies the other people are reached within the cap
DELETE FROM ident_crowded WHERE ctid IN (SELECT ctid FROM ident_crowded WHERE person = 1 LIMIT 200);
SELECT label, round(distance::numeric, 2) AS distance, false_accept < 0.01 AS low, accepted
FROM face_identify(iemb(1, 5), 'ident_crowded', 'person');

-- Stale: the label count moved by more than 20% (as ANALYZE sees it) ...
CREATE TABLE ident_growing AS SELECT person, embedding FROM ident_photos WHERE person IS NOT NULL;
SELECT labels FROM face_identify_calibrate('ident_growing', 'person');
INSERT INTO ident_growing SELECT p, iemb(p, 1) FROM generate_series(13, 20) p;
ANALYZE ident_growing;
SELECT label, accepted FROM face_identify(iemb(3, 9), 'ident_growing', 'person');
SELECT label, accepted FROM face_identify(iemb(3, 9), 'ident_growing', 'person');
-- ... or other encoding settings: it answers, with one NOTICE per gallery.
SET faceid.alignment = 'faceapi';
SELECT label, accepted FROM face_identify(iemb(3, 9), 'ident_photos', 'person');
SELECT label, accepted FROM face_identify(iemb(3, 9), 'ident_photos', 'person');
-- a calibration under these settings is a row of its own, preferred now
SELECT labels FROM face_identify_calibrate('ident_photos', 'person');
SELECT count(*) AS photos_calibrations FROM faceid_identify_calibration WHERE gallery = 'ident_photos'::regclass;
RESET faceid.alignment;

-- Dropping a gallery, or one of its columns, drops its calibrations.
SELECT count(*) AS before FROM faceid_identify_calibration;
DROP TABLE ident_crowded;
ALTER TABLE ident_growing DROP COLUMN embedding;
DROP TABLE "odd ""gallery""; DROP TABLE ident_photos; --";
SELECT gallery, label_column, embedding_column FROM faceid_identify_calibration ORDER BY gallery::text, settings;

-- cleanup
DROP VIEW ident_photo_view;
DROP TABLE ident_photos, ident_people, ident_emptied, ident_few, ident_growing;
DROP SEQUENCE ident_not_a_table;
DROP ROLE regress_identify_reader;
SELECT count(*) AS left_over FROM faceid_identify_calibration;

DROP FUNCTION try(text);
