-- face_embed_trigger: precomputed encodings on INSERT and UPDATE.
\set s1 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample1.jpg"`
\set s2 `base64 -w0 "$PG_ABS_SRCDIR/build/faceid_sample2.jpg"`
CREATE TABLE trig_photos (name text PRIMARY KEY, img bytea);
INSERT INTO trig_photos VALUES ('s1', decode(:'s1', 'base64')), ('s2', decode(:'s2', 'base64'));

CREATE TABLE tpeople (id int PRIMARY KEY, name text, photo bytea, embedding faceembedding);
CREATE TRIGGER tpeople_embed BEFORE INSERT OR UPDATE ON tpeople
  FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);

-- Counts the encoder runs since the last call, to prove work was (not) done.
CREATE TABLE last_stats AS SELECT * FROM faceid_stats();
CREATE FUNCTION encoder_runs_since() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  SELECT s.detector_runs - l.detector_runs INTO n FROM faceid_stats() s, last_stats l;
  DELETE FROM last_stats; INSERT INTO last_stats SELECT * FROM faceid_stats();
  RETURN n;
END $$;

-- INSERT with a photo: computed, overriding any value given.
INSERT INTO tpeople VALUES (1, 'one', (SELECT img FROM trig_photos WHERE name = 's1'), NULL);
INSERT INTO tpeople VALUES (2, 'two', (SELECT img FROM trig_photos WHERE name = 's2'),
                           array_fill(0::real, ARRAY[128])::faceembedding);
SELECT encoder_runs_since() AS runs;
SELECT id, embedding = face_embed(photo) AS computed FROM tpeople ORDER BY id;
SELECT encoder_runs_since() > 0 AS checked;
-- INSERT without a photo: the embedding is kept as given (precomputed).
INSERT INTO tpeople VALUES (3, 'precomputed', NULL, array_fill(0.5::real, ARRAY[128])::faceembedding);
INSERT INTO tpeople VALUES (4, 'nothing', NULL, NULL);
SELECT encoder_runs_since() AS runs;
SELECT id, embedding = array_fill(0.5::real, ARRAY[128])::faceembedding AS kept FROM tpeople WHERE id = 3;

-- UPDATE of another column, or with the same photo bytes: no recompute.
UPDATE tpeople SET name = 'uno' WHERE id = 1;
UPDATE tpeople SET photo = (SELECT img FROM trig_photos WHERE name = 's1') WHERE id = 1;
SELECT encoder_runs_since() AS runs;
-- ... and an explicit embedding with the photo unchanged is kept.
UPDATE tpeople SET embedding = array_fill(0.25::real, ARRAY[128])::faceembedding WHERE id = 1;
SELECT encoder_runs_since() AS runs, (SELECT embedding = array_fill(0.25::real, ARRAY[128])::faceembedding FROM tpeople WHERE id = 1) AS kept;
-- UPDATE with a new photo: recomputed.
UPDATE tpeople SET photo = (SELECT img FROM trig_photos WHERE name = 's2') WHERE id = 1;
SELECT encoder_runs_since() AS runs;
SELECT (SELECT embedding FROM tpeople WHERE id = 1) = (SELECT embedding FROM tpeople WHERE id = 2) AS same_as_s2;
-- A photo added to a row that had none: computed.
UPDATE tpeople SET photo = (SELECT img FROM trig_photos WHERE name = 's1') WHERE id = 4;
SELECT encoder_runs_since() AS runs, (SELECT embedding IS NOT NULL FROM tpeople WHERE id = 4) AS computed;
-- Photo set to NULL: embedding NULL, unless the same UPDATE set it.
UPDATE tpeople SET photo = NULL WHERE id = 4;
SELECT embedding IS NULL AS cleared FROM tpeople WHERE id = 4;
UPDATE tpeople SET photo = NULL, embedding = array_fill(0.125::real, ARRAY[128])::faceembedding WHERE id = 1;
SELECT embedding = array_fill(0.125::real, ARRAY[128])::faceembedding AS explicit_kept FROM tpeople WHERE id = 1;
SELECT encoder_runs_since() AS runs;

-- A photo with no face stores NULL.
INSERT INTO tpeople VALUES (5, 'no face',
  '\x89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63686868000003040181752e01bc0000000049454e44ae426082',
  array_fill(1::real, ARRAY[128])::faceembedding);
SELECT id, embedding IS NULL AS null_embedding FROM tpeople WHERE id = 5;

-- A corrupt photo raises the decoder's error; the row is not written and
-- the transaction rolls back cleanly.
\set VERBOSITY sqlstate
INSERT INTO tpeople VALUES (6, 'corrupt', '\xffd8ffe000104a4649460001', NULL);
BEGIN;
INSERT INTO tpeople VALUES (7, 'fine', NULL, NULL);
UPDATE tpeople SET photo = 'GIF89a-not-a-photo'::bytea WHERE id = 7;
COMMIT;
\set VERBOSITY default
SELECT count(*) AS rows_6_or_7 FROM tpeople WHERE id IN (6, 7);
SELECT 1 AS still_alive;

-- Bulk load: COPY through the trigger.
CREATE TABLE bulk (id int, photo bytea, embedding faceembedding);
CREATE TRIGGER bulk_embed BEFORE INSERT ON bulk
  FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);
COPY bulk (id, photo) FROM STDIN;
1	\\x89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63686868000003040181752e01bc0000000049454e44ae426082
2	\N
\.
INSERT INTO bulk (id, photo) SELECT 10 + g, img FROM trig_photos, generate_series(1, 2) g;
SELECT count(*) AS rows, count(embedding) AS with_embedding FROM bulk;

-- Misuse is rejected with a clear error.
CREATE TABLE misuse (id int, photo bytea, embedding faceembedding, txt text);
CREATE TRIGGER m1 BEFORE INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo);
INSERT INTO misuse VALUES (1);
DROP TRIGGER m1 ON misuse;
CREATE TRIGGER m2 BEFORE INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, nosuch);
INSERT INTO misuse VALUES (1);
DROP TRIGGER m2 ON misuse;
CREATE TRIGGER m3 BEFORE INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(txt, embedding);
INSERT INTO misuse VALUES (1);
DROP TRIGGER m3 ON misuse;
CREATE TRIGGER m4 BEFORE INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, txt);
INSERT INTO misuse VALUES (1);
DROP TRIGGER m4 ON misuse;
CREATE TRIGGER m5 AFTER INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);
INSERT INTO misuse VALUES (1);
DROP TRIGGER m5 ON misuse;
CREATE TRIGGER m6 BEFORE INSERT ON misuse FOR EACH STATEMENT EXECUTE FUNCTION face_embed_trigger(photo, embedding);
INSERT INTO misuse VALUES (1);
DROP TRIGGER m6 ON misuse;
CREATE TRIGGER m7 BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);
INSERT INTO misuse VALUES (1, NULL, NULL);
DELETE FROM misuse;
DROP TRIGGER m7 ON misuse;
SELECT face_embed_trigger();
\set VERBOSITY sqlstate
CREATE TRIGGER m8 BEFORE INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, nosuch);
INSERT INTO misuse VALUES (1);
DROP TRIGGER m8 ON misuse;
CREATE TRIGGER m9 AFTER INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION face_embed_trigger(photo, embedding);
INSERT INTO misuse VALUES (1);
\set VERBOSITY default
